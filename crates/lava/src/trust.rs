//! What a job may ask of this machine without `--trust-job`. `lava-run` runs as root: it fetches
//! the job's images (a `file://` URL is any file here), and it starts QEMU with the device's
//! options and each image's `image_arg`, which are the job's words. QEMU options can write files
//! here (`-D`, `-trace`, `-pidfile`, a chardev's `path=`), read them into the guest
//! (`-fw_cfg file=`, a qcow2 image's backing file), listen on sockets (`-monitor tcp:`, `-gdb`) or
//! load code (`-plugin`). So a job's QEMU options are held to a list of those known to touch only
//! the guest and the job's own images; anything else is refused, by name, unless the user says
//! they trust the job. Pure: a [`Head`] in, the refusals out.

use serde_norway::Value;

use crate::job::{Head, JobImage};

/// A value's `key=value` items, in order (a first item without `=`: the key alone).
type Props = [(String, Option<String>)];

/// Checks a value's items, given the job's image labels.
type CheckProps = fn(&Props, &[String]) -> Result<(), String>;

/// What an option takes, and so what of its value is checked.
#[derive(Clone, Copy)]
enum Takes {
    /// a flag alone
    Nothing,
    /// a value only the guest sees (`-append`, `-m`)
    Anything,
    /// one of the job's images: `{label}`, where LAVA put what it fetched
    Image,
    /// one of these words
    OneOf(&'static [&'static str]),
    /// `key=value,...`, checked key by key
    Props(CheckProps),
}

/// The options a job may give QEMU without `--trust-job`.
const ALLOWED: &[(&str, Takes)] = &[
    ("kernel", Takes::Image),
    ("initrd", Takes::Image),
    ("dtb", Takes::Image),
    ("bios", Takes::Image),
    // the guest's writes to flash land in LAVA's copy of the image
    ("pflash", Takes::Image),
    ("append", Takes::Anything),
    ("m", Takes::Anything),
    ("smp", Takes::Anything),
    ("cpu", Takes::Anything),
    ("accel", Takes::Anything),
    ("rtc", Takes::Anything),
    ("k", Takes::Anything),
    ("uuid", Takes::Anything),
    ("watchdog-action", Takes::Anything),
    ("vga", Takes::Anything),
    ("name", Takes::Props(no_paths)),
    ("boot", Takes::Props(no_paths)),
    ("machine", Takes::Props(machine_props)),
    ("M", Takes::Props(machine_props)),
    ("drive", Takes::Props(drive_props)),
    ("device", Takes::Props(device_props)),
    ("display", Takes::OneOf(&["none"])),
    ("serial", Takes::OneOf(&["none", "null", "stdio"])),
    ("parallel", Takes::OneOf(&["none", "null"])),
    ("monitor", Takes::OneOf(&["none"])),
    ("nic", Takes::OneOf(&["none"])),
    ("net", Takes::OneOf(&["none"])),
    ("nographic", Takes::Nothing),
    ("no-reboot", Takes::Nothing),
    ("no-shutdown", Takes::Nothing),
    ("snapshot", Takes::Nothing),
    ("enable-kvm", Takes::Nothing),
    ("nodefaults", Takes::Nothing),
    ("no-user-config", Takes::Nothing),
    ("usb", Takes::Nothing),
];

/// Why an option is left out of [`ALLOWED`], for the ones a job is likely to hold; any other
/// option is refused as not known to be safe.
const WHY_NOT: &[(&[&str], &str)] = &[
    (&["D"], "writes QEMU's log to a file of this machine"),
    (&["trace"], "writes trace events to a file of this machine"),
    (&["pidfile", "writeconfig"], "writes a file of this machine"),
    (&["readconfig"], "reads QEMU options from a file of this machine"),
    (
        &["object"],
        "defines backends that open files of this machine (memory-backend-file, rng-random, \
         secret, tls-creds)",
    ),
    (
        &["chardev", "mon", "qmp", "gdb", "s", "debugcon"],
        "opens a file, a socket or a terminal of this machine",
    ),
    (
        &["incoming", "loadvm"],
        "loads a saved machine from a file, socket or command of this machine",
    ),
    (&["plugin"], "loads a shared library into QEMU, which runs as root"),
    (&["fsdev", "virtfs"], "shares a folder of this machine with the guest"),
    (&["netdev"], "connects the guest to this machine's network (forwards, scripts, shares)"),
    (
        &["fw_cfg", "smbios", "option-rom", "acpitable", "L", "mem-path"],
        "reads a file of this machine",
    ),
    (
        &["hda", "hdb", "hdc", "hdd", "cdrom", "sd", "mtdblock", "blockdev"],
        "opens a disk image QEMU guesses the format of (a qcow2 image can name other files of \
         this machine); use -drive file={label},format=raw",
    ),
    (&["semihosting", "semihosting-config"], "lets the guest read and write files of this machine"),
    (&["vnc", "spice"], "listens for connections"),
    (&["global"], "sets any property of any device, files among them"),
    (&["daemonize", "runas", "chroot", "sandbox"], "changes how QEMU runs on this machine"),
];

