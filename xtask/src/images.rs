//! The images stage: the tutorial's root filesystem on top of BusyBox's install folder, as the
//! ext4 initrd, the cpio initramfs, and the hello-world initramfs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use artifact::{Fingerprint, Stamp};
use rootfs::Compression;

use crate::{busybox::Busybox, context::Context, flags::Compress, summary::Outcome};

pub struct Images {
    /// the ext4 initrd: rootfs.img.gz
    pub initrd: PathBuf,
    /// the BusyBox initramfs: rootfs.cpio.gz
    pub initramfs: PathBuf,
    /// the hello-world initramfs: hello.cpio.gz
    pub hello: PathBuf,
}

impl Images {
    pub fn all(&self) -> Vec<PathBuf> {
        vec![self.initrd.clone(), self.initramfs.clone(), self.hello.clone()]
    }
}

fn compression(ctx: &Context) -> Compression {
    match ctx.compress() {
        Compress::Gzip => Compression::Gzip,
        Compress::Zstd => Compression::Zstd,
    }
}

/// Where the images are (or will be), named as in the tutorial.
pub fn paths(ctx: &Context) -> Images {
    let ext = compression(ctx).extension();
    let dir = ctx.images_dir();
    Images {
        initrd: dir.join(format!("rootfs.img.{ext}")),
        initramfs: dir.join(format!("rootfs.cpio.{ext}")),
        hello: dir.join(format!("hello.cpio.{ext}")),
    }
}

/// Every input that reaches the images: BusyBox's build, this tool (with the rootfs files and the
/// hello program compiled in), the compiler for hello, sizes and times.
fn fingerprint(ctx: &Context, busybox: &Busybox) -> Result<Fingerprint> {
    let mut fp = Fingerprint::new("images");
    fp.add("busybox", &busybox.fingerprint)
        .add("compression", compression(ctx).to_string())
        .add("size-mib", ctx.image_size_mib.to_string())
        .add("epoch", ctx.source_date_epoch.to_string())
        .add("cc", hello_compiler());
    // the image code and the rootfs files compiled into it: a rebuilt tool rebuilds the images (a
    // second or two), so a change in the rootfs crate or its files always reaches them
    fp.add_file_identity("tool", &std::env::current_exe()?)?;
    Ok(fp)
}

fn hello_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "gcc".to_string())
}

pub fn build(ctx: &Context, busybox: &Busybox) -> Result<(Images, Outcome)> {
    let images = paths(ctx);
    let fp = fingerprint(ctx, busybox)?;
    let stamp = Stamp::new(
        ctx.images_dir().join(format!(".images-{}.stamp", compression(ctx).extension())),
    );
    let outputs = images.all();
    let output_refs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
    if stamp.is_fresh(&fp, &output_refs) {
        return Ok((images, Outcome::Reused));
    }
    stamp.invalidate()?;
    let mtime = ctx.source_date_epoch;
    let compression = compression(ctx);
    let work = ctx.work_dir().join("images");

    let tree = rootfs::tutorial_rootfs(&busybox.install_dir)?;
    rootfs::write_initramfs(&tree, mtime, compression, &images.initramfs)?;
    eprintln!("images: {} ({} entries)", images.initramfs.display(), tree.len());
    rootfs::write_ext4(&tree, &images.initrd, ctx.image_size_mib << 20, mtime, compression, &work)?;
    eprintln!("images: {} ({} MiB ext4)", images.initrd.display(), ctx.image_size_mib);
    rootfs::build_hello(&ctx.sh, &hello_compiler(), &work, mtime, compression, &images.hello)?;
    eprintln!("images: {}", images.hello.display());
    stamp.record(&fp)?;
    Ok((images, Outcome::Built))
}
