//! Saying so while a server is silent. ureq ends a transfer after `stall_timeout` without a byte
//! (its per-read timeout); until then a stalled download would look exactly like a slow one, and
//! with no bar (stderr not a terminal) like a hang. A watcher thread per HTTP attempt prints a
//! line each third of the limit that passes without a byte, naming the URL and how long it has
//! been silent, so a user or a log sees the stall as it happens rather than when it ends.

use std::{
    sync::{Condvar, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::progress::{seconds, Progress};

/// What one attempt has done lately; shared between the thread doing the transfer and the one
/// watching it.
pub(crate) struct Activity {
    state: Mutex<State>,
    /// Signalled when the attempt ends, so the watcher stops at once rather than at its next
    /// report.
    ended: Condvar,
}

struct State {
    last_byte: Instant,
    answered: bool,
    received: u64,
    ended: bool,
}

impl Activity {
    fn new() -> Activity {
        let state = State { last_byte: Instant::now(), answered: false, received: 0, ended: false };
        Activity { state: Mutex::new(state), ended: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data that stays consistent whatever panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server sent its response head.
    pub(crate) fn answered(&self) {
        let mut state = self.lock();
        state.answered = true;
        state.last_byte = Instant::now();
    }

    /// `bytes` of the body arrived.
    pub(crate) fn received(&self, bytes: usize) {
        let mut state = self.lock();
        state.received += bytes as u64;
        state.last_byte = Instant::now();
    }

    fn end(&self) {
        self.lock().ended = true;
        self.ended.notify_all();
    }
}

/// Runs `attempt` while a watcher reports every `limit / 3` of silence from `url`.
pub(crate) fn reporting_silence<T>(
    url: &str,
    limit: Duration,
    progress: &Progress,
    attempt: impl FnOnce(&Activity) -> T,
) -> T {
    let activity = Activity::new();
    std::thread::scope(|scope| {
        scope.spawn(|| watch(&activity, url, limit, progress));
        // Ends the watcher even if `attempt` panics: the scope waits for it before unwinding on.
        let _end = EndOnDrop(&activity);
        attempt(&activity)
    })
}

struct EndOnDrop<'a>(&'a Activity);

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

fn watch(activity: &Activity, url: &str, limit: Duration, progress: &Progress) {
    // A third of the limit: with the default 15 s a line at 5 s and 10 s, then the attempt ends
    // with its own line. The third report would coincide with that line and is skipped, as is
    // every third after it (were a phase with a longer limit, such as connecting, to run on).
    let interval = (limit / 3).max(Duration::from_millis(100));
    let mut state = activity.lock();
    let mut silence_of = state.last_byte;
    let mut report = 1u32;
    loop {
        if state.ended {
            return;
        }
        if state.last_byte != silence_of {
            silence_of = state.last_byte;
            report = 1;
        }
        if report.is_multiple_of(3) {
            report += 1;
        }
        let next_report = interval * report;
        let silent = silence_of.elapsed();
        if silent < next_report {
            state = activity
                .ended
                .wait_timeout(state, next_report - silent)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        let so_far = if state.answered {
            format!("after {} bytes of the body", state.received)
        } else {
            "no response yet".to_string()
        };
        // Printed without the lock held: a bar redraw may take a while.
        drop(state);
        progress.note(&format!(
            "waiting on {url}: nothing received for {}, {so_far} (giving up after {} of silence)",
            seconds(silent),
            seconds(limit)
        ));
        report += 1;
        state = activity.lock();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A panicking attempt must not leave the scope waiting for the watcher forever.
    #[test]
    fn a_panicking_attempt_ends_the_watcher() {
        let started = Instant::now();
        let progress = Progress::new();
        let result = std::panic::catch_unwind(|| {
            reporting_silence("http://test.invalid/x", Duration::from_secs(60), &progress, |_| {
                panic!("the attempt failed badly")
            })
        });
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
