//! The boot parts: boot times per image and accelerator with the fast machine and a command run
//! beside the tutorial's command line, the boot through U-Boot, every other architecture's boot,
//! and what each workbench feature adds to a command run.

use std::time::Duration;

use anyhow::{Context as _, Result};
use boot::{
    boots::{self, Boot},
    machine::{self, Request, Speed},
    timeline,
    uboot::{self, UbootRom},
    Options,
};
use qemu::{Accel, AccelChoice};
use stages::{
    hostdeps::Step, pipeline, pipeline::Built, summary::Summary, Context, UbootSelection,
};

use super::{
    child,
    common::{self, missing_on_host, size_of, timed, zstd_built, Bench},
    report::{median_by, median_of, ratio, Report},
};

/// The fast machine's target, as a share of the tutorial's time to the prompt (issue 15).
const FAST_MACHINE_TARGET: f64 = 0.6;
/// `run --cold -- true` from start to exit, as a share of the tutorial's time to the prompt
/// (issue 15).
const COMMAND_RUN_TARGET: f64 = 0.7;
/// `run -- true` from a saved machine, start to exit, as a share of the tutorial's time to the
/// prompt (issue 23).
const WARM_RUN_TARGET: f64 = 0.2;
/// Commands run one after another, and four at a time, for commands per second.
const IN_A_ROW: usize = 16;

/// QEMU start to the console prompt, median of `boots`, per image; TCG always, KVM where it works;
/// and the BusyBox images again with zstd. Every boot goes through the one boot path.
pub fn boot_times(bench: &Bench, built: &Built, report: &mut Report) -> Result<()> {
    let (ctx, boots) = (&bench.ctx, bench.boots);
    let (auto, reason) = machine::resolve(ctx.site(), &built.kernel, AccelChoice::Auto)?;
    let mut accels = vec![AccelChoice::Tcg];
    if auto == Accel::Kvm {
        accels.push(AccelChoice::Kvm);
    }
    let zstd = zstd_built(bench, built)?;
    let cases = [
        ("initrd", built, ""),
        ("initrd", &zstd, " (zstd)"),
        ("initramfs", built, ""),
        ("initramfs", &zstd, " (zstd)"),
        ("hello", built, ""),
    ];
    for accel in accels {
        let options = Options::plain(accel);
        // the median boot, with its phases
        let boot_phases = |boot: &'static Boot, built: &Built, speed: Speed| {
            let machine =
                machine::machine(ctx.site(), built, &Request::new(boot, speed), &options)?;
            median_by(
                boots,
                || {
                    let mut session = machine::spawn(ctx.site(), &machine, boot)?;
                    let ready = machine::wait_ready(&mut session, boot)?;
                    Ok((ready, timeline::phases(&session, ready)))
                },
                |(ready, _)| *ready,
            )
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
        let figure = report.seconds("boot", format!("fast machine to prompt, {accel_name}"), fast);
        figure.tutorial_way = Some(tutorial.as_secs_f64());
        figure.note = format!("initramfs; {}", ratio(fast, tutorial, Some(FAST_MACHINE_TARGET)).1);
        let cold = ["--cold".to_string()];
        let command = median_of(boots, || bench.child().run(&accel_name, &cold, &["true"]))?;
        let figure = report.seconds(
            "boot",
            format!("`run --cold -- true`, start to exit, {accel_name}"),
            command,
        );
        figure.tutorial_way = Some(tutorial.as_secs_f64());
        figure.note = format!(
            "whole process, a boot; {} to the tutorial's prompt",
            ratio(command, tutorial, Some(COMMAND_RUN_TARGET)).1
        );
        warm_runs(bench, &accel_name, tutorial, report)?;
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
                        end: command,
                    }],
                },
            ],
        );
        let svg = ctx.layout.bench_file(&format!("boot-timeline-{accel_name}.svg"));
        artifact::write_atomic(&svg, |f| Ok(std::io::Write::write_all(f, picture.as_bytes())?))?;
        report.add("boot", format!("timeline picture, {accel_name}"), f64::NAN, "n/a").note =
            svg.display().to_string();
    }
    if auto != Accel::Kvm {
        report.not_measured("boot", "kvm", reason);
    }
    Ok(())
}

