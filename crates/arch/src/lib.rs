//! The architecture table (`arches.toml`): one row per architecture with everything that differs
//! between them, from the kernel's `make ARCH=` to QEMU's console device. Nothing else in the
//! project names an architecture: code reads a row.

use std::{collections::BTreeMap, sync::OnceLock};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Package names on the distributions `deps` knows, each a space-separated list.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    pub debian: String,
    pub fedora: String,
    pub arch: String,
}

/// One architecture: see `arches.toml` for what each field means.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    #[serde(skip)]
    pub name: String,
    pub uname: String,
    pub kernel_arch: String,
    pub kunit_py: String,
    pub lava: String,
    pub tuxmake: String,
    pub elf_machine: u16,
    pub defconfig: String,
    pub kernel_image: String,
    pub kernel_target: String,
    pub cross_compile: String,
    pub qemu: String,
    pub board: String,
    pub cpu: String,
    pub console: String,
    pub firmware: String,
    pub fast_firmware: String,
    pub fast_append: Vec<String>,
    pub fast_append_if: BTreeMap<String, String>,
    pub fast_vmlinux_if: String,
    pub virtio: String,
    pub qemu_packages: Packages,
    pub cross_packages: Packages,
    pub host_kernel_packages: Packages,
    pub warm_starts: bool,
    pub uboot_boards: Vec<String>,
    pub uboot_image: String,
}

impl Arch {
    /// The row named `name`, or an error listing the names there are.
    pub fn get(name: &str) -> Result<&'static Arch> {
        let table = table();
        table.get(name).with_context(|| {
            format!("unknown architecture `{name}`: expected one of {}", names().join(", "))
        })
    }

    /// The row for the machine this program runs on, if the table has one.
    pub fn host() -> Option<&'static Arch> {
        table().values().find(|arch| arch.uname == std::env::consts::ARCH)
    }

    /// Whether this architecture's code runs natively here: KVM is only considered then, and no
    /// cross compiler is needed.
    pub fn is_host(&self) -> bool {
        self.uname == std::env::consts::ARCH
    }

    /// `CROSS_COMPILE` for make: empty on the host's own architecture.
    pub fn cross_prefix(&self) -> &str {
        if self.is_host() {
            ""
        } else {
            &self.cross_compile
        }
    }

    /// The boot image's file name (`bzImage`, `Image`): the name it keeps in the images folder.
    pub fn kernel_image_name(&self) -> &str {
        self.kernel_image.rsplit('/').next().unwrap_or(&self.kernel_image)
    }

    /// The U-Boot board to build: `chosen` if the row lists it, else the row's first (the
    /// author's). An architecture without boards boots without U-Boot here.
    pub fn uboot_board(&self, chosen: Option<&str>) -> Result<&str> {
        let Some(first) = self.uboot_boards.first() else {
            bail!(
                "U-Boot boots are not set up for {} (arches.toml lists no U-Boot board)",
                self.name
            );
        };
        match chosen {
            None => Ok(first),
            Some(board) => match self.uboot_boards.iter().find(|b| *b == board) {
                Some(board) => Ok(board),
                None => bail!(
                    "--uboot-board {board}: not a U-Boot board for {}; expected one of: {}",
                    self.name,
                    self.uboot_boards.join(", ")
                ),
            },
        }
    }

    fn optional(value: &str) -> Option<&str> {
        (!value.is_empty()).then_some(value)
    }

    pub fn board(&self) -> Option<&str> {
        Arch::optional(&self.board)
    }

    pub fn cpu(&self) -> Option<&str> {
        Arch::optional(&self.cpu)
    }

    pub fn firmware(&self) -> Option<&str> {
        Arch::optional(&self.firmware)
    }

    /// The kernel symbol (without `CONFIG_`) under which the fast machine boots `vmlinux`
    /// instead of the boot image, if the row names one.
    pub fn fast_vmlinux_if(&self) -> Option<&str> {
        Arch::optional(&self.fast_vmlinux_if)
    }

    /// The fast machine's own kernel arguments for a kernel whose `.config` holds the symbols
    /// `has` answers yes to: the row's unconditional ones, then each conditional one whose
    /// symbol the kernel has.
    pub fn fast_append(&self, has: impl Fn(&str) -> bool) -> Vec<String> {
        let conditional =
            self.fast_append_if.iter().filter(|(symbol, _)| has(symbol)).map(|(_, arg)| arg);
        self.fast_append.iter().chain(conditional).cloned().collect()
    }

    /// The fast machine's firmware, where it is installed; else the usual one.
    pub fn fast_firmware(&self) -> Option<&str> {
        match Arch::optional(&self.fast_firmware) {
            Some(path) if std::path::Path::new(path).is_file() => Some(path),
            _ => self.firmware(),
        }
    }
}

/// Every architecture's name, sorted.
pub fn names() -> Vec<&'static str> {
    table().keys().map(String::as_str).collect()
}

/// Every row, sorted by name.
pub fn all() -> impl Iterator<Item = &'static Arch> {
    table().values()
}

