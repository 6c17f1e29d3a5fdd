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
    /// make targets the kernel build adds
    #[serde(default)]
    pub make: Vec<String>,
    /// one of the features a profile's workbench flavour has all of
    #[serde(default)]
    pub workbench: bool,
    /// features a kernel with this one always has too (KUnit's kernels take test modules)
    #[serde(default)]
    pub with: Vec<String>,
    /// the guest reaches something of the host's (a folder, the network), set up as it boots:
    /// it powers off at its end and never starts from a saved machine
    #[serde(default)]
    pub reaches_host: bool,
    /// a LAVA job can carry it (a lab's machine has what it needs)
    #[serde(default = "yes")]
    pub lava: bool,
}

fn yes() -> bool {
    true
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
            Catalog::parse(include_str!("../../../features.toml"))
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
        for (name, feature) in &catalog.features {
            for with in &feature.with {
                if !catalog.features.contains_key(with) {
                    bail!("features.toml: feature {name} comes with an unknown feature {with}");
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

    /// The workbench features, sorted: asking for one builds the flavour with all of them.
    pub fn workbench(&self) -> Vec<&str> {
        self.features.iter().filter(|(_, f)| f.workbench).map(|(n, _)| n.as_str()).collect()
    }
}

/// What a profile's kernel adds for `wanted` features: those the profile lacks, a wanted
/// workbench feature bringing all the others the profile lacks, each feature those it comes
/// `with` (and only those: KUnit's kernel takes modules without the network); sorted.
pub fn extra_features(catalog: &Catalog, profile: &Profile, wanted: &[&str]) -> Vec<String> {
    let workbench = catalog.workbench();
    let mut extra: Vec<String> = Vec::new();
    // what the wanted features come with: a workbench feature among them brings only itself
    let mut implied: Vec<&str> = Vec::new();
    let mut walk: Vec<&str> = wanted.to_vec();
    while let Some(feature) = walk.pop() {
        for with in catalog.features.get(feature).map(|f| f.with.as_slice()).unwrap_or_default() {
            if !implied.contains(&with.as_str()) {
                implied.push(with);
                walk.push(with);
            }
        }
    }
    // (feature, whether it brings the whole workbench)
    let mut todo: Vec<(&str, bool)> = wanted.iter().map(|f| (*f, !implied.contains(f))).collect();
    while let Some((feature, whole)) = todo.pop() {
        let brings = match whole && workbench.contains(&feature) {
            true => workbench.clone(),
            false => vec![feature],
        };
        for feature in brings {
            let has = |f: &String| f == feature;
            if profile.features.iter().any(has) || extra.iter().any(has) {
                continue;
            }
            extra.push(feature.to_string());
            if let Some(row) = catalog.features.get(feature) {
                todo.extend(row.with.iter().map(|w| (w.as_str(), false)));
            }
        }
    }
    extra.sort();
    extra
}

/// A kernel's name in folders: the profile, then what it adds, every workbench feature the
/// profile lacks as one word (`tiny`, `tiny+debug`, `tiny+workbench`, `tiny+debug+workbench`),
/// some of them by name (`tiny+kunit+modules`).
pub fn flavour(catalog: &Catalog, profile_name: &str, extra: &[String]) -> String {
    let workbench = catalog.workbench();
    let in_profile = |f: &&str| {
        catalog.profiles.get(profile_name).is_some_and(|p| p.features.iter().any(|h| h == f))
    };
    let whole = workbench.iter().all(|f| in_profile(f) || extra.iter().any(|e| e == f));
    let mut words: Vec<&str> =
        extra.iter().map(String::as_str).filter(|f| !(whole && workbench.contains(f))).collect();
    if whole && extra.iter().any(|f| workbench.contains(&f.as_str())) {
        words.push("workbench");
    }
    std::iter::once(profile_name).chain(words).collect::<Vec<_>>().join("+")
}

/// A fragment name's files for `arch`: the shared one, then the architecture's own, then those of
/// `before-X.Y/` folders (for kernels older than X.Y: see [`for_version`]), where they exist. At
/// least one must exist.
pub fn fragment_files(dir: &Path, arch: &str, name: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> =
        [dir.join(name), dir.join(arch).join(name)].into_iter().filter(|p| p.is_file()).collect();
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| before(p).is_some())
                .map(|p| p.join(name))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    versioned.sort();
    files.extend(versioned);
    if files.is_empty() {
        bail!("no config fragment {name} in {} (nor in its {arch}/ folder)", dir.display());
    }
    Ok(files)
}

/// The version a `before-X.Y` folder (a fragment's, or a fragment in it) applies below.
fn before(path: &Path) -> Option<(u32, u32)> {
    let folder = if path.is_dir() { path } else { path.parent()? };
    let (major, minor) = folder.file_name()?.to_str()?.strip_prefix("before-")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The fragments that apply to a kernel of `version` (major, minor): those in a `before-X.Y`
/// folder only below X.Y. Every candidate is in the fingerprint whatever the version, so the
/// choice can wait until the tree is unpacked.
pub fn for_version(fragments: &[PathBuf], version: (u32, u32)) -> Vec<PathBuf> {
    fragments.iter().filter(|f| before(f).is_none_or(|bound| version < bound)).cloned().collect()
}

/// The kernel's fragments for `profile` plus `extra` features on `arch`, in the order they apply:
/// the features', then the profile's own. The user's come after these.
pub fn kernel_fragments(
    repo: &Path,
    arch: &str,
    profile: &Profile,
    extra: &[String],
) -> Result<Vec<PathBuf>> {
    let catalog = Catalog::builtin();
    let dir = repo.join("kernel-config");
    let mut names: Vec<&String> = Vec::new();
    for feature in profile.features.iter().chain(extra) {
        names.extend(&catalog.feature(feature)?.kernel);
    }
    names.extend(&profile.kernel);
    let mut files = Vec::new();
    for name in names {
        files.extend(fragment_files(&dir, arch, name)?);
    }
    Ok(files)
}

/// The make targets `profile`'s features and `extra` add to the kernel build.
pub fn kernel_make_targets(profile: &Profile, extra: &[String]) -> Result<Vec<String>> {
    let catalog = Catalog::builtin();
    let mut targets = Vec::new();
    for feature in profile.features.iter().chain(extra) {
        targets.extend(catalog.feature(feature)?.make.iter().cloned());
    }
    Ok(targets)
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

/// What `features` ask of a kernel that its `.config` (parsed by [`kconfig::parse_config`])
/// does not have, one line per symbol, with the feature that asks. Empty when the kernel has
/// them all.
pub fn missing_in_kernel(
    repo: &Path,
    arch: &str,
    features: &[&str],
    config: &BTreeMap<String, kconfig::Value>,
) -> Result<Vec<String>> {
    let catalog = Catalog::builtin();
    let mut missing = Vec::new();
    for &name in features {
        let feature = catalog.feature(name)?;
        let mut files = Vec::new();
        for fragment in &feature.kernel {
            // what every version must have: the versioned parts only add to it
            let all = fragment_files(&repo.join("kernel-config"), arch, fragment)?;
            files.extend(all.into_iter().filter(|f| before(f).is_none()));
        }
        let parsed = kconfig::read_fragments(&files)?;
        let wanted = kconfig::merge(parsed.iter().map(Vec::as_slice));
        for mismatch in kconfig::verify(&wanted, config) {
            missing.push(format!("{mismatch} (feature {name}: {})", feature.about));
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> &'static Path {
        crate::context::repo().leak()
    }

    #[test]
    fn the_catalog_parses_and_every_fragment_exists_for_every_arch() {
        let catalog = Catalog::parse(include_str!("../../../features.toml")).unwrap();
        for arch in arch::names() {
            for profile in catalog.profiles.values() {
                kernel_fragments(repo(), arch, profile, &[]).unwrap();
                busybox_fragments(repo(), arch, profile).unwrap();
            }
        }
    }

    #[test]
    fn profiles_apply_features_then_their_own_fragments() {
        let catalog = Catalog::builtin();
        let files =
            kernel_fragments(repo(), "x86_64", catalog.profile("tiny").unwrap(), &[]).unwrap();
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
    fn versioned_fragments_apply_below_their_version() {
        let files =
            fragment_files(&repo().join("kernel-config"), "x86_64", "debug.config").unwrap();
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|p| {
                    p.strip_prefix(repo().join("kernel-config")).unwrap().display().to_string()
                })
                .collect()
        };
        assert_eq!(
            names(for_version(&files, (5, 15))),
            ["debug.config", "before-5.18/debug.config"]
        );
        assert_eq!(names(for_version(&files, (6, 1))), ["debug.config"]);
        assert_eq!(names(for_version(&files, (5, 18))), ["debug.config"]);
    }

    #[test]
    fn workbench_features_make_one_flavour() {
        let catalog = Catalog::builtin();
        let tiny = catalog.profile("tiny").unwrap();
        let flavour_of =
            |wanted: &[&str]| flavour(catalog, "tiny", &extra_features(catalog, tiny, wanted));
        assert_eq!(flavour_of(&[]), "tiny");
        for one in [&["modules"][..], &["share"], &["net"], &["root"], &["net", "share"]] {
            assert_eq!(flavour_of(one), "tiny+workbench", "{one:?}");
        }
        assert_eq!(
            extra_features(catalog, tiny, &["share"]),
            ["modules", "net", "root", "share"],
            "every workbench feature comes with any one"
        );
        assert_eq!(flavour_of(&["debug"]), "tiny+debug");
        assert_eq!(flavour_of(&["debug", "net"]), "tiny+debug+workbench");
        // KUnit's kernels take test modules, without the rest of the workbench: one flavour
        // with or without --module
        assert_eq!(flavour_of(&["kunit"]), "tiny+kunit+modules");
        assert_eq!(flavour_of(&["kunit", "modules"]), "tiny+kunit+modules");
        assert_eq!(flavour_of(&["modules", "kunit"]), "tiny+kunit+modules");
        assert_eq!(flavour_of(&["kunit", "net"]), "tiny+kunit+workbench");
        // the default profile has the workbench already: no flavour of its own for it
        let default = catalog.profile("default").unwrap();
        assert!(extra_features(catalog, default, &["net", "modules"]).is_empty());
        assert_eq!(extra_features(catalog, default, &["kunit"]), ["kunit"]);
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
            &kconfig::parse_config("CONFIG_BLK_DEV_RAM_COUNT=1\nCONFIG_BLK_DEV_RAM_SIZE=65536\n"),
        )
        .unwrap();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("CONFIG_BLK_DEV_RAM asked for y"), "{}", missing[0]);
        assert!(missing[0].contains("feature ramdisk"), "{}", missing[0]);
    }

    #[test]
    fn a_feature_that_comes_with_an_unknown_feature_is_refused() {
        let err = Catalog::parse(
            "[profile.p]\nabout = \"\"\nbase = \"tinyconfig\"\n[feature.f]\nabout = \"\"\nwith = [\"nope\"]\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "features.toml: feature f comes with an unknown feature nope");
    }

    #[test]
    fn a_misspelt_field_in_features_toml_is_refused() {
        let err = Catalog::parse(
            "[profile.p]\nabout = \"\"\nbase = \"tinyconfig\"\n[feature.f]\nabout = \"\"\nworkbnch = true\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "parsing features.toml");
        assert!(format!("{err:#}").contains("unknown field `workbnch`"), "{err:#}");
    }

    #[test]
    fn an_unknown_profile_names_the_profiles_there_are() {
        let err = Catalog::builtin().profile("huge").unwrap_err();
        assert_eq!(err.to_string(), "unknown profile `huge`: expected one of default, tiny");
    }

    #[test]
    fn a_new_workbench_row_joins_the_workbench_flavour() {
        // a catalog of its own: the workbench is whatever rows say `workbench = true`
        let catalog = Catalog::parse(
            "[profile.p]\nabout = \"\"\nbase = \"tinyconfig\"\nfeatures = [\"net\"]\n\
             [feature.net]\nabout = \"\"\nworkbench = true\n\
             [feature.rng]\nabout = \"\"\nworkbench = true\n\
             [feature.trace]\nabout = \"\"\n",
        )
        .unwrap();
        let p = catalog.profile("p").unwrap();
        assert_eq!(catalog.workbench(), ["net", "rng"]);
        let extra = extra_features(&catalog, p, &["rng"]);
        assert_eq!(extra, ["rng"], "the profile has the rest of the workbench already");
        assert_eq!(flavour(&catalog, "p", &extra), "p+workbench");
        let extra = extra_features(&catalog, p, &["trace", "rng"]);
        assert_eq!(flavour(&catalog, "p", &extra), "p+trace+workbench");
        assert_eq!(flavour(&catalog, "p", &extra_features(&catalog, p, &["trace"])), "p+trace");
    }

    #[test]
    fn features_add_their_make_targets_to_the_kernel_build() {
        let catalog = Catalog::builtin();
        let (tiny, default) =
            (catalog.profile("tiny").unwrap(), catalog.profile("default").unwrap());
        assert!(kernel_make_targets(tiny, &[]).unwrap().is_empty());
        assert_eq!(kernel_make_targets(tiny, &["debug".into()]).unwrap(), ["scripts_gdb"]);
        // Module.symvers for your modules, on the default profile and the workbench flavour
        assert_eq!(kernel_make_targets(default, &[]).unwrap(), ["modules"]);
        let workbench = extra_features(catalog, tiny, &["net"]);
        assert_eq!(kernel_make_targets(tiny, &workbench).unwrap(), ["modules"]);
    }

    #[test]
    fn a_flavours_features_apply_before_the_profiles_own_fragments() {
        let catalog = Catalog::builtin();
        let tiny = catalog.profile("tiny").unwrap();
        let files = kernel_fragments(repo(), "x86_64", tiny, &["debug".into()]).unwrap();
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
                "debug.config",
                "before-5.18/debug.config",
                "tiny.config",
                "x86_64/tiny.config"
            ]
        );
    }

    #[test]
    fn busybox_is_built_static_on_every_profile() {
        let catalog = Catalog::builtin();
        for profile in ["tiny", "default"] {
            let files =
                busybox_fragments(repo(), "x86_64", catalog.profile(profile).unwrap()).unwrap();
            assert_eq!(files, [repo().join("busybox-config/static.config")], "{profile}");
        }
    }

    #[test]
    fn a_fragment_in_no_folder_is_named_with_where_it_was_looked_for() {
        let dir = repo().join("kernel-config");
        let err = fragment_files(&dir, "x86_64", "nope.config").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no config fragment nope.config in {} (nor in its x86_64/ folder)",
                dir.display()
            )
        );
    }

    #[test]
    fn a_kernel_with_every_symbol_of_a_feature_lacks_nothing() {
        let config =
            "CONFIG_BLK_DEV_RAM=y\nCONFIG_BLK_DEV_RAM_COUNT=1\nCONFIG_BLK_DEV_RAM_SIZE=65536\n";
        let config = kconfig::parse_config(config);
        assert!(missing_in_kernel(repo(), "x86_64", &["ramdisk"], &config).unwrap().is_empty());
        let smaller = kconfig::parse_config(
            "CONFIG_BLK_DEV_RAM=y\nCONFIG_BLK_DEV_RAM_COUNT=1\nCONFIG_BLK_DEV_RAM_SIZE=4096\n",
        );
        let missing = missing_in_kernel(repo(), "x86_64", &["ramdisk"], &smaller).unwrap();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("CONFIG_BLK_DEV_RAM_SIZE asked for 65536"), "{}", missing[0]);
    }
}
