//! The repo checks itself: the README documents every subcommand and selection flag, and every
//! config fragment parses with a comment saying why each request is there.

use std::path::Path;

use clap::CommandFactory;

use crate::flags::Xtask;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn readme_names_every_subcommand_and_build_flag() {
    let readme = read("README.md");
    let command = Xtask::command();
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        assert!(
            readme.contains(&format!("cargo xtask {name}")),
            "README.md does not describe `cargo xtask {name}`"
        );
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    readme.contains(&format!("--{long}")),
                    "README.md does not mention --{long} (of `{name}`)"
                );
            }
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(readme.contains(env.as_ref()), "README.md does not mention {env}");
            }
        }
    }
}

#[test]
fn readme_starts_with_the_two_setup_commands() {
    let readme = read("README.md");
    let first_block = readme.split("```").nth(1).expect("a code block in README.md");
    assert!(first_block.contains("cargo xtask all"), "{first_block}");
    assert!(first_block.contains("cargo test --workspace"), "{first_block}");
    let ci = read(".ci/run");
    assert!(
        ci.contains("cargo test --workspace"),
        ".ci/run does not run the README's test command"
    );
}

#[test]
fn every_fragment_parses_and_says_why() {
    for dir in ["kernel-config", "busybox-config"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let settings = kconfig::parse_fragment(&path, &text).unwrap_or_else(|e| panic!("{e}"));
            assert!(!settings.is_empty(), "{} requests nothing", path.display());
            let lines: Vec<&str> = text.lines().collect();
            for setting in settings {
                let above = lines[..setting.origin.line - 1]
                    .iter()
                    .rev()
                    .take_while(|l| !l.trim().is_empty())
                    .any(|l| l.starts_with("# ") && !l.ends_with(" is not set"));
                assert!(above, "{}: {} has no comment saying why", setting.origin, setting.symbol);
            }
        }
    }
}

#[test]
fn code_is_formatted() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = std::process::Command::new(&cargo)
        .args(["fmt", "--all", "--", "--check", "-l"])
        .current_dir(repo())
        .output()
        .expect("run cargo fmt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("not installed") || stderr.contains("no such command") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped: formatting check, rustfmt is not installed");
        return;
    }
    assert!(
        output.status.success(),
        "not formatted (run `cargo fmt`):\n{}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
}
