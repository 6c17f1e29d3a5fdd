//! KUnit beside the kernel's own kunit.py (`bench --only kunit`), from the same unpacked tree:
//! tree to results from nothing; the same with a team's compile cache warm (filled by another
//! clone), beside kunit.py with ccache warm too; and a KUnit author's loop, a test edited and its
//! results again.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use fetch::Package;
use stages::{kernel, sources::Source, Selection};
use xshell::cmd;

use super::{
    child,
    common::{remove_dir_if_present, Bench},
    report::{median_of, ratio, Report},
};

/// How many edits each side's loop times; the median is reported.
const EDITS: u32 = 3;

/// KUnit from the same unpacked tree to results, both ways: `test --kunit` from an empty target
/// folder and an empty ccache (the KUnit kernel alone) against `kunit.py run` (its own config
/// from a `.kunitconfig` of the same suites, `kernel-config/kunit.config`'s symbols, its build,
/// its QEMU boot under TCG); a second clone's run with the first's compiles in the team's remote
/// cache; and the edit loop, ours a test module's (`test --kunit --module`: the module rebuilt,
/// the saved machine restored) against kunit.py's built-in list test (`lib/list-test.c`).
pub fn kunit(bench: &Bench, report: &mut Report) -> Result<()> {
    let ctx = &bench.ctx;
    let tree = Source::plan(ctx, Package::Kernel)?.tree(ctx)?;
    let work = ctx.layout.bench_work("kunit");
    remove_dir_if_present(&work)?;
    std::fs::create_dir_all(&work)?;
    let kunit_py = KunitPy::new(bench, &tree, &work)?;

    let py_build = work.join("kunit.py-build");
    let (theirs, split) = kunit_py.run(&py_build, None, "")?;

    let team = TeamCache::start(&work)?;
    let mut selection = bench.selection.clone();
    selection.sources.kernel_source = Some(tree.clone());
    selection.sources.kernel_version = None;
    let with_cache = ctx.ccache.is_some();
    if with_cache {
        selection.ccache_remote = Some(team.url.clone());
    }
    // a clone of the team's: a target folder and a ccache of its own, the team's remote
    let clone = |name: &str| {
        child::Xtask::in_target(&selection, ctx, &work.join(name))
            .with_env("CCACHE_DIR", work.join(format!("{name}.ccache")))
    };
    let first = clone("first");
    let ours = first.test("tcg", &["--kunit"])?;
    // the same again with everything built: the boot and the results alone
    let boot = first.test("tcg", &["--kunit"])?;
    let (value, verdict) = ratio(ours, theirs, Some(0.9));
    let profile = &ctx.selection.profile;
    let figure = report.seconds(
        "kunit",
        format!(
            "KUnit, tree to results: `test --kunit`, {profile} profile, empty target and ccache"
        ),
        ours,
    );
    figure.note = format!(
        "{verdict}; kunit.py run --arch {}: {:.0} s ({split}); ours: {:.0} s building (the kernel: built-in suites boot it alone), {:.2} s boot to results",
        kunit_py.arch,
        theirs.as_secs_f64(),
        ours.saturating_sub(boot).as_secs_f64(),
        boot.as_secs_f64()
    );
    report.add(
        "kunit",
        "KUnit, tree to results: ours over kunit.py's (target at most 0.9)",
        value,
        "x",
    );

    if with_cache {
        let second = clone("second");
        let warm = second.test("tcg", &["--kunit"])?;
        let stats = kunit_kernel_ccache(&selection, &work.join("second"))?;
        let (py_fill, py_warm) = kunit_py.with_ccache_warm(ctx, &work)?;
        let (value, verdict) = ratio(warm, theirs, Some(0.35));
        let figure = report.seconds(
            "kunit",
            "KUnit, tree to results, the team's cache warm (a second clone)",
            warm,
        );
        figure.note = format!(
            "{verdict} over kunit.py cold; the team's cache: {}; the kernel's ccache: {stats}; kunit.py with ccache warm too (`--make_options CC=\"ccache {}\"`, the same depend mode and base folder): {:.0} s ({:.2} of its cold run; its first, filling the cache: {:.0} s)",
            team.what,
            ctx.guest_cc(),
            py_warm.as_secs_f64(),
            py_warm.as_secs_f64() / theirs.as_secs_f64(),
            py_fill.as_secs_f64(),
        );
        report.add(
            "kunit",
            "KUnit with the team's cache warm: ours over kunit.py's cold (target at most 0.35)",
            value,
            "x",
        );
        report.add(
            "kunit",
            "a second clone's first KUnit run over the first clone's (the team's cache)",
            warm.as_secs_f64() / ours.as_secs_f64(),
            "x",
        );
    } else {
        report.not_measured(
            "kunit",
            "KUnit with the team's cache warm",
            "ccache is not installed, or --no-ccache".to_string(),
        );
    }
    drop(team);

    // the edit loop: ours first, since kunit.py's edits the tree ours builds from
    let module = example_module(&work)?;
    let module_arg = module.to_string_lossy().into_owned();
    let args = ["--kunit", "kardel*", "--module", module_arg.as_str()];
    let source = module.join("kardel_kunit_example.c");
    first.test("tcg", &args)?;
    let ours_edit = median_of(EDITS, || {
        edit(&source)?;
        first.test("tcg", &args)
    })?;
    let theirs_edit = kunit_py.edit_loop(&tree, &py_build)?;
    let (value, verdict) = ratio(ours_edit, theirs_edit, Some(0.2));
    let figure = report.seconds(
        "kunit",
        "KUnit edit loop: a test module edited, `test --kunit --module` (median of 3)",
        ours_edit,
    );
    figure.note = format!(
        "{verdict}; kunit.py: lib/list-test.c edited, `kunit.py run 'list*'` in its build folder: {:.1} s (median of {EDITS}); ours rebuilds the module and restores the saved KUnit machine",
        theirs_edit.as_secs_f64()
    );
    report.add("kunit", "KUnit edit loop: ours over kunit.py's (target at most 0.2)", value, "x");
    Ok(())
}

