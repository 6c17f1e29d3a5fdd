//! The pin table: which upstream files this project accepts, by sha256. The data lives in
//! `pins.toml` so that a new version is a data change reviewed on its own.

use std::{fmt, str::FromStr, sync::OnceLock};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;

/// A package this project builds from source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Package {
    Kernel,
    Busybox,
    #[serde(rename = "u-boot")]
    Uboot,
}

impl Package {
    pub const ALL: [Package; 3] = [Package::Kernel, Package::Busybox, Package::Uboot];

    pub fn name(self) -> &'static str {
        match self {
            Package::Kernel => "kernel",
            Package::Busybox => "busybox",
            Package::Uboot => "u-boot",
        }
    }
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Package {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Package> {
        match Package::ALL.into_iter().find(|package| package.name() == text) {
            Some(package) => Ok(package),
            None => {
                let names: Vec<&str> = Package::ALL.iter().map(|p| p.name()).collect();
                bail!("unknown package `{text}`, expected one of: {}", names.join(", "))
            }
        }
    }
}

/// One version of a package and the upstream files that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub package: Package,
    pub version: String,
    /// The version used when none is asked for; exactly one per package.
    #[serde(default)]
    pub default: bool,
    /// The same tree in one or more archive formats, in order of preference.
    #[serde(rename = "file")]
    pub files: Vec<PinnedFile>,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.package, self.version)
    }
}

/// One upstream archive, accepted only with this exact sha256.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    /// The upstream file name; also its name in the download cache and on mirrors.
    pub name: String,
    /// Lowercase hex.
    pub sha256: String,
    /// Full upstream URLs, tried in order after any mirrors.
    pub urls: Vec<String>,
    /// Where an independent party publishes the same checksum.
    #[serde(default)]
    pub published: Option<String>,
}

/// Every pinned version of every package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinTable {
    #[serde(rename = "pin")]
    pins: Vec<Pin>,
}

const BUILTIN_PINS: &str = include_str!("../pins.toml");

impl PinTable {
    /// The table compiled into this binary from `crates/fetch/pins.toml`.
    pub fn builtin() -> &'static PinTable {
        static TABLE: OnceLock<PinTable> = OnceLock::new();
        // A broken embedded table is a bug in this repository, caught by `cargo test -p fetch`.
        TABLE.get_or_init(|| {
            PinTable::parse(BUILTIN_PINS)
                .unwrap_or_else(|err| panic!("crates/fetch/pins.toml: {err:#}"))
        })
    }

    /// Parses and checks a table in the `pins.toml` format.
    pub fn parse(text: &str) -> Result<PinTable> {
        let table: PinTable = toml::from_str(text).context("parsing the pin table")?;
        table.check()?;
        Ok(table)
    }

    pub fn all(&self) -> &[Pin] {
        &self.pins
    }

    /// The pin for `version` of `package`, or its default version when `version` is `None`.
    pub fn lookup(&self, package: Package, version: Option<&str>) -> Result<&Pin> {
        let mut of_package = self.pins.iter().filter(|pin| pin.package == package);
        let found = match version {
            None => of_package.find(|pin| pin.default),
            Some(version) => of_package.find(|pin| pin.version == version),
        };
        match found {
            Some(pin) => Ok(pin),
            None => {
                let known = self.known_versions(package);
                match version {
                    Some(version) => bail!(
                        "no pinned {package} version {version}; known versions: {known} \
                         (or build from a local tarball or tree)"
                    ),
                    None => bail!("no default {package} version in the pin table; known: {known}"),
                }
            }
        }
    }

    fn known_versions(&self, package: Package) -> String {
        let versions: Vec<String> = self
            .pins
            .iter()
            .filter(|pin| pin.package == package)
            .map(|pin| {
                if pin.default {
                    format!("{} (default)", pin.version)
                } else {
                    pin.version.clone()
                }
            })
            .collect();
        if versions.is_empty() {
            "none".to_string()
        } else {
            versions.join(", ")
        }
    }

    /// The invariants the rest of the crate relies on: a digest that can be compared as text, a
    /// file name that stays inside the cache folder, no pin without a way to get it, and one
    /// default per package so that `lookup(package, None)` means something.
    fn check(&self) -> Result<()> {
        for pin in &self.pins {
            ensure!(!pin.files.is_empty(), "pin {pin} lists no files");
            for file in &pin.files {
                check_file_name(&file.name).with_context(|| format!("pin {pin}"))?;
                ensure!(
                    is_sha256_hex(&file.sha256),
                    "pin {pin}: sha256 of {} is not 64 lowercase hex digits: `{}`",
                    file.name,
                    file.sha256
                );
                ensure!(!file.urls.is_empty(), "pin {pin}: {} has no upstream URL", file.name);
                for url in &file.urls {
                    ensure!(url.starts_with("https://"), "pin {pin}: URL is not https: {url}");
                }
            }
            let twins = self
                .pins
                .iter()
                .filter(|other| other.package == pin.package && other.version == pin.version)
                .count();
            ensure!(twins == 1, "pin {pin} is listed {twins} times");
        }
        for package in Package::ALL {
            let defaults = self.pins.iter().filter(|pin| pin.package == package && pin.default);
            let count = defaults.count();
            let has_pins = self.pins.iter().any(|pin| pin.package == package);
            ensure!(
                !has_pins || count == 1,
                "{package} has {count} default versions in the pin table, expected exactly one"
            );
        }
        Ok(())
    }
}

pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A pinned name becomes a path in the cache and on mirrors, so it must be one plain component.
pub(crate) fn check_file_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.starts_with('.');
    ensure!(plain, "file name `{name}` must be a plain file name");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_VERSIONS: &str = r#"
        [[pin]]
        package = "busybox"
        version = "1.0"
        [[pin.file]]
        name = "busybox-1.0.tar.bz2"
        sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
        urls = ["https://example.invalid/busybox-1.0.tar.bz2"]

        [[pin]]
        package = "busybox"
        version = "2.0"
        default = true
        [[pin.file]]
        name = "busybox-2.0.tar.bz2"
        sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
        urls = ["https://example.invalid/busybox-2.0.tar.bz2"]
    "#;

    #[track_caller]
    fn check_lookup(package: Package, version: Option<&str>, expected: &str) {
        let table = PinTable::parse(TWO_VERSIONS).unwrap();
        let actual = match table.lookup(package, version) {
            Ok(pin) => pin.to_string(),
            Err(err) => format!("error: {err:#}"),
        };
        assert_eq!(actual, expected);
    }

    #[track_caller]
    fn check_rejected(text: &str, expected_fragment: &str) {
        let err = PinTable::parse(text).expect_err("table should be rejected");
        let message = format!("{err:#}");
        assert!(message.contains(expected_fragment), "{message}");
    }

    #[test]
    fn lookup_default_explicit_and_unknown() {
        check_lookup(Package::Busybox, None, "busybox 2.0");
        check_lookup(Package::Busybox, Some("1.0"), "busybox 1.0");
        check_lookup(
            Package::Busybox,
            Some("9.9"),
            "error: no pinned busybox version 9.9; known versions: 1.0, 2.0 (default) \
             (or build from a local tarball or tree)",
        );
        check_lookup(
            Package::Kernel,
            None,
            "error: no default kernel version in the pin table; known: none",
        );
    }

    #[test]
    fn builtin_lookup() {
        let table = PinTable::builtin();
        assert_eq!(table.lookup(Package::Kernel, None).unwrap().version, "5.15.193");
        assert_eq!(table.lookup(Package::Busybox, None).unwrap().version, "1.36.1");
        let kernel = table.lookup(Package::Kernel, Some("5.15.193")).unwrap();
        let names: Vec<&str> = kernel.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["linux-5.15.193.tar.xz", "linux-5.15.193.tar.gz"]);
        let err = table.lookup(Package::Busybox, Some("1.2.3")).unwrap_err();
        assert!(err.to_string().contains("known versions: 1.36.1 (default), 1.35.0"), "{err}");
    }

    #[test]
    fn package_names_round_trip() {
        for package in Package::ALL {
            assert_eq!(package.name().parse::<Package>().unwrap(), package);
        }
        assert!("linux".parse::<Package>().is_err());
    }

    #[test]
    fn bad_tables_are_rejected() {
        let second_default =
            TWO_VERSIONS.replacen("version = \"1.0\"", "version = \"1.0\"\ndefault = true", 1);
        check_rejected(&second_default, "busybox has 2 default versions");
        let no_default = TWO_VERSIONS.replace("default = true", "");
        check_rejected(&no_default, "busybox has 0 default versions");
        check_rejected(
            &TWO_VERSIONS.replacen("000000", "ABCDEF", 1),
            "not 64 lowercase hex digits",
        );
        check_rejected(&TWO_VERSIONS.replacen("https://", "http://", 1), "URL is not https");
        check_rejected(
            &TWO_VERSIONS.replacen("busybox-1.0.tar", "../busybox-1.0.tar", 1),
            "plain file name",
        );
        check_rejected(&TWO_VERSIONS.replace("2.0", "1.0"), "pin busybox 1.0 is listed 2 times");
        check_rejected(
            &TWO_VERSIONS.replacen("package = \"busybox\"", "package = \"glibc\"", 1),
            "glibc",
        );
        check_rejected(&TWO_VERSIONS.replacen("urls", "mirrors", 1), "mirrors");
    }
}