/// `-device` drivers a job may add: emulated hardware that reaches nothing of this machine but
/// through other options (a drive, a chardev), which are checked themselves. Passthrough
/// (`vfio-pci`, `usb-host`, `scsi-generic`) and vhost devices (kernel interfaces of this
/// machine) are not among them.
const DEVICES: &[&str] = &[
    "virtio-",
    "virtconsole",
    "virtserialport",
    "e1000",
    "rtl8139",
    "pcnet",
    "ne2k_pci",
    "i8255",
    "usb-kbd",
    "usb-mouse",
    "usb-tablet",
    "usb-storage",
    "usb-ehci",
    "qemu-xhci",
    "nec-usb-xhci",
    "ich9-usb-",
    "piix3-usb-uhci",
    "pci-ohci",
    "ide-hd",
    "ide-cd",
    "ahci",
    "scsi-hd",
    "scsi-cd",
    "lsi53c895a",
    "megasas",
    "nvme",
    "sdhci-pci",
    "sd-card",
    "isa-serial",
    "pci-serial",
    "pcie-root-port",
    "pci-bridge",
    "ioh3420",
    "VGA",
    "bochs-display",
    "ramfb",
    "secondary-vga",
    "i6300esb",
    "ib700",
    "pvpanic",
    "edu",
    "pci-testdev",
    "isa-debug-exit",
    "intel-iommu",
];

/// Every way `head` asks more of this machine than its guest and its own images, each naming
/// the option (or the part of the job) and why. Empty: the job may run without `--trust-job`.
pub fn refusals(head: &Head) -> Vec<String> {
    let mut found = Vec::new();
    structure(&head.raw, &mut found);
    let images = head.images();
    let labels: Vec<String> = images.iter().map(|i| i.label.clone()).collect();
    for image in &images {
        if let Err(why) = image_url(image) {
            found.push(why);
        }
        if let Some(arg) = &image.image_arg {
            for why in qemu_options(arg, &labels) {
                found.push(format!("the image {}'s image_arg: {why}", image.label));
            }
        }
    }
    found
}

/// The job's actions: deploys, boots and tests (a `command` action runs the device's commands
/// on this machine); no protocols (`lava-lxc` makes a container here, multinode talks to other
/// machines); nothing that runs a container of the job's choosing (`docker`, which LAVA runs as
/// root with this machine's devices); test definitions fetched from the network, not from a
/// repository on this machine (`file://`, a path) or through root's keys (`ssh://`).
fn structure(job: &Value, found: &mut Vec<String>) {
    if job.get("protocols").is_some() {
        found.push(
            "protocols: lava-lxc makes a container on this machine, multinode reaches others"
                .to_string(),
        );
    }
    if has_key(job, "docker") {
        found.push(
            "docker: LAVA would run a container of the job's choosing on this machine, as root"
                .to_string(),
        );
    }
    let Some(actions) = job.get("actions").and_then(Value::as_sequence) else { return };
    for action in actions {
        let Some(map) = action.as_mapping() else { continue };
        for (key, value) in map {
            let key = key.as_str().unwrap_or("?");
            if !["deploy", "boot", "test"].contains(&key) {
                found.push(format!(
                    "the action {key}: this machine runs deploy, boot and test actions"
                ));
            }
            let definitions = value.get("definitions").and_then(Value::as_sequence);
            for definition in definitions.into_iter().flatten() {
                if definition.get("from").and_then(Value::as_str) == Some("inline") {
                    continue;
                }
                let Some(repository) = definition.get("repository").and_then(Value::as_str) else {
                    continue;
                };
                if !["https://", "http://", "git://"].iter().any(|s| repository.starts_with(s)) {
                    found.push(format!(
                        "the test definition repository {repository}: lava-run fetches it as \
                         root; this machine takes https://, http:// and git:// ones"
                    ));
                }
            }
        }
    }
}

