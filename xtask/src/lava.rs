//! LAVA: `check --lava-job` and `run --lava-job -- CMD` write the boot as a LAVA job instead of
//! booting it; `cargo xtask lava JOB` runs a job through LAVA's own dispatcher here and reports
//! its cases as `test` does.

use std::{io::Write as _, path::Path, process::ExitCode, time::Duration};

use anyhow::{bail, Context as _, Result};
use boot::{
    boots::Boot,
    machine::{self, Request, Speed},
    runner,
};
use lava::{Artifacts, Case, Event, RootfsFormat, Step, Timeout};
use rootfs::Compression;
use stages::{hostdeps, pipeline::Built, Context};

use crate::{build, flags, reports};

/// What a job tests: a definition's name, what it is, and its steps.
pub struct Tests {
    pub definition: &'static str,
    pub description: String,
    pub steps: Vec<Step>,
    pub timeout: Timeout,
}

/// Refuses, before any build, what a LAVA job cannot carry: a job has the kernel, the image,
/// the kernel's arguments and the memory, and a lab's machine has the rest.
pub fn check_options(flags: &flags::Machine, boot: &Boot) -> Result<()> {
    let this_machines = [
        (!flags.shares.is_empty() || !flags.shares_ro.is_empty(), "--share"),
        (flags.net || !flags.forwards.is_empty(), "--net and --forward"),
        (flags.monitor.is_some() || flags.qmp.is_some(), "--monitor and --qmp"),
        (!flags.qemu_args.is_empty(), "--qemu-arg"),
        (flags.cpus.is_some(), "--cpus"),
    ];
    for (given, named) in this_machines {
        if given {
            bail!(
                "--lava-job: {named} set up this machine's QEMU, which a LAVA job does not carry \
                 (it has the kernel, the image, the kernel's arguments and --memory)"
            );
        }
    }
    if boot.init.is_none() {
        bail!("--lava-job: the {} image has no shell for LAVA to log in to", boot.name);
    }
    Ok(())
}

/// Writes `boot` (built as `built`) with `tests` as a LAVA job to `flags.lava_job`.
pub fn write_job(
    ctx: &Context,
    built: &Built,
    boot: &'static Boot,
    options: &boot::Options,
    flags: &flags::LavaJob,
    tests: Tests,
) -> Result<()> {
    let path = flags.lava_job.as_deref().expect("asked for a job");
    let request =
        Request { probe_accel: false, announce: false, ..Request::new(boot, Speed::Tutorial) };
    let mut machine = machine::machine(ctx, built, &request, options)?;
    // a panic ends QEMU (panic=-1, -no-reboot), which LAVA sees as the connection closing
    machine.headless = true;
    let rootfs = machine.initrd.clone().context("the boot has an image")?;
    let artifacts = flags.artifact_url.clone().unwrap_or(Artifacts::Local);
    let compression = match ctx.selection.compression {
        Compression::Gzip => "gz",
        Compression::Zstd => "zstd",
    };
    let job = lava::Job::new(&lava::Boot {
        job_name: format!(
            "kardel {} {} ({}, {})",
            tests.definition,
            boot.name,
            ctx.arch.name,
            ctx.kernel_flavour()
        ),
        arch: ctx.arch.lava.clone(),
        memory_mib: machine.memory_mib,
        kernel_url: artifacts.url(&machine.kernel),
        rootfs_url: artifacts.url(&rootfs),
        rootfs_compression: Some(compression.to_string()),
        rootfs_format: match boot.image {
            boot::boots::Image::Initrd => RootfsFormat::Ext4,
            _ => RootfsFormat::Cpio,
        },
        append: machine.kernel_append(),
        login_prompt: "Please press Enter to activate this console.".into(),
        prompt: "/ #".into(),
        definition: tests.definition.to_string(),
        description: tests.description,
        steps: tests.steps,
        test_timeout: tests.timeout,
    });
    artifact::write_atomic(path, |f| Ok(f.write_all(job.yaml().as_bytes())?))?;
    println!("wrote the LAVA job {}", path.display());
    match &artifacts {
        Artifacts::Local => println!("run it here: cargo xtask lava {}", path.display()),
        Artifacts::Served(_) => {
            println!("put these files where the job names them:");
            for file in [&machine.kernel, &rootfs] {
                println!("  {}  ->  {}", file.display(), artifacts.url(file));
            }
        }
    }
    Ok(())
}

/// `check`'s checks of `boot` on the built kernel, as the job's cases.
pub fn check_tests(boot: &Boot, built: &Built) -> Tests {
    let cases = boot::checks::as_shell_lines(boot, &built.kernel.release)
        .into_iter()
        .map(|c| Step::Case(Case::new(c.name, c.shell)))
        .collect();
    Tests {
        definition: "check",
        description: format!("what the tutorial shows of the {} boot", boot.name),
        steps: cases,
        timeout: Timeout::minutes(5),
    }
}

