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
//! default_cache_dir() -> Result<PathBuf>  // $XDG_CACHE_HOME/kardel/downloads or ~/.cache/...
//!
//! Source::{Pinned(&Pin), LocalTarball(PathBuf), LocalTree(PathBuf)}
//! Source::local(path) -> Result<Source>             // a folder is a tree, a file a tarball
//! Source::source_tree(&self, &Fetcher, unpack_root) -> Result<PathBuf>
//! unpack(archive, dest_dir) -> Result<PathBuf>      // dest_dir/<the archive's top folder>
//! unpacked_tree(dest_dir) -> Option<PathBuf>        // what a finished unpack left there
//! ```
//!
//! Order of origins for a pin: each mirror with each of the pin's files in listed order (xz
//! before gz), then each file's upstream URLs. Tries go round all origins before any is
//! retried; a 404, a redirect loop or a checksum mismatch rules an origin out at once.
//!
//! Invariants, stated as absences:
//! - No file under a cache name has bytes other than its pin's: downloads are hashed as they
//!   stream into a temporary name and renamed only when the sha256 matches; any failure
//!   removes the temporary file. A cached file that no longer matches is reported and replaced.
//! - No origin is trusted: mirrors (`https://`, `http://`, `file://`) are tried before upstream,
//!   and the pin is enforced for all of them.
//! - No half-unpacked tree sits under a final name: archives are unpacked beside their
//!   destination and renamed into place when complete.
//! - No archive entry lands outside its one top-level folder (`..`, absolute paths, symlink and
//!   hard link tricks are refused, naming the entry).
//!
//! Errors a caller may branch on: [`FetchFailed`] (every origin failed, with each attempt) and
//! [`ChecksumMismatch`] (inside its attempts: bytes that do not match the pin).

mod fetcher;
mod pins;
mod progress;
mod source;
mod unpack;

pub use fetcher::{default_cache_dir, ChecksumMismatch, FailedAttempt, FetchFailed, Fetcher};
pub use pins::{Package, Pin, PinTable, PinnedFile};
pub use source::Source;
pub use unpack::{unpack, unpacked_tree};
