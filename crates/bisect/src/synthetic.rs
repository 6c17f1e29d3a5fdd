//! Histories made for trying a bisect: a real kernel tree as a first commit, then small commits on
//! top. The end-to-end test and the benchmark make theirs with these. The repository's files are
//! hard links to the tree (no copy of a gigabyte): a change replaces a file, never writes into one.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

/// A repository made from a tree, and the commits made on it.
pub struct History {
    pub repo: PathBuf,
    /// the tree as it was
    pub base: String,
}

/// git in `repo`, with a fixed author and no gc: 75,000 loose objects would make every commit
/// start a repack of a gigabyte.
pub fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false", "-C"])
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Planted Regression")
        .env("GIT_AUTHOR_EMAIL", "planted@example.invalid")
        .env("GIT_COMMITTER_NAME", "kardel")
        .env("GIT_COMMITTER_EMAIL", "kardel@example.invalid")
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!(
            "git {args:?} in {} failed: {}",
            repo.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

impl History {
    /// `tree` (an unpacked kernel) as the first commit of a new repository at `repo`. The tree's
    /// own build folders (`.kardel-build-*`) are left out.
    pub fn from_tree(tree: &Path, repo: &Path) -> Result<History> {
        if repo.exists() {
            std::fs::remove_dir_all(repo)
                .with_context(|| format!("removing {}", repo.display()))?;
        }
        let status = Command::new("cp").arg("-al").arg(tree).arg(repo).status()?;
        if !status.success() {
            bail!("cp -al {} {} failed", tree.display(), repo.display());
        }
        for entry in std::fs::read_dir(repo)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".kardel-build-")) {
                std::fs::remove_dir_all(&path)?;
            }
        }
        git(repo, &["init", "-q", "-b", "main"])?;
        // -f: Debian's .gitignore ignores everything at the top (its packaging's)
        git(repo, &["add", "-A", "-f", "."])?;
        git(repo, &["commit", "-q", "-m", "Linux (the unpacked tree)"])?;
        Ok(History { repo: repo.to_path_buf(), base: git(repo, &["rev-parse", "HEAD"])? })
    }

    /// Replaces `file` with its text changed by `edit`, and commits it: the new commit's hash.
    pub fn commit_edit(
        &self,
        file: &str,
        subject: &str,
        edit: impl Fn(&str) -> String,
    ) -> Result<String> {
        let path = self.repo.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let changed = edit(&text);
        if changed == text {
            bail!("{file}: the change for {subject:?} changes nothing");
        }
        std::fs::remove_file(&path)?;
        std::fs::write(&path, changed)?;
        git(&self.repo, &["commit", "-q", "-a", "-m", subject])?;
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    /// A harmless change: a comment at the end of `file`.
    pub fn commit_comment(&self, file: &str, n: usize) -> Result<String> {
        self.commit_edit(file, &format!("{file}: change {n}"), |text| {
            format!("{text}/* bisect history: change {n} */\n")
        })
    }

    pub fn git(&self, args: &[&str]) -> Result<String> {
        git(&self.repo, args)
    }
}

/// Files the tiny kernel compiles on every architecture, for harmless changes.
pub const LEAVES: [&str; 8] = [
    "kernel/fork.c",
    "kernel/exit.c",
    "mm/memory.c",
    "fs/namei.c",
    "fs/open.c",
    "lib/string.c",
    "kernel/signal.c",
    "fs/read_write.c",
];

/// The regression a guest command sees: `/proc/version` says "regressed".
pub fn plant_regression(text: &str) -> String {
    text.replace("linux_proc_banner,", "\"%s version %s regressed (%s)\\n\",")
}

/// The file [`plant_regression`] changes.
pub const REGRESSION_FILE: &str = "fs/proc/version.c";

/// The guest command that fails on the regressed kernel.
pub const REGRESSION_CHECK: &str = "! grep regressed /proc/version";
