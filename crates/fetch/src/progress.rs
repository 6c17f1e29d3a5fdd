//! What a download or an unpack shows: a bar per file on a terminal, a few plain lines in a log.

use std::{
    io::{self, IsTerminal, Read},
    path::Path,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shared by every download of one `fetch`/`fetch_all` call so that parallel bars stack.
pub(crate) struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let bars = std::io::stderr().is_terminal().then(MultiProgress::new);
        Progress { bars }
    }

    /// A line of its own; above the bars when they are drawn, so it does not tear them.
    pub(crate) fn note(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                if bars.println(line).is_err() {
                    eprintln!("{line}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    /// A bar for one transfer (on a terminal); the caller has already said where from.
    pub(crate) fn start_transfer(&self, name: &str, total_bytes: Option<u64>) -> Transfer {
        let bar = match &self.bars {
            Some(bars) => {
                let bar = match total_bytes {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                        )
                        .expect("static template")
                        .progress_chars("=> "),
                    ),
                    // Without a length the best we can show is how much arrived and how fast.
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{spinner} {prefix} {bytes} {binary_bytes_per_sec}")
                            .expect("static template"),
                    ),
                };
                let bar = bars.add(bar.with_prefix(name.to_string()));
                bar.enable_steady_tick(Duration::from_millis(250));
                Some(bar)
            }
            None => None,
        };
        Transfer { bar, started: Instant::now() }
    }
}

pub(crate) struct Transfer {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Transfer {
    pub(crate) fn advance(&self, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes as u64);
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Redraws per second of an unpack bar: enough to look alive, few enough that a slow terminal
/// (or a terminal recorded to a file) is not flooded during a 20-second kernel unpack.
const UNPACK_REDRAWS_PER_SECOND: u8 = 4;

/// What an unpack shows. On a terminal: a bar of how much of the archive has been read (the
/// compressed size is known up front, so the bar and its ETA are honest) and how many entries
/// have been written. Everywhere: one line when it is done, so a log explains where the time
/// went without being filled with progress.
pub(crate) struct UnpackProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    entries: u64,
    bytes: u64,
}

impl UnpackProgress {
    /// `compressed_len` is the archive's size, when known.
    pub(crate) fn start(archive: &Path, compressed_len: Option<u64>) -> UnpackProgress {
        let name =
            archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bar = io::stderr().is_terminal().then(|| {
            let target = ProgressDrawTarget::stderr_with_hz(UNPACK_REDRAWS_PER_SECOND);
            let (bar, template) = match compressed_len {
                Some(len) => (
                    ProgressBar::with_draw_target(Some(len), target),
                    "unpacking {prefix} [{bar:30}] {percent}% {msg} eta {eta}",
                ),
                None => (
                    ProgressBar::with_draw_target(None, target),
                    "{spinner} unpacking {prefix}: {bytes} read, {msg}",
                ),
            };
            let style = ProgressStyle::with_template(template)
                .expect("static template")
                .progress_chars("=> ");
            let bar = bar.with_style(style).with_prefix(name).with_message("0 entries");
            // Drawn at once, so the bar is there from the start however quick the unpack.
            bar.tick();
            // Redraws even while one large file is being written and no entry completes.
            bar.enable_steady_tick(Duration::from_millis(
                1000 / u64::from(UNPACK_REDRAWS_PER_SECOND),
            ));
            bar
        });
        UnpackProgress { bar, started: Instant::now(), entries: 0, bytes: 0 }
    }

    /// `compressed` with every byte read from it counted on the bar; it may be read on another
    /// thread (the decompressor's).
    pub(crate) fn counting<R: Read>(&self, compressed: R) -> CountingReader<R> {
        CountingReader { inner: compressed, bar: self.bar.clone() }
    }

    /// One archive entry written, with `bytes` of content.
    pub(crate) fn entry(&mut self, bytes: u64) {
        self.entries += 1;
        self.bytes += bytes;
        // The message is redrawn a few times a second at most; formatting it for each of a
        // kernel's 75,000 entries would be wasted work.
        if let Some(bar) = &self.bar {
            if self.entries.is_multiple_of(128) {
                bar.set_message(format!("{} entries", self.entries));
            }
        }
    }

    /// Clears the bar and says what was unpacked where, on every kind of stderr.
    pub(crate) fn finish(mut self, archive: &Path, tree: &Path) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "unpacked {} into {}: {} entries, {} in {}",
            archive.display(),
            tree.display(),
            self.entries,
            mebibytes(self.bytes),
            seconds(self.started.elapsed())
        );
    }
}

impl Drop for UnpackProgress {
    /// A failed unpack leaves no bar behind; its error says what happened.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub(crate) struct CountingReader<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

/// `12.3 MiB`: the unit the summary lines use whatever the size, so logs compare at a glance.
pub(crate) fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `1.5s`: one decimal, enough to compare runs without pretending to precision.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
