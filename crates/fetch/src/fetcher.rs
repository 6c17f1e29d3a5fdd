//! Downloads into a cache shared by every tree, from mirrors first and upstream last, accepting a
//! file only when its sha256 matches its pin.
//!
//! Timeouts: ureq 3 bounds each phase separately. `connect_timeout` bounds DNS plus TCP/TLS
//! setup. `stall_timeout` is ureq's `timeout_per_read`, which restarts on every read from the
//! socket: it ends a transfer that stopped sending (headers or body) without limiting a large
//! download that is slow but still moving. No total limit is set, on purpose: a 130 MiB kernel
//! tarball on a slow link may take long, and a stalled one is already caught. While a server is
//! silent, a line says so every third of `stall_timeout` (see `silence`), so a stall is visible
//! as it happens.
//!
//! The cache folder is checked once, by creating a file in it, before any request: a folder that
//! cannot be written is one error naming it, not a download failure at every origin.

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
    progress::{mebibytes, seconds, Progress, Transfer},
    silence::{reporting_silence, Activity},
    temps,
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

/// Every origin of a pin was tried and none gave the pinned file.
///
/// [`Fetcher::fetch`] returns it as the `anyhow::Error` itself, and [`Fetcher::fetch_all`] too
/// when every pin that failed failed this way (their attempts merged into one), so a caller
/// finds it with `err.downcast_ref::<FetchFailed>()`, through any context added on the way up.
/// [`FetchFailed::all_unreachable`] tells "no origin could be reached" (offline, a firewall, a
/// mirror folder that is not there) from "origins answered but did not have the right bytes",
/// and [`FetchFailed::checksum_mismatches`] lists who served the wrong bytes.
#[derive(Debug, thiserror::Error)]
pub struct FetchFailed {
    /// What was wanted, e.g. `busybox 1.36.1` (`kernel 6.1 and busybox 1.36.1` from `fetch_all`).
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
    /// Whether the origin answered: an HTTP server sent a response (any status), or a `file://`
    /// mirror's file could be opened. False when its host could not be resolved or connected to
    /// (TCP or TLS), when it sent no response before the stall timeout, or when the mirror's
    /// file is not there.
    pub answered: bool,
    pub error: anyhow::Error,
}

impl FetchFailed {
    pub fn checksum_mismatches(&self) -> impl Iterator<Item = &ChecksumMismatch> {
        self.attempts.iter().filter_map(|attempt| attempt.error.downcast_ref::<ChecksumMismatch>())
    }

