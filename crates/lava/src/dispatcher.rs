//! LAVA's own dispatcher on this machine: `lava-run` with a job and the device dictionary
//! written for it, its log followed line by line. The IO around [`crate::log`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::log::{parse_line, Event, Outcome};

/// Where LAVA's dispatcher is and what it needs on the host.
pub const LAVA_RUN: &str = "/usr/bin/lava-run";
/// The job and device schemas, from `lava-common`.
pub const LAVA_SCHEMA: &str = "/usr/share/lava-common/lava-schema.py";

/// One run of a job.
pub struct Dispatch<'a> {
    pub job: &'a Path,
    pub device: &'a Path,
    /// lava-run's output folder (the job's `result.yaml`, `description.yaml`)
    pub output_dir: PathBuf,
    /// lava-run's whole log, one YAML document a line
    pub log: PathBuf,
    /// LAVA keeps a job's files in /var/lib/lava/dispatcher/tmp/<id>: two runs at once need two
    pub job_id: u32,
    /// the job's `context.no_kvm`: libguestfs (an ext4 image's overlay) then boots its own
    /// appliance under TCG too, as KVM is not to be used
    pub no_kvm: bool,
}

/// Runs the job, handing each line's event to `progress` as it comes; the outcome is read
/// from the same lines. `lava-run` ending non-zero is a failed job (the outcome says why), not
/// an error of this function's.
pub fn run(dispatch: &Dispatch, mut progress: impl FnMut(&Event)) -> Result<Outcome> {
    if !Path::new(LAVA_RUN).exists() {
        bail!("{LAVA_RUN} is missing: install LAVA's dispatcher (`cargo xtask deps --lava`)");
    }
    if std::fs::exists(&dispatch.log).unwrap_or(false) {
        std::fs::remove_file(&dispatch.log)
            .with_context(|| format!("removing the last log {}", dispatch.log.display()))?;
    }
    let sh = xshell::Shell::new()?;
    let (job, device, output_dir) = (dispatch.job, dispatch.device, &dispatch.output_dir);
    let job_id = dispatch.job_id.to_string();
    let mut cmd = xshell::cmd!(
        sh,
        "{LAVA_RUN} --job-id {job_id} --output-dir {output_dir} --device {device} {job}"
    );
    if dispatch.no_kvm {
        cmd = cmd.env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    }
    let mut outcome = Outcome::default();
    exec::run_following(cmd, &dispatch.log, |line| {
        let event = parse_line(line);
        outcome.feed(&event);
        progress(&event);
    })?;
    Ok(outcome)
}

/// Checks `file` against LAVA's own schema (`lava-common`'s `lava-schema.py`): `kind` is `job`
/// or `device`. The error carries the schema's words.
pub fn validate(kind: &str, file: &Path) -> Result<()> {
    let sh = xshell::Shell::new()?;
    // Debian's python, which has LAVA's modules, not whichever python3 is first on the PATH
    let out = xshell::cmd!(sh, "/usr/bin/python3 {LAVA_SCHEMA} {kind} {file}")
        .ignore_status()
        .output()
        .with_context(|| format!("running {LAVA_SCHEMA}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || text.contains("invalid") {
        bail!("{}: LAVA's schema refuses it:\n{}", file.display(), text.trim());
    }
    Ok(())
}
