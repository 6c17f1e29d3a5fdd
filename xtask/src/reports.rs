//! The reports of a run's results, for every command that has them (`test`, `run --tap`,
//! `lava`): the summary on the terminal, JUnit and JSON files.

use std::{io::Write, process::ExitCode};

use anyhow::{Context, Result};

use crate::flags;

/// A run's results are in but a report file asked for could not be written: sysexits'
/// `EX_IOERR`, apart from a failed case (1) and a failed machine (125), so that a CI never takes
/// an old report, or none, for this run's.
pub const REPORT_UNWRITTEN: u8 = 74;

/// The report files can be written (their folders exist and take a file, or they are devices):
/// said once, before a kernel is built.
pub fn check_report_paths(reports: &flags::Reports) -> Result<()> {
    for (flag, path) in [("--junit", &reports.junit), ("--json", &reports.json)] {
        let Some(path) = path else { continue };
        artifact::user_file::check(path).with_context(|| format!("{flag} {}", path.display()))?;
    }
    Ok(())
}

/// The summary on `terminal`, then the files asked for; the run's exit code, or
/// [`REPORT_UNWRITTEN`] when its results are in but a file could not be written.
pub fn finish(
    run: &results::Run,
    reports: &flags::Reports,
    terminal: &mut dyn Write,
    machine_failed: u8,
) -> ExitCode {
    let _ = write!(terminal, "{}", run.summary());
    let written = write_reports(run, reports, terminal);
    let code = run.exit_code(machine_failed);
    ExitCode::from(if written || code == machine_failed { code } else { REPORT_UNWRITTEN })
}

/// The JUnit and JSON files asked for, each written whole or not at all (a device or
/// `/dev/stdout` written in place, never replaced); whether all were, each failure said on
/// stderr with its file.
pub fn write_reports(
    run: &results::Run,
    reports: &flags::Reports,
    terminal: &mut dyn Write,
) -> bool {
    let mut written = true;
    for (flag, path, text) in
        [("--junit", &reports.junit, run.junit()), ("--json", &reports.json, run.json())]
    {
        let Some(path) = path else { continue };
        match artifact::user_file::write(path, text.as_bytes()) {
            Ok(()) => {
                let _ = writeln!(terminal, "wrote {}", path.display());
            }
            Err(err) => {
                eprintln!("error: {flag}: the report was not written: {err:#}");
                written = false;
            }
        }
    }
    written
}
