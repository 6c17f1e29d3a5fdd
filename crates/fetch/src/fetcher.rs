//! Downloads into a cache shared by every tree, from mirrors first and upstream last, accepting a
//! file only when its sha256 matches its pin.
//!
//! Timeouts: ureq 3 bounds each phase separately. `connect_timeout` bounds DNS plus TCP/TLS
//! setup. `stall_timeout` is ureq's `timeout_per_read`, which restarts on every read from the
//! socket: it ends a transfer that stopped sending (headers or body) without limiting a large
//! download that is slow but still moving. No total limit is set, on purpose: a 130 MiB kernel
//! tarball on a slow link may take long, and a stalled one is already caught.

use std::{
    fmt,
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{
    pins::{check_file_name, Pin, PinnedFile},
    progress::{mebibytes, Progress, Transfer},
};

/// A download whose bytes did not hash to the pinned sha256.
#[derive(Debug, thiserror::Error)]
#[error("checksum mismatch for {origin}: expected sha256 {expected}, got {actual}")]
pub struct ChecksumMismatch {
    /// The URL or path the bytes came from.
    pub origin: String,
    pub expected: String,
    pub actual: String,
}

/// Every origin of a pin was tried and none gave the pinned file. A caller can tell "the
/// network is down" from "someone serves the wrong bytes" by looking for a [`ChecksumMismatch`]
/// among the attempts.
#[derive(Debug, thiserror::Error)]
pub struct FetchFailed {
    /// What was wanted, e.g. `busybox 1.36.1`.
    pub wanted: String,
    /// In the order they were made.
    pub attempts: Vec<FailedAttempt>,
}

#[derive(Debug)]
pub struct FailedAttempt {
    /// The URL (`file://` for a local mirror) that was tried.
    pub origin: String,
    /// 1 for the first try of this origin.
    pub attempt: u32,
    pub error: anyhow::Error,
}

impl FetchFailed {
    pub fn checksum_mismatches(&self) -> impl Iterator<Item = &ChecksumMismatch> {
        self.attempts.iter().filter_map(|attempt| attempt.error.downcast_ref::<ChecksumMismatch>())
    }
}

impl fmt::Display for FetchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not fetch {}: every origin failed", self.wanted)?;
        for attempt in &self.attempts {
            write!(f, "\n  {}: {:#}", attempt.origin, attempt.error)?;
            if attempt.attempt > 1 {
                write!(f, " (attempt {})", attempt.attempt)?;
            }
        }
        Ok(())
    }
}

/// Fetches pinned files into `cache_dir`. Fields are public so that a caller (or a test) can
/// adjust them after [`Fetcher::new`].
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Downloads are kept here under their upstream names.
    pub cache_dir: PathBuf,
    /// Base URLs (`https://`, `http://` or `file://`) tried in order before upstream: a mirror
    /// holds files under their upstream names, at `base/name`.
    pub mirrors: Vec<String>,
    /// Limit for resolving a host name and for connecting (TCP and TLS), each.
    pub connect_timeout: Duration,
    /// A transfer that receives nothing for this long is abandoned.
    pub stall_timeout: Duration,
    /// How many times each origin may be tried. Tries go round every origin before any is
    /// retried, so one flaky mirror does not delay the others.
    pub attempts_per_origin: u32,
    /// Pause before the second round of tries; doubled for each later round.
    pub retry_backoff: Duration,
    /// More redirects than this is taken for a loop.
    pub max_redirects: u32,
}

/// Whether trying the same origin again could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Worthwhile,
    Pointless,
}

type AttemptResult = std::result::Result<PathBuf, (anyhow::Error, Retry)>;

impl Fetcher {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Fetcher {
        Fetcher {
            cache_dir: cache_dir.into(),
            mirrors: Vec::new(),
            connect_timeout: Duration::from_secs(20),
            stall_timeout: Duration::from_secs(60),
            attempts_per_origin: 3,
            retry_backoff: Duration::from_secs(2),
            max_redirects: 5,
        }
    }

