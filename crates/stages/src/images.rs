//! The images stage: the tutorial's root filesystem on top of BusyBox's install folder, as the
//! ext4 initrd, the cpio initramfs, and the hello-world initramfs.

use anyhow::Result;
use artifact::Fingerprint;
use rootfs::Tree;

use crate::{
    busybox::Busybox,
    context::Context,
    layout::ImagePaths,
    modules::Modules,
    stage::{Outcome, Stage},
};

/// The root filesystem every image and the benchmark are made from: one place, so that what is
/// measured is what is built. Your modules and overlays come over the tutorial's tree, overlays
/// last.
pub fn rootfs_tree(ctx: &Context, busybox: &Busybox, modules: Option<&Modules>) -> Result<Tree> {
    tree_with(ctx, busybox, modules, &overlays(ctx)?)
}

/// Your overlays, each read once for a build: its fingerprint and its tree come from one reading.
fn overlays(ctx: &Context) -> Result<Vec<Tree>> {
    ctx.selection.overlays.iter().map(|dir| Tree::user_overlay(dir)).collect()
}

fn tree_with(
    ctx: &Context,
    busybox: &Busybox,
    modules: Option<&Modules>,
    overlays: &[Tree],
) -> Result<Tree> {
    let mut tree = rootfs::tutorial_rootfs(&busybox.install_dir)?;
    // the runner's helper for warm starts, compiled for the guest as hello is
    let work = ctx.layout.images_work(ctx.variant().as_deref());
    let seed = rootfs::build_seed(&ctx.sh, &ctx.guest_cc(), &work)?;
    tree.add_file_host(rootfs::SEED_PATH, &seed, 0o755)?;
    for (path, host, mode) in modules.map(|m| m.files.as_slice()).unwrap_or_default() {
        tree.add_file_host(path, host, *mode)?;
    }
    for overlay in overlays {
        tree.add_tree(overlay)?;
    }
    Ok(tree)
}

