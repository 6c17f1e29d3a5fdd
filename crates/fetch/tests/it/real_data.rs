//! Real tarballs, when this machine has them. Skipping says so; on CI a missing file fails.

use std::{path::Path, time::Instant};

use fetch::{Fetcher, Package, PinTable};

use crate::support::TempDir;

const OFFLINE_MIRROR: &str = "/var/cache/offline-mirror";

/// True when the test should run; prints why not otherwise, and fails on CI where the file is
/// expected to have been provided.
fn present_or_skip(path: &Path, how_to_get_it: &str) -> bool {
    if path.exists() {
        return true;
    }
    let on_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(!on_ci, "{} is missing on CI ({how_to_get_it})", path.display());
    eprintln!("skipped: {} not present ({how_to_get_it})", path.display());
    false
}

#[test]
fn busybox_from_a_file_mirror_matches_its_pin_and_unpacks() {
    let tarball = Path::new(OFFLINE_MIRROR).join("busybox-1.35.0.tar.bz2");
    if !present_or_skip(&tarball, "run ../shared/ci/offline-sources.sh") {
        return;
    }
    let dir = TempDir::new("real-busybox");
    let pin = PinTable::builtin().lookup(Package::Busybox, Some("1.35.0")).unwrap();
    let mut fetcher = Fetcher::new(dir.join("cache"));
    fetcher.mirrors = vec![format!("file://{OFFLINE_MIRROR}")];
    let archive = fetcher.fetch(pin).unwrap();
    assert_eq!(archive, dir.join("cache/busybox-1.35.0.tar.bz2"));
    let started = Instant::now();
    let top = fetch::unpack(&archive, &dir.join("src/busybox-1.35.0")).unwrap();
    eprintln!("unpacked {} in {:.2}s", archive.display(), started.elapsed().as_secs_f64());
    assert_eq!(top.file_name().unwrap(), "busybox-1.35.0");
    assert!(top.join("Makefile").is_file());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(top.join("scripts/mkconfigs")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o111, 0o111, "scripts must stay executable");
}

/// Slow (seconds, ~1 GB written): runs only with FETCH_SLOW_TESTS=1.
#[test]
fn debian_kernel_source_unpacks() {
    if std::env::var("FETCH_SLOW_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set FETCH_SLOW_TESTS=1 to unpack /usr/src/linux-source-6.1.tar.xz");
        return;
    }
    let tarball = Path::new("/usr/src/linux-source-6.1.tar.xz");
    if !present_or_skip(
        tarball,
        "apt-get install linux-source-6.1, or run ../shared/ci/offline-sources.sh",
    ) {
        return;
    }
    let dir = TempDir::new("real-kernel");
    let started = Instant::now();
    let top = fetch::unpack(tarball, &dir.join("src/linux")).unwrap();
    eprintln!("unpacked {} in {:.2}s", tarball.display(), started.elapsed().as_secs_f64());
    assert_eq!(top.file_name().unwrap(), "linux-source-6.1");
    assert!(top.join("Makefile").is_file());
    assert!(top.join("scripts/config").is_file());
}
