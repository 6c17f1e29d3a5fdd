//! git's bisect in a checkout of the tool's own: a `git clone --shared` of the user's repository
//! (its objects borrowed, nothing written to it), so that the user's work tree, branch, index and
//! any `git bisect` of theirs are never touched. A checkout left mid-bisect (Ctrl-C, a kill) is
//! put back to a clean state by the next bisect.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use xshell::{cmd, Shell};

use crate::{parse_progress, Commit, Progress, Verdict};

/// The user's repository, read only.
pub struct Repo<'a> {
    sh: &'a Shell,
    pub dir: PathBuf,
}

impl<'a> Repo<'a> {
    /// `dir` when it is a git work tree's top: the `--kernel-source` of a bisect.
    pub fn open(sh: &'a Shell, dir: &Path) -> Result<Repo<'a>> {
        let top = cmd!(sh, "git -C {dir} rev-parse --show-toplevel")
            .quiet()
            .ignore_stderr()
            .read()
            .map_err(|_| {
                anyhow::anyhow!(
                    "--kernel-source {}: not a git work tree (bisect needs the kernel's history)",
                    dir.display()
                )
            })?;
        Ok(Repo { sh, dir: PathBuf::from(top) })
    }

    /// The full hash of `rev`, which `flag` named.
    pub fn resolve(&self, flag: &str, rev: &str) -> Result<String> {
        let dir = &self.dir;
        let spec = format!("{rev}^{{commit}}");
        cmd!(self.sh, "git -C {dir} rev-parse --verify --quiet {spec}")
            .quiet()
            .ignore_stderr()
            .read()
            .map_err(|_| anyhow::anyhow!("{flag} {rev}: not a commit of {}", dir.display()))
    }

    /// Refuses a good commit that is not an ancestor of the bad one (a bisect has no answer).
    pub fn check_ancestry(&self, good: &str, bad: &str) -> Result<()> {
        let dir = &self.dir;
        if cmd!(self.sh, "git -C {dir} merge-base --is-ancestor {good} {bad}")
            .quiet()
            .ignore_stderr()
            .run()
            .is_err()
        {
            bail!("--good {good} is not an ancestor of --bad {bad}: there is nothing to bisect");
        }
        Ok(())
    }

    /// The user's HEAD and `git status --porcelain`: what a bisect must leave as it found it.
    pub fn state(&self) -> Result<(String, String)> {
        let dir = &self.dir;
        let head = cmd!(self.sh, "git -C {dir} rev-parse HEAD").quiet().read()?;
        let status = cmd!(self.sh, "git -C {dir} status --porcelain").quiet().read()?;
        Ok((head, status))
    }
}

/// The tool's own checkout, where git bisects.
pub struct Checkout<'a> {
    sh: &'a Shell,
    pub dir: PathBuf,
}

/// The folders inside the checkout that builds may write (the kernel's in-tree build folders):
/// ignored, so that no checkout or clean touches them.
const IGNORED: &str = "/.kardel-build-*/\n";

impl<'a> Checkout<'a> {
    /// The checkout at `dir` of `repo`'s objects, made if missing, and put back to no bisect, no
    /// local change and no stray file (what a killed bisect may have left).
    pub fn prepare(sh: &'a Shell, repo: &Repo, dir: &Path) -> Result<Checkout<'a>> {
        let from = &repo.dir;
        // a checkout whose commits are gone (the repository was made anew, or gc'd) is made again
        let head_tree = "HEAD^{tree}";
        let readable = cmd!(sh, "git -C {dir} rev-parse --verify --quiet {head_tree}")
            .quiet()
            .ignore_stderr()
            .ignore_stdout()
            .run()
            .is_ok();
        if !readable || !dir.join(".git").is_dir() {
            if dir.exists() {
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            std::fs::create_dir_all(dir.parent().expect("a checkout has a parent"))?;
            // --shared: the objects stay the user's (alternates); nothing is copied or written there
            cmd!(sh, "git clone --quiet --shared --no-checkout {from} {dir}").quiet().run()?;
        }
        let exclude = dir.join(".git/info/exclude");
        std::fs::create_dir_all(exclude.parent().expect("in .git"))?;
        std::fs::write(&exclude, IGNORED)
            .with_context(|| format!("writing {}", exclude.display()))?;
        let checkout = Checkout { sh, dir: dir.to_path_buf() };
        // a bisect a killed run left: ended where it stands, or its state removed
        if checkout.git(&["bisect", "reset", "HEAD"]).is_err() {
            checkout.forget_bisect()?;
        }
        Ok(checkout)
    }

    /// Removes a bisect's state by hand, when `git bisect reset` cannot end it.
    fn forget_bisect(&self) -> Result<()> {
        let git_dir = self.dir.join(".git");
        for entry in std::fs::read_dir(&git_dir)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("BISECT_")) {
                std::fs::remove_file(&path)?;
            }
        }
        let refs = git_dir.join("refs/bisect");
        if refs.exists() {
            std::fs::remove_dir_all(&refs)?;
        }
        Ok(())
    }

