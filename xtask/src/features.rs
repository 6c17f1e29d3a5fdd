//! Profiles and features (`features.toml`): which config fragments a kernel and BusyBox are built
//! with, and what a boot needs of the kernel it boots.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub about: String,
    /// `defconfig` (the architecture's) or a make target
    pub base: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// fragment names under kernel-config/
    #[serde(default)]
    pub kernel: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub about: String,
    /// fragment names under kernel-config/
    #[serde(default)]
    pub kernel: Vec<String>,
    /// fragment names under busybox-config/
    #[serde(default)]
    pub busybox: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(rename = "profile")]
    pub profiles: BTreeMap<String, Profile>,
    #[serde(rename = "feature")]
    pub features: BTreeMap<String, Feature>,
}

impl Catalog {
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::parse(include_str!("../../features.toml"))
                .expect("features.toml is checked by the repo's tests")
        })
    }

    pub fn parse(text: &str) -> Result<Catalog> {
        let catalog: Catalog = toml::from_str(text).context("parsing features.toml")?;
        for (name, profile) in &catalog.profiles {
            for feature in &profile.features {
                if !catalog.features.contains_key(feature) {
                    bail!("features.toml: profile {name} names an unknown feature {feature}");
                }
            }
        }
        Ok(catalog)
    }

    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles.get(name).with_context(|| {
            format!(
                "unknown profile `{name}`: expected one of {}",
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    pub fn feature(&self, name: &str) -> Result<&Feature> {
        self.features.get(name).with_context(|| format!("unknown feature `{name}`"))
    }
}

/// A fragment name's files for `arch`: the shared one, then the architecture's own where it
/// exists. At least one must exist.
pub fn fragment_files(dir: &Path, arch: &str, name: &str) -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> =
        [dir.join(name), dir.join(arch).join(name)].into_iter().filter(|p| p.is_file()).collect();
    if files.is_empty() {
        bail!("no config fragment {name} in {} (nor in its {arch}/ folder)", dir.display());
    }
    Ok(files)
}

/// The kernel's fragments for `profile` on `arch`, in the order they apply: the profile's
/// features', then the profile's own. The user's come after these.
pub fn kernel_fragments(repo: &Path, arch: &str, profile: &Profile) -> Result<Vec<PathBuf>> {
    let catalog = Catalog::builtin();
    let dir = repo.join("kernel-config");
    let mut names: Vec<&String> = Vec::new();
    for feature in &profile.features {
        names.extend(&catalog.feature(feature)?.kernel);
    }
    names.extend(&profile.kernel);
    let mut files = Vec::new();
    for name in names {
        files.extend(fragment_files(&dir, arch, name)?);
    }
    Ok(files)
}

/// BusyBox's fragments for `profile`'s features, in order.
pub fn busybox_fragments(repo: &Path, arch: &str, profile: &Profile) -> Result<Vec<PathBuf>> {
    let catalog = Catalog::builtin();
    let dir = repo.join("busybox-config");
    let mut files = Vec::new();
    for feature in &profile.features {
        for name in &catalog.feature(feature)?.busybox {
            files.extend(fragment_files(&dir, arch, name)?);
        }
    }
    Ok(files)
}

/// What `features` ask of a kernel that its `.config` does not have, one line per symbol, with
/// the feature that asks. Empty when the kernel has them all.
pub fn missing_in_kernel(
    repo: &Path,
    arch: &str,
    features: &[&str],
    kernel_config: &str,
) -> Result<Vec<String>> {
    let catalog = Catalog::builtin();
    let config = kconfig::parse_config(kernel_config);
    let mut missing = Vec::new();
    for &name in features {
        let feature = catalog.feature(name)?;
        let mut files = Vec::new();
        for fragment in &feature.kernel {
            files.extend(fragment_files(&repo.join("kernel-config"), arch, fragment)?);
        }
        let parsed = crate::kbuild::read_fragments(&files)?;
        let wanted = kconfig::merge(parsed.iter().map(Vec::as_slice));
        for mismatch in kconfig::verify(&wanted, &config) {
            missing.push(format!("{mismatch} (feature {name}: {})", feature.about));
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    }

    #[test]
    fn the_catalog_parses_and_every_fragment_exists_for_every_arch() {
        let catalog = Catalog::parse(include_str!("../../features.toml")).unwrap();
        for arch in arch::names() {
            for profile in catalog.profiles.values() {
                kernel_fragments(repo(), arch, profile).unwrap();
                busybox_fragments(repo(), arch, profile).unwrap();
            }
        }
    }

    #[test]
    fn profiles_apply_features_then_their_own_fragments() {
        let catalog = Catalog::builtin();
        let files = kernel_fragments(repo(), "x86_64", catalog.profile("tiny").unwrap()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(repo().join("kernel-config")).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "boot.config",
                "x86_64/boot.config",
                "ramdisk.config",
                "command.config",
                "tiny.config",
                "x86_64/tiny.config"
            ]
        );
    }

    #[test]
    fn unknown_features_in_a_profile_are_refused() {
        let err = Catalog::parse(
            "[profile.p]\nabout = \"\"\nbase = \"tinyconfig\"\nfeatures = [\"nope\"]\n[feature.f]\nabout = \"\"\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "features.toml: profile p names an unknown feature nope");
    }

    #[test]
    fn a_kernel_without_a_features_symbols_is_named() {
        let missing = missing_in_kernel(
            repo(),
            "x86_64",
            &["ramdisk"],
            "CONFIG_BLK_DEV_RAM_COUNT=1\nCONFIG_BLK_DEV_RAM_SIZE=65536\n",
        )
        .unwrap();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("CONFIG_BLK_DEV_RAM asked for y"), "{}", missing[0]);
        assert!(missing[0].contains("feature ramdisk"), "{}", missing[0]);
    }
}
