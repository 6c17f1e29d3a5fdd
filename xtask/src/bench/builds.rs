//! The build parts: every stage from nothing, rebuilds, the image step beside the tutorial's
//! shell pipelines, other architectures' kernel builds (when asked), and sizes.

use std::process::Command;

use anyhow::{Context as _, Result};
use fetch::Package;
use rootfs::Compression;
use stages::{busybox, images, kernel, pipeline::Built, sources::Source, Context};
use xshell::cmd;

use super::{
    boots,
    common::{self, remove_dir_if_present, size_of, timed, zstd_built, Bench},
    report::{median_of, Report},
};

/// Every stage from an empty work folder: unpack, configure, build, images.
pub fn from_nothing(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    remove_dir_if_present(&ctx.layout.work())?;
    remove_dir_if_present(&ctx.layout.images())?;
    for package in [Package::Kernel, Package::Busybox] {
        let source = Source::plan(ctx, package)?;
        let (_, elapsed) = timed(|| source.tree(ctx))?;
        report.seconds("build", format!("unpack {}", package.name()), elapsed).note =
            source.describe();
    }
    let (_, elapsed) = timed(|| kernel::configure(ctx))?;
    report.seconds("build", "configure kernel (checked)", elapsed);
    let (_, elapsed) = timed(|| kernel::build(ctx))?;
    report.seconds("build", format!("kernel build (-j{})", ctx.jobs), elapsed).note =
        ccache_note(kernel::package(ctx)?.ccache_stats());
    let (_, elapsed) = timed(|| busybox::configure(ctx))?;
    report.seconds("build", "configure busybox (checked)", elapsed);
    let (busybox, elapsed) = timed(|| busybox::build(ctx))?;
    report.seconds("build", format!("busybox build (-j{})", ctx.jobs), elapsed).note =
        ccache_note(busybox::package(ctx)?.ccache_stats());
    let (_, elapsed) = timed(|| images::build(ctx, &busybox.0, None))?;
    report.seconds("build", "all three images", elapsed);
    Ok(())
}

/// What a build asked of ccache: with the cache the tests and earlier builds left, the build
/// part measures lookups where they compiled the same code (`--no-ccache` measures compiles).
fn ccache_note(stats: Option<stages::ccache::Stats>) -> String {
    match stats {
        Some(stats) => format!("ccache: {}", stats.describe()),
        None => "without ccache".to_string(),
    }
}

/// A full kernel build into an empty ccache of the bench's own, then again from an empty build
/// folder with that cache warm: what `cargo clean` then `all`, a second checkout or a bisect
/// coming back to a commit cost with the cache.
pub fn ccache(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    if ctx.ccache.is_none() {
        report.not_measured(
            "ccache",
            "kernel build, empty and warm cache",
            "ccache is not installed, or --no-ccache".to_string(),
        );
        return Ok(());
    }
    let cache = ctx.layout.bench_work("ccache");
    remove_dir_if_present(&cache)?;
    let previous = std::env::var_os("CCACHE_DIR");
    // make inherits it; the bench runs one build at a time
    std::env::set_var("CCACHE_DIR", &cache);
    let rounds = (|| -> Result<Vec<std::time::Duration>> {
        let mut took = Vec::new();
        for round in ["empty", "warm"] {
            kernel::remove_build_dir(ctx)?;
            remove_dir_if_present(&ctx.layout.kernel_images(&ctx.kernel_flavour()))?;
            let (_, elapsed) = timed(|| kernel::build(ctx))?;
            report
                .seconds("ccache", format!("kernel build, {round} cache (-j{})", ctx.jobs), elapsed)
                .note = ccache_note(kernel::package(ctx)?.ccache_stats());
            took.push(elapsed);
        }
        Ok(took)
    })();
    match previous {
        Some(dir) => std::env::set_var("CCACHE_DIR", dir),
        None => std::env::remove_var("CCACHE_DIR"),
    }
    let took = rounds?;
    let (ratio, note) = super::report::ratio(took[1], took[0], Some(0.3));
    report.add("ccache", "warm over empty", ratio, "x").note = format!(
        "{note}; configure included; ccache's published figure for a defconfig: about 0.15"
    );
    remove_dir_if_present(&cache)?;
    Ok(())
}

pub fn rebuilds(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let noop = median_of(5, || bench.child().all())?;

    // the kernel's own make with nothing to do, in the same build tree
    let (build, target) = kernel::rebuild_target(ctx)?;
    let make_noop = build.build(&format!("make {target} (nothing to do)"), &[&target])?;
    let figure = report.seconds("rebuild", "no-op `all` (whole process, median of 5)", noop);
    figure.tutorial_way = Some(make_noop.as_secs_f64());
    figure.note = format!("tutorial's way: `make {target}` with nothing to do");
    report.add(
        "rebuild",
        "no-op speed-up over make",
        make_noop.as_secs_f64() / noop.as_secs_f64(),
        "x",
    );

    // A fragment of the user's, touched (same content), then changed.
    let fragment = ctx.layout.bench_work("fragment.config");
    std::fs::create_dir_all(fragment.parent().expect("in the bench's folder"))?;
    let write = |text: &str| {
        std::fs::write(&fragment, text).with_context(|| format!("writing {}", fragment.display()))
    };
    write("# the bench's own fragment\nCONFIG_LOCALVERSION=\"-bench1\"\n")?;
    let (selection, with_fragment) =
        bench.variant(|s| s.kernel_fragments.push(fragment.clone()))?;
    kernel::build(&with_fragment)?;
    let touch = Command::new("touch").arg(&fragment).status()?;
    anyhow::ensure!(touch.success(), "touch {}", fragment.display());
    let touched = super::child::Xtask::new(&selection, &with_fragment).all()?;
    report.seconds("rebuild", "`all` after touching a fragment", touched).note =
        "same content: stamps hash contents, not times".to_string();
    write("# the bench's own fragment\nCONFIG_LOCALVERSION=\"-bench2\"\n")?;
    let (_, changed) = timed(|| kernel::build(&with_fragment))?;
    report.seconds("rebuild", "kernel after changing a fragment", changed).note =
        "CONFIG_LOCALVERSION: reconfigure, recompile what depends on it, relink".to_string();
    // back to the benchmark's own configuration
    kernel::build(ctx)?;
    Ok(())
}

