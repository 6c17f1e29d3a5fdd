//! apt's own simulation (`apt-get -s`) of the install a fresh machine of this kind refuses: the
//! machine image's backports `qemu-utils` 10 breaks QEMU 7.2's `qemu-system-common`. The dpkg
//! status apt reads is a copy of this machine's with that `qemu-utils` put in (its stanza as a
//! fresh machine had it), so the CI machine's own packages are never touched.

use std::{collections::BTreeSet, path::Path};

use stages::apt::{self, Apt};
use xshell::{cmd, Shell};

/// Why apt cannot be asked here, if it cannot: no apt, no package lists, no QEMU 7.2 known.
fn cannot_simulate(sh: &Shell) -> Option<String> {
    if !stages::hostdeps::on_path("apt-get") {
        return Some("no apt-get on this host".into());
    }
    if !apt::has_package_lists(&apt::lists_dir()) {
        return Some("apt has no package lists (apt-get update has not run)".into());
    }
    let policy =
        cmd!(sh, "apt-cache policy qemu-system-x86 lava-dispatcher").quiet().read().ok()?;
    if policy.matches("Candidate: (none)").count() > 0 || !policy.contains("Candidate: 1:7.2") {
        return Some("apt's lists have no QEMU 7.2 and lava-dispatcher to install".into());
    }
    None
}

fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// The names a Depends or Pre-Depends field needs (every alternative).
fn needed(stanza: &str) -> Vec<&str> {
    ["Depends", "Pre-Depends"]
        .iter()
        .filter_map(|f| field(stanza, f))
        .flat_map(|v| v.split([',', '|']))
        .filter_map(|d| d.split_whitespace().next())
        .map(|d| d.split(':').next().unwrap_or(d))
        .collect()
}

/// This machine's dpkg status without any QEMU (and what needs one), with the backports
/// `qemu-utils` in their place: a fresh machine of this kind, whatever this one installed.
fn fresh_machine_status(dir: &Path) -> std::path::PathBuf {
    let real = std::fs::read_to_string("/var/lib/dpkg/status").expect("dpkg status");
    let mut stanzas: Vec<&str> = real.split("\n\n").filter(|s| !s.trim().is_empty()).collect();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = gone.len();
        stanzas.retain(|s| {
            let name = field(s, "Package").unwrap_or("");
            let drop = name.starts_with("qemu-") || needed(s).iter().any(|d| gone.contains(*d));
            if drop {
                gone.insert(name.to_string());
            }
            !drop
        });
        if gone.len() == before {
            break;
        }
    }
    let backports = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apt/qemu-utils-backports.status"),
    )
    .unwrap();
    let mut text = stanzas.join("\n\n");
    text.push_str("\n\n");
    text.push_str(backports.trim_end());
    text.push('\n');
    let path = dir.join("status");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_backports_qemu_utils_is_put_back_to_qemus_release_and_apt_then_installs() {
    let sh = Shell::new().unwrap();
    if let Some(why) = cannot_simulate(&sh) {
        eprintln!("skipped: apt's simulation of the QEMU install: {why}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kardel-apt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let apt = Apt::with_status(&fresh_machine_status(&dir));
    let asked = ["qemu-system-x86", "lava-dispatcher"];

    // what a plain apt-get install says on a fresh machine
    let (ok, said) = apt.simulate(&sh, &asked.map(String::from)).unwrap();
    assert!(!ok, "apt accepted the install with the backports qemu-utils:\n{said}");
    assert!(said.contains("held broken packages"), "{said}");
    let blocks = apt::breaks(&said);
    assert_eq!(blocks.len(), 1, "{said}");
    assert_eq!(
        (blocks[0].installed.as_str(), blocks[0].broken.as_str()),
        ("qemu-utils", "qemu-system-common")
    );

    // the tool's plan: qemu-utils of QEMU's own release, which apt's simulation installs
    let plan = apt.plan(&sh, &asked).unwrap();
    let qemu = cmd!(sh, "apt-cache policy qemu-system-x86").read().unwrap();
    let candidate = qemu.lines().find_map(|l| l.trim().strip_prefix("Candidate: ")).unwrap();
    assert_eq!(plan.pins, [format!("qemu-utils={candidate}")]);
    assert!(plan.argv().contains(&"--allow-downgrades".to_string()));
    assert!(plan.said[0].contains("10.0.2"), "{:?}", plan.said);
    let mut pinned: Vec<String> = asked.map(String::from).into();
    pinned.extend(plan.pins.iter().cloned());
    let (ok, said) = apt.simulate(&sh, &pinned).unwrap();
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("Inst qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1] ({candidate}")),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_package_is_refused_naming_it() {
    let sh = Shell::new().unwrap();
    if let Some(why) = cannot_simulate(&sh) {
        eprintln!("skipped: apt's simulation of an unknown package: {why}");
        return;
    }
    let err = Apt::system().plan(&sh, &["kardel-no-such-package"]).unwrap_err().to_string();
    assert!(err.contains("apt knows no package kardel-no-such-package"), "{err}");
}
