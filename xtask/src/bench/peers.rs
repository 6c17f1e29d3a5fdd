//! The parts only run when asked: virtme-ng beside this tool, and the kernel hacker's edit loop
//! (KUnit beside kunit.py is `kunit.rs`).

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use boot::{boots, machine};
use fetch::Package;
use stages::{hostdeps::Step, kernel, pipeline, sources::Source, summary::Summary};
use xshell::cmd;

use super::{
    child,
    common::{self, remove_dir_if_present, Bench},
    report::{median_of, ratio, Report},
};

/// What virtme-ng needs that this host lacks, named with where it comes from, if anything.
fn virtme_ng_missing() -> Option<String> {
    [
        ("vng", "virtme-ng: `pip install virtme-ng`"),
        ("busybox", "virtme-ng's initramfs: Debian's busybox-static"),
        ("udevadm", "virtme-ng's guest runs the host's udev to find its virtio ports: udev"),
    ]
    .into_iter()
    .find(|(program, _)| !stages::hostdeps::on_path(program))
    .map(|(program, why)| format!("no {program} on PATH ({why})"))
}

/// virtme-ng (`vng`, PyPI `virtme-ng`) beside this tool, from the same kernel source: its own
/// config (`vng --kconfig`: the defconfig plus what it needs) built by `vng --build` in a copy of
/// the tree, and `vng -r bzImage -- uname -r` under TCG, against `run -- uname -r` on this
/// profile: the boot to the result (median of 3) and the tree to the result (configure, build,
/// boot; ours from empty build folders). Not in the default run: vng's kernel is a defconfig
/// build, about 12 minutes on two cores here.
pub fn virtme_ng(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let sh = &ctx.sh;
    if let Some(missing) = virtme_ng_missing() {
        bail!("bench --only peers: {missing}");
    }
    let version = cmd!(sh, "vng --version").quiet().read().unwrap_or_default();
    let tree = Source::plan(ctx, Package::Kernel)?.tree(ctx)?;
    let peer_tree = ctx.layout.bench_work("peers/linux");
    remove_dir_if_present(&peer_tree)?;
    std::fs::create_dir_all(peer_tree.parent().expect("has a parent"))?;
    cmd!(sh, "cp -a {tree} {peer_tree}").run()?;
    let vng_log = ctx.layout.log("peers-vng");
    // vng works on the kernel tree it is started in
    let in_tree = xshell::Shell::new()?;
    in_tree.change_dir(&peer_tree);
    let vng = |what: &str, args: &[&str]| -> Result<Duration> {
        let command = cmd!(in_tree, "vng {args...}");
        exec::run_logged(command, &vng_log, &format!("virtme-ng: {what}"))
    };
    let configure = vng("vng --kconfig", &["--kconfig"])?;
    let jobs = ctx.jobs.to_string();
    let build = vng("vng --build", &["--build", "--jobs", &jobs])?;
    let image = peer_tree.join(&ctx.arch.kernel_image);
    let image_arg = image.display().to_string();
    // TCG (KVM hangs here), and 9p: virtiofsd's failed start costs seconds before vng falls
    // back to it anyway
    let vng_run = ["--disable-kvm", "--force-9p", "--run", image_arg.as_str(), "--", "uname", "-r"];
    let vng_boot = median_of(3, || {
        let start = Instant::now();
        // through pipes: vng's QEMU reopens its standard output, truncating a file
        let output = Command::new("vng")
            .args(vng_run)
            .current_dir(&peer_tree)
            .stdin(Stdio::null())
            .output()
            .context("running vng")?;
        let elapsed = start.elapsed();
        if !output.status.success() || output.stdout.is_empty() {
            bail!(
                "`vng {}` failed ({}):\n{}",
                vng_run.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(elapsed)
    })?;

    let ours = median_of(3, || bench.child().run("tcg", &[], &["uname", "-r"]))?;
    let figure =
        report.seconds("peers", "`run -- uname -r`, boot to result, tcg (median of 3)", ours);
    // `vng --version` says its own name
    figure.note = format!("{}: {:.2} s", version.trim(), vng_boot.as_secs_f64());
    report.add(
        "peers",
        "boot to result: virtme-ng's time over ours",
        ratio(vng_boot, ours, None).0,
        "x",
    );

    // ours from the same unpacked tree, every build folder empty: configure, build, images, boot
    let fresh = ctx.layout.bench_work("peers/ours");
    remove_dir_if_present(&fresh)?;
    let mut selection = bench.selection.clone();
    selection.sources.kernel_source = Some(tree.clone());
    selection.sources.kernel_version = None;
    let ours_tree =
        child::Xtask::in_target(&selection, ctx, &fresh).run("tcg", &[], &["uname", "-r"])?;
    let vng_tree = configure + build + vng_boot;
    let figure = report.seconds(
        "peers",
        format!("tree to result, {} profile (configure, build, boot)", ctx.selection.profile),
        ours_tree,
    );
    figure.note = format!(
        "virtme-ng: {:.0} s (vng --kconfig {:.0} s, vng --build -j{} {:.0} s, boot {:.2} s)",
        vng_tree.as_secs_f64(),
        configure.as_secs_f64(),
        ctx.jobs,
        build.as_secs_f64(),
        vng_boot.as_secs_f64()
    );
    report.add(
        "peers",
        "tree to result: virtme-ng's time over ours",
        ratio(vng_tree, ours_tree, None).0,
        "x",
    );
    Ok(())
}

/// The host's programs in the guest: `run --rootfs / -- CMD` beside virtme-ng's `vng --run IMAGE
/// -- CMD` (whose guest's root is the host's too) on the same kernel image, the profile's
/// workbench kernel, under TCG, for `true` and python3's start; medians of the bench's boots.
/// Skipped, saying so, without virtme-ng (CI installs it).
pub fn host_root(bench: &Bench, report: &mut Report) -> Result<()> {
    if let Some(missing) = virtme_ng_missing() {
        eprintln!("bench rootfs: skipped: {missing}");
        report.not_measured("rootfs", "`run --rootfs /` beside virtme-ng", missing);
        return Ok(());
    }
    let user = &bench.user;
    let xtask = child::Xtask::new(&bench.selection, user);
    let root = ["--rootfs".to_string(), "/".to_string()];
    // builds the workbench kernel (feature root) where the tests have not
    xtask.run("tcg", &root, &["true"])?;
    let target = user.layout.target().to_path_buf();
    let root_ctx = stages::Context::with_features(&bench.selection, target, &["root"])?;
    let (kernel, _) = stages::kernel::build(&root_ctx)?;
    let image = kernel.image.display().to_string();
    let version = cmd!(user.sh, "vng --version").quiet().read().unwrap_or_default();
    let boots = bench.boots;
    let python = "python3 -c 'print(42)'";
    for (name, ours_args, theirs, target) in [
        ("true", vec!["true"], "true", 0.1),
        ("python3", vec!["python3", "-c", "print(42)"], python, 0.25),
    ] {
        let ours = median_of(boots, || xtask.run("tcg", &root, &ours_args))?;
        let vng_args = ["--disable-kvm", "--force-9p", "--run", image.as_str(), "--", theirs];
        let vng = median_of(boots, || {
            let start = Instant::now();
            let output = Command::new("vng")
                .args(vng_args)
                .stdin(Stdio::null())
                .output()
                .context("running vng")?;
            let elapsed = start.elapsed();
            if !output.status.success() {
                bail!(
                    "`vng {}` failed ({}):\n{}",
                    vng_args.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(elapsed)
        })?;
        let figure = report.seconds(
            "rootfs",
            format!("`run --rootfs / -- {theirs}`, start to result, tcg (median of {boots})"),
            ours,
        );
        figure.note = format!(
            "{} `--run {} -- {theirs}`: {:.2} s",
            version.trim(),
            root_ctx.kernel_flavour(),
            vng.as_secs_f64()
        );
        let (value, note) = ratio(ours, vng, Some(target));
        report
            .add("rootfs", format!("{name}: ours over virtme-ng's, same kernel"), value, "x")
            .note = note;
    }
    Ok(())
}

/// `test --kselftest` (the default set) from an empty target folder (ccache as it is): tree to
/// results, with its parts as the run records them (the selftests' build, the kernel and images,
/// the boot and the run); then again with nothing changed, which must build no target; and the
/// size of the tests the images carry.
pub fn kselftests(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let fresh = ctx.layout.bench_work("kselftest");
    remove_dir_if_present(&fresh)?;
    let xtask = child::Xtask::in_target(&bench.selection, ctx, &fresh);
    for (name, again) in
        [("tree to results, empty target folder", false), ("again, nothing changed", true)]
    {
        let ran = xtask.test_timed("tcg", &["--kselftest"])?;
        let built = ran.timing("kselftest targets built")?;
        if again && built > 0.0 {
            bail!("`test --kselftest` with nothing changed built {built} targets again");
        }
        let figure = report.seconds(
            "kselftest",
            format!("`test --kselftest` (default set), {name}, tcg"),
            ran.elapsed,
        );
        figure.note = format!(
            "selftests' build {:.1} s ({built} targets built), kernel and images {:.1} s, boot and run {:.1} s",
            ran.timing("kselftest build")?,
            ran.timing("kselftest kernel and images")?,
            ran.timing("kselftest boot and run")?,
        );
    }
    let fresh_ctx = stages::Context::new(&bench.selection, fresh.clone())?;
    let sets = fresh_ctx.layout.kselftest_sets();
    let bytes = cmd!(ctx.sh, "du -sb {sets}").quiet().read()?;
    let bytes: f64 = bytes.split_whitespace().next().unwrap_or("0").parse().unwrap_or(f64::NAN);
    report.add("kselftest", "the default set's tests in the images, uncompressed", bytes, "bytes");
    Ok(())
}

/// The kernel hacker's edit loop, with the unpacked tree as a developer's own
/// (`--kernel-source DIR`): one `.c` file touched, then `run -- true` from start to exit (make
/// finds the change, the boot runs the command), against the tutorial's way on the same build
/// folder: `make bzImage`, then its QEMU command line to the prompt. Medians of 3.
pub fn edit_loop(bench: &Bench, report: &mut Report) -> Result<()> {
    const EDITED: &str = "kernel/sys.c";
    let ctx = &bench.ctx;
    let tree = Source::plan(ctx, Package::Kernel)?.tree(ctx)?;
    let (selection, tree_ctx) = bench.variant(|s| {
        s.sources.kernel_source = Some(tree.clone());
        s.sources.kernel_version = None;
    })?;
    let xtask = child::Xtask::new(&selection, &tree_ctx);
    // the tree's own build folder, built once before the loop is timed
    xtask.run("tcg", &[], &["true"])?;
    let edited = tree.join(EDITED);
    let touch = || -> Result<()> {
        let status = Command::new("touch").arg(&edited).status()?;
        anyhow::ensure!(status.success(), "touch {}", edited.display());
        Ok(())
    };
    let ours = median_of(3, || {
        touch()?;
        xtask.run("tcg", &[], &["true"])
    })?;
    let built = pipeline::build_all(&tree_ctx, false, &[Step::Qemu], &mut Summary::default())?;
    let (build, target) = kernel::rebuild_target(&tree_ctx)?;
    let boot = boots::by_name("initramfs");
    let machine = common::tutorial_machine(&tree_ctx, &built, boot)?;
    let tutorial = median_of(3, || {
        touch()?;
        let make = build.build(&format!("make {target} after touching {EDITED}"), &[&target])?;
        let mut session = machine::spawn(tree_ctx.site(), &machine, boot)?;
        Ok(make + machine::wait_ready(&mut session, boot)?)
    })?;
    let figure = report.seconds(
        "edit",
        format!("touch {EDITED}, then `run -- true` to exit (median of 3)"),
        ours,
    );
    figure.tutorial_way = Some(tutorial.as_secs_f64());
    figure.note = format!(
        "tutorial's way: make {target}, then its command line to the prompt; {}",
        ratio(ours, tutorial, None).1
    );
    Ok(())
}
