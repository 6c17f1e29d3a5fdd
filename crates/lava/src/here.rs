//! `cargo xtask lava JOB`: a job run here through LAVA's own dispatcher (`lava-run`), with a
//! device dictionary for this machine, in an output folder of the tool's own, after what the job
//! asks of this machine ([`crate::trust`]) and its images are checked.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use boot::machine::{self, Speed};
use stages::hostdeps;

use crate::{Event, Head};

/// What `lava JOB` is asked, as plain values.
pub struct Asked {
    pub job: PathBuf,
    /// the run's folder; none: `target/kardel/lava/<the job file's name>`
    pub output_dir: Option<PathBuf>,
    /// run what the job asks of this machine beyond its guest and its images (`--trust-job`)
    pub trust_job: bool,
    /// the guest's console on stderr as the job runs
    pub verbose: bool,
    pub install_deps: bool,
    /// the user's target folder
    pub target_dir: PathBuf,
}

/// Runs `asked.job` through `lava-run` with a device dictionary for this machine, and returns
/// its cases as results. What the job asks of this machine, its images and the output folder
/// are checked first, before the host's packages, root, or anything written.
pub fn run(asked: &Asked) -> Result<results::Run> {
    let head = Head::read(&asked.job)?;
    let context = head.context();
    let Some(arch) = arch::all().find(|a| a.lava == context.arch) else {
        let known: Vec<&str> = arch::all().map(|a| a.lava.as_str()).collect();
        bail!(
            "{}: context.arch is {:?}; this machine boots {}",
            asked.job.display(),
            context.arch,
            known.join(", ")
        );
    };
    if !asked.trust_job {
        refuse_untrusted(&asked.job, &head)?;
    }
    let layout = stages::layout::Layout::new(asked.target_dir.clone(), &arch.name);
    // the default folder may be one an earlier version of the tool wrote (without its marker)
    let (dir, adopt_earlier) = match &asked.output_dir {
        Some(dir) => (dir.clone(), false),
        None => (layout.lava(&crate::output::folder_name(&asked.job)), true),
    };
    crate::output::check(&dir, adopt_earlier)?;
    check_images(&asked.job, &head, asked.trust_job)?;

    let sh = xshell::Shell::new()?;
    let mut steps = vec![hostdeps::Step::Lava, hostdeps::Step::Qemu];
    if head.deploys_ext4() {
        steps.push(hostdeps::Step::LavaExt4);
    }
    hostdeps::ensure(&sh, arch, &steps, asked.install_deps)?;
    if !hostdeps::is_root(&sh) {
        bail!("lava-run must run as root (it checks): sudo target/debug/xtask lava JOB");
    }
    let _lock = artifact::Lock::acquire(&layout.lock_for(&dir), "this job's output folder")?;
    crate::output::prepare(&dir, adopt_earlier)?;

    let device = crate::Device::qemu(&arch.lava, &arch.qemu, &device_hardware(arch, context));
    let device_path = dir.join("device.yaml");
    artifact::write_atomic(&device_path, |f| Ok(f.write_all(device.yaml().as_bytes())?))?;
    crate::dispatcher::validate("job", &asked.job)?;
    crate::dispatcher::validate("device", &device_path)?;

    let dispatch = crate::dispatcher::Dispatch {
        job: &asked.job,
        device: &device_path,
        output_dir: dir.join("output"),
        log: dir.join("lava.log"),
        // LAVA keeps a job's files under its id: the process's, unique among running jobs
        job_id: std::process::id(),
        no_kvm: context.no_kvm,
    };
    eprintln!("lava-run: {} ({}), log {}", head.job_name, arch.name, dispatch.log.display());
    let verbose = asked.verbose;
    let outcome = crate::dispatcher::run(&dispatch, |event| show(event, verbose))?;
    Ok(outcome.run(&head.job_name, &head.definitions()))
}

/// Refuses a job that asks more of this machine than its guest and its own images
/// ([`crate::trust`]): lava-run would do it as root.
fn refuse_untrusted(job: &Path, head: &Head) -> Result<()> {
    let refused = crate::trust::refusals(head);
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
fn check_images(job: &Path, head: &Head, trusted: bool) -> Result<()> {
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
        Ok(crate::trust::permits(uid, gid, meta.uid(), meta.gid(), meta.mode(), want))
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
fn device_hardware(arch: &arch::Arch, context: &crate::job::Context) -> Vec<std::ffi::OsString> {
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
                crate::log::strip_index(&case.definition),
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
