//! A kconfig source tree built out of tree (`make -C src O=build`): the kernel's or BusyBox's.
//! Both are configured the same way, from a base config and fragments, and the result is proven:
//! every requested value must be in the final `.config`.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use artifact::{Fingerprint, Stamp};
use kconfig::Setting;
use xshell::{cmd, Shell};

use crate::context::Context;

/// How kconfig settles a `.config` with fragments applied.
#[derive(Debug, Clone, Copy)]
pub enum Settle {
    /// the kernel's `make olddefconfig`
    Olddefconfig,
    /// BusyBox has no olddefconfig: `make oldconfig` with Enter answered to every question
    OldconfigAcceptingDefaults,
}

pub struct OutOfTree<'a> {
    sh: &'a Shell,
    /// e.g. "kernel (tiny)", for progress lines and errors
    pub label: String,
    source: PathBuf,
    pub build_dir: PathBuf,
    /// `VAR=value` arguments for every make command line (ARCH, CROSS_COMPILE, CC)
    vars: Vec<String>,
    /// `-jN` and the user's extra make arguments, for the builds proper
    build_args: Vec<String>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    /// where ccache logs what this build's compiles asked of it, when compiles go through it
    ccache_log: Option<PathBuf>,
    /// the tree's top Kconfig file and its variables, to explain a request that did not stick
    kconfig_top: &'static str,
    kconfig_vars: Vec<(String, String)>,
}

