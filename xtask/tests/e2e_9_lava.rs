//! The same boots as LAVA jobs, run here by LAVA's own dispatcher (`lava-run`): `check`'s
//! checks on both images on x86_64 and on riscv64's initramfs pass case by case, a command that
//! fails is a failed case (exit 1) with its output, a definition that stops part-way is an
//! error (exit 1) though its cases so far passed, a command whose quoting LAVA rewrites
//! passes, a kernel that panics is the machine failing (exit 125), KUnit's suites and a test
//! module's are a case each (the example's failing suite fails the job); the jobs and device
//! dictionaries validate against LAVA's own schema and name no address but `file://` paths or
//! the URL given; the kernel's images folder reads as a TuxMake build the way TuxRun reads one.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`, after
//! e2e_5 (whose riscv64 kernel it boots). It needs LAVA's packages (`cargo xtask deps --lava
//! --install`; `.ci/run` installs them) and root, as lava-run does.

mod common;

use std::path::{Path, PathBuf};

use common::{all_built, enabled, run, serial, target_dir, tempdir, xtask};
use serde_json::Value;

const SCHEMA: &str = "/usr/share/lava-common/lava-schema.py";

#[test]
fn checks_as_lava_jobs_pass_case_by_case() {
    if !enabled("e2e_9_lava, check's jobs (x86_64 both images, riscv64) through lava-run") {
        return;
    }
    let _one = serial();
    needs_lava();
    all_built();
    let dir = tempdir("kardel-e2e-lava-check");
    for (arch, image, cases) in
        [("x86_64", "initramfs", 7), ("x86_64", "initrd", 9), ("riscv64", "initramfs", 7)]
    {
        let job = dir.join(format!("check-{arch}-{image}.yaml"));
        let job_arg = job.display().to_string();
        let flag = format!("--{image}");
        let written = run(xtask(&["check", "--arch", arch, &flag, "--lava-job", &job_arg])).ok();
        assert!(written.stdout().contains("cargo xtask lava"), "{}", written.stdout());
        validates("job", &job);
        only_local_addresses(&job, None);

        let json = dir.join(format!("{arch}-{image}.json"));
        let junit = dir.join(format!("{arch}-{image}.xml"));
        let ran = run(xtask(&[
            "lava",
            &job_arg,
            "--json",
            &json.display().to_string(),
            "--junit",
            &junit.display().to_string(),
        ]))
        .ok();
        assert!(
            ran.stdout().contains(&format!("{cases} cases: {cases} passed, 0 failed")),
            "{arch} {image}:\n{}\n{}",
            ran.stdout(),
            ran.stderr()
        );
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let names: Vec<&str> = results["tests"][0]["subtests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| case["name"].as_str().unwrap())
            .collect();
        assert_eq!(&names[..3], ["uname-r", "root", "proc-on-proc"], "{arch} {image}");
        assert!(std::fs::read_to_string(&junit).unwrap().contains("name=\"uname-r\""));

        let device = target_dir().join(format!("kardel/lava/check-{arch}-{image}/device.yaml"));
        validates("device", &device);
        only_local_addresses(&device, None);
    }
}

#[test]
fn a_command_as_a_lava_job_fails_and_passes_as_it_does_here() {
    if !enabled("e2e_9_lava, a command's jobs and a panic through lava-run") {
        return;
    }
    let _one = serial();
    needs_lava();
    all_built();
    let dir = tempdir("kardel-e2e-lava-command");
    let job = |name: &str| dir.join(format!("{name}.yaml")).display().to_string();

    // a failing command: exit 1, the case failed, what it printed in the report
    let failing = job("failing");
    let script = r#"echo "printed $1"; exit 3"#;
    run(xtask(&["run", "--lava-job", &failing, "--", "sh", "-c", script, "sh", "this"])).ok();
    let ran = run(xtask(&["lava", &failing]));
    assert_eq!(ran.output.status.code(), Some(1), "{}\n{}", ran.stdout(), ran.stderr());
    assert!(ran.stdout().contains("FAIL run.command\n    printed this\n"), "{}", ran.stdout());

    // a definition that stops part-way (its second step fails under LAVA's `set -e`, LAVA marks
    // the definition failed, the job itself passes): its first case passed, the run did not
    let stopping = job("stopping");
    run(xtask(&["run", "--lava-job", &stopping, "--", "true"])).ok();
    let text = std::fs::read_to_string(&stopping).unwrap();
    let step = text.lines().find(|l| l.contains("lava-test-case command --shell")).unwrap();
    let indent = &step[..step.find("- ").expect("a step of a list")];
    let steps = format!("{step}\n{indent}- rm -rf / ; lava-test-case after --shell true");
    std::fs::write(&stopping, text.replace(step, &steps)).unwrap();
    let ran = run(xtask(&["lava", &stopping]));
    assert_eq!(ran.output.status.code(), Some(1), "{}\n{}", ran.stdout(), ran.stderr());
    assert!(ran.stdout().contains("ERROR lava.0_run\n"), "{}", ran.stdout());
    assert!(ran.stdout().contains("1 passed"), "{}", ran.stdout());

    // LAVA rewrites `$1` in a step: the command still gets its words as they were given
    let quoting = job("quoting");
    let script = r#"test "$1" = "a b" && test "$2" = "it's""#;
    run(xtask(&["run", "--lava-job", &quoting, "--", "sh", "-c", script, "sh", "a b", "it's"]))
        .ok();
    validates("job", Path::new(&quoting));
    let ran = run(xtask(&["lava", &quoting])).ok();
    assert!(ran.stdout().contains("1 cases: 1 passed"), "{}", ran.stdout());

    // README's examples, as written there (`sudo` left off: the tests run as root), and the
    // command's job it writes passes under LAVA's own dispatcher
    let examples = common::readme_examples("Past one machine: LAVA jobs");
    common::run_readme_examples(&examples, &[0, 0, 0, 0], &dir);
    assert!(dir.join("lava.xml").is_file(), "README's `lava check.yaml --junit lava.xml`");
    let ran = run(xtask(&["lava", &dir.join("cmd.yaml").display().to_string()])).ok();
    assert!(ran.stdout().contains("1 cases: 1 passed"), "{}", ran.stdout());

    // a kernel that panics: the machine failed, exit 125, the panic line said
    let check = job("check");
    run(xtask(&["check", "--initramfs", "--lava-job", &check])).ok();
    let panicking = job("panicking");
    let text = std::fs::read_to_string(&check).unwrap();
    assert!(text.contains("rdinit=/sbin/init"));
    std::fs::write(&panicking, text.replace("rdinit=/sbin/init", "rdinit=/no/init")).unwrap();
    let ran = run(xtask(&["lava", &panicking]));
    assert_eq!(ran.output.status.code(), Some(125), "{}\n{}", ran.stdout(), ran.stderr());
    assert!(ran.stdout().contains("the machine failed: Kernel panic"), "{}", ran.stdout());

    // for a lab: the kernel and image named by the URL given, and the files to put there listed
    let lab = job("lab");
    let base = "https://lab.example.org/kardel";
    let written =
        run(xtask(&["check", "--initramfs", "--lava-job", &lab, "--artifact-url", base])).ok();
    validates("job", Path::new(&lab));
    only_local_addresses(Path::new(&lab), Some(base));
    let images = target_dir().join("images/x86_64");
    for (file, url) in [("tiny/bzImage", "bzImage"), ("rootfs.cpio.gz", "rootfs.cpio.gz")] {
        let line = format!("{}  ->  {base}/{url}", images.join(file).display());
        assert!(written.stdout().contains(&line), "no {line:?} in:\n{}", written.stdout());
    }
}

#[test]
fn kunit_suites_as_lava_cases() {
    if !enabled("e2e_9_lava, KUnit's suites and a test module's as a LAVA job (e2e_7's kernel)") {
        return;
    }
    let _one = serial();
    needs_lava();
    let dir = tempdir("kardel-e2e-lava-kunit");
    let job = dir.join("kunit.yaml").display().to_string();
    let module = common::repo().join("examples/modules/kunit_example").display().to_string();
    run(xtask(&["test", "--kunit", "--module", &module, "--lava-job", &job])).ok();
    validates("job", Path::new(&job));
    let json = dir.join("kunit.json");
    let ran = run(xtask(&["lava", &job, "--json", &json.display().to_string()]));
    // the example module's suite fails on purpose (one case of three): the job's exit code is 1
    assert_eq!(ran.output.status.code(), Some(1), "{}\n{}", ran.stdout(), ran.stderr());
    assert!(ran.stdout().contains("FAIL kunit.kardel_example"), "{}", ran.stdout());
    let cases = first_suites_cases(&json);
    for expected in
        [("load-test-modules", "pass"), ("example", "pass"), ("list-kunit-test", "pass")]
    {
        let expected = (expected.0.to_string(), expected.1.to_string());
        assert!(cases.contains(&expected), "no {expected:?} in {cases:?}");
    }
}

#[test]
fn kselftests_as_lava_cases() {
    if !enabled("e2e_9_lava, kselftests as a LAVA job (e2e_11's kernel)") {
        return;
    }
    let _one = serial();
    needs_lava();
    let dir = tempdir("kardel-e2e-lava-kselftest");
    let job = dir.join("kselftest.yaml").display().to_string();
    run(xtask(&["test", "--kselftest", "size,kcmp", "--lava-job", &job])).ok();
    validates("job", Path::new(&job));
    let json = dir.join("kselftest.json");
    let ran = run(xtask(&["lava", &job, "--json", &json.display().to_string()])).ok();
    let cases = first_suites_cases(&json);
    let expected = [("size.get_size", "pass"), ("kcmp.kcmp_test", "pass")]
        .map(|(name, status)| (name.to_string(), status.to_string()));
    assert_eq!(cases, expected, "{}", ran.stdout());
}

/// The cases of the first suite of a JSON report, each with its status.
fn first_suites_cases(json: &Path) -> Vec<(String, String)> {
    let results: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    results["tests"][0]["subtests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let field = |key: &str| case[key].as_str().unwrap().to_string();
            (field("name"), field("status"))
        })
        .collect()
}