/// A command as the job's one case: it passes when the command exits 0.
pub fn command_tests(argv: &[String], timeout: Duration) -> Tests {
    let line = boot::protocol::command_line(argv);
    Tests {
        definition: "run",
        description: format!("the command {}", argv.join(" ")),
        steps: vec![Step::Case(Case::new("command", line))],
        timeout: Timeout::seconds(timeout.as_secs()),
    }
}

/// KUnit's suites as the job's cases, one per suite: the console quieted (KUnit's kernel logs at
/// info level, which would land in the middle of LAVA's signals), the test modules loaded (their
/// suites run as they load), then each suite's result line in the kernel's log (`ok N suite`,
/// `not ok N suite`, `# SKIP`: KTAP's top level, unindented) reported to LAVA.
pub fn kunit_tests(loads_modules: bool) -> Tests {
    let mut steps = vec![Step::Line("dmesg -n 1".into())];
    if loads_modules {
        steps.push(Step::Case(Case::new("load-test-modules", boot::kunit::LOAD_TEST_MODULES)));
    }
    steps.push(Step::Line(REPORT_SUITES.into()));
    Tests {
        definition: "kunit",
        description: "KUnit's suites, one case each".into(),
        steps,
        timeout: Timeout::minutes(5),
    }
}

/// The kernel's log's top-level KTAP result lines, a LAVA case each.
const REPORT_SUITES: &str = r#"dmesg | awk '{ sub(/^\[[^]]*\] /, "") } /^(not )?ok [0-9]+ / { r = "pass"; n = $3; if ($1 == "not") { r = "fail"; n = $4 } if (n == "-") n = ($1 == "not") ? $5 : $4; if ($0 ~ /# SKIP/) r = "skip"; print n, r }' | while read suite result; do lava-test-case "$suite" --result "$result"; done"#;

/// `cargo xtask lava JOB`: the job through `lava-run` with a device dictionary for this
/// machine, its cases reported as `test` reports KUnit's. What the job asks of this machine,
/// its images and the output folder are checked first, before the host's packages, root, or
/// anything written.
pub fn run(flags: flags::Lava) -> Result<ExitCode> {
    reports::check_report_paths(&flags.reports)?;
    let head = lava::Head::read(&flags.job)?;
    let context = head.context();
    let Some(arch) = arch::all().find(|a| a.lava == context.arch) else {
        let known: Vec<&str> = arch::all().map(|a| a.lava.as_str()).collect();
        bail!(
            "{}: context.arch is {:?}; this machine boots {}",
            flags.job.display(),
            context.arch,
            known.join(", ")
        );
    };
    if !flags.trust_job {
        refuse_untrusted(&flags.job, &head)?;
    }
    let layout = stages::layout::Layout::new(build::target_dir()?, &arch.name);
    // the default folder may be one an earlier version of the tool wrote (without its marker)
    let (dir, adopt_earlier) = match &flags.output_dir {
        Some(dir) => (dir.clone(), false),
        None => (layout.lava(&lava::output::folder_name(&flags.job)), true),
    };
    lava::output::check(&dir, adopt_earlier)?;
    check_images(&flags.job, &head, flags.trust_job)?;

    let sh = xshell::Shell::new()?;
    let mut steps = vec![hostdeps::Step::Lava, hostdeps::Step::Qemu];
    if head.deploys_ext4() {
        steps.push(hostdeps::Step::LavaExt4);
    }
    hostdeps::ensure(&sh, arch, &steps, flags.install_deps)?;
    if !hostdeps::is_root(&sh) {
        bail!("lava-run must run as root (it checks): sudo target/debug/xtask lava JOB");
    }
    let _lock = artifact::Lock::acquire(&layout.lock_for(&dir), "this job's output folder")?;
    lava::output::prepare(&dir, adopt_earlier)?;

    let device = lava::Device::qemu(&arch.lava, &arch.qemu, &device_hardware(arch, context));
    let device_path = dir.join("device.yaml");
    artifact::write_atomic(&device_path, |f| Ok(f.write_all(device.yaml().as_bytes())?))?;
    lava::dispatcher::validate("job", &flags.job)?;
    lava::dispatcher::validate("device", &device_path)?;

    let dispatch = lava::dispatcher::Dispatch {
        job: &flags.job,
        device: &device_path,
        output_dir: dir.join("output"),
        log: dir.join("lava.log"),
        // LAVA keeps a job's files under its id: the process's, unique among running jobs
        job_id: std::process::id(),
        no_kvm: context.no_kvm,
    };
    eprintln!("lava-run: {} ({}), log {}", head.job_name, arch.name, dispatch.log.display());
    let verbose = flags.verbose;
    let outcome = lava::dispatcher::run(&dispatch, |event| show(event, verbose))?;
    let run = outcome.run(&head.job_name, &head.definitions());
    Ok(reports::finish(&run, &flags.reports, &mut std::io::stdout(), runner::GUEST_FAILED))
}

