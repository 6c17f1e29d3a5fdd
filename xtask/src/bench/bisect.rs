//! `bench --only bisect`: `cargo xtask bisect` against `git bisect run` with the script a person
//! writes the tutorial's way (`make` in the tree, the tutorial's QEMU line with a timeout, a grep
//! of the console), on the same histories made from the unpacked tree, on this machine. Two
//! histories: small changes to files only (target: no slower by hand), and the same with a
//! widely included header changed now and then, which a bisect's back and forth recompiles again
//! by hand and looks up in ccache (target: at most 0.7).
//!
//! Both sides start from an empty kernel build folder and a root filesystem made before the clock
//! starts (the script boots our initramfs); ours from a ccache of the bench's own with nothing of
//! the kernel's in it, and without its checkout, which it makes (by hand, the tree is there).

use std::{path::Path, time::Duration};

use anyhow::{bail, Context as _, Result};
use bisect::synthetic::{self, History, LEAVES, REGRESSION_CHECK, REGRESSION_FILE};
use fetch::Package;
use stages::{pipeline::Built, sources::Source};
use xshell::cmd;

use super::{
    child,
    common::{remove_dir_if_present, timed, Bench},
    report::{ratio, Report},
};

/// A header nearly every file includes: a declaration in it changes every preprocessed file.
const SHARED_HEADER: &str = "include/linux/kernel.h";

pub fn versus_by_hand(bench: &Bench, built: &Built, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let tree = Source::plan(ctx, Package::Kernel)?.tree(ctx)?;
    let work = ctx.layout.bench_work("bisect");
    remove_dir_if_present(&work)?;
    std::fs::create_dir_all(&work)?;
    let initramfs = initramfs_with_check(ctx, built, &work)?;
    for (name, header_changes, target) in
        [("leaf changes", &[][..], 1.0), ("a shared header now and then", &[4, 12][..], 0.7)]
    {
        let repo = work.join("repo");
        let (history, expected) = make_history(&tree, &repo, header_changes)?;
        let ours = ours(bench, &work, &history, &expected)?;
        let theirs = by_hand(bench, built, &work, &history, &initramfs, &expected)?;
        let figure = report.seconds("bisect", format!("16 commits, {name}"), ours.took);
        figure.tutorial_way = Some(theirs.as_secs_f64());
        let without_checkout = ours.took.as_secs_f64() - ours.checkout;
        figure.note = format!(
            "{}; of it {:.1} s making the bisect's checkout, once per repository ({:.2} without); \
             tutorial's way: git bisect run with make in the tree, the tutorial's QEMU line",
            ratio(ours.took, theirs, Some(target)).1,
            ours.checkout,
            without_checkout / theirs.as_secs_f64(),
        );
        remove_dir_if_present(&repo)?;
    }
    remove_dir_if_present(&work)?;
    Ok(())
}

/// The tree, then sixteen commits: a comment in a leaf file each, the regression at 11, and the
/// shared header given a new declaration at `header_changes`. Returns the history and the
/// regression's hash.
fn make_history(tree: &Path, repo: &Path, header_changes: &[usize]) -> Result<(History, String)> {
    let history = History::from_tree(tree, repo)?;
    let mut regression = String::new();
    for n in 1..=16 {
        if n == 11 {
            regression = history.commit_edit(
                REGRESSION_FILE,
                "proc: the planted regression",
                synthetic::plant_regression,
            )?;
        } else if header_changes.contains(&n) {
            // before the include guard's #endif, the file's last
            history.commit_edit(SHARED_HEADER, &format!("kernel.h: change {n}"), |text| {
                let at = text.rfind("#endif").unwrap_or(text.len());
                format!("{}extern int kardel_bisect_change_{n};\n{}", &text[..at], &text[at..])
            })?;
        } else {
            history.commit_comment(LEAVES[n % LEAVES.len()], n)?;
        }
    }
    Ok((history, regression))
}

