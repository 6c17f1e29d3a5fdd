//! A reader for KTAP (the kernel's test output: KUnit, kselftest) and the TAP it grew from, on a
//! console or in a command's output. Pure: text in, a tree of tests out.
//!
//! Nesting follows indentation, four spaces a level, as KTAP and TAP 14 write it: a subtest's
//! lines (its header, plan, diagnostics and its own subtests' results) sit one level deeper than
//! its result line, which comes last. Lines before the first version line, plan or result are
//! not the test's (a console's boot messages); an unindented line is a diagnostic only while a
//! subtest runs.
//! A test whose result never comes (the kernel crashed, the machine was stopped) is an error
//! named by its `# Subtest:` header, never a pass; a plan that does not match is a problem, and
//! so is a missing one (but for KUnit's modules, whose documents plan their suite only).
//! `Bail out!` is a problem and ends the reading: no result after it counts.
//!
//! Diagnostics (`#` lines, and a failure report's other lines) go with a test as each format
//! places them: KTAP writes a test's before its result line (KUnit prints a case's output, then
//! its `ok`), TAP (`TAP version 13`/`14`, or no version line) after it. The kernel's own output
//! (its lines carry the kernel's times) is read as KTAP whatever its version line: KUnit before
//! KTAP (Linux 5.15) printed `TAP version 14`. A YAML block (`  ---`
//! to `  ...`) right after a result line is that test's, in both. A test with no name is named
//! by its number (`test 2`); `not ok ... # TODO` is not a failure (TAP): it counts as skipped.

use serde::Serialize;

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    /// it never finished: its result line is missing (a crash or a timeout in it)
    Error,
}

/// One test: a leaf case, or a suite (or a parameterised case) with subtests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Test {
    pub name: String,
    pub status: Status,
    /// the reason after `# SKIP` (or another directive)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directive: Option<String>,
    /// its `#` lines and the lines of its failure report, in order
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// seconds from its first line to its result, when the lines carry the kernel's times
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subtests: Vec<Test>,
}

/// What a text held: the top-level tests (KUnit's suites), and what did not add up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Results {
    pub tests: Vec<Test>,
    /// plans that did not match, `Bail out!`, output that ended inside a test
    pub problems: Vec<String>,
}

/// The counts of leaf cases by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.error
    }

    pub(crate) fn add(&mut self, other: Counts) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.skip += other.skip;
        self.error += other.error;
    }

    pub(crate) fn one(status: Status) -> Counts {
        let mut counts = Counts::default();
        match status {
            Status::Pass => counts.pass = 1,
            Status::Fail => counts.fail = 1,
            Status::Skip => counts.skip = 1,
            Status::Error => counts.error = 1,
        }
        counts
    }
}

impl Test {
    /// Its leaf cases by status. A suite counts its cases, plus itself as an error when it did
    /// not finish, or as a failure when it failed with no failing case (its setup failed).
    pub fn counts(&self) -> Counts {
        if self.subtests.is_empty() {
            return Counts::one(self.status);
        }
        let mut counts = Counts::default();
        self.subtests.iter().for_each(|t| counts.add(t.counts()));
        match self.status {
            Status::Error => counts.error += 1,
            Status::Fail if counts.fail + counts.error == 0 => counts.fail += 1,
            _ => {}
        }
        counts
    }
}

impl Results {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        self.tests.iter().for_each(|t| counts.add(t.counts()));
        counts
    }

    /// Every case passed or was skipped, at least one ran, and nothing went amiss.
    pub fn passed(&self) -> bool {
        let counts = self.counts();
        counts.fail + counts.error == 0 && counts.total() > 0 && self.problems.is_empty()
    }

    /// Another text's results after these (the suites a module ran after the built-in ones).
    pub fn extend(&mut self, more: Results) {
        self.tests.extend(more.tests);
        self.problems.extend(more.problems);
    }
}

