//! The guest protocol, defined once: what the host and the guest's scripts
//! (`crates/rootfs/files/sbin/kardel-run` and `kardel-setup`) agree on. The kernel hands unknown
//! `KEY=VALUE` words of its command line to init's environment, so the host speaks through those;
//! the command itself, its streams and its exit status travel on named virtio serial ports. A test holds the
//! scripts to every name here, and refuses a name in them that is not here.

use qemu::shell_quote;

/// The guest's init for a command.
pub const RUNNER_INIT: &str = "/sbin/kardel-run";

/// `TAG:/mountpoint,...`: host folders over virtio 9p, mounted by `kardel-setup`.
pub const SHARES: &str = "KARDEL_SHARES";
/// `1`: the kernel configured eth0 (`ip=dhcp`); `kardel-setup` brings up the loopback.
pub const NET: &str = "KARDEL_NET";

/// `1`: a machine to save ([`RUNNER_READY`]); the command port's first line is then
/// [`warm_header`].
pub const WARM: &str = "KARDEL_WARM";

/// The 9p tag of a root of the user's (`run --rootfs DIR`), which `kardel-root` mounts under an
/// overlay at [`NEW_ROOT`]; `kardel-run` runs the command chrooted there, and `kardel-setup`
/// mounts the shares in it.
pub const ROOT: &str = "KARDEL_ROOT";

/// The environment variables above, for the scripts' test.
pub const VARIABLES: [&str; 4] = [SHARES, NET, WARM, ROOT];

/// The tag [`ROOT`] names: no share of the user's may have it.
pub const ROOT_TAG: &str = "kardelroot";
/// Where the user's root is mounted in the guest before the command is chrooted there.
pub const NEW_ROOT: &str = "/newroot";
/// The init of an interactive run in a root of the user's: the root's shell on the console.
pub const ROOT_INIT: &str = "/sbin/kardel-root";

/// A virtio serial port: QEMU's id for its backend, and the name the guest looks it up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub id: &'static str,
    pub name: &'static str,
}

pub const STDOUT: Port = Port { id: "kout", name: "kardel.stdout" };
pub const STDERR: Port = Port { id: "kerr", name: "kardel.stderr" };
/// Held open by the runner while the command runs (a port has one opener: the command cannot
/// open it), and written by it after the command has exited: `exit N`.
pub const STATUS: Port = Port { id: "kstatus", name: "kardel.status" };
/// The host's stdin, streamed; end of file when it ends. Absent when the host's is a terminal.
pub const STDIN: Port = Port { id: "kin", name: "kardel.stdin" };
/// The command as the guest's shell reads it ([`command_line`]), then end of file: on a port, not
/// the kernel's command line, so it has no length limit but memory's.
pub const COMMAND: Port = Port { id: "kcmd", name: "kardel.command" };

pub const PORTS: [Port; 5] = [STDOUT, STDERR, STATUS, STDIN, COMMAND];

/// What the runner of a machine to save prints (its `kardel-seed`, which then waits for the
/// command port's first line, [`warm_header`]): the moment to save.
pub const RUNNER_READY: &str = "kardel-run: ready for a command";

/// The first line for a restored runner: the host's time (seconds since the epoch) and fresh
/// randomness for `kardel-seed` (hex).
pub fn warm_header(now: u64, seed: &[u8]) -> String {
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    format!("{now} {hex}\n")
}

/// BusyBox's askfirst line on the tutorial's console: the guest is up, Enter gives a shell.
pub const PRESS_ENTER: &str = "Please press Enter to activate this console.";

/// BusyBox's shell prompt, as root in `/`.
pub const SHELL_PROMPT: &str = "/ #";

/// Quiets the kernel's console to panics and worse, so that its lines do not land in the middle
/// of what a shell on the console prints (a check's output, LAVA's signals).
pub const QUIET_CONSOLE: &str = "dmesg -n 1";

/// The author's 9p tag for an untagged share (`mount -t 9p hostshare /mnt`), and the folder
/// shares are mounted under.
pub const SHARE_TAG: &str = "hostshare";
pub const SHARE_MOUNTS: &str = "/mnt";

/// What the runner prints on the console once the command starts.
pub const RUNNER_STARTED: &str = "kardel-run: running the command";

/// `KEY=VALUE` for the kernel's command line.
pub fn kernel_arg(variable: &str, value: impl std::fmt::Display) -> String {
    format!("{variable}={value}")
}

/// The command as the guest's shell reads it: each word quoted, so that it keeps its spaces,
/// quotes, `$` and newlines.
pub fn command_line(argv: &[String]) -> String {
    let line: Vec<String> = argv.iter().map(|word| shell_quote(word)).collect();
    line.join(" ")
}

