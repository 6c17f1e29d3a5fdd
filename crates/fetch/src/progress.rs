//! What a download shows: a bar per file on a terminal, a few plain lines in a log.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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

/// `12.3 MiB`: the unit the summary lines use whatever the size, so logs compare at a glance.
pub(crate) fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
