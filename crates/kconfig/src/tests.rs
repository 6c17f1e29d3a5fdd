use expect_test::{expect, Expect};

use super::*;

#[track_caller]
fn check_parse(fragment: &str, expect: Expect) {
    let shown = match parse_fragment("frag.config", fragment) {
        Ok(settings) => {
            settings.iter().map(|s| format!("{}  <- {}\n", s, s.origin)).collect::<String>()
        }
        Err(err) => format!("error: {err}\n"),
    };
    expect.assert_eq(&shown);
}

#[track_caller]
fn check_verify(fragments: &[&str], final_config: &str, expect: Expect) {
    let parsed: Vec<Vec<Setting>> = fragments
        .iter()
        .enumerate()
        .map(|(i, text)| parse_fragment(format!("f{}.config", i + 1), text).unwrap())
        .collect();
    let wanted = merge(parsed.iter().map(Vec::as_slice));
    let report: String =
        verify(&wanted, &parse_config(final_config)).iter().map(|m| format!("{m}\n")).collect();
    expect.assert_eq(&report);
}

#[test]
fn parses_every_value_kind() {
    check_parse(
        r#"
# a comment
CONFIG_A=y
CONFIG_B=m
  CONFIG_C=n
# CONFIG_D is not set
CONFIG_E=65536
CONFIG_F=0x1000
CONFIG_G="a \"quoted\" \\ path"
CONFIG_H=""
"#,
        expect![[r#"
            CONFIG_A=y  <- frag.config:3
            CONFIG_B=m  <- frag.config:4
            # CONFIG_C is not set  <- frag.config:5
            # CONFIG_D is not set  <- frag.config:6
            CONFIG_E=65536  <- frag.config:7
            CONFIG_F=0x1000  <- frag.config:8
            CONFIG_G="a \"quoted\" \\ path"  <- frag.config:9
            CONFIG_H=""  <- frag.config:10
        "#]],
    );
}

#[test]
fn unquoted_string_is_an_error_with_file_and_line() {
    check_parse(
        "CONFIG_A=y\nCONFIG_INITRAMFS_SOURCE=rootfs.cpio\n",
        expect![[r#"
            error: frag.config:2: CONFIG_INITRAMFS_SOURCE: value `rootfs.cpio` is not y, m, n, a number or a quoted string (string options need quotes)
        "#]],
    );
}

#[test]
fn malformed_lines_are_errors() {
    check_parse(
        "BLK_DEV_RAM=y\n",
        expect![[r#"
        error: frag.config:1: `BLK_DEV_RAM` is not a config symbol (they start with CONFIG_)
    "#]],
    );
    check_parse(
        "CONFIG_A y\n",
        expect![[r#"
        error: frag.config:1: expected `CONFIG_NAME=value` or `# CONFIG_NAME is not set`, got `CONFIG_A y`
    "#]],
    );
    check_parse(
        "CONFIG_A=\"open\n",
        expect![[r#"
        error: frag.config:1: CONFIG_A: string value has no closing quote
    "#]],
    );
    check_parse(
        "CONFIG_A=\"x\" y\n",
        expect![[r#"
        error: frag.config:1: CONFIG_A: unexpected `y` after the closing quote
    "#]],
    );
}

#[test]
fn later_fragment_wins_and_output_is_sorted() {
    let first = parse_fragment("a.config", "CONFIG_Z=y\nCONFIG_RAM=16\n").unwrap();
    let second =
        parse_fragment("b.config", "CONFIG_RAM=65536\n# CONFIG_Z is not set\nCONFIG_A=m\n")
            .unwrap();
    let merged = merge([first.as_slice(), second.as_slice()]);
    expect![[r#"
        CONFIG_A=m
        CONFIG_RAM=65536
        # CONFIG_Z is not set
    "#]]
    .assert_eq(&render(&merged));
    assert_eq!(merged[1].origin.to_string(), "b.config:1");
}

#[test]
fn rendered_fragment_parses_back_to_itself() {
    let text = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\\\"y\"\nCONFIG_D=0x10\n";
    let settings = parse_fragment("f", text).unwrap();
    assert_eq!(render(&settings), text);
}

#[test]
fn everything_stuck() {
    check_verify(
        &["CONFIG_A=y\nCONFIG_N=n\nCONFIG_GONE=n\nCONFIG_SIZE=65536\n"],
        "CONFIG_A=y\n# CONFIG_N is not set\nCONFIG_SIZE=0x10000\n",
        expect![""],
    );
}

#[test]
fn reports_what_did_not_stick() {
    check_verify(
        &[
            "CONFIG_BLK_DEV_RAM=y\nCONFIG_BLK_DEV_RAM_SIZE=65536\n",
            "CONFIG_EXT4_FS=y\nCONFIG_EXT4_FSS=y\nCONFIG_MODULE_THING=m\nCONFIG_INITRAMFS_SOURCE=y\n",
        ],
        r#"
# CONFIG_BLK_DEV_RAM is not set
CONFIG_EXT4_FS=y
CONFIG_MODULE_THING=y
CONFIG_INITRAMFS_SOURCE=""
"#,
        expect![[r#"
            f1.config:1: CONFIG_BLK_DEV_RAM asked for y, got n (its dependencies are off, or something selects against it)
            f1.config:2: CONFIG_BLK_DEV_RAM_SIZE asked for 65536, but the final .config does not have it (misspelt, not in this tree, or hidden because its dependencies are off)
            f2.config:2: CONFIG_EXT4_FSS asked for y, but the final .config does not have it (misspelt, not in this tree, or hidden because its dependencies are off)
            f2.config:4: CONFIG_INITRAMFS_SOURCE asked for y, got ""
            f2.config:3: CONFIG_MODULE_THING asked for m, got y
        "#]],
    );
}

#[test]
fn a_later_fragment_can_switch_off_what_an_earlier_one_asked_for() {
    check_verify(
        &["CONFIG_TC=y\n", "# CONFIG_TC is not set\n"],
        "# CONFIG_TC is not set\n",
        expect![""],
    );
}

#[test]
fn applying_replaces_old_lines_instead_of_duplicating_them() {
    let base =
        "#\n# Busybox Configuration\n#\n# CONFIG_STATIC is not set\nCONFIG_TC=y\nCONFIG_LS=y\n";
    let wanted =
        parse_fragment("static.config", "CONFIG_STATIC=y\n# CONFIG_TC is not set\n").unwrap();
    expect![[r#"
        #
        # Busybox Configuration
        #
        CONFIG_LS=y
        # requested by fragments
        CONFIG_STATIC=y
        # CONFIG_TC is not set
    "#]]
    .assert_eq(&apply_to(base, &wanted));
}
