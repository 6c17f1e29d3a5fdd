//! A bisect of a kernel history: the verdict of each step from what building and booting it gave,
//! git's own bisect driven in a checkout of the tool's own ([`git::Checkout`]), what git says
//! after each verdict read back, and the steps as a table and JSON. Everything here but `git` and
//! `run` (the whole bisect, built and booted) is pure.

pub mod git;
pub mod run;
pub mod synthetic;

use serde::Serialize;

/// What a step's commit did, as the bisect counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Good,
    Bad,
    Skip,
}

impl Verdict {
    /// `git bisect good|bad|skip`
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        }
    }
}

/// How a step ended before its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// the kernel did not build, or a requested config value did not stick: not this bisect's
    /// question
    BuildFailed(String),
    /// the command ran and exited with this code (0 good, anything else bad)
    Exited(u8),
    /// the checks of `check` (no command given): passed, or failed with why
    Checked(Result<(), String>),
    /// the kernel panicked at boot
    Panicked(String),
    /// the machine failed otherwise (a hang, no init, QEMU itself): exit code 125
    MachineFailed(String),
}

/// What to count a boot panic as: a panic usually is the regression, but a bisect for something
/// else may want to step over one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicIs {
    #[default]
    Bad,
    Skip,
}

impl Outcome {
    pub fn verdict(&self, panic: PanicIs) -> Verdict {
        match self {
            Outcome::BuildFailed(_) | Outcome::MachineFailed(_) => Verdict::Skip,
            Outcome::Exited(0) | Outcome::Checked(Ok(())) => Verdict::Good,
            Outcome::Exited(_) | Outcome::Checked(Err(_)) => Verdict::Bad,
            Outcome::Panicked(_) => match panic {
                PanicIs::Bad => Verdict::Bad,
                PanicIs::Skip => Verdict::Skip,
            },
        }
    }

    /// Why, in a few words: `exit 1`, `build failed: ...`, `panic: ...`.
    pub fn reason(&self) -> String {
        match self {
            Outcome::BuildFailed(why) => format!("build failed: {why}"),
            Outcome::Exited(code) => format!("exit {code}"),
            Outcome::Checked(Ok(())) => "checks passed".to_string(),
            Outcome::Checked(Err(why)) => format!("check failed: {why}"),
            Outcome::Panicked(line) => format!("panic: {line}"),
            Outcome::MachineFailed(why) => format!("machine failed: {why}"),
        }
    }
}

/// Where git's bisect stands after a verdict (or at the start, or after a replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// a commit is checked out to test; about this many steps after it
    Testing { steps_left: u32 },
    /// the answer
    FirstBad(String),
    /// only skipped commits are left: the first bad one is one of these
    OnlySkipped(Vec<String>),
}

/// Reads what `git bisect start|good|bad|skip|replay` printed.
pub fn parse_progress(output: &str) -> Option<Progress> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    if let Some(line) = lines.iter().find(|l| l.ends_with(" is the first bad commit")) {
        let hash = line.trim_end_matches(" is the first bad commit");
        return Some(Progress::FirstBad(hash.to_string()));
    }
    if lines.iter().any(|l| l.starts_with("There are only 'skip'ped commits left to test")) {
        let candidates = lines
            .iter()
            .skip_while(|l| !l.starts_with("The first bad commit could be any of"))
            .skip(1)
            .take_while(|l| !l.starts_with("We cannot bisect more"))
            .filter(|l| is_hash(l))
            .map(|l| l.to_string())
            .collect();
        return Some(Progress::OnlySkipped(candidates));
    }
    // "Bisecting: 7 revisions left to test after this (roughly 3 steps)"
    lines.iter().rev().find_map(|l| {
        let rest = l.strip_prefix("Bisecting: ")?;
        let steps = rest.split_once("(roughly ").map(|(_, s)| s).unwrap_or("0 step");
        let steps_left = steps.split_whitespace().next()?.parse().ok()?;
        Some(Progress::Testing { steps_left })
    })
}

fn is_hash(text: &str) -> bool {
    text.len() >= 7 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// A commit as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commit {
    pub hash: String,
    pub subject: String,
}

impl Commit {
    pub fn short(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }
}

/// One tested commit.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub commit: Commit,
    pub verdict: Verdict,
    pub reason: String,
    pub build_seconds: f64,
    pub boot_seconds: f64,
}

impl Step {
    /// The line printed as the bisect goes.
    pub fn line(&self, number: usize, steps_left: Option<u32>) -> String {
        let left = match steps_left {
            Some(0) => ", last step".to_string(),
            Some(n) => format!(", about {n} step(s) left"),
            None => String::new(),
        };
        format!(
            "bisect: step {number}: {} {:?}: {} ({}); build {:.1}s, boot {:.1}s{left}",
            self.commit.short(),
            self.commit.subject,
            self.verdict.word(),
            self.reason,
            self.build_seconds,
            self.boot_seconds
        )
    }
}

/// The whole bisect, as the end of a run and `--json` give it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub good: String,
    pub bad: String,
    /// the answer, when git found one
    pub first_bad: Option<FirstBad>,
    /// when only skipped commits are left: the first bad one is among these
    pub candidates: Vec<String>,
    pub steps: Vec<Step>,
    /// the good end, tested when no step was good: git trusts `--good`, and a test that fails
    /// everywhere would otherwise name the commit after it
    pub good_end: Option<Step>,
    /// `git bisect log`, which `--replay` takes
    pub log: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirstBad {
    #[serde(flatten)]
    pub commit: Commit,
    pub author: String,
}

