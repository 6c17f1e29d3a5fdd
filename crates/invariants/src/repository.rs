//! The repository's checks, as `cargo xtask tidy` runs them and as tests: the README documents
//! every subcommand, flag and variable; every config fragment parses with a comment saying why;
//! the tables parse; ARCHITECTURE.md's invariants on code hold (no architecture written into
//! code outside its table, no output path joined outside the layout, no feature name that
//! features.toml lacks, no import circle between files, clap only in xtask); the code is
//! formatted. Every check takes the tree it reads, so that each is tested on a tree that breaks
//! it (the formatting check, cargo fmt's own, on the repository only). The command line's
//! subcommands, flags and variables come from `xtask` (its clap definition) as data.

use std::path::Path;

use anyhow::{ensure, Context as _, Result};

/// A subcommand as the README must describe it.
pub struct Subcommand {
    pub name: String,
    /// its flags' long names, without `--`
    pub flags: Vec<String>,
    /// the variables its flags read
    pub variables: Vec<String>,
}

fn read(root: &Path, relative: &str) -> Result<String> {
    std::fs::read_to_string(root.join(relative)).with_context(|| format!("reading {relative}"))
}

/// Every check on the repository at `root`, each with its name and verdict.
pub fn checks(root: &Path, subcommands: &[Subcommand]) -> Vec<(&'static str, Result<()>)> {
    vec![
        (
            "README names every subcommand, flag and variable",
            readme_names_everything(root, subcommands),
        ),
        ("README starts with the two set-up commands", readme_starts_with_setup(root)),
        ("every fragment parses and says why", fragments_say_why(root)),
        ("the architecture and feature tables parse", tables_parse(root)),
        ("no architecture outside its table", no_arch_outside_the_table(root)),
        ("no output path outside the layout", no_path_outside_the_layout(root)),
        ("no feature that features.toml lacks", no_unknown_feature(root)),
        ("no import circle, clap only in xtask", no_import_circle(root)),
        ("ARCHITECTURE.md names every source file", codemap_names_every_file(root)),
        ("code is formatted", code_is_formatted(root)),
    ]
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

pub fn readme_names_everything(root: &Path, subcommands: &[Subcommand]) -> Result<()> {
    let readme = read(root, "README.md")?;
    for sub in subcommands {
        let name = &sub.name;
        ensure!(
            mentions(&readme, &format!("cargo xtask {name}")),
            "README.md does not describe `cargo xtask {name}`"
        );
        for long in &sub.flags {
            ensure!(
                mentions(&readme, &format!("--{long}")),
                "README.md does not mention --{long} (of `{name}`)"
            );
        }
        for variable in &sub.variables {
            ensure!(readme.contains(variable.as_str()), "README.md does not mention {variable}");
        }
    }
    Ok(())
}

pub fn readme_starts_with_setup(root: &Path) -> Result<()> {
    let readme = read(root, "README.md")?;
    let first_block = readme.split("```").nth(1).context("no code block in README.md")?;
    ensure!(first_block.contains("cargo xtask all"), "first block: {first_block}");
    ensure!(first_block.contains("cargo test --workspace"), "first block: {first_block}");
    ensure!(
        read(root, ".ci/run")?.contains("cargo test --workspace"),
        ".ci/run does not run the README's test command"
    );
    Ok(())
}

pub fn fragments_say_why(root: &Path) -> Result<()> {
    let mut files = Vec::new();
    for dir in ["kernel-config", "busybox-config", "uboot-config"] {
        crate::files_under(&root.join(dir), &mut files)?;
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

pub fn tables_parse(root: &Path) -> Result<()> {
    arch::parse(&read(root, "crates/arch/arches.toml")?)?;
    stages::features::Catalog::parse(&read(root, "features.toml")?)?;
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

pub fn no_arch_outside_the_table(root: &Path) -> Result<()> {
    crate::no_word_outside_its_table(root, &arch_words(), &["tidy.rs", "repository.rs"])
}

pub fn no_path_outside_the_layout(root: &Path) -> Result<()> {
    // the bench names what it puts in its own scratch folder (`Layout::bench_work`)
    crate::no_path_outside_the_layout(root, LAYOUT_FILE, &["tidy.rs", "repository.rs", "bench/"])
}

pub fn no_unknown_feature(root: &Path) -> Result<()> {
    let catalog = stages::features::Catalog::parse(&read(root, "features.toml")?)?;
    let names: Vec<&str> = catalog.features.keys().map(String::as_str).collect();
    crate::no_unknown_feature(root, &names)
}

/// No file reaches itself by its imports, and clap stops at xtask: no library crate depends on it.
pub fn no_import_circle(root: &Path) -> Result<()> {
    crate::no_import_circle(root)?;
    for krate in std::fs::read_dir(root.join("crates"))? {
        let manifest = krate?.path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        ensure!(!text.contains("clap"), "{}: a library crate depends on clap", manifest.display());
    }
    Ok(())
}

/// ARCHITECTURE.md's codemap names every source file of `xtask/src` and `crates/*/src` (a
/// crate's `lib.rs`, `main.rs` and a folder's `mod.rs` are its crate or folder): a file added
/// without a word on what it is fails.
pub fn codemap_names_every_file(root: &Path) -> Result<()> {
    let codemap = read(root, "ARCHITECTURE.md")?;
    let mut srcs = vec![root.join("xtask/src")];
    for krate in std::fs::read_dir(root.join("crates"))? {
        srcs.push(krate?.path().join("src"));
    }
    let mut files = Vec::new();
    for src in srcs.iter().filter(|s| s.is_dir()) {
        crate::files_under(src, &mut files)?;
    }
    files.sort();
    for file in files {
        let Some(name) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !name.ends_with(".rs")
            || ["lib.rs", "main.rs", "mod.rs", "tests.rs"].contains(&name.as_str())
        {
            continue;
        }
        ensure!(
            mentions(&codemap, &name),
            "ARCHITECTURE.md does not name {} (say what it is in the codemap)",
            file.strip_prefix(root).unwrap_or(&file).display()
        );
    }
    Ok(())
}

pub fn code_is_formatted(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = std::process::Command::new(&cargo)
        .args(["fmt", "--all", "--", "--check", "-l"])
        .current_dir(root)
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
    use std::path::{Path, PathBuf};

    /// The repository's root: this crate sits two folders below it.
    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/invariants")
    }

    /// A command line with `run --uboot` and `config`, as xtask's clap definition gives it.
    fn subcommands() -> Vec<super::Subcommand> {
        vec![
            super::Subcommand {
                name: "run".into(),
                flags: vec!["uboot".into(), "uboot-rom".into()],
                variables: vec!["KARDEL_COLD".into()],
            },
            super::Subcommand { name: "config".into(), flags: vec![], variables: vec![] },
        ]
    }

    fn readme_names_everything(root: &Path) -> anyhow::Result<()> {
        super::readme_names_everything(root, &subcommands())
    }

    /// A copy of the repository's files a check reads, in a folder of its own, to break.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str, files: &[&str]) -> Tree {
            let root =
                std::env::temp_dir().join(format!("kardel-tidy-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for file in files {
                let to = root.join(file);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(repo().join(file), &to).unwrap();
            }
            Tree(root)
        }

        fn edit(&self, file: &str, change: impl Fn(&str) -> String) {
            let path = self.0.join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, change(&text)).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[track_caller]
    fn fails(check: fn(&Path) -> anyhow::Result<()>, tree: &Tree, says: &str) {
        let err = format!("{:#}", check(&tree.0).expect_err("the broken tree passed"));
        assert!(err.contains(says), "{err}");
    }

    /// Every check but the README's (xtask's test gives it the real command line) holds on the
    /// repository; the formatting check runs cargo fmt on it.
    #[test]
    fn the_repository_passes_every_check() {
        for check in [
            super::readme_starts_with_setup,
            super::fragments_say_why,
            super::tables_parse,
            super::no_arch_outside_the_table,
            super::no_path_outside_the_layout,
            super::no_unknown_feature,
            super::no_import_circle,
            super::codemap_names_every_file,
            super::code_is_formatted,
        ] {
            check(repo()).unwrap();
        }
    }

    #[test]
    fn a_readme_missing_a_flag_or_a_subcommand_fails() {
        let tree = Tree::new("readme", &["README.md"]);
        // every whole-word `--uboot` gone; `--uboot-rom` stays
        tree.edit("README.md", |t| {
            let mut out = String::new();
            let mut rest = t;
            while let Some(at) = rest.find("--uboot") {
                let after = rest[at + 7..].chars().next();
                let whole = !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
                out.push_str(&rest[..at]);
                out.push_str(if whole { "--u-boot" } else { "--uboot" });
                rest = &rest[at + 7..];
            }
            out + rest
        });
        fails(readme_names_everything, &tree, "README.md does not mention --uboot (of `run`)");
        let tree = Tree::new("readme-config", &["README.md"]);
        tree.edit("README.md", |t| t.replace("cargo xtask config", "cargo xtask settings"));
        fails(readme_names_everything, &tree, "does not describe `cargo xtask config`");
    }

    #[test]
    fn a_readme_that_does_not_start_with_the_two_commands_fails() {
        let tree = Tree::new("setup", &["README.md", ".ci/run"]);
        super::readme_starts_with_setup(&tree.0).unwrap();
        tree.edit(".ci/run", |t| t.replace("cargo test --workspace", "cargo nextest run"));
        fails(
            super::readme_starts_with_setup,
            &tree,
            ".ci/run does not run the README's test command",
        );
        tree.edit("README.md", |t| t.replacen("cargo test --workspace", "cargo nextest run", 1));
        fails(super::readme_starts_with_setup, &tree, "first block");
    }

    #[test]
    fn a_fragment_without_a_why_fails() {
        let fragments = [
            "kernel-config/boot.config",
            "busybox-config/static.config",
            "uboot-config/tutorial.config",
        ];
        let tree = Tree::new("fragments", &fragments);
        super::fragments_say_why(&tree.0).unwrap();
        tree.edit("kernel-config/mine.config", |_| "CONFIG_FOO=y\n".into());
        fails(super::fragments_say_why, &tree, "CONFIG_FOO has no comment saying why");
        tree.edit("kernel-config/mine.config", |_| "# nothing asked\n".into());
        fails(super::fragments_say_why, &tree, "requests nothing");
    }

    #[test]
    fn a_source_file_the_codemap_does_not_name_fails() {
        let tree = Tree::new("codemap", &["ARCHITECTURE.md", "crates/qemu/src/qmp.rs"]);
        super::codemap_names_every_file(&tree.0).unwrap();
        tree.edit("crates/qemu/src/vnc.rs", |_| "pub fn f() {}\n".into());
        fails(
            super::codemap_names_every_file,
            &tree,
            "ARCHITECTURE.md does not name crates/qemu/src/vnc.rs",
        );
    }

    #[test]
    fn a_table_that_does_not_parse_fails() {
        let tree = Tree::new("tables", &["crates/arch/arches.toml", "features.toml"]);
        super::tables_parse(&tree.0).unwrap();
        tree.edit("features.toml", |t| t.replace("workbench = true", "workbnch = true"));
        fails(super::tables_parse, &tree, "unknown field `workbnch`");
    }
}
