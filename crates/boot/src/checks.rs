//! `check`'s checks: a booted guest answered as a person would, and what the tutorial shows of
//! it compared. Every failure carries the guest's console.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use qemu::Session;

use crate::{
    boots::{Boot, Ready},
    timeline,
};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for `boot` to be ready on `session`, then checks what the tutorial shows of it: the
/// kernel's release (`release`, the built one's), the mounts, `df -a`, the devices, and that
/// `poweroff` ends QEMU. Returns the time to ready and a note per check; the boot's phases go to
/// `pictured`.
pub fn as_the_tutorial_shows(
    session: &mut Session,
    release: &str,
    boot: &Boot,
    pictured: &mut Vec<timeline::Boot>,
) -> Result<(Duration, Vec<String>)> {
    let mut notes = Vec::new();
    let to_ready = crate::machine::wait_ready(session, boot)?;
    pictured.push(timeline::Boot {
        label: boot.name.to_string(),
        phases: timeline::phases(session, to_ready),
    });
    if let Ready::Prints(text) = boot.ready {
        // nothing to type to (the hello program sleeps forever by design); dropping the
        // session stops QEMU
        notes.push(format!("printed {text:?}"));
        return Ok((to_ready, notes));
    }

    // the kernel's late messages (the TSC's refined calibration, a second or so in) would land
    // in the middle of a command's output on the tutorial's machine, which is not quiet
    session.run("dmesg -n 1", COMMAND_TIMEOUT)?;
    let running = session.run("uname -r", COMMAND_TIMEOUT)?;
    ensure!(
        running.trim() == release,
        "uname -r in the guest is {:?}, the built kernel is {release:?}",
        running.trim()
    );
    notes.push(format!("uname -r: {}", running.trim()));

    let mounts = session.run("cat /proc/mounts", COMMAND_TIMEOUT)?;
    if let Err(problems) = boot.check_mounts(&mounts) {
        bail!(
            "the guest's mounts are not the tutorial's:\n  {}\n/proc/mounts:\n{mounts}",
            problems.join("\n  ")
        );
    }
    let df = session.run("df -a", COMMAND_TIMEOUT)?;
    notes.push(format!("df -a:\n{}", indent(&df)));

    for &(test, holds) in boot.devices {
        let held = session.run_status(&format!("test {test}"), COMMAND_TIMEOUT)?.status == 0;
        ensure!(
            held == holds,
            "`test {test}` is {held} in the guest; the tutorial shows it {holds}"
        );
        notes.push(format!("test {test}: {held}"));
    }
    session.poweroff_and_wait(COMMAND_TIMEOUT)?;
    notes.push("poweroff: QEMU exited by itself".to_string());
    Ok((to_ready, notes))
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
