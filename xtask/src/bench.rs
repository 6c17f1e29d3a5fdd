//! `cargo xtask bench`: build, rebuild and boot times and sizes, measured in one run on this
//! machine, each beside the same work done the tutorial's way where that is cheap to measure.
//!
//! It builds into its own target folder (`target/bench/<profile>`), so the user's build is never
//! disturbed, and the build part starts that folder from nothing.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use fetch::Package;
use qemu::{Accel, AccelChoice};
use rootfs::Compression;
use serde::Serialize;
use xshell::cmd;

use crate::{
    boot::{self, Speed},
    boots, busybox,
    context::Context,
    flags::{self, BenchPart},
    hostdeps::{self, Step},
    images, kernel,
    pipeline::{self, Built},
    sources::Source,
    summary::{human_size, Summary},
    timeline, uboot,
};

#[derive(Serialize)]
struct Figure {
    part: &'static str,
    name: String,
    value: f64,
    unit: &'static str,
    /// the same work done the tutorial's way, in the same unit
    #[serde(skip_serializing_if = "Option::is_none")]
    tutorial_way: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
}

#[derive(Serialize, Default)]
struct Report {
    profile: String,
    figures: Vec<Figure>,
}

impl Report {
    fn add(
        &mut self,
        part: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> &mut Figure {
        self.figures.push(Figure {
            part,
            name: name.into(),
            value,
            unit,
            tutorial_way: None,
            note: String::new(),
        });
        let figure = self.figures.last_mut().expect("just pushed");
        eprintln!("bench: {} {}: {}", figure.part, figure.name, show(figure.value, figure.unit));
        figure
    }

    fn seconds(
        &mut self,
        part: &'static str,
        name: impl Into<String>,
        elapsed: Duration,
    ) -> &mut Figure {
        self.add(part, name, elapsed.as_secs_f64(), "s")
    }

    fn bytes(&mut self, name: impl Into<String>, path: &Path) -> Result<&mut Figure> {
        let size =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
        Ok(self.add("sizes", name, size as f64, "bytes"))
    }

    fn table(&self) -> String {
        let mut out = format!(
            "{:<9} {:<44} {:>12} {:>14}  {}\n",
            "part", "figure", "value", "tutorial's way", "note"
        );
        for f in &self.figures {
            let tutorial = f.tutorial_way.map(|v| show(v, f.unit)).unwrap_or_default();
            out.push_str(&format!(
                "{:<9} {:<44} {:>12} {:>14}  {}\n",
                f.part,
                f.name,
                show(f.value, f.unit),
                tutorial,
                f.note
            ));
        }
        out
    }
}

fn show(value: f64, unit: &str) -> String {
    match unit {
        "s" if value < 1.0 => format!("{:.0} ms", value * 1000.0),
        "s" => format!("{value:.2} s"),
        "bytes" => human_size(value as u64),
        "x" => format!("{value:.1}x"),
        "n/a" => "-".to_string(),
        _ => format!("{value} {unit}"),
    }
}

fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let value = work()?;
    Ok((value, start.elapsed()))
}

/// The tutorial's command line on TCG, for `boot` on the built kernel and images.
fn tutorial_machine(ctx: &Context, built: &Built, boot: &boots::Boot) -> Result<qemu::Machine> {
    boot::machine(ctx, built, boot, &flags::Machine::plain(AccelChoice::Tcg), Speed::Tutorial, true)
}

/// A folder the bench starts afresh.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// The median of `n` samples, each taken by `sample`, in the samples' own order.
fn median_of<T: Ord>(n: u32, mut sample: impl FnMut() -> Result<T>) -> Result<T> {
    let mut samples = (0..n).map(|_| sample()).collect::<Result<Vec<_>>>()?;
    samples.sort();
    Ok(samples.swap_remove(samples.len() / 2))
}

