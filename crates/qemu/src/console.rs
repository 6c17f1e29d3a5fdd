//! Reading a guest's serial console, without IO: bytes in, events out.
//!
//! QEMU hands over the console in arbitrary chunks, and the most interesting text is not
//! line-terminated (a shell prompt, BusyBox's "Please press Enter" waiting on the same line), so
//! the watcher looks at finished lines for kernel messages and at the unfinished last line for
//! prompts.

use std::fmt;

/// Something the console showed that a caller waits for or stops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// `Run /init as init process`: the kernel starts an init program (it prints one line per
    /// candidate it tries).
    InitStarted,
    /// BusyBox init's askfirst: `Please press Enter to activate this console.`
    PressEnter,
    /// A shell prompt such as `/ # `, waiting for input.
    ShellPrompt,
    /// `reboot: Power down`: the guest turned the machine off.
    PowerDown,
    /// The boot failed; nothing good follows.
    Failure(FailureKind),
}

/// The ways a boot is known to fail, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `VFS: Unable to mount root fs`: no driver or no device for `root=` (an initrd boot on a
    /// kernel without RAM disk or ext4, or an initramfs that the kernel could not unpack).
    CannotMountRoot,
    /// `No working init found`: neither rdinit/init nor any default init could be executed.
    NoWorkingInit,
    /// `Requested init ... failed`: the `init=` program is missing or not executable.
    RequestedInitFailed,
    /// `Warning: unable to open an initial console.`: the root has no /dev/console, so init
    /// runs without stdin/stdout and the console stays silent.
    NoInitialConsole,
    /// Any other `Kernel panic`.
    KernelPanic,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::CannotMountRoot => "the kernel could not mount the root filesystem",
            FailureKind::NoWorkingInit => "the kernel found no init program it could run",
            FailureKind::RequestedInitFailed => "the kernel could not run the requested init",
            FailureKind::NoInitialConsole => "the kernel could not open /dev/console for init",
            FailureKind::KernelPanic => "the kernel panicked",
        })
    }
}

/// One event and where it was seen: `offset` is the transcript length just after the text
/// that caused it, so text after an event can be searched from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    pub event: ConsoleEvent,
    pub offset: usize,
}

/// Failures as they appear in a line, lowercase (the kernel's capitalisation has changed across
/// versions, e.g. "Warning: unable to open an initial console"), most specific first: a panic
/// line names its cause, and the cause is what a reader needs.
const FAILURE_PATTERNS: &[(&str, FailureKind)] = &[
    ("vfs: unable to mount root fs", FailureKind::CannotMountRoot),
    ("no working init found", FailureKind::NoWorkingInit),
    ("requested init ", FailureKind::RequestedInitFailed),
    ("unable to open an initial console", FailureKind::NoInitialConsole),
    ("kernel panic", FailureKind::KernelPanic),
];

const PRESS_ENTER: &str = "please press enter to activate this console";

/// Unfinished lines longer than this are not looked at for prompts.
const LONGEST_UNFINISHED_LINE: usize = 1024;

/// A prompt's word is a path or a shell's name; longer words are output.
const LONGEST_PROMPT_WORD: usize = 40;

/// Feeds on console bytes, keeps the whole transcript, and reports [`ConsoleEvent`]s.
#[derive(Debug, Default)]
pub struct ConsoleWatcher {
    transcript: Vec<u8>,
    /// Where the last, unfinished line starts.
    line_start: usize,
    /// Events already reported for the unfinished line, so that finishing it or feeding more
    /// of it does not report them again.
    reported_on_line: Vec<ConsoleEvent>,
    sightings: Vec<Sighting>,
}

impl ConsoleWatcher {
    pub fn new() -> ConsoleWatcher {
        ConsoleWatcher::default()
    }

