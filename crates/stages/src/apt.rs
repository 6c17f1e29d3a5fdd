//! Installing Debian packages with apt as a new machine needs it: package lists that were never
//! read are read first, and a package installed from a newer release that refuses the install
//! (a backports `qemu-utils` 10 whose `Breaks` keeps out QEMU 7.2) is put back to the version of
//! the release the install comes from, said so, instead of apt's bare "held broken packages".
//! Every plan is apt's own simulation (`apt-get -s`) before anything is installed; the reading of
//! apt's words is a pure core tested on its output.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

/// An installed package that refuses the install: `installed` breaks `broken` at the version the
/// install would bring (`version`), as apt says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub installed: String,
    pub broken: String,
    pub version: String,
}

/// apt's "unmet dependencies" lines that name an installed package breaking one to be installed:
/// ` qemu-utils : Breaks: qemu-system-common (< 1:8.0+dfsg-5~) but 1:7.2+dfsg-7 is to be
/// installed`.
pub fn breaks(apt_output: &str) -> Vec<Break> {
    let mut found = Vec::new();
    for line in apt_output.lines() {
        let Some((installed, rest)) = line.split_once(" : ") else { continue };
        let Some(rest) = rest.trim_start().strip_prefix("Breaks: ") else { continue };
        let Some((broken, rest)) = rest.split_once(' ') else { continue };
        let Some(version) =
            rest.split_once(" but ").and_then(|(_, v)| v.strip_suffix(" is to be installed"))
        else {
            continue;
        };
        let b = Break {
            installed: installed.trim().to_string(),
            broken: broken.to_string(),
            version: version.trim().to_string(),
        };
        if !found.contains(&b) {
            found.push(b);
        }
    }
    found
}

/// The packages apt does not know (`E: Unable to locate package X`): lists never read, or a name
/// this system's releases lack.
pub fn unknown_packages(apt_output: &str) -> Vec<String> {
    apt_output
        .lines()
        .filter_map(|l| l.strip_prefix("E: Unable to locate package "))
        .map(|p| p.trim().to_string())
        .collect()
}

/// What apt said against an install: its "unmet dependencies" block and its `E:` lines.
pub fn refusal(apt_output: &str) -> String {
    let mut lines = Vec::new();
    let mut in_unmet = false;
    for line in apt_output.lines() {
        if line.starts_with("The following packages have unmet dependencies") {
            in_unmet = true;
        } else if in_unmet && !line.starts_with(' ') {
            in_unmet = false;
        }
        if in_unmet || line.starts_with("E: ") {
            lines.push(line);
        }
    }
    if lines.is_empty() {
        // none of apt's usual words: its last lines
        let all: Vec<&str> = apt_output.lines().collect();
        lines = all[all.len().saturating_sub(10)..].to_vec();
    }
    lines.join("\n")
}

/// The version a package goes from and to in a simulation (`Inst qemu-utils [10.0] (7.2 ...)`),
/// when it replaces an installed one.
pub fn replaced_version(simulation: &str, package: &str) -> Option<(String, String)> {
    let prefix = format!("Inst {package} [");
    let line = simulation.lines().find(|l| l.starts_with(&prefix))?;
    let (from, rest) = line[prefix.len()..].split_once("] (")?;
    let to = rest.split_whitespace().next()?;
    Some((from.to_string(), to.to_string()))
}

/// apt knows no package of these names: its lists were never read (or are old), or the name
/// differs on this release. Its own error, so that an install can read the lists and try again.
#[derive(Debug)]
pub struct UnknownPackages {
    asked: String,
    refusal: String,
    pub unknown: Vec<String>,
}

impl std::fmt::Display for UnknownPackages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "apt refuses `{}`:\n{}\napt knows no package {}: `apt-get update` reads the package \
             lists (the tool runs it when they are empty), or the name differs on this release",
            self.asked,
            self.refusal,
            self.unknown.join(", ")
        )
    }
}

impl std::error::Error for UnknownPackages {}

/// One apt, with the options a test gives it (`Dir::State::status` for a made-up dpkg status).
#[derive(Debug, Clone, Default)]
pub struct Apt {
    options: Vec<String>,
}

/// An install apt's simulation accepts: the packages asked for, and the ones put back to the
/// version of the install's release (`name=version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub packages: Vec<String>,
    pub pins: Vec<String>,
    /// what to tell the user about each pin
    pub said: Vec<String>,
}

