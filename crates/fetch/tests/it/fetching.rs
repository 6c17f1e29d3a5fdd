//! Downloads through the cache: verified, from mirrors first, and never leaving a partial file.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use fetch::{FetchFailed, Fetcher, Package, Pin, PinnedFile};

use crate::{
    server::{Behaviour, TestServer},
    support::{
        child_env, demo_tar_gz, is_child, names_in, sha256, spawn_child_test, timed_lines, TempDir,
    },
};

const NAME: &str = "demo-1.0.tar.gz";

fn pin_for(sha256: &str, upstream_urls: Vec<String>) -> Pin {
    pin_with_files(vec![PinnedFile {
        name: NAME.to_string(),
        sha256: sha256.to_string(),
        urls: upstream_urls,
        published: None,
    }])
}

fn pin_with_files(files: Vec<PinnedFile>) -> Pin {
    Pin { package: Package::Busybox, version: "1.0-test".to_string(), default: false, files }
}

/// Short timeouts and no backoff so failure cases end in about a second.
fn fetcher(cache: &Path, mirrors: &[String]) -> Fetcher {
    let mut fetcher = Fetcher::new(cache);
    fetcher.mirrors = mirrors.to_vec();
    fetcher.connect_timeout = Duration::from_secs(2);
    fetcher.stall_timeout = Duration::from_secs(1);
    fetcher.attempts_per_origin = 2;
    fetcher.retry_backoff = Duration::ZERO;
    fetcher
}

/// Serves the demo tarball with `behaviour` at upstream, checks that the fetch fails with an
/// error containing `expected` and the URL, that the server saw `expected_requests`, and that
/// the cache holds nothing at all (no final name, no temporary name).
#[track_caller]
fn check_fails(behaviour: Behaviour, expected: &str, expected_requests: usize) {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", behaviour);
    let cache = TempDir::new("fails");
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let started = Instant::now();
    let err = fetcher(cache.path(), &[]).fetch(&pin).expect_err("fetch should fail");
    let message = format!("{err:#}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}: {message}", started.elapsed());
    assert!(message.contains(expected), "expected `{expected}` in: {message}");
    assert!(message.contains(&server.url("/up/demo-1.0.tar.gz")), "URL not named: {message}");
    assert!(err.downcast_ref::<FetchFailed>().is_some(), "not a FetchFailed: {message}");
    assert_eq!(server.requests().len(), expected_requests, "{:?}", server.requests());
    assert_eq!(names_in(cache.path()), Vec::<String>::new(), "cache not empty after: {message}");
}

#[test]
fn not_found_is_not_retried() {
    check_fails(Behaviour::Status(404), "HTTP 404", 1);
}

#[test]
fn server_error_is_retried() {
    check_fails(Behaviour::Status(500), "HTTP 500", 2);
}

#[test]
fn body_cut_short() {
    check_fails(
        Behaviour::CutShort(demo_tar_gz()),
        "body cut short: the connection closed after",
        2,
    );
}

#[test]
fn stalled_transfer_ends() {
    check_fails(Behaviour::Stall(demo_tar_gz()), "stalled: nothing received for 1.0s", 2);
}

#[test]
fn silent_server_ends() {
    check_fails(Behaviour::Silent, "stalled: no response for 1.0s", 2);
}

#[test]
fn headers_then_silence_ends() {
    check_fails(
        Behaviour::HeadersThenSilence(demo_tar_gz().len()),
        "stalled: nothing received for 1.0s after 0 bytes",
        2,
    );
}

const STALL_CHILD: &str = "fetching::child_of_stalls_are_reported_while_they_last";

/// The child of the test below: fetches with a 1.2 s stall timeout and says how it ended.
#[test]
fn child_of_stalls_are_reported_while_they_last() {
    if !is_child(STALL_CHILD) {
        return;
    }
    let mut fetcher = fetcher(Path::new(&child_env("CACHE")), &[]);
    fetcher.mirrors = child_env("MIRRORS").split(' ').map(str::to_string).collect();
    fetcher.stall_timeout = Duration::from_millis(1200);
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![child_env("UPSTREAM")]);
    let path = fetcher.fetch(&pin).unwrap();
    eprintln!("child fetched {}", path.display());
}

