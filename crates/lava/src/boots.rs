//! The tool's boots written as LAVA jobs (`check --lava-job`, `run --lava-job -- CMD`, `test
//! --kunit --lava-job`): the boot's machine, its kernel and image as the job's artifacts, and
//! what it tests (the checks of `check`, a command, KUnit's suites) as the job's steps.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use boot::{
    boots::Boot,
    machine::{self, Request, Speed},
};
use rootfs::Compression;
use stages::{pipeline::Built, Context};

use crate::{Artifacts, Case, Job, RootfsFormat, Step, Timeout};

/// What a job tests: a definition's name, what it is, and its steps.
pub struct Tests {
    pub definition: &'static str,
    pub description: String,
    pub steps: Vec<Step>,
    pub timeout: Timeout,
}

/// Writes `boot` (built as `built`) with `tests` as a LAVA job to `path` (a file the user
/// named), its kernel and image named through `artifacts` (here: `file://` paths).
pub fn write_job(
    ctx: &Context,
    built: &Built,
    boot: &'static Boot,
    options: &boot::Options,
    path: &Path,
    artifacts: Option<Artifacts>,
    tests: Tests,
) -> Result<()> {
    let request =
        Request { probe_accel: false, announce: false, ..Request::new(boot, Speed::Tutorial) };
    let mut machine = machine::machine(ctx.site(), built, &request, options)?;
    // a panic ends QEMU (panic=-1, -no-reboot), which LAVA sees as the connection closing
    machine.headless = true;
    let rootfs = machine.initrd.clone().context("the boot has an image")?;
    let artifacts = artifacts.unwrap_or(Artifacts::Local);
    let compression = match ctx.selection.compression {
        Compression::Gzip => "gz",
        Compression::Zstd => "zstd",
    };
    let job = Job::new(&crate::Boot {
        job_name: format!(
            "kardel {} {} ({}, {})",
            tests.definition,
            boot.name,
            ctx.arch.name,
            ctx.kernel_flavour()
        ),
        arch: ctx.arch.lava.clone(),
        memory_mib: machine.memory_mib,
        kernel_url: artifacts.url(&machine.kernel),
        rootfs_url: artifacts.url(&rootfs),
        rootfs_compression: Some(compression.to_string()),
        rootfs_format: match boot.image {
            boot::boots::Image::Initrd => RootfsFormat::Ext4,
            _ => RootfsFormat::Cpio,
        },
        append: machine.kernel_append(),
        login_prompt: boot::protocol::PRESS_ENTER.into(),
        prompt: boot::protocol::SHELL_PROMPT.into(),
        definition: tests.definition.to_string(),
        description: tests.description,
        steps: tests.steps,
        test_timeout: tests.timeout,
    });
    artifact::user_file::write(path, job.yaml().as_bytes())
        .with_context(|| format!("--lava-job {}", path.display()))?;
    println!("wrote the LAVA job {}", path.display());
    match &artifacts {
        Artifacts::Local => println!("run it here: cargo xtask lava {}", path.display()),
        Artifacts::Served(_) => {
            println!("put these files where the job names them:");
            for file in [&machine.kernel, &rootfs] {
                println!("  {}  ->  {}", file.display(), artifacts.url(file));
            }
        }
    }
    Ok(())
}

/// `check`'s checks of `boot` on the built kernel, as the job's cases.
pub fn check_tests(boot: &Boot, built: &Built) -> Tests {
    let cases = boot::checks::as_shell_lines(boot, &built.kernel.release)
        .into_iter()
        .map(|c| Step::Case(Case::new(c.name, c.shell)))
        .collect();
    Tests {
        definition: "check",
        description: format!("what the tutorial shows of the {} boot", boot.name),
        steps: cases,
        timeout: Timeout::minutes(5),
    }
}

/// A command as the job's one case: it passes when the command exits 0.
pub fn command_tests(argv: &[String], timeout: Duration) -> Tests {
    let line = boot::protocol::command_line(argv);
    Tests {
        definition: "run",
        description: format!("the command {}", argv.join(" ")),
        steps: vec![Step::Case(Case::new("command", line))],
        timeout: Timeout::seconds(timeout.as_secs()),
    }
}

/// KUnit's suites as the job's cases, one per suite: the console quieted (KUnit's kernel logs at
/// info level, which would land in the middle of LAVA's signals), the test modules loaded (their
/// suites run as they load), then each suite's result line in the kernel's log (`ok N suite`,
/// `not ok N suite`, `# SKIP`: KTAP's top level, unindented) reported to LAVA.
pub fn kunit_tests(loads_modules: bool) -> Tests {
    let mut steps = vec![Step::Line(boot::protocol::QUIET_CONSOLE.into())];
    if loads_modules {
        steps.push(Step::Case(Case::new("load-test-modules", boot::kunit::LOAD_TEST_MODULES)));
    }
    steps.push(Step::Line(REPORT_SUITES.into()));
    Tests {
        definition: "kunit",
        description: "KUnit's suites, one case each".into(),
        steps,
        timeout: Timeout::minutes(5),
    }
}

/// The kernel tree's selftests as the job's cases, one per test: the console quieted, the tree's
/// runner run by `command` (boot::kselftest's) into a file, then each test's result line
/// (`ok N selftests: COLLECTION: TEST`, `not ok ...`, `# SKIP`, unindented) reported to LAVA as
/// `COLLECTION.TEST`.
pub fn kselftest_tests(command: &[String]) -> Tests {
    let run = format!("{} > /tmp/kselftest.tap 2>&1", boot::protocol::command_line(command));
    Tests {
        definition: "kselftest",
        description: "the kernel's selftests, one case each".into(),
        steps: vec![
            Step::Line(boot::protocol::QUIET_CONSOLE.into()),
            Step::Line(run),
            Step::Line(REPORT_KSELFTESTS.into()),
        ],
        timeout: Timeout::minutes(30),
    }
}

/// The runner's result lines, a LAVA case each, named `COLLECTION.TEST` with what LAVA does not
/// take in a name made `_`.
const REPORT_KSELFTESTS: &str = r#"awk '/^(not )?ok [0-9]+ selftests: / { r = "pass"; if ($1 == "not") r = "fail"; if ($0 ~ /# SKIP/) r = "skip"; sub(/^(not )?ok [0-9]+ selftests: /, ""); sub(/ #.*$/, ""); sub(/: /, "."); gsub(/[^A-Za-z0-9._-]/, "_"); print $0, r }' /tmp/kselftest.tap | while read case result; do lava-test-case "$case" --result "$result"; done"#;

/// The kernel's log's top-level KTAP result lines, a LAVA case each.
const REPORT_SUITES: &str = r#"dmesg | awk '{ sub(/^\[[^]]*\] /, "") } /^(not )?ok [0-9]+ / { r = "pass"; n = $3; if ($1 == "not") { r = "fail"; n = $4 } if (n == "-") n = ($1 == "not") ? $5 : $4; if ($0 ~ /# SKIP/) r = "skip"; print n, r }' | while read suite result; do lava-test-case "$suite" --result "$result"; done"#;