/// [`command_line`], run in `folder` of the guest when there is one (the caller's working folder
/// inside a root of theirs); a folder the guest lacks is the command's failure, said on its stderr.
pub fn command_line_in(folder: Option<&str>, argv: &[String]) -> String {
    match folder {
        None => command_line(argv),
        Some(folder) => format!("cd {} || exit 125\n{}", shell_quote(folder), command_line(argv)),
    }
}

/// The status port's contents: `exit N` (the last such line).
pub fn parse_status(text: &str) -> Option<u8> {
    // the last: only the runner writes here, and it writes once, last
    text.lines().rev().find_map(|line| line.trim().strip_prefix("exit ")?.trim().parse::<u8>().ok())
}

/// The shares' kernel argument: each 9p tag and where the guest mounts it.
pub fn shares_arg<'a>(shares: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let list: Vec<String> =
        shares.into_iter().map(|(tag, mount_point)| format!("{tag}:{mount_point}")).collect();
    (!list.is_empty()).then(|| kernel_arg(SHARES, list.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = include_str!("../../rootfs/files/sbin/kardel-run");
    const SETUP: &str = include_str!("../../rootfs/files/sbin/kardel-setup");
    const ROOT_SCRIPT: &str = include_str!("../../rootfs/files/sbin/kardel-root");
    const SEED: &str = include_str!("../../rootfs/files/kardel-seed.c");

    /// Words of `script` that start with `prefix` and go on in `[A-Za-z0-9_.]`.
    fn words<'a>(script: &'a str, prefix: &str) -> Vec<&'a str> {
        let mut found = Vec::new();
        for (at, _) in script.match_indices(prefix) {
            let rest = &script[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            found.push(rest[..end].trim_end_matches('.'));
        }
        found
    }

    #[test]
    fn the_guest_scripts_speak_this_protocol() {
        for variable in VARIABLES {
            assert!(RUN.contains(&format!("${variable}")), "kardel-run does not read {variable}");
        }
        for variable in [SHARES, NET, ROOT] {
            assert!(SETUP.contains(&format!("${variable}")), "kardel-setup ignores {variable}");
        }
        for script in [RUN, SETUP, ROOT_SCRIPT] {
            assert!(script.contains(NEW_ROOT), "a script's new root is not {NEW_ROOT}");
        }
        assert!(
            ROOT_SCRIPT.contains(&format!("\"${ROOT}\" /run/kardel/lower")),
            "kardel-root mounts the root's tag"
        );
        assert!(ROOT_INIT.ends_with("/kardel-root"));
        for port in PORTS {
            assert!(RUN.contains(&format!("{})", port.name)), "kardel-run lacks {}", port.name);
        }
        assert!(RUN.contains(&format!("echo \"{RUNNER_STARTED}\"")), "the runner's start line");
        assert!(SEED.contains(&format!("\"{RUNNER_READY}\\n\"")), "the seeder's ready line");
        assert!(RUN.contains("/sbin/kardel-seed <&4"), "the runner seeds from the command port");
        // the status port held on descriptor 3 from before the command until after it, which the
        // command does not get
        assert!(RUN.contains("exec 3>\"$status\""), "the runner holds the status port");
        assert!(RUN.contains("3>&-"), "the command gets the status port's descriptor");
        assert!(RUN.contains("echo \"exit $?\" >&3"), "the status port's line");
        assert!(RUNNER_INIT.ends_with("/kardel-run"));
    }

    #[test]
    fn the_guest_scripts_use_no_name_this_module_lacks() {
        for script in [RUN, SETUP, ROOT_SCRIPT] {
            for word in words(script, "KARDEL_") {
                assert!(VARIABLES.contains(&word), "{word} is not in the protocol");
            }
            for word in words(script, "kardel.") {
                assert!(PORTS.iter().any(|p| p.name == word), "{word} is not a port here");
            }
        }
    }

    #[test]
    fn commands_are_quoted_word_by_word() {
        let argv = ["echo".to_string(), "a  \"b\" $c".to_string(), "x\ny".to_string()];
        assert_eq!(command_line(&argv), "echo 'a  \"b\" $c' 'x\ny'");
    }

    #[test]
    fn the_status_port_says_exit_n() {
        assert_eq!(parse_status("exit 7\n"), Some(7));
        assert_eq!(parse_status("exit 0"), Some(0));
        assert_eq!(parse_status(""), None);
        assert_eq!(parse_status("exit banana\n"), None);
        assert_eq!(parse_status("exit 0\nexit 3\n"), Some(3));
    }
}