/// Two mirrors that stall (one after its headers, one before answering at all): each is named
/// on stderr while it is silent, abandoned after the stall timeout, and then the next origin is
/// tried, so the fetch still succeeds from upstream within seconds.
#[test]
fn stalls_are_reported_while_they_last() {
    let server = TestServer::start();
    server.route("/m1/demo-1.0.tar.gz", Behaviour::HeadersThenSilence(demo_tar_gz().len()));
    server.route("/m2/demo-1.0.tar.gz", Behaviour::Silent);
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let cache = TempDir::new("stall-report");
    let (m1, m2) = (server.url("/m1/demo-1.0.tar.gz"), server.url("/m2/demo-1.0.tar.gz"));
    let started = Instant::now();
    let mut child = spawn_child_test(
        STALL_CHILD,
        &[
            ("CACHE", cache.path().display().to_string()),
            ("MIRRORS", format!("{} {}", server.url("/m1"), server.url("/m2"))),
            ("UPSTREAM", server.url("/up/demo-1.0.tar.gz")),
        ],
    );
    let lines = timed_lines(&mut child, started);
    let status = child.wait().unwrap();
    let elapsed = started.elapsed();
    let lines = lines.join().unwrap();
    let shown: String = lines.iter().map(|(at, line)| format!("{at:.2?} {line}\n")).collect();
    assert!(status.success(), "child failed:\n{shown}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}:\n{shown}");
    assert_eq!(
        server.requests(),
        ["/m1/demo-1.0.tar.gz", "/m2/demo-1.0.tar.gz", "/up/demo-1.0.tar.gz"]
    );

    let when = |needle: &str| {
        lines
            .iter()
            .find(|(_, line)| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}`:\n{shown}"))
            .0
    };
    let first_report = when(&format!("waiting on {m1}: nothing received for "));
    let m1_given_up =
        when(&format!("failed: {m1}: stalled: nothing received for 1.2s after 0 bytes"));
    let m2_report = when(&format!("waiting on {m2}: nothing received for "));
    let m2_given_up = when(&format!("failed: {m2}: stalled: no response for 1.2s"));
    assert!(first_report < m1_given_up && m2_report < m2_given_up, "{shown}");
    // Seen while silent, not only when it ends.
    assert!(m1_given_up - first_report >= Duration::from_millis(400), "{shown}");
    for (_, line) in lines.iter().filter(|(_, line)| line.starts_with("waiting on")) {
        assert!(line.ends_with("(giving up after 1.2s of silence)"), "{line}");
    }
    assert!(
        shown.contains(&format!("waiting on {m1}: nothing received for "))
            && shown.contains("after 0 bytes of the body"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("waiting on {m2}: nothing received for "))
            && shown.contains("no response yet"),
        "{shown}"
    );
    assert!(shown.contains("child fetched"), "{shown}");
}

#[test]
fn redirect_loop() {
    check_fails(Behaviour::Redirect("/up/demo-1.0.tar.gz".to_string()), "redirect loop", 6);
}

#[test]
fn wrong_bytes_are_a_checksum_mismatch() {
    let served = b"not the pinned tarball".to_vec();
    check_fails(Behaviour::Ok(served.clone()), "checksum mismatch", 1);

    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(served.clone()));
    let cache = TempDir::new("mismatch");
    let expected = sha256(&demo_tar_gz());
    let pin = pin_for(&expected, vec![server.url("/up/demo-1.0.tar.gz")]);
    let err = fetcher(cache.path(), &[]).fetch(&pin).unwrap_err();
    let failed = err.downcast_ref::<FetchFailed>().unwrap();
    assert!(!failed.all_unreachable(), "the server answered, with the wrong bytes");
    let mismatch = failed.checksum_mismatches().next().expect("a ChecksumMismatch attempt");
    assert_eq!(mismatch.expected, expected);
    assert_eq!(mismatch.actual, sha256(&served));
    assert_eq!(mismatch.origin, server.url("/up/demo-1.0.tar.gz"));
    let message = format!("{err:#}");
    assert!(message.contains(&expected) && message.contains(&sha256(&served)), "{message}");
}

#[test]
fn connection_refused_names_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/demo-1.0.tar.gz", closed.local_addr().unwrap());
    drop(closed);
    let cache = TempDir::new("refused");
    let err =
        fetcher(cache.path(), &[]).fetch(&pin_for(&sha256(b"x"), vec![url.clone()])).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains(&url) && message.contains("refused"), "{message}");
    assert_eq!(names_in(cache.path()), Vec::<String>::new());
}

#[test]
fn download_then_cache_hit_without_requests() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let cache = TempDir::new("hit");
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let fetcher = fetcher(cache.path(), &[]);

    let path = fetcher.fetch(&pin).unwrap();
    assert_eq!(path, cache.join(NAME));
    assert_eq!(std::fs::read(&path).unwrap(), demo_tar_gz());
    assert_eq!(names_in(cache.path()), [NAME]);
    assert_eq!(server.requests().len(), 1);

    assert_eq!(fetcher.fetch(&pin).unwrap(), path);
    assert_eq!(server.requests().len(), 1, "a verified cached file must cost no request");
}

#[test]
fn corrupt_cached_file_is_replaced() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let cache = TempDir::new("corrupt");
    std::fs::write(cache.join(NAME), b"bit rot").unwrap();
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);

    let path = fetcher(cache.path(), &[]).fetch(&pin).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), demo_tar_gz());
    assert_eq!(server.requests().len(), 1);
}

#[track_caller]
fn check_origin_order(routes: &[(&str, Behaviour)], mirrors: &[&str], expected_requests: &[&str]) {
    let server = TestServer::start();
    for (path, behaviour) in routes {
        server.route(path, behaviour.clone());
    }
    let cache = TempDir::new("order");
    let mirrors: Vec<String> = mirrors.iter().map(|m| server.url(m)).collect();
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let path = fetcher(cache.path(), &mirrors).fetch(&pin).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), demo_tar_gz());
    assert_eq!(server.requests(), expected_requests);
}

#[test]
fn first_mirror_is_used_and_upstream_never_hit() {
    let ok = || Behaviour::Ok(demo_tar_gz());
    check_origin_order(
        &[
            ("/m1/demo-1.0.tar.gz", ok()),
            ("/m2/demo-1.0.tar.gz", ok()),
            ("/up/demo-1.0.tar.gz", ok()),
        ],
        &["/m1", "/m2/"],
        &["/m1/demo-1.0.tar.gz"],
    );
}

#[test]
fn missing_on_first_mirror_falls_back_to_next() {
    let ok = || Behaviour::Ok(demo_tar_gz());
    check_origin_order(
        &[("/m2/demo-1.0.tar.gz", ok()), ("/up/demo-1.0.tar.gz", ok())],
        &["/m1", "/m2"],
        &["/m1/demo-1.0.tar.gz", "/m2/demo-1.0.tar.gz"],
    );
}

#[test]
fn mirror_with_wrong_bytes_falls_back_to_upstream() {
    check_origin_order(
        &[
            ("/m1/demo-1.0.tar.gz", Behaviour::Ok(b"tampered".to_vec())),
            ("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz())),
        ],
        &["/m1"],
        &["/m1/demo-1.0.tar.gz", "/up/demo-1.0.tar.gz"],
    );
}

#[test]
fn mirror_holding_only_the_second_format_beats_upstream() {
    let server = TestServer::start();
    server.route("/m1/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let cache = TempDir::new("formats");
    let file = |name: &str, sha256: String| PinnedFile {
        name: name.to_string(),
        sha256,
        urls: vec![server.url(&format!("/up/{name}"))],
        published: None,
    };
    let pin = pin_with_files(vec![
        file("demo-1.0.tar.xz", sha256(b"the xz tarball")),
        file(NAME, sha256(&demo_tar_gz())),
    ]);
    let path = fetcher(cache.path(), &[server.url("/m1")]).fetch(&pin).unwrap();
    assert_eq!(path, cache.join(NAME));
    assert_eq!(server.requests(), ["/m1/demo-1.0.tar.xz", "/m1/demo-1.0.tar.gz"]);
}

#[test]
fn every_attempt_is_listed() {
    let server = TestServer::start();
    server.route("/m1/demo-1.0.tar.gz", Behaviour::Status(404));
    server.route("/up/demo-1.0.tar.gz", Behaviour::Status(503));
    let cache = TempDir::new("listed");
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let err = fetcher(cache.path(), &[server.url("/m1")]).fetch(&pin).unwrap_err();
    let expected = format!(
        "could not fetch busybox 1.0-test: every origin failed\n  \
         {m1}: HTTP 404 Not Found\n  \
         {up}: HTTP 503 Service Unavailable\n  \
         {up}: HTTP 503 Service Unavailable (attempt 2)",
        m1 = server.url("/m1/demo-1.0.tar.gz"),
        up = server.url("/up/demo-1.0.tar.gz"),
    );
    assert_eq!(format!("{err:#}"), expected);
}

#[test]
fn file_mirror() {
    let server = TestServer::start();
    let mirror = TempDir::new("file-mirror");
    std::fs::write(mirror.join(NAME), demo_tar_gz()).unwrap();
    let cache = TempDir::new("file-mirror-cache");
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let mirrors = [format!("file://{}", mirror.path().display())];

    let path = fetcher(cache.path(), &mirrors).fetch(&pin).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), demo_tar_gz());
    assert_eq!(server.requests(), Vec::<String>::new());
    assert_eq!(names_in(cache.path()), [NAME]);
}

#[test]
fn file_mirror_with_wrong_bytes_leaves_nothing() {
    let mirror = TempDir::new("bad-file-mirror");
    std::fs::write(mirror.join(NAME), b"tampered").unwrap();
    let cache = TempDir::new("bad-file-mirror-cache");
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![]);
    let mirrors = [format!("file://{}", mirror.path().display())];
    let err = fetcher(cache.path(), &mirrors).fetch(&pin).unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("checksum mismatch") && message.contains(&sha256(b"tampered")),
        "{message}"
    );
    assert!(message.contains(&mirror.join(NAME).display().to_string()), "{message}");
    assert_eq!(names_in(cache.path()), Vec::<String>::new());
}

#[test]
fn fetch_all_in_parallel() {
    let server = TestServer::start();
    let other = b"another tarball".to_vec();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    server.route("/up/other-2.0.tar.gz", Behaviour::Ok(other.clone()));
    let cache = TempDir::new("all");
    let first = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let second = Pin {
        package: Package::Kernel,
        files: vec![PinnedFile {
            name: "other-2.0.tar.gz".to_string(),
            sha256: sha256(&other),
            urls: vec![server.url("/up/other-2.0.tar.gz")],
            published: None,
        }],
        ..first.clone()
    };
    let paths = fetcher(cache.path(), &[]).fetch_all(&[&first, &second, &first]).unwrap();
    assert_eq!(paths, [cache.join(NAME), cache.join("other-2.0.tar.gz"), cache.join(NAME)]);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn https_to_a_plain_server_fails_cleanly() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let url = server.url("/up/demo-1.0.tar.gz").replace("http://", "https://");
    let cache = TempDir::new("tls");
    let mut fetcher = fetcher(cache.path(), &[]);
    fetcher.attempts_per_origin = 1;
    let err = fetcher.fetch(&pin_for(&sha256(&demo_tar_gz()), vec![url.clone()])).unwrap_err();
    assert!(format!("{err:#}").contains(&url), "{err:#}");
    assert_eq!(names_in(cache.path()), Vec::<String>::new());
}

#[test]
fn no_origin_at_all_is_explained() {
    let cache = TempDir::new("no-origin");
    let err = fetcher(cache.path(), &[]).fetch(&pin_for(&sha256(b"x"), vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot fetch busybox 1.0-test: it lists no upstream URL and no mirror is configured"
    );
}

/// What a leftover temporary of this process's own name, or something planted there, must not
/// do to a download: be followed (a symlink would make the download write through it, here over
/// `victim`) or be reused (a file another download is writing).
#[test]
fn planted_temp_names_are_neither_followed_nor_reused() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let dir = TempDir::new("planted");
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let pid = std::process::id();
    let symlink_name = format!(".{NAME}.tmp-{pid}");
    let busy_name = format!(".{NAME}.tmp-{pid}-1");
    std::os::unix::fs::symlink(&victim, cache.join(&symlink_name)).unwrap();
    std::fs::write(cache.join(&busy_name), "another download's bytes").unwrap();

    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let path = fetcher(&cache, &[]).fetch(&pin).unwrap();

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "written through a symlink");
    assert_eq!(std::fs::read_link(cache.join(&symlink_name)).unwrap(), victim);
    assert_eq!(
        std::fs::read_to_string(cache.join(&busy_name)).unwrap(),
        "another download's bytes"
    );
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file(), "the cached file is a symlink");
    assert_eq!(std::fs::read(&path).unwrap(), demo_tar_gz());
    // Names of this process are left alone: this process may still be writing them.
    let mut expected = vec![symlink_name, busy_name, NAME.to_string()];
    expected.sort();
    assert_eq!(names_in(&cache), expected);
}

/// Temporaries of processes that are gone (above the kernel's largest pid) are what killed runs
/// leave; the next download of the same file removes them.
#[test]
fn temporaries_of_dead_runs_are_removed() {
    let server = TestServer::start();
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let cache = TempDir::new("dead-temps");
    std::fs::write(cache.join(&format!(".{NAME}.tmp-4194305")), "half a tarball").unwrap();
    std::fs::write(cache.join(&format!(".{NAME}.tmp-4194306-2")), "half a tarball").unwrap();
    std::fs::write(cache.join("unrelated.tmp-4194305"), "not ours").unwrap();
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    fetcher(cache.path(), &[]).fetch(&pin).unwrap();
    assert_eq!(names_in(cache.path()), [NAME, "unrelated.tmp-4194305"]);
}

#[track_caller]
fn check_cache_error(cache: &Path, expected: &str) {
    let server = TestServer::start();
    server.route("/m1/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let other = Pin { package: Package::Kernel, ..pin.clone() };
    let fetcher = fetcher(cache, &[server.url("/m1")]);
    let expected = format!("the download cache {} cannot be written: {expected}", cache.display());

    let err = fetcher.fetch(&pin).unwrap_err();
    assert_eq!(format!("{err:#}"), expected);
    assert!(err.downcast_ref::<FetchFailed>().is_none(), "not a download failure: {err:#}");
    // Several pins at once: still the one error, not one per pin.
    let err = fetcher.fetch_all(&[&pin, &other]).unwrap_err();
    assert_eq!(format!("{err:#}"), expected);
    assert_eq!(server.requests(), Vec::<String>::new(), "requested before checking the cache");
}

#[test]
fn cache_under_a_file_is_one_error_before_any_request() {
    let dir = TempDir::new("cache-under-file");
    std::fs::write(dir.join("file"), "a regular file").unwrap();
    let cache = dir.join("file").join("cache");
    check_cache_error(&cache, "creating it: Not a directory (os error 20)");
}

#[test]
fn read_only_cache_is_one_error_before_any_request() {
    let dir = TempDir::new("read-only-cache");
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    // A verified cached file needs no write, so a read-only cache still serves it.
    let cached = PinnedFile {
        name: "cached-1.0.tar.gz".to_string(),
        sha256: sha256(&demo_tar_gz()),
        urls: vec![],
        published: None,
    };
    std::fs::write(cache.join(&cached.name), demo_tar_gz()).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o555)).unwrap();
    let restore = || std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755));
    if std::fs::write(cache.join("probe"), "x").is_ok() {
        restore().unwrap();
        eprintln!(
            "skipped: a 0555 folder is writable here (running as root?), so it cannot stand \
             for a read-only cache; cache_under_a_file_is_one_error_before_any_request covers \
             the same check"
        );
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let path = fetcher(&cache, &[]).fetch(&pin_with_files(vec![cached.clone()])).unwrap();
        assert_eq!(path, cache.join(&cached.name));
        check_cache_error(&cache, "creating a file in it: Permission denied (os error 13)");
    });
    restore().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A closed port and a `file://` mirror folder without the file: nothing answered, which the
/// caller can tell (to suggest checking the network or the mirror) by downcasting the error.
#[test]
fn nothing_answering_is_all_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{NAME}", closed.local_addr().unwrap());
    drop(closed);
    let cache = TempDir::new("unreachable");
    let empty_mirror = TempDir::new("unreachable-mirror");
    let mirrors = [format!("file://{}", empty_mirror.path().display())];
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![url.clone()]);
    let err = fetcher(cache.path(), &mirrors).fetch(&pin).unwrap_err();
    // As a caller sees it, after adding its own context.
    let err = Err::<(), _>(err).context("getting the sources").unwrap_err();
    let failed = err.downcast_ref::<FetchFailed>().expect("a FetchFailed");
    assert!(failed.all_unreachable(), "{err:#}");
    let origins: Vec<(&str, bool)> =
        failed.attempts.iter().map(|a| (a.origin.as_str(), a.answered)).collect();
    let missing = format!("file://{}", empty_mirror.join(NAME).display());
    assert_eq!(origins, [(missing.as_str(), false), (url.as_str(), false), (url.as_str(), false)]);

    let server = TestServer::start();
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![url.clone(), server.url("/up/missing")]);
    let err = fetcher(cache.path(), &mirrors).fetch(&pin).unwrap_err();
    let failed = err.downcast_ref::<FetchFailed>().unwrap();
    assert!(!failed.all_unreachable(), "a 404 is an answer: {err:#}");
}