fn has_key(value: &Value, name: &str) -> bool {
    match value {
        Value::Mapping(map) => {
            map.iter().any(|(k, v)| k.as_str() == Some(name) || has_key(v, name))
        }
        Value::Sequence(items) => items.iter().any(|v| has_key(v, name)),
        Value::Tagged(tagged) => has_key(&tagged.value, name),
        _ => false,
    }
}

/// An image's URL: `file://` with an absolute path, or http(s); its file's name (LAVA's name
/// for the downloaded copy, which it puts into QEMU's command line unquoted) one word.
fn image_url(image: &JobImage) -> Result<(), String> {
    let Some(url) = &image.url else { return Ok(()) };
    let named = |why: &str| format!("the image {}'s url {url}: {why}", image.label);
    let Some(path) = ["file://", "http://", "https://"].iter().find_map(|s| url.strip_prefix(s))
    else {
        return Err(named("this machine fetches file://, http:// and https:// URLs"));
    };
    if url.starts_with("file://") && !path.starts_with('/') {
        return Err(named("a file:// URL names an absolute path (file:///PATH)"));
    }
    let name = path.rsplit('/').next().unwrap_or("");
    if name.chars().any(|c| c.is_whitespace() || "'\"\\".contains(c)) {
        return Err(named(
            "its file's name holds a space, a quote or a backslash, which would split QEMU's \
             command line",
        ));
    }
    Ok(())
}

/// Why each option in `image_arg` is refused. `labels`: the job's images, which `{label}`
/// names.
pub fn qemu_options(image_arg: &str, labels: &[String]) -> Vec<String> {
    let words = match split_words(image_arg) {
        Ok(words) => words,
        Err(why) => return vec![why],
    };
    let mut found = Vec::new();
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        let Some(name) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            found.push(format!(
                "{word}: a word that is not an option is a disk image to QEMU (its format \
                 guessed); use -drive file={{label}},format=raw"
            ));
            continue;
        };
        let Some((_, takes)) = ALLOWED.iter().find(|(allowed, _)| *allowed == name) else {
            let why = WHY_NOT
                .iter()
                .find(|(names, _)| names.contains(&name))
                .map(|(_, why)| why.to_string())
                .unwrap_or_else(|| "is not among the options known to touch only the guest".into());
            // its value, if it has one, is not an option of its own
            let value = words.next_if(|next| !next.starts_with('-'));
            match value {
                Some(value) => found.push(format!("{word} {value}: {why}")),
                None => found.push(format!("{word}: {why}")),
            }
            continue;
        };
        if let Takes::Nothing = takes {
            continue;
        }
        let Some(value) = words.next() else {
            found.push(format!("{word}: it takes a value"));
            continue;
        };
        let checked = match *takes {
            Takes::Nothing => unreachable!("a flag alone took no value above"),
            Takes::Anything => Ok(()),
            Takes::Image => match is_image(&value, labels) {
                true => Ok(()),
                false => Err(format!(
                    "reads a file of this machine: give one of the job's images ({})",
                    placeholders(labels)
                )),
            },
            Takes::OneOf(words) => match words.contains(&value.as_str()) {
                true => Ok(()),
                false => Err(format!(
                    "only {} (anything else reaches this machine: a file, a socket, a terminal)",
                    words.join(" or ")
                )),
            },
            Takes::Props(check) => check(&props(&value), labels),
        };
        if let Err(why) = checked {
            found.push(format!("{word} {value}: {why}"));
        }
    }
    found
}

fn is_image(value: &str, labels: &[String]) -> bool {
    value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|label| labels.iter().any(|l| l == label))
}

fn placeholders(labels: &[String]) -> String {
    labels.iter().map(|l| format!("{{{l}}}")).collect::<Vec<_>>().join(", ")
}

