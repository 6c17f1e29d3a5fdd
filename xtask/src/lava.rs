//! LAVA: `check --lava-job`, `run --lava-job -- CMD` and `test --kunit --lava-job` write the
//! boot as a LAVA job instead of booting it (what a job cannot carry refused here, before any
//! build; the job written by [`lava::boots`]); `cargo xtask lava JOB` runs a job through LAVA's
//! own dispatcher here ([`lava::here`]) and reports its cases as `test` does.

use std::process::ExitCode;

use anyhow::{bail, Result};
use boot::{boots::Boot, runner};

use crate::{build, flags};

/// The machine's options for a job, refusing before any build what a LAVA job cannot carry: a
/// job has the kernel, the image, the kernel's arguments and the memory, and a lab's machine
/// has the rest.
pub fn job_options(flags: &flags::Machine, boot: &Boot) -> Result<boot::Options> {
    carried(flags, flags.options(None)?, boot)
}

/// `options`, made from `flags` (and maybe more), if a LAVA job carries them.
pub fn carried(
    flags: &flags::Machine,
    options: boot::Options,
    boot: &Boot,
) -> Result<boot::Options> {
    // the features whose rows say a job does not carry them (features.toml's `lava`), then
    // what no feature row covers
    let this_machines = [
        (flags.monitor.is_some() || flags.qmp.is_some(), "--monitor and --qmp".to_string()),
        (!flags.qemu_args.is_empty(), "--qemu-arg".to_string()),
        (flags.cpus.is_some(), "--cpus".to_string()),
    ];
    let features = options.not_in_a_lava_job().map(|features| (true, features));
    if let Some((_, named)) = features.into_iter().chain(this_machines).find(|(given, _)| *given) {
        bail!(
            "--lava-job: {named} set up this machine's QEMU, which a LAVA job does not carry \
             (it has the kernel, the image, the kernel's arguments and --memory)"
        );
    }
    if boot.init.is_none() {
        bail!("--lava-job: the {} image has no shell for LAVA to log in to", boot.name);
    }
    Ok(options)
}

/// Writes `boot` as the LAVA job `--lava-job` names.
pub fn write_job(
    ctx: &stages::Context,
    built: &stages::Built,
    boot: &'static Boot,
    options: &boot::Options,
    flags: &flags::LavaJob,
    tests: lava::boots::Tests,
) -> Result<()> {
    let path = flags.lava_job.as_deref().expect("asked for a job");
    lava::boots::write_job(ctx, built, boot, options, path, flags.artifact_url.clone(), tests)
}

/// `cargo xtask lava JOB`.
pub fn run(flags: flags::Lava) -> Result<ExitCode> {
    let reports = flags.reports.paths();
    reports.check()?;
    let asked = lava::here::Asked {
        job: flags.job,
        output_dir: flags.output_dir,
        trust_job: flags.trust_job,
        verbose: flags.verbose,
        install_deps: flags.install_deps,
        target_dir: build::target_dir()?,
    };
    let run = lava::here::run(&asked)?;
    Ok(ExitCode::from(reports.finish(&run, &mut std::io::stdout(), runner::GUEST_FAILED)))
}
