//! The modules stage: your out-of-tree kernel modules (`--module DIR`), built against the kernel
//! that boots (`make -C <kernel build> M=<dir> modules`, the same ARCH and CROSS_COMPILE), with
//! the folder's `*-test.c` programs built static for the guest. What it leaves goes into the
//! images under `/lib/modules/<release>/extra/` with a `modules.dep` for BusyBox's modprobe, and
//! the test programs under `/usr/bin/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use artifact::Fingerprint;
use xshell::cmd;

use crate::{
    context::Context,
    kernel::Kernel,
    layout::ModuleFiles,
    selection::module_name,
    stage::{Outcome, Stage},
};

/// What the modules stage adds to the images.
pub struct Modules {
    /// (path in the image, file on the host, mode)
    pub files: Vec<(String, PathBuf, u32)>,
    pub fingerprint: String,
    /// the stage's lock: the images stage holds it while it reads `files`
    pub lock: PathBuf,
}

impl Modules {
    /// The modules as a newc archive of their image paths, for a guest to unpack at `/` (a saved
    /// machine's image cannot hold them: `build_modules_apart` in the pipeline).
    pub fn archive(&self, mtime: u64) -> Result<Vec<u8>> {
        let _held = artifact::Lock::acquire(&self.lock, "the modules")?;
        let mut tree = rootfs::Tree::new();
        for (path, host, mode) in &self.files {
            tree.add_file_host(path, host, *mode)?;
        }
        let mut archive = Vec::new();
        rootfs::write_cpio(&tree, mtime, &mut archive)?;
        Ok(archive)
    }
}