    fn git(&self, args: &[&str]) -> Result<String> {
        let (succeeded, text) = self.git_output(args)?;
        if !succeeded {
            bail!("git {} in {} failed: {}", args.join(" "), self.dir.display(), text.trim());
        }
        Ok(text)
    }

    /// git's stdout and stderr together, and whether it succeeded.
    fn git_output(&self, args: &[&str]) -> Result<(bool, String)> {
        let dir = &self.dir;
        let output = cmd!(self.sh, "git -c gc.auto=0 -C {dir} {args...}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("running git {}", args.join(" ")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Starts a bisect between `bad` and `good`: the first commit to test is checked out.
    pub fn start(&self, bad: &str, good: &str) -> Result<Progress> {
        self.clean_at(bad)?;
        let output = self.git(&["bisect", "start", bad, good])?;
        progress(&output)
    }

    /// `rev` checked out, with no local change and no stray file (a killed run's), whatever the
    /// checkout's own branch points at (the user's repository may have been made anew).
    pub fn clean_at(&self, rev: &str) -> Result<()> {
        self.git(&["checkout", "--quiet", "--force", "--detach", rev])?;
        self.git(&["clean", "-fdq"]).map(drop)
    }

    /// Repeats a saved `git bisect log`, then goes on from where it ends.
    pub fn replay(&self, log: &Path) -> Result<Progress> {
        let text =
            std::fs::read_to_string(log).with_context(|| format!("--replay {}", log.display()))?;
        let (_, bad) = log_ends(&text).with_context(|| format!("--replay {}", log.display()))?;
        self.clean_at(&bad)?;
        let log = log.to_str().context("the log's path is not UTF-8")?;
        let output = self.git(&["bisect", "replay", log])?;
        progress(&output)
    }

    /// Gives the checked-out commit its verdict; git checks out the next one or answers.
    pub fn mark(&self, verdict: Verdict) -> Result<Progress> {
        // git exits non-zero when only skipped commits are left: an answer all the same
        let (_, output) = self.git_output(&["bisect", verdict.word()])?;
        progress(&output)
    }

    /// The checked-out commit.
    pub fn head(&self) -> Result<Commit> {
        self.commit("HEAD")
    }

    pub fn commit(&self, rev: &str) -> Result<Commit> {
        let text = self.git(&["show", "-s", "--format=%H%n%s", rev])?;
        let mut lines = text.lines();
        Ok(Commit {
            hash: lines.next().unwrap_or_default().to_string(),
            subject: lines.next().unwrap_or_default().to_string(),
        })
    }

    /// `Name <mail>` of a commit's author.
    pub fn author(&self, rev: &str) -> Result<String> {
        Ok(self.git(&["show", "-s", "--format=%an <%ae>", rev])?.trim().to_string())
    }

    /// The bisect so far, as `git bisect replay` takes it.
    pub fn log(&self) -> Result<String> {
        self.git(&["bisect", "log"])
    }

    /// The good and bad commits the bisect started from, from its log.
    pub fn ends(&self) -> Result<(String, String)> {
        log_ends(&self.log()?)
    }

    /// Ends the bisect, leaving the checkout where it stands for the next one.
    pub fn finish(&self) -> Result<()> {
        self.git(&["bisect", "reset", "HEAD"]).map(drop)
    }
}

/// The good and bad commits a bisect log starts from: `git bisect start '<bad>' '<good>'`.
pub fn log_ends(log: &str) -> Result<(String, String)> {
    let start = log
        .lines()
        .find_map(|l| l.strip_prefix("git bisect start "))
        .context("the bisect log has no `git bisect start` line")?;
    let revs: Vec<&str> = start
        .split_whitespace()
        .map(|r| r.trim_matches('\''))
        .filter(|r| !r.starts_with('-'))
        .collect();
    match revs.as_slice() {
        [bad, good, ..] => Ok((good.to_string(), bad.to_string())),
        _ => bail!("the bisect log's start line names no good and bad commit: {start}"),
    }
}

fn progress(output: &str) -> Result<Progress> {
    parse_progress(output)
        .with_context(|| format!("git bisect said something unexpected:\n{output}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_logs_good_and_bad_commits_are_read() {
        let log = "git bisect start 'bbbb' 'aaaa'\n# good: [aaaa] base\ngit bisect good cccc\n";
        assert_eq!(super::log_ends(log).unwrap(), ("aaaa".to_string(), "bbbb".to_string()));
        assert!(super::log_ends("# nothing\n").is_err());
    }
}
