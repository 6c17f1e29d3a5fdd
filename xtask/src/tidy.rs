//! `cargo xtask tidy`: the repository's checks (`invariants::repository`), with the command
//! line the README must describe read from clap.

use std::path::Path;

use anyhow::{ensure, Result};
use clap::CommandFactory;
use invariants::repository::{self, Subcommand};

use crate::flags::Xtask;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace")
}

/// Every subcommand with its flags and their variables, as clap defines them.
fn subcommands() -> Vec<Subcommand> {
    let command = Xtask::command();
    command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .map(|sub| Subcommand {
            name: sub.get_name().to_string(),
            flags: sub.get_arguments().filter_map(|a| a.get_long()).map(String::from).collect(),
            variables: sub
                .get_arguments()
                .filter_map(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
                .collect(),
        })
        .collect()
}

/// `cargo xtask tidy`: every check, each failure named.
pub fn run() -> Result<()> {
    let mut failed = 0;
    for (name, verdict) in repository::checks(repo(), &subcommands()) {
        match verdict {
            Ok(()) => println!("tidy: ok      {name}"),
            Err(err) => {
                failed += 1;
                println!("tidy: FAILED  {name}: {err:#}");
            }
        }
    }
    ensure!(failed == 0, "{failed} tidy check(s) failed");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The README describes the real command line: every subcommand, flag and variable.
    #[test]
    fn the_readme_names_every_subcommand_flag_and_variable() {
        invariants::repository::readme_names_everything(super::repo(), &super::subcommands())
            .unwrap();
    }
}