impl Plan {
    /// The command that installs the plan.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> =
            ["apt-get", "install", "-y", "-q", "--no-install-recommends"].map(String::from).into();
        if !self.pins.is_empty() {
            argv.push("--allow-downgrades".into());
        }
        argv.extend(self.packages.iter().cloned());
        argv.extend(self.pins.iter().cloned());
        argv
    }
}

struct Output {
    ok: bool,
    text: String,
}

impl Apt {
    /// apt as the system has it.
    pub fn system() -> Apt {
        Apt::default()
    }

    /// apt reading this file as dpkg's status (what is installed), for a simulation.
    pub fn with_status(status: &Path) -> Apt {
        Apt { options: vec!["-o".into(), format!("Dir::State::status={}", status.display())] }
    }

    fn apt_get(&self, sh: &Shell, args: &[String]) -> Result<Output> {
        let options = &self.options;
        let out = cmd!(sh, "apt-get {options...} {args...}")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C")
            .quiet()
            .ignore_status()
            .output()?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(Output { ok: out.status.success(), text })
    }

    /// apt's simulation of installing `packages`: whether it would, and what it said.
    pub fn simulate(&self, sh: &Shell, packages: &[String]) -> Result<(bool, String)> {
        let mut args: Vec<String> =
            ["-s", "install", "--no-install-recommends", "--allow-downgrades"]
                .map(String::from)
                .into();
        args.extend(packages.iter().cloned());
        let out = self.apt_get(sh, &args)?;
        Ok((out.ok, out.text))
    }

