//! Downloads through the cache: verified, from mirrors first, and never leaving a partial file.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use fetch::{FetchFailed, Fetcher, Package, Pin, PinnedFile};

use crate::{
    server::{Behaviour, TestServer},
    support::{demo_tar_gz, names_in, sha256, TempDir},
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
    check_fails(Behaviour::Silent, "no response for 1.0s", 2);
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