/// Refuses a job that asks more of this machine than its guest and its own images
/// ([`lava::trust`]): lava-run would do it as root.
fn refuse_untrusted(job: &Path, head: &lava::Head) -> Result<()> {
    let refused = lava::trust::refusals(head);
    if refused.is_empty() {
        return Ok(());
    }
    bail!(
        "{}: the job asks more of this machine than its guest and its own images, which \
         lava-run would do as root:\n  {}\nTake it out of the job, or run it with --trust-job \
         if you trust the job",
        job.display(),
        refused.join("\n  ")
    )
}

/// How long an image's server has to answer before the job is refused: LAVA would retry it for
/// about ten minutes, saying nothing.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Each image the job deploys is there: a `file://` file that exists (and, unless the job is
/// trusted, that the user who ran sudo may read: lava-run reads it as root, and the guest gets
/// it), an http(s) URL whose server answers within [`ANSWER_WITHIN`] and not with an error.
fn check_images(job: &Path, head: &lava::Head, trusted: bool) -> Result<()> {
    let invoker = if trusted { None } else { sudo_user() };
    for image in head.images() {
        let Some(url) = &image.url else { continue };
        let named = format!("{}: the image {} ({url})", job.display(), image.label);
        if let Some(path) = url.strip_prefix("file://") {
            let path = Path::new(path);
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => bail!("{named}: not a file"),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    bail!("{named}: no such file")
                }
                Err(err) => bail!("{named}: {err}"),
            }
            if let Some((uid, gid)) = invoker {
                if !readable_by(path, uid, gid)? {
                    bail!(
                        "{named}: the user who ran sudo (uid {uid}) cannot read it, and lava-run \
                         would read it as root for the guest; run it with --trust-job if you \
                         trust the job"
                    );
                }
            }
        } else if url.starts_with("http://") || url.starts_with("https://") {
            match fetch::answers(url, ANSWER_WITHIN) {
                Ok(status) if status < 400 => {}
                Ok(status) => bail!("{named}: the server answers HTTP {status}"),
                Err(why) => bail!(
                    "{named} does not answer ({why}); LAVA would retry it for about ten minutes"
                ),
            }
        }
    }
    Ok(())
}

/// The user and group sudo ran the tool for (`SUDO_UID`, `SUDO_GID`), when it did.
fn sudo_user() -> Option<(u32, u32)> {
    let id = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    Some((id("SUDO_UID")?, id("SUDO_GID")?))
}

/// Whether `uid` (in group `gid`) may read `path` by its permission bits and its folders'.
fn readable_by(path: &Path, uid: u32, gid: u32) -> Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let path =
        std::fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))?;
    let allows = |at: &Path, want: u32| -> Result<bool> {
        let meta = std::fs::metadata(at).with_context(|| format!("reading {}", at.display()))?;
        Ok(lava::trust::permits(uid, gid, meta.uid(), meta.gid(), meta.mode(), want))
    };
    for folder in path.ancestors().skip(1) {
        if !allows(folder, 1)? {
            return Ok(false);
        }
    }
    allows(&path, 4)
}

/// The machine a lab's qemu device type would give the job, here: the architecture's board,
/// CPU and firmware, the job's memory, TCG when it says `no_kvm`, no network card, no monitor.
fn device_hardware(arch: &arch::Arch, context: &lava::job::Context) -> Vec<std::ffi::OsString> {
    let mut machine = machine::arch_machine(arch, Path::new(""), Speed::Tutorial);
    machine.memory_mib = context.memory.unwrap_or(machine.memory_mib);
    machine.accel = if context.no_kvm { qemu::Accel::Tcg } else { qemu::Accel::Kvm };
    machine.headless = true;
    machine.devices.extend(qemu::devices::no_nic());
    // no monitor on the console (-nographic would share it with the serial port): what LAVA
    // types there (a job's login commands, an interactive test's lines) reaches the guest only,
    // never QEMU's monitor, which can write files and run commands here as root
    machine.devices.extend(["-monitor".into(), "none".into()]);
    qemu::hardware_args(&machine)
}

fn show(event: &Event, verbose: bool) {
    match event {
        Event::Info(text) if is_top_step(text) => eprintln!("  {}", text),
        Event::Case(case) => {
            eprintln!(
                "  {:<4}  {}/{}",
                case.result,
                lava::log::strip_index(&case.definition),
                case.case
            )
        }
        Event::Error(text) => eprintln!("  LAVA: {text}"),
        Event::Console(line) if verbose => eprintln!("{line}"),
        _ => {}
    }
}

/// `start: 2 boot-image-retry (timeout ...)`: one of the job's actions, not a step inside one.
fn is_top_step(text: &str) -> bool {
    text.strip_prefix("start: ")
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|level| level.chars().all(|c| c.is_ascii_digit()))
}
