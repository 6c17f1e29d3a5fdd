//! The tutorial's first initramfs: one static program as `/init` that prints "Hello world!".

use std::{fs, path::Path};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use crate::{
    compress::{write_initramfs, Compression},
    tree::Tree,
};

const HELLO_C: &str = include_str!("../files/hello.c");
const SEED_C: &str = include_str!("../files/kardel-seed.c");

/// Where the images carry [`build_seed`]'s program.
pub const SEED_PATH: &str = "sbin/kardel-seed";

/// Compiles `files/kardel-seed.c` (the time and fresh randomness for a restored guest) with `cc`
/// in `work_dir`, and returns the program's path there. A program compiled from this source by
/// this compiler is kept: the root tree is made on every run that has overlays, and a compile
/// there would cost each of them a fraction of a second.
pub fn build_seed(sh: &Shell, cc: &str, work_dir: &Path) -> Result<std::path::PathBuf> {
    let dir = std::path::absolute(work_dir.join("seed"))
        .with_context(|| format!("resolving {}", work_dir.display()))?;
    let (source, program, made_by) =
        (dir.join("kardel-seed.c"), dir.join("kardel-seed"), dir.join("made-by"));
    let recipe = format!("{cc}\n{SEED_C}");
    if program.is_file() && fs::read_to_string(&made_by).is_ok_and(|r| r == recipe) {
        return Ok(program);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(&source, SEED_C).with_context(|| format!("writing {}", source.display()))?;
    compile_static(sh, cc, &source, &program).context("building kardel-seed")?;
    artifact::write_atomic(&made_by, |f| Ok(std::io::Write::write_all(f, recipe.as_bytes())?))?;
    Ok(program)
}

/// Compiles `files/hello.c` with `cc` (a compiler command, split at spaces, such as "gcc" or
/// "ccache gcc") into a static, stripped `/init`, and packs it with `dev/console` into
/// `out` with `compression`. The same compiler gives the same bytes from any folder: the binary
/// is stripped and carries no build id.
pub fn build_hello(
    sh: &Shell,
    cc: &str,
    work_dir: &Path,
    mtime: u64,
    compression: Compression,
    out: &Path,
) -> Result<()> {
    // absolute, since `sh` may sit in another folder than this process
    let work_dir = &std::path::absolute(work_dir)
        .with_context(|| format!("resolving {}", work_dir.display()))?;
    let dir = work_dir.join("hello");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = dir.join("hello.c");
    fs::write(&source, HELLO_C).with_context(|| format!("writing {}", source.display()))?;
    let init = dir.join("init");
    compile_static(sh, cc, &source, &init).context("building the hello-world init")?;

    let mut tree = Tree::new();
    tree.add_file_host("init", &init, 0o755)?;
    tree.add_char_device("dev/console", 5, 1, 0o600)?;
    write_initramfs(&tree, mtime, compression, out)
}

/// Compiles the C program `source` with `cc` (a compiler command, split at spaces, such as "gcc"
/// or "ccache gcc") into `out`: static, stripped, with no build id, so that the same compiler
/// gives the same bytes from any folder, and checked to have no program interpreter. `out` is
/// written whole or not at all.
pub fn compile_static(sh: &Shell, cc: &str, source: &Path, out: &Path) -> Result<()> {
    let cc: Vec<&str> = cc.split_whitespace().collect();
    let Some((compiler, compiler_args)) = cc.split_first() else { bail!("no C compiler given") };
    let tmp = artifact::temp_path(out);
    let compile = cmd!(
        sh,
        "{compiler} {compiler_args...} -static -O2 -s -Wl,--build-id=none -o {tmp} {source}"
    )
    .quiet();
    let compiled = compile.run().map_err(anyhow::Error::from).and_then(|()| check_static(&tmp));
    if let Err(err) = compiled {
        let _ = fs::remove_file(&tmp);
        return Err(err.context(format!("compiling `{compile}`")));
    }
    artifact::commit(&tmp, out)
}

/// Fails unless `path` is an ELF executable without a program interpreter: the initramfs holds
/// no dynamic loader, and a dynamic `/init` only shows up as a kernel panic at boot.
fn check_static(path: &Path) -> Result<()> {
    let elf = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(elf.starts_with(b"\x7fELF"), "{} is not an ELF file", path.display());
    let (is_64, little) = (elf.get(4) == Some(&2), elf.get(5) == Some(&1));
    ensure!(
        little,
        "{} is a big-endian ELF; every architecture this tool builds for is little-endian",
        path.display()
    );
    let read = |offset: usize, width: usize| -> Result<u64> {
        let bytes = elf.get(offset..offset + width).context("ELF file is truncated")?;
        Ok(bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let (phoff, phentsize, phnum) = if is_64 {
        (read(0x20, 8)?, read(0x36, 2)?, read(0x38, 2)?)
    } else {
        (read(0x1c, 4)?, read(0x2a, 2)?, read(0x2c, 2)?)
    };
    const PT_INTERP: u64 = 3;
    for index in 0..phnum {
        if read((phoff + index * phentsize) as usize, 4)? == PT_INTERP {
            bail!(
                "{} is dynamically linked (has a program interpreter); -static did not take",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_check_tells_dynamic_binaries() {
        // Any dynamic program on the host will do; /bin/sh is one on every distribution.
        let err = check_static(Path::new("/bin/sh")).unwrap_err();
        assert!(err.to_string().contains("dynamically linked"), "{err}");
        let err = check_static(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")));
        assert!(err.unwrap_err().to_string().contains("is not an ELF file"));
    }
}