    /// The path of a cached copy of one of `pin`'s files with the pinned sha256, downloading
    /// it if needed. A verified cached file costs no request.
    pub fn fetch(&self, pin: &Pin) -> Result<PathBuf> {
        self.fetch_with_progress(pin, &Progress::new())
    }

    /// [`Fetcher::fetch`] for several pins at once, one thread each; paths in the order given.
    pub fn fetch_all(&self, pins: &[&Pin]) -> Result<Vec<PathBuf>> {
        let progress = Progress::new();
        // The same pin twice would mean two threads writing one temporary name.
        let mut distinct: Vec<&Pin> = Vec::new();
        for pin in pins {
            if !distinct.iter().any(|seen| seen == pin) {
                distinct.push(pin);
            }
        }
        let results: Vec<Result<PathBuf>> = std::thread::scope(|scope| {
            let threads: Vec<_> = distinct
                .iter()
                .map(|pin| scope.spawn(|| self.fetch_with_progress(pin, &progress)))
                .collect();
            threads
                .into_iter()
                .zip(&distinct)
                .map(|(thread, pin)| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err(anyhow!("fetching {pin}: thread panicked")))
                })
                .collect()
        });
        let mut fetched = Vec::new();
        let mut failures = Vec::new();
        for (pin, result) in distinct.iter().zip(results) {
            match result {
                Ok(path) => fetched.push((*pin, path)),
                Err(err) => failures.push(err),
            }
        }
        if failures.len() == 1 {
            return Err(failures.remove(0));
        }
        if !failures.is_empty() {
            let listed: Vec<String> = failures.iter().map(|err| format!("{err:#}")).collect();
            bail!("{} downloads failed:\n{}", failures.len(), listed.join("\n"));
        }
        Ok(pins
            .iter()
            .map(|pin| {
                fetched.iter().find(|(seen, _)| seen == pin).expect("fetched above").1.clone()
            })
            .collect())
    }

    fn fetch_with_progress(&self, pin: &Pin, progress: &Progress) -> Result<PathBuf> {
        if pin.files.is_empty() {
            bail!("pin {pin} lists no files");
        }
        for file in &pin.files {
            check_file_name(&file.name).with_context(|| format!("pin {pin}"))?;
        }
        // Any verified format in the cache beats a request for the preferred one.
        for file in &pin.files {
            if let Some(path) = self.verified_cached_copy(file, progress)? {
                return Ok(path);
            }
        }
        let origins = origins(pin, &self.mirrors)?;
        if origins.is_empty() {
            bail!("cannot fetch {pin}: it lists no upstream URL and no mirror is configured");
        }
        let agent = self.http_agent();
        let mut attempts = Vec::new();
        let mut to_try: Vec<&Origin> = origins.iter().collect();
        for round in 1..=self.attempts_per_origin.max(1) {
            if to_try.is_empty() {
                break;
            }
            if round > 1 {
                std::thread::sleep(self.retry_backoff.saturating_mul(1 << (round - 2).min(16)));
            }
            let mut worth_retrying = Vec::new();
            for origin in to_try {
                match self.fetch_from(&agent, origin, progress) {
                    Ok(path) => return Ok(path),
                    Err((error, retry)) => {
                        progress.note(&format!("failed: {}: {error:#}", origin.url()));
                        attempts.push(FailedAttempt {
                            origin: origin.url(),
                            attempt: round,
                            error,
                        });
                        if retry == Retry::Worthwhile {
                            worth_retrying.push(origin);
                        }
                    }
                }
            }
            to_try = worth_retrying;
        }
        Err(FetchFailed { wanted: pin.to_string(), attempts }.into())
    }

    /// The cached file if it holds the pinned bytes. A cached file with other bytes is
    /// reported and removed, so that it is fetched again rather than trusted.
    fn verified_cached_copy(
        &self,
        file: &PinnedFile,
        progress: &Progress,
    ) -> Result<Option<PathBuf>> {
        let path = self.cache_dir.join(&file.name);
        if !path.is_file() {
            return Ok(None);
        }
        let actual = artifact::sha256_file(&path)?;
        if actual == file.sha256 {
            progress.note(&format!("verified cached {} (sha256 {actual})", path.display()));
            return Ok(Some(path));
        }
        progress.note(&format!(
            "cached {} does not match its pin (expected sha256 {}, found {actual}): fetching it again",
            path.display(),
            file.sha256
        ));
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        Ok(None)
    }

    fn http_agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_per_read(Some(self.stall_timeout))
            .timeout_per_write(Some(self.stall_timeout))
            .max_redirects(self.max_redirects)
            // Statuses become our own error, which names the URL.
            .http_status_as_error(false)
            // ureq would transparently gunzip a body sent with `Content-Encoding: gzip`, which
            // changes the bytes we hash; asking for the identity encoding keeps servers from
            // doing so (and if one did anyway, the checksum would refuse it).
            .accept_encoding("identity")
            .build()
            .new_agent()
    }

    fn fetch_from(
        &self,
        agent: &ureq::Agent,
        origin: &Origin,
        progress: &Progress,
    ) -> AttemptResult {
        progress.note(&format!("fetching {} from {}", origin.file.name, origin.url()));
        let target = self.cache_dir.join(&origin.file.name);
        match &origin.location {
            Location::Http(url) => self.fetch_http(agent, url, origin.file, &target, progress),
            Location::LocalFile(path) => copy_local(path, origin.file, &target, progress),
        }
    }

    fn fetch_http(
        &self,
        agent: &ureq::Agent,
        url: &str,
        file: &PinnedFile,
        target: &Path,
        progress: &Progress,
    ) -> AttemptResult {
        let response = agent.get(url).call().map_err(|err| self.describe_request_error(err))?;
        let status = response.status();
        if !status.is_success() {
            // These say the file is not there (or not for us); asking again will not change it.
            let retry = match status.as_u16() {
                404 | 410 | 401 | 403 => Retry::Pointless,
                code if (300..400).contains(&code) => Retry::Pointless,
                _ => Retry::Worthwhile,
            };
            let reason = status.canonical_reason().unwrap_or("");
            return Err((anyhow!("HTTP {} {reason}", status.as_u16()), retry));
        }
        let expected_length = response.body().content_length();
        let mut body = response.into_body().into_reader();
        let stall_timeout = Some(self.stall_timeout);
        receive_verified(&mut body, url, file, target, expected_length, stall_timeout, progress)
    }

    fn describe_request_error(&self, err: ureq::Error) -> (anyhow::Error, Retry) {
        match err {
            ureq::Error::TooManyRedirects => (
                anyhow!("more than {} redirects (a redirect loop?)", self.max_redirects),
                Retry::Pointless,
            ),
            ureq::Error::BadUri(uri) => (anyhow!("bad URL: {uri}"), Retry::Pointless),
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => (
                anyhow!("no connection within {}", seconds(self.connect_timeout)),
                Retry::Worthwhile,
            ),
            ureq::Error::Timeout(ureq::Timeout::PerRead) => {
                (anyhow!("no response for {}", seconds(self.stall_timeout)), Retry::Worthwhile)
            }
            other => (anyhow!(other), Retry::Worthwhile),
        }
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// A `file://` mirror: a copy, but with the same hashing and temp+rename as a download.
fn copy_local(path: &Path, file: &PinnedFile, target: &Path, progress: &Progress) -> AttemptResult {
    let mut source = match File::open(path) {
        Ok(source) => source,
        Err(err) => {
            let retry = if err.kind() == io::ErrorKind::NotFound {
                Retry::Pointless
            } else {
                Retry::Worthwhile
            };
            return Err((anyhow!(err).context(format!("opening {}", path.display())), retry));
        }
    };
    let length = source.metadata().ok().map(|meta| meta.len());
    let origin = format!("file://{}", path.display());
    receive_verified(&mut source, &origin, file, target, length, None, progress)
}

/// Streams `body` into the temporary name of `target`, hashing as it goes, and renames it to
/// `target` only when every expected byte arrived and the hash matches the pin.
fn receive_verified(
    body: &mut dyn Read,
    origin: &str,
    file: &PinnedFile,
    target: &Path,
    expected_length: Option<u64>,
    stall_timeout: Option<Duration>,
    progress: &Progress,
) -> AttemptResult {
    let transfer = progress.start_transfer(&file.name, expected_length);
    let mut retry = Retry::Worthwhile;
    let mut received = 0u64;
    let mut digest = String::new();
    let outcome = artifact::write_atomic(target, |out| {
        let temp = artifact::temp_path(target);
        let (length, actual) = copy_hashing(body, out, &transfer)
            .map_err(|err| read_or_write_error(err, &temp, expected_length, stall_timeout))?;
        received = length;
        if let Some(expected) = expected_length {
            if length < expected {
                bail!("body cut short: got {length} of {expected} bytes");
            }
        }
        if actual != file.sha256 {
            retry = Retry::Pointless;
            return Err(ChecksumMismatch {
                origin: origin.to_string(),
                expected: file.sha256.clone(),
                actual,
            }
            .into());
        }
        digest = actual;
        Ok(())
    });
    match outcome {
        Ok(()) => {
            let elapsed = transfer.elapsed();
            // Clear the bar first so the summary line is not drawn over.
            drop(transfer);
            progress.note(&format!(
                "verified {} ({}, sha256 {digest}) in {}",
                file.name,
                mebibytes(received),
                seconds(elapsed)
            ));
            Ok(target.to_path_buf())
        }
        Err(err) => Err((err, retry)),
    }
}

enum CopyError {
    Read(u64, io::Error),
    Write(io::Error),
}

fn read_or_write_error(
    err: CopyError,
    temp: &Path,
    expected_length: Option<u64>,
    stall_timeout: Option<Duration>,
) -> anyhow::Error {
    match err {
        CopyError::Read(received, err) => match (stall_timeout, expected_length) {
            (Some(stall_timeout), _) if is_stall(&err) => anyhow!(
                "stalled: nothing received for {} after {received} bytes",
                seconds(stall_timeout)
            ),
            (_, Some(expected)) if err.kind() == io::ErrorKind::UnexpectedEof => anyhow!(
                "body cut short: the connection closed after {received} of {expected} bytes"
            ),
            _ => anyhow!(err).context(format!("receiving the body, after {received} bytes")),
        },
        CopyError::Write(err) => anyhow!(err).context(format!("writing {}", temp.display())),
    }
}

fn is_stall(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut
        || err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
}

fn copy_hashing(
    from: &mut dyn Read,
    to: &mut File,
    transfer: &Transfer,
) -> std::result::Result<(u64, String), CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(total, err)),
        };
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n]).map_err(CopyError::Write)?;
        total += n as u64;
        transfer.advance(n);
    }
    Ok((total, artifact::hex(&hasher.finalize())))
}