    /// True when no attempt reached an origin that answered (see [`FailedAttempt::answered`]):
    /// connections refused, host names not found, timeouts, missing `file://` files. That
    /// points at the network or the mirror settings rather than at any server's content.
    pub fn all_unreachable(&self) -> bool {
        !self.attempts.is_empty() && self.attempts.iter().all(|attempt| !attempt.answered)
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
    /// holds files under their upstream names, at `base/name`. Empty (or blank) entries are
    /// ignored, as an empty `KARDEL_MIRRORS` or a double space produce them; see also
    /// [`parse_mirror_list`].
    pub mirrors: Vec<String>,
    /// Limit for resolving a host name and for connecting (TCP and TLS), each.
    pub connect_timeout: Duration,
    /// A transfer that receives nothing for this long is abandoned (and the next origin tried);
    /// every third of it without a byte is reported on stderr while it lasts.
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

/// Why one attempt failed, and what that says about the origin.
struct Failure {
    error: anyhow::Error,
    retry: Retry,
    /// See [`FailedAttempt::answered`].
    answered: bool,
}

impl Failure {
    /// The origin was never heard from.
    fn unanswered(error: anyhow::Error, retry: Retry) -> Failure {
        Failure { error, retry, answered: false }
    }

    fn answered(error: anyhow::Error, retry: Retry) -> Failure {
        Failure { error, retry, answered: true }
    }
}

type AttemptResult = std::result::Result<PathBuf, Failure>;

/// The download cache cannot be created or written: raised once, before any request, instead
/// of as a failure at every origin.
#[derive(Debug, thiserror::Error)]
#[error("the download cache {} cannot be written: {action}: {os_error}", .dir.display())]
struct CacheNotWritable {
    dir: PathBuf,
    /// What failed.
    action: &'static str,
    /// Not a `source`: it is in the message already, and `{:#}` would print it twice.
    os_error: io::Error,
}

impl Fetcher {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Fetcher {
        Fetcher {
            cache_dir: cache_dir.into(),
            mirrors: Vec::new(),
            // The same figure for both, so that "giving up after 15s of silence" holds whichever
            // phase the silence is in.
            connect_timeout: Duration::from_secs(15),
            // Long enough for a loaded mirror to start sending, short enough that a stalled one
            // costs seconds, not minutes, before the next origin is tried.
            stall_timeout: Duration::from_secs(15),
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
    /// When pins fail only because every origin failed, the error is one [`FetchFailed`] with
    /// every attempt of every pin; a cache folder that cannot be written is one error too.
    pub fn fetch_all(&self, pins: &[&Pin]) -> Result<Vec<PathBuf>> {
        let progress = Progress::new();
        // The same pin twice would be downloaded twice, by two threads at once.
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
        if !failures.is_empty() {
            return Err(combine_failures(failures));
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
        self.check_cache_writable(&pin.files[0])?;
        for file in &pin.files {
            temps::remove_abandoned_temps(&self.cache_dir.join(&file.name), "download")?;
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
                    Err(Failure { error, retry, answered }) => {
                        progress.note(&format!("failed: {}: {error:#}", origin.url()));
                        attempts.push(FailedAttempt {
                            origin: origin.url(),
                            attempt: round,
                            answered,
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

    /// Creates the cache folder if needed and proves it takes a file, by creating (with the
    /// same temporary name a download would use, so the sweep knows it) and removing one.
    fn check_cache_writable(&self, file: &PinnedFile) -> Result<()> {
        let dir = &self.cache_dir;
        let fail = |action, os_error| CacheNotWritable { dir: dir.clone(), action, os_error };
        fs::create_dir_all(dir).map_err(|err| fail("creating it", err))?;
        let (probe, _) = temps::create_temp_file(&dir.join(&file.name))
            .map_err(|err| fail("creating a file in it", err))?;
        fs::remove_file(&probe).map_err(|err| fail("removing a file from it", err))?;
        Ok(())
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
            Location::Http(url) => {
                reporting_silence(url, self.stall_timeout, progress, |activity| {
                    self.fetch_http(agent, url, origin.file, &target, progress, activity)
                })
            }
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
        activity: &Activity,
    ) -> AttemptResult {
        let response = agent.get(url).call().map_err(|err| self.describe_request_error(err))?;
        activity.answered();
        let status = response.status();
        if !status.is_success() {
            // These say the file is not there (or not for us); asking again will not change it.
            let retry = match status.as_u16() {
                404 | 410 | 401 | 403 => Retry::Pointless,
                code if (300..400).contains(&code) => Retry::Pointless,
                _ => Retry::Worthwhile,
            };
            let reason = status.canonical_reason().unwrap_or("");
            return Err(Failure::answered(anyhow!("HTTP {} {reason}", status.as_u16()), retry));
        }
        let expected_length = response.body().content_length();
        let mut body = response.into_body().into_reader();
        let receiving = Receiving {
            origin: url,
            file,
            target,
            expected_length,
            stall_timeout: Some(self.stall_timeout),
            activity: Some(activity),
        };
        receiving.receive_verified(&mut body, progress).map_err(|(error, retry)| {
            // Headers arrived, so the server answered, even if the body then stalled.
            Failure::answered(error, retry)
        })
    }

    /// Errors before any response: nothing was heard from the server (a redirect loop aside).
    fn describe_request_error(&self, err: ureq::Error) -> Failure {
        match err {
            ureq::Error::TooManyRedirects => Failure::answered(
                anyhow!("more than {} redirects (a redirect loop?)", self.max_redirects),
                Retry::Pointless,
            ),
            ureq::Error::BadUri(uri) => {
                Failure::unanswered(anyhow!("bad URL: {uri}"), Retry::Pointless)
            }
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                Failure::unanswered(
                    anyhow!("no connection within {}", seconds(self.connect_timeout)),
                    Retry::Worthwhile,
                )
            }
            ureq::Error::Timeout(_) => Failure::unanswered(
                anyhow!("stalled: no response for {}", seconds(self.stall_timeout)),
                Retry::Worthwhile,
            ),
            other => Failure::unanswered(anyhow!(other), Retry::Worthwhile),
        }
    }
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
            let error = anyhow!(err).context(format!("opening {}", path.display()));
            return Err(Failure::unanswered(error, retry));
        }
    };
    let origin = format!("file://{}", path.display());
    let receiving = Receiving {
        origin: &origin,
        file,
        target,
        expected_length: source.metadata().ok().map(|meta| meta.len()),
        stall_timeout: None,
        activity: None,
    };
    receiving
        .receive_verified(&mut source, progress)
        .map_err(|(error, retry)| Failure::answered(error, retry))
}

/// One body on its way into the cache.
struct Receiving<'a> {
    /// The URL (or `file://` path) it comes from, for errors.
    origin: &'a str,
    file: &'a PinnedFile,
    target: &'a Path,
    expected_length: Option<u64>,
    /// Set for HTTP, whose reads time out after this long.
    stall_timeout: Option<Duration>,
    /// Told of every byte, so that silence is measured (HTTP only).
    activity: Option<&'a Activity>,
}

impl Receiving<'_> {
    /// Streams `body` into a fresh temporary name beside `target`, hashing as it goes, and
    /// renames it to `target` only when every expected byte arrived and the hash matches the
    /// pin. On any error the temporary file is removed.
    fn receive_verified(
        &self,
        body: &mut dyn Read,
        progress: &Progress,
    ) -> std::result::Result<PathBuf, (anyhow::Error, Retry)> {
        let (temp, mut out) = temps::create_temp_file(self.target).map_err(|err| {
            let error = anyhow!(err)
                .context(format!("creating a temporary file for {}", self.target.display()));
            (error, Retry::Pointless)
        })?;
        let transfer = progress.start_transfer(&self.file.name, self.expected_length);
        let outcome = self.write_verified(body, &mut out, &temp, &transfer);
        drop(out);
        let outcome = outcome.and_then(|(received, digest)| {
            artifact::commit(&temp, self.target)
                .map(|()| (received, digest))
                .map_err(|err| (err, Retry::Pointless))
        });
        match outcome {
            Ok((received, digest)) => {
                let elapsed = transfer.elapsed();
                // Clear the bar first so the summary line is not drawn over.
                drop(transfer);
                progress.note(&format!(
                    "verified {} ({}, sha256 {digest}) in {}",
                    self.file.name,
                    mebibytes(received),
                    seconds(elapsed)
                ));
                Ok(self.target.to_path_buf())
            }
            Err(failure) => {
                let _ = fs::remove_file(&temp);
                Err(failure)
            }
        }
    }

    /// The length and sha256 of what was written, when complete and matching the pin.
    fn write_verified(
        &self,
        body: &mut dyn Read,
        out: &mut File,
        temp: &Path,
        transfer: &Transfer,
    ) -> std::result::Result<(u64, String), (anyhow::Error, Retry)> {
        let (length, actual) = copy_hashing(body, out, transfer, self.activity)
            .map_err(|err| (self.read_or_write_error(err, temp), Retry::Worthwhile))?;
        if let Some(expected) = self.expected_length {
            if length < expected {
                let error = anyhow!("body cut short: got {length} of {expected} bytes");
                return Err((error, Retry::Worthwhile));
            }
        }
        if actual != self.file.sha256 {
            let mismatch = ChecksumMismatch {
                origin: self.origin.to_string(),
                expected: self.file.sha256.clone(),
                actual,
            };
            return Err((mismatch.into(), Retry::Pointless));
        }
        Ok((length, actual))
    }

    fn read_or_write_error(&self, err: CopyError, temp: &Path) -> anyhow::Error {
        match err {
            CopyError::Read(received, err) => match (self.stall_timeout, self.expected_length) {
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
}

enum CopyError {
    Read(u64, io::Error),
    Write(io::Error),
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
    activity: Option<&Activity>,
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
        if let Some(activity) = activity {
            activity.received(n);
        }
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
/// holds only the second format still beats upstream. Blank mirror entries are skipped.
pub(crate) fn origins<'pin>(pin: &'pin Pin, mirrors: &[String]) -> Result<Vec<Origin<'pin>>> {
    let mut origins = Vec::new();
    for mirror in mirrors.iter().map(|mirror| mirror.trim()).filter(|mirror| !mirror.is_empty()) {
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

/// A list of mirror base URLs as a user writes it (an environment variable, a config line):
/// separated by whitespace, empty entries ignored, so that an empty `KARDEL_MIRRORS` means no
/// mirror and a double space is harmless. Each is checked as [`Fetcher::mirrors`] would use it,
/// so a typo is reported here, quoting it, rather than at the first download.
pub fn parse_mirror_list(text: &str) -> Result<Vec<String>> {
    let mirrors: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    for mirror in &mirrors {
        // The file name only makes a location to check; any plain name will do.
        mirror_location(mirror, "x")?;
    }
    Ok(mirrors)
}

fn mirror_location(mirror: &str, file_name: &str) -> Result<Location> {
    let base = mirror.trim_end_matches('/');
    if let Some(path) = base.strip_prefix("file://") {
        if !path.starts_with('/') {
            bail!(
                "mirror `{mirror}`: a file:// mirror needs an absolute path, like file:///srv/mirror"
            );
        }
        return Ok(Location::LocalFile(Path::new(path).join(file_name)));
    }
    // http:// is accepted too, for a server on the local network: the pin protects the bytes.
    if base.starts_with("https://") || base.starts_with("http://") {
        return Ok(Location::Http(format!("{base}/{file_name}")));
    }
    bail!(
        "mirror `{mirror}`: expected a URL starting with https:// or file:// \
         (a local folder is file:///path/to/folder)"
    )
}

/// One error for the pins `fetch_all` could not fetch (at least one). A cache folder that cannot
/// be written is the same error for every pin, so it is reported once. When every failure is a
/// [`FetchFailed`] they are merged into one, so that a caller's `downcast_ref::<FetchFailed>()`
/// finds it whatever the number of pins; otherwise each error is listed.
fn combine_failures(mut failures: Vec<anyhow::Error>) -> anyhow::Error {
    if let Some(cache) = failures.iter().position(|err| err.is::<CacheNotWritable>()) {
        return failures.swap_remove(cache);
    }
    if failures.len() == 1 {
        return failures.remove(0);
    }
    if failures.iter().all(|err| err.is::<FetchFailed>()) {
        let mut wanted = Vec::new();
        let mut attempts = Vec::new();
        for failure in failures {
            let failed: FetchFailed = failure.downcast().expect("checked just above");
            wanted.push(failed.wanted);
            attempts.extend(failed.attempts);
        }
        return FetchFailed { wanted: wanted.join(" and "), attempts }.into();
    }
    let listed: Vec<String> = failures.iter().map(|err| format!("{err:#}")).collect();
    anyhow!("{} downloads failed:\n{}", failures.len(), listed.join("\n"))
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
                error: mirror `/srv/mirror`: expected a URL starting with https:// or file:// (a local folder is file:///path/to/folder)
            "#]],
        );
        check_origins(
            &["file://srv/mirror"],
            expect_test::expect![[r#"
                error: mirror `file://srv/mirror`: a file:// mirror needs an absolute path, like file:///srv/mirror
            "#]],
        );
    }

    #[test]
    fn blank_mirrors_are_skipped() {
        check_origins(
            &["", "  ", "file:///srv/mirror"],
            expect_test::expect![[r#"
                file:///srv/mirror/linux-1.0.tar.xz
                file:///srv/mirror/linux-1.0.tar.gz
                https://upstream.invalid/v5.x/linux-1.0.tar.xz
                https://upstream.invalid/v5.x/linux-1.0.tar.gz
            "#]],
        );
    }

    #[test]
    fn mirror_lists_as_written() {
        let parse = |text: &str| parse_mirror_list(text).map_err(|err| format!("{err:#}"));
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("   "), Ok(vec![]));
        assert_eq!(
            parse(" file:///srv/a  https://near.invalid/b\n"),
            Ok(vec!["file:///srv/a".to_string(), "https://near.invalid/b".to_string()])
        );
        assert_eq!(
            parse("file:///srv/a ftp://near.invalid/b"),
            Err("mirror `ftp://near.invalid/b`: expected a URL starting with https:// or file:// \
                 (a local folder is file:///path/to/folder)"
                .to_string())
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
