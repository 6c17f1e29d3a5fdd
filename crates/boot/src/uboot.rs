//! U-Boot in front of the kernel, as the author's `run.sh -u`: which ROM a boot goes through
//! (none, the user's prebuilt one, or one built from source), how it goes on the machine, and the
//! console dialogue that gets it to start the kernel.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, Result};
use qemu::{Machine, Session};
use stages::UbootSelection;

/// Which U-Boot a boot goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice {
    /// none: QEMU's own firmware starts the kernel
    #[default]
    None,
    /// built from source, which boots the initrd by itself
    Built(UbootSelection),
    /// a prebuilt ROM, its boot typed at its prompt
    Rom(PathBuf),
}

impl Choice {
    pub fn wanted(&self) -> bool {
        *self != Choice::None
    }
}

/// U-Boot as a machine's firmware.
pub struct UbootRom {
    pub rom: PathBuf,
    /// the kernel arguments it passes when it boots by itself: known for a ROM built here (its
    /// CONFIG_BOOTARGS), not for a prebuilt one
    pub bootargs: Option<String>,
}

impl UbootRom {
    /// Whether the ROM boots `machine` by itself: its built-in arguments are the machine's (a
    /// headless session's panic policy aside: its console watcher sees a panic anyway).
    pub fn boots_by_itself(&self, machine: &Machine) -> bool {
        self.bootargs.as_deref() == Some(machine.append.join(" ").as_str())
    }
}

/// Puts U-Boot in front of the kernel, as the author's `run.sh -u` does: the ROM is the firmware,
/// QEMU hands it the kernel and the image over fw_cfg, and U-Boot passes the kernel its
/// arguments itself (QEMU's -append would not reach a kernel that firmware starts).
pub fn through(machine: &mut Machine, uboot: &UbootRom) {
    machine.firmware = Some(uboot.rom.clone());
    machine.bootloader_passes_append = true;
    // its console is the serial port: no video for it to start
    machine.devices.extend(qemu::devices::no_vga());
}

/// U-Boot's commands that boot `machine`'s kernel and image with its kernel arguments: the
/// author's CONFIG_BOOTCOMMAND, typed by hand.
pub fn uboot_commands(machine: &Machine) -> Vec<String> {
    vec![
        format!("setenv bootargs '{}'", machine.kernel_append()),
        "qfw load ${kernel_addr_r} ${ramdisk_addr_r}".to_string(),
        "zboot ${kernel_addr_r} - ${ramdisk_addr_r} ${filesize}".to_string(),
    ]
}

/// Through U-Boot at the console, until the kernel's first line. A ROM that boots `machine` by
/// itself is left to its countdown; otherwise the countdown is stopped and [`uboot_commands`]
/// are typed at its `=>` prompt. A U-Boot that resets (its banner again) or stops at its prompt
/// fails at once, with the console's tail.
pub fn through_uboot(session: &mut Session, machine: &Machine, uboot: &UbootRom) -> Result<()> {
    let step = Duration::from_secs(30);
    session.wait_for(UBOOT_BANNER, step).context("U-Boot did not start")?;
    if !uboot.boots_by_itself(machine) {
        // a session runs headless: the arguments typed carry its panic policy
        let machine = &Machine { headless: true, ..machine.clone() };
        session
            .wait_for("Hit any key to stop autoboot", step)
            .context("no U-Boot autoboot prompt")?;
        session.send_line("")?;
        for command in uboot_commands(machine) {
            session.wait_for("=>", step).context("no U-Boot prompt")?;
            session.send_line(&command)?;
        }
    }
    let outcomes = ["Linux version", UBOOT_BANNER, "\n=> "];
    let outcome = session
        .wait_for_first(&outcomes, step)
        .context("U-Boot did not start the kernel (a 64-bit U-Boot 2023.01 resets at zboot)")?;
    let why = match outcome {
        0 => return Ok(()),
        1 => {
            "U-Boot reset the machine instead of starting the kernel (a 64-bit U-Boot 2023.01 \
              does at zboot: README, \"Through U-Boot\")"
        }
        _ => "U-Boot stopped at its prompt: its boot command failed",
    };
    Err(anyhow::anyhow!("{why}\n{}", session.console_report()))
}

/// The start of U-Boot proper's banner (`U-Boot 2024.04 (...)`), not its SPL's.
const UBOOT_BANNER: &str = "U-Boot 20";

#[cfg(test)]
mod tests {
    use super::*;

    /// The ROM boots by itself only when its built-in arguments are the initrd boot's: the
    /// fragment and the boot table must not drift apart.
    #[test]
    fn the_fragments_bootargs_are_the_initrd_boots() {
        let repo = stages::context::repo();
        let fragments: Vec<PathBuf> = stages::uboot::FRAGMENTS
            .iter()
            .map(|name| repo.join("uboot-config").join(name))
            .collect();
        let settings = kconfig::read_fragments(&fragments).unwrap().concat();
        let bootargs = settings.iter().find(|s| s.symbol == "CONFIG_BOOTARGS").unwrap();
        for arch in arch::all().filter(|a| !a.uboot_boards.is_empty()) {
            let initrd = crate::boots::by_name("initrd").append(&arch.console, None).join(" ");
            assert_eq!(bootargs.value, kconfig::Value::Str(initrd), "{}", arch.name);
        }
    }
}
