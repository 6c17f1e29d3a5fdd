//! A whole bisect of a kernel history, built and booted: git's bisect run in a checkout of the
//! tool's own, each step built incrementally in one build folder (through ccache when it is
//! there) and booted on the fast machine, then judged as `git bisect run` would: exit 0 good, 125
//! or a build that fails skip, anything else bad, a panic bad (`PanicIs::Skip` to step over
//! one). The IO around the pure verdicts of this crate.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use boot::{
    boots, checks,
    machine::{self, Init, Request, Speed},
    runner,
};
use stages::{
    hostdeps,
    pipeline::{self, Rootfs},
    summary::Summary,
    Context, Selection,
};

use crate::{
    git::{Checkout, Repo},
    Commit, FirstBad, Outcome, PanicIs, Progress, Report, Step, Verdict,
};

/// Where a bisect starts: two commits, or a saved log to repeat first.
#[derive(Debug, Clone)]
pub enum Ends {
    Commits { good: String, bad: String },
    Replay(PathBuf),
}

/// Everything a bisect is asked, as plain values.
pub struct Plan {
    /// the user's selection: its kernel source is the repository
    pub selection: Selection,
    /// the user's target folder: the bisect's own folder is under it, and the root filesystem
    /// every step boots is its
    pub target_dir: PathBuf,
    pub ends: Ends,
    /// the command run in each step's guest; none: the checks of `check`
    pub command: Vec<String>,
    /// each step's boot-and-command limit
    pub timeout: Duration,
    /// each step's output and console on this process's stdout and stderr
    pub verbose: bool,
    pub panic: PanicIs,
    pub options: boot::Options,
    pub install_deps: bool,
}

/// A finished bisect: its report, and where its log is (which `Ends::Replay` takes).
pub struct Bisected {
    pub report: Report,
    pub log: PathBuf,
}