/// Command runs from the saved machine (warm starts): `run -- true` beside the tutorial's prompt,
/// where its time goes (the tool before QEMU, as `--dry-run` takes it, and the rest), the saved
/// state's size, and commands per second one after another and four at a time.
fn warm_runs(
    bench: &Bench,
    accel_name: &str,
    tutorial: Duration,
    report: &mut Report,
) -> Result<()> {
    let child = bench.child();
    // the first run saves the machine (the cold runs above do not)
    let saving = child.run(accel_name, &[], &["true"])?;
    report.seconds("boot", format!("`run -- true` that saves the machine, {accel_name}"), saving);
    let warm = median_of(bench.boots, || child.run(accel_name, &[], &["true"]))?;
    let figure =
        report.seconds("boot", format!("`run -- true` warm, start to exit, {accel_name}"), warm);
    figure.tutorial_way = Some(tutorial.as_secs_f64());
    figure.note = format!(
        "whole process, from the saved machine; {} to the tutorial's prompt",
        ratio(warm, tutorial, Some(WARM_RUN_TARGET)).1
    );
    let dry = ["--dry-run".to_string()];
    let tool = median_of(bench.boots, || child.run(accel_name, &dry, &["true"]))?;
    report.seconds("boot", "warm run: the tool before QEMU (--dry-run)", tool).note =
        "the fingerprints of the kernel, the image and the saved machine".into();
    let verbose = ["--verbose".to_string()];
    let restore = median_of(bench.boots, || {
        let ran = child.run_timed(accel_name, &verbose, &["true"])?;
        Ok(Duration::from_secs_f64(ran.timing("restore")?))
    })?;
    report.seconds("boot", "warm run: QEMU's start to the command's", restore).note = format!(
        "QEMU starting, loading the devices' state, the runner seeding the clock and the \
         randomness; the rest, {:.3} s: the command, its status, the tool's end",
        warm.saturating_sub(tool + restore).as_secs_f64()
    );
    report
        .add("boot", "saved machine's size", saved_size(&bench.ctx.layout.warm_states())?, "MiB")
        .note = "on disk: the devices' state and the RAM the guest touched, of its 1 GiB".into();
    let (_, in_a_row) =
        timed(|| (0..IN_A_ROW).try_for_each(|_| child.run(accel_name, &[], &["true"]).map(drop)))?;
    report.add(
        "boot",
        format!("warm `run -- true`, {IN_A_ROW} in a row"),
        IN_A_ROW as f64 / in_a_row.as_secs_f64(),
        "commands/s",
    );
    let (_, four_at_a_time) = timed(|| {
        for _ in 0..IN_A_ROW / 4 {
            std::thread::scope(|scope| {
                let runs: Vec<_> =
                    (0..4).map(|_| scope.spawn(|| child.run(accel_name, &[], &["true"]))).collect();
                runs.into_iter().try_for_each(|r| r.join().expect("a run's thread").map(drop))
            })?;
        }
        Ok(())
    })?;
    report.add(
        "boot",
        format!("warm `run -- true`, {IN_A_ROW} four at a time"),
        IN_A_ROW as f64 / four_at_a_time.as_secs_f64(),
        "commands/s",
    );
    Ok(())
}

/// The biggest saved machine in `states`, in MiB on disk: its state and the blocks its RAM file
/// has (a sparse file the size of the guest's memory).
fn saved_size(states: &std::path::Path) -> Result<f64> {
    use std::os::unix::fs::MetadataExt;
    let on_disk = |saved: &std::path::Path| -> u64 {
        let files = std::fs::read_dir(saved).into_iter().flatten().flatten();
        files.filter_map(|f| f.metadata().ok()).map(|m| m.blocks() * 512).sum()
    };
    let listing =
        std::fs::read_dir(states).with_context(|| format!("reading {}", states.display()))?;
    let biggest = listing.flatten().map(|saved| on_disk(&saved.path())).max().unwrap_or(0);
    Ok(biggest as f64 / f64::from(1 << 20))
}