    /// Whether `package=version` is a version apt can install.
    fn has_version(&self, sh: &Shell, package: &str, version: &str) -> bool {
        let options = &self.options;
        let spec = format!("{package}={version}");
        cmd!(sh, "apt-cache {options...} show --no-all-versions {spec}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
    }

    /// The install of `packages` that apt's simulation accepts, with what blocked it put back
    /// to the version the install's release has; an error with apt's reason and the command
    /// that shows it when nothing here resolves it.
    pub fn plan(&self, sh: &Shell, packages: &[&str]) -> Result<Plan> {
        let packages: Vec<String> = packages.iter().map(|p| p.to_string()).collect();
        let (ok, text) = self.simulate(sh, &packages)?;
        if ok {
            return Ok(Plan { packages, pins: Vec::new(), said: Vec::new() });
        }
        let blocks = breaks(&text);
        let pins: Vec<String> = blocks
            .iter()
            .filter(|b| self.has_version(sh, &b.installed, &b.version))
            .map(|b| format!("{}={}", b.installed, b.version))
            .collect();
        let asked = format!("apt-get install --no-install-recommends {}", packages.join(" "));
        if pins.is_empty() || pins.len() != blocks.len() {
            let unknown = unknown_packages(&text);
            if !unknown.is_empty() {
                return Err(UnknownPackages { asked, refusal: refusal(&text), unknown }.into());
            }
            let hint = if !blocks.is_empty() {
                let b = &blocks[0];
                format!(
                    "the installed {} (from another release) breaks {} {}, and no {} of that \
                     version is known to apt: remove it (`apt-get remove {}`) or install {} from \
                     the same release as {}",
                    b.installed,
                    b.broken,
                    b.version,
                    b.installed,
                    b.installed,
                    b.broken,
                    b.installed
                )
            } else {
                format!("see what apt plans with `apt-get -s install {}`", packages.join(" "))
            };
            bail!("apt refuses `{asked}`:\n{}\n{hint}", refusal(&text));
        }
        let mut with_pins = packages.clone();
        with_pins.extend(pins.iter().cloned());
        let (ok, pinned_text) = self.simulate(sh, &with_pins)?;
        if !ok {
            bail!(
                "apt refuses `{asked}`:\n{}\nand still refuses with {} put back to the install's \
                 release:\n{}",
                refusal(&text),
                pins.join(" "),
                refusal(&pinned_text)
            );
        }
        let said = blocks
            .iter()
            .map(|b| {
                let from = replaced_version(&pinned_text, &b.installed)
                    .map(|(from, _)| format!(" {from}"))
                    .unwrap_or_default();
                format!(
                    "the installed {}{from} (another release) breaks {} {}, which this install \
                     needs: installing {} {} from that package's release in its place",
                    b.installed, b.broken, b.version, b.installed, b.version
                )
            })
            .collect();
        Ok(Plan { packages, pins, said })
    }
}

/// Whether apt has read any package list on this machine (a fresh image may have none).
pub fn has_package_lists(lists: &Path) -> bool {
    // `..._binary-amd64_Packages`, or `.lz4` when apt keeps them compressed
    std::fs::read_dir(lists).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

/// apt's lists folder.
pub fn lists_dir() -> PathBuf {
    PathBuf::from("/var/lib/apt/lists")
}

/// Installs `packages` with apt, as the machine needs (package lists read first when there are
/// none; a newer package of the same family that blocks the install put back, said so), running
/// each command through `sudo` unless `root`.
pub fn install(sh: &Shell, packages: &[&str], root: bool) -> Result<()> {
    let sudo: &[&str] = if root { &[] } else { &["sudo"] };
    let as_root = |argv: &[String]| -> Result<()> {
        let argv: Vec<&str> = sudo.iter().copied().chain(argv.iter().map(String::as_str)).collect();
        let (program, args) = argv.split_first().expect("a command");
        cmd!(sh, "{program} {args...}").env("DEBIAN_FRONTEND", "noninteractive").run()?;
        Ok(())
    };
    let update: Vec<String> = ["apt-get", "update", "-q"].map(String::from).into();
    let apt = Apt::system();
    if !has_package_lists(&lists_dir()) {
        eprintln!("apt has read no package lists on this machine: running apt-get update first");
        as_root(&update)?;
    }
    let plan = match apt.plan(sh, packages) {
        Ok(plan) => plan,
        Err(err) => match err.downcast_ref::<UnknownPackages>() {
            // lists older than the package: read once more
            Some(unknown) => {
                eprintln!(
                    "apt does not know {}: running apt-get update",
                    unknown.unknown.join(", ")
                );
                as_root(&update)?;
                apt.plan(sh, packages)?
            }
            None => return Err(err),
        },
    };
    for line in &plan.said {
        eprintln!("{line}");
    }
    let argv = plan.argv();
    eprintln!("installing: {}{}", if root { "" } else { "sudo " }, argv.join(" "));
    as_root(&argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What apt 2.6 printed on a fresh machine of this kind for `apt-get install qemu-system-x86
    /// lava-dispatcher ...` with the backports qemu-utils installed.
    const REFUSED: &str = "\
Reading package lists...
Building dependency tree...
Reading state information...
Some packages could not be installed. This may mean that you have
requested an impossible situation or if you are using the unstable
distribution that some required packages have not yet been created
or been moved out of Incoming.
The following information may help to resolve the situation:

The following packages have unmet dependencies:
 qemu-utils : Breaks: qemu-system-common (< 1:8.0+dfsg-5~) but 1:7.2+dfsg-7+deb12u18+b3 is to be installed
E: Unable to correct problems, you have held broken packages.
";

    #[test]
    fn a_newer_package_that_breaks_the_install_is_named_with_the_version_to_be_installed() {
        assert_eq!(
            breaks(REFUSED),
            [Break {
                installed: "qemu-utils".into(),
                broken: "qemu-system-common".into(),
                version: "1:7.2+dfsg-7+deb12u18+b3".into()
            }]
        );
        assert!(unknown_packages(REFUSED).is_empty());
    }

    #[test]
    fn the_refusal_is_apts_unmet_block_and_its_errors() {
        expect_test::expect![[r#"
            The following packages have unmet dependencies:
             qemu-utils : Breaks: qemu-system-common (< 1:8.0+dfsg-5~) but 1:7.2+dfsg-7+deb12u18+b3 is to be installed
            E: Unable to correct problems, you have held broken packages."#]]
        .assert_eq(&refusal(REFUSED));
    }

    #[test]
    fn unknown_packages_are_read_from_apts_errors() {
        let text = "Reading package lists...\nE: Unable to locate package qemu-system-x86\nE: Unable to locate package lz4\n";
        assert_eq!(unknown_packages(text), ["qemu-system-x86", "lz4"]);
        assert!(breaks(text).is_empty());
    }

    #[test]
    fn a_downgrade_in_a_simulation_gives_both_versions() {
        let sim = "Inst qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1] (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable [amd64])\n";
        assert_eq!(
            replaced_version(sim, "qemu-utils"),
            Some(("1:10.0.2+ds-2+deb13u1~bpo12+1".into(), "1:7.2+dfsg-7+deb12u18+b3".into()))
        );
        assert_eq!(replaced_version(sim, "qemu"), None);
    }

    #[test]
    fn a_plan_with_pins_allows_the_downgrade() {
        let plan = Plan {
            packages: vec!["qemu-system-x86".into()],
            pins: vec!["qemu-utils=1:7.2".into()],
            said: vec![],
        };
        assert_eq!(
            plan.argv().join(" "),
            "apt-get install -y -q --no-install-recommends --allow-downgrades qemu-system-x86 qemu-utils=1:7.2"
        );
    }
}
