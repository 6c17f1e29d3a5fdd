//! Settings files: `kardel.toml` at the top of the checkout, and the user's in
//! `$XDG_CONFIG_HOME/kardel/kardel.toml` (`~/.config/kardel/kardel.toml`). A key is the long name
//! of a flag that has a `KARDEL_*` variable (`profile = "tiny"`, `kernel-fragment = ["a", "b"]`),
//! and a file's value reaches clap as that variable would, when the environment has none: so a
//! flag wins over a variable, a variable over the project's file, that over the user's, that
//! over the default, through clap's one way of reading them. `KARDEL_CONFIG=FILE` reads that
//! file alone, and `KARDEL_CONFIG=` none.
//!
//! The settings there are ([`Known`]) are the command line's: `xtask` reads them from its clap
//! definition and hands them in, so this crate knows no flag parser.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

/// The variable that names the one settings file to read (empty: none).
pub const CONFIG: &str = "KARDEL_CONFIG";

/// A setting a file may hold: a flag's long name, its variable, and how its values are joined
/// in that variable (`:` for folders, ` ` for URLs), if it takes several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub key: String,
    pub variable: String,
    pub delimiter: Option<char>,
    /// the default clap gives, shown by `config`
    pub default: Option<String>,
}

/// One value of a file, as its variable would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub variable: String,
    pub value: String,
    /// `FILE:LINE`
    pub origin: String,
}

/// The settings of one file's `text` (named `file` in errors), each as its variable would say
/// it; a key no flag has, or a value of the wrong shape, is an error naming the file, the line
/// and the key, with the nearest key there is.
pub fn read(text: &str, file: &str, known: &[Known]) -> Result<Vec<Setting>> {
    let table: toml::Table = text.parse().with_context(|| format!("{file}: not TOML"))?;
    read_table(&table, text, file, 0, known)
}

/// [`read`] of one table of `text`, whose keys are on the lines from `first_line` (0-based) on.
fn read_table(
    table: &toml::Table,
    text: &str,
    file: &str,
    first_line: usize,
    known: &[Known],
) -> Result<Vec<Setting>> {
    let line_of = |key: &str| {
        let found = text.lines().skip(first_line).position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        found.map(|n| first_line + n + 1).unwrap_or(first_line.max(1))
    };
    let mut out = Vec::new();
    for (key, value) in table {
        if key == TARGETS {
            // named targets: read by `targets`
            continue;
        }
        let at = format!("{file}:{}", line_of(key));
        let Some(setting) = known.iter().find(|k| k.key == *key) else {
            let nearest = known.iter().min_by_key(|k| distance(&k.key, key)).map(|k| &k.key);
            let hint = nearest.map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
            bail!("{at}: `{key}` is not a setting{hint} (`cargo xtask config` lists them)");
        };
        let one = |value: &toml::Value| -> Result<String> {
            Ok(match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => bail!("{at}: `{key}` takes a string, a number or true/false"),
            })
        };
        let value = match (value, setting.delimiter) {
            (toml::Value::Array(items), Some(delimiter)) => {
                let items = items.iter().map(one).collect::<Result<Vec<_>>>()?;
                if let Some(item) = items.iter().find(|i| i.contains(delimiter)) {
                    bail!(
                        "{at}: `{key}`: {item:?} holds {delimiter:?}, which separates its values"
                    );
                }
                items.join(&delimiter.to_string())
            }
            (toml::Value::Array(_), None) => bail!("{at}: `{key}` takes one value, not a list"),
            (value, _) => one(value)?,
        };
        out.push(Setting { variable: setting.variable.clone(), value, origin: at });
    }
    Ok(out)
}

/// The table of named targets: `[target.NAME]`.
const TARGETS: &str = "target";

/// A named target (`[target.NAME]`, as vmtest's): settings of its own, which win over the files'
/// others when `--target NAME` picks it, and the command `run --target NAME` runs when it is
/// given none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub settings: Vec<Setting>,
    pub command: Vec<String>,
    /// `FILE:LINE` of its table
    pub origin: String,
}

