//! ARCHITECTURE.md's invariants on code, checked on a source tree (a workspace's `xtask/src` and
//! `crates/*/src`, unit tests left out: tests may name what they check): no word of a table
//! outside it, no output path joined outside the layout, no feature name its table lacks, no
//! import circle between files. Each check takes the tree and the table's data, so that each is
//! tested on a tree that breaks it; `cargo xtask tidy` runs them on the repository.

pub mod repository;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// A source file of the workspace (xtask/src, crates/*/src) without its unit tests: the
/// invariants hold for the code, and tests may name what they check.
pub struct Code {
    pub path: PathBuf,
    /// the crate's src/ folder
    pub src: PathBuf,
    pub text: String,
}

impl Code {
    /// The lines outside comments, numbered from 1, without those marked `tidy: allow`.
    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l))
            .filter(|(_, l)| !l.trim_start().starts_with("//") && !l.contains("tidy: allow"))
    }

    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }
}

/// The workspace's source files under `root`, sorted.
pub fn code(root: &Path) -> Result<Vec<Code>> {
    let mut srcs = vec![root.join("xtask/src")];
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates {
            srcs.push(krate?.path().join("src"));
        }
    }
    let is_test =
        |p: &Path| p.ends_with("tests.rs") || p.components().any(|c| c.as_os_str() == "tests");
    let mut out = Vec::new();
    for src in srcs.into_iter().filter(|s| s.is_dir()) {
        let mut files = Vec::new();
        files_under(&src, &mut files)?;
        files.sort();
        for path in files {
            if path.extension().is_none_or(|e| e != "rs") || is_test(&path) {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let text = without_unit_tests(&text);
            out.push(Code { path, src: src.clone(), text });
        }
    }
    Ok(out)
}

/// `text` without what only tests compile: from a `#[cfg(test)]` line followed by a module to
/// the end (the unit tests), and the line after any other `#[cfg(test)]` line (a test-only
/// import), blanked. The attribute counts on a line of its own, not in a string.
fn without_unit_tests(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines.peek().map(|l| l.trim_start()).unwrap_or("");
            if next.starts_with("mod ") || next.starts_with("pub mod ") {
                break;
            }
            // blank, so that the lines after keep their numbers
            lines.next();
            kept.push_str("\n\n");
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// No line of code names one of `words` (a table's own words: an architecture's name, its QEMU
/// program) outside `exempt` files: code reads them from the table's row. A line may say
/// `tidy: allow` where the word is not the table's (the kernel's own ARCH names).
pub fn no_word_outside_its_table(root: &Path, words: &[String], exempt: &[&str]) -> Result<()> {
    for file in code(root)?.iter().filter(|f| !exempt.iter().any(|e| f.path.ends_with(e))) {
        for (line, text) in file.lines() {
            if let Some(word) = words.iter().find(|w| text.contains(w.as_str())) {
                bail!("{}: names {word}; read it from the architecture's row", file.at(line));
            }
        }
    }
    Ok(())
}

/// The check's own pattern, which names what it looks for.
const TARGET_JOIN: &str = ".target().join("; // tidy: allow

/// No output path joined outside the layout: neither `layout.X(..).join(..)` (or
/// `.target().join(..)`) nor the same through a local variable (`let out =
/// ctx.layout.images(..);` then `out.join(..)` anywhere in that file). An output path is a method
/// of `Layout`, so that the README's list of where things go is the code's. A line marked
/// `tidy: allow` says why it names a file inside a folder the layout gave (another tool's tree).
/// `exempt` names files, or folders ending in `/` (the bench's scratch, its own by design).
pub fn no_path_outside_the_layout(root: &Path, layout_file: &str, exempt: &[&str]) -> Result<()> {
    let exempt = |f: &&Code| {
        f.path.ends_with(layout_file)
            || exempt.iter().any(|e| match e.strip_suffix('/') {
                Some(folder) => f.path.components().any(|c| c.as_os_str() == folder),
                None => f.path.ends_with(e),
            })
    };
    for file in code(root)?.iter().filter(|f| !exempt(f)) {
        let mut bound: Vec<String> = Vec::new();
        for (line, text) in file.lines() {
            let joined = text.match_indices("layout.").any(|(at, _)| {
                let call = &text[at..];
                call.find(')').is_some_and(|close| call[close + 1..].starts_with(".join("))
            });
            let through = bound.iter().find(|name| joins(text, name));
            if joined || text.contains(TARGET_JOIN) || through.is_some() {
                let how = through.map(|n| format!(" (through `{n}`)")).unwrap_or_default();
                bail!(
                    "{}: joins an output path{how}; add it to the layout ({layout_file})",
                    file.at(line)
                );
            }
            bound.extend(bound_to_layout(text));
        }
    }
    Ok(())
}

/// The names a `let` binds to what the layout gave: `let out = ctx.layout.images();`,
/// `let (a, b) = (layout.x(), y);`.
fn bound_to_layout(line: &str) -> Vec<String> {
    let Some(rest) = line.trim_start().strip_prefix("let ") else { return Vec::new() };
    let Some((pattern, value)) = rest.split_once('=') else { return Vec::new() };
    if !(value.contains("layout.") || value.contains("layout()") || value.contains("Layout::")) {
        return Vec::new();
    }
    let pattern = pattern.split(':').next().unwrap_or_default();
    pattern
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && *w != "mut" && *w != "_")
        .map(String::from)
        .collect()
}