/// Build products kbuild leaves in a module folder: never copied, never fingerprinted.
fn is_build_product(name: &str) -> bool {
    name.starts_with('.')
        || [".o", ".ko", ".mod", ".mod.c", ".mod.o", ".symvers", ".order", ".a"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || name == "Module.symvers"
        || name == "modules.order"
}

fn sources_of(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let here = dir.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&here)
        .with_context(|| format!("reading {}", here.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_build_product(&name) {
            continue;
        }
        let rel = rel.join(&name);
        if entry.file_type()?.is_dir() {
            sources_of(dir, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// One module folder and its source files, relative to it (build products left out).
struct Folder<'a> {
    dir: &'a Path,
    name: String,
    files: Vec<PathBuf>,
}

pub fn build(ctx: &Context, kernel: &Kernel) -> Result<(Modules, Outcome)> {
    let mut folders = Vec::new();
    for dir in &ctx.selection.modules {
        let mut files = Vec::new();
        sources_of(dir, Path::new(""), &mut files)?;
        folders.push(Folder { dir, name: module_name(dir), files });
    }
    let mut fingerprint = Fingerprint::new("modules");
    fingerprint.add("kernel", &kernel.fingerprint).add("cc", ctx.guest_cc());
    for folder in &folders {
        fingerprint.add("module", &folder.name);
        for file in &folder.files {
            fingerprint.add("file", file.to_string_lossy().as_bytes());
            fingerprint.add_file("contents", &folder.dir.join(file))?;
        }
    }
    let variant = ctx.variant().expect("modules make a variant");
    let out = ctx.layout.modules(&ctx.kernel_flavour(), &variant);
    let stage = Stage {
        label: "the modules".to_string(),
        fingerprint,
        stamp: out.stamp.clone(),
        outputs: vec![out.dep.clone()],
        lock: ctx.layout.lock_for(&out.dir),
    };
    let lock = stage.lock.clone();
    let work = ctx.layout.modules_build(&variant);
    let done = stage.run(|| Ok(()), |()| build_all(ctx, kernel, &folders, &out, &work))?;
    let files = listing(&out, &kernel.release)?;
    Ok((Modules { files, fingerprint: done.fingerprint, lock }, done.outcome))
}

fn build_all(
    ctx: &Context,
    kernel: &Kernel,
    folders: &[Folder],
    out: &ModuleFiles,
    work: &Path,
) -> Result<()> {
    if out.dir.exists() {
        std::fs::remove_dir_all(&out.dir)
            .with_context(|| format!("removing {}", out.dir.display()))?;
    }
    std::fs::create_dir_all(&out.extra)?;
    std::fs::create_dir_all(&out.bin)?;
    let sh = &ctx.sh;
    // which folder built each .ko: two of one name would overwrite each other in the image
    let mut built_by: Vec<(std::ffi::OsString, &Path)> = Vec::new();
    let build_dir = &kernel.build_dir;
    // the kernel's own toolchain and flags
    let vars = &crate::kernel::make_variables(ctx);
    let jobs = format!("-j{}", ctx.jobs);
    for Folder { dir, name, files } in folders {
        // a copy, so that kbuild's objects never land in your folder; named by its folder, in
        // the build folder the layout gave
        let copy = work.join(name); // tidy: allow
        if copy.exists() {
            std::fs::remove_dir_all(&copy)?;
        }
        for file in files {
            let to = copy.join(file);
            std::fs::create_dir_all(to.parent().expect("a file has a folder"))?;
            std::fs::copy(dir.join(file), &to)
                .with_context(|| format!("copying {}", dir.join(file).display()))?;
        }
        let log = ctx.layout.log(&format!("module-{name}"));
        let ccache_env = match &ctx.ccache {
            // the compiler's errors name the copy's files by their absolute path, which becomes
            // your folder's below
            Some(ccache) => ccache.env_keeping_paths(&crate::kbuild::ccache_log(&log))?,
            None => Vec::new(),
        };
        let make =
            cmd!(sh, "make -C {build_dir} M={copy} {vars...} {jobs} modules").envs(ccache_env);
        exec::run_logged(make, &log, &format!("module {name}"))
            // the compiler names the copy's files: name yours
            .map_err(|err| {
                anyhow::anyhow!(
                    "{}",
                    format!("{err:#}")
                        .replace(&copy.display().to_string(), &dir.display().to_string())
                )
            })?;
        let mut built = 0;
        for entry in std::fs::read_dir(&copy)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "ko") {
                let ko = path.file_name().expect("a file").to_os_string();
                if let Some((_, other)) = built_by.iter().find(|(name, _)| *name == ko) {
                    bail!(
                        "--module {} and --module {} both build {}: one would replace the other",
                        other.display(),
                        dir.display(),
                        ko.to_string_lossy()
                    );
                }
                std::fs::copy(&path, out.extra.join(&ko))?;
                built_by.push((ko, dir));
                built += 1;
            }
        }
        if built == 0 {
            bail!("--module {}: make built no .ko (is obj-m set in its Kbuild?)", dir.display());
        }
        for file in files.iter().filter(|f| f.to_string_lossy().ends_with("-test.c")) {
            let program = file.file_stem().expect("a name").to_string_lossy().into_owned();
            let source = dir.join(file);
            rootfs::compile_static(sh, &ctx.guest_cc(), &source, &out.bin.join(&program))
                .with_context(|| format!("building the test program {}", source.display()))?;
        }
    }
    let dep = modules_dep(&out.extra)?;
    std::fs::write(&out.dep, dep)?;
    Ok(())
}

/// `modules.dep` for BusyBox's modprobe: each module with the modules its `depends=` names.
fn modules_dep(extra: &Path) -> Result<String> {
    let mut kos: Vec<PathBuf> =
        std::fs::read_dir(extra)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
    kos.sort();
    let mut lines = String::new();
    for ko in &kos {
        let bytes = std::fs::read(ko).with_context(|| format!("reading {}", ko.display()))?;
        let file = ko.file_name().expect("a file").to_string_lossy();
        let deps: Vec<String> = modinfo_field(&bytes, "depends")
            .map(|list| {
                list.split(',').filter(|d| !d.is_empty()).map(|d| format!("extra/{d}.ko")).collect()
            })
            .unwrap_or_default();
        lines.push_str(&format!("extra/{file}: {}\n", deps.join(" ")).replace(": \n", ":\n"));
    }
    Ok(lines)
}

/// A `key=value` string of a module's .modinfo section, found by its `key=` prefix.
pub fn modinfo_field<'a>(ko: &'a [u8], key: &str) -> Option<&'a str> {
    let needle = format!("\0{key}=");
    let start = ko.windows(needle.len()).position(|w| w == needle.as_bytes())? + needle.len();
    let end = ko[start..].iter().position(|&b| b == 0)? + start;
    std::str::from_utf8(&ko[start..end]).ok()
}

/// What the stage left, as image entries.
fn listing(out: &ModuleFiles, release: &str) -> Result<Vec<(String, PathBuf, u32)>> {
    let mut files = vec![(format!("lib/modules/{release}/modules.dep"), out.dep.clone(), 0o644)];
    for (folder, into, mode) in [
        (&out.extra, format!("lib/modules/{release}/extra"), 0o644),
        (&out.bin, "usr/bin".to_string(), 0o755),
    ] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        entries.sort();
        for path in entries {
            let name = path.file_name().expect("a file").to_string_lossy().into_owned();
            files.push((format!("{into}/{name}"), path, mode));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_fields_are_read_from_the_section_bytes() {
        let ko = b"\x7fELF...\0license=GPL\0depends=foo,bar\0vermagic=6.1.0 SMP\0";
        assert_eq!(modinfo_field(ko, "depends"), Some("foo,bar"));
        assert_eq!(modinfo_field(ko, "license"), Some("GPL"));
        assert_eq!(modinfo_field(ko, "alias"), None);
    }

    #[test]
    fn build_products_are_not_sources() {
        for name in [
            "hello.o",
            "hello.ko",
            "hello.mod.c",
            ".hello.o.cmd",
            "Module.symvers",
            "modules.order",
        ] {
            assert!(is_build_product(name), "{name}");
        }
        for name in ["hello.c", "Kbuild", "Makefile", "echodev-test.c", "README.md"] {
            assert!(!is_build_product(name), "{name}");
        }
    }
}
