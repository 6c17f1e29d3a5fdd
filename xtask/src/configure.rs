//! Configuring a kconfig tree (the kernel's or BusyBox's) from a base config and fragments, and
//! proving the result: every requested value must be in the final `.config`.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
use artifact::Fingerprint;
use kconfig::Setting;

/// How kconfig settles a `.config` with fragments appended.
pub enum Settle {
    /// the kernel's `make olddefconfig`
    Olddefconfig,
    /// BusyBox has no olddefconfig: `make oldconfig` with Enter answered to every question
    OldconfigAcceptingDefaults,
}

pub struct Configure<'a> {
    /// e.g. "kernel (tiny)", for progress lines
    pub label: String,
    /// `make -C src O=build ARCH=...` without a target
    pub make: &'a dyn Fn(&str) -> xshell::Cmd<'a>,
    pub build_dir: &'a Path,
    pub base_target: &'a str,
    pub fragments: Vec<PathBuf>,
    pub settle: Settle,
    pub log: PathBuf,
    /// The source's identity: a new source tree is configured afresh
    pub source_identity: &'a str,
}

/// Reads and parses fragment files, in order.
pub fn read_fragments(paths: &[PathBuf]) -> Result<Vec<Vec<Setting>>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config fragment {}", path.display()))?;
            Ok(kconfig::parse_fragment(path, &text)?)
        })
        .collect()
}

impl Configure<'_> {
    /// Configures `build_dir` unless it already holds the config these inputs give. Returns
    /// whether it ran.
    pub fn run(&self) -> Result<bool> {
        let fragments = read_fragments(&self.fragments)?;
        let wanted = kconfig::merge(fragments.iter().map(Vec::as_slice));
        let appended = kconfig::render(&wanted);

        let mut fp = Fingerprint::new("configure");
        fp.add("base", self.base_target).add("fragments", &appended).add("source", self.source_identity);
        let marker = artifact::Stamp::new(self.build_dir.join(".kardel-configured"));
        let config_path = self.build_dir.join(".config");
        if marker.is_fresh(&fp, &[&config_path]) {
            return Ok(false);
        }
        marker.invalidate()?;
        std::fs::create_dir_all(self.build_dir)
            .with_context(|| format!("creating {}", self.build_dir.display()))?;

        exec::run_logged((self.make)(self.base_target), &self.log, &format!("{}: {}", self.label, self.base_target))?;
        let base = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let applied = kconfig::apply_to(&base, &wanted);
        artifact::write_atomic(&config_path, |f| Ok(f.write_all(applied.as_bytes())?))?;
        match self.settle {
            Settle::Olddefconfig => {
                exec::run_logged((self.make)("olddefconfig"), &self.log, &format!("{}: olddefconfig", self.label))?;
            }
            Settle::OldconfigAcceptingDefaults => {
                let enter_to_everything = "\n".repeat(4096);
                exec::run_logged_with_input(
                    (self.make)("oldconfig"),
                    enter_to_everything.as_bytes(),
                    &self.log,
                    &format!("{}: oldconfig", self.label),
                )?;
            }
        }

        let final_text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let mismatches = kconfig::verify(&wanted, &kconfig::parse_config(&final_text));
        if !mismatches.is_empty() {
            let list: Vec<String> = mismatches.iter().map(|m| format!("  {m}")).collect();
            bail!(
                "{}: {} requested config value(s) did not stick in {}:\n{}",
                self.label,
                mismatches.len(),
                config_path.display(),
                list.join("\n")
            );
        }
        marker.record(&fp)?;
        Ok(true)
    }
}
