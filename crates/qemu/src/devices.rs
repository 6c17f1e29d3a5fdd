//! Devices as argument lists: each function returns the QEMU arguments for one device, to put in
//! [`crate::Machine::devices`]. Pure, so that every one is snapshot-tested.
//!
//! Nothing listens beyond 127.0.0.1 or a Unix socket: a gdb stub or a forwarded port on every
//! interface hands the guest to anyone on the network.

use std::{ffi::OsString, path::Path};

fn words(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// No network card. Without this QEMU adds a default NIC with user networking: outbound network
/// nobody asked for, and an option ROM (iPXE) that the firmware spends boot time on.
pub fn no_nic() -> Vec<OsString> {
    words(&["-nic", "none"])
}

/// A virtio random number generator, fed from the host's `/dev/urandom`: the guest's kernel seeds
/// its own generator from it as the driver starts, so that a program's first `getrandom` does not
/// wait for the kernel to gather entropy (a second of jitter under TCG).
pub fn rng(transport: &str) -> Vec<OsString> {
    words(&["-device", &format!("virtio-rng-{transport}")])
}

/// No graphics card. A firmware that finds one initialises it, running the card's option ROM:
/// under TCG, U-Boot's video start once held a boot for more than 30 s with nothing printed.
pub fn no_vga() -> Vec<OsString> {
    words(&["-vga", "none"])
}

/// A TCP port forwarded from the host's loopback to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

/// User-mode networking (slirp: the guest is 10.0.2.15 by DHCP, the host 10.0.2.2) on a
/// virtio NIC (`transport` as for [`virtio_serial`]); each forward listens on 127.0.0.1 only.
pub fn user_net(transport: &str, forwards: &[Forward]) -> Vec<OsString> {
    let mut netdev = "user,id=net0".to_string();
    for f in forwards {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", f.host, f.guest));
    }
    words(&["-netdev", &netdev, "-device", &format!("virtio-net-{transport},netdev=net0")])
}

/// A host folder over virtio 9p, mounted in the guest by `tag`. `security_model=none`: the
/// guest sees the host's owners and modes and writes as the user running QEMU, as the tutorial's
/// author does. `transport` as for [`virtio_serial`].
pub fn share_9p(
    transport: &str,
    index: usize,
    folder: &Path,
    tag: &str,
    read_only: bool,
) -> Vec<OsString> {
    let mut fsdev = OsString::from(format!("local,security_model=none,id=fsdev{index},path="));
    fsdev.push(folder.as_os_str());
    if read_only {
        fsdev.push(",readonly=on");
    }
    // a folder with mounts under it (the host's /, a home with a USB disk) has files of several
    // devices whose inode numbers may collide in the guest: QEMU remaps them
    fsdev.push(",multidevs=remap");
    let device = format!("virtio-9p-{transport},fsdev=fsdev{index},mount_tag={tag}");
    vec!["-fsdev".into(), fsdev, "-device".into(), device.into()]
}

/// A gdb stub on 127.0.0.1:`port`, with the CPUs stopped before the first instruction (`-S`)
/// so that a debugger can set breakpoints in early boot.
pub fn gdb_stub(port: u16) -> Vec<OsString> {
    words(&["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"])
}

/// The guest's RAM (`memory_mib`, as `-m`) in `file`. `shared`: the guest's memory is the file
/// (a machine to save: with QMP's `x-ignore-shared` a save then holds only its devices,
/// the file its memory). Not shared: the file is what the memory starts as, and what the guest
/// writes stays its own, copied on write: every machine restored from one saved file starts
/// alike and leaves the file as it was, and loads nothing (pages come as the guest touches them).
pub fn memory_file(memory_mib: u32, file: &Path, shared: bool) -> Vec<OsString> {
    let share = if shared { "on" } else { "off" };
    let mut backend = OsString::from(format!(
        "memory-backend-file,id={MEMORY_ID},size={memory_mib}M,share={share},mem-path="
    ));
    backend.push(file.as_os_str());
    vec!["-object".into(), backend, "-machine".into(), format!("memory-backend={MEMORY_ID}").into()]
}

/// The RAM's name in QEMU (and in a saved machine: a restore must use the same).
const MEMORY_ID: &str = "kardel.ram";

/// Which protocol a monitor socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorKind {
    /// The human monitor (`info registers`, `quit`), for `socat - UNIX-CONNECT:PATH`.
    Human,
    /// QMP, JSON for programs.
    Qmp,
}

/// A monitor on a Unix socket (never TCP): QEMU creates the socket and does not wait for a
/// client to connect.
pub fn monitor_socket(path: &Path, kind: MonitorKind) -> Vec<OsString> {
    let flag = match kind {
        MonitorKind::Human => "-monitor",
        MonitorKind::Qmp => "-qmp",
    };
    let mut spec = OsString::from("unix:");
    spec.push(path.as_os_str());
    spec.push(",server=on,wait=off");
    vec![flag.into(), spec]
}

/// A virtio serial bus for [`virtio_port`]s: `-device virtio-serial-pci` on boards with PCI
/// (the transport is the architecture's: `pci`, or `device` for virtio-mmio boards).
pub fn virtio_serial(transport: &str) -> Vec<OsString> {
    words(&["-device", &format!("virtio-serial-{transport},id=vser0")])
}

