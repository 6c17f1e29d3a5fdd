//! `run --all-targets`: each named target's command as `run --target NAME` in a process of its
//! own, one after another, each a suite with one case (its command) in the results.

use std::{io::Write, path::Path, process::Command};

use anyhow::{bail, Result};

/// A named target of the settings files, as far as running it goes.
pub struct Target {
    pub name: String,
    pub command: Vec<String>,
    /// where it is defined (`kardel.toml:12`), for errors
    pub origin: String,
}

/// Runs each of `targets` as `exe run --target NAME` (stdin empty, `unset` removed from its
/// environment: the child reads the settings files itself), its output passed through as it
/// ends, and returns the results: a suite per target, passed when its command exited with 0.
pub fn run_each(exe: &Path, targets: &[Target], unset: &[String]) -> Result<results::Run> {
    if targets.is_empty() {
        bail!(
            "--all-targets: the settings files have no [target.NAME] (README, \"A settings file\")"
        );
    }
    if let Some(target) = targets.iter().find(|t| t.command.is_empty()) {
        bail!(
            "{}: [target.{}] has no `command` for --all-targets to run",
            target.origin,
            target.name
        );
    }
    let mut tests = Vec::new();
    for target in targets {
        let shown = target.command.join(" ");
        eprintln!("target {}: {shown}", target.name);
        let mut child = Command::new(exe);
        child.args(["run", "--target", &target.name]).stdin(std::process::Stdio::null());
        for variable in unset {
            child.env_remove(variable);
        }
        let output = child.output()?;
        std::io::stdout().write_all(&output.stdout)?;
        std::io::stderr().write_all(&output.stderr)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        tests.push(suite(&target.name, shown, output.status.code(), &output.status, &stderr));
    }
    let results = results::Results { tests, problems: Vec::new() };
    Ok(results::Run::new("targets", results, None))
}

/// A target's suite: one case, its command, passed on 0, an error when the build or the machine
/// failed, a failure on any other code; the end of its stderr as the case's diagnostics.
fn suite(
    name: &str,
    command: String,
    code: Option<i32>,
    status: &std::process::ExitStatus,
    stderr: &str,
) -> results::Test {
    use results::Status;
    let (status, said) = match code {
        Some(0) => (Status::Pass, "exited with 0".to_string()),
        Some(code) if code == i32::from(boot::runner::GUEST_FAILED) => {
            (Status::Error, format!("the build or the machine failed ({code})"))
        }
        Some(code) => (Status::Fail, format!("exited with {code}")),
        None => (Status::Error, format!("ended by {status}")),
    };
    let lines: Vec<&str> = stderr.lines().collect();
    let mut diagnostics = vec![format!("# {said}")];
    diagnostics.extend(lines[lines.len().saturating_sub(20)..].iter().map(|l| format!("# {l}")));
    let case = results::Test {
        name: command,
        status,
        directive: None,
        diagnostics,
        seconds: None,
        subtests: Vec::new(),
    };
    results::Test {
        name: name.to_string(),
        status: if status == Status::Pass { status } else { Status::Fail },
        directive: None,
        diagnostics: Vec::new(),
        seconds: None,
        subtests: vec![case],
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn a_targets_code_is_its_suites_verdict() {
        let status = |code: i32| std::process::ExitStatus::from_raw(code << 8);
        let ok = suite("host", "true".into(), Some(0), &status(0), "");
        assert_eq!(
            (ok.status, ok.subtests[0].status),
            (results::Status::Pass, results::Status::Pass)
        );
        let failed = suite("three", "exit 3".into(), Some(3), &status(3), "a\nb\n");
        assert_eq!(failed.status, results::Status::Fail);
        assert_eq!(failed.subtests[0].diagnostics, ["# exited with 3", "# a", "# b"]);
        let machine = suite("m", "x".into(), Some(125), &status(125), "");
        assert_eq!(machine.subtests[0].status, results::Status::Error);
        let killed = suite("k", "x".into(), None, &std::process::ExitStatus::from_raw(9), "");
        assert_eq!(killed.subtests[0].status, results::Status::Error);
    }

    #[test]
    fn no_target_or_one_without_a_command_is_refused() {
        let exe = Path::new("/bin/false");
        let err = run_each(exe, &[], &[]).unwrap_err().to_string();
        assert!(err.contains("have no [target.NAME]"), "{err}");
        let bare = Target { name: "t".into(), command: vec![], origin: "kardel.toml:3".into() };
        let err = run_each(exe, &[bare], &[]).unwrap_err().to_string();
        assert_eq!(err, "kardel.toml:3: [target.t] has no `command` for --all-targets to run");
    }
}
