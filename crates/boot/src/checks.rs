//! `check`'s checks: a booted guest answered as a person would, and what the tutorial shows of
//! it compared. Every failure carries the guest's console.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use qemu::Session;

use crate::{
    boots::{Boot, Ready, Root},
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
    session.run(crate::protocol::QUIET_CONSOLE, COMMAND_TIMEOUT)?;
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

/// One of `check`'s checks as a shell line for a guest with no one at its console (a LAVA
/// job's test case): its name, and a line that exits 0 when what the tutorial shows holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCheck {
    pub name: String,
    pub shell: String,
}

/// [`as_the_tutorial_shows`]'s checks as shell lines, in its order: the release, what is
/// mounted on `/` and the tutorial's mounts, `df -a`, the devices. (`poweroff` is not among
/// them: a lab ends the machine itself.)
pub fn as_shell_lines(boot: &Boot, release: &str) -> Vec<ShellCheck> {
    let check = |name: String, shell: String| ShellCheck { name, shell };
    let mut checks = Vec::new();
    if let Ready::Prints(_) = boot.ready {
        return checks;
    }
    checks.push(check(
        "uname-r".into(),
        format!("test \"$(uname -r)\" = {}", qemu::shell_quote(release)),
    ));
    // the top mount on / is the one processes see, as `check_mounts` reads it
    let root = "awk '$2 == \"/\" { t = $1 \" \" $3 \" \" $4 } END { print t }' /proc/mounts";
    let root_holds = match boot.root {
        Root::Device(fs) => format!("test \"$({root} | cut -d' ' -f1,2)\" = '/dev/root {fs}'"),
        // the kernel's rootfs as ramfs has no size= (as tmpfs it would)
        Root::Ramfs => {
            format!("{root} | grep -Eq '^[^ ]+ (rootfs|ramfs) ' && ! {root} | grep -q 'size='")
        }
    };
    checks.push(check("root".into(), root_holds));
    for (fs_type, mount_point) in boot.mounts {
        checks.push(check(
            format!("{fs_type}-on-{}", mount_point.trim_start_matches('/')),
            format!("awk '$2 == \"{mount_point}\" && $3 == \"{fs_type}\" {{ found = 1 }} END {{ exit !found }}' /proc/mounts"),
        ));
    }
    checks.push(check("df-a".into(), "df -a".into()));
    for &(test, holds) in boot.devices {
        let words: Vec<&str> =
            test.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let name = format!("test-{}", words.join("-"));
        let shell = if holds { format!("test {test}") } else { format!("! test {test}") };
        checks.push(check(if holds { name } else { format!("not-{name}") }, shell));
    }
    checks
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
