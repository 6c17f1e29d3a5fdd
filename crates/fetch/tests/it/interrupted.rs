//! A run killed by a signal mid-download cannot clean up after itself; the next run does.

use std::{
    os::unix::process::ExitStatusExt,
    path::Path,
    time::{Duration, Instant},
};

use fetch::{Fetcher, Package, Pin, PinnedFile};

use crate::{
    server::{Behaviour, TestServer},
    support::{child_env, demo_tar_gz, is_child, names_in, sha256, spawn_child_test, TempDir},
};

const NAME: &str = "demo-1.0.tar.gz";
const CHILD: &str = "interrupted::child_of_interrupted_download_leaves_nothing_behind";

fn pin(url: String) -> Pin {
    Pin {
        package: Package::Busybox,
        version: "1.0".to_string(),
        default: false,
        files: vec![PinnedFile {
            name: NAME.to_string(),
            sha256: sha256(&demo_tar_gz()),
            urls: vec![url],
            published: None,
        }],
    }
}

/// The child: a download that stalls half way, so it is surely mid-download when killed.
#[test]
fn child_of_interrupted_download_leaves_nothing_behind() {
    if !is_child(CHILD) {
        return;
    }
    // a shell that starts the tests in the background without job control has them ignore
    // SIGINT (POSIX), and the child would inherit that: what is tested is what a kill by the
    // signal leaves, so the child takes the signals' default action
    // SAFETY: resetting two signals' dispositions, before any thread of the child's own
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
    let mut fetcher = Fetcher::new(child_env("CACHE"));
    fetcher.stall_timeout = Duration::from_secs(30);
    let _ = fetcher.fetch(&pin(child_env("URL")));
}

#[test]
fn interrupted_download_leaves_nothing_behind() {
    let server = TestServer::start();
    server.route("/stall/demo-1.0.tar.gz", Behaviour::Stall(demo_tar_gz()));
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    for signal in ["INT", "TERM"] {
        let cache = TempDir::new(&format!("interrupted-{signal}"));
        let mut child = spawn_child_test(
            CHILD,
            &[
                ("CACHE", cache.path().display().to_string()),
                ("URL", server.url("/stall/demo-1.0.tar.gz")),
            ],
        );
        let temp = format!(".{NAME}.tmp-{}", child.id());
        wait_for(&cache.join(&temp), || format!("{:?}", names_in(cache.path())));
        let killed = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(status.signal().is_some(), "SIG{signal}: the child was not killed: {status}");
        // What the signal left: the part downloaded so far, under the temporary name.
        assert_eq!(names_in(cache.path()), [temp.as_str()], "SIG{signal}");

        let path = Fetcher::new(cache.path()).fetch(&pin(server.url("/up/demo-1.0.tar.gz")));
        assert_eq!(std::fs::read(path.unwrap()).unwrap(), demo_tar_gz());
        assert_eq!(names_in(cache.path()), [NAME], "SIG{signal}: the next run left the temporary");
    }
}

#[track_caller]
fn wait_for(path: &Path, describe: impl Fn() -> String) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{} did not appear; the cache holds {}",
            path.display(),
            describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
