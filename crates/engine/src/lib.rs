//! Each command's work from domain values, above the build (`stages`) and the boot (`boot`):
//! what a boot needs built ([`prepare`]), KUnit's suites and the tree's kselftests built, booted
//! and read into results ([`kunit`], [`kselftest`]), named targets each run in a process of its
//! own ([`targets`]), and the reports a CI reads ([`reports`]). `xtask` parses flags into these
//! values once and calls one function per command; nothing here knows a flag's parser.

pub mod check;
pub mod deps;
pub mod kselftest;
pub mod kunit;
pub mod prepare;
pub mod reports;
pub mod run;
pub mod targets;

use std::path::PathBuf;

use anyhow::{Context as _, Result};

/// Cargo's target folder. `CARGO_TARGET_DIR` answers without asking cargo, and so does the
/// folder cargo built this program into (`<target>/<profile>/xtask`, cargo's `CACHEDIR.TAG` at
/// its top): `cargo metadata` costs 40 ms of every `run -- CMD`. Otherwise cargo_metadata reads
/// it (it knows about `build.target-dir` in config files).
pub fn target_dir() -> Result<PathBuf> {
    let repo = stages::context::repo();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() { dir } else { repo.join(dir) });
    }
    if let Some(dir) = built_into() {
        return Ok(dir);
    }
    let mut command = cargo_metadata::MetadataCommand::new();
    // the cargo that runs `cargo xtask`, even when it is not on PATH
    if let Some(cargo) = std::env::var_os("CARGO") {
        command.cargo_path(cargo);
    }
    let metadata = command
        .manifest_path(repo.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("asking cargo for the target folder (cargo metadata)")?;
    Ok(metadata.target_directory.into_std_path_buf())
}

/// The target folder this program was built into, if it runs from one: the folder above its
/// profile folder, holding the `CACHEDIR.TAG` cargo writes there.
fn built_into() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    target.join("CACHEDIR.TAG").is_file().then(|| target.to_path_buf())
}
