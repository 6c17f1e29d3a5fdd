//! Kconfig fragments: parse them, merge them, and prove they stuck.
//!
//! Kernel and BusyBox configuration is a base config (`x86_64_defconfig`, `tinyconfig`, BusyBox's
//! `defconfig`) plus fragments in `.config` syntax. kconfig itself drops any request it cannot
//! honour without a word (a symbol whose dependencies are off, a misspelt name, a string written
//! without quotes), so after `olddefconfig` the final `.config` is read back and every requested
//! value is compared against it: [`verify`] names each one that did not stick, with the fragment's
//! file and line.
//!
//! When a value did not stick, [`KconfigTree`] reads the tree's Kconfig files and
//! [`KconfigTree::explain`] says why where they tell: the dependencies that are off, a prompt that
//! is missing or hidden, who selects it, a misspelt name and the names close to it.
//!
//! Everything here is pure but [`KconfigTree::load`]: running `make` lives with the callers.

mod explain;
mod kconfig_lang;

use std::{collections::BTreeMap, fmt, path::PathBuf};

pub use kconfig_lang::{kernel_vars, KconfigTree, LoadError};

/// A value as kconfig writes it in `.config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Yes,
    Module,
    /// `# CONFIG_X is not set` (or `CONFIG_X=n` in a fragment)
    No,
    /// a decimal or hex number, kept as written
    Number(String),
    /// a quoted string, unescaped
    Str(String),
}

impl Value {
    fn parse(raw: &str) -> Result<Value, String> {
        match raw {
            "y" => return Ok(Value::Yes),
            "m" => return Ok(Value::Module),
            "n" => return Ok(Value::No),
            _ => {}
        }
        if let Some(quoted) = raw.strip_prefix('"') {
            return unquote(quoted).map(Value::Str);
        }
        if parse_number(raw).is_some() {
            return Ok(Value::Number(raw.to_string()));
        }
        Err(format!(
            "value `{raw}` is not y, m, n, a number or a quoted string (string options need quotes)"
        ))
    }

    /// Whether a final `.config` value satisfies a request. Numbers compare by value
    /// (`0x10000` is `65536`); a missing symbol satisfies only `n`.
    fn satisfied_by(&self, got: Option<&Value>) -> bool {
        match (self, got) {
            (Value::No, None) => true,
            (Value::Number(want), Some(Value::Number(got))) => {
                parse_number(want).is_some() && parse_number(want) == parse_number(got)
            }
            (want, Some(got)) => want == got,
            (_, None) => false,
        }
    }
}

fn parse_number(raw: &str) -> Option<i128> {
    if let Some(hex) = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        return i128::from_str_radix(hex, 16).ok();
    }
    raw.parse().ok()
}

fn unquote(after_open_quote: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = after_open_quote.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => out.push(escaped),
                None => break,
            },
            '"' => {
                let rest: String = chars.collect();
                return if rest.trim().is_empty() {
                    Ok(out)
                } else {
                    Err(format!("unexpected `{}` after the closing quote", rest.trim()))
                };
            }
            c => out.push(c),
        }
    }
    Err("string value has no closing quote".to_string())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Yes => f.write_str("y"),
            Value::Module => f.write_str("m"),
            Value::No => f.write_str("n"),
            Value::Number(n) => f.write_str(n),
            Value::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
        }
    }
}

/// Where a request came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One `CONFIG_X=value` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// the full name, `CONFIG_` prefix included
    pub symbol: String,
    pub value: Value,
    pub origin: Origin,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Value::No => write!(f, "# {} is not set", self.symbol),
            ref value => write!(f, "{}={value}", self.symbol),
        }
    }
}

/// A fragment line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads and parses fragment files, in order: the one IO helper beside the pure parser, so that
/// every caller names a file it could not read the same way.
pub fn read_fragments(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<Setting>>> {
    use anyhow::Context as _;
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config fragment {}", path.display()))?;
            Ok(parse_fragment(path, &text)?)
        })
        .collect()
}

/// Parses a fragment. `file` only labels errors and origins.
pub fn parse_fragment(file: impl Into<PathBuf>, text: &str) -> Result<Vec<Setting>, ParseError> {
    let file = file.into();
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let origin = Origin { file: file.clone(), line: index + 1 };
        if let Some((symbol, value)) =
            parse_line(line).map_err(|message| ParseError { origin: origin.clone(), message })?
        {
            settings.push(Setting { symbol, value, origin });
        }
    }
    Ok(settings)
}

