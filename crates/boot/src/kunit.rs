//! KUnit in the guest (`cargo xtask test --kunit`): the suites built into the kernel run as it
//! starts, before init; those of test modules run as the runner loads them. Both print KTAP on
//! the console, which is read back here.

use results::Results;

use crate::protocol::RUNNER_STARTED;

/// KUnit's own end of a boot: the kernel powers off once its built-in suites have run, before it
/// looks for a root file system (a kernel booted alone, [`crate::machine::kernel_alone`]).
pub const SHUTDOWN: &str = "kunit_shutdown=poweroff";

/// What the kernel prints as it powers off.
pub const POWERED_OFF: &str = "reboot: Power down";

/// The kernel arguments of a KUnit boot: the suites `glob` names (all when empty), KUnit's lines
/// (the kernel's info level) on the console, and the kernel's times on each line, which give
/// each case its duration.
pub fn kernel_args(glob: &str) -> Vec<String> {
    let mut args = vec!["loglevel=7".to_string(), "printk.time=1".to_string()];
    if !glob.is_empty() {
        args.push(format!("kunit.filter_glob={glob}"));
    }
    args
}

/// The guest's command: load every module of the image's own (`--module`), in the order of their
/// names; their suites run as each loads (before the module's parameters are set: KUnit runs a
/// module's suites as it comes in). A module that does not load fails the command.
pub const LOAD_TEST_MODULES: &str = r#"for m in /lib/modules/*/extra/*.ko; do [ -e "$m" ] || continue; n=${m##*/}; modprobe "${n%.ko}" || exit 1; done"#;

/// The guest's command when the modules come on its stdin as a newc archive (a saved machine,
/// whose image cannot hold them: [`crate::runner::Options::stdin_bytes`]): unpacked at `/`, then
/// loaded as [`LOAD_TEST_MODULES`] loads them.
pub fn unpack_and_load_test_modules() -> String {
    format!(
        "cd / && cpio -i -d -u 2>/dev/null || {{ echo 'the test modules did not unpack' >&2; exit 1; }}; {LOAD_TEST_MODULES}"
    )
}

/// The tests a KUnit boot's console shows: the built-in suites (one KTAP document, before the
/// runner starts) and then the modules' (a document each, after it), read apart so that each
/// plan is checked against its own suites.
pub fn read_console(console: &str) -> Results {
    let marker = console.find(RUNNER_STARTED).unwrap_or(console.len());
    let mut results = results::parse(&console[..marker]);
    results.extend(results::parse(&console[marker..]));
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_is_kunits_filter() {
        assert_eq!(kernel_args(""), ["loglevel=7", "printk.time=1"]);
        assert_eq!(kernel_args("list*")[2], "kunit.filter_glob=list*");
    }

    #[test]
    fn built_in_and_module_suites_are_read_apart() {
        let console = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: a\n    1..1\n    ok 1 x\nok 1 a\n\
                       kardel-run: running the command\n    KTAP version 1\n    # Subtest: m\n    1..1\n    ok 1 y\nok 2 m\n";
        let results = read_console(console);
        assert_eq!(results.tests.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "m"]);
        assert!(
            results.problems.is_empty(),
            "the module's suite is not over the built-in plan: {:?}",
            results.problems
        );
    }
}