#[test]
fn the_kernels_folder_reads_as_a_tuxmake_build() {
    if !enabled("e2e_9_lava, metadata.json read as TuxRun reads it") {
        return;
    }
    let _one = serial();
    all_built();
    for (arch, target_arch, image) in
        [("x86_64", "x86_64", "bzImage"), ("riscv64", "riscv", "Image")]
    {
        let dir = target_dir().join(format!("images/{arch}/tiny"));
        let build = tuxmake_build(&dir).unwrap_or_else(|err| panic!("{arch}: {err}"));
        assert_eq!(build.target_arch, target_arch);
        assert_eq!(build.kernel, format!("file://{}/{image}", dir.display()));
        assert_eq!(build.modules, None);
    }
}

/// What TuxRun takes from `--tuxmake DIR` (tuxlava's TuxMakeBuild): the folder made absolute,
/// `build.target_arch` and `results.artifacts.kernel[0]` required, `modules[0]` when there is
/// one, each a file in the folder named by a `file://` URL.
struct TuxMakeBuild {
    target_arch: String,
    kernel: String,
    modules: Option<String>,
}

fn tuxmake_build(dir: &Path) -> Result<TuxMakeBuild, String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = std::fs::read_to_string(dir.join("metadata.json"))
        .map_err(|e| format!("{}/metadata.json: {e}", dir.display()))?;
    let metadata: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let target_arch =
        metadata["build"]["target_arch"].as_str().ok_or("no build.target_arch")?.to_string();
    let artifact = |kind: &str| -> Option<PathBuf> {
        metadata["results"]["artifacts"][kind][0].as_str().map(|name| dir.join(name))
    };
    let kernel = artifact("kernel").ok_or("Missing kernel in directory")?;
    let url = |path: PathBuf| -> Result<String, String> {
        match path.is_file() {
            true => Ok(format!("file://{}", path.display())),
            false => Err(format!("{} is named but missing", path.display())),
        }
    };
    Ok(TuxMakeBuild {
        target_arch,
        kernel: url(kernel)?,
        modules: artifact("modules").map(url).transpose()?,
    })
}

