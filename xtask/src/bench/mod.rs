//! `cargo xtask bench`: build, rebuild and boot times and sizes, measured in one run on this
//! machine, each beside the same work done the tutorial's way where that is cheap to measure.
//!
//! It builds into its own target folder (`target/bench/<arch>/<profile>`), so the user's build is
//! never disturbed, and the build part starts that folder from nothing. The parts that boot other
//! architectures or workbench flavours use the kernels in the user's own target folder (the
//! end-to-end tests leave them built), so CI compiles nothing twice for them.

mod boots;
mod builds;
mod child;
mod peers;
mod report;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use qemu::AccelChoice;
use stages::{
    hostdeps::{self, Step},
    pipeline::{self, Built},
    summary::Summary,
    Context, Selection,
};

use self::report::Report;
use crate::{
    build::target_dir,
    flags::{self, BenchPart},
};

/// What every part measures with: the selection, the bench's own context and the user's.
pub struct Bench {
    pub selection: Selection,
    /// building into the bench's own target folder
    pub ctx: Context,
    /// the user's target folder, whose kernels the arches and features parts boot
    pub user: Context,
    pub boots: u32,
}

impl Bench {
    /// The bench's selection changed by `change`, in the bench's own target folder.
    pub fn variant(&self, change: impl FnOnce(&mut Selection)) -> Result<(Selection, Context)> {
        let mut selection = self.selection.clone();
        change(&mut selection);
        let ctx = Context::new(&selection, self.ctx.layout.target().to_path_buf())?;
        Ok((selection, ctx))
    }

    pub fn child(&self) -> child::Xtask {
        child::Xtask::new(&self.selection, &self.ctx)
    }

    /// The tutorial's command line on TCG, for `boot` on the built kernel and images.
    pub fn tutorial_machine(
        ctx: &Context,
        built: &Built,
        boot: &'static boot::boots::Boot,
    ) -> Result<qemu::Machine> {
        let request = boot::Request::new(boot, boot::Speed::Tutorial);
        boot::machine::machine(ctx, built, &request, &boot::Options::plain(AccelChoice::Tcg))
    }
}

/// The parts of a default run, in order. `peers`, `edit` and `arch-builds` only when asked.
const DEFAULT_PARTS: [BenchPart; 8] = [
    BenchPart::Build,
    BenchPart::Rebuild,
    BenchPart::Images,
    BenchPart::Boot,
    BenchPart::Uboot,
    BenchPart::Arches,
    BenchPart::Features,
    BenchPart::Sizes,
];

pub fn run(flags: flags::Bench) -> Result<()> {
    let selection = flags.build.selection()?;
    let user = Context::new(&selection, target_dir()?)?;
    hostdeps::ensure(&user.sh, user.arch, &hostdeps::ALL_STEPS, flags.build.install_deps)?;
    let ctx = Context::new(&selection, user.layout.bench_target(&user.profile_name))?;
    let bench = Bench { selection, ctx, user, boots: flags.boots };
    let parts: Vec<BenchPart> = match flags.only {
        Some(part) => vec![part],
        None => DEFAULT_PARTS.to_vec(),
    };
    let mut report = Report { profile: bench.ctx.profile_name.clone(), figures: Vec::new() };

    if parts.contains(&BenchPart::Build) {
        builds::from_nothing(&bench, &mut report)?;
    }
    let built = pipeline::build_all(&bench.ctx, false, &[Step::Qemu], &mut Summary::default())?;
    for part in parts {
        match part {
            BenchPart::Build => {}
            BenchPart::Rebuild => builds::rebuilds(&bench, &mut report)?,
            BenchPart::Images => builds::image_steps(&bench, &built, &mut report)?,
            BenchPart::Boot => boots::boot_times(&bench, &built, &mut report)?,
            BenchPart::Uboot => {
                boots::uboot(&bench, &flags.uboot.selection(), &built, &mut report)?
            }
            BenchPart::Arches => boots::other_arches(&bench, &mut report)?,
            BenchPart::ArchBuilds => builds::other_arches(&bench, &mut report)?,
            BenchPart::Features => boots::feature_costs(&bench, &mut report)?,
            BenchPart::Peers => peers::virtme_ng(&bench, &mut report)?,
            BenchPart::Edit => peers::edit_loop(&bench, &mut report)?,
            BenchPart::Sizes => builds::sizes(&bench, &built, &mut report)?,
        }
    }

    let jobs = bench.ctx.jobs;
    println!("benchmark, profile {}, {jobs} job(s):\n{}", report.profile, report.table());
    if let Some(path) = flags.json {
        let json = report.json()?;
        artifact::write_atomic(&path, |f| Ok(std::io::Write::write_all(f, json.as_bytes())?))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let value = work()?;
    Ok((value, start.elapsed()))
}

/// A folder the bench starts afresh.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Why a row cannot be measured on this host, if it cannot: its first missing package's line.
fn missing_on_host(ctx: &Context, arch: &'static arch::Arch, steps: &[Step]) -> Option<String> {
    let err = hostdeps::ensure(&ctx.sh, arch, steps, false).err()?;
    Some(err.to_string().lines().next().unwrap_or_default().to_string())
}

/// A file's size in bytes, for the report.
fn size_of(path: &Path) -> Result<f64> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(meta.len() as f64)
}