/// The kernel's own KUnit runner, from `tree`, with a `.kunitconfig` of the suites ours runs.
struct KunitPy {
    script: PathBuf,
    arch: String,
    jobs: String,
    kunitconfig: PathBuf,
    log: PathBuf,
    sh: xshell::Shell,
}

impl KunitPy {
    fn new(bench: &Bench, tree: &Path, work: &Path) -> Result<KunitPy> {
        let ctx = &bench.ctx;
        let script = tree.join("tools/testing/kunit/kunit.py");
        if !script.is_file() {
            bail!("bench --only kunit: the kernel tree has no {}", script.display());
        }
        // the same suites: the symbols of the kunit feature's fragment
        let fragment = stages::context::repo().join("kernel-config/kunit.config");
        let symbols: String = kconfig::read_fragments(&[fragment])?
            .concat()
            .iter()
            .map(|setting| format!("{setting}\n"))
            .collect();
        let kunitconfig = work.join(".kunitconfig");
        std::fs::write(&kunitconfig, symbols)?;
        Ok(KunitPy {
            script,
            arch: ctx.arch.kunit_py.clone(),
            jobs: ctx.jobs.to_string(),
            kunitconfig,
            log: ctx.layout.log("bench-kunit.py"),
            sh: xshell::Shell::new()?,
        })
    }

    /// `kunit.py run [GLOB]` in `build_dir`, timed, with where it says its time went; with
    /// `ccache`, its compiles through ccache in that folder.
    fn run(
        &self,
        build_dir: &Path,
        ccache: Option<(&str, &Path, &Path)>,
        glob: &str,
    ) -> Result<(Duration, String)> {
        let (script, arch, jobs) = (&self.script, &self.arch, &self.jobs);
        let kunitconfig = &self.kunitconfig;
        let mut command = cmd!(
            self.sh,
            "python3 {script} run --arch {arch} --build_dir {build_dir} --kunitconfig {kunitconfig} --jobs {jobs} --timeout 900"
        );
        if let Some((cc, dir, base)) = ccache {
            command = command
                .arg("--make_options")
                .arg(format!("CC=ccache {cc}"))
                .env("CCACHE_DIR", dir)
                .env("CCACHE_BASEDIR", base)
                .env("CCACHE_DEPEND", "1");
        }
        if !glob.is_empty() {
            command = command.arg(glob);
        }
        let took = exec::run_logged(command, &self.log, "kunit.py run")?;
        // "Elapsed time: Ts total, Cs configuring, Bs building, Rs running"
        let split = std::fs::read_to_string(&self.log)?
            .lines()
            .rev()
            .find_map(|l| l.split_once("Elapsed time: ").map(|(_, t)| t.trim().to_string()))
            .unwrap_or_else(|| "no split printed".to_string());
        Ok((took, split))
    }