    /// Adds console output and returns the events it completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> &[Sighting] {
        let already = self.sightings.len();
        let mut scan = self.transcript.len();
        self.transcript.extend_from_slice(bytes);
        while let Some(newline) = self.transcript[scan..].iter().position(|&b| b == b'\n') {
            let end = scan + newline + 1;
            self.finish_line(end);
            scan = end;
        }
        self.look_at_unfinished_line();
        &self.sightings[already..]
    }

    /// Treats the unfinished last line as finished: call when the console has closed, so a
    /// message cut off by QEMU exiting is still seen.
    pub fn close(&mut self) -> &[Sighting] {
        let already = self.sightings.len();
        if self.line_start < self.transcript.len() {
            self.finish_line(self.transcript.len());
        }
        &self.sightings[already..]
    }

    /// Every byte fed so far, unchanged.
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }

    /// Every event so far, in order.
    pub fn sightings(&self) -> &[Sighting] {
        &self.sightings
    }

    /// The first failure seen, if any.
    pub fn failure(&self) -> Option<FailureKind> {
        self.sightings.iter().find_map(|s| match s.event {
            ConsoleEvent::Failure(kind) => Some(kind),
            _ => None,
        })
    }

    fn finish_line(&mut self, end: usize) {
        let line = String::from_utf8_lossy(&self.transcript[self.line_start..end]).to_lowercase();
        let mut found = Vec::new();
        if let Some((_, kind)) = FAILURE_PATTERNS.iter().find(|(pattern, _)| line.contains(pattern))
        {
            found.push(ConsoleEvent::Failure(*kind));
        }
        if line.contains("reboot: power down") {
            found.push(ConsoleEvent::PowerDown);
        }
        if line.contains("run /") && line.contains(" as init process") {
            found.push(ConsoleEvent::InitStarted);
        }
        if line.contains(PRESS_ENTER) {
            found.push(ConsoleEvent::PressEnter);
        }
        // a prompt followed by what was typed at it: the same event a chunk ending right after
        // the prompt reports earlier, so what is reported does not depend on chunking
        if line.split('\r').any(|segment| prompt_length(&printable(segment.as_bytes())).is_some()) {
            found.push(ConsoleEvent::ShellPrompt);
        }
        for event in found {
            if !self.reported_on_line.contains(&event) {
                self.sightings.push(Sighting { event, offset: end });
            }
        }
        self.line_start = end;
        self.reported_on_line.clear();
    }

    fn look_at_unfinished_line(&mut self) {
        let line = &self.transcript[self.line_start..];
        // prompts are short: a long unfinished line is output, and looking at it again on every
        // chunk would make a console that never ends its line quadratic
        if line.is_empty() || line.len() > LONGEST_UNFINISHED_LINE {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let mut found = Vec::new();
        if text.to_lowercase().contains(PRESS_ENTER) {
            found.push(ConsoleEvent::PressEnter);
        }
        if looks_like_prompt(&text) {
            found.push(ConsoleEvent::ShellPrompt);
        }
        for event in found {
            if !self.reported_on_line.contains(&event) {
                self.reported_on_line.push(event);
                self.sightings.push(Sighting { event, offset: self.transcript.len() });
            }
        }
    }
}

/// An unfinished line that ends in a prompt: what is visible after the last carriage return is
/// a prompt and nothing more.
fn looks_like_prompt(unfinished_line: &str) -> bool {
    let last_segment = unfinished_line.rsplit('\r').next().unwrap_or("");
    let visible = printable(last_segment.as_bytes());
    prompt_length(&visible) == Some(visible.len())
}

/// The length of the prompt `visible` starts with, if it does: a short word without spaces
/// (`/`, `~`, `sh-5.2`), an optional space, then `# ` or `$ `, as in `/ # `, BusyBox's default.
/// Kernel messages, which start with `[`, are never prompts. A bare `# ` is not recognised: too
/// many outputs (comments, this log's own header) start that way.
fn prompt_length(visible: &str) -> Option<usize> {
    let end = visible.find(['#', '$'])?;
    if !visible[end + 1..].starts_with(' ') {
        return None;
    }
    let word = visible[..end].strip_suffix(' ').unwrap_or(&visible[..end]);
    let plausible = !word.is_empty()
        && word.len() <= LONGEST_PROMPT_WORD
        && !word.contains(char::is_whitespace)
        && !word.starts_with('[');
    plausible.then_some(end + 2)
}

/// The kernel's panic message in a console transcript or an error that quotes one: the first
/// `Kernel panic - not syncing: ...` line from `Kernel panic` on (a timestamp or a prefix such as
/// LAVA's cut off). The runner, the bisect and the LAVA results all say why a machine died by it.
pub fn panic_line(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        let at = line.find(PANIC)?;
        Some(line[at..].trim_end())
    })
}

/// What the kernel prints when it gives up.
const PANIC: &str = "Kernel panic - not syncing";