/// Runs the bisect `plan` asks for, saying each step on stderr as it goes. Every value is
/// checked before a folder, a lock or a host package.
pub fn bisect(plan: &Plan) -> Result<Bisected> {
    let mut selection = plan.selection.clone();
    let Some(source) = selection.sources.kernel_source.clone() else {
        bail!("bisect needs the kernel's history: give a git kernel tree with --kernel-source DIR");
    };
    if !source.is_dir() {
        bail!("--kernel-source {}: bisect needs a git work tree, not a tarball", source.display());
    }
    let sh = xshell::Shell::new()?;
    let repo = Repo::open(&sh, &source)?;
    let ends = match &plan.ends {
        Ends::Commits { good, bad } => {
            let (good_commit, bad_commit) =
                (repo.resolve("--good", good)?, repo.resolve("--bad", bad)?);
            if good_commit == bad_commit {
                bail!(
                    "--good {good} and --bad {bad} are the same commit ({}): there is nothing \
                     to bisect",
                    short(&good_commit)
                );
            }
            let (good, bad) = (good_commit, bad_commit);
            repo.check_ancestry(&good, &bad)?;
            Some((good, bad))
        }
        Ends::Replay(log) if !log.is_file() => bail!("--replay {}: no such file", log.display()),
        Ends::Replay(_) => None,
    };
    let options = &plan.options;

    // the bisect's kernels live apart: its checkout, and a target folder of its own so that no
    // step's kernel replaces yours
    let user = Context::new(&selection, plan.target_dir.clone())?;
    let slug =
        artifact::Fingerprint::new("bisect").add("repo", repo.dir.display().to_string()).hex();
    let user_layout = user.layout.clone();
    let home = user_layout.bisect(&slug[..16]);
    std::fs::create_dir_all(&home.dir)?;
    let _lock =
        artifact::Lock::acquire(&user_layout.lock_for(&home.dir), "this repository's bisect")?;
    hostdeps::ensure(&user.sh, user.arch, &hostdeps::ALL_STEPS, plan.install_deps)?;

    // BusyBox and the images do not change from step to step (your modules aside, which are
    // built against each kernel): they are built, or found current, in your target folder as
    // `rootfs` would, while git writes the checkout
    let shares_rootfs = selection.modules.is_empty();
    let (checkout, mut progress, checkout_took, rootfs) = std::thread::scope(|scope| {
        let rootfs = shares_rootfs.then(|| {
            scope.spawn(move || pipeline::build_rootfs(&user, false, &mut Summary::default()))
        });
        let started = Instant::now();
        let checked_out = check_out(&sh, &repo, &home.checkout, &plan.ends, ends.as_ref());
        let rootfs = rootfs
            .map(|thread| {
                thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("the root filesystem's build panicked"))?
                    .context("the root filesystem every step boots")
            })
            .transpose()?;
        let (checkout, progress) = checked_out?;
        anyhow::Ok((checkout, progress, started.elapsed(), rootfs))
    })?;
    selection.sources.kernel_source = Some(checkout.dir.clone());
    selection.sources.kernel_version = None;
    selection.sources.kernel_sha256 = None;
    selection.sources.kernel_tree_is_the_tools = true;
    let mut ctx =
        Context::with_features(&selection, home.target.clone(), &options.needed_features())?;
    ctx.layout = ctx.layout.clone().with_runs_of(&user_layout);

    let (good, bad) = checkout.ends()?;
    artifact::record_timing("checkout", checkout_took.as_secs_f64());
    let log_path = home.log.clone();
    if let Ok((_, status)) = repo.state() {
        if let Some(ignored) = not_bisected(&status) {
            eprintln!(
                "bisect: {ignored} in {} are not bisected: each step is a commit, checked out \
                 apart",
                repo.dir.display()
            );
        }
    }
    eprintln!(
        "bisect: {} (good) .. {} (bad) in {} (checked out in {:.1}s)",
        short(&good),
        short(&bad),
        checkout.dir.display(),
        checkout_took.as_secs_f64()
    );

    let save_log = || -> Result<String> {
        let log = checkout.log()?;
        artifact::write_atomic(&log_path, |f| Ok(std::io::Write::write_all(f, log.as_bytes())?))?;
        Ok(log)
    };
    let mut steps = Vec::new();
    while let Progress::Testing { steps_left } = progress {
        let commit = checkout.head()?;
        let step = test_commit(&ctx, rootfs.as_ref(), plan, commit);
        eprintln!("{}", step.line(steps.len() + 1, Some(steps_left)));
        progress = checkout.mark(step.verdict)?;
        steps.push(step);
        // saved after every step: a killed bisect can be replayed up to where it was
        save_log()?;
    }
    let log = save_log()?;
    checkout.finish()?;
    // git trusts --good: when no step was good, a test that fails everywhere would name the
    // commit after it, so the good end is tested too
    let good_end = match progress {
        Progress::FirstBad(_) if !steps.iter().any(|s| s.verdict == Verdict::Good) => {
            eprintln!("bisect: no step was good: testing --good {} itself", short(&good));
            checkout.clean_at(&good)?;
            let step = test_commit(&ctx, rootfs.as_ref(), plan, checkout.head()?);
            eprintln!("{}", step.line(steps.len() + 1, None));
            Some(step)
        }
        _ => None,
    };

    let (first_bad, candidates) = match progress {
        Progress::FirstBad(hash) => {
            let first =
                FirstBad { commit: checkout.commit(&hash)?, author: checkout.author(&hash)? };
            (Some(first), Vec::new())
        }
        Progress::OnlySkipped(candidates) => (None, candidates),
        Progress::Testing { .. } => unreachable!("the loop ends on an answer"),
    };
    let report = Report { good, bad, first_bad, candidates, steps, good_end, log };
    Ok(Bisected { report, log: log_path })
}

/// What of the user's work tree no step sees, from `git status --porcelain`: its uncommitted
/// changes and untracked files, counted.
fn not_bisected(status: &str) -> Option<String> {
    let untracked = status.lines().filter(|l| l.starts_with("??")).count();
    let changed = status.lines().filter(|l| !l.trim().is_empty()).count() - untracked;
    let parts: Vec<String> = [(changed, "uncommitted change(s)"), (untracked, "untracked file(s)")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    (!parts.is_empty()).then(|| format!("the {}", parts.join(" and the ")))
}

/// The bisect's checkout, put back to a clean state and started (or its log replayed): the first
/// commit to test checked out.
fn check_out<'a>(
    sh: &'a xshell::Shell,
    repo: &Repo,
    into: &std::path::Path,
    given: &Ends,
    ends: Option<&(String, String)>,
) -> Result<(Checkout<'a>, Progress)> {
    let checkout = Checkout::prepare(sh, repo, into)?;
    let progress = match (given, ends) {
        (Ends::Replay(log), _) => checkout.replay(log)?,
        (Ends::Commits { .. }, Some((good, bad))) => checkout.start(bad, good)?,
        (Ends::Commits { .. }, None) => unreachable!("resolved above"),
    };
    Ok((checkout, progress))
}