/// `cargo xtask bisect` as a child, from a target folder with only BusyBox and the images in it
/// (built first, untimed) and a ccache of the bench's own with only BusyBox's compiles in it.
fn ours(bench: &Bench, work: &Path, history: &History, expected: &str) -> Result<Ours> {
    let ctx = &bench.ctx;
    let target = work.join("ours");
    let cache = work.join("ccache");
    for dir in [&target, &cache] {
        remove_dir_if_present(dir)?;
    }
    let previous = std::env::var_os("CCACHE_DIR");
    // the child inherits it
    std::env::set_var("CCACHE_DIR", &cache);
    let result = (|| {
        let mut selection = bench.selection.clone();
        selection.sources.kernel_source = Some(history.repo.clone());
        selection.sources.kernel_version = None;
        let bisecting = child::Xtask::in_target(&selection, ctx, &target);
        // BusyBox and the images built before the clock starts, as the script's initramfs is:
        // the bisect boots the ones of the target folder it runs from
        bisecting.rootfs()?;
        // the answer from the bisect's report, not from its summary for people
        let json = work.join("bisect.json");
        let json_arg = json.display().to_string();
        let ends = ["--good", history.base.as_str(), "--bad", "main", "--json", &json_arg];
        let ran = bisecting.bisect(&ends, &["sh", "-c", REGRESSION_CHECK])?;
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
        let named = report["first_bad"]["hash"].as_str().unwrap_or_default();
        if named.is_empty() || !(named.starts_with(expected) || expected.starts_with(named)) {
            bail!("our bisect named another commit than {expected}:\n{}", ran.stdout);
        }
        Ok(Ours { took: ran.elapsed, checkout: ran.timing("checkout")? })
    })();
    match previous {
        Some(dir) => std::env::set_var("CCACHE_DIR", dir),
        None => std::env::remove_var("CCACHE_DIR"),
    }
    result
}

struct Ours {
    took: Duration,
    /// of it, making the bisect's own checkout: once per repository, the next bisect of it
    /// starts from the one there (by hand, the tree is there already)
    checkout: f64,
}

/// The image the script boots: the initramfs, with an `/init` that prints /proc/version.
fn initramfs_with_check(
    ctx: &stages::Context,
    built: &Built,
    work: &Path,
) -> Result<std::path::PathBuf> {
    let extra = work.join("init-tree");
    std::fs::create_dir_all(&extra)?;
    let init = extra.join("init");
    std::fs::write(
        &init,
        // init's end panics the kernel, which panic=-1 and -no-reboot turn into QEMU's exit (the
        // tiny kernel has no ACPI for a poweroff)
        "#!/bin/sh\nmount -t proc proc /proc\necho \"VERSION: $(cat /proc/version)\"\n",
    )?;
    std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let out = work.join("initramfs-with-check.cpio.gz");
    let (base, out_text) = (&built.images.initramfs, out.display().to_string());
    // the kernel unpacks concatenated archives in order: the later /init wins
    let script = format!(
        "cat {} > {out_text} && cd {} && echo init | cpio -o -H newc 2>/dev/null | gzip >> {out_text}",
        base.display(),
        extra.display()
    );
    cmd!(ctx.sh, "sh -c {script}").quiet().run()?;
    Ok(out)
}

/// `git bisect run` with the hand-written script in a clone of its own, built in the tree.
fn by_hand(
    bench: &Bench,
    built: &Built,
    work: &Path,
    history: &History,
    initramfs: &Path,
    expected: &str,
) -> Result<Duration> {
    let ctx = &bench.ctx;
    let sh = &ctx.sh;
    let clone = work.join("by-hand");
    remove_dir_if_present(&clone)?;
    let repo = &history.repo;
    cmd!(sh, "git clone --quiet --shared {repo} {clone}").quiet().run()?;
    std::fs::copy(&built.kernel.config, clone.join(".config")).context("the kernel's config")?;
    let arch = ctx.arch;
    let machine = if arch.board.is_empty() { String::new() } else { format!("-M {}", arch.board) };
    let cpu = if arch.cpu.is_empty() { String::new() } else { format!("-cpu {}", arch.cpu) };
    let cross = ctx.cross_prefix();
    let console = work.join("console.txt");
    let script = work.join("bisect-step.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # a step of git bisect run, the tutorial's way\n\
             export CCACHE_DISABLE=1\n\
             make ARCH={karch} CROSS_COMPILE={cross} olddefconfig >/dev/null 2>&1 || exit 125\n\
             make ARCH={karch} CROSS_COMPILE={cross} -j{jobs} {target} >/dev/null 2>&1 || exit 125\n\
             timeout 120 {qemu} {machine} {cpu} -m 256 -nographic -no-reboot -kernel {image} \
             -initrd {initramfs} -append 'console={con} rdinit=/init panic=-1' < /dev/null > {console} 2>&1\n\
             grep -q 'VERSION: .*regressed' {console} && exit 1\n\
             grep -q 'VERSION: ' {console} && exit 0\n\
             exit 125\n",
            karch = arch.kernel_arch,
            jobs = ctx.jobs,
            target = arch.kernel_target,
            qemu = arch.qemu,
            image = arch.kernel_image,
            initramfs = initramfs.display(),
            con = arch.console,
            console = console.display(),
        ),
    )?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let base = &history.base;
    let (output, took) = timed(|| {
        cmd!(sh, "git -C {clone} bisect start main {base}").quiet().run()?;
        Ok(cmd!(sh, "git -C {clone} bisect run {script}").quiet().read()?)
    })?;
    if !output.contains(&format!("{expected} is the first bad commit")) {
        bail!("git bisect run by hand named another commit than {expected}:\n{output}");
    }
    remove_dir_if_present(&clone)?;
    Ok(took)
}
