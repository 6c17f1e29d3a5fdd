//! A compile cache shared for real: a `redis-server` on a Unix socket and an nginx that takes
//! PUT (WebDAV) on 127.0.0.1, both started by the test; a tiny kernel built in one target folder
//! filling both, and the same kernel built in two more folders with empty local ccaches, one from
//! each remote (counted in the build's ccache line), the images byte-identical; the one from
//! nginx with a Redis that is down asked first, which fails its lookups but not the build. Then a remote that is down: the build goes on and says so.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{enabled, free_port, run, sha256, tempdir, xtask};

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

/// An nginx serving `dir` with WebDAV's PUT on 127.0.0.1:`port`, one process, stopped when
/// dropped.
struct Nginx(Child);

impl Nginx {
    fn start(dir: &Path, port: u16) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(dir.join("body")).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
                 events {{}}\n\
                 http {{ access_log off; client_body_temp_path {d}/body;\n\
                   server {{ listen 127.0.0.1:{port}; root {www};\n\
                     location / {{ dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 64m; }} }} }}\n",
                d = dir.display(),
                www = www.display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("starting nginx");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "nginx does not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx(child)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    if !enabled("e2e_10_shared_cache (redis-server, nginx, a tiny kernel built in three folders)") {
        return;
    }
    for program in ["redis-server", "nginx", "ccache"] {
        if Command::new(program).arg("-v").output().is_err() {
            panic!("{program} is not installed: .ci/run installs it (README, \"Host packages\")");
        }
    }
    let scratch = tempdir("kardel-e2e-shared-cache");
    let socket = scratch.join("redis.sock");
    let _redis = Redis::start(&socket);
    let redis = format!("redis+unix:{}", socket.display());
    let port = free_port();
    let _nginx = Nginx::start(&scratch.join("nginx"), port);
    let http = format!("http://127.0.0.1:{port}/ccache|layout=subdirs");

    // the first folder fills both remotes from this machine's warm cache: ccache uploads its
    // local hits only when asked to reshare them
    let both = format!("{redis} {http}");
    let first = kernel(&scratch.join("a"), &both, None, &[("CCACHE_RESHARE", "true")]);
    let image = |folder: &str| scratch.join(folder).join("images/x86_64/tiny/bzImage");
    // then each remote alone, into an empty local cache, so that every hit is a download; the
    // second with a Redis nobody listens on asked first
    let down = format!("redis+unix:{}", scratch.join("down.sock").display());
    for (folder, remote, fails) in
        [("b", redis.clone(), false), ("c", format!("{down} {http}"), true)]
    {
        let empty = scratch.join(format!("empty-ccache-{folder}"));
        std::fs::create_dir_all(&empty).unwrap();
        let line = kernel(&scratch.join(folder), &remote, Some(&empty), &[]);
        let (hits, from_remote, misses) =
            (count(&line, "hits"), count(&line, "from the remote"), count(&line, "misses"));
        assert!(
            from_remote * 4 >= hits * 3,
            "{folder}: most hits from the remote: {line} (first: {first})"
        );
        assert!(
            misses <= count(&first, "misses"),
            "{folder}: no more misses than the first: {line} / {first}"
        );
        assert_eq!(line.contains("the remote failed"), fails, "{folder}: {line}");
        assert_eq!(
            sha256(&image("a")),
            sha256(&image(folder)),
            "{folder}'s kernel differs from a's"
        );
    }

    let _ = std::fs::remove_dir_all(&scratch);
}