/// One place a pinned file may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin<'pin> {
    pub(crate) file: &'pin PinnedFile,
    pub(crate) location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Http(String),
    LocalFile(PathBuf),
}

impl Origin<'_> {
    pub(crate) fn url(&self) -> String {
        match &self.location {
            Location::Http(url) => url.clone(),
            Location::LocalFile(path) => format!("file://{}", path.display()),
        }
    }
}

/// Where to look, in order: each mirror for each of the pin's files (in the pin's order), then
/// each file's upstream URLs. Mirrors come first because they are near or local; a mirror that
/// holds only the second format still beats upstream.
pub(crate) fn origins<'pin>(pin: &'pin Pin, mirrors: &[String]) -> Result<Vec<Origin<'pin>>> {
    let mut origins = Vec::new();
    for mirror in mirrors {
        for file in &pin.files {
            origins.push(Origin { file, location: mirror_location(mirror, &file.name)? });
        }
    }
    for file in &pin.files {
        for url in &file.urls {
            origins.push(Origin { file, location: Location::Http(url.clone()) });
        }
    }
    Ok(origins)
}

fn mirror_location(mirror: &str, file_name: &str) -> Result<Location> {
    let base = mirror.trim_end_matches('/');
    if let Some(path) = base.strip_prefix("file://") {
        if !path.starts_with('/') {
            bail!(
                "mirror {mirror}: a file:// mirror needs an absolute path, like file:///srv/mirror"
            );
        }
        return Ok(Location::LocalFile(Path::new(path).join(file_name)));
    }
    if base.starts_with("https://") || base.starts_with("http://") {
        return Ok(Location::Http(format!("{base}/{file_name}")));
    }
    bail!("mirror {mirror}: expected an https://, http:// or file:// URL (for a folder: file:///path/to/folder)")
}