/// The named targets of one file's `text`, each checked as [`read`] checks a file's keys, and
/// `command`, a list of words.
pub fn targets(text: &str, file: &str, known: &[Known]) -> Result<Vec<Target>> {
    let table: toml::Table = text.parse().with_context(|| format!("{file}: not TOML"))?;
    targets_of(&table, text, file, known)
}

/// [`targets`] of a file already parsed into `table`.
fn targets_of(table: &toml::Table, text: &str, file: &str, known: &[Known]) -> Result<Vec<Target>> {
    let Some(targets) = table.get(TARGETS) else { return Ok(Vec::new()) };
    let Some(targets) = targets.as_table() else {
        bail!("{file}: `{TARGETS}` is a table of named targets ([{TARGETS}.NAME])");
    };
    let mut out = Vec::new();
    for (name, body) in targets {
        let header = format!("[{TARGETS}.{name}]");
        let line = text.lines().position(|l| l.trim() == header).map_or(1, |n| n + 1);
        let origin = format!("{file}:{line}");
        let Some(body) = body.as_table() else {
            bail!("{origin}: `{TARGETS}.{name}` is a table ({header})");
        };
        let mut body = body.clone();
        let command = match body.remove("command") {
            None => Vec::new(),
            Some(toml::Value::Array(words)) => words
                .iter()
                .map(|w| w.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .with_context(|| format!("{origin}: `command` of {header} is a list of words"))?,
            Some(_) => bail!("{origin}: `command` of {header} is a list of words"),
        };
        let mut settings =
            read_table(&body, text, file, line, known).with_context(|| format!("in {header}"))?;
        for setting in &mut settings {
            setting.origin = format!("{} ({header})", setting.origin);
        }
        out.push(Target { name: name.clone(), settings, command, origin });
    }
    Ok(out)
}

/// Every named target of the settings files, the first file's winning a name both have.
pub fn all_targets(known: &[Known], repo: &Path) -> Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for file in files(repo) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for target in targets(&text, &file.display().to_string(), known)? {
            if !out.iter().any(|t| t.name == target.name) {
                out.push(target);
            }
        }
    }
    Ok(out)
}

/// `--target NAME`: its settings given to their variables over the files' values (not over the
/// environment's); the target, or an error naming the targets there are.
pub fn pick_target(known: &[Known], repo: &Path, name: &str) -> Result<Target> {
    let targets = all_targets(known, repo)?;
    let Some(target) = targets.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "--target {name}: no [target.{name}] in the settings files ({})",
            match names.is_empty() {
                true => "they have no targets".to_string(),
                false => format!("they have {}", names.join(", ")),
            }
        );
    };
    let from_files = ORIGINS.get().cloned().unwrap_or_default();
    for setting in &target.settings {
        let from_environment = std::env::var_os(&setting.variable).is_some_and(|v| !v.is_empty())
            && !from_files.contains_key(&setting.variable);
        if !from_environment {
            std::env::set_var(&setting.variable, &setting.value);
        }
    }
    Ok(target.clone())
}

/// The settings files to read, the one that wins first: `KARDEL_CONFIG`'s alone, or the
/// project's, then the user's.
pub fn files(repo: &Path) -> Vec<PathBuf> {
    if let Some(chosen) = std::env::var_os(CONFIG) {
        return match chosen.is_empty() {
            true => Vec::new(),
            false => vec![PathBuf::from(chosen)],
        };
    }
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let mut files = vec![repo.join("kardel.toml")];
    files.extend(user.map(|dir| dir.join("kardel/kardel.toml")));
    files
}

