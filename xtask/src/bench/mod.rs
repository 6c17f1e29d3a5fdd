//! `cargo xtask bench`: build, rebuild and boot times and sizes, measured in one run on this
//! machine, each beside the same work done the tutorial's way where that is cheap to measure.
//!
//! It builds into its own target folder (`target/bench/<arch>/<profile>`), so the user's build is
//! never disturbed, and the build part starts that folder from nothing. The parts that boot other
//! architectures or workbench flavours use the kernels in the user's own target folder (the
//! end-to-end tests leave them built), so CI compiles nothing twice for them.

mod bisect;
mod boots;
mod builds;
mod child;
mod common;
mod kunit;
mod peers;
mod report;

use anyhow::{Context as _, Result};
use stages::{
    hostdeps::{self, Step},
    pipeline,
    summary::Summary,
    Context,
};

use self::{common::Bench, report::Report};
use crate::{
    build::target_dir,
    flags::{self, BenchPart},
};

/// The parts of a default run, in order. `peers`, `edit`, `kunit`, `ccache`, `bisect` and `arch-builds` only when
/// asked.
const DEFAULT_PARTS: [BenchPart; 9] = [
    BenchPart::Build,
    BenchPart::Rebuild,
    BenchPart::Images,
    BenchPart::Boot,
    BenchPart::Uboot,
    BenchPart::Arches,
    BenchPart::Features,
    BenchPart::Rootfs,
    BenchPart::Sizes,
];

pub fn run(flags: flags::Bench) -> Result<()> {
    if let Some(path) = &flags.json {
        artifact::user_file::check(path).with_context(|| format!("--json {}", path.display()))?;
    }
    let selection = flags.build.selection()?;
    let user = Context::new(&selection, target_dir()?)?;
    hostdeps::ensure(&user.sh, user.arch, &hostdeps::ALL_STEPS, flags.build.install_deps)?;
    let ctx = Context::new(&selection, user.layout.bench_target(&user.selection.profile))?;
    let bench = Bench { selection, ctx, user, boots: flags.boots };
    let parts: Vec<BenchPart> = match flags.only {
        Some(part) => vec![part],
        None => DEFAULT_PARTS.to_vec(),
    };
    let mut report = Report { profile: bench.ctx.selection.profile.clone(), figures: Vec::new() };

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
            BenchPart::Rootfs => peers::host_root(&bench, &mut report)?,
            BenchPart::Peers => peers::virtme_ng(&bench, &mut report)?,
            BenchPart::Edit => peers::edit_loop(&bench, &mut report)?,
            BenchPart::Kunit => kunit::kunit(&bench, &mut report)?,
            BenchPart::Kselftest => peers::kselftests(&bench, &mut report)?,
            BenchPart::Ccache => builds::ccache(&bench, &mut report)?,
            BenchPart::Bisect => bisect::versus_by_hand(&bench, &built, &mut report)?,
            BenchPart::Sizes => builds::sizes(&bench, &built, &mut report)?,
        }
    }

    let jobs = bench.ctx.jobs;
    println!("benchmark, profile {}, {jobs} job(s):\n{}", report.profile, report.table());
    if let Some(path) = flags.json {
        let json = report.json()?;
        artifact::user_file::write(&path, json.as_bytes())
            .with_context(|| format!("--json {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}