/// The initrd boot through U-Boot built from source (in the user's target folder) beside the
/// direct `-kernel` boot: the same kernel, image and tutorial's machine, TCG, median of `boots`. Where the architecture has no
/// U-Boot board, or no U-Boot source is at hand and none was asked for, it says so and measures
/// nothing.
pub fn uboot(
    bench: &Bench,
    selection: &UbootSelection,
    built: &Built,
    report: &mut Report,
) -> Result<()> {
    let (ctx, boots) = (&bench.ctx, bench.boots);
    if ctx.arch.uboot_boards.is_empty() {
        report.not_measured("uboot", "U-Boot", format!("no U-Boot board for {}", ctx.arch.name));
        return Ok(());
    }
    if let Some(why) = missing_on_host(ctx, ctx.arch, &[Step::Uboot]) {
        report.not_measured("uboot", "U-Boot", why);
        return Ok(());
    }
    let asked = selection.source.is_some() || selection.version.is_some();
    // the ROM in the user's target folder, as `run --uboot` builds it (in CI the end-to-end tests
    // have: the bench builds no second U-Boot); it boots the bench's kernel and image
    let build = timed(|| stages::uboot::build(&bench.user, selection));
    let ((uboot, outcome), elapsed) = match build {
        Ok(done) => done,
        Err(err) if !asked && err.downcast_ref::<fetch::FetchFailed>().is_some() => {
            eprintln!("bench: uboot: skipped, no U-Boot source: {err:#}");
            let why = "no U-Boot source (--uboot-source, or a mirror with the pin)";
            report.not_measured("uboot", "U-Boot", why.into());
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    report
        .seconds("uboot", format!("U-Boot build ({}, -j{})", uboot.board, ctx.jobs), elapsed)
        .note = format!("{}; the build folder was kept", outcome.word());
    let rom = UbootRom { bootargs: uboot.bootargs()?, rom: uboot.rom.clone() };
    let boot = boots::by_name("initrd");
    let direct = common::tutorial_machine(ctx, built, boot)?;
    let mut through = direct.clone();
    uboot::through(&mut through, &rom);
    anyhow::ensure!(
        rom.boots_by_itself(&through),
        "{}: its CONFIG_BOOTARGS are not the initrd boot's kernel arguments",
        uboot.config.display()
    );
    // (to the prompt, to the kernel's first line), the median boot by the prompt
    let measure = |machine: &qemu::Machine, via_uboot: bool| -> Result<(Duration, Duration)> {
        median_of(boots, || {
            let mut session = machine::spawn(ctx.site(), machine, boot)?;
            if via_uboot {
                uboot::through_uboot(&mut session, machine, &rom)?;
            }
            let ready = machine::wait_ready(&mut session, boot)?;
            let kernel = session.arrived("Linux version").unwrap_or(ready);
            Ok((ready, kernel))
        })
    };
    let (direct_ready, direct_kernel) = measure(&direct, false)?;
    let (uboot_ready, uboot_kernel) = measure(&through, true)?;
    let figure = report.seconds(
        "uboot",
        format!("initrd to prompt via U-Boot, tcg (median of {boots})"),
        uboot_ready,
    );
    figure.tutorial_way = Some(direct_ready.as_secs_f64());
    figure.note = format!("tutorial's way: -kernel; {}", ratio(uboot_ready, direct_ready, None).1);
    let figure = report.seconds("uboot", "kernel's first line via U-Boot, tcg", uboot_kernel);
    figure.tutorial_way = Some(direct_kernel.as_secs_f64());
    figure.note =
        "U-Boot's part: start, autoboot countdown (CONFIG_BOOTDELAY), qfw load, zboot".into();
    Ok(())
}

/// Every other row of the architecture table: its initramfs boot to the prompt on the tutorial's
/// machine, TCG, on the kernel and images in the user's own target folder (built there first if
/// missing: the end-to-end tests leave them built). A row whose QEMU or cross compiler is not
/// installed is said so, not measured. Build times from empty folders: `--only arch-builds`.
pub fn other_arches(bench: &Bench, report: &mut Report) -> Result<()> {
    for (_, selection) in common::other_arches(bench, report) {
        let actx = Context::new(&selection, bench.user.layout.target().to_path_buf())?;
        initramfs_boot(bench, &actx, report)?;
    }
    Ok(())
}

/// `actx`'s initramfs to the prompt on the tutorial's machine, TCG, median of the bench's boots.
pub fn initramfs_boot(bench: &Bench, actx: &Context, report: &mut Report) -> Result<()> {
    let built = pipeline::build_all(actx, false, &[Step::Qemu], &mut Summary::default())?;
    let boot = boots::by_name("initramfs");
    let machine = common::tutorial_machine(actx, &built, boot)?;
    let ready = median_of(bench.boots, || {
        let mut session = machine::spawn(actx.site(), &machine, boot)?;
        machine::wait_ready(&mut session, boot)
    })?;
    let name = format!("{} initramfs to prompt, tcg (median of {})", actx.arch.name, bench.boots);
    report.seconds("arches", name, ready);
    Ok(())
}

/// What each workbench feature adds to a command run: `run -- true` from start to exit, plain,
/// with the network and a share, and with a module (median of `boots`, after one run that builds
/// what is missing); and the debug kernel's size beside the plain one. It uses the kernel flavours
/// in the user's own target folder, as `run` does (the end-to-end tests leave them built there),
/// so that it builds nothing twice.
pub fn feature_costs(bench: &Bench, report: &mut Report) -> Result<()> {
    let user = &bench.user;
    let share = user.layout.bench_work("share");
    std::fs::create_dir_all(&share)?;
    let share = share.display().to_string();
    let module = user.repo.join("examples/modules/hello").display().to_string();
    let cases: [(&str, Vec<String>); 3] = [
        ("", vec![]),
        (" --net --share DIR", vec!["--net".into(), "--share".into(), share]),
        (" --module hello", vec!["--module".into(), module]),
    ];
    let xtask = child::Xtask::new(&bench.selection, user);
    let mut plain = None;
    for (name, run_flags) in cases {
        xtask.run("tcg", &run_flags, &["true"])?;
        let elapsed = median_of(bench.boots, || xtask.run("tcg", &run_flags, &["true"]))?;
        let boots = bench.boots;
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
    let target = user.layout.target().to_path_buf();
    let debug_ctx = Context::with_features(&bench.selection, target, &["debug"])?;
    let (debug, _) = stages::kernel::build(&debug_ctx)?;
    let (plain_kernel, _) = stages::kernel::build(user)?;
    let name = user.arch.kernel_image_name();
    let mut bytes = |name: String, path: &std::path::Path| -> Result<()> {
        report.add("sizes", name, size_of(path)?, "bytes");
        Ok(())
    };
    bytes(format!("vmlinux ({})", user.kernel_flavour()), &plain_kernel.vmlinux)?;
    bytes(format!("vmlinux ({})", debug_ctx.kernel_flavour()), &debug.vmlinux)?;
    bytes(format!("{name} ({})", debug_ctx.kernel_flavour()), &debug.image)?;
    Ok(())
}