fn table() -> &'static BTreeMap<String, Arch> {
    static TABLE: OnceLock<BTreeMap<String, Arch>> = OnceLock::new();
    TABLE.get_or_init(|| {
        parse(include_str!("../arches.toml")).expect("arches.toml is checked by its tests")
    })
}

/// Parses and checks a table in `arches.toml`'s format.
pub fn parse(text: &str) -> Result<BTreeMap<String, Arch>> {
    let mut table: BTreeMap<String, Arch> = toml::from_str(text).context("parsing arches.toml")?;
    for (name, arch) in &mut table {
        arch.name = name.clone();
        let required = [
            ("uname", &arch.uname),
            ("kernel_arch", &arch.kernel_arch),
            ("defconfig", &arch.defconfig),
            ("kernel_image", &arch.kernel_image),
            ("kernel_target", &arch.kernel_target),
            ("cross_compile", &arch.cross_compile),
            ("qemu", &arch.qemu),
            ("console", &arch.console),
            ("virtio", &arch.virtio),
        ];
        for (field, value) in required {
            if value.trim().is_empty() {
                bail!("arches.toml: [{name}] has an empty {field}");
            }
        }
        if !arch.kernel_image.starts_with(&format!("arch/{}/", arch.kernel_arch)) {
            bail!(
                "arches.toml: [{name}] kernel_image {} is not under arch/{}/",
                arch.kernel_image,
                arch.kernel_arch
            );
        }
        if arch.uboot_boards.is_empty() != arch.uboot_image.is_empty() {
            bail!("arches.toml: [{name}] has U-Boot boards without an image, or the reverse");
        }
        if !arch.cross_compile.ends_with('-') {
            bail!("arches.toml: [{name}] cross_compile {} must end with '-'", arch.cross_compile);
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_every_row_is_complete() {
        let table = parse(include_str!("../arches.toml")).unwrap();
        assert!(table.contains_key("x86_64"));
        for arch in table.values() {
            assert!(arch.qemu.starts_with("qemu-system-"), "{}", arch.name);
            assert!(!arch.qemu_packages.debian.is_empty(), "{}", arch.name);
            // the make target builds the image the row boots
            assert!(
                arch.kernel_image.ends_with(&format!("/{}", arch.kernel_target)),
                "{}",
                arch.name
            );
            assert!(["pci", "device"].contains(&arch.virtio.as_str()), "{}", arch.name);
        }
        let names: Vec<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(names, ["aarch64", "riscv64", "x86_64"]);
    }

    #[test]
    fn a_conditional_fast_argument_needs_its_symbol() {
        let x86 = Arch::get("x86_64").unwrap();
        assert_eq!(x86.fast_append(|_| false), ["noapictimer", "no_timer_check"]);
        assert_eq!(
            x86.fast_append(|symbol| symbol == "PCI_MSI"),
            ["noapictimer", "no_timer_check", "pci=noacpi"]
        );
        assert_eq!(x86.fast_vmlinux_if(), Some("PVH"));
        assert!(Arch::get("aarch64").unwrap().fast_append(|_| true).is_empty());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = Arch::get("sparc").unwrap_err().to_string();
        assert!(err.starts_with("unknown architecture `sparc`: expected one of "), "{err}");
        assert!(err.contains("x86_64"), "{err}");
    }

    #[test]
    fn rows_are_checked() {
        let row = include_str!("../arches.toml")
            .replace("kernel_image = \"arch/x86/", "kernel_image = \"arch/arm/");
        let err = parse(&row).unwrap_err().to_string();
        assert!(err.contains("is not under arch/x86/"), "{err}");
        let row = include_str!("../arches.toml").replace("console = \"ttyS0\"", "console = \"\"");
        assert!(parse(&row).unwrap_err().to_string().contains("empty console"));
    }

    #[test]
    fn uboot_boards_default_to_the_authors_and_others_are_refused() {
        let x86 = Arch::get("x86_64").unwrap();
        assert_eq!(x86.uboot_board(None).unwrap(), "qemu-x86_64");
        assert_eq!(x86.uboot_board(Some("qemu-x86")).unwrap(), "qemu-x86");
        let err = x86.uboot_board(Some("sandbox")).unwrap_err().to_string();
        assert_eq!(
            err,
            "--uboot-board sandbox: not a U-Boot board for x86_64; expected one of: qemu-x86_64, \
             qemu-x86"
        );
        let err = Arch::get("riscv64").unwrap().uboot_board(None).unwrap_err().to_string();
        assert!(err.contains("not set up for riscv64"), "{err}");
    }

    #[test]
    fn a_host_row_needs_no_cross_compiler() {
        if let Some(host) = Arch::host() {
            assert!(host.is_host());
            assert_eq!(host.cross_prefix(), "");
        }
        assert_eq!(Arch::get("x86_64").unwrap().kernel_image_name(), "bzImage");
        assert_eq!(Arch::get("aarch64").unwrap().kernel_image_name(), "Image");
        assert_eq!(Arch::get("riscv64").unwrap().kernel_image_name(), "Image");
    }
}