impl<'a> OutOfTree<'a> {
    /// A fresh log named `log_name` collects every make's whole output.
    pub fn new(
        ctx: &'a Context,
        label: String,
        source: PathBuf,
        build_dir: PathBuf,
        vars: Vec<String>,
        log_name: &str,
    ) -> Result<OutOfTree<'a>> {
        let log = ctx.layout.log(log_name);
        let _ = std::fs::remove_file(&log);
        let mut envs = reproducible_env(ctx.source_date_epoch);
        let ccache_log = match &ctx.ccache {
            Some(ccache) => {
                let stats_log = ccache_log(&log);
                let _ = std::fs::remove_file(&stats_log);
                let env = ccache.env(&stats_log)?;
                let used = !env.is_empty();
                envs.extend(env);
                used.then_some(stats_log)
            }
            None => None,
        };
        Ok(OutOfTree {
            sh: &ctx.sh,
            label,
            source,
            build_dir,
            vars,
            build_args: std::iter::once(format!("-j{}", ctx.jobs))
                .chain(ctx.selection.make_args.iter().cloned())
                .collect(),
            envs,
            log,
            ccache_log,
            kconfig_top: "Kconfig",
            kconfig_vars: Vec::new(),
        })
    }

    /// Where the tree's Kconfig language starts (`Kconfig` for the kernel, `Config.in` for
    /// BusyBox) and the variables its `source` lines use (`SRCARCH`).
    pub fn with_kconfig(mut self, top: &'static str, vars: &[(&str, &str)]) -> Self {
        self.kconfig_top = top;
        self.kconfig_vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self
    }

    /// Each mismatch with why it did not stick, where the tree's Kconfig files tell.
    fn explain(
        &self,
        mismatches: &[kconfig::Mismatch],
        config: &BTreeMap<String, kconfig::Value>,
    ) -> Vec<String> {
        let vars: Vec<(&str, &str)> =
            self.kconfig_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // BusyBox writes most of its Config.in files into the build folder, so it comes first,
        // as kconfig itself looks files up
        let tree =
            kconfig::KconfigTree::load(&[&self.build_dir, &self.source], self.kconfig_top, &vars);
        mismatches
            .iter()
            .map(|m| {
                let reason = tree.as_ref().ok().and_then(|t| t.explain(m, config));
                format!("  {}", m.with_reason(reason.as_deref()))
            })
            .collect()
    }

    /// `make -C source O=build VARS... ARGS...` with the reproducible environment.
    pub fn make(&self, args: &[String]) -> xshell::Cmd<'a> {
        let (source, build_dir, vars) = (&self.source, &self.build_dir, &self.vars);
        cmd!(self.sh, "make -C {source} O={build_dir} {vars...} {args...}")
            .envs(self.envs.iter().cloned())
    }

    /// Runs make with `args` into the log, showing `what` as the step.
    pub fn run(&self, what: &str, args: &[String]) -> Result<Duration> {
        exec::run_logged(self.make(args), &self.log, &format!("{}: {what}", self.label))
    }

    /// Builds `targets` (none: make's default) in parallel, with the user's extra make arguments.
    pub fn build(&self, what: &str, targets: &[&str]) -> Result<Duration> {
        let took = self.run(what, &self.build_args(targets))?;
        if let Some(stats) = self.ccache_stats().filter(|s| s.compiles() > 0) {
            eprintln!("{}: ccache: {}", self.label, stats.describe());
        }
        Ok(took)
    }

    /// make's arguments for building `targets`: `-jN`, the user's extra ones, the targets.
    fn build_args(&self, targets: &[&str]) -> Vec<String> {
        let mut args = self.build_args.clone();
        args.extend(targets.iter().map(|t| t.to_string()));
        args
    }

    /// What this build's compiles asked of ccache so far, when they go through it.
    pub fn ccache_stats(&self) -> Option<crate::ccache::Stats> {
        self.ccache_log.as_deref().map(crate::ccache::read_stats)
    }

    /// Configures the build folder unless it already holds the config these inputs give:
    /// `base_target`, then the fragments' requests in place of the base's lines, then `settle`,
    /// then every request checked against the final `.config`. Returns whether it ran. A
    /// configuration that fails (a request that does not stick) leaves the folder's previous
    /// `.config` and marker as they were, so the next build with the old fragments does no work.
    pub fn configure(
        &self,
        base_target: &str,
        fragments: &[PathBuf],
        settle: Settle,
        source_identity: &str,
    ) -> Result<bool> {
        let parsed = kconfig::read_fragments(fragments)?;
        let wanted = kconfig::merge(parsed.iter().map(Vec::as_slice));

        let mut fp = Fingerprint::new("configure");
        fp.add("base", base_target)
            .add("fragments", kconfig::render(&wanted))
            .add("source", source_identity);
        let marker = Stamp::new(self.build_dir.join(".kardel-configured"));
        let config_path = self.build_dir.join(".config");
        if marker.is_fresh(&fp, &[&config_path]) {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.build_dir)
            .with_context(|| format!("creating {}", self.build_dir.display()))?;
        // kept aside by renaming, which keeps their times: make compares the .config's
        let kept: Vec<(PathBuf, PathBuf)> = [&config_path, &marker.path().to_path_buf()]
            .into_iter()
            .filter(|path| path.exists())
            .map(|path| (path.clone(), path.with_extension("kardel-previous")))
            .collect();
        for (path, aside) in &kept {
            std::fs::rename(path, aside)
                .with_context(|| format!("moving {} aside", path.display()))?;
        }
        match self.configure_afresh(base_target, &wanted, settle, &config_path) {
            Ok(()) => {
                for (_, aside) in &kept {
                    let _ = std::fs::remove_file(aside);
                }
                marker.record(&fp)?;
                Ok(true)
            }
            Err(err) => {
                let _ = marker.invalidate();
                for (path, aside) in &kept {
                    std::fs::rename(aside, path)
                        .with_context(|| format!("putting {} back", path.display()))?;
                }
                Err(err)
            }
        }
    }

    fn configure_afresh(
        &self,
        base_target: &str,
        wanted: &[Setting],
        settle: Settle,
        config_path: &Path,
    ) -> Result<()> {
        self.run(base_target, &[base_target.to_string()])?;
        let base = read(config_path)?;
        let applied = kconfig::apply_to(&base, wanted);
        artifact::write_atomic(config_path, |f| Ok(f.write_all(applied.as_bytes())?))?;
        match settle {
            Settle::Olddefconfig => {
                self.run("olddefconfig", &["olddefconfig".to_string()])?;
            }
            Settle::OldconfigAcceptingDefaults => {
                let enter_to_everything = "\n".repeat(4096);
                exec::run_logged_with_input(
                    self.make(&["oldconfig".to_string()]),
                    enter_to_everything.as_bytes(),
                    &self.log,
                    &format!("{}: oldconfig", self.label),
                )?;
            }
        }

        let final_config = kconfig::parse_config(&read(config_path)?);
        let mismatches = kconfig::verify(wanted, &final_config);
        if !mismatches.is_empty() {
            let list = self.explain(&mismatches, &final_config);
            bail!(
                "{}: {} requested config value(s) did not stick in {}:\n{}",
                self.label,
                mismatches.len(),
                config_path.display(),
                list.join("\n")
            );
        }
        Ok(())
    }

    /// The tree's VERSION and PATCHLEVEL, from its top Makefile.
    pub fn version(&self) -> Result<(u32, u32)> {
        tree_version(&self.source)
    }

    pub fn announce_configured(&self) {
        eprintln!(
            "{}: configured, every requested value is in {}",
            self.label,
            self.build_dir.join(".config").display()
        );
    }
}