/// Where a virtio port's host side goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortBackend<'a> {
    /// what the guest writes is appended to this file
    File(&'a Path),
    /// a Unix socket the host listens on, which QEMU connects to as it starts: the guest reads
    /// what the host writes, and end of file once the host shuts its side down
    Socket(&'a Path),
}

/// A named virtio serial port (the guest finds it by `/sys/class/virtio-ports/*/name`): a
/// channel beside the console, which nothing the guest prints to its console can reach.
pub fn virtio_port(id: &str, name: &str, backend: PortBackend) -> Vec<OsString> {
    let (kind, path) = match backend {
        PortBackend::File(path) => ("file", path),
        PortBackend::Socket(path) => ("socket", path),
    };
    let mut chardev = OsString::from(format!("{kind},id={id},path="));
    chardev.push(path.as_os_str());
    vec![
        "-chardev".into(),
        chardev,
        "-device".into(),
        format!("virtserialport,bus=vser0.0,chardev={id},name={name}").into(),
    ]
}

/// Every address in `argv` that QEMU would listen on which is neither 127.0.0.1 nor a Unix
/// socket: what a test asserts is empty.
pub fn public_listeners(argv: &[OsString]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, word) in argv.iter().enumerate() {
        let word = word.to_string_lossy();
        let flag = if i > 0 { argv[i - 1].to_string_lossy() } else { "".into() };
        if flag == "-gdb" || flag == "-monitor" || flag == "-qmp" || flag == "-serial" {
            if let Some(rest) = word.strip_prefix("tcp:") {
                if !rest.starts_with("127.0.0.1:") {
                    found.push(format!("{flag} {word}"));
                }
            }
        }
        for forward in word.split(',').filter_map(|part| part.strip_prefix("hostfwd=")) {
            // tcp:ADDR:PORT-GUEST; an empty ADDR means every interface
            let addr = forward.split(':').nth(1).unwrap_or("");
            if addr != "127.0.0.1" {
                found.push(format!("hostfwd={forward}"));
            }
        }
        if flag == "-s" || word == "-s" {
            // -s is -gdb tcp::1234: every interface
            found.push("-s".to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::shell_line;

    #[track_caller]
    fn check(argv: Vec<OsString>, expected: Expect) {
        assert!(public_listeners(&argv).is_empty(), "{:?}", public_listeners(&argv));
        expected.assert_eq(&shell_line(&argv));
    }

    #[test]
    fn no_nic_stops_the_default_one() {
        check(no_nic(), expect!["-nic none"]);
        check(no_vga(), expect!["-vga none"]);
    }

    #[test]
    fn user_net_forwards_from_loopback_only() {
        check(
            user_net(
                "pci",
                &[Forward { host: 2222, guest: 22 }, Forward { host: 8080, guest: 80 }],
            ),
            expect![[
                r#"-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80 -device virtio-net-pci,netdev=net0"#
            ]],
        );
        check(
            user_net("device", &[]),
            expect!["-netdev user,id=net0 -device virtio-net-device,netdev=net0"],
        );
    }

    #[test]
    fn shares_over_9p() {
        check(
            share_9p("pci", 0, Path::new("/home/me/work dir"), "hostshare", false),
            expect!["-fsdev 'local,security_model=none,id=fsdev0,path=/home/me/work dir,multidevs=remap' -device virtio-9p-pci,fsdev=fsdev0,mount_tag=hostshare"],
        );
        check(
            share_9p("device", 1, Path::new("/srv/data"), "data", true),
            expect!["-fsdev local,security_model=none,id=fsdev1,path=/srv/data,readonly=on,multidevs=remap -device virtio-9p-device,fsdev=fsdev1,mount_tag=data"],
        );
    }

    #[test]
    fn gdb_stub_listens_on_loopback_and_waits() {
        check(gdb_stub(1234), expect!["-gdb tcp:127.0.0.1:1234 -S"]);
    }

    #[test]
    fn monitors_are_unix_sockets() {
        check(
            monitor_socket(Path::new("/tmp/k/monitor.sock"), MonitorKind::Human),
            expect!["-monitor unix:/tmp/k/monitor.sock,server=on,wait=off"],
        );
        check(
            monitor_socket(Path::new("/tmp/k/qmp.sock"), MonitorKind::Qmp),
            expect!["-qmp unix:/tmp/k/qmp.sock,server=on,wait=off"],
        );
    }

    #[test]
    fn memory_in_a_file_shared_or_copied_on_write() {
        check(
            memory_file(256, Path::new("/t/run/ram"), true),
            expect!["-object memory-backend-file,id=kardel.ram,size=256M,share=on,mem-path=/t/run/ram -machine memory-backend=kardel.ram"],
        );
        check(
            memory_file(1024, Path::new("/t/warm/a b.ram"), false),
            expect!["-object 'memory-backend-file,id=kardel.ram,size=1024M,share=off,mem-path=/t/warm/a b.ram' -machine memory-backend=kardel.ram"],
        );
    }

    #[test]
    fn virtio_ports_are_named_channels() {
        let mut argv = virtio_serial("pci");
        argv.extend(virtio_port("out", "kardel.stdout", PortBackend::File(Path::new("/r/stdout"))));
        argv.extend(virtio_port("in", "kardel.stdin", PortBackend::Socket(Path::new("/r/stdin"))));
        check(
            argv,
            expect![[
                r#"-device virtio-serial-pci,id=vser0 -chardev file,id=out,path=/r/stdout -device virtserialport,bus=vser0.0,chardev=out,name=kardel.stdout -chardev socket,id=in,path=/r/stdin -device virtserialport,bus=vser0.0,chardev=in,name=kardel.stdin"#
            ]],
        );
    }

    #[test]
    fn public_listeners_are_found() {
        let argv: Vec<OsString> =
            ["-gdb", "tcp::9001", "-netdev", "user,id=n,hostfwd=tcp::2222-:22", "-s"]
                .iter()
                .map(OsString::from)
                .collect();
        assert_eq!(public_listeners(&argv), ["-gdb tcp::9001", "hostfwd=tcp::2222-:22", "-s"]);
    }
}
