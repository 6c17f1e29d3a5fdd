//! The one way the benchmark runs this program as a user does: a whole process with exactly the
//! bench's selection (its flags, none of the user's variables), timed from start to exit, and a
//! failure that names the command and shows its stderr.
//!
//! Not `cargo xtask` itself: `cargo run` execs this program with cargo's build-folder lock still
//! held, so a nested cargo would wait for it forever.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use stages::{Context, Selection};

use crate::flags;

/// This program, as a child of the bench, for one selection and target folder.
pub struct Xtask {
    pub selection: Selection,
    pub target: PathBuf,
    epoch: u64,
    /// variables set for the child (ccache's own folder), over the bench's environment
    env: Vec<(String, std::ffi::OsString)>,
}

impl Xtask {
    pub fn new(selection: &Selection, ctx: &Context) -> Xtask {
        Xtask::in_target(selection, ctx, ctx.layout.target())
    }

    /// The same selection and settings, building into `target`.
    pub fn in_target(selection: &Selection, ctx: &Context, target: &Path) -> Xtask {
        Xtask {
            selection: selection.clone(),
            target: target.to_path_buf(),
            epoch: ctx.source_date_epoch,
            env: Vec::new(),
        }
    }

    /// The same, with `key` set to `value` in the child's environment.
    pub fn with_env(mut self, key: &str, value: impl Into<std::ffi::OsString>) -> Xtask {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// `all`, timed.
    pub fn all(&self) -> Result<Duration> {
        self.timed(&["all"], &[])
    }

    /// `run --accel ACCEL [FLAGS] -- ARGS`, timed from start to exit.
    pub fn run(&self, accel: &str, run_flags: &[String], args: &[&str]) -> Result<Duration> {
        self.run_timed(accel, run_flags, args).map(|ran| ran.elapsed)
    }

    /// `test --accel ACCEL ARGS`, timed from start to exit.
    pub fn test(&self, accel: &str, args: &[&str]) -> Result<Duration> {
        self.timed(&[&["test", "--accel", accel][..], args].concat(), &[])
    }

    /// `test --accel ACCEL ARGS`, timed, with the times it recorded.
    pub fn test_timed(&self, accel: &str, args: &[&str]) -> Result<Ran> {
        self.timed_with_outputs(&[&["test", "--accel", accel][..], args].concat(), &[])
    }

    /// `rootfs` (BusyBox and the images), timed.
    pub fn rootfs(&self) -> Result<Duration> {
        self.timed(&["rootfs"], &[])
    }

    /// `bisect ARGS -- COMMAND`, timed from start to exit, with its stdout (the answer) and the
    /// times it recorded.
    pub fn bisect(&self, args: &[&str], command: &[&str]) -> Result<Ran> {
        self.timed_with_outputs(&[&["bisect"][..], args].concat(), command)
    }

    /// `run --accel ACCEL FLAGS -- ARGS`, timed from start to exit, with the times it recorded.
    pub fn run_timed(&self, accel: &str, run_flags: &[String], args: &[&str]) -> Result<Ran> {
        let mut before = vec!["run".to_string(), "--accel".to_string(), accel.to_string()];
        before.extend(run_flags.iter().cloned());
        let before: Vec<&str> = before.iter().map(String::as_str).collect();
        self.timed_with_outputs(&before, args)
    }

    fn timed(&self, subcommand: &[&str], command_args: &[&str]) -> Result<Duration> {
        self.timed_with_outputs(subcommand, command_args).map(|ran| ran.elapsed)
    }

    /// The run's time, stdout and stderr, and the times it recorded ([`artifact::TIMINGS`]).
    fn timed_with_outputs(&self, subcommand: &[&str], command_args: &[&str]) -> Result<Ran> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(&exe);
        command.args(subcommand).args(flags::selection_args(&self.selection));
        if !command_args.is_empty() {
            command.arg("--").args(command_args);
        }
        for variable in flags::flag_variables() {
            command.env_remove(variable);
        }
        let timings = std::env::temp_dir().join(format!(
            "kardel-bench-timings-{}-{}",
            std::process::id(),
            NEXT_RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&timings);
        command
            .env("CARGO_TARGET_DIR", &self.target)
            .env("SOURCE_DATE_EPOCH", self.epoch.to_string())
            .env(artifact::TIMINGS, &timings)
            // the bench's selection is on the command line: no settings file adds to it
            .env(settings::CONFIG, "")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let shown = format!("{} {}", subcommand.join(" "), command_args.join(" "));
        let start = Instant::now();
        let output = command.output().with_context(|| format!("running {}", exe.display()))?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            bail!(
                "`{} {}` failed ({}):\n{}",
                exe.display(),
                shown.trim(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let recorded = std::fs::read_to_string(&timings).unwrap_or_default();
        let _ = std::fs::remove_file(&timings);
        Ok(Ran {
            elapsed,
            stdout: text(&output.stdout),
            stderr: text(&output.stderr),
            timings: read_timings(&recorded)?,
        })
    }
}

/// Each child's timings file is its own, also when the bench runs four at once.
static NEXT_RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A child's run: how long it took, what it printed, and the times it recorded.
pub struct Ran {
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    pub timings: Vec<(String, f64)>,
}

impl Ran {
    /// The last time recorded for `what`, or an error that shows what the run said.
    pub fn timing(&self, what: &str) -> Result<f64> {
        let found = self.timings.iter().rev().find(|(w, _)| w == what).map(|(_, s)| *s);
        found.with_context(|| format!("the run recorded no {what} time; it said:\n{}", self.stderr))
    }
}

/// The lines of a [`artifact::TIMINGS`] file.
fn read_timings(text: &str) -> Result<Vec<(String, f64)>> {
    #[derive(serde::Deserialize)]
    struct Line {
        what: String,
        seconds: f64,
    }
    text.lines()
        .map(|l| {
            let line: Line = serde_json::from_str(l).with_context(|| format!("a timing: {l}"))?;
            Ok((line.what, line.seconds))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tools_timings_are_read_back() {
        let text =
            "{\"what\":\"checkout\",\"seconds\":15.2}\n{\"what\":\"restore\",\"seconds\":0.05}\n";
        let timings = super::read_timings(text).unwrap();
        assert_eq!(timings, [("checkout".to_string(), 15.2), ("restore".to_string(), 0.05)]);
        assert!(super::read_timings("checked out in 15.2s").is_err());
    }
}