/// What a kconfig build's output depends on, the same for the kernel and BusyBox: the source,
/// the make variables and arguments, the time stamp, and every fragment's contents. A stage adds
/// its own inputs (the kernel its profile) to the result.
pub fn fingerprint(
    stage: &str,
    ctx: &Context,
    source_identity: &str,
    vars: &[String],
    fragments: &[PathBuf],
) -> Result<Fingerprint> {
    let mut fp = Fingerprint::new(stage);
    fp.add("source", source_identity)
        .add("make-vars", vars.join("\n"))
        .add("make-args", ctx.selection.make_args.join("\n"))
        .add("epoch", ctx.source_date_epoch.to_string());
    for fragment in fragments {
        fp.add_file("fragment", fragment)?;
    }
    Ok(fp)
}

/// A kernel tree's VERSION and PATCHLEVEL, from its top Makefile.
pub fn tree_version(tree: &Path) -> Result<(u32, u32)> {
    let makefile = read(&tree.join("Makefile"))?;
    let field = |key: &str| {
        makefile.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok())
    };
    match (field("VERSION = "), field("PATCHLEVEL = ")) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => bail!("{}: no VERSION and PATCHLEVEL in its Makefile", tree.display()),
    }
}

/// The ccache stats log beside a make log: `kernel-tiny.log` → `kernel-tiny.ccache`.
pub fn ccache_log(make_log: &Path) -> PathBuf {
    make_log.with_extension("ccache")
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The toolchain's make variables: CROSS_COMPILE (the environment's, or the architecture's row
/// for a foreign architecture) and CC passed through, for the kernel, BusyBox and modules alike.
pub fn toolchain_variables(ctx: &Context) -> Vec<String> {
    let mut vars = Vec::new();
    let cross = ctx.cross_prefix();
    if !cross.is_empty() {
        vars.push(format!("CROSS_COMPILE={cross}"));
    }
    vars.extend(pass_through(&["CC"]));
    vars
}

/// `VAR=value` make arguments for those of `names` set in the environment: the kernel's and
/// BusyBox's own pass-through variables.
pub fn pass_through(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value}")))
        .collect()
}

/// Builds that differ only in when and where they ran give the same output.
pub fn reproducible_env(epoch: u64) -> Vec<(String, String)> {
    vec![
        ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
        ("KBUILD_BUILD_TIMESTAMP".into(), utc_timestamp(epoch)),
        ("KBUILD_BUILD_USER".into(), "kardel".into()),
        ("KBUILD_BUILD_HOST".into(), "kardel".into()),
        ("KBUILD_BUILD_VERSION".into(), "1".into()),
    ]
}

