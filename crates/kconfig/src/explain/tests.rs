use expect_test::{expect, Expect};

use crate::{parse_config, parse_fragment, verify, KconfigTree};

/// Each request in `fragment` that `final_config` does not honour, with the reason `kconfig`
/// gives (`-` when it gives none).
#[track_caller]
fn check(kconfig: &str, final_config: &str, fragment: &str, expect: Expect) {
    let tree = KconfigTree::parse("Kconfig", &[], |path| match path {
        "Kconfig" => Ok(kconfig.to_string()),
        _ => Err(std::io::ErrorKind::NotFound.into()),
    })
    .unwrap();
    assert_eq!(tree.warnings(), &[] as &[String]);
    let final_config = parse_config(final_config);
    let wanted = parse_fragment("my.config", fragment).unwrap();
    let shown: String = verify(&wanted, &final_config)
        .iter()
        .map(|m| {
            let reason = tree.explain(m, &final_config).unwrap_or_else(|| "-".into());
            format!("{}={}: {reason}\n", m.wanted.symbol, m.wanted.value)
        })
        .collect();
    expect.assert_eq(&shown);
}

/// A kernel in miniature: USB storage needs USB (under USB_SUPPORT) and SCSI (under BLOCK).
const USB: &str = r#"
config MODULES
	bool "Enable loadable module support"
	modules
config EXPERT
	bool "Configure standard kernel features (expert users)"
config BLOCK
	bool "Enable the block layer" if EXPERT
	default y
config SCSI
	tristate "SCSI device support"
	depends on BLOCK
menuconfig USB_SUPPORT
	bool "USB support"
	default y
if USB_SUPPORT
config USB
	tristate "Support for Host-side USB"
if USB
config USB_STORAGE
	tristate "USB Mass Storage support"
	depends on SCSI
	select CRC32
endif
endif
config CRC32
	tristate
config EXT4_FS
	tristate "The Extended 4 (ext4) filesystem"
	depends on BLOCK
	select CRC32
config EXT2_FS
	tristate "Second extended fs support"
	depends on BLOCK
"#;