/// Whether `line` calls `name.join(`, `name` a whole word.
fn joins(line: &str, name: &str) -> bool {
    let call = format!("{name}.join(");
    line.match_indices(&call).any(|(at, _)| {
        !line[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
    })
}

/// String literals on lines that name features (`with_features(s, t, &["debug"])`, `needs: &["boot"]`,
/// `needs.push("share")`, `.feature("net")`): each must be one of `features` (features.toml's).
pub fn no_unknown_feature(root: &Path, features: &[&str]) -> Result<()> {
    let contexts = ["add_features(", "with_features(", "needs: &[", "needs.push(", ".feature("]; // tidy: allow
    for file in code(root)? {
        for (line, text) in file.lines() {
            if !contexts.iter().any(|c| text.contains(c)) {
                continue;
            }
            for name in text.split('"').skip(1).step_by(2) {
                if !features.contains(&name) {
                    bail!("{}: names a feature `{name}` that features.toml lacks", file.at(line));
                }
            }
        }
    }
    Ok(())
}

/// The module a path names from `dir` (`name.rs` or `name/mod.rs`), if it is one.
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")]
        .into_iter()
        .find(|p| p.is_file())
}

/// The folder of `file`'s child modules, and `file`'s parent module's file (none for the crate's
/// root).
fn family(file: &Code) -> (PathBuf, Option<PathBuf>) {
    let dir = file.path.parent().unwrap_or(&file.src).to_path_buf();
    let name = file.path.file_stem().and_then(|n| n.to_str()).unwrap_or_default();
    let is_root = dir == file.src && (name == "lib" || name == "main");
    let children = if is_root || name == "mod" { dir.clone() } else { dir.join(name) };
    let parent_dir = if name == "mod" { dir.parent().map(Path::to_path_buf) } else { Some(dir) };
    let parent = parent_dir.filter(|_| !is_root).and_then(|d| {
        if d == file.src {
            ["lib.rs", "main.rs"].iter().map(|r| d.join(r)).find(|p| p.is_file())
        } else {
            d.parent().and_then(|up| module_file(up, d.file_name()?.to_str()?))
        }
    });
    (children, parent)
}

/// The names a path starting at `rest` takes from its first segment: one, or each of a `{..}`
/// group's.
fn first_segments(rest: &str) -> Vec<&str> {
    fn ident(s: &str) -> &str {
        let s = s.trim();
        // a glob (`super::*`) imports from the module itself: the caller's `otherwise` file
        if s.starts_with('*') {
            return "*";
        }
        &s[..s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len())]
    }
    let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
    let mut depth = 0;
    let mut names = Vec::new();
    let mut start = 0;
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(ident(&group[start..at]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(ident(&group[start..at]));
                start = at + 1;
            }
            _ => {}
        }
    }
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

