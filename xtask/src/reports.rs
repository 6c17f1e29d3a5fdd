//! The reports of a run's results, for every command that has them (`test`, `run --tap`,
//! `lava`): the summary on the terminal, JUnit and JSON files.

use std::{io::Write, path::Path};

use anyhow::{bail, Result};

use crate::flags;

/// The report files' folders exist: a typo is named before a kernel is built.
pub fn check_report_paths(reports: &flags::Reports) -> Result<()> {
    for (flag, path) in [("--junit", &reports.junit), ("--json", &reports.json)] {
        let Some(path) = path else { continue };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("{flag} {}: no folder {}", path.display(), parent.display());
        }
        if path.is_dir() {
            bail!("{flag} {}: a folder, not a file", path.display());
        }
    }
    Ok(())
}

/// The summary on `terminal`, and the files asked for.
pub fn report(
    run: &results::Run,
    reports: &flags::Reports,
    terminal: &mut dyn Write,
) -> Result<()> {
    write!(terminal, "{}", run.summary())?;
    write_reports(run, reports, terminal)
}

/// The JUnit and JSON files asked for, each written whole or not at all.
pub fn write_reports(
    run: &results::Run,
    reports: &flags::Reports,
    terminal: &mut dyn Write,
) -> Result<()> {
    for (path, text) in [(&reports.junit, run.junit()), (&reports.json, run.json())] {
        let Some(path) = path else { continue };
        artifact::write_atomic(path, |f| Ok(f.write_all(text.as_bytes())?))?;
        writeln!(terminal, "wrote {}", path.display())?;
    }
    Ok(())
}