/// QEMU's `key=value,key=value` (`,,` a comma in a value); a first item without `=` has no
/// key (a driver, a machine type), and is given with `None` as its value.
fn props(value: &str) -> Vec<(String, Option<String>)> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                item.push(',');
                continue;
            }
            items.push(std::mem::take(&mut item));
        } else {
            item.push(c);
        }
    }
    items.push(item);
    items
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) => (key.to_string(), Some(value.to_string())),
            None => (item, None),
        })
        .collect()
}

/// No value names a path of this machine.
fn no_paths(props: &Props, _: &[String]) -> Result<(), String> {
    for (key, value) in props {
        if value.as_deref().unwrap_or(key).contains('/') {
            return Err(format!("{key}: names a path of this machine"));
        }
    }
    Ok(())
}

/// `-machine TYPE,key=value`: none of the keys that read or write files.
fn machine_props(props: &Props, labels: &[String]) -> Result<(), String> {
    for (key, _) in props {
        match key.as_str() {
            "dumpdtb" => return Err("dumpdtb writes a file of this machine".into()),
            "kernel" | "initrd" | "dtb" | "firmware" => {
                return Err(format!("{key}= reads a file of this machine: use -{key}"))
            }
            _ => {}
        }
    }
    no_paths(props, labels)
}

/// `-drive`: one of the job's images, as raw (a qcow2 image names its backing and data files,
/// which may be any file here), with keys known to stay on it.
fn drive_props(props: &Props, labels: &[String]) -> Result<(), String> {
    const KEYS: &[&str] = &[
        "file",
        "format",
        "if",
        "index",
        "media",
        "id",
        "bus",
        "unit",
        "readonly",
        "snapshot",
        "cache",
        "aio",
        "discard",
        "serial",
        "werror",
        "rerror",
        "detect-zeroes",
    ];
    let value = |name: &str| props.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref());
    for (key, _) in props {
        if !KEYS.contains(&key.as_str()) {
            return Err(format!("{key}: not among the drive's keys known to stay on the image"));
        }
    }
    match value("file") {
        Some(file) if is_image(file, labels) => {}
        Some(file) => {
            return Err(format!(
                "file={file} is not one of the job's images ({})",
                placeholders(labels)
            ))
        }
        None => return Err("a drive without file= from the job's images".into()),
    }
    if value("format") != Some("raw") {
        return Err(
            "format=raw only: QEMU guesses a format otherwise, and a qcow2 image can name \
                    other files of this machine"
                .into(),
        );
    }
    Ok(())
}

/// `-device DRIVER,...`: emulated hardware (see [`DEVICES`]), with no file of this machine
/// (`romfile=`) among its properties.
fn device_props(props: &Props, labels: &[String]) -> Result<(), String> {
    let driver = props.first().map(|(k, _)| k.as_str()).unwrap_or("");
    let driver =
        props.iter().find(|(k, _)| k == "driver").and_then(|(_, v)| v.as_deref()).unwrap_or(driver);
    if !DEVICES.iter().any(|d| driver.starts_with(d)) {
        return Err(format!("{driver}: not among the emulated devices known to stay in the guest"));
    }
    for (key, _) in props {
        if ["romfile", "file"].contains(&key.as_str()) {
            return Err(format!("{key}= reads a file of this machine"));
        }
    }
    no_paths(props, labels)
}

/// The words of an image's argument as LAVA's QEMU command line is split (pexpect's
/// `split_command_line`: `\` escapes a character, single and double quotes hold spaces, nothing
/// is expanded). LAVA joins every image's argument into one line before splitting it, so a
/// quote left open or a trailing `\` would change how the next image's words split: refused.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Space,
        Escape,
        Single,
        Double,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Space;
    for c in line.chars() {
        state = match state {
            State::Plain | State::Space => match c {
                '\\' => State::Escape,
                '\'' => State::Single,
                '"' => State::Double,
                c if c.is_whitespace() => {
                    if state == State::Plain {
                        words.push(std::mem::take(&mut word));
                    }
                    State::Space
                }
                c => {
                    word.push(c);
                    State::Plain
                }
            },
            State::Escape => {
                word.push(c);
                State::Plain
            }
            State::Single if c == '\'' => State::Plain,
            State::Double if c == '"' => State::Plain,
            quoted => {
                word.push(c);
                quoted
            }
        };
    }
    match state {
        State::Escape | State::Single | State::Double => {
            Err(format!("{line}: a quote left open or a trailing \\"))
        }
        State::Plain => {
            words.push(word);
            Ok(words)
        }
        State::Space => Ok(words),
    }
}