/// The files `file` imports in its crate: through `crate::x` (module x's file, or the crate's
/// root for an item of the root), `super::x` (a sibling, or the parent module's file for an item
/// of the parent), and `self::x` or a bare `x::` for a child module it declares.
fn imports(file: &Code) -> Vec<PathBuf> {
    let root = ["lib.rs", "main.rs"].iter().map(|r| file.src.join(r)).find(|p| p.is_file());
    let (children, parent) = family(file);
    let siblings = file.path.parent().unwrap_or(&file.src).to_path_buf();
    let declared: Vec<&str> = file
        .text
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("pub ").strip_prefix("mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .collect();
    let mut out = Vec::new();
    let mut follow = |prefix: &str, dir: &Path, otherwise: Option<&PathBuf>| {
        for (at, _) in file.text.match_indices(prefix) {
            let before = file.text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for name in first_segments(&file.text[at + prefix.len()..]) {
                if let Some(path) = module_file(dir, name).or_else(|| otherwise.cloned()) {
                    out.push(path);
                }
            }
        }
    };
    follow("crate::", &file.src, root.as_ref());
    follow("super::", &siblings, parent.as_ref());
    follow("self::", &children, None);
    for child in declared {
        follow(&format!("{child}::"), &children, None);
    }
    out.retain(|p| *p != file.path);
    out.sort();
    out.dedup();
    out
}

/// No file reaches itself by following its imports: every crate's files stand on floors, each
/// using only those below it.
pub fn no_import_circle(root: &Path) -> Result<()> {
    let files = code(root)?;
    let graph: Vec<(PathBuf, Vec<PathBuf>)> =
        files.iter().map(|f| (f.path.clone(), imports(f))).collect();
    let edges = |path: &Path| -> &[PathBuf] {
        graph.iter().find(|(p, _)| p == path).map(|(_, e)| e.as_slice()).unwrap_or(&[])
    };
    for (start, _) in &graph {
        // depth-first from `start`, looking for a way back to it
        let mut stack: Vec<Vec<PathBuf>> = vec![vec![start.clone()]];
        let mut seen: Vec<PathBuf> = Vec::new();
        while let Some(way) = stack.pop() {
            for next in edges(way.last().expect("a way has a start")) {
                if next == start {
                    let shown: Vec<String> = way
                        .iter()
                        .chain([start])
                        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
                        .collect();
                    bail!("an import circle: {}", shown.join(" -> "));
                }
                if !seen.contains(next) {
                    seen.push(next.clone());
                    stack.push([way.clone(), vec![next.clone()]].concat());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_architecture_is_written_into_code() {
        let err = broken("let arch = \"riscv64\";\n").no_arch().unwrap_err().to_string();
        assert!(
            err.ends_with("lib.rs:1: names \"riscv64\"; read it from the architecture's row"),
            "{err}"
        );
        let err = broken("let c = \"console=ttyAMA0\";\n").no_arch().unwrap_err().to_string();
        assert!(err.contains("names ttyAMA0"), "{err}");
        broken("// a comment may say riscv64\nlet n = \"riscv64\"; // tidy: allow\n")
            .no_arch()
            .unwrap();
    }

    #[test]
    fn no_output_path_is_joined_outside_the_layout() {
        for code in [
            "let f = ctx.layout.work().join(\"mine\");\n",
            "let f = self.ctx.layout.images().join(\"x\");\n",
            "let f = ctx.layout.target().join(\"x.svg\");\n",
        ] {
            let err = broken(code).no_path().unwrap_err().to_string();
            assert!(err.contains("lib.rs:1: joins an output path"), "{code}: {err}");
        }
        broken("let f = ctx.layout.log(\"boot\");\nlet g = dir.join(\"x\");\n").no_path().unwrap();
        // through a local variable, anywhere later in the file
        for code in [
            "let out = ctx.layout.kernel_images(&f);\nlet stamp = out.join(\".stamp\");\n",
            "let (out, n) = (self.layout.images(), 1);\nfn g() {}\nlet s = out.join(\"s\");\n",
            "let mut dir: PathBuf = Layout::new(t, a).work();\nlet x = dir.join(\"x\");\n",
        ] {
            let err = broken(code).no_path().unwrap_err().to_string();
            assert!(err.contains("joins an output path (through `"), "{code}: {err}");
        }
        // a name that merely ends alike, a field, a marked line, an input: not joins of it
        broken("let out = ctx.layout.images();\nlet a = layout_out.join(\"x\");\nlet b = self.out.join(\"y\");\nlet c = out.join(\"z\"); // tidy: allow (make's tree)\nlet t = tree.join(\"x\");\n")
            .no_path()
            .unwrap();
    }

    #[test]
    fn no_feature_is_named_that_the_table_lacks() {
        let err = broken("ctx.add_features(&[\"debug\", \"sound\"]);\n").features().unwrap_err();
        assert!(
            err.to_string().ends_with("lib.rs:1: names a feature `sound` that features.toml lacks"),
            "{err}"
        );
        let err =
            broken("Context::with_features(&s, t, &[\"kunitt\"])?;\n").features().unwrap_err();
        assert!(err.to_string().contains("`kunitt`"), "{err}");
        let err = broken("needs.push(\"shares\");\n").features().unwrap_err();
        assert!(err.to_string().contains("`shares`"), "{err}");
        broken("ctx.add_features(&[\"debug\"]);\nneeds: &[\"boot\", \"ramdisk\"],\n")
            .features()
            .unwrap();
    }

    #[test]
    fn only_the_tests_are_left_out() {
        let text = "let a = \"#[cfg(test)]\";\n#[cfg(test)]\nuse crate::x;\nfn b() {}\n#[cfg(test)]\nmod tests {\n    fn c() {}\n}\n";
        assert_eq!(super::without_unit_tests(text), "let a = \"#[cfg(test)]\";\n\n\nfn b() {}\n");
        // code after a string that names the attribute is still checked
        let err =
            broken("let s = \"#[cfg(test)]\";\nlet arch = \"riscv64\";\n").no_arch().unwrap_err();
        assert!(err.to_string().contains("lib.rs:2: names \"riscv64\""), "{err}");
    }

    #[test]
    fn no_import_circle_between_files() {
        let tree = Tree::new("circle");
        tree.file("crates/c/src/a.rs", "use crate::b::B;\n");
        tree.file("crates/c/src/b.rs", "use crate::{\n    c::{self, C},\n    x,\n};\n");
        tree.file("crates/c/src/c.rs", "pub fn f() { crate::a::g() }\n");
        let err = super::no_import_circle(&tree.root).unwrap_err().to_string();
        assert!(err.starts_with("an import circle: crates/c/src/a.rs -> crates/c/src/b.rs -> crates/c/src/c.rs -> crates/c/src/a.rs"), "{err}");
        // a sibling through super::, and a test that imports upwards, are fine one way
        let tree = Tree::new("floors");
        tree.file("crates/c/src/top/mod.rs", "use self::low::L;\n");
        tree.file(
            "crates/c/src/top/low.rs",
            "use super::lower::M;\n#[cfg(test)]\nuse crate::top;\n",
        );
        tree.file("crates/c/src/top/lower.rs", "pub struct M;\n");
        super::no_import_circle(&tree.root).unwrap();
        tree.file("crates/c/src/top/lower.rs", "use super::low::L;\n");
        assert!(super::no_import_circle(&tree.root).is_err());
        // a glob import is an edge to the module it names, alone or in a group
        for glob in ["use super::*;\n", "use super::{*, X};\n"] {
            let tree = Tree::new("glob");
            tree.file("crates/c/src/top/mod.rs", "mod low;\nuse self::low::L;\n");
            tree.file("crates/c/src/top/low.rs", glob);
            let err = super::no_import_circle(&tree.root).unwrap_err().to_string();
            assert!(err.contains("top/mod.rs -> crates/c/src/top/low.rs"), "{glob}: {err}");
        }
    }

    /// A workspace of one crate, for a check to fail on.
    struct Tree {
        root: std::path::PathBuf,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let root =
                std::env::temp_dir().join(format!("kardel-tidy-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            Tree { root }
        }

        fn file(&self, path: &str, text: &str) {
            let path = self.root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        fn no_arch(&self) -> anyhow::Result<()> {
            super::no_word_outside_its_table(
                &self.root,
                &["\"riscv64\"".into(), "ttyAMA0".into()],
                &[],
            )
        }

        fn no_path(&self) -> anyhow::Result<()> {
            super::no_path_outside_the_layout(&self.root, "crates/stages/src/layout.rs", &[])
        }

        fn features(&self) -> anyhow::Result<()> {
            super::no_unknown_feature(&self.root, &["boot", "ramdisk", "debug", "share"])
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    /// A tree whose one crate's lib.rs is `code`.
    fn broken(code: &str) -> Tree {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tree = Tree::new(&format!("broken{n}"));
        tree.file("crates/c/src/lib.rs", code);
        tree
    }
}
