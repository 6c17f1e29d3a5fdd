//! The device dictionary `lava-run` needs for this machine: what a lab's server renders from its
//! device-type templates (which the dispatcher package does not carry), written for one qemu
//! device of one architecture. Pure.

use std::{collections::BTreeMap, ffi::OsString};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub device_type: String,
    pub available_architectures: Vec<String>,
    pub constants: Constants,
    pub parameters: BTreeMap<String, String>,
    pub actions: DeviceActions,
    pub timeouts: DeviceTimeouts,
}

/// The constants LAVA's dispatcher reads for a POSIX guest (lava-server's base template has
/// them; every one here was asked for by lava-run 2023.01).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constants {
    pub posix: Posix,
    #[serde(rename = "default-shell-prompt")]
    pub default_shell_prompt: String,
    #[serde(rename = "shutdown-message")]
    pub shutdown_message: String,
    #[serde(rename = "kernel-start-message")]
    pub kernel_start_message: String,
    pub spawn_maxread: u32,
    pub failure_retry: u32,
    /// present and empty: LAVA's default
    pub boot_retry: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posix {
    pub lava_test_sh_cmd: String,
    pub lava_test_results_dir: String,
    pub lava_test_shell_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceActions {
    pub deploy: DeployMethods,
    pub boot: BootMethods,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployMethods {
    pub methods: DeployMethod,
}

/// `to: tmpfs` deploys through the `image` method, which must say how large a guest
/// filesystem for the overlay would be even when the overlay goes into the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployMethod {
    pub image: ImageMethod,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMethod {
    pub parameters: ImageParameters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageParameters {
    pub guest: GuestSize,
}

/// MiB
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestSize {
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootMethods {
    /// the console is QEMU's stdio: a serial connection with nothing to configure
    pub connections: BTreeMap<String, Option<String>>,
    pub methods: QemuMethod,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuMethod {
    pub qemu: QemuParameters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuParameters {
    pub parameters: Qemu,
}

/// QEMU's program and its options; the job adds `-kernel`, `-initrd` and `-append`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qemu {
    pub command: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceTimeouts {
    pub actions: BTreeMap<String, String>,
    pub connections: BTreeMap<String, String>,
}

impl Device {
    /// A qemu device for `arch` (LAVA's name) running `command` with `hardware` (QEMU's
    /// arguments without the kernel's: [`qemu::hardware_args`]).
    pub fn qemu(arch: &str, command: &str, hardware: &[OsString]) -> Device {
        Device {
            device_type: "qemu".into(),
            available_architectures: vec![arch.to_string()],
            constants: Constants {
                posix: Posix {
                    lava_test_sh_cmd: "/bin/sh".into(),
                    lava_test_results_dir: "/lava-%s".into(),
                    lava_test_shell_file: "~/.bashrc".into(),
                },
                default_shell_prompt: "lava-test: # ".into(),
                shutdown_message: "The system is going down for reboot NOW".into(),
                kernel_start_message: "Linux version [0-9]".into(),
                spawn_maxread: 4092,
                failure_retry: 1,
                boot_retry: None,
            },
            parameters: BTreeMap::new(),
            actions: DeviceActions {
                deploy: DeployMethods {
                    methods: DeployMethod {
                        image: ImageMethod {
                            parameters: ImageParameters { guest: GuestSize { size: 512 } },
                        },
                    },
                },
                boot: BootMethods {
                    connections: BTreeMap::from([("serial".to_string(), None)]),
                    methods: QemuMethod {
                        qemu: QemuParameters {
                            parameters: Qemu {
                                command: command.to_string(),
                                options: options(hardware),
                            },
                        },
                    },
                },
            },
            timeouts: DeviceTimeouts { actions: BTreeMap::new(), connections: BTreeMap::new() },
        }
    }

    pub fn yaml(&self) -> String {
        serde_norway::to_string(self).expect("a device dictionary serialises")
    }
}

/// QEMU's arguments as LAVA's options: each flag with its value in one string (LAVA joins them
/// with spaces and splits the line as a shell does), values quoted where they need it.
pub fn options(args: &[OsString]) -> Vec<String> {
    let mut options: Vec<String> = Vec::new();
    let mut flag_open = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if flag_open && !arg.starts_with('-') {
            let last = options.last_mut().expect("a flag is open");
            *last = format!("{last} {}", qemu::shell_quote(&arg));
            flag_open = false;
        } else {
            options.push(qemu::shell_quote(&arg));
            flag_open = arg.starts_with('-');
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn a_device_for_the_tutorial_machine() {
        let args: Vec<OsString> = [
            "-name",
            "kardel",
            "-M",
            "virt",
            "-smp",
            "2",
            "-m",
            "1024",
            "-nographic",
            "-accel",
            "tcg",
            "-cpu",
            "cortex-a57",
            "-no-reboot",
            "-bios",
            "/a b/fw.bin",
            "-nic",
            "none",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let device = Device::qemu("arm64", "qemu-system-aarch64", &args);
        expect![[r#"
            device_type: qemu
            available_architectures:
            - arm64
            constants:
              posix:
                lava_test_sh_cmd: /bin/sh
                lava_test_results_dir: /lava-%s
                lava_test_shell_file: ~/.bashrc
              default-shell-prompt: 'lava-test: # '
              shutdown-message: The system is going down for reboot NOW
              kernel-start-message: Linux version [0-9]
              spawn_maxread: 4092
              failure_retry: 1
              boot_retry: null
            parameters: {}
            actions:
              deploy:
                methods:
                  image:
                    parameters:
                      guest:
                        size: 512
              boot:
                connections:
                  serial: null
                methods:
                  qemu:
                    parameters:
                      command: qemu-system-aarch64
                      options:
                      - -name kardel
                      - -M virt
                      - -smp 2
                      - -m 1024
                      - -nographic
                      - -accel tcg
                      - -cpu cortex-a57
                      - -no-reboot
                      - -bios '/a b/fw.bin'
                      - -nic none
            timeouts:
              actions: {}
              connections: {}
        "#]]
        .assert_eq(&device.yaml());
        let read: Device = serde_norway::from_str(&device.yaml()).unwrap();
        assert_eq!(read, device);
    }
}