#[test]
fn names_the_dependencies_that_are_off() {
    check(
        USB,
        "CONFIG_USB_SUPPORT=y\nCONFIG_BLOCK=y\nCONFIG_MODULES=y\n",
        "CONFIG_USB_STORAGE=y\n",
        expect![[r#"
            CONFIG_USB_STORAGE=y: it depends on USB and SCSI, both off (USB_SUPPORT && USB && SCSI)
        "#]],
    );
    // all of them off: the expression says nothing more
    check(
        USB,
        "# CONFIG_USB_SUPPORT is not set\n",
        "CONFIG_USB_STORAGE=y\n",
        expect![[r#"
            CONFIG_USB_STORAGE=y: it depends on USB_SUPPORT, USB and SCSI, all off
        "#]],
    );
    check(
        USB,
        "CONFIG_USB_SUPPORT=y\nCONFIG_USB=y\nCONFIG_BLOCK=y\n",
        "CONFIG_USB_STORAGE=y\n",
        expect![[r#"
            CONFIG_USB_STORAGE=y: it depends on SCSI, which is off (USB_SUPPORT && USB && SCSI)
        "#]],
    );
}

#[test]
fn a_dependency_at_m_allows_at_most_m() {
    check(
        USB,
        "CONFIG_MODULES=y\nCONFIG_USB_SUPPORT=y\nCONFIG_USB=m\nCONFIG_BLOCK=y\nCONFIG_SCSI=m\nCONFIG_USB_STORAGE=m\n",
        "CONFIG_USB_STORAGE=y\n",
        expect![[r#"
            CONFIG_USB_STORAGE=y: it depends on USB and SCSI, both m (USB_SUPPORT && USB && SCSI), so it can be at most m
        "#]],
    );
}

#[test]
fn m_needs_modules() {
    check(
        USB,
        "# CONFIG_MODULES is not set\nCONFIG_BLOCK=y\nCONFIG_EXT4_FS=y\n",
        "CONFIG_EXT4_FS=m\n",
        expect![[r#"
            CONFIG_EXT4_FS=m: modules are off (MODULES is n), so it can only be y or n
        "#]],
    );
}

#[test]
fn a_misspelt_name_gets_the_closest_ones() {
    check(
        USB,
        "",
        "CONFIG_EXT4_FSS=y\nCONFIG_EXT3_FS=y\nCONFIG_usb=y\nCONFIG_NOTHING_LIKE_IT=y\n",
        expect![[r#"
            CONFIG_EXT4_FSS=y: it is not a symbol of this tree (did you mean EXT4_FS?)
            CONFIG_EXT3_FS=y: it is not a symbol of this tree (did you mean EXT2_FS or EXT4_FS?)
            CONFIG_usb=y: it is not a symbol of this tree (did you mean USB?)
            CONFIG_NOTHING_LIKE_IT=y: it is not a symbol of this tree
        "#]],
    );
}

#[test]
fn a_symbol_without_a_prompt_is_only_selected() {
    check(
        USB,
        "CONFIG_BLOCK=y\n",
        "CONFIG_CRC32=y\n",
        expect![[r#"
            CONFIG_CRC32=y: it has no prompt, so a fragment cannot set it: only a select or its default sets it (selected by USB_STORAGE and EXT4_FS, neither of which is on)
        "#]],
    );
    check(
        "config LONELY\n\tbool\n",
        "",
        "CONFIG_LONELY=y\n",
        expect![[r#"
            CONFIG_LONELY=y: it has no prompt, so a fragment cannot set it: only a select or its default sets it (nothing selects it)
        "#]],
    );
}

#[test]
fn a_hidden_prompt_is_named_with_what_hides_it() {
    check(
        USB,
        "# CONFIG_EXPERT is not set\nCONFIG_BLOCK=y\n",
        "# CONFIG_BLOCK is not set\n",
        expect![[r#"
            CONFIG_BLOCK=n: its prompt shows only with EXPERT, which is off, so a fragment cannot set it: its default is y
        "#]],
    );
    check(
        "config EXPERT\n\tbool \"expert\"\nmenu \"Tuning\"\n\tvisible if EXPERT\nconfig HZ\n\tint \"HZ\"\n\tdefault 250\nendmenu\n",
        "CONFIG_HZ=250\n",
        "CONFIG_HZ=100\n",
        expect![[r#"
            CONFIG_HZ=100: its prompt shows only with EXPERT, which is off, so a fragment cannot set it: its default is 250
        "#]],
    );
}

#[test]
fn something_on_that_selects_it_keeps_it_on() {
    check(
        USB,
        "CONFIG_MODULES=y\nCONFIG_BLOCK=y\nCONFIG_EXT4_FS=y\nCONFIG_CRC32=y\n",
        "# CONFIG_CRC32 is not set\nCONFIG_CRC32=m\n",
        expect![[r#"
            CONFIG_CRC32=n: it is selected by EXT4_FS, which is y
            CONFIG_CRC32=m: it is selected by EXT4_FS, which is y
        "#]],
    );
    // a select whose condition is false holds nothing
    check(
        "config A\n\tbool \"a\"\n\tselect B if C\nconfig B\n\tbool\n\tdefault y\n",
        "CONFIG_A=y\nCONFIG_B=y\n",
        "# CONFIG_B is not set\n",
        expect![[r#"
            CONFIG_B=n: it has no prompt, so a fragment cannot set it: its default is y
        "#]],
    );
}

#[test]
fn a_choice_has_one_option_on() {
    let kconfig = r#"
choice
	prompt "Kernel compression mode"
	default KERNEL_GZIP
config KERNEL_GZIP
	bool "Gzip"
config KERNEL_LZ4
	bool "LZ4"
endchoice
choice
	prompt "Optional"
	optional
config OPT_A
	bool "a"
endchoice
"#;
    check(
        kconfig,
        "CONFIG_KERNEL_GZIP=y\n# CONFIG_KERNEL_LZ4 is not set\nCONFIG_OPT_A=y\n",
        "CONFIG_KERNEL_LZ4=y\n# CONFIG_KERNEL_GZIP is not set\n# CONFIG_OPT_A is not set\n",
        expect![[r#"
            CONFIG_KERNEL_LZ4=y: it is one option of the choice "Kernel compression mode", which has only one on, and the final .config has KERNEL_GZIP instead
            CONFIG_KERNEL_GZIP=n: it is the option picked in the choice "Kernel compression mode", which always has one on: ask for the option wanted with =y instead
            CONFIG_OPT_A=n: -
        "#]],
    );
}

#[test]
fn negations_comparisons_and_undefined_symbols_are_listed_one_by_one() {
    let kconfig = r#"
config X86_32
	bool
config SERIAL_8250
	tristate "8250 serial"
config NR_CPUS
	int "CPUs"
config EARLY
	bool "early console"
	depends on !X86_32 && SERIAL_8250 = y && NR_CPUS > 4
config ARM_THING
	bool "an ARM driver"
	depends on ARM || COMPILE_TEST
config COMPILE_TEST
	bool "compile test"
"#;
    check(
        kconfig,
        "CONFIG_X86_32=y\nCONFIG_SERIAL_8250=m\nCONFIG_NR_CPUS=4\n",
        "CONFIG_EARLY=y\nCONFIG_ARM_THING=y\n",
        expect![[r#"
            CONFIG_EARLY=y: its dependencies are not met: X86_32 is y, `SERIAL_8250 = y` is false, SERIAL_8250 being m and `NR_CPUS > 4` is false, NR_CPUS being 4 (!X86_32 && SERIAL_8250 = y && NR_CPUS > 4)
            CONFIG_ARM_THING=y: its dependencies are not met: ARM is undefined here and COMPILE_TEST is off (ARM || COMPILE_TEST)
        "#]],
    );
}

#[test]
fn a_macro_is_never_the_culprit() {
    // `$(success,...)` ran at configure time; not knowing its answer, assume it allowed, and
    // name it only when nothing else explains
    check(
        "config A\n\tbool \"a\"\n\tdepends on $(success,true) && B\nconfig B\n\tbool \"b\"\n\
         config C\n\tbool \"c\"\n\tdepends on !$(cc-option,-x)\n",
        "",
        "CONFIG_A=y\nCONFIG_C=y\n",
        expect![[r#"
            CONFIG_A=y: it depends on B, which is off ($(success,true) && B)
            CONFIG_C=y: its dependencies include $(cc-option,-x), a toolchain test kconfig ran and this check cannot repeat: it may have failed
        "#]],
    );
}

#[test]
fn comparisons_of_tristates_order_n_m_y() {
    let kconfig = "config MTD\n\ttristate \"mtd\"\nconfig CRAMFS\n\ttristate \"cramfs\"\n\
                   config CRAMFS_MTD\n\tbool \"cramfs on mtd\"\n\tdepends on CRAMFS <= MTD\n";
    check(
        kconfig,
        "CONFIG_MTD=m\nCONFIG_CRAMFS=y\n",
        "CONFIG_CRAMFS_MTD=y\n",
        expect![[r#"
            CONFIG_CRAMFS_MTD=y: its dependencies are not met: `CRAMFS <= MTD` is false, CRAMFS being y, MTD being m
        "#]],
    );
}

#[test]
fn a_bool_under_an_m_dependency_can_be_y() {
    let kconfig = "config MTD\n\ttristate \"mtd\"\n\
                   config MTD_BOOL\n\tbool \"b\"\n\tdepends on MTD\n\
                   config MTD_TRI\n\ttristate \"t\"\n\tdepends on MTD\n";
    check(
        kconfig,
        "CONFIG_MTD=m\n",
        "CONFIG_MTD_BOOL=y\nCONFIG_MTD_TRI=y\n",
        expect![[r#"
            CONFIG_MTD_BOOL=y: -
            CONFIG_MTD_TRI=y: it depends on MTD, which is m, so it can be at most m
        "#]],
    );
}

#[test]
fn a_prompt_belongs_to_its_own_definition() {
    // the prompt comes with `depends on ARCH_PXA`; the other definition, met, has none
    check(
        "config SND_PXA2XX_AC97\n\ttristate\nconfig SND_PXA2XX_AC97\n\ttristate \"AC97\"\n\tdepends on ARCH_PXA\n\
         config ARCH_PXA\n\tbool\n",
        "",
        "CONFIG_SND_PXA2XX_AC97=y\n",
        expect![[r#"
            CONFIG_SND_PXA2XX_AC97=y: its prompt shows only with ARCH_PXA, which is off, so a fragment cannot set it: only a select or its default sets it (nothing selects it)
        "#]],
    );
}

#[test]
fn either_definition_will_do() {
    check(
        "if X86\nconfig PCI\n\tbool \"PCI\"\nendif\nif ARM\nconfig PCI\n\tbool \"PCI\"\n\tdepends on MMU\nendif\n\
         config X86\n\tbool\nconfig MMU\n\tbool\n",
        "",
        "CONFIG_PCI=y\n",
        expect![[r#"
            CONFIG_PCI=y: its dependencies are not met: X86 is off, ARM is undefined here and MMU is off (X86 || ARM && MMU)
        "#]],
    );
}

#[test]
fn long_dependencies_are_cut() {
    let names: Vec<String> = (0..30).map(|i| format!("DEPENDENCY_{i}")).collect();
    let kconfig = format!(
        "config A\n\tbool \"a\"\n\tdepends on {}\n{}",
        names.join(" && "),
        names.iter().map(|n| format!("config {n}\n\tbool \"{n}\"\n")).collect::<String>()
    );
    let on: String = names[1..].iter().map(|n| format!("CONFIG_{n}=y\n")).collect();
    check(
        &kconfig,
        &on,
        "CONFIG_A=y\n",
        expect![[r#"
            CONFIG_A=y: it depends on DEPENDENCY_0, which is off (DEPENDENCY_0 && DEPENDENCY_1 && DEPENDENCY_2 && DEPENDENCY_3 && DEPENDENCY_4 && DEPENDENCY_5 && ...)
        "#]],
    );
}

#[test]
fn values_of_the_wrong_kind_or_out_of_range() {
    let kconfig = r#"
config CMDLINE
	string "Built-in command line"
config LOG_BUF_SHIFT
	int "Kernel log buffer size"
	range 12 25
	default 17
config PHYS_START
	hex "Physical address"
	range 0x100000 MAX_START
	default 0x1000000
config MAX_START
	hex
	default 0x2000000
config EXT4_FS
	bool "ext4"
"#;
    check(
        kconfig,
        "CONFIG_CMDLINE=\"\"\nCONFIG_LOG_BUF_SHIFT=17\nCONFIG_PHYS_START=0x1000000\nCONFIG_MAX_START=0x2000000\n",
        "CONFIG_CMDLINE=123\nCONFIG_LOG_BUF_SHIFT=0x10\nCONFIG_PHYS_START=0x4000000\nCONFIG_EXT4_FS=m\nCONFIG_LOG_BUF_SHIFT=\"16\"\nCONFIG_CMDLINE=y\n",
        expect![[r#"
            CONFIG_CMDLINE=123: it is a string, so its value needs quotes
            CONFIG_LOG_BUF_SHIFT=0x10: it is an int, so its value is decimal, not hex
            CONFIG_PHYS_START=0x4000000: it must be between 0x100000 and 0x2000000
            CONFIG_EXT4_FS=m: it is a bool: y or n, never m
            CONFIG_LOG_BUF_SHIFT="16": it is an int, so its value goes without quotes
            CONFIG_CMDLINE=y: it is a string: it takes a value, not y, m or n
        "#]],
    );
    check(
        kconfig,
        "CONFIG_LOG_BUF_SHIFT=17\n",
        "CONFIG_LOG_BUF_SHIFT=30\n",
        expect![[r#"
            CONFIG_LOG_BUF_SHIFT=30: it must be between 12 and 25
        "#]],
    );
}

#[test]
fn the_reason_replaces_the_generic_guess() {
    let tree = KconfigTree::parse("Kconfig", &[], |_| {
        Ok("config A\n\tbool \"a\"\n\tdepends on B\nconfig B\n\tbool \"b\"\n".into())
    })
    .unwrap();
    let final_config = parse_config("");
    let wanted = parse_fragment("my.config", "CONFIG_A=y\nCONFIG_X=y\n").unwrap();
    let lines: Vec<String> = verify(&wanted, &final_config)
        .iter()
        .map(|m| m.with_reason(tree.explain(m, &final_config).as_deref()).to_string())
        .collect();
    expect![[r#"
        [
            "my.config:1: CONFIG_A asked for y, but the final .config does not have it: it depends on B, which is off",
            "my.config:2: CONFIG_X asked for y, but the final .config does not have it: it is not a symbol of this tree",
        ]
    "#]]
    .assert_debug_eq(&lines);
}