/// Whether the user `uid` (in group `gid`) may `want` (4 read, 1 search) a file of `owner`,
/// `group` and `mode`, by its permission bits (root may do anything).
pub fn permits(uid: u32, gid: u32, owner: u32, group: u32, mode: u32, want: u32) -> bool {
    let bits = if uid == 0 {
        return true;
    } else if owner == uid {
        mode >> 6
    } else if group == gid {
        mode >> 3
    } else {
        mode
    };
    bits & want == want
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(image_arg: &str) -> Head {
        let job = format!(
            "device_type: qemu\ncontext: {{arch: x86_64}}\nactions:\n- deploy:\n    to: tmpfs\n    \
             images:\n      kernel:\n        url: file:///t/bzImage\n        image_arg: \
             -kernel {{kernel}} -append 'console=ttyS0 root=/dev/ram0'\n      rootfs:\n        \
             url: file:///t/rootfs.cpio.gz\n        image_arg: {}\n",
            serde_norway::to_string(image_arg).unwrap().trim()
        );
        Head::parse(&job).unwrap()
    }

    fn refused(image_arg: &str) -> Vec<String> {
        refusals(&head(image_arg))
    }

    #[test]
    fn the_tools_own_jobs_are_trusted() {
        assert_eq!(refused("-initrd {rootfs}"), Vec::<String>::new());
        assert_eq!(refused("-drive file={rootfs},format=raw,if=virtio"), Vec::<String>::new());
        assert_eq!(
            refused("-device virtio-rng-pci -no-reboot -serial none -M virt,gic-version=3"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_job_the_tool_writes_is_trusted() {
        for (format, url) in [
            (crate::RootfsFormat::Cpio, "file:///t/images/x86_64/rootfs.cpio.gz"),
            (crate::RootfsFormat::Ext4, "https://lab.example/kardel/rootfs.img.gz"),
        ] {
            let job = crate::Job::new(&crate::Boot {
                job_name: "kardel check".into(),
                arch: "x86_64".into(),
                memory_mib: 1024,
                kernel_url: "file:///t/a b/bzImage".into(),
                rootfs_url: url.into(),
                rootfs_compression: Some("gz".into()),
                rootfs_format: format,
                append: "console=ttyS0 rdinit=/sbin/init x='it''s' panic=-1".into(),
                login_prompt: "Please press Enter to activate this console.".into(),
                prompt: "/ #".into(),
                definition: "check".into(),
                description: "d".into(),
                steps: vec![crate::Step::Line("true".into())],
                test_timeout: crate::Timeout::minutes(5),
            });
            let head = Head::parse(&job.yaml()).unwrap();
            assert_eq!(refusals(&head), Vec::<String>::new(), "{}", job.yaml());
        }
    }

    #[test]
    fn options_that_reach_this_machine_are_refused_by_name() {
        for (arg, named) in [
            ("-initrd {rootfs} -D /tmp/qemu.log", "-D /tmp/qemu.log: writes QEMU's log"),
            ("-serial file:/etc/motd", "-serial file:/etc/motd: only none or null or stdio"),
            ("-chardev file,id=c,path=/x", "-chardev file,id=c,path=/x: opens a file"),
            ("-drive file=/etc/shadow,format=raw", "file=/etc/shadow is not one of the job's"),
            ("-drive file={rootfs},format=qcow2", "format=raw only"),
            ("-drive file={rootfs}", "format=raw only"),
            ("-monitor tcp:0.0.0.0:4444,server", "-monitor tcp:0.0.0.0:4444,server: only none"),
            ("-qmp tcp:127.0.0.1:4444", "-qmp tcp:127.0.0.1:4444: opens a file, a socket"),
            ("-trace file=/tmp/t", "-trace file=/tmp/t: writes trace events"),
            ("-pidfile /run/x.pid", "-pidfile /run/x.pid: writes a file"),
            ("-writeconfig /etc/x", "-writeconfig /etc/x: writes a file"),
            (
                "-object memory-backend-file,id=m,mem-path=/x",
                "-object memory-backend-file,id=m,mem-path=/x: defines backends",
            ),
            ("-incoming exec:touch\\ /x", "-incoming exec:touch /x: loads a saved machine"),
            ("-loadvm snap", "-loadvm snap: loads a saved machine"),
            ("-kernel /boot/vmlinuz", "-kernel /boot/vmlinuz: reads a file"),
            ("-M virt,dumpdtb=x.dtb", "dumpdtb writes a file"),
            ("-device vfio-pci,host=01:00.0", "vfio-pci: not among the emulated devices"),
            ("-device virtio-net-pci,romfile=/etc/shadow", "romfile= reads a file"),
            (
                "-fw_cfg name=opt/x,file=/etc/shadow",
                "-fw_cfg name=opt/x,file=/etc/shadow: reads a file",
            ),
            ("--plugin /x.so", "--plugin /x.so: loads a shared library"),
            (
                "-netdev user,id=n,hostfwd=tcp::22-:22",
                "-netdev user,id=n,hostfwd=tcp::22-:22: connects the guest",
            ),
            (
                "-icount shift=1,rr=record,rrfile=/x",
                "-icount shift=1,rr=record,rrfile=/x: is not among the options",
            ),
            ("/etc/shadow", "/etc/shadow: a word that is not an option is a disk image"),
            ("-append 'open", "a quote left open"),
        ] {
            let found = refused(arg);
            assert!(
                found.iter().any(|f| f.contains(named) && f.starts_with("the image rootfs's")),
                "{arg}: no {named:?} in {found:?}"
            );
        }
    }

    #[test]
    fn what_the_job_would_run_here_besides_qemu_is_refused() {
        let with_docker = "device_type: qemu\ncontext: {arch: x86_64}\nactions:\n- boot:\n    \
                           method: qemu\n    docker: {image: evil}\n- command:\n    name: x\n";
        let found = refusals(&Head::parse(with_docker).unwrap());
        assert!(found.iter().any(|f| f.starts_with("docker:")), "{found:?}");
        assert!(found.iter().any(|f| f.starts_with("the action command")), "{found:?}");
        let local_repository = "device_type: qemu\ncontext: {arch: x86_64}\nprotocols: {lava-lxc: \
                                {name: x}}\nactions:\n- test:\n    definitions:\n    - from: git\n      \
                                repository: /root/secrets\n      name: s\n      path: s.yaml\n    - \
                                from: git\n      repository: https://git.example/t.git\n      name: \
                                t\n      path: t.yaml\n";
        let found = refusals(&Head::parse(local_repository).unwrap());
        assert!(found.iter().any(|f| f.contains("/root/secrets")), "{found:?}");
        assert!(!found.iter().any(|f| f.contains("git.example")), "{found:?}");
        assert!(found.iter().any(|f| f.starts_with("protocols:")), "{found:?}");
        let ftp = head("-initrd {rootfs}");
        let text =
            serde_norway::to_string(&ftp.raw).unwrap().replace("file:///t/rootfs", "ftp://h/r");
        let found = refusals(&Head::parse(&text).unwrap());
        assert!(found.iter().any(|f| f.contains("ftp://h/r.cpio.gz")), "{found:?}");
        let text = serde_norway::to_string(&ftp.raw)
            .unwrap()
            .replace("file:///t/rootfs.cpio.gz", "'file:///t/x -D y'");
        let found = refusals(&Head::parse(&text).unwrap());
        assert!(found.iter().any(|f| f.contains("would split QEMU's command line")), "{found:?}");
    }

    #[test]
    fn words_split_as_lava_splits_them() {
        assert_eq!(
            split_words(r#"-kernel {kernel} -append 'a b' "c d" e\ f"#).unwrap(),
            ["-kernel", "{kernel}", "-append", "a b", "c d", "e f"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert!(split_words("a\\").is_err());
        assert!(split_words("\"a").is_err());
    }

    #[test]
    fn permission_bits() {
        assert!(permits(1000, 1000, 1000, 1000, 0o600, 4));
        assert!(!permits(1000, 1000, 0, 0, 0o600, 4));
        assert!(permits(1000, 1000, 0, 0, 0o644, 4));
        assert!(permits(1000, 50, 0, 50, 0o640, 4));
        assert!(!permits(1000, 1000, 0, 0, 0o700, 1));
        assert!(permits(0, 0, 1000, 1000, 0o000, 4));
    }
}