/// One line's meaning, its indentation taken off.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// `KTAP version` (true) or `TAP version`
    Version {
        ktap: bool,
    },
    Plan {
        count: usize,
        directive: Option<&'a str>,
    },
    Result {
        ok: bool,
        number: Option<usize>,
        name: &'a str,
        directive: Option<&'a str>,
    },
    Subtest(&'a str),
    BailOut(&'a str),
    Diagnostic(&'a str),
    Other(&'a str),
}

fn classify(text: &str) -> Line<'_> {
    if text.starts_with("KTAP version ") || text.starts_with("TAP version ") {
        return Line::Version { ktap: text.starts_with('K') };
    }
    if let Some(rest) = text.strip_prefix("1..") {
        let (count, directive) = split_directive(rest);
        if let Ok(count) = count.trim().parse() {
            return Line::Plan { count, directive };
        }
    }
    let result = text
        .strip_prefix("not ok")
        .map(|rest| (false, rest))
        .or_else(|| text.strip_prefix("ok").map(|rest| (true, rest)));
    if let Some((ok, rest)) = result.filter(|(_, rest)| rest.is_empty() || rest.starts_with(' ')) {
        let (description, directive) = split_directive(rest);
        // `ok 3 - name`: the number, then an optional dash
        let description = description.trim_start();
        let digits = description.find(|c: char| !c.is_ascii_digit()).unwrap_or(description.len());
        let number = description[..digits].parse().ok();
        let description = description[digits..].trim();
        let name = match description {
            "-" => "",
            _ => description.strip_prefix("- ").unwrap_or(description).trim(),
        };
        return Line::Result { ok, number, name, directive };
    }
    if let Some(name) = text.strip_prefix("# Subtest:") {
        return Line::Subtest(name.trim());
    }
    if let Some(reason) = text.strip_prefix("Bail out!") {
        return Line::BailOut(reason.trim());
    }
    if text.starts_with('#') {
        return Line::Diagnostic(text);
    }
    Line::Other(text)
}

/// `description # DIRECTIVE reason` into the two, the directive as written after `#`.
fn split_directive(text: &str) -> (&str, Option<&str>) {
    match text.find(" # ") {
        Some(at) => (&text[..at], Some(text[at + 3..].trim())),
        None => match text.strip_prefix("# ") {
            Some(directive) => ("", Some(directive.trim())),
            None => (text, None),
        },
    }
}

fn is_skip(directive: Option<&str>) -> bool {
    is_directive(directive, "skip")
}

/// `# TODO`: a test expected to fail; its failure is not the run's (TAP).
pub(crate) fn is_todo(directive: Option<&str>) -> bool {
    is_directive(directive, "todo")
}

fn is_directive(directive: Option<&str>, word: &str) -> bool {
    directive.is_some_and(|d| d.get(..4).is_some_and(|w| w.eq_ignore_ascii_case(word)))
}

/// The columns of `text`'s indentation (a tab to the next multiple of four).
fn indent_columns(text: &str) -> usize {
    let mut columns = 0;
    for c in text.chars() {
        match c {
            ' ' => columns += 1,
            '\t' => columns = (columns / 4 + 1) * 4,
            _ => break,
        }
    }
    columns
}

/// `text` with up to `columns` columns of its indentation taken off.
fn dedent(text: &str, columns: usize) -> &str {
    let mut at = 0;
    for (i, c) in text.char_indices() {
        if !matches!(c, ' ' | '\t') || indent_columns(&text[..i]) >= columns {
            break;
        }
        at = i + c.len_utf8();
    }
    &text[at..]
}

/// The kernel's time prefix (`[   12.345678] `) and the rest of the line.
fn split_time(line: &str) -> (Option<f64>, &str) {
    let Some(rest) = line.strip_prefix('[') else { return (None, line) };
    let Some((time, text)) = rest.split_once(']') else { return (None, line) };
    match time.trim().parse::<f64>() {
        Ok(seconds) => (Some(seconds), text.strip_prefix(' ').unwrap_or(text)),
        Err(_) => (None, line),
    }
}

/// Indentation levels (four columns each; a tab is one level) and the text after them.
fn split_indent(text: &str) -> (usize, &str) {
    let mut columns = 0;
    for (at, c) in text.char_indices() {
        match c {
            ' ' => columns += 1,
            '\t' => columns = (columns / 4 + 1) * 4,
            _ => return (columns / 4, &text[at..]),
        }
    }
    (columns / 4, "")
}

/// What is gathered at one depth until the result line one level up closes it.
#[derive(Debug, Default)]
struct Level {
    header: Option<String>,
    plan: Option<usize>,
    plan_skips: Option<String>,
    tests: Vec<Test>,
    /// (line number, text): lines of several depths merge back in order
    diagnostics: Vec<(usize, String)>,
    /// the time of the first line since the last result at this depth
    started: Option<f64>,
    /// a version line, header or plan opened it
    opened: bool,
}

impl Level {
    fn has_content(&self) -> bool {
        self.opened || !self.tests.is_empty()
    }
}

/// A YAML block being read: its indentation, and the depth of the result it follows.
struct Yaml {
    columns: usize,
    depth: usize,
}

struct Reader {
    levels: Vec<Level>,
    problems: Vec<String>,
    in_document: bool,
    /// the last version line was KTAP's, or the kernel prints the lines: a test's diagnostics
    /// come before its result, and KUnit's modules plan their suites only
    ktap: bool,
    /// `Bail out!` came: nothing after it is read
    bailed: bool,
    /// the line before was a result line: its depth and indentation (a YAML block may follow)
    after_result: Option<(usize, usize)>,
    yaml: Option<Yaml>,
    last_time: Option<f64>,
    /// where the current top-level document's tests begin (KUnit's modules print one each)
    document_start: usize,
    line_number: usize,
}

/// Reads the tests in `text` (a console, or a command's output).
pub fn parse(text: &str) -> Results {
    let mut reader = Reader {
        levels: Vec::new(),
        problems: Vec::new(),
        in_document: false,
        ktap: false,
        bailed: false,
        after_result: None,
        yaml: None,
        last_time: None,
        document_start: 0,
        line_number: 0,
    };
    for line in text.lines() {
        reader.line(line.trim_end_matches('\r'));
    }
    reader.finish()
}

impl Reader {
    fn level(&mut self, depth: usize) -> &mut Level {
        while self.levels.len() <= depth {
            self.levels.push(Level::default());
        }
        &mut self.levels[depth]
    }

    fn line(&mut self, raw: &str) {
        self.line_number += 1;
        let n = self.line_number;
        if self.bailed {
            return;
        }
        let (time, text) = split_time(raw);
        if self.yaml_line(text) {
            return;
        }
        let after_result = self.after_result.take();
        let (depth, text) = split_indent(text);
        let line = classify(text);
        if !self.in_document {
            match line {
                Line::Version { .. }
                | Line::Plan { .. }
                | Line::Result { .. }
                | Line::Subtest(_)
                | Line::BailOut(_) => self.in_document = true,
                _ => return,
            }
        }
        if let (Some((at, columns)), Line::Other(text)) = (after_result, &line) {
            let indent = indent_columns(split_time(raw).1);
            if text.trim_end() == "---" && indent > columns {
                self.yaml = Some(Yaml { columns: indent, depth: at });
                self.previous(at).expect("the result before").diagnostics.push("---".into());
                return;
            }
        }
        if time.is_some() {
            self.last_time = time;
            self.ktap = true;
        }
        for d in 0..=depth {
            let level = self.level(d);
            if level.started.is_none() {
                level.started = time;
            }
        }
        match line {
            Line::Version { .. } | Line::Subtest(_) => {
                // a new test at a depth still holding an unfinished one: that one never ended
                let fresh = match &line {
                    Line::Version { .. } => self.level(depth).opened,
                    _ => self.level(depth).header.is_some(),
                };
                if fresh && depth > 0 {
                    self.close_unfinished(depth);
                } else if fresh {
                    self.check_plan();
                    self.levels[0].plan = None;
                    self.document_start = self.levels[0].tests.len();
                }
                let level = self.level(depth);
                level.opened = true;
                match line {
                    Line::Subtest(name) => level.header = Some(name.to_string()),
                    Line::Version { ktap } => self.ktap = ktap || time.is_some(),
                    _ => {}
                }
            }
            Line::Plan { count, directive } => {
                let level = self.level(depth);
                level.opened = true;
                level.plan = Some(count);
                if count == 0 && is_skip(directive) {
                    level.plan_skips = directive.map(str::to_string);
                }
            }
            Line::Result { ok, number, name, directive } => {
                self.result(depth, ok, number, name, directive, time);
                self.after_result = Some((depth, indent_columns(split_time(raw).1)));
            }
            Line::BailOut(reason) => {
                self.problems.push(format!("Bail out! {reason}").trim_end().to_string());
                self.bailed = true;
            }
            Line::Diagnostic(text) => {
                self.note(depth, n, text);
                // TAP's diagnostics and YAML block both follow the result, in either order
                if !self.ktap {
                    self.after_result = after_result;
                }
            }
            // a failure's report runs over lines of its own, some unindented (KUnit's message of
            // an EXPECT_..._MSG): a line at the top goes to the test running, if one is
            Line::Other(text) if !text.is_empty() => {
                let running = (1..self.levels.len()).rev().find(|&d| self.levels[d].has_content());
                match (depth, running) {
                    (0, Some(d)) => self.levels[d].diagnostics.push((n, text.to_string())),
                    (0, None) => {}
                    _ => self.note(depth, n, text),
                }
            }
            Line::Other(_) => {}
        }
    }

    /// The test whose result came last at `depth` in this document, if one did.
    fn previous(&mut self, depth: usize) -> Option<&mut Test> {
        let first = if depth == 0 { self.document_start } else { 0 };
        let tests = &mut self.level(depth).tests;
        tests.len().checked_sub(1).filter(|&last| last >= first).map(|last| &mut tests[last])
    }

    /// A diagnostic at `depth`: in TAP the result's before it (if one came at this depth), in
    /// KTAP (and before TAP's first result) the result's that comes next.
    fn note(&mut self, depth: usize, n: usize, text: &str) {
        if !self.ktap {
            if let Some(test) = self.previous(depth) {
                test.diagnostics.push(text.to_string());
                return;
            }
        }
        self.level(depth).diagnostics.push((n, text.to_string()));
    }

    /// A line of the YAML block being read (its end, `...`, included) goes to the result it
    /// follows; a line indented less than the block ends it (its `...` went missing) and is
    /// read as usual.
    fn yaml_line(&mut self, text: &str) -> bool {
        let Some(Yaml { columns, depth }) = self.yaml else { return false };
        let body = text.trim();
        if !body.is_empty() && indent_columns(text) < columns {
            self.yaml = None;
            return false;
        }
        if body == "..." {
            self.yaml = None;
        }
        if !body.is_empty() {
            let line = dedent(text.trim_end(), columns).to_string();
            self.previous(depth).expect("the result before").diagnostics.push(line);
        }
        true
    }
    fn result(
        &mut self,
        depth: usize,
        ok: bool,
        number: Option<usize>,
        name: &str,
        directive: Option<&str>,
        time: Option<f64>,
    ) {
        // deeper tests with no result of their own ended inside this one
        for d in (depth + 2..self.levels.len()).rev() {
            if self.levels[d].has_content() {
                self.close_unfinished(d);
            }
        }
        self.level(depth + 1);
        let inner = std::mem::take(&mut self.levels[depth + 1]);
        let mut diagnostics = std::mem::take(&mut self.levels[depth].diagnostics);
        diagnostics.extend(inner.diagnostics);
        for deeper in self.levels.iter_mut().skip(depth + 2) {
            diagnostics.append(&mut deeper.diagnostics);
        }
        diagnostics.sort_by_key(|(n, _)| *n);
        let mut diagnostics: Vec<String> = diagnostics.into_iter().map(|(_, text)| text).collect();
        let mut status = match (ok, is_skip(directive) || (!ok && is_todo(directive))) {
            (_, true) => Status::Skip,
            (true, false) => Status::Pass,
            (false, false) => Status::Fail,
        };
        if let Some(planned) = inner.plan {
            let ran = inner.tests.len();
            if planned != ran && inner.plan_skips.is_none() {
                let problem = format!("{name}: planned {planned} subtests, {ran} ran");
                diagnostics.push(format!("# {problem}"));
                self.problems.push(problem);
                // not a pass: short of its plan, it did not finish; over it, it failed
                if matches!(status, Status::Pass | Status::Skip) {
                    status = if ran < planned { Status::Error } else { Status::Fail };
                }
            }
        }
        let level = &mut self.levels[depth];
        let seconds = match (level.started, time) {
            (Some(start), Some(end)) => Some(((end - start) * 1e6).round() / 1e6),
            _ => None,
        };
        level.started = None;
        let first = if depth == 0 { self.document_start } else { 0 };
        let position = level.tests.len() + 1 - first;
        let name = match (name.is_empty(), inner.header) {
            (true, Some(header)) => header,
            (true, None) => format!("test {}", number.unwrap_or(position)),
            _ => name.to_string(),
        };
        level.tests.push(Test {
            name,
            status,
            directive: directive.map(str::to_string),
            diagnostics,
            seconds,
            subtests: inner.tests,
        });
    }

    /// The test gathered at `depth` never got its result: an error, one level up.
    fn close_unfinished(&mut self, depth: usize) {
        let level = std::mem::take(&mut self.levels[depth]);
        let name = level.header.clone().unwrap_or_else(|| "(unnamed)".to_string());
        let mut diagnostics: Vec<String> = level.diagnostics.into_iter().map(|(_, t)| t).collect();
        diagnostics.push(format!(
            "# no result for {name}: its output ended after {} of {} subtests (a crash or a \
             timeout in it)",
            level.tests.len(),
            level.plan.map_or("its".to_string(), |p| p.to_string())
        ));
        self.problems.push(format!("{name} did not finish"));
        // its first line started the test one level up
        let started = self.level(depth - 1).started.take();
        let seconds = match (started, self.last_time) {
            (Some(start), Some(end)) => Some(((end - start) * 1e6).round() / 1e6),
            _ => None,
        };
        self.level(depth - 1).tests.push(Test {
            name,
            status: Status::Error,
            directive: None,
            diagnostics,
            seconds,
            subtests: level.tests,
        });
    }

    /// The top-level plan against the tests since the document began. A document with no plan
    /// is TAP's that lost it, or KTAP's begun at the top; KUnit's modules' documents begin a
    /// level down, their suites planned there.
    fn check_plan(&mut self) {
        // a bail out says why the rest never came: the plan it cut short is not a second problem
        if self.bailed {
            return;
        }
        let Some(level) = self.levels.first() else { return };
        let ran = level.tests.len() - self.document_start;
        match level.plan {
            Some(planned) if planned != ran && level.plan_skips.is_none() => {
                self.problems.push(format!("planned {planned} tests, {ran} ran"));
            }
            None if ran > 0 && (!self.ktap || level.opened) => {
                self.problems.push(format!("no plan: {ran} tests ran, no 1..N line"));
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Results {
        for depth in (1..self.levels.len()).rev() {
            if self.levels[depth].has_content() {
                self.close_unfinished(depth);
            }
        }
        self.check_plan();
        let tests =
            self.levels.first_mut().map(|l| std::mem::take(&mut l.tests)).unwrap_or_default();
        Results { tests, problems: self.problems }
    }
}

#[cfg(test)]
mod tests;