/// `2024-01-01 00:00:00 UTC` for an epoch: a form `date -d` parses back, which the kernel's
/// initramfs script relies on.
pub fn utc_timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(1_704_067_200), "2024-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(951_827_696), "2000-02-29 12:34:56 UTC");
    }

    /// An out-of-tree build of `source` into `build` for the tiny kernel on x86_64, four jobs and
    /// the user's `V=1`.
    fn out_of_tree<'a>(ctx: &'a Context, source: &Path, build: &Path) -> OutOfTree<'a> {
        OutOfTree::new(
            ctx,
            "kernel (tiny)".into(),
            source.to_path_buf(),
            build.to_path_buf(),
            vec!["ARCH=x86".into()],
            "kernel-tiny",
        )
        .unwrap()
    }

    fn context(name: &str) -> Context {
        let selection =
            crate::testing::selection("x86_64", "tiny", |s| s.make_args = vec!["V=1".into()]);
        crate::testing::context(&selection, crate::testing::scratch(name))
    }

    #[test]
    fn a_build_runs_make_out_of_tree_with_the_jobs_and_the_users_arguments() {
        let ctx = context("make-line");
        let build = out_of_tree(&ctx, Path::new("/src/linux"), Path::new("/b/kernel-tiny"));
        assert_eq!(
            build.make(&build.build_args(&["bzImage", "modules"])).to_string(),
            "make -C /src/linux O=/b/kernel-tiny ARCH=x86 -j4 V=1 bzImage modules"
        );
        // configuring is one make target alone
        assert_eq!(
            build.make(&["tinyconfig".into()]).to_string(),
            "make -C /src/linux O=/b/kernel-tiny ARCH=x86 tinyconfig"
        );
    }

    #[test]
    fn builds_are_stamped_with_the_epoch_and_the_tools_name() {
        let env: Vec<String> =
            reproducible_env(1_704_067_200).iter().map(|(k, v)| format!("{k}={v}")).collect();
        expect_test::expect![[r#"
            SOURCE_DATE_EPOCH=1704067200
            KBUILD_BUILD_TIMESTAMP=2024-01-01 00:00:00 UTC
            KBUILD_BUILD_USER=kardel
            KBUILD_BUILD_HOST=kardel
            KBUILD_BUILD_VERSION=1"#]]
        .assert_eq(&env.join("\n"));
    }

    #[test]
    fn a_trees_version_is_read_from_its_makefile() {
        let tree = crate::testing::scratch("tree-version");
        std::fs::write(
            tree.join("Makefile"),
            "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\n",
        )
        .unwrap();
        assert_eq!(tree_version(&tree).unwrap(), (6, 12));
        std::fs::write(tree.join("Makefile"), "all:\n\techo busybox\n").unwrap();
        assert_eq!(
            tree_version(&tree).unwrap_err().to_string(),
            format!("{}: no VERSION and PATCHLEVEL in its Makefile", tree.display())
        );
    }

    #[test]
    fn a_value_that_did_not_stick_is_explained_from_the_trees_kconfig() {
        let ctx = context("explain");
        let source = crate::testing::scratch("explain-src");
        std::fs::write(
            source.join("Kconfig"),
            "config NET\n\tbool \"Networking\"\n\n\
             config NET_9P\n\tbool \"9P\"\n\tdepends on NET\n",
        )
        .unwrap();
        let build = out_of_tree(&ctx, &source, &crate::testing::scratch("explain-build"));
        let wanted = kconfig::parse_fragment("share.config", "CONFIG_NET_9P=y\n").unwrap();
        let config = kconfig::parse_config("# CONFIG_NET is not set\n");
        let lines = build.explain(&kconfig::verify(&wanted, &config), &config);
        expect_test::expect!["  share.config:1: CONFIG_NET_9P asked for y, but the final .config does not have it: it depends on NET, which is off"].assert_eq(&lines.join("\n"));
    }

    #[test]
    fn busyboxs_kconfig_files_are_found_in_its_build_folder() {
        let ctx = context("explain-busybox");
        let build_dir = crate::testing::scratch("explain-busybox-build");
        // BusyBox writes most of its Config.in files into the build folder from templates
        std::fs::write(
            build_dir.join("Config.in"),
            "config STATIC\n\tbool \"Build static binary\"\n\tdepends on !PIE\n\n\
             config PIE\n\tbool \"Build position independent executable\"\n",
        )
        .unwrap();
        let build = out_of_tree(&ctx, &crate::testing::scratch("explain-busybox-src"), &build_dir)
            .with_kconfig("Config.in", &[]);
        let wanted = kconfig::parse_fragment("static.config", "CONFIG_STATIC=y\n").unwrap();
        let config = kconfig::parse_config("CONFIG_PIE=y\n");
        let lines = build.explain(&kconfig::verify(&wanted, &config), &config);
        expect_test::expect!["  static.config:1: CONFIG_STATIC asked for y, but the final .config does not have it: its dependencies are not met: PIE is y (!PIE)"].assert_eq(&lines.join("\n"));
    }
}