/// `$XDG_CACHE_HOME/kardel/downloads`, or `~/.cache/kardel/downloads`.
pub fn default_cache_dir() -> Result<PathBuf> {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn cache_dir_from(
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf> {
    // The XDG spec says a relative value is invalid and must be ignored.
    let xdg = xdg_cache_home.map(PathBuf::from).filter(|dir| dir.is_absolute());
    let cache = match (xdg, home) {
        (Some(xdg), _) => xdg,
        (None, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".cache"),
        _ => bail!("neither XDG_CACHE_HOME nor HOME is set; pass a cache folder explicitly"),
    };
    Ok(cache.join("kardel").join("downloads"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin_with_two_formats() -> Pin {
        let file = |name: &str| PinnedFile {
            name: name.to_string(),
            sha256: "0".repeat(64),
            urls: vec![format!("https://upstream.invalid/v5.x/{name}")],
            published: None,
        };
        Pin {
            package: crate::Package::Kernel,
            version: "1.0".to_string(),
            default: true,
            files: vec![file("linux-1.0.tar.xz"), file("linux-1.0.tar.gz")],
        }
    }

    #[track_caller]
    fn check_origins(mirrors: &[&str], expected: expect_test::Expect) {
        let pin = pin_with_two_formats();
        let mirrors: Vec<String> = mirrors.iter().map(|m| m.to_string()).collect();
        let actual = match origins(&pin, &mirrors) {
            Ok(origins) => origins.iter().map(|o| o.url() + "\n").collect::<String>(),
            Err(err) => format!("error: {err:#}\n"),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn upstream_only_in_pin_order() {
        check_origins(
            &[],
            expect_test::expect![[r#"
                https://upstream.invalid/v5.x/linux-1.0.tar.xz
                https://upstream.invalid/v5.x/linux-1.0.tar.gz
            "#]],
        );
    }

    #[test]
    fn mirrors_first_each_with_every_format() {
        check_origins(
            &["http://near.invalid/tarballs/", "file:///srv/mirror"],
            expect_test::expect![[r#"
                http://near.invalid/tarballs/linux-1.0.tar.xz
                http://near.invalid/tarballs/linux-1.0.tar.gz
                file:///srv/mirror/linux-1.0.tar.xz
                file:///srv/mirror/linux-1.0.tar.gz
                https://upstream.invalid/v5.x/linux-1.0.tar.xz
                https://upstream.invalid/v5.x/linux-1.0.tar.gz
            "#]],
        );
    }

    #[test]
    fn unusable_mirrors_are_named() {
        check_origins(
            &["/srv/mirror"],
            expect_test::expect![[r#"
                error: mirror /srv/mirror: expected an https://, http:// or file:// URL (for a folder: file:///path/to/folder)
            "#]],
        );
        check_origins(
            &["file://srv/mirror"],
            expect_test::expect![[r#"
                error: mirror file://srv/mirror: a file:// mirror needs an absolute path, like file:///srv/mirror
            "#]],
        );
    }

    #[test]
    fn cache_dir_prefers_absolute_xdg() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            cache_dir_from(xdg.map(Into::into), home.map(Into::into)).map_err(|err| err.to_string())
        };
        assert_eq!(dir(Some("/x"), Some("/home/u")).unwrap(), Path::new("/x/kardel/downloads"));
        assert_eq!(
            dir(Some("relative"), Some("/home/u")).unwrap(),
            Path::new("/home/u/.cache/kardel/downloads")
        );
        assert_eq!(
            dir(None, Some("/home/u")).unwrap(),
            Path::new("/home/u/.cache/kardel/downloads")
        );
        assert!(dir(None, None).unwrap_err().contains("neither XDG_CACHE_HOME nor HOME"));
    }
}
