//! What every part of the benchmark measures with, and the helpers they share.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use qemu::AccelChoice;
use rootfs::Compression;
use stages::{busybox, hostdeps, images, kernel, pipeline::Built, Context, Selection};

use super::{child, report::Report};

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
}

/// The tutorial's command line on TCG, for `boot` on the built kernel and images.
pub fn tutorial_machine(
    ctx: &Context,
    built: &Built,
    boot: &'static boot::boots::Boot,
) -> Result<qemu::Machine> {
    let request = boot::Request::new(boot, boot::Speed::Tutorial);
    boot::machine::machine(ctx.site(), built, &request, &boot::Options::plain(AccelChoice::Tcg))
}

/// The same build with zstd images, made by the images stage itself, to say what zstd changes
/// in size and boot time.
pub fn zstd_built(bench: &Bench, built: &Built) -> Result<Built> {
    let (_, zstd_ctx) = bench.variant(|s| s.compression = Compression::Zstd)?;
    let (kernel, busybox) = (kernel::build(&zstd_ctx)?.0, busybox::build(&zstd_ctx)?.0);
    let (images, _) = images::build(&zstd_ctx, &built.busybox, None)?;
    Ok(Built { kernel, busybox, images })
}

pub fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let value = work()?;
    Ok((value, start.elapsed()))
}

/// A folder the bench starts afresh.
pub fn remove_dir_if_present(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Why a row cannot be measured on this host, if it cannot: what it lacks.
pub fn missing_on_host(
    ctx: &Context,
    arch: &'static arch::Arch,
    steps: &[hostdeps::Step],
) -> Option<String> {
    hostdeps::missing(&ctx.sh, arch, steps)
}

/// A file's size in bytes, for the report.
pub fn size_of(path: &Path) -> Result<f64> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(meta.len() as f64)
}

/// Every other row of the architecture table this host can build and boot, with the bench's
/// selection for it; a row it cannot (no QEMU, no cross compiler) is said so in the report.
pub fn other_arches(bench: &Bench, report: &mut Report) -> Vec<(&'static arch::Arch, Selection)> {
    let mut rows = Vec::new();
    for arch in arch::all().filter(|a| a.name != bench.ctx.arch.name) {
        if let Some(why) = missing_on_host(&bench.ctx, arch, &hostdeps::ALL_STEPS) {
            report.not_measured("arches", &arch.name, why);
            continue;
        }
        let mut selection = bench.selection.clone();
        selection.arch = arch.name.clone();
        rows.push((arch, selection));
    }
    rows
}