    /// kunit.py with ccache: a first run from nothing fills an empty cache, a second from an
    /// empty build folder reads it; both times.
    fn with_ccache_warm(&self, ctx: &stages::Context, work: &Path) -> Result<(Duration, Duration)> {
        let (cc, cache) = (ctx.guest_cc(), work.join("kunit.py.ccache"));
        let ccache = Some((cc.as_str(), cache.as_path(), work));
        let (fill, _) = self.run(&work.join("kunit.py-ccache-1"), ccache, "")?;
        let (warm, _) = self.run(&work.join("kunit.py-ccache-2"), ccache, "")?;
        Ok((fill, warm))
    }

    /// kunit.py's own edit loop in `build_dir` (built): `lib/list-test.c` edited, `kunit.py run
    /// 'list*'`; the median of [`EDITS`], the file put back as it was however it ends.
    fn edit_loop(&self, tree: &Path, build_dir: &Path) -> Result<Duration> {
        let list_test = tree.join("lib/list-test.c");
        let original = std::fs::read(&list_test)
            .with_context(|| format!("reading {}", list_test.display()))?;
        let loop_result = median_of(EDITS, || {
            edit(&list_test)?;
            self.run(build_dir, None, "list*").map(|(took, _)| took)
        });
        std::fs::write(&list_test, original)
            .with_context(|| format!("putting back {}", list_test.display()))?;
        loop_result
    }
}

/// An edit a compiler sees: a line appended to `source`.
fn edit(source: &Path) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(source)
        .with_context(|| format!("editing {}", source.display()))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    writeln!(file, "/* bench edit {stamp} */")?;
    Ok(())
}

/// The repository's KUnit example module, copied into `work` with its failing case made to pass
/// (the bench's children must succeed).
fn example_module(work: &Path) -> Result<PathBuf> {
    let example = stages::context::repo().join("examples/modules/kunit_example");
    let module = work.join("kunit_example");
    std::fs::create_dir_all(&module)?;
    std::fs::copy(example.join("Kbuild"), module.join("Kbuild"))?;
    let source = std::fs::read_to_string(example.join("kardel_kunit_example.c"))?;
    let passing = source.replace("add(2, 2), 5,", "add(2, 2), 4,");
    if passing == source {
        bail!("examples/modules/kunit_example: its failing case is no longer `add(2, 2), 5`");
    }
    std::fs::write(module.join("kardel_kunit_example.c"), passing)?;
    Ok(module)
}

/// What ccache did for the KUnit kernel a child built into `target` (from the stats log the
/// build left there, not from what the child printed).
fn kunit_kernel_ccache(selection: &Selection, target: &Path) -> Result<String> {
    let ctx = stages::Context::with_features(selection, target.to_path_buf(), &["kunit"])?;
    Ok(match kernel::package(&ctx)?.ccache_stats() {
        Some(stats) => stats.describe(),
        None => "none".to_string(),
    })
}

/// A team's compile cache: a real `redis-server` on a Unix socket in the bench's folder,
/// stopped when dropped; without one, ccache's `file:` storage in a folder (a team's shared
/// folder).
struct TeamCache {
    url: String,
    what: &'static str,
    server: Option<std::process::Child>,
}

impl TeamCache {
    fn start(work: &Path) -> Result<TeamCache> {
        let Some(redis) = stages::hostdeps::find_on_path("redis-server") else {
            let dir = work.join("team.cache");
            std::fs::create_dir_all(&dir)?;
            return Ok(TeamCache {
                url: format!("file:{}", dir.display()),
                what: "a shared folder (ccache's file: storage; no redis-server on this host)",
                server: None,
            });
        };
        let socket = work.join("redis.sock");
        let mut server = Command::new(&redis)
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
            .arg(&socket)
            .arg("--dir")
            .arg(work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", redis.display()))?;
        let started = Instant::now();
        while !socket.exists() {
            if started.elapsed() > Duration::from_secs(10) || server.try_wait()?.is_some() {
                let _ = server.kill();
                let _ = server.wait();
                bail!("{} made no socket {} within 10 s", redis.display(), socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(TeamCache {
            url: format!("redis+unix:{}", socket.display()),
            what: "a redis-server on a Unix socket",
            server: Some(server),
        })
    }
}

impl Drop for TeamCache {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
