//! The kernel stage: an unpacked tree to a checked `.config` and a `bzImage`, out of tree, with
//! a stamp so that a second run with nothing changed starts no `make` at all.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use artifact::{Fingerprint, Stamp};
use fetch::Package;
use xshell::cmd;

use crate::{
    configure::{Configure, Settle},
    context::Context,
    flags::Profile,
    sources::Source,
    summary::Outcome,
};

/// What the kernel stage leaves in `images/<profile>/`.
pub struct KernelImages {
    pub bzimage: PathBuf,
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    /// `uname -r` of the built kernel
    pub release: String,
}

impl KernelImages {
    pub fn in_dir(dir: &Path) -> KernelImages {
        KernelImages {
            bzimage: dir.join("bzImage"),
            vmlinux: dir.join("vmlinux"),
            config: dir.join("config"),
            release: std::fs::read_to_string(dir.join("kernel.release"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        }
    }
}

/// The repo's fragments for a profile, in the order they apply; the user's come after.
pub fn profile_fragments(ctx: &Context) -> Vec<PathBuf> {
    let mut names = vec!["boot.config", "ramdisk.config"];
    if ctx.profile() == Profile::Tiny {
        names.push("tiny.config");
    }
    let mut paths: Vec<PathBuf> =
        names.iter().map(|name| ctx.repo_path("kernel-config").join(name)).collect();
    paths.extend(ctx.selection.kernel_fragments.iter().cloned());
    paths
}

fn base_target(profile: Profile) -> &'static str {
    match profile {
        Profile::Default => "x86_64_defconfig",
        Profile::Tiny => "tinyconfig",
    }
}

/// The variables a user may pass through to the kernel's make (the kernel's own names).
const PASS_THROUGH: [&str; 3] = ["ARCH", "CROSS_COMPILE", "CC"];

fn make_variables() -> Vec<String> {
    let mut vars = Vec::new();
    let arch = std::env::var("ARCH").unwrap_or_else(|_| "x86".to_string());
    vars.push(format!("ARCH={arch}"));
    for name in &PASS_THROUGH[1..] {
        if let Ok(value) = std::env::var(name) {
            vars.push(format!("{name}={value}"));
        }
    }
    vars
}

/// Everything the kernel's outputs depend on.
fn fingerprint(ctx: &Context, source: &Source, fragments: &[PathBuf]) -> Result<Fingerprint> {
    let mut fp = Fingerprint::new("kernel");
    fp.add("source", &source.identity)
        .add("profile", ctx.profile().name())
        .add("make-vars", make_variables().join("\n"))
        .add("make-args", ctx.make_args.join("\n"))
        .add("epoch", ctx.source_date_epoch.to_string());
    for fragment in fragments {
        fp.add_file("fragment", fragment)?;
    }
    Ok(fp)
}

pub fn build(ctx: &Context) -> Result<(KernelImages, Outcome)> {
    let source = Source::plan(ctx, Package::Kernel)?;
    let fragments = profile_fragments(ctx);
    let fp = fingerprint(ctx, &source, &fragments)?;
    let out_dir = ctx.kernel_images_dir();
    let images = KernelImages::in_dir(&out_dir);
    let stamp = Stamp::new(out_dir.join(".stamp"));
    if !source.is_mutable_tree() && stamp.is_fresh(&fp, &[&images.bzimage, &images.vmlinux]) {
        return Ok((images, Outcome::Reused));
    }
    stamp.invalidate()?;

    let tree = source.tree(ctx)?;
    check_compiler(ctx, &tree)?;
    let build_dir = build_dir(ctx, &source);
    let log = ctx.log_path(&format!("kernel-{}", ctx.profile().name()));
    let _ = std::fs::remove_file(&log);
    let sh = &ctx.sh;
    let vars = make_variables();
    let envs = reproducible_env(ctx.source_date_epoch);
    let vars = &vars;
    let make = |target: &str| {
        cmd!(sh, "make -C {tree} O={build_dir} {vars...} {target}").envs(envs.iter().cloned())
    };
    let label = format!("kernel ({})", ctx.profile().name());
    Configure {
        label: label.clone(),
        make: &make,
        build_dir: &build_dir,
        base_target: base_target(ctx.profile()),
        fragments,
        settle: Settle::Olddefconfig,
        log: log.clone(),
        source_identity: &source.identity,
    }
    .run()?;
    if ctx.configure_only {
        eprintln!("{label}: configured, every requested value is in {}", build_dir.join(".config").display());
        return Ok((images, Outcome::Configured));
    }

    let jobs = format!("-j{}", ctx.jobs);
    let extra = &ctx.make_args;
    exec::run_logged(
        cmd!(sh, "make -C {tree} O={build_dir} {vars...} {jobs} {extra...} bzImage")
            .envs(envs.iter().cloned()),
        &log,
        &format!("{label}: make bzImage"),
    )?;

    let release_file = build_dir.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_file)
        .with_context(|| format!("reading {}", release_file.display()))?;
    artifact::copy_atomic(&build_dir.join("arch/x86/boot/bzImage"), &images.bzimage)?;
    artifact::copy_atomic(&build_dir.join("vmlinux"), &images.vmlinux)?;
    artifact::copy_atomic(&build_dir.join(".config"), &images.config)?;
    artifact::write_atomic(&out_dir.join("kernel.release"), |f| {
        use std::io::Write;
        Ok(f.write_all(release.as_bytes())?)
    })?;
    stamp.record(&fp)?;
    Ok((KernelImages::in_dir(&out_dir), Outcome::Built))
}

/// The out-of-tree build folder: one per profile and source, so that switching back and forth
/// never rebuilds from scratch.
pub fn build_dir(ctx: &Context, source: &Source) -> PathBuf {
    ctx.work_dir().join("build").join(format!("kernel-{}-{}", ctx.profile().name(), source.slug()))
}

/// Builds that differ only in when and where they ran give the same kernel.
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

/// Linux 5.15 does not build with GCC 15 (C23 makes `bool` a keyword): say so before a long build
/// fails in its first minute with a wall of errors.
fn check_compiler(ctx: &Context, tree: &Path) -> Result<()> {
    let Ok(makefile) = std::fs::read_to_string(tree.join("Makefile")) else { return Ok(()) };
    let version_of = |key: &str| {
        makefile.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse::<u32>().ok())
    };
    let (Some(major), Some(minor)) = (version_of("VERSION = "), version_of("PATCHLEVEL = ")) else {
        return Ok(());
    };
    if (major, minor) >= (6, 1) {
        return Ok(());
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
    let sh = &ctx.sh;
    let Ok(gcc_major) = cmd!(sh, "{cc} -dumpversion").quiet().ignore_stderr().read() else {
        return Ok(());
    };
    let gcc_major: u32 = gcc_major.split('.').next().and_then(|v| v.parse().ok()).unwrap_or(0);
    if gcc_major >= 15 {
        bail!(
            "Linux {major}.{minor} does not build with GCC {gcc_major} (C23 makes bool a keyword); \
             use GCC 12-14, e.g. CC=gcc-14"
        );
    }
    Ok(())
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
}
