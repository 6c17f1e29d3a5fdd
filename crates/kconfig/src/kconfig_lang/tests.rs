use expect_test::{expect, Expect};

use super::*;

/// A tree from in-memory files, the first one the top.
fn read(files: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<KconfigTree, LoadError> {
    KconfigTree::parse(files[0].0, vars, |path| {
        let text = files.iter().find(|(name, _)| *name == path).map(|(_, text)| text.to_string());
        text.ok_or_else(|| io::ErrorKind::NotFound.into())
    })
}

/// What the reader collected, a line per definition, sorted: type, prompts, dependencies,
/// defaults, ranges, choice; then who selects what, and the warnings.
fn dump(tree: &KconfigTree) -> String {
    let mut lines = Vec::new();
    for (name, symbol) in &tree.symbols {
        for def in &symbol.defs {
            let mut line = format!("{name}: {}", symbol.ty.map_or("untyped", Type::name));
            for prompt in &def.prompts {
                match prompt {
                    Some(cond) => line += &format!(", prompt if {cond}"),
                    None => line += ", prompt",
                }
            }
            if let Some(deps) = Expr::all(def.deps.iter().cloned()) {
                line += &format!(", depends on {deps}");
            }
            for visible in &def.visible {
                line += &format!(", visible if {visible}");
            }
            for (value, cond) in &def.defaults {
                line += &format!(", default {value}");
                if let Some(cond) = cond {
                    line += &format!(" if {cond}");
                }
            }
            for (low, high, _) in &def.ranges {
                line += &format!(", range {low} {high}");
            }
            if let Some(id) = def.choice {
                line +=
                    &format!(", in choice {:?}", tree.choices[id].prompt.as_deref().unwrap_or(""));
            }
            lines.push(line);
        }
    }
    for (target, selects) in &tree.selected_by {
        for select in selects {
            let cond = select.cond.as_ref().map(|c| format!(" if {c}")).unwrap_or_default();
            lines.push(format!("{target}: selected by {}{cond}", select.by));
        }
    }
    lines.sort();
    lines.extend(tree.warnings.iter().map(|w| format!("warning: {w}")));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[track_caller]
fn check(kconfig: &str, expect: Expect) {
    check_files(&[("Kconfig", kconfig)], expect);
}

#[track_caller]
fn check_files(files: &[(&str, &str)], expect: Expect) {
    let shown = match read(files, &[("SRCARCH", "x86")]) {
        Ok(tree) => format!("{} files\n{}", tree.files_read(), dump(&tree)),
        Err(e) => format!("error: {e}\n"),
    };
    expect.assert_eq(&shown);
}

#[test]
fn enclosing_if_menu_and_choice_add_to_dependencies() {
    check(
        r#"
menuconfig USB_SUPPORT
	bool "USB support"
	default y

if USB_SUPPORT
config USB
	tristate "Support for Host-side USB"
	select NLS  # for the descriptors

menu "Storage"
	depends on USB
	visible if !EMBEDDED

config USB_STORAGE
	tristate "USB Mass Storage support"
	depends on SCSI && (BLOCK || !LEGACY)
	select SCSI_COMMON if SCSI = y
endmenu

choice
	prompt "Speed"
	depends on USB
	default USB_FAST

config USB_FAST
	bool "fast"

config USB_SLOW
	bool "slow" if EXPERT
endchoice
endif
"#,
        expect![[r#"
            1 files
            NLS: selected by USB
            SCSI_COMMON: selected by USB_STORAGE if SCSI = y
            USB: tristate, prompt, depends on USB_SUPPORT
            USB_FAST: bool, prompt, depends on USB_SUPPORT && USB, in choice "Speed"
            USB_SLOW: bool, prompt if EXPERT, depends on USB_SUPPORT && USB, in choice "Speed"
            USB_STORAGE: tristate, prompt, depends on USB_SUPPORT && USB && SCSI && (BLOCK || !LEGACY), visible if !EMBEDDED
            USB_SUPPORT: bool, prompt, default y
        "#]],
    );
}

#[test]
fn help_text_ends_where_its_indentation_does() {
    // keywords inside help are text; a blank line does not end it; a line indented less does
    check(
        r#"
config A
	bool "A"
	help
	  config NOT_A_SYMBOL
	    depends on NOTHING

	  still help, after a blank line
	depends on B

config C
	bool
	---help---
	  old-style help
config D
	def_bool y
	help
  two spaces of help, shallower than the tab above
	but a tab is deeper: still help
"#,
        expect![[r#"
            1 files
            A: bool, prompt, depends on B
            C: bool
            D: bool, default y
        "#]],
    );
}

#[test]
fn comments_continuations_and_quotes() {
    check(
        r#"
# a comment with config X in it
config A   # a trailing comment
	string "a # is not a comment in quotes, nor is \" the end"
	default "x#y"
	depends on B && \
		C
comment "depends on lines after a comment belong to it"
	depends on NOT_A
config E
	int
	range 0x10 MAX if B
	default 16
"#,
        expect![[r#"
            1 files
            A: string, prompt, depends on B && C, default "x#y"
            E: int, default 16, range 0x10 MAX
        "#]],
    );
}

#[test]
fn expressions_keep_their_precedence() {
    check(
        r#"
config A
	bool
	depends on !B || C && (D || E) && !(F && G) && H != "h" && I >= 3 && J<K && L=y
"#,
        expect![[r#"
            1 files
            A: bool, depends on !B || C && (D || E) && !(F && G) && H != "h" && I >= 3 && J < K && L = y
        "#]],
    );
}

#[test]
fn source_follows_variables_and_relative_paths() {
    check_files(
        &[
            ("Kconfig", "source \"arch/$(SRCARCH)/Kconfig\"\nosource \"missing/Kconfig\"\n"),
            ("arch/x86/Kconfig", "config X86\n\tdef_bool y\nrsource \"../common/Kconfig\"\n"),
            ("arch/common/Kconfig", "config COMMON\n\tbool \"common\"\n"),
        ],
        expect![[r#"
            3 files
            COMMON: bool, prompt
            X86: bool, default y
        "#]],
    );
    // BusyBox writes its paths unquoted
    check_files(
        &[
            ("Config.in", "source archival/Config.in\n"),
            ("archival/Config.in", "config TAR\n\tbool\n"),
        ],
        expect![[r#"
            2 files
            TAR: bool
        "#]],
    );
}

#[test]
fn if_and_menu_stay_open_across_source() {
    check_files(
        &[
            ("Kconfig", "if NET\nsource \"net/Kconfig\"\nendif\nconfig AFTER\n\tbool\n"),
            ("net/Kconfig", "config INET\n\tbool \"TCP/IP\"\n"),
        ],
        expect![[r#"
            2 files
            AFTER: bool
            INET: bool, prompt, depends on NET
        "#]],
    );
}

#[test]
fn what_makes_loading_fail() {
    check_files(
        &[("Kconfig", "source \"arch/$(NOARCH)/Kconfig\"\n")],
        expect![[r#"
            error: Kconfig:1: cannot expand `arch/$(NOARCH)/Kconfig`: pass its variables
        "#]],
    );
    check_files(
        &[("Kconfig", "menu \"x\"\nsource \"drivers/Kconfig\"\nendmenu\n")],
        expect![[r#"
            error: Kconfig:2: cannot read drivers/Kconfig: entity not found
        "#]],
    );
    check_files(
        &[("Kconfig", "source \"a/Kconfig\"\n"), ("a/Kconfig", "source \"Kconfig\"\n")],
        expect![[r#"
            error: a/Kconfig:1: `Kconfig` sources itself
        "#]],
    );
}

#[test]
fn macros_expand_where_they_can_and_are_unknown_where_not() {
    check(
        r#"
cc-option = $(success,$(CC) -Werror $(1) -c -x c /dev/null)
$(error-if,$(failure,command -v $(CC)),C compiler '$(CC)' not found)
suffix := 64
bits = $(suffix)

config CC_HAS_X
	def_bool $(cc-option,-mx)
config A
	bool
	depends on $(success,echo "$(CC)" | grep -q "x(y)") && B
	default ARCH_$(bits)
"#,
        expect![[r#"
            1 files
            A: bool, depends on $(success,echo "$(CC)" | grep -q "x(y)") && B, default ARCH_64
            CC_HAS_X: bool, default $(cc-option,-mx)
        "#]],
    );
}

#[test]
fn lines_it_does_not_understand_are_warnings() {
    check(
        "config A\n\tbool\n\tfrobnicate\n\tdepends on (B\nendif\nmenu \"m\"\nconfig B\n\tbool\n",
        expect![[r#"
            1 files
            A: bool
            B: bool
            warning: Kconfig:3: unknown keyword `frobnicate`
            warning: Kconfig:4: a `(` is not closed
            warning: Kconfig:5: `endif` closes nothing open
            warning: Kconfig:8: an `if`, `menu` or `choice` is not closed
        "#]],
    );
}

#[test]
fn several_definitions_are_kept_apart() {
    check(
        "if X86_32\nconfig PGTABLE_LEVELS\n\tint\n\tdefault 2\nendif\n\
         if X86_64\nconfig PGTABLE_LEVELS\n\tint\n\tdefault 4\nendif\n",
        expect![[r#"
            1 files
            PGTABLE_LEVELS: int, depends on X86_32, default 2
            PGTABLE_LEVELS: int, depends on X86_64, default 4
        "#]],
    );
}

#[test]
fn modules_symbol_is_found_in_both_spellings() {
    let tree = read(&[("Kconfig", "config MODULES\n\tbool \"m\"\n\tmodules\n")], &[]).unwrap();
    assert_eq!(tree.modules.as_deref(), Some("MODULES"));
    let tree =
        read(&[("Kconfig", "config MODULES\n\tbool \"m\"\n\toption modules\n")], &[]).unwrap();
    assert_eq!(tree.modules.as_deref(), Some("MODULES"));
}

#[test]
fn kernel_vars_follow_the_kernels_makefile() {
    assert_eq!(kernel_vars("x86_64"), [("ARCH", "x86_64"), ("SRCARCH", "x86")]);
    assert_eq!(kernel_vars("arm64"), [("ARCH", "arm64"), ("SRCARCH", "arm64")]);
}