/// Console bytes as text fit for a terminal or an error message: terminal control sequences
/// (SeaBIOS clears the screen, BusyBox's shell asks for the cursor position) and carriage
/// returns removed, since printing them could wipe the very report that shows them.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // a CSI sequence runs from ESC [ to a final byte in @..~; other escapes, such as
            // ESC c (reset), are two characters
            '\x1b' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The last `n` lines of a text.
pub fn last_lines(text: &str, n: usize) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((newline, _)) if n > 0 => &text[newline + 1..],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(watcher: &ConsoleWatcher) -> Vec<ConsoleEvent> {
        watcher.sightings().iter().map(|s| s.event).collect()
    }

    #[track_caller]
    fn check_chunks(chunks: &[&str], expected: &[ConsoleEvent]) {
        let mut watcher = ConsoleWatcher::new();
        for chunk in chunks {
            watcher.feed(chunk.as_bytes());
        }
        watcher.close();
        assert_eq!(events(&watcher), expected, "chunks: {chunks:?}");
    }

    use ConsoleEvent::*;

    #[test]
    fn prompt_without_newline_is_seen() {
        check_chunks(&["\r\nBusyBox v1.35.0\r\n\r\n/ # \x1b[6n"], &[ShellPrompt]);
        check_chunks(&["/ ", "# "], &[ShellPrompt]);
        check_chunks(&["~ $ "], &[ShellPrompt]);
    }

    #[test]
    fn prompt_followed_by_typing_is_seen_when_the_line_ends() {
        check_chunks(&["/ # \x1b[6necho hi\r\nhi\r\n"], &[ShellPrompt]);
        check_chunks(&["sh-5.2# ls\n"], &[ShellPrompt]);
        // BusyBox's poweroff message overwrites the prompt it interrupts
        check_chunks(&["/ # \x1b[6n\rThe system is going down NOW!\r\n"], &[ShellPrompt]);
    }

    #[test]
    fn bare_marks_and_comments_are_not_prompts() {
        check_chunks(&["# "], &[]);
        check_chunks(&["# a comment\n", "$ qemu-system-x86_64 -name kardel\n"], &[]);
        check_chunks(&["a b # c\n", "[    2.1] x # \n"], &[]);
    }

    #[test]
    fn prompt_reported_once_per_line() {
        check_chunks(
            &["/ # ", "\x1b[6n", "echo hi", "\r\n", "hi\r\n/ # "],
            &[ShellPrompt, ShellPrompt],
        );
    }

    #[test]
    fn long_or_kernel_lines_are_not_prompts() {
        check_chunks(&["[    2.1] some driver says # "], &[]);
        check_chunks(&[&format!("{}# ", "x".repeat(80))], &[]);
    }

    #[test]
    fn press_enter_before_its_line_ends_and_not_again_after() {
        check_chunks(
            &["\r\nPlease press Enter to activate this ", "console. ", "\r\n"],
            &[PressEnter],
        );
    }

    #[test]
    fn most_specific_failure_per_line() {
        check_chunks(
            &["[ 2.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n"],
            &[Failure(FailureKind::CannotMountRoot)],
        );
        check_chunks(
            &["Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000\n"],
            &[Failure(FailureKind::KernelPanic)],
        );
    }

    #[test]
    fn failures_match_any_case() {
        check_chunks(
            &["Warning: Unable to open an initial console.\n"],
            &[Failure(FailureKind::NoInitialConsole)],
        );
        check_chunks(
            &["WARNING: UNABLE TO OPEN AN INITIAL CONSOLE.\n"],
            &[Failure(FailureKind::NoInitialConsole)],
        );
    }

    #[test]
    fn a_line_cut_off_by_exit_is_seen_on_close() {
        check_chunks(&["[ 1.0] reboot: Power down"], &[PowerDown]);
    }

    #[test]
    fn offsets_point_after_the_text() {
        let mut watcher = ConsoleWatcher::new();
        watcher.feed(b"abc\nRun /init as init process\nrest");
        let sighting = watcher.sightings()[0];
        assert_eq!(sighting.event, InitStarted);
        assert_eq!(&watcher.transcript()[sighting.offset..], b"rest");
    }

    #[test]
    fn printable_drops_terminal_controls() {
        let raw = b"\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\n/ # \x1b[6necho hi\r\nhi\r\n";
        assert_eq!(printable(raw), "SeaBIOS\n/ # echo hi\nhi\n");
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a\nb\nc\n", 5), "a\nb\nc\n");
    }
}
