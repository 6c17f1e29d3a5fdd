//! `cargo xtask bisect`: the flags as a [`bisect::run::Plan`], the bisect run by the bisect crate,
//! its summary on stdout and its JSON where asked.

use std::{process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use bisect::{
    run::{Ends, Plan},
    PanicIs,
};

use crate::{build::target_dir, flags};

pub fn run(flags: flags::Bisect) -> Result<ExitCode> {
    engine::reports::Reports { junit: None, json: flags.json.clone() }.check()?;
    let ends = match (flags.replay, flags.good, flags.bad) {
        (Some(log), ..) => Ends::Replay(log),
        (None, Some(good), Some(bad)) => Ends::Commits { good, bad },
        _ => unreachable!("clap requires --good and --bad without --replay"),
    };
    let plan = Plan {
        selection: flags.build.selection()?,
        target_dir: target_dir()?,
        ends,
        command: flags.command,
        timeout: Duration::from_secs(flags.timeout),
        verbose: flags.verbose,
        panic: match flags.panic {
            flags::PanicIs::Bad => PanicIs::Bad,
            flags::PanicIs::Skip => PanicIs::Skip,
        },
        options: flags.machine.options(None)?,
        install_deps: flags.build.install_deps,
    };
    let bisected = bisect::run::bisect(&plan)?;
    let report = &bisected.report;
    print!("{}", report.summary());
    println!("bisect log: {} (repeat it: cargo xtask bisect --replay {0})", bisected.log.display());
    if let Some(path) = &flags.json {
        artifact::user_file::write(path, report.json().as_bytes())
            .with_context(|| format!("--json {}", path.display()))?;
    }
    Ok(if report.answer().is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