/// Every file of every overlay, its path, mode and contents.
fn overlays_fingerprint(ctx: &Context, overlays: &[Tree], fp: &mut Fingerprint) -> Result<()> {
    for (dir, overlay) in ctx.selection.overlays.iter().zip(overlays) {
        fp.add("overlay", dir.to_string_lossy().as_bytes());
        for (path, entry) in overlay.iter() {
            fp.add("path", path.to_string_lossy().as_bytes()).add("mode", entry.mode.to_string());
            match &entry.kind {
                rootfs::Kind::File(rootfs::Contents::Host(host)) => {
                    fp.add_file("contents", host)?;
                }
                kind => {
                    fp.add("kind", format!("{kind:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Every input that reaches the images: BusyBox's build, this tool (with the rootfs files and the
/// hello program compiled in), the compiler for hello, sizes and times.
fn fingerprint(
    ctx: &Context,
    busybox: &Busybox,
    modules: Option<&Modules>,
    overlays: &[Tree],
) -> Result<Fingerprint> {
    let mut fp = Fingerprint::new("images");
    fp.add("modules", modules.map(|m| m.fingerprint.as_str()).unwrap_or("none"));
    overlays_fingerprint(ctx, overlays, &mut fp)?;
    fp.add("busybox", &busybox.fingerprint)
        .add("compression", ctx.selection.compression.to_string())
        .add("size-mib", ctx.selection.image_size_mib.to_string())
        .add("epoch", ctx.source_date_epoch.to_string())
        .add("cc", ctx.guest_cc());
    // the image code and the rootfs files compiled into it: a rebuilt tool rebuilds the images (a
    // second or two), so a change in the rootfs crate or its files always reaches them
    fp.add_file_identity("tool", &std::env::current_exe()?)?;
    Ok(fp)
}

pub fn build(
    ctx: &Context,
    busybox: &Busybox,
    modules: Option<&Modules>,
) -> Result<(ImagePaths, Outcome)> {
    let variant = ctx.variant();
    let mut images = ctx.layout.image_paths(ctx.selection.compression, variant.as_deref());
    // what the images are read from stays as it is while they are made
    let _modules = match modules {
        Some(m) => Some(artifact::Lock::acquire(&m.lock, "the modules")?),
        None => None,
    };
    let overlays = overlays(ctx)?;
    // an overlay can be too big for the initrd (whose RAM disk holds at most 64 MiB): the other
    // images are made, and the initrd boot says why it has none. Only an overlay can: the tree is
    // made before the stage only then.
    let tree = match overlays.is_empty() {
        true => None,
        false => Some(tree_with(ctx, busybox, modules, &overlays)?),
    };
    if let Some(tree) = &tree {
        images.initrd_skipped = rootfs::ext4_too_small(tree, ctx.selection.image_size_mib << 20)?
            .map(|why| format!("the initrd ({}) was not made: {why}", images.initrd.display()));
    }
    let stage = Stage {
        label: "the images".to_string(),
        fingerprint: fingerprint(ctx, busybox, modules, &overlays)?,
        stamp: ctx.layout.images_stamp(ctx.selection.compression, variant.as_deref()),
        outputs: images.all(),
        lock: ctx.layout.lock_for(&ctx.layout.image_set(variant.as_deref())),
    };
    let prepare = || match tree {
        Some(tree) => Ok(tree),
        None => tree_with(ctx, busybox, modules, &overlays),
    };
    let done = stage.run(prepare, |tree| write_images(ctx, &tree, &images, variant.as_deref()))?;
    Ok((images, done.outcome))
}

fn write_images(
    ctx: &Context,
    tree: &Tree,
    images: &ImagePaths,
    variant: Option<&str>,
) -> Result<()> {
    let mtime = ctx.source_date_epoch;
    let compression = ctx.selection.compression;
    let work = ctx.layout.images_work(variant);
    rootfs::write_initramfs_and_uncompressed(
        tree,
        mtime,
        compression,
        &images.initramfs,
        &images.initramfs_uncompressed,
    )?;
    eprintln!("images: {} ({} entries)", images.initramfs.display(), tree.len());
    match &images.initrd_skipped {
        Some(why) => {
            // an older initrd of another tree must not boot as this one's
            if images.initrd.exists() {
                std::fs::remove_file(&images.initrd)?;
            }
            eprintln!("images: {why}");
        }
        None => {
            let size = ctx.selection.image_size_mib << 20;
            rootfs::write_ext4(tree, &images.initrd, size, mtime, compression, &work)?;
            eprintln!(
                "images: {} ({} MiB ext4)",
                images.initrd.display(),
                ctx.selection.image_size_mib
            );
        }
    }
    rootfs::build_hello(&ctx.sh, &ctx.guest_cc(), &work, mtime, compression, &images.hello)?;
    eprintln!("images: {}", images.hello.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint of the overlays of a context whose one overlay is `dir`.
    fn overlays_hex(dir: &std::path::Path, target: &std::path::Path) -> String {
        let selection =
            crate::testing::selection("x86_64", "tiny", |s| s.overlays = vec![dir.into()]);
        let ctx = crate::testing::context(&selection, target.to_path_buf());
        let mut fp = Fingerprint::new("images");
        overlays_fingerprint(&ctx, &overlays(&ctx).unwrap(), &mut fp).unwrap();
        fp.hex()
    }

    #[test]
    fn an_edit_in_an_overlay_remakes_the_images() {
        use std::os::unix::fs::PermissionsExt;
        let target = crate::testing::scratch("overlay-target");
        let dir = crate::testing::scratch("overlay-files");
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/motd"), "hello\n").unwrap();
        let first = overlays_hex(&dir, &target);
        assert_eq!(overlays_hex(&dir, &target), first, "nothing changed, nothing to make");
        std::fs::write(dir.join("etc/motd"), "hello, world\n").unwrap();
        let edited = overlays_hex(&dir, &target);
        assert_ne!(edited, first, "the contents");
        std::fs::set_permissions(dir.join("etc/motd"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert_ne!(overlays_hex(&dir, &target), edited, "the mode");
        std::os::unix::fs::symlink("motd", dir.join("etc/issue")).unwrap();
        assert_ne!(overlays_hex(&dir, &target), edited, "a new link");
    }
}
