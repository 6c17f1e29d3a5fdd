//! Sources: pinned, local tarball, local tree.

use std::time::Duration;

use fetch::{Fetcher, Package, Pin, PinnedFile, Source};

use crate::{
    server::{Behaviour, TestServer},
    support::{demo_tar_gz, sha256, TempDir},
};

#[test]
fn local_path_decides_tree_or_tarball() {
    let dir = TempDir::new("local");
    std::fs::write(dir.join("demo-1.0.tar.gz"), demo_tar_gz()).unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    assert_eq!(Source::local(dir.path()).unwrap(), Source::LocalTree(dir.path().to_path_buf()));
    assert_eq!(
        Source::local(dir.join("demo-1.0.tar.gz")).unwrap(),
        Source::LocalTarball(dir.join("demo-1.0.tar.gz"))
    );
    let message = format!("{:#}", Source::local(dir.join("notes.txt")).unwrap_err());
    assert!(message.contains("unknown archive type"), "{message}");
    let message = format!("{:#}", Source::local(dir.join("missing")).unwrap_err());
    assert!(message.contains(&dir.join("missing").display().to_string()), "{message}");
}

#[test]
fn local_tarball_unpacks_under_a_name_with_its_digest() {
    let dir = TempDir::new("local-tarball");
    let tarball = dir.join("demo-1.0.tar.gz");
    std::fs::write(&tarball, demo_tar_gz()).unwrap();
    let fetcher = Fetcher::new(dir.join("cache-unused"));
    let tree = Source::local(&tarball).unwrap().source_tree(&fetcher, &dir.join("src")).unwrap();
    let expected_dest = format!("local-demo-1.0-{}", &sha256(&demo_tar_gz())[..16]);
    assert_eq!(tree, dir.join("src").join(expected_dest).join("demo-1.0"));
    assert!(tree.join("configure").is_file());
    assert!(!dir.join("cache-unused").exists(), "a local tarball needs no cache");
}

#[test]
fn local_tree_is_used_in_place() {
    let dir = TempDir::new("local-tree");
    std::fs::create_dir(dir.join("linux")).unwrap();
    let fetcher = Fetcher::new(dir.join("cache-unused"));
    let tree =
        Source::local(dir.join("linux")).unwrap().source_tree(&fetcher, &dir.join("src")).unwrap();
    assert_eq!(tree, std::fs::canonicalize(dir.join("linux")).unwrap());
    assert!(!dir.join("src").exists());
}

#[test]
fn pinned_source_is_fetched_and_unpacked() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let dir = TempDir::new("pinned");
    let pin = Pin {
        package: Package::Busybox,
        version: "1.0".to_string(),
        default: false,
        files: vec![PinnedFile {
            name: "demo-1.0.tar.gz".to_string(),
            sha256: sha256(&demo_tar_gz()),
            urls: vec![server.url("/up/demo-1.0.tar.gz")],
            published: None,
        }],
    };
    let mut fetcher = Fetcher::new(dir.join("cache"));
    fetcher.stall_timeout = Duration::from_secs(2);
    let tree = Source::Pinned(&pin).source_tree(&fetcher, &dir.join("src")).unwrap();
    assert_eq!(tree, dir.join("src/busybox-1.0/demo-1.0"));
    assert_eq!(Source::Pinned(&pin).to_string(), "busybox 1.0 (pinned)");
}