/// Reads the settings files and gives each value to its variable where the environment has
/// none; returns where each value came from, by variable.
pub fn apply(known: &[Known], repo: &Path) -> Result<BTreeMap<String, String>> {
    let mut origins = BTreeMap::new();
    for file in files(repo) {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && std::env::var_os(CONFIG).is_none() =>
            {
                continue
            }
            Err(err) => bail!("{}: {err} ({CONFIG})", file.display()),
        };
        let name = file.display().to_string();
        let table: toml::Table = text.parse().with_context(|| format!("{name}: not TOML"))?;
        // the named targets are checked with the rest, though only --target reads them
        targets_of(&table, &text, &name, known)?;
        for setting in read_table(&table, &text, &name, 0, known)? {
            let set_already = std::env::var_os(&setting.variable).is_some_and(|v| !v.is_empty());
            if !set_already {
                std::env::set_var(&setting.variable, &setting.value);
                origins.insert(setting.variable, setting.origin);
            }
        }
    }
    Ok(origins)
}

static ORIGINS: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();

/// Keeps where the settings files' values came from, for `config`.
pub fn remember(origins: BTreeMap<String, String>) {
    let _ = ORIGINS.set(origins);
}

/// The variables this process set from the settings files: a child that reads the files
/// itself (`run --all-targets`'s) must not take them for the environment's.
pub fn set_from_files() -> Vec<String> {
    ORIGINS.get().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// `cargo xtask config`: every effective setting with where it came from, the files read, the
/// named targets.
pub fn describe(known: &[Known], repo: &Path) -> Result<String> {
    let origins = ORIGINS.get().cloned().unwrap_or_default();
    let mut out = show(known, &origins);
    let read: Vec<String> =
        files(repo).iter().filter(|f| f.is_file()).map(|f| f.display().to_string()).collect();
    out.push_str(&match read.is_empty() {
        true => format!("settings files: none ({CONFIG} names one; see README)\n"),
        false => format!("settings files: {}\n", read.join(", ")),
    });
    for target in all_targets(known, repo)? {
        let settings: Vec<String> =
            target.settings.iter().map(|s| format!("{}={}", s.variable, s.value)).collect();
        out.push_str(&format!(
            "target {} ({}): {} -- {}\n",
            target.name,
            target.origin,
            settings.join(" "),
            target.command.join(" ")
        ));
    }
    Ok(out)
}

/// Every setting with its value and where it came from.
pub fn show(known: &[Known], origins: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for setting in known {
        let (value, from) = match (std::env::var(&setting.variable), origins.get(&setting.variable))
        {
            (Ok(value), Some(origin)) => (value, origin.clone()),
            (Ok(value), None) => (value, format!("environment: {}", setting.variable)),
            (Err(_), _) => match &setting.default {
                Some(default) => (default.clone(), "default".to_string()),
                None => continue,
            },
        };
        out.push_str(&format!("{:<24} {:<40} {from}\n", setting.key, format!("{value:?}")));
    }
    out
}

/// How many single-letter edits turn `a` into `b`.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            previous = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as the command line gives them (`xtask`'s test holds its own table to these rules).
    fn table() -> Vec<Known> {
        let row = |key: &str, variable: &str, delimiter: Option<char>| Known {
            key: key.into(),
            variable: variable.into(),
            delimiter,
            default: None,
        };
        vec![
            row("arch", "KARDEL_ARCH", None),
            row("cold", "KARDEL_COLD", None),
            row("jobs", "KARDEL_JOBS", None),
            row("kernel-fragment", "KARDEL_KERNEL_FRAGMENTS", Some(':')),
            row("kernel-source", "KARDEL_KERNEL_SOURCE", None),
            row("mirror", "KARDEL_MIRRORS", Some(' ')),
            row("profile", "KARDEL_PROFILE", None),
            row("rootfs", "KARDEL_ROOTFS", None),
        ]
    }

    #[track_caller]
    fn check(text: &str, expected: &[(&str, &str, &str)]) {
        let read = read(text, "kardel.toml", &table()).unwrap();
        let read: Vec<(&str, &str, &str)> = read
            .iter()
            .map(|s| (s.variable.as_str(), s.value.as_str(), s.origin.as_str()))
            .collect();
        assert_eq!(read, expected);
    }

    #[track_caller]
    fn refused(text: &str, says: &str) {
        let err = format!("{:#}", read(text, "kardel.toml", &table()).unwrap_err());
        assert!(err.contains(says), "{err}");
    }

    #[test]
    fn a_key_is_a_flag_and_its_value_reaches_the_flags_variable() {
        check(
            "# the CI's selection\nprofile = \"tiny\"\nkernel-source = \"/usr/src/linux.tar.xz\"\n",
            &[
                ("KARDEL_KERNEL_SOURCE", "/usr/src/linux.tar.xz", "kardel.toml:3"),
                ("KARDEL_PROFILE", "tiny", "kardel.toml:2"),
            ],
        );
        check(
            "jobs = 2\ncold = true\n",
            &[("KARDEL_COLD", "true", "kardel.toml:2"), ("KARDEL_JOBS", "2", "kardel.toml:1")],
        );
    }

    #[test]
    fn a_list_is_joined_as_its_variable_takes_it() {
        check(
            "kernel-fragment = [\"a.config\", \"b.config\"]\n",
            &[("KARDEL_KERNEL_FRAGMENTS", "a.config:b.config", "kardel.toml:1")],
        );
        check(
            "mirror = [\"file:///m\", \"http://127.0.0.1:8000\"]\n",
            &[("KARDEL_MIRRORS", "file:///m http://127.0.0.1:8000", "kardel.toml:1")],
        );
    }

    #[test]
    fn a_wrong_key_or_value_names_the_file_the_line_and_the_nearest_key() {
        refused(
            "profile = \"tiny\"\nkernal-source = \"/x\"\n",
            "kardel.toml:2: `kernal-source` is not a setting; did you mean `kernel-source`?",
        );
        refused(
            "profile = [\"tiny\", \"default\"]\n",
            "kardel.toml:1: `profile` takes one value, not a list",
        );
        refused("kernel-fragment = [\"a:b\"]\n", "holds ':'");
        refused("profile = { x = 1 }\n", "`profile` takes a string, a number or true/false");
        refused("profile = \n", "kardel.toml: not TOML");
    }

    #[test]
    fn named_targets_have_settings_of_their_own_and_a_command() {
        let text = "profile = \"tiny\"\n\n[target.rv]\narch = \"riscv64\"\ncommand = [\"uname\", \"-m\"]\n\n[target.host]\nrootfs = \"/\"\n";
        // the file's own settings leave the targets out
        check(text, &[("KARDEL_PROFILE", "tiny", "kardel.toml:1")]);
        let found = targets(text, "kardel.toml", &table()).unwrap();
        type Row<'a> = (&'a str, Vec<(&'a str, &'a str, &'a str)>, Vec<&'a str>);
        let summary: Vec<Row> = found
            .iter()
            .map(|t| {
                let settings = t
                    .settings
                    .iter()
                    .map(|s| (s.variable.as_str(), s.value.as_str(), s.origin.as_str()))
                    .collect();
                (t.name.as_str(), settings, t.command.iter().map(String::as_str).collect())
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("host", vec![("KARDEL_ROOTFS", "/", "kardel.toml:8 ([target.host])")], vec![]),
                (
                    "rv",
                    vec![("KARDEL_ARCH", "riscv64", "kardel.toml:4 ([target.rv])")],
                    vec!["uname", "-m"]
                ),
            ]
        );
        let err = |text: &str| format!("{:#}", targets(text, "k.toml", &table()).unwrap_err());
        assert!(
            err("[target.rv]\narhc = \"riscv64\"\n")
                .contains("`arhc` is not a setting; did you mean `arch`?"),
            "{}",
            err("[target.rv]\narhc = \"riscv64\"\n")
        );
        assert!(err("[target.rv]\narhc = 1\n").starts_with("in [target.rv]: k.toml:2: `arhc`"));
        assert!(err("[target.rv]\ncommand = \"uname -m\"\n")
            .contains("`command` of [target.rv] is a list of words"));
        assert!(err("target = 3\n").contains("`target` is a table of named targets"));
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kernal-source", "kernel-source"), 1);
        assert_eq!(distance("profile", "profile"), 0);
        assert_eq!(distance("", "abc"), 3);
    }
}
