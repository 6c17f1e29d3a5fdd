//! `cargo xtask bisect` on a history made here from Debian's 6.1 tree: the tree as a first
//! commit, then sixteen small commits, one of which plants a regression a command in the guest
//! sees (`/proc/version` says "regressed"), one of which does not compile; a branch beside it
//! plants a panic at boot. The bisect names the planted commits, skips the one that does not
//! build, and leaves the repository (HEAD, index, files) as it was; `--replay` of its log
//! answers again without a step.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. The
//! repository's files are hard links to the unpacked tree (no copy of 1 GB): a commit's change
//! replaces a file, never writes into one.

mod common;

use std::path::PathBuf;

use bisect::synthetic::{History, LEAVES, REGRESSION_CHECK, REGRESSION_FILE};
use common::{enabled, run, target_dir, xtask};

/// The unpacked 6.1 tree the chain builds from, as `fetch` names it.
fn unpacked_kernel_tree() -> PathBuf {
    let fetched = run(xtask(&["fetch"])).ok();
    let line = fetched
        .stdout()
        .lines()
        .find(|l| l.contains("linux"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("fetch named no kernel tree:\n{}", fetched.stdout()));
    PathBuf::from(line.rsplit_once(": ").expect("SOURCE: TREE").1)
}

#[test]
fn bisect_names_the_planted_commits_and_leaves_the_repository_alone() {
    if !enabled("e2e_8_bisect (a 17-commit history from the 6.1 tree bisected twice)") {
        return;
    }
    let tree = unpacked_kernel_tree();
    let repo = target_dir().join("e2e-bisect-repo");
    let history = History::from_tree(&tree, &repo).unwrap();
    let base = history.base.clone();
    let git = |args: &[&str]| history.git(args).unwrap();

    // sixteen commits: a regression at 11, a commit that does not build at 12 (fixed at 13),
    // where git's halving meets it (8 good, then 12)
    let mut commits = Vec::new();
    for n in 1..=16 {
        let hash = match n {
            12 => history.commit_edit("kernel/sys.c", "sys: a change that does not build", |t| {
                format!("{t}#error bisect history: this commit does not build\n")
            }),
            13 => history.commit_edit("kernel/sys.c", "sys: build again", |t| {
                t.replace("#error bisect history: this commit does not build\n", "")
            }),
            11 => history.commit_edit(
                REGRESSION_FILE,
                "proc: the planted regression",
                bisect::synthetic::plant_regression,
            ),
            n => history.commit_comment(LEAVES[n % LEAVES.len()], n),
        }
        .unwrap();
        commits.push(hash);
    }
    let regression = commits[10].clone();
    let unbuildable = commits[11].clone();
    // a branch from the base whose fifth commit panics at boot
    git(&["checkout", "-q", "-b", "panics", &base]);
    let mut branch = Vec::new();
    for n in 1..=8 {
        let hash = match n {
            5 => history.commit_edit("init/main.c", "init: the planted panic", |t| {
                t.replace(
                    "static int __ref kernel_init(void *unused)\n{",
                    "static int __ref kernel_init(void *unused)\n{\n\tpanic(\"bisect history: planted\");",
                )
            }),
            n => history.commit_comment(LEAVES[n % LEAVES.len()], 100 + n),
        }
        .unwrap();
        branch.push(hash);
    }
    git(&["checkout", "-q", "main"]);
    let user_head = git(&["rev-parse", "HEAD"]);
    let user_status = git(&["status", "--porcelain"]);

    // the regression: a command that fails when /proc/version says so
    let json = target_dir().join("e2e-bisect.json");
    let repo_arg = repo.display().to_string();
    let bisect = |args: &[&str]| {
        let mut cmd = xtask(&["bisect"]);
        cmd.args(args).env("KARDEL_KERNEL_SOURCE", &repo_arg);
        run(cmd)
    };
    let started = std::time::SystemTime::now();
    let found = bisect(&[
        "--good",
        &base,
        "--bad",
        "main",
        "--json",
        &json.display().to_string(),
        "--",
        "sh",
        "-c",
        REGRESSION_CHECK,
    ])
    .ok();
    assert!(
        found
            .stdout()
            .contains(&format!("first bad commit: {regression} proc: the planted regression")),
        "the bisect named another commit:\n{}\n{}",
        found.stdout(),
        found.stderr()
    );
    assert!(found.stdout().contains("author: Planted Regression <planted@example.invalid>"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["first_bad"]["hash"], regression.as_str());
    let steps = report["steps"].as_array().unwrap();
    // log2(16) = 4 steps, and one more for the skipped commit at most
    assert!((4..=6).contains(&steps.len()), "{} steps:\n{}", steps.len(), found.stdout());
    let skipped: Vec<&serde_json::Value> =
        steps.iter().filter(|s| s["verdict"] == "skip").collect();
    for step in &skipped {
        assert_eq!(step["hash"], unbuildable.as_str(), "only the commit that does not build skips");
        assert!(step["reason"].as_str().unwrap().starts_with("build failed"), "{step}");
    }
    assert!(
        steps.iter().any(|s| s["hash"] == unbuildable.as_str()),
        "the bisect never met the commit that does not build (the history's order): {}",
        found.stdout()
    );

    // the user's repository as it was: HEAD, index and files, and no bisect of its own
    assert_eq!(git(&["rev-parse", "HEAD"]), user_head);
    assert_eq!(git(&["status", "--porcelain"]), user_status);
    assert!(!repo.join(".git/BISECT_LOG").exists(), "the user's repository is mid-bisect");

    // the saved log, replayed: the same answer, no step built
    let log = found
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("bisect log: "))
        .and_then(|l| l.split(" (").next())
        .expect("the log's path is printed")
        .to_string();
    // the steps booted your target folder's BusyBox and images: the bisect's own folder has
    // only kernels (what an older version of the tool left there is older than this bisect)
    let arch = std::env::var("KARDEL_ARCH").unwrap_or_else(|_| std::env::consts::ARCH.into());
    let own_images = PathBuf::from(&log).with_file_name("target").join("images").join(arch);
    let built_there: Vec<String> = std::fs::read_dir(&own_images)
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= started))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !built_there.iter().any(|name| name == "busybox" || name.starts_with("rootfs")),
        "the bisect built a root filesystem of its own in {}: {built_there:?}",
        own_images.display()
    );
    let replayed = bisect(&["--replay", &log, "--", "true"]).ok();
    assert!(replayed.stdout().contains(&format!("first bad commit: {regression}")));
    assert!(replayed.stdout().contains("0 step(s)"), "{}", replayed.stdout());

    // the panic: bad, the commit that plants it named (the same checkout and build folder);
    // without a command: check's checks decide
    let panicked = bisect(&["--good", &base, "--bad", "panics"]).ok();
    assert!(
        panicked
            .stdout()
            .contains(&format!("first bad commit: {} init: the planted panic", branch[4])),
        "{}\n{}",
        panicked.stdout(),
        panicked.stderr()
    );
    assert!(panicked
        .stdout()
        .contains("panic: Kernel panic - not syncing: bisect history: planted"));
    assert_eq!(git(&["rev-parse", "HEAD"]), user_head);
    let _ = std::fs::remove_dir_all(&repo);
}
