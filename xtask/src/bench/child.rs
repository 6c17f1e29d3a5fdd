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
        }
    }

    /// `all`, timed.
    pub fn all(&self) -> Result<Duration> {
        self.timed(&["all"], &[])
    }

    /// `run --accel ACCEL [FLAGS] -- ARGS`, timed from start to exit.
    pub fn run(&self, accel: &str, run_flags: &[String], args: &[&str]) -> Result<Duration> {
        self.run_stderr(accel, run_flags, args).map(|(elapsed, _)| elapsed)
    }

    /// `test --accel ACCEL ARGS`, timed from start to exit.
    pub fn test(&self, accel: &str, args: &[&str]) -> Result<Duration> {
        self.timed(&[&["test", "--accel", accel][..], args].concat(), &[])
    }

    /// `rootfs` (BusyBox and the images), timed.
    pub fn rootfs(&self) -> Result<Duration> {
        self.timed(&["rootfs"], &[])
    }

    /// `bisect ARGS -- COMMAND`, timed from start to exit, with its stdout (the answer) and
    /// stderr (its steps as they went).
    pub fn bisect(&self, args: &[&str], command: &[&str]) -> Result<(Duration, String, String)> {
        self.timed_with_outputs(&[&["bisect"][..], args].concat(), command)
    }

    /// `run --accel ACCEL FLAGS -- ARGS`, timed from start to exit, with its stderr.
    pub fn run_stderr(
        &self,
        accel: &str,
        run_flags: &[String],
        args: &[&str],
    ) -> Result<(Duration, String)> {
        let mut before = vec!["run".to_string(), "--accel".to_string(), accel.to_string()];
        before.extend(run_flags.iter().cloned());
        let before: Vec<&str> = before.iter().map(String::as_str).collect();
        self.timed_with_outputs(&before, args).map(|(elapsed, _, stderr)| (elapsed, stderr))
    }

    fn timed(&self, subcommand: &[&str], command_args: &[&str]) -> Result<Duration> {
        self.timed_with_outputs(subcommand, command_args).map(|(elapsed, _, _)| elapsed)
    }

    /// The run's time, stdout and stderr.
    fn timed_with_outputs(
        &self,
        subcommand: &[&str],
        command_args: &[&str],
    ) -> Result<(Duration, String, String)> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(&exe);
        command.args(subcommand).args(flags::selection_args(&self.selection));
        if !command_args.is_empty() {
            command.arg("--").args(command_args);
        }
        for variable in flags::flag_variables() {
            command.env_remove(variable);
        }
        command
            .env("CARGO_TARGET_DIR", &self.target)
            .env("SOURCE_DATE_EPOCH", self.epoch.to_string())
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
        Ok((elapsed, text(&output.stdout), text(&output.stderr)))
    }
}
