//! The reports of a run's results, for every command that has them (`test`, `run --tap`,
//! `run --all-targets`, `lava`): the summary on the terminal, JUnit and JSON files.

use std::{io::Write, path::PathBuf};

use anyhow::{Context, Result};

/// A run's results are in but a report file asked for could not be written: sysexits'
/// `EX_IOERR`, apart from a failed case (1) and a failed machine (125), so that a CI never takes
/// an old report, or none, for this run's.
pub const REPORT_UNWRITTEN: u8 = 74;

/// A report's text from a run's results.
type Render = fn(&results::Run) -> String;

/// Where a run's results are written, besides the summary on the terminal.
#[derive(Debug, Default, Clone)]
pub struct Reports {
    /// JUnit XML (`--junit`)
    pub junit: Option<PathBuf>,
    /// JSON (`--json`)
    pub json: Option<PathBuf>,
}

impl Reports {
    pub fn wanted(&self) -> bool {
        self.junit.is_some() || self.json.is_some()
    }

    /// The files asked for, each with its flag and what writes its text.
    fn files(&self) -> impl Iterator<Item = (&'static str, &PathBuf, Render)> {
        let junit: Render = results::Run::junit;
        let json: Render = results::Run::json;
        [("--junit", &self.junit, junit), ("--json", &self.json, json)]
            .into_iter()
            .filter_map(|(flag, path, render)| path.as_ref().map(|p| (flag, p, render)))
    }

    /// The report files can be written (their folders exist and take a file, or they are
    /// devices): said once, before a kernel is built.
    pub fn check(&self) -> Result<()> {
        for (flag, path, _) in self.files() {
            artifact::user_file::check(path)
                .with_context(|| format!("{flag} {}", path.display()))?;
        }
        Ok(())
    }

    /// The summary on `terminal`, then the files asked for; the run's exit code, or
    /// [`REPORT_UNWRITTEN`] when its results are in but a file could not be written.
    pub fn finish(&self, run: &results::Run, terminal: &mut dyn Write, machine_failed: u8) -> u8 {
        let _ = write!(terminal, "{}", run.summary());
        let written = self.write(run, terminal);
        let code = run.exit_code(machine_failed);
        if written || code == machine_failed {
            code
        } else {
            REPORT_UNWRITTEN
        }
    }

    /// The JUnit and JSON files asked for, each written whole or not at all (a device or
    /// `/dev/stdout` written in place, never replaced); whether all were, each failure said on
    /// stderr with its file.
    pub fn write(&self, run: &results::Run, terminal: &mut dyn Write) -> bool {
        let mut written = true;
        for (flag, path, render) in self.files() {
            match artifact::user_file::write(path, render(run).as_bytes()) {
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

    /// The build or the machine failed before any result: said, and the reports still say why,
    /// so that a CI shows a broken build as one; the code of a machine's failure.
    pub fn failed_before_results(&self, name: &str, err: &anyhow::Error, machine_failed: u8) -> u8 {
        eprintln!("error: {err:#}");
        let run = results::Run::new(name, results::Results::default(), Some(format!("{err:#}")));
        self.write(&run, &mut std::io::stderr());
        machine_failed
    }
}

/// A writer that passes everything on and keeps a copy: a command's stdout streams to the
/// terminal and is read as TAP when the run ends.
pub struct Tee<W> {
    pub out: W,
    pub copy: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.copy.lock().expect("the copy's lock").extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