/// `fetch_all` with several pins failing is still one `FetchFailed`, with every attempt.
#[test]
fn fetch_all_failures_are_one_fetch_failed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let cache = TempDir::new("all-unreachable");
    let first = pin_for(&sha256(&demo_tar_gz()), vec![format!("{base}/{NAME}")]);
    let second = Pin {
        package: Package::Kernel,
        files: vec![PinnedFile {
            name: "other-2.0.tar.gz".to_string(),
            sha256: sha256(b"other"),
            urls: vec![format!("{base}/other-2.0.tar.gz")],
            published: None,
        }],
        ..first.clone()
    };
    let mut fetcher = fetcher(cache.path(), &[]);
    fetcher.attempts_per_origin = 1;
    let err = fetcher.fetch_all(&[&first, &second]).unwrap_err();
    let failed = err.downcast_ref::<FetchFailed>().expect("a FetchFailed");
    assert_eq!(failed.wanted, "busybox 1.0-test and kernel 1.0-test");
    assert!(failed.all_unreachable());
    let message = format!("{err:#}");
    assert!(
        message.starts_with(
            "could not fetch busybox 1.0-test and kernel 1.0-test: every origin failed\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("{base}/{NAME}"))
            && message.contains(&format!("{base}/other-2.0.tar.gz")),
        "{message}"
    );
}

