//! A compile cache shared for real: a `redis-server` the test starts on a Unix socket, a tiny
//! kernel built in one target folder filling it, and the same kernel built in another folder with
//! an empty local ccache, its compiles coming from the remote (counted in the build's ccache
//! line), the two images byte-identical. Then a remote that is down: the build goes on and says so.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{enabled, run, sha256, tempdir, xtask};

/// A redis-server on `socket`, no persistence, stopped when dropped.
struct Redis(Child);

impl Redis {
    fn start(socket: &Path) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
            .arg(socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let start = Instant::now();
        while !socket.exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "redis-server made no socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis(child)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kernel --ccache-remote URL` into `target`, with ccache's cache `ccache_dir` (the user's own
/// when none) and more of ccache's variables; the run and its ccache line.
fn kernel(target: &Path, url: &str, ccache_dir: Option<&Path>, env: &[(&str, &str)]) -> String {
    let mut cmd = xtask(&["kernel", "--ccache-remote", url]);
    cmd.env("CARGO_TARGET_DIR", target).envs(env.iter().copied());
    if let Some(dir) = ccache_dir {
        cmd.env("CCACHE_DIR", dir);
    }
    let built = run(cmd).ok();
    let stderr = built.stderr();
    stderr
        .lines()
        .find(|line| line.contains(": ccache: "))
        .unwrap_or_else(|| panic!("no ccache line in:\n{stderr}"))
        .to_string()
}

/// `N` of "N WHAT" in `line`.
fn count(line: &str, what: &str) -> u64 {
    let at = line.find(what).unwrap_or_else(|| panic!("no {what:?} in {line:?}"));
    let number = line[..at].trim_end().rsplit([' ', '(']).next().unwrap();
    number.parse().unwrap_or_else(|_| panic!("no count before {what:?} in {line:?}"))
}

#[test]
fn a_second_folder_builds_its_kernel_from_the_remote() {
    if !enabled("e2e_10_shared_cache (redis-server, a tiny kernel built in two folders)") {
        return;
    }
    for program in ["redis-server", "ccache"] {
        if Command::new(program).arg("--version").output().is_err() {
            panic!("{program} is not installed: .ci/run installs it (README, \"Host packages\")");
        }
    }
    let scratch = tempdir("kardel-e2e-shared-cache");
    let socket = scratch.join("redis.sock");
    let _redis = Redis::start(&socket);
    let url = format!("redis+unix:{}", socket.display());

    // the first folder fills the remote from this machine's warm cache: ccache uploads its local
    // hits only when asked to reshare them
    let first = kernel(&scratch.join("a"), &url, None, &[("CCACHE_RESHARE", "true")]);
    // the second: an empty local cache, so every hit is a download
    let empty = scratch.join("empty-ccache");
    std::fs::create_dir_all(&empty).unwrap();
    let second = kernel(&scratch.join("b"), &url, Some(&empty), &[]);
    let (hits, remote, misses) =
        (count(&second, "hits"), count(&second, "from the remote"), count(&second, "misses"));
    assert!(remote * 4 >= hits * 3, "most hits from the remote: {second} (first: {first})");
    assert!(misses <= count(&first, "misses"), "no more misses than the first: {second} / {first}");
    let image = |folder: &str| scratch.join(folder).join("images/x86_64/tiny/bzImage");
    assert_eq!(sha256(&image("a")), sha256(&image("b")), "the two folders' kernels differ");

    let _ = std::fs::remove_dir_all(&scratch);
}