/// The project's image step against the tutorial's shell pipelines on the same tree.
pub fn image_steps(bench: &Bench, built: &Built, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let tree = images::rootfs_tree(ctx, &built.busybox, None)?;
    let out = ctx.layout.bench_work("images");
    std::fs::create_dir_all(&out)?;
    let mtime = ctx.source_date_epoch;

    // the same tree as a folder, for the tutorial's commands
    let staging = out.join("staging");
    remove_dir_if_present(&staging)?;
    let sh = &ctx.sh;
    let install = &built.busybox.install_dir;
    cmd!(sh, "cp -a {install} {staging}").run()?;
    for dir in ["etc/init.d", "proc", "sys", "mnt", "dev", "tmp"] {
        std::fs::create_dir_all(staging.join(dir))?;
    }
    let files = ctx.repo.join("crates/rootfs/files/etc");
    cmd!(sh, "cp -a {files}/. {staging}/etc/").run()?;

    let samples = 3;
    let ours = median_of(samples, || {
        let cpio = out.join("ours.cpio.gz");
        Ok(timed(|| rootfs::write_initramfs(&tree, mtime, Compression::Gzip, &cpio))?.1)
    })?;
    let cpio_out = out.join("tutorial.cpio.gz");
    let tutorial = median_of(samples, || {
        let script = format!(
            "cd {} && find . | cpio -o -H newc 2>/dev/null | gzip > {}",
            staging.display(),
            cpio_out.display()
        );
        Ok(timed(|| Ok(cmd!(sh, "sh -c {script}").quiet().run()?))?.1)
    })?;
    let figure = report.seconds("images", "initramfs: cpio + gzip (median of 3)", ours);
    figure.tutorial_way = Some(tutorial.as_secs_f64());
    figure.note = "tutorial's way: find | cpio -o -H newc | gzip".to_string();

    let ext4_work = out.join("ext4-work");
    let size = ctx.selection.image_size_mib << 20;
    let ours = median_of(samples, || {
        let img = out.join("ours.img.gz");
        Ok(timed(|| rootfs::write_ext4(&tree, &img, size, mtime, Compression::Gzip, &ext4_work))?.1)
    })?;
    let img = out.join("tutorial.img");
    let mib = ctx.selection.image_size_mib.to_string();
    let tutorial = median_of(samples, || {
        let _ = std::fs::remove_file(out.join("tutorial.img.gz"));
        Ok(timed(|| {
            cmd!(sh, "dd if=/dev/zero of={img} bs=1M count={mib} status=none").quiet().run()?;
            cmd!(sh, "mkfs.ext4 -q -F -d {staging} {img}").quiet().run()?;
            cmd!(sh, "gzip --best -f {img}").quiet().run()?;
            Ok(())
        })?
        .1)
    })?;
    let figure = report.seconds("images", "initrd: ext4 + gzip, checked (median of 3)", ours);
    figure.tutorial_way = Some(tutorial.as_secs_f64());
    figure.note = "tutorial's way: dd + mkfs.ext4 + gzip --best (-d for the root-only loop mount)"
        .to_string();
    Ok(())
}

/// Every other row of the architecture table: its kernel built from an empty build folder in the
/// bench's own target folder (the same profile and sources), then its initramfs boot to the
/// prompt. A row whose QEMU or cross compiler is not installed is said so, not measured.
pub fn other_arches(bench: &Bench, report: &mut Report) -> Result<()> {
    for (arch, selection) in common::other_arches(bench, report) {
        let target = stages::layout::Layout::new(bench.user.layout.target(), &arch.name)
            .bench_target(&bench.ctx.selection.profile);
        let actx = Context::new(&selection, target)?;
        kernel::remove_build_dir(&actx)?;
        remove_dir_if_present(&actx.layout.kernel_images(&actx.kernel_flavour()))?;
        let (_, elapsed) = timed(|| kernel::build(&actx))?;
        report.seconds(
            "arches",
            format!("{} {} kernel build (-j{})", arch.name, actx.selection.profile, actx.jobs),
            elapsed,
        );
        boots::initramfs_boot(bench, &actx, report)?;
    }
    Ok(())
}

pub fn sizes(bench: &Bench, built: &Built, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let mut bytes = |name: &str, path: &std::path::Path| -> Result<()> {
        report.add("sizes", name, size_of(path)?, "bytes");
        Ok(())
    };
    bytes(ctx.arch.kernel_image_name(), &built.kernel.image)?;
    bytes("busybox (static)", &built.busybox.binary)?;
    bytes("rootfs.img.gz (initrd)", &built.images.initrd)?;
    bytes("rootfs.cpio.gz (initramfs)", &built.images.initramfs)?;
    bytes("hello.cpio.gz", &built.images.hello)?;
    let zstd = zstd_built(bench, built)?;
    bytes("rootfs.cpio.zst (initramfs, zstd)", &zstd.images.initramfs)?;
    bytes("rootfs.img.zst (initrd, zstd)", &zstd.images.initrd)?;
    Ok(())
}