/// Parses a whole `.config` as kconfig wrote it. Lines kconfig would not write are ignored.
pub fn parse_config(text: &str) -> BTreeMap<String, Value> {
    text.lines().filter_map(|line| parse_line(line).ok().flatten()).collect()
}

fn parse_line(line: &str) -> Result<Option<(String, Value)>, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    if let Some(comment) = line.strip_prefix('#') {
        let not_set = comment.trim().strip_suffix(" is not set").map(str::trim);
        return match not_set {
            Some(symbol) if is_symbol(symbol) => Ok(Some((symbol.to_string(), Value::No))),
            _ => Ok(None),
        };
    }
    let Some((symbol, raw)) = line.split_once('=') else {
        return Err(format!(
            "expected `CONFIG_NAME=value` or `# CONFIG_NAME is not set`, got `{line}`"
        ));
    };
    let symbol = symbol.trim();
    if !is_symbol(symbol) {
        return Err(format!("`{symbol}` is not a config symbol (they start with CONFIG_)"));
    }
    let value = Value::parse(raw.trim()).map_err(|e| format!("{symbol}: {e}"))?;
    Ok(Some((symbol.to_string(), value)))
}

fn is_symbol(name: &str) -> bool {
    name.strip_prefix("CONFIG_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Merges fragments in order: a later request for the same symbol wins. The result is sorted by
/// symbol, so the text appended to `.config` does not depend on fragment order beyond who wins.
pub fn merge<'a>(fragments: impl IntoIterator<Item = &'a [Setting]>) -> Vec<Setting> {
    let mut merged: BTreeMap<&str, &Setting> = BTreeMap::new();
    for fragment in fragments {
        for setting in fragment {
            merged.insert(&setting.symbol, setting);
        }
    }
    merged.into_values().cloned().collect()
}

/// The settings in `.config` syntax, to append to a base config before `olddefconfig`.
pub fn render(settings: &[Setting]) -> String {
    settings.iter().map(|s| format!("{s}\n")).collect()
}

/// `base` (a `.config`) with `settings` applied: each requested symbol's old line is dropped and
/// the requests are appended. Dropping rather than only appending matters: the kernel's kconfig
/// lets a later line override an earlier one, but BusyBox's older kconfig keeps the first.
pub fn apply_to(base: &str, settings: &[Setting]) -> String {
    let requested: std::collections::BTreeSet<&str> =
        settings.iter().map(|s| s.symbol.as_str()).collect();
    let mut out: String = base
        .lines()
        .filter(|line| match parse_line(line) {
            Ok(Some((symbol, _))) => !requested.contains(symbol.as_str()),
            _ => true,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    out.push_str("# requested by fragments\n");
    out.push_str(&render(settings));
    out
}

/// A request that the final `.config` does not honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub wanted: Setting,
    pub got: Option<Value>,
}

impl Mismatch {
    /// The mismatch as one line, with `reason` (from [`KconfigTree::explain`]) in place of the
    /// generic guess at why.
    pub fn with_reason<'a>(&'a self, reason: Option<&'a str>) -> impl fmt::Display + 'a {
        Explained { mismatch: self, reason }
    }
}

struct Explained<'a> {
    mismatch: &'a Mismatch,
    reason: Option<&'a str>,
}

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Mismatch { wanted, got } = self.mismatch;
        write!(f, "{}: {} asked for {}, ", wanted.origin, wanted.symbol, wanted.value)?;
        match (got, self.reason) {
            (None, Some(reason)) => write!(f, "but the final .config does not have it: {reason}"),
            (None, None) => write!(f, "but the final .config does not have it (misspelt, not in this tree, or hidden because its dependencies are off)"),
            (Some(got), Some(reason)) => write!(f, "got {got}: {reason}"),
            (Some(Value::No), None) => write!(f, "got n (its dependencies are off, or something selects against it)"),
            (Some(got), None) => write!(f, "got {got}"),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_reason(None).fmt(f)
    }
}

/// Every request in `wanted` that `final_config` does not honour.
pub fn verify(wanted: &[Setting], final_config: &BTreeMap<String, Value>) -> Vec<Mismatch> {
    wanted
        .iter()
        .filter(|w| !w.value.satisfied_by(final_config.get(&w.symbol)))
        .map(|w| Mismatch { wanted: w.clone(), got: final_config.get(&w.symbol).cloned() })
        .collect()
}

#[cfg(test)]
mod tests;