/// What `KARDEL_MIRRORS=''` or a double space in it give: blank entries, ignored.
#[test]
fn blank_mirror_entries_are_ignored() {
    let server = TestServer::start();
    server.route("/m1/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    server.route("/up/demo-1.0.tar.gz", Behaviour::Ok(demo_tar_gz()));
    let pin = pin_for(&sha256(&demo_tar_gz()), vec![server.url("/up/demo-1.0.tar.gz")]);
    let cache = TempDir::new("blank-mirrors");
    let mirrors = ["".to_string(), " ".to_string(), server.url("/m1")];
    fetcher(cache.path(), &mirrors).fetch(&pin).unwrap();
    let cache = TempDir::new("blank-mirrors-only");
    fetcher(cache.path(), &["".to_string()]).fetch(&pin).unwrap();
    assert_eq!(server.requests(), ["/m1/demo-1.0.tar.gz", "/up/demo-1.0.tar.gz"]);
}

#[test]
fn mirror_lists_parse_like_the_environment_variable() {
    assert_eq!(fetch::parse_mirror_list("").unwrap(), Vec::<String>::new());
    assert_eq!(
        fetch::parse_mirror_list("https://near.invalid/a  file:///srv/b").unwrap(),
        ["https://near.invalid/a", "file:///srv/b"]
    );
    let message =
        format!("{:#}", fetch::parse_mirror_list("https://near.invalid/a /srv/b").unwrap_err());
    assert!(message.contains("`/srv/b`") && message.contains("https:// or file://"), "{message}");
}