pub fn run(flags: flags::Bench) -> Result<()> {
    let user_ctx = Context::new(&flags.build)?;
    hostdeps::ensure(&user_ctx.sh, user_ctx.arch, &hostdeps::ALL_STEPS, flags.build.install_deps)?;
    let bench_target = user_ctx.layout.bench_target(&user_ctx.profile_name);
    let ctx = Context::with_target(&flags.build, user_ctx.repo.clone(), bench_target)?;
    let parts: Vec<BenchPart> = match flags.only {
        Some(part) => vec![part],
        None => vec![
            BenchPart::Build,
            BenchPart::Rebuild,
            BenchPart::Images,
            BenchPart::Boot,
            BenchPart::Uboot,
            BenchPart::Arches,
            BenchPart::Features,
            BenchPart::Sizes,
        ],
    };
    let mut report = Report { profile: ctx.profile_name.clone(), figures: Vec::new() };

    if parts.contains(&BenchPart::Build) {
        build_from_nothing(&ctx, &mut report)?;
    }
    let built = pipeline::build_all(&ctx, false, &[Step::Qemu], &mut Summary::default())?;
    for part in parts {
        match part {
            BenchPart::Build => {}
            BenchPart::Rebuild => rebuilds(&ctx, &flags.build, &mut report)?,
            BenchPart::Images => image_steps(&ctx, &built, &mut report)?,
            BenchPart::Boot => boot_times(&ctx, &flags.build, &built, flags.boots, &mut report)?,
            BenchPart::Uboot => uboot_boots(&ctx, &flags.uboot, &built, flags.boots, &mut report)?,
            BenchPart::Arches => other_arches(&user_ctx, &flags.build, flags.boots, &mut report)?,
            BenchPart::Features => {
                feature_costs(&user_ctx, &flags.build, flags.boots, &mut report)?
            }
            BenchPart::Peers => peers(&ctx, &mut report)?,
            BenchPart::Edit => edit_loop(&ctx, &flags.build, &mut report)?,
            BenchPart::Sizes => sizes(&ctx, &flags.build, &built, &mut report)?,
        }
    }

    println!("benchmark, profile {}, {} job(s):\n{}", report.profile, ctx.jobs, report.table());
    if let Some(path) = flags.json {
        let json = serde_json::to_string_pretty(&report)?;
        artifact::write_atomic(&path, |f| Ok(std::io::Write::write_all(f, json.as_bytes())?))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

/// Every stage from an empty work folder: unpack, configure, build, images.
fn build_from_nothing(ctx: &Context, report: &mut Report) -> Result<()> {
    let work = ctx.layout.work();
    remove_dir_if_present(&work)?;
    let images_dir = ctx.layout.images();
    remove_dir_if_present(&images_dir)?;
    for package in [Package::Kernel, Package::Busybox] {
        let source = Source::plan(ctx, package)?;
        let (_, elapsed) = timed(|| source.tree(ctx))?;
        report.seconds("build", format!("unpack {}", package.name()), elapsed).note =
            source.describe();
    }
    let (_, elapsed) = timed(|| kernel::configure(ctx))?;
    report.seconds("build", "configure kernel (checked)", elapsed);
    let (_, elapsed) = timed(|| kernel::build(ctx))?;
    report.seconds("build", format!("kernel build (-j{})", ctx.jobs), elapsed);
    let (_, elapsed) = timed(|| busybox::configure(ctx))?;
    report.seconds("build", "configure busybox (checked)", elapsed);
    let (busybox, elapsed) = timed(|| busybox::build(ctx))?;
    report.seconds("build", format!("busybox build (-j{})", ctx.jobs), elapsed);
    let (_, elapsed) = timed(|| images::build(ctx, &busybox.0, None))?;
    report.seconds("build", "all three images", elapsed);
    Ok(())
}

/// The environment that makes a child `cargo xtask` select what this bench builds.
fn selection_env(ctx: &Context) -> Result<Vec<(String, String)>> {
    let s = &ctx.sources;
    let mut env = vec![
        ("CARGO_TARGET_DIR".to_string(), ctx.layout.target().display().to_string()),
        ("KARDEL_ARCH".to_string(), ctx.arch.name.clone()),
        ("KARDEL_PROFILE".to_string(), ctx.profile_name.clone()),
        ("KARDEL_CACHE_DIR".to_string(), ctx.cache_dir()?.display().to_string()),
        ("KARDEL_MIRRORS".to_string(), ctx.mirrors.join(" ")),
        ("KARDEL_COMPRESS".to_string(), ctx.compression.to_string()),
        ("KARDEL_IMAGE_SIZE_MIB".to_string(), ctx.image_size_mib.to_string()),
        ("SOURCE_DATE_EPOCH".to_string(), ctx.source_date_epoch.to_string()),
    ];
    let optional = [
        ("KARDEL_JOBS", Some(ctx.jobs.to_string())),
        ("KARDEL_MAKE_ARGS", Some(ctx.make_args.join(" "))),
        ("KARDEL_KERNEL_VERSION", s.kernel_version.clone()),
        ("KARDEL_KERNEL_SHA256", s.kernel_sha256.clone()),
        ("KARDEL_BUSYBOX_VERSION", s.busybox_version.clone()),
        ("KARDEL_KERNEL_SOURCE", s.kernel_source.as_ref().map(|p| p.display().to_string())),
        ("KARDEL_BUSYBOX_SOURCE", s.busybox_source.as_ref().map(|p| p.display().to_string())),
    ];
    for (name, value) in optional {
        env.push((name.to_string(), value.unwrap_or_default()));
    }
    let join = |paths: &[PathBuf]| {
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
    };
    env.push(("KARDEL_KERNEL_FRAGMENTS".to_string(), join(&ctx.user_kernel_fragments)));
    env.push(("KARDEL_BUSYBOX_FRAGMENTS".to_string(), join(&ctx.user_busybox_fragments)));
    env.push(("KARDEL_MODULES".to_string(), join(&ctx.modules)));
    env.push(("KARDEL_OVERLAYS".to_string(), join(&ctx.overlays)));
    Ok(env)
}

/// `command` with exactly the bench's selection: set what has a value, remove what is empty (clap
/// takes an empty variable for an empty value, and the user's own variables must not leak in).
fn with_selection(command: &mut Command, env: &[(String, String)]) {
    for (name, value) in env {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
}

/// One `all` as a whole process: the binary `cargo xtask` runs. (Not `cargo xtask all` itself:
/// `cargo run` execs this program with cargo's build-folder lock still held, so a nested cargo
/// would wait for it forever.)
fn whole_process_all(ctx: &Context, extra_env: &[(String, String)]) -> Result<Duration> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(&exe);
    command.arg("all");
    with_selection(&mut command, &selection_env(ctx)?);
    with_selection(&mut command, extra_env);
    let start = Instant::now();
    let output = command.output().with_context(|| format!("running {}", exe.display()))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        bail!("`{} all` failed:\n{}", exe.display(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(elapsed)
}

/// `run -- ARGS` as a user runs it: the whole process, from start to exit.
fn whole_process_run(ctx: &Context, accel: &str, args: &[&str]) -> Result<Duration> {
    whole_process_run_with(ctx, accel, &[], args)
}

/// [`whole_process_run`] with `run`'s own flags before the command.
fn whole_process_run_with(
    ctx: &Context,
    accel: &str,
    run_flags: &[String],
    args: &[&str],
) -> Result<Duration> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(&exe);
    command.args(["run", "--accel", accel]).args(run_flags).arg("--").args(args);
    with_selection(&mut command, &selection_env(ctx)?);
    command.stdin(std::process::Stdio::null());
    let start = Instant::now();
    let output = command.output().with_context(|| format!("running {}", exe.display()))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        bail!(
            "`{} run -- {}` failed:\n{}",
            exe.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn rebuilds(ctx: &Context, flags: &flags::Build, report: &mut Report) -> Result<()> {
    let noop = median_of(5, || whole_process_all(ctx, &[]))?;

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
    let fragment = ctx.layout.work().join("bench-fragment.config");
    let write = |text: &str| {
        std::fs::write(&fragment, text).with_context(|| format!("writing {}", fragment.display()))
    };
    write("# the bench's own fragment\nCONFIG_LOCALVERSION=\"-bench1\"\n")?;
    let mut fragment_flags = flags.clone();
    fragment_flags.kernel_fragments.push(fragment.clone());
    let with_fragment =
        Context::with_target(&fragment_flags, ctx.repo.clone(), ctx.layout.target().to_path_buf())?;
    kernel::build(&with_fragment)?;
    let touch = Command::new("touch").arg(&fragment).status()?;
    anyhow::ensure!(touch.success(), "touch {}", fragment.display());
    let fragment_env = [("KARDEL_KERNEL_FRAGMENTS".to_string(), fragment.display().to_string())];
    let touched = whole_process_all(ctx, &fragment_env)?;
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
fn image_steps(ctx: &Context, built: &Built, report: &mut Report) -> Result<()> {
    let tree = images::rootfs_tree(ctx, &built.busybox, None)?;
    let out = ctx.layout.work().join("bench-images");
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
        Ok(timed(|| {
            rootfs::write_initramfs(
                &tree,
                mtime,
                rootfs::Compression::Gzip,
                &out.join("ours.cpio.gz"),
            )
        })?
        .1)
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
    let size = ctx.image_size_mib << 20;
    let ours = median_of(samples, || {
        Ok(timed(|| {
            rootfs::write_ext4(
                &tree,
                &out.join("ours.img.gz"),
                size,
                mtime,
                rootfs::Compression::Gzip,
                &ext4_work,
            )
        })?
        .1)
    })?;
    let img = out.join("tutorial.img");
    let mib = ctx.image_size_mib.to_string();
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

/// QEMU start to the console prompt, median of `boots`, per image; TCG always, KVM where it works;
/// and the BusyBox images again with zstd. Every boot goes through the one boot path.
fn boot_times(
    ctx: &Context,
    flags: &flags::Build,
    built: &Built,
    boots: u32,
    report: &mut Report,
) -> Result<()> {
    let (auto, reason) = boot::resolve(ctx, built, AccelChoice::Auto)?;
    let mut accels = vec![AccelChoice::Tcg];
    if auto == Accel::Kvm {
        accels.push(AccelChoice::Kvm);
    }
    let zstd = zstd_built(ctx, flags, built)?;
    let cases = [
        ("initrd", built, ""),
        ("initrd", &zstd, " (zstd)"),
        ("initramfs", built, ""),
        ("initramfs", &zstd, " (zstd)"),
        ("hello", built, ""),
    ];
    for accel in accels {
        let machine_flags = flags::Machine::plain(accel);
        // the median boot, with its phases
        let boot_phases = |boot: &boots::Boot,
                           built: &Built,
                           speed: Speed|
         -> Result<(Duration, Vec<timeline::Phase>)> {
            let machine = boot::machine(ctx, built, boot, &machine_flags, speed, true)?;
            let mut samples = (0..boots)
                .map(|_| {
                    let mut session = boot::spawn(ctx, &machine, boot)?;
                    let ready = boot::wait_ready(&mut session, boot)?;
                    Ok((ready, timeline::phases(&session, ready)))
                })
                .collect::<Result<Vec<_>>>()?;
            samples.sort_by_key(|(ready, _)| *ready);
            Ok(samples.swap_remove(samples.len() / 2))
        };
        let accel_name = format!("{accel:?}").to_lowercase();
        let mut initramfs_tutorial = None;
        for (name, built, variant) in cases {
            let measured = boot_phases(boots::by_name(name), built, Speed::Tutorial)?;
            let figure = format!("{name}{variant} to prompt, {accel_name} (median of {boots})");
            report.seconds("boot", figure, measured.0);
            if name == "initramfs" && variant.is_empty() {
                initramfs_tutorial = Some(measured);
            }
        }

        // the same kernel and image: the tutorial's command line (measured above), the fast
        // machine, and a command run from start to exit, each as the median of `boots`
        let (tutorial, tutorial_phases) =
            initramfs_tutorial.expect("the initramfs is one of the cases");
        let (fast, fast_phases) = boot_phases(boots::by_name("initramfs"), built, Speed::Fast)?;
        for phase in &tutorial_phases {
            report.seconds(
                "boot",
                format!("tutorial's line: {}, {accel_name}", phase.name),
                phase.end - phase.start,
            );
        }
        let (tutorial, fast) = (tutorial.as_secs_f64(), fast.as_secs_f64());
        let figure = report.add("boot", format!("fast machine to prompt, {accel_name}"), fast, "s");
        figure.tutorial_way = Some(tutorial);
        figure.note = format!("initramfs; ratio {:.2} (target at most 0.6)", fast / tutorial);
        let command =
            median_of(boots, || whole_process_run(ctx, &accel_name, &["true"]))?.as_secs_f64();
        let figure =
            report.add("boot", format!("`run -- true`, start to exit, {accel_name}"), command, "s");
        figure.tutorial_way = Some(tutorial);
        figure.note = format!(
            "whole process; ratio {:.2} to the tutorial's prompt (target at most 0.7)",
            command / tutorial
        );
        let picture = timeline::render(
            &format!("{} initramfs boot, {accel_name}, medians of {boots}", ctx.arch.name),
            &[
                timeline::Boot { label: "tutorial's command line".into(), phases: tutorial_phases },
                timeline::Boot { label: "fast machine".into(), phases: fast_phases },
                timeline::Boot {
                    label: "run -- true (whole process)".into(),
                    phases: vec![timeline::Phase {
                        name: "command run, start to exit",
                        start: Duration::ZERO,
                        end: Duration::from_secs_f64(command),
                    }],
                },
            ],
        );
        let svg = ctx.layout.target().join(format!("boot-timeline-{accel_name}.svg"));
        artifact::write_atomic(&svg, |f| Ok(std::io::Write::write_all(f, picture.as_bytes())?))?;
        report.add("boot", format!("timeline picture, {accel_name}"), f64::NAN, "n/a").note =
            svg.display().to_string();
    }
    if auto != Accel::Kvm {
        report.add("boot", "kvm", f64::NAN, "n/a").note = format!("not measured: {reason}");
    }
    Ok(())
}

/// The initrd boot through U-Boot built from source beside the direct `-kernel` boot: the same
/// kernel, image and tutorial's machine, TCG, median of `boots`. Where the architecture has no
/// U-Boot board, or no U-Boot source is at hand and none was asked for, it says so and measures
/// nothing.
fn uboot_boots(
    ctx: &Context,
    flags: &flags::UbootSource,
    built: &Built,
    boots: u32,
    report: &mut Report,
) -> Result<()> {
    if ctx.arch.uboot_boards.is_empty() {
        report.add("uboot", "U-Boot", f64::NAN, "n/a").note =
            format!("not measured: no U-Boot board for {}", ctx.arch.name);
        return Ok(());
    }
    if let Err(err) = hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Uboot], false) {
        report.add("uboot", "U-Boot", f64::NAN, "n/a").note =
            format!("not measured: {}", err.to_string().lines().next().unwrap_or_default());
        return Ok(());
    }
    let asked = flags.uboot_source.is_some() || flags.uboot_version.is_some();
    let build = timed(|| uboot::build(ctx, flags));
    let ((uboot, outcome), elapsed) = match build {
        Ok(done) => done,
        Err(err) if !asked && err.downcast_ref::<fetch::FetchFailed>().is_some() => {
            eprintln!("bench: uboot: skipped, no U-Boot source: {err:#}");
            report.add("uboot", "U-Boot", f64::NAN, "n/a").note =
                "not measured: no U-Boot source (--uboot-source, or a mirror with the pin)".into();
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    report
        .seconds("uboot", format!("U-Boot build ({}, -j{})", uboot.board, ctx.jobs), elapsed)
        .note = format!("{}; the build folder was kept", outcome.word());
    let rom = boot::UbootRom { bootargs: uboot.bootargs()?, rom: uboot.rom.clone() };
    let boot = boots::by_name("initrd");
    let direct = tutorial_machine(ctx, built, boot)?;
    let mut through = direct.clone();
    boot::through(&mut through, &rom);
    anyhow::ensure!(
        rom.boots_by_itself(&through),
        "{}: its CONFIG_BOOTARGS are not the initrd boot's kernel arguments",
        uboot.config.display()
    );
    // (to the kernel's first line, to the prompt), the median boot by the prompt
    let measure = |machine: &qemu::Machine, via_uboot: bool| -> Result<(Duration, Duration)> {
        let (ready, kernel) = median_of(boots, || {
            let mut session = boot::spawn(ctx, machine, boot)?;
            if via_uboot {
                boot::through_uboot(&mut session, machine, &rom)?;
            }
            let ready = boot::wait_ready(&mut session, boot)?;
            let kernel = session.arrived("Linux version").unwrap_or(ready);
            Ok((ready, kernel))
        })?;
        Ok((kernel, ready))
    };
    let (direct_kernel, direct_ready) = measure(&direct, false)?;
    let (uboot_kernel, uboot_ready) = measure(&through, true)?;
    let figure = report.seconds(
        "uboot",
        format!("initrd to prompt via U-Boot, tcg (median of {boots})"),
        uboot_ready,
    );
    figure.tutorial_way = Some(direct_ready.as_secs_f64());
    figure.note = format!(
        "tutorial's way: -kernel; ratio {:.2}",
        uboot_ready.as_secs_f64() / direct_ready.as_secs_f64()
    );
    let figure = report.seconds("uboot", "kernel's first line via U-Boot, tcg", uboot_kernel);
    figure.tutorial_way = Some(direct_kernel.as_secs_f64());
    figure.note =
        "U-Boot's part: start, autoboot countdown (CONFIG_BOOTDELAY), qfw load, zboot".into();
    Ok(())
}

/// Every other row of the architecture table, in this run: its kernel built from an empty build
/// folder (the same profile and sources) and its initramfs boot to the prompt on the tutorial's
/// machine, TCG. A row whose QEMU or cross compiler is not installed is said so, not measured.
fn other_arches(
    user_ctx: &Context,
    flags: &flags::Build,
    boots: u32,
    report: &mut Report,
) -> Result<()> {
    for arch in arch::all().filter(|a| a.name != user_ctx.arch.name) {
        if let Err(err) = hostdeps::ensure(&user_ctx.sh, arch, &hostdeps::ALL_STEPS, false) {
            report.add("arches", &arch.name, f64::NAN, "n/a").note =
                format!("not measured: {}", err.to_string().lines().next().unwrap_or_default());
            continue;
        }
        let arch_flags = flags::Build { arch: arch.name.clone(), ..flags.clone() };
        let target = crate::layout::Layout::new(user_ctx.layout.target(), &arch.name)
            .bench_target(&user_ctx.profile_name);
        let actx = Context::with_target(&arch_flags, user_ctx.repo.clone(), target)?;
        for dir in [kernel::build_dir(&actx)?, actx.layout.kernel_images(&actx.kernel_flavour())] {
            remove_dir_if_present(&dir)?;
        }
        let (_, elapsed) = timed(|| kernel::build(&actx))?;
        report.seconds(
            "arches",
            format!("{} {} kernel build (-j{})", arch.name, actx.profile_name, actx.jobs),
            elapsed,
        );
        let built = pipeline::build_all(&actx, false, &[Step::Qemu], &mut Summary::default())?;
        let boot = boots::by_name("initramfs");
        let machine = tutorial_machine(&actx, &built, boot)?;
        let ready = median_of(boots, || {
            let mut session = boot::spawn(&actx, &machine, boot)?;
            boot::wait_ready(&mut session, boot)
        })?;
        report.seconds(
            "arches",
            format!("{} initramfs to prompt, tcg (median of {boots})", arch.name),
            ready,
        );
    }
    Ok(())
}

/// virtme-ng (`vng`, PyPI `virtme-ng`) beside this tool, from the same kernel source: its own
/// config (`vng --kconfig`: the defconfig plus what it needs) built by `vng --build` in a copy of
/// the tree, and `vng -r bzImage -- uname -r` under TCG, against `run -- uname -r` on this
/// profile: the boot to the result (median of 3) and the tree to the result (configure, build,
/// boot; ours from empty build folders). Not in the default run: vng's kernel is a defconfig
/// build, about 12 minutes on two cores here.
fn peers(ctx: &Context, report: &mut Report) -> Result<()> {
    let sh = &ctx.sh;
    for (program, why) in [
        ("vng", "virtme-ng: `pip install virtme-ng`"),
        ("busybox", "virtme-ng's initramfs: Debian's busybox-static"),
        ("udevadm", "virtme-ng's guest runs the host's udev to find its virtio ports: udev"),
    ] {
        if !hostdeps::on_path(program) {
            bail!("bench --only peers: no {program} on PATH ({why})");
        }
    }
    let version = cmd!(sh, "vng --version").quiet().read().unwrap_or_default();
    let source = Source::plan(ctx, Package::Kernel)?;
    let tree = source.tree(ctx)?;
    let peer_tree = ctx.layout.work().join("peers/linux");
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
            .stdin(std::process::Stdio::null())
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

    let ours = median_of(3, || whole_process_run(ctx, "tcg", &["uname", "-r"]))?;
    let figure =
        report.seconds("peers", "`run -- uname -r`, boot to result, tcg (median of 3)", ours);
    // `vng --version` says its own name
    figure.note = format!("{}: {:.2} s", version.trim(), vng_boot.as_secs_f64());
    report.add(
        "peers",
        "boot to result: virtme-ng's time over ours",
        vng_boot.as_secs_f64() / ours.as_secs_f64(),
        "x",
    );

    // ours from the same unpacked tree, every build folder empty: configure, build, images, boot
    let fresh = ctx.layout.work().join("peers/ours");
    remove_dir_if_present(&fresh)?;
    let exe = std::env::current_exe()?;
    let mut command = Command::new(&exe);
    command.args(["run", "--accel", "tcg", "--", "uname", "-r"]);
    with_selection(&mut command, &selection_env(ctx)?);
    command
        .env("CARGO_TARGET_DIR", &fresh)
        .env("KARDEL_KERNEL_SOURCE", &tree)
        .stdin(std::process::Stdio::null());
    let start = Instant::now();
    let output = command.output().with_context(|| format!("running {}", exe.display()))?;
    let ours_tree = start.elapsed();
    if !output.status.success() {
        bail!(
            "`{} run -- uname -r` from an empty target folder failed:\n{}",
            exe.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let vng_tree = configure + build + vng_boot;
    let figure = report.seconds(
        "peers",
        format!("tree to result, {} profile (configure, build, boot)", ctx.profile_name),
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
        vng_tree.as_secs_f64() / ours_tree.as_secs_f64(),
        "x",
    );
    Ok(())
}

/// What each workbench feature adds to a command run: `run -- true` from start to exit, plain,
/// with the network and a share, and with a module (median of `boots`, after one
/// run that builds what is missing); and the debug kernel's size beside the plain one. It uses the
/// kernel flavours in the user's own target folder, as `run` does (the end-to-end test leaves them
/// built there), so that it builds nothing twice.
fn feature_costs(
    user_ctx: &Context,
    flags: &flags::Build,
    boots: u32,
    report: &mut Report,
) -> Result<()> {
    let share = user_ctx.layout.work().join("bench-share");
    std::fs::create_dir_all(&share)?;
    let share = share.display().to_string();
    let module = user_ctx.repo.join("examples/modules/hello").display().to_string();
    // the network and the share together: the kernel flavour the end-to-end test builds
    let cases: [(&str, Vec<String>); 3] = [
        ("", vec![]),
        (" --net --share DIR", vec!["--net".into(), "--share".into(), share]),
        (" --module hello", vec!["--module".into(), module]),
    ];
    let mut plain = None;
    for (name, run_flags) in cases {
        whole_process_run_with(user_ctx, "tcg", &run_flags, &["true"])?;
        let elapsed =
            median_of(boots, || whole_process_run_with(user_ctx, "tcg", &run_flags, &["true"]))?;
        let figure = report.seconds(
            "features",
            format!("`run{name} -- true`, tcg (median of {boots})"),
            elapsed,
        );
        match plain {
            None => plain = Some(elapsed),
            Some(plain) => {
                let added = elapsed.as_secs_f64() - plain.as_secs_f64();
                figure.note = format!("{:+.0} ms over the plain run", added * 1000.0);
            }
        }
    }
    let mut debug_ctx =
        Context::with_target(flags, user_ctx.repo.clone(), user_ctx.layout.target().to_path_buf())?;
    debug_ctx.add_features(&["debug"]);
    let (debug, _) = kernel::build(&debug_ctx)?;
    let (plain_kernel, _) = kernel::build(user_ctx)?;
    let name = user_ctx.arch.kernel_image_name();
    report.bytes(format!("vmlinux ({})", user_ctx.kernel_flavour()), &plain_kernel.vmlinux)?;
    report.bytes(format!("vmlinux ({})", debug_ctx.kernel_flavour()), &debug.vmlinux)?;
    report.bytes(format!("{name} ({})", debug_ctx.kernel_flavour()), &debug.image)?;
    Ok(())
}

/// The kernel hacker's edit loop, with the unpacked tree as a developer's own
/// (`--kernel-source DIR`): one `.c` file touched, then `run -- true` from start to exit (make
/// finds the change, the boot runs the command), against the tutorial's way on the same build
/// folder: `make bzImage`, then its QEMU command line to the prompt. Medians of 3.
fn edit_loop(ctx: &Context, flags: &flags::Build, report: &mut Report) -> Result<()> {
    const EDITED: &str = "kernel/sys.c";
    let tree = Source::plan(ctx, Package::Kernel)?.tree(ctx)?;
    let mut tree_flags = flags.clone();
    tree_flags.sources.kernel_source = Some(tree.clone());
    tree_flags.sources.kernel_version = None;
    let tree_ctx =
        Context::with_target(&tree_flags, ctx.repo.clone(), ctx.layout.target().to_path_buf())?;
    // the tree's own build folder, built once before the loop is timed
    whole_process_run(&tree_ctx, "tcg", &["true"])?;
    let edited = tree.join(EDITED);
    let touch = || -> Result<()> {
        let status = Command::new("touch").arg(&edited).status()?;
        anyhow::ensure!(status.success(), "touch {}", edited.display());
        Ok(())
    };
    let ours = median_of(3, || {
        touch()?;
        whole_process_run(&tree_ctx, "tcg", &["true"])
    })?;
    let built = pipeline::build_all(&tree_ctx, false, &[Step::Qemu], &mut Summary::default())?;
    let (build, target) = kernel::rebuild_target(&tree_ctx)?;
    let boot = boots::by_name("initramfs");
    let machine = tutorial_machine(&tree_ctx, &built, boot)?;
    let tutorial = median_of(3, || {
        touch()?;
        let make = build.build(&format!("make {target} after touching {EDITED}"), &[&target])?;
        let mut session = boot::spawn(&tree_ctx, &machine, boot)?;
        Ok(make + boot::wait_ready(&mut session, boot)?)
    })?;
    let figure = report.seconds(
        "edit",
        format!("touch {EDITED}, then `run -- true` to exit (median of 3)"),
        ours,
    );
    figure.tutorial_way = Some(tutorial.as_secs_f64());
    figure.note = format!(
        "tutorial's way: make {target}, then its command line to the prompt; ratio {:.2}",
        ours.as_secs_f64() / tutorial.as_secs_f64()
    );
    Ok(())
}

/// The same build with zstd images, made by the images stage itself, to say what zstd changes
/// in size and boot time.
fn zstd_built(ctx: &Context, flags: &flags::Build, built: &Built) -> Result<Built> {
    let zstd_flags = flags::Build { compress: Compression::Zstd, ..flags.clone() };
    let zstd_ctx =
        Context::with_target(&zstd_flags, ctx.repo.clone(), ctx.layout.target().to_path_buf())?;
    let (kernel, busybox) = (kernel::build(&zstd_ctx)?.0, busybox::build(&zstd_ctx)?.0);
    let (images, _) = images::build(&zstd_ctx, &built.busybox, None)?;
    Ok(Built { kernel, busybox, images })
}

fn sizes(ctx: &Context, flags: &flags::Build, built: &Built, report: &mut Report) -> Result<()> {
    report.bytes(ctx.arch.kernel_image_name(), &built.kernel.image)?;
    report.bytes("busybox (static)", &built.busybox.binary)?;
    report.bytes("rootfs.img.gz (initrd)", &built.images.initrd)?;
    report.bytes("rootfs.cpio.gz (initramfs)", &built.images.initramfs)?;
    report.bytes("hello.cpio.gz", &built.images.hello)?;
    let zstd = zstd_built(ctx, flags, built)?;
    report.bytes("rootfs.cpio.zst (initramfs, zstd)", &zstd.images.initramfs)?;
    report.bytes("rootfs.img.zst (initrd, zstd)", &zstd.images.initrd)?;
    Ok(())
}
