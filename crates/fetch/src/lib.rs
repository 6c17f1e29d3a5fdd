//! Getting source trees: pinned upstream tarballs through a verified download cache, or local
//! tarballs and trees. Nothing else in the workspace touches the network.
//!
//! ```text
//! PinTable::builtin() -> &'static PinTable          // crates/fetch/pins.toml, compiled in
//! PinTable::parse(&str) -> Result<PinTable>         // same format, checked
//! PinTable::lookup(&self, Package, Option<&str>) -> Result<&Pin>   // None: the default version
//! PinTable::all(&self) -> &[Pin]
//! Pin { package, version, default, files: Vec<PinnedFile> }
//! PinnedFile { name, sha256, urls, published }
//!
//! Fetcher::new(cache_dir) -> Fetcher    // pub fields: mirrors, connect_timeout, stall_timeout,
//!                                       // attempts_per_origin, retry_backoff, max_redirects
//! Fetcher::fetch(&self, &Pin) -> Result<PathBuf>    // a cached file with the pinned sha256
//! Fetcher::fetch_all(&self, &[&Pin]) -> Result<Vec<PathBuf>>   // one thread per pin
//! FetchFailed::all_unreachable(&self) -> bool       // no origin answered at all
//! FetchFailed::checksum_mismatches(&self) -> impl Iterator<Item = &ChecksumMismatch>
//! parse_mirror_list(&str) -> Result<Vec<String>>    // whitespace-separated, blanks ignored
//! default_cache_dir() -> Result<PathBuf>  // $XDG_CACHE_HOME/kardel/downloads or ~/.cache/...
//!
//! Source::{Pinned(&Pin), LocalTarball(PathBuf), LocalTree(PathBuf)}
//! Source::local(path) -> Result<Source>             // a folder is a tree, a file a tarball
//! Source::source_tree(&self, &Fetcher, unpack_root) -> Result<PathBuf>
//! unpack(archive, dest_dir) -> Result<PathBuf>      // dest_dir/<the archive's top folder>
//! unpacked_tree(dest_dir) -> Option<PathBuf>        // what a finished unpack left there
//! answers(url, within) -> Result<u16, String>       // an HTTP status, or why no answer came
//! ```
//!
//! Order of origins for a pin: each mirror with each of the pin's files in listed order (xz
//! before gz), then each file's upstream URLs. Tries go round all origins before any is
//! retried; a 404, a redirect loop or a checksum mismatch rules an origin out at once. A server
//! that goes silent is reported on stderr while it is (every third of `stall_timeout`, 15 s by
//! default) and abandoned after `stall_timeout` without a byte.
//!
//! What a user sees on stderr: a line per origin tried and per failure, a bar per download and
//! per unpack on a terminal, and a closing line for each verified download and each unpack.
//!
//! Invariants, stated as absences:
//! - No file under a cache name has bytes other than its pin's: downloads are hashed as they
//!   stream into a temporary name and renamed only when the sha256 matches; any failure
//!   removes the temporary file. A cached file that no longer matches is reported and replaced.
//! - No temporary is opened that this run did not create: download temporaries are created with
//!   `create_new`, so a symlink or file planted at the name is skipped, never followed or reused.
//! - No temporary outlives the next run: a run killed by a signal cannot clean up, so temporary
//!   names carry the process id, and the next download or unpack of the same name removes those
//!   of processes that are gone.
//! - No request is made into a cache folder that cannot be written: that is one error naming
//!   the folder and the OS error, before any origin is tried.
//! - No origin is trusted: mirrors (`https://`, `http://`, `file://`) are tried before upstream,
//!   and the pin is enforced for all of them.
//! - No half-unpacked tree sits under a final name: archives are unpacked beside their
//!   destination and renamed into place when complete.
//! - No archive entry lands outside its one top-level folder (`..`, absolute paths, symlink and
//!   hard link tricks are refused, naming the entry).
//!
//! Errors a caller may branch on, with `anyhow::Error::downcast_ref` (which sees through any
//! context added on the way up): [`FetchFailed`] (every origin failed, with each attempt; from
//! `fetch`, from `fetch_all` whatever the number of pins that failed, and from
//! `Source::source_tree`) and [`ChecksumMismatch`] (inside its attempts: bytes that do not match
//! the pin). `FetchFailed::all_unreachable` says whether any origin answered at all, for a hint
//! such as "offline? use a file:// mirror".

mod fetcher;
mod pins;
mod probe;
mod progress;
mod silence;
mod source;
mod temps;
mod unpack;

pub use fetcher::{
    default_cache_dir, parse_mirror_list, ChecksumMismatch, FailedAttempt, FetchFailed, Fetcher,
};
pub use pins::{Package, Pin, PinTable, PinnedFile};
pub use probe::answers;
pub use source::Source;
pub use unpack::{unpack, unpacked_tree};