impl Report {
    /// The answer and the table of steps.
    pub fn summary(&self) -> String {
        let mut out = match &self.first_bad {
            Some(_) if !self.good_end_is_good() => format!(
                "no first bad commit: --good {} is not good here either ({}): the test fails at \
                 both ends, so nothing in the range made it fail\n",
                short(&self.good),
                self.good_end.as_ref().map(|s| s.reason.as_str()).unwrap_or_default()
            ),
            Some(first) => format!(
                "first bad commit: {} {}\n  author: {}\n",
                first.commit.hash, first.commit.subject, first.author
            ),
            None if !self.candidates.is_empty() => format!(
                "no single first bad commit: only skipped commits are left, the first bad one is \
                 one of:\n{}",
                self.candidates.iter().map(|c| format!("  {c}\n")).collect::<String>()
            ),
            None => "no first bad commit found\n".to_string(),
        };
        out.push_str(&format!(
            "{} step(s) between {} (good) and {} (bad):\n",
            self.steps.len(),
            short(&self.good),
            short(&self.bad)
        ));
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!(
                "  {:>2}  {}  {:<4}  build {:>6.1}s  boot {:>5.1}s  {}  ({})\n",
                n + 1,
                step.commit.short(),
                step.verdict.word(),
                step.build_seconds,
                step.boot_seconds,
                step.commit.subject,
                step.reason
            ));
        }
        out
    }

    /// Whether the good end is good, or untested (some step was good).
    pub fn good_end_is_good(&self) -> bool {
        self.good_end.as_ref().is_none_or(|s| s.verdict == Verdict::Good)
    }

    /// The first bad commit, when the bisect has one to name.
    pub fn answer(&self) -> Option<&FirstBad> {
        self.first_bad.as_ref().filter(|_| self.good_end_is_good())
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_bisect_output_is_read() {
        let start = "Bisecting: 7 revisions left to test after this (roughly 3 steps)\n\
                     [0123456789abcdef0123456789abcdef01234567] init: step 8\n";
        assert_eq!(parse_progress(start), Some(Progress::Testing { steps_left: 3 }));
        let last = "Bisecting: 0 revisions left to test after this (roughly 0 steps)\n[abc] x\n";
        assert_eq!(parse_progress(last), Some(Progress::Testing { steps_left: 0 }));
        let found = "4b825dc642cb6eb9a060e54bf8d69288fbee4904 is the first bad commit\n\
                     commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nAuthor: A <a@b>\n";
        assert_eq!(
            parse_progress(found),
            Some(Progress::FirstBad("4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()))
        );
        let skipped = "There are only 'skip'ped commits left to test.\n\
                       The first bad commit could be any of:\n\
                       1111111111111111111111111111111111111111\n\
                       2222222222222222222222222222222222222222\n\
                       We cannot bisect more!\n";
        assert_eq!(
            parse_progress(skipped),
            Some(Progress::OnlySkipped(vec!["1".repeat(40), "2".repeat(40)]))
        );
        assert_eq!(parse_progress("fatal: bad revision"), None);
    }

    #[test]
    fn a_good_end_that_is_bad_leaves_no_first_bad_commit() {
        let step = |verdict| Step {
            commit: Commit { hash: "a".repeat(40), subject: "base".into() },
            verdict,
            reason: "exit 1".into(),
            build_seconds: 1.0,
            boot_seconds: 1.0,
        };
        let first = FirstBad {
            commit: Commit { hash: "b".repeat(40), subject: "next".into() },
            author: "A <a@b>".into(),
        };
        let mut report = Report {
            good: "a".repeat(40),
            bad: "c".repeat(40),
            first_bad: Some(first),
            candidates: Vec::new(),
            steps: vec![step(Verdict::Bad)],
            good_end: Some(step(Verdict::Bad)),
            log: String::new(),
        };
        assert!(report.answer().is_none());
        assert!(
            report.summary().starts_with(
                "no first bad commit: --good aaaaaaaaaaaa is not good here either (exit 1)"
            ),
            "{}",
            report.summary()
        );
        report.good_end = Some(step(Verdict::Good));
        assert!(report.answer().is_some());
        assert!(report.summary().starts_with("first bad commit: bbbb"));
    }

    #[test]
    fn outcomes_give_git_bisect_runs_verdicts() {
        let bad_panic = Outcome::Panicked("Kernel panic - not syncing: x".into());
        assert_eq!(Outcome::Exited(0).verdict(PanicIs::Bad), Verdict::Good);
        assert_eq!(Outcome::Exited(1).verdict(PanicIs::Bad), Verdict::Bad);
        assert_eq!(Outcome::Exited(3).verdict(PanicIs::Bad), Verdict::Bad);
        assert_eq!(Outcome::BuildFailed("x".into()).verdict(PanicIs::Bad), Verdict::Skip);
        assert_eq!(Outcome::MachineFailed("x".into()).verdict(PanicIs::Bad), Verdict::Skip);
        assert_eq!(bad_panic.verdict(PanicIs::Bad), Verdict::Bad);
        assert_eq!(bad_panic.verdict(PanicIs::Skip), Verdict::Skip);
        assert_eq!(Outcome::Checked(Err("no prompt".into())).verdict(PanicIs::Bad), Verdict::Bad);
    }
}