/// LAVA's own schema (lava-common) accepts `file` as a `kind` (`job` or `device`).
#[track_caller]
fn validates(kind: &str, file: &Path) {
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(SCHEMA)
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("invalid"), "{}: {text}", file.display());
}

/// Every address in `file` is a `file://` path, or under `base` when one was given.
#[track_caller]
fn only_local_addresses(file: &Path, base: Option<&str>) {
    let text = std::fs::read_to_string(file).unwrap();
    for (at, _) in text.match_indices("://") {
        let start = text[..at].rfind(|c: char| c.is_whitespace() || c == '\'' || c == '"');
        let address = &text[start.map_or(0, |s| s + 1)..];
        let address = address.split_whitespace().next().unwrap_or("");
        let allowed = match base {
            Some(base) => address.starts_with(&format!("{base}/")),
            None => address.starts_with("file:///"),
        };
        assert!(allowed, "{}: names {address}", file.display());
    }
}

/// LAVA's dispatcher and schemas are installed, and this runs as root, as lava-run needs.
fn needs_lava() {
    assert!(
        Path::new("/usr/bin/lava-run").exists() && Path::new(SCHEMA).exists(),
        "LAVA's dispatcher is not installed: cargo xtask deps --lava --install"
    );
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "0", "lava-run needs root");
}
