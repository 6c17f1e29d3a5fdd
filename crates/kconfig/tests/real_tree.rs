//! The Kconfig reader on real trees, when this machine has them unpacked: reading a tree out of
//! its tarball takes longer than the test suite should. Each test says "skipped: ..." otherwise.
//!
//! - `KARDEL_KCONFIG_TREE`: an unpacked kernel tree (Debian's 6.1: `tar xf
//!   /usr/src/linux-source-6.1.tar.xz`), read for ARCH=x86 and checked against
//!   `tests/data/linux-6.1-x86-tinyconfig.config`, the `.config` `make tinyconfig` writes there.
//! - `KARDEL_BUSYBOX_TREE`: BusyBox's build folder and source, `:`-separated. BusyBox generates
//!   most of its `Config.in` files into the build folder (`make O=build defconfig` does).

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use kconfig::{parse_config, parse_fragment, verify, KconfigTree};

fn roots(var: &str) -> Option<Vec<PathBuf>> {
    let value = std::env::var_os(var)?;
    Some(std::env::split_paths(&value).collect())
}

/// Each mismatch of `fragment` against `final_config`, explained, one per line.
fn explained(tree: &KconfigTree, fragment: &str, final_config: &str) -> String {
    let final_config = parse_config(final_config);
    let wanted = parse_fragment("my.config", fragment).unwrap();
    verify(&wanted, &final_config)
        .iter()
        .map(|m| format!("{}\n", m.with_reason(tree.explain(m, &final_config).as_deref())))
        .collect()
}

#[test]
fn kernel_tree() {
    let Some(roots) = roots("KARDEL_KCONFIG_TREE") else {
        eprintln!("skipped: set KARDEL_KCONFIG_TREE to an unpacked kernel tree");
        return;
    };
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let started = Instant::now();
    let tree = KconfigTree::load(&roots, "Kconfig", &kconfig::kernel_vars("x86"))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "read {} Kconfig files, {} symbols, in {:?}",
        tree.files_read(),
        tree.symbol_count(),
        started.elapsed()
    );
    // ~0.1-0.2 s in a debug build: a regression to quadratic reading would show
    assert!(started.elapsed().as_secs() < 2, "reading took {:?}", started.elapsed());
    assert_eq!(tree.warnings(), &[] as &[String], "lines the reader did not understand");
    assert!(tree.files_read() > 1000 && tree.symbol_count() > 10_000);

    // the requests checked against tinyconfig's own output: each of them would not stick there
    let tiny = include_str!("data/linux-6.1-x86-tinyconfig.config");
    let report = explained(
        &tree,
        "CONFIG_USB_STORAGE=y\nCONFIG_EXT4_FSS=y\nCONFIG_NR_CPUS=4\n# CONFIG_IRQ_WORK is not set\n",
        tiny,
    );
    eprintln!("{report}");
    let line = |symbol: &str| {
        let line = report.lines().find(|l| l.contains(&format!("{symbol} asked")));
        line.unwrap_or_else(|| panic!("no mismatch for {symbol} in:\n{report}")).to_string()
    };
    let usb = line("CONFIG_USB_STORAGE");
    let words: Vec<&str> = usb.split(|c: char| !c.is_alphanumeric() && c != '_').collect();
    assert!(
        usb.contains("it depends on") && words.contains(&"USB") && words.contains(&"SCSI"),
        "{usb}"
    );
    let misspelt = line("CONFIG_EXT4_FSS");
    assert!(
        misspelt.ends_with("it is not a symbol of this tree (did you mean EXT4_FS?)"),
        "{misspelt}"
    );
    // a prompt `if SMP`, and tinyconfig has SMP off
    let cpus = line("CONFIG_NR_CPUS");
    assert!(cpus.contains("its prompt shows only with SMP, which is off"), "{cpus}");
    let irq_work = line("CONFIG_IRQ_WORK");
    assert!(irq_work.contains("it is selected by"), "{irq_work}");
}

#[test]
fn busybox_tree() {
    let Some(roots) = roots("KARDEL_BUSYBOX_TREE") else {
        eprintln!(
            "skipped: set KARDEL_BUSYBOX_TREE to BusyBox's build folder and source, `:`-separated"
        );
        return;
    };
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let started = Instant::now();
    let tree = KconfigTree::load(&roots, "Config.in", &[]).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "read {} Config.in files, {} symbols, in {:?}",
        tree.files_read(),
        tree.symbol_count(),
        started.elapsed()
    );
    assert_eq!(tree.warnings(), &[] as &[String], "lines the reader did not understand");
    assert!(tree.defines("STATIC") && tree.defines("FEATURE_TAR_CREATE"));

    let report = explained(
        &tree,
        "CONFIG_FEATURE_TAR_CREATE=y\nCONFIG_STATIK=y\n",
        "# CONFIG_TAR is not set\n# CONFIG_STATIC is not set\n",
    );
    eprintln!("{report}");
    assert!(report.contains("it depends on TAR, which is off"), "{report}");
    assert!(report.contains("did you mean STATIC?"), "{report}");
}