/// Builds the checked-out commit in the one build folder and boots it with `rootfs` (or, with
/// your modules, images of its own).
fn test_commit(ctx: &Context, rootfs: Option<&Rootfs>, plan: &Plan, commit: Commit) -> Step {
    let started = Instant::now();
    let built = match rootfs {
        Some(rootfs) => pipeline::build_kernel(ctx, rootfs, &mut Summary::default()),
        None => pipeline::build_all(ctx, false, &[], &mut Summary::default()),
    };
    let build_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = match built {
        Err(err) => Outcome::BuildFailed(build_error(&format!("{err:#}"))),
        Ok(built) => boot_and_test(ctx, plan, &built),
    };
    Step {
        commit,
        verdict: outcome.verdict(plan.panic),
        reason: outcome.reason(),
        build_seconds,
        boot_seconds: started.elapsed().as_secs_f64(),
    }
}

fn boot_and_test(ctx: &Context, plan: &Plan, built: &pipeline::Built) -> Outcome {
    let options = &plan.options;
    let boot = boots::by_name("initramfs");
    let result: Result<Outcome> = if plan.command.is_empty() {
        (|| {
            let machine =
                machine::machine(ctx.site(), built, &Request::new(boot, Speed::Fast), options)?;
            let mut session = machine::spawn(ctx.site(), &machine, boot)?;
            let checked = checks::as_the_tutorial_shows(
                &mut session,
                &built.kernel.release,
                boot,
                &mut Vec::new(),
            );
            Ok(match checked {
                Ok(_) => Outcome::Checked(Ok(())),
                // the console, not the error's text, says whether the kernel panicked
                Err(err) => match qemu::panic_line(&session.transcript()) {
                    Some(line) => Outcome::Panicked(line.to_string()),
                    None => Outcome::Checked(Err(first_line(&format!("{err:#}")))),
                },
            })
        })()
    } else {
        (|| {
            let request = Request { init: Init::Runner, ..Request::new(boot, Speed::Fast) };
            let machine = machine::machine(ctx.site(), built, &request, options)?;
            let run_options = runner::Options {
                verbose: plan.verbose,
                stdout: if plan.verbose {
                    Box::new(std::io::stdout())
                } else {
                    Box::new(std::io::sink())
                },
                ..runner::Options::for_command(ctx.site(), options, plan.timeout)
            };
            Ok(match runner::run(ctx.site(), machine, &plan.command, run_options) {
                runner::Outcome::Exited(runner::GUEST_FAILED) => {
                    Outcome::MachineFailed("the command exited 125".into())
                }
                runner::Outcome::Failed(runner::Failure {
                    kind: runner::FailureKind::Panic(line),
                    ..
                }) => Outcome::Panicked(line),
                runner::Outcome::Failed(failure) => {
                    Outcome::MachineFailed(first_line(&failure.message))
                }
                other => Outcome::Exited(other.exit_code()),
            })
        })()
    };
    result.unwrap_or_else(|err| Outcome::MachineFailed(first_line(&format!("{err:#}"))))
}

/// What a failed build says in a few words: the compiler's first error from the log's tail, or
/// else the error's first line (a fragment that did not stick, say).
fn build_error(text: &str) -> String {
    match text.lines().find(|l| l.contains("error:") || l.contains("Error ")) {
        Some(line) => first_line(line),
        None => first_line(text),
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    line.chars().take(200).collect()
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_no_step_sees_is_counted() {
        assert_eq!(super::not_bisected(""), None);
        assert_eq!(
            super::not_bisected(" M lib/list.c\n?? notes.txt\n?? a.patch\n"),
            Some("the 1 uncommitted change(s) and the 2 untracked file(s)".to_string())
        );
        assert_eq!(
            super::not_bisected("?? notes.txt\n"),
            Some("the 1 untracked file(s)".to_string())
        );
    }
}
