//! The repo checks itself, as `cargo xtask tidy` and as tests: the README documents every
//! subcommand, flag and variable; every config fragment parses with a comment saying why; the
//! tables parse; ARCHITECTURE.md's invariants on code hold (no architecture written into code
//! outside its table, no output path joined outside the layout, no feature name that
//! features.toml lacks, no import circle between files); the code is formatted. The code checks
//! take the tree they read, so that each is tested on a tree that breaks it.

use std::path::Path;

use anyhow::{ensure, Context as _, Result};
use clap::CommandFactory;

use crate::flags::Xtask;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace")
}

fn read(relative: &str) -> Result<String> {
    std::fs::read_to_string(repo().join(relative)).with_context(|| format!("reading {relative}"))
}

/// `cargo xtask tidy`: every check, each failure named.
pub fn run() -> Result<()> {
    type Check = (&'static str, fn() -> Result<()>);
    let checks: [Check; 9] = [
        ("README names every subcommand, flag and variable", readme_names_everything),
        ("README starts with the two set-up commands", readme_starts_with_setup),
        ("every fragment parses and says why", fragments_say_why),
        ("the architecture and feature tables parse", tables_parse),
        ("no architecture outside its table", no_arch_outside_the_table),
        ("no output path outside the layout", no_path_outside_the_layout),
        ("no feature that features.toml lacks", no_unknown_feature),
        ("no import circle, clap only in xtask", no_import_circle),
        ("code is formatted", code_is_formatted),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
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

/// Whether `text` holds `token` as a whole word: `--uboot` is not mentioned by `--uboot-rom`.
fn mentions(text: &str, token: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    text.match_indices(token).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + token.len()..].chars().next();
        !after.is_some_and(is_word) && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn readme_names_everything() -> Result<()> {
    let readme = read("README.md")?;
    let command = Xtask::command();
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        ensure!(
            mentions(&readme, &format!("cargo xtask {name}")),
            "README.md does not describe `cargo xtask {name}`"
        );
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                ensure!(
                    mentions(&readme, &format!("--{long}")),
                    "README.md does not mention --{long} (of `{name}`)"
                );
            }
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                ensure!(readme.contains(env.as_ref()), "README.md does not mention {env}");
            }
        }
    }
    Ok(())
}

fn readme_starts_with_setup() -> Result<()> {
    let readme = read("README.md")?;
    let first_block = readme.split("```").nth(1).context("no code block in README.md")?;
    ensure!(first_block.contains("cargo xtask all"), "first block: {first_block}");
    ensure!(first_block.contains("cargo test --workspace"), "first block: {first_block}");
    ensure!(
        read(".ci/run")?.contains("cargo test --workspace"),
        ".ci/run does not run the README's test command"
    );
    Ok(())
}

fn fragments_say_why() -> Result<()> {
    let mut files = Vec::new();
    for dir in ["kernel-config", "busybox-config", "uboot-config"] {
        invariants::files_under(&repo().join(dir), &mut files)?;
    }
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let settings = kconfig::parse_fragment(&path, &text)?;
        ensure!(!settings.is_empty(), "{} requests nothing", path.display());
        let lines: Vec<&str> = text.lines().collect();
        for setting in settings {
            let above = lines[..setting.origin.line - 1]
                .iter()
                .rev()
                .take_while(|l| !l.trim().is_empty())
                .any(|l| l.starts_with("# ") && !l.ends_with(" is not set"));
            ensure!(above, "{}: {} has no comment saying why", setting.origin, setting.symbol);
        }
    }
    Ok(())
}

fn tables_parse() -> Result<()> {
    arch::parse(&read("crates/arch/arches.toml")?)?;
    stages::features::Catalog::parse(&read("features.toml")?)?;
    Ok(())
}

/// Words that name one architecture, from its row: outside the table (and tests, fragments of
/// that architecture and documentation), code reads them from the row.
fn arch_words() -> Vec<String> {
    let mut words = Vec::new();
    for arch in arch::all() {
        words.push(format!("\"{}\"", arch.name));
        words.push(format!("arch/{}/", arch.kernel_arch));
        words.push(format!("\"{}\"", arch.kernel_image_name()));
        words.extend([arch.qemu.clone(), arch.console.clone()]);
        words.extend(arch.cpu().map(String::from));
        if arch.defconfig != "defconfig" {
            words.push(arch.defconfig.clone());
        }
    }
    words.sort();
    words.dedup();
    words
}

/// Where an output path may be joined: the layout, which is the README's "Where things go".
const LAYOUT_FILE: &str = "crates/stages/src/layout.rs";

fn no_arch_outside_the_table() -> Result<()> {
    invariants::no_word_outside_its_table(repo(), &arch_words(), &["tidy.rs"])
}

fn no_path_outside_the_layout() -> Result<()> {
    invariants::no_path_outside_the_layout(repo(), LAYOUT_FILE, &["tidy.rs"])
}

fn no_unknown_feature() -> Result<()> {
    let catalog = stages::features::Catalog::parse(&read("features.toml")?)?;
    let names: Vec<&str> = catalog.features.keys().map(String::as_str).collect();
    invariants::no_unknown_feature(repo(), &names)
}

/// No file reaches itself by its imports, and clap stops at xtask: no library crate depends on it.
fn no_import_circle() -> Result<()> {
    invariants::no_import_circle(repo())?;
    for krate in std::fs::read_dir(repo().join("crates"))? {
        let manifest = krate?.path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        ensure!(!text.contains("clap"), "{}: a library crate depends on clap", manifest.display());
    }
    Ok(())
}

fn code_is_formatted() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = std::process::Command::new(&cargo)
        .args(["fmt", "--all", "--", "--check", "-l"])
        .current_dir(repo())
        .output()
        .context("running cargo fmt")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("not installed") || stderr.contains("no such command") {
        eprintln!("skipped: formatting check, rustfmt is not installed");
        return Ok(());
    }
    ensure!(
        output.status.success(),
        "not formatted (run `cargo fmt`):\n{}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn readme_names_every_subcommand_and_build_flag() {
        super::readme_names_everything().unwrap();
    }

    #[test]
    fn a_flag_is_mentioned_as_a_whole_word() {
        let readme = "`--uboot-rom FILE` boots a ROM; `cargo xtask runs`";
        assert!(!super::mentions(readme, "--uboot"));
        assert!(super::mentions(readme, "--uboot-rom"));
        assert!(!super::mentions(readme, "cargo xtask run"));
        assert!(super::mentions("| `--uboot`, `--json` |", "--uboot"));
    }

    #[test]
    fn readme_starts_with_the_two_setup_commands() {
        super::readme_starts_with_setup().unwrap();
    }

    #[test]
    fn every_fragment_parses_and_says_why() {
        super::fragments_say_why().unwrap();
    }

    #[test]
    fn the_tables_parse() {
        super::tables_parse().unwrap();
    }

    #[test]
    fn no_architecture_is_written_into_code() {
        super::no_arch_outside_the_table().unwrap();
    }

    #[test]
    fn no_output_path_is_joined_outside_the_layout() {
        super::no_path_outside_the_layout().unwrap();
    }

    #[test]
    fn no_feature_is_named_that_the_table_lacks() {
        super::no_unknown_feature().unwrap();
    }

    #[test]
    fn no_import_circle_between_files() {
        super::no_import_circle().unwrap();
    }

    #[test]
    fn code_is_formatted() {
        super::code_is_formatted().unwrap();
    }
}
