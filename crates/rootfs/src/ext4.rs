//! The initrd: an ext4 image of a [`Tree`], made without root, loop mounts or fakeroot.
//!
//! `mke2fs` makes an empty filesystem, then one `debugfs -w -f SCRIPT` run creates every entry
//! in tree order (`mkdir`, `write`, `symlink`, `mknod`) and sets each inode's mode, owner and
//! times explicitly. Nothing is copied from a staging folder with `mke2fs -d`, because that
//! takes owners, ctimes and xattrs from the host and, depending on the e2fsprogs version, the
//! order of its directory listing, none of which belong in the image. Whatever the folder and
//! whoever runs it, the same tree and mtime give the same bytes.

use std::{
    fs,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    process::Output,
};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use crate::{
    compress::{compress, Compression},
    tree::{Contents, Entry, Kind, Tree},
};

/// The tutorial's image size.
pub const DEFAULT_EXT4_SIZE: u64 = 32 << 20;

/// The largest image the kernel's ram disk holds: the tutorial's `CONFIG_BLK_DEV_RAM_SIZE=65536`
/// (KiB). A larger image is cut short when the kernel loads it.
pub const RAMDISK_SIZE_LIMIT: u64 = 65536 << 10;

const MIB: u64 = 1 << 20;
const BLOCK_SIZE: u64 = 1024;

/// Fixed identity, so two builds do not differ by a random UUID or directory hash seed.
const FS_UUID: &str = "6b2c5e0a-3f41-4b8e-9d27-5c0f1a7e4d19";
const HASH_SEED: &str = "0d1e2f30-4152-4637-8899-aabbccddeeff";

/// mke2fs's settings, written to a file of our own so that the host's /etc/mke2fs.conf (which
/// differs between distributions and releases) cannot change the image. The geometry is what
/// `mkfs.ext4` picks for the tutorial's 32 MiB (the "small" type: 1 KiB blocks, one inode per
/// 4 KiB); the features are the long-standing ext4 defaults, all supported by Linux 5.15, so no
/// newer default such as orphan_file sneaks in. mke2fs looks up "small" and "floppy" for images
/// this size and warns when they are missing, so they are here, repeating the defaults.
const MKE2FS_CONF: &str = "\
[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	blocksize = 1024
	inode_size = 256
	inode_ratio = 4096

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		inode_ratio = 4096
	}
	floppy = {
		inode_ratio = 4096
	}
";

/// Writes `tree` as an ext4 image of `size_bytes` (a whole number of MiB, at most
/// [`RAMDISK_SIZE_LIMIT`]), compressed (gzip like `gzip --best`, or zstd) to `out`, atomically. Every inode is
/// owned as the tree says (0:0 for the tutorial), carries `mtime` (SOURCE_DATE_EPOCH) as all of
/// its times, and the image is checked with `e2fsck -fn`. Scratch files, the raw image and the
/// debugfs script stay in `work_dir/ext4` for inspection.
pub fn write_ext4(
    tree: &Tree,
    out: &Path,
    size_bytes: u64,
    mtime: u64,
    compression: Compression,
    work_dir: &Path,
) -> Result<()> {
    let image = build_image(tree, size_bytes, mtime, work_dir, true)?;
    artifact::write_atomic(out, |file| {
        let input =
            fs::File::open(&image).with_context(|| format!("opening {}", image.display()))?;
        compress(compression, input, file)
            .with_context(|| format!("compressing {} to {}", image.display(), out.display()))
    })
}

/// Why `tree` does not fit an ext4 image of `size_bytes`, if it does not: the same estimate
/// [`write_ext4`] refuses by, before any file is written.
pub fn ext4_too_small(tree: &Tree, size_bytes: u64) -> Result<Option<String>> {
    let needs = Needs::of(tree)?;
    let fits = Capacity::of(size_bytes / BLOCK_SIZE).holds(&needs);
    Ok((!fits).then(|| too_small(size_bytes, &needs)))
}

/// Makes the raw image in `work_dir/ext4/rootfs.img` and returns its path. `check_estimate`
/// off lets tests reach the filesystem's own out-of-space failure.
fn build_image(
    tree: &Tree,
    size_bytes: u64,
    mtime: u64,
    work_dir: &Path,
    check_estimate: bool,
) -> Result<PathBuf> {
    ensure!(
        size_bytes.is_multiple_of(MIB) && size_bytes > 0,
        "ext4 image size {size_bytes} is not a whole number of MiB"
    );
    ensure!(
        size_bytes <= RAMDISK_SIZE_LIMIT,
        "a {} MiB ext4 image does not fit the kernel's ram disk \
         (CONFIG_BLK_DEV_RAM_SIZE=65536 KiB holds {} MiB)",
        size_bytes / MIB,
        RAMDISK_SIZE_LIMIT / MIB
    );
    if let Some(entry) = tree.get(LOST_FOUND) {
        ensure!(entry.is_dir(), "{LOST_FOUND} must be a directory in an ext4 image");
    }
    let blocks = size_bytes / BLOCK_SIZE;
    let needs = Needs::of(tree)?;
    if check_estimate && !Capacity::of(blocks).holds(&needs) {
        bail!(too_small(size_bytes, &needs));
    }

    // absolute, since the e2fsprogs commands run in this folder and name files in it
    let dir = std::path::absolute(work_dir.join("ext4"))
        .with_context(|| format!("resolving {}", work_dir.display()))?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let blobs = dir.join("blobs");
    fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let conf = dir.join("mke2fs.conf");
    fs::write(&conf, MKE2FS_CONF).with_context(|| format!("writing {}", conf.display()))?;
    let blob_names = stage_files(tree, &blobs)?;
    let script_path = dir.join("debugfs.cmds");
    let script = debugfs_script(tree, &blob_names, mtime)?;
    fs::write(&script_path, &script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let image = dir.join("rootfs.img");

    let sh = Shell::new()?;
    // debugfs's `write` names its sources relative to its working folder: the script then reads
    // the same whatever work_dir is.
    sh.change_dir(&dir);
    // e2fsprogs reads "now" from here for every time it stamps (superblock, new inodes); 0 means
    // "really now", so an epoch of 0 is stamped as 1 second (inode times are set exactly anyway).
    let fake_time = mtime.max(1).to_string();
    let ext_opts = format!(
        "hash_seed={HASH_SEED},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard"
    );
    let size_arg = format!("{}k", size_bytes / 1024);
    let env_shown = format!("MKE2FS_CONFIG={} E2FSPROGS_FAKE_TIME={fake_time} ", conf.display());
    let mke2fs = cmd!(sh, "mke2fs -q -F -t ext4 -U {FS_UUID} -E {ext_opts} {image} {size_arg}")
        .env("MKE2FS_CONFIG", &conf)
        .env("E2FSPROGS_FAKE_TIME", &fake_time)
        .env("LC_ALL", "C");
    run(mke2fs, &env_shown)?;

    let debugfs = cmd!(sh, "debugfs -w -f {script_path} {image}")
        .env("E2FSPROGS_FAKE_TIME", &fake_time)
        .env("LC_ALL", "C");
    let env_shown = format!("E2FSPROGS_FAKE_TIME={fake_time} ");
    let cmdline = format!("{env_shown}{debugfs}");
    let output = run(debugfs, &env_shown)?;
    let log = dir.join("debugfs.log");
    fs::write(&log, [&output.stdout[..], &output.stderr[..]].concat())
        .with_context(|| format!("writing {}", log.display()))?;
    // debugfs exits 0 whatever its commands do; its complaints go to stderr, after a version
    // banner ("debugfs 1.47.0 (5-Feb-2023)").
    let stderr = String::from_utf8_lossy(&output.stderr);
    let is_banner = |line: &str| {
        line.strip_prefix("debugfs ")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let complaints: Vec<&str> =
        stderr.lines().filter(|line| !is_banner(line) && !line.trim().is_empty()).collect();
    if !complaints.is_empty() {
        let text = complaints.join("\n");
        let out_of_space = ["Could not allocate", "No free space", "No space left"]
            .iter()
            .any(|marker| text.contains(marker));
        if out_of_space {
            bail!(
                "{}\n(the estimate was short; `{cmdline}` said:\n{text})",
                too_small(size_bytes, &needs)
            );
        }
        bail!(
            "`{cmdline}` failed (script {}, log {}):\n{text}",
            script_path.display(),
            log.display()
        );
    }

    verify(&sh, &image, tree)?;
    Ok(image)
}

/// Runs a short e2fsprogs command, failing with its command line and output unless it exits 0.
fn run(cmd: xshell::Cmd<'_>, env_shown: &str) -> Result<Output> {
    let cmdline = format!("{env_shown}{cmd}");
    let output =
        cmd.ignore_status().quiet().output().with_context(|| format!("cannot run `{cmdline}`"))?;
    if !output.status.success() {
        bail!(
            "`{cmdline}` failed ({})\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// The image's own check: `e2fsck -fn` finds nothing, and it holds one inode per tree entry
/// besides the reserved ones and lost+found.
fn verify(sh: &Shell, image: &Path, tree: &Tree) -> Result<()> {
    run(cmd!(sh, "e2fsck -fn {image}").env("LC_ALL", "C"), "")
        .context("the new ext4 image is not clean")?;
    let header = run(cmd!(sh, "dumpe2fs -h {image}").env("LC_ALL", "C"), "")?;
    let header = String::from_utf8_lossy(&header.stdout);
    let field = |name: &str| -> Result<u64> {
        header
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.trim().parse().ok())
            .with_context(|| format!("no {name:?} in `dumpe2fs -h {}`", image.display()))
    };
    let used = field("Inode count")? - field("Free inodes")?;
    let reused = u64::from(tree.get(LOST_FOUND).is_some());
    let expected = FIRST_INODE + tree.len() as u64 - reused;
    ensure!(
        used == expected,
        "{} uses {used} inodes, expected {expected} ({} entries + {FIRST_INODE} reserved)",
        image.display(),
        tree.len()
    );
    Ok(())
}

/// Inodes 1-10 are reserved and 11 is lost+found: a tree's first inode is the 12th.
const FIRST_INODE: u64 = 11;

/// mke2fs's own folder for e2fsck's finds; a tree may list it (its mode and owner then apply).
const LOST_FOUND: &str = "lost+found";

/// Writes every regular file's bytes to `blobs/NNNNNN`, numbered in tree order, and returns
/// those names in the same order (a host file is copied rather than named in the script, so the
/// script has no host paths to quote and stays the same between folders).
fn stage_files(tree: &Tree, blobs: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (path, entry) in tree.iter() {
        let Kind::File(contents) = &entry.kind else {
            continue;
        };
        let name = format!("blobs/{:06}", names.len());
        let staged = blobs.parent().expect("blobs has a parent").join(&name);
        match contents {
            Contents::Bytes(bytes) => fs::write(&staged, bytes).with_context(|| {
                format!("writing {} (for {})", staged.display(), path.display())
            })?,
            Contents::Host(host) => {
                fs::copy(host, &staged).with_context(|| {
                    format!("copying {} to {}", host.display(), staged.display())
                })?;
            }
        }
        names.push(name);
    }
    Ok(names)
}

/// The debugfs commands that create `tree` in an empty filesystem: directories before their
/// contents, each entry made in its parent (`cd`), then every inode's mode, owner and times set.
fn debugfs_script(tree: &Tree, blob_names: &[String], mtime: u64) -> Result<Vec<u8>> {
    let mut script = Vec::new();
    let mut cwd = PathBuf::from("/");
    let mut blobs = blob_names.iter();
    for (path, entry) in tree.iter() {
        let parent = Path::new("/").join(path.parent().unwrap_or(Path::new("")));
        if parent != cwd {
            line(&mut script, &[b"cd", &quote(parent.as_os_str().as_bytes())?]);
            cwd = parent;
        }
        let name = quote(path.file_name().expect("tree paths have names").as_bytes())?;
        match &entry.kind {
            Kind::Dir if path == Path::new(LOST_FOUND) => {} // made by mke2fs
            Kind::Dir => line(&mut script, &[b"mkdir", &name]),
            Kind::File(_) => {
                let blob = blobs.next().context("fewer staged files than tree files")?;
                line(&mut script, &[b"write", blob.as_bytes(), &name]);
            }
            Kind::Symlink(target) => {
                line(&mut script, &[b"symlink", &name, &quote(target.as_os_str().as_bytes())?]);
            }
            Kind::CharDev { major, minor } => {
                let numbers = format!("c {major} {minor}");
                line(&mut script, &[b"mknod", &name, numbers.as_bytes()]);
            }
        }
    }
    let root = Entry::new(Kind::Dir, 0o755);
    let lost_found = Entry::new(Kind::Dir, 0o700);
    let fixed: [(&Path, &Entry); 2] =
        [(Path::new(""), &root), (Path::new(LOST_FOUND), &lost_found)];
    for (path, entry) in fixed.into_iter().chain(tree.iter()) {
        let target = quote(Path::new("/").join(path).as_os_str().as_bytes())?;
        let mut fields = vec![
            format!("mode 0{:o}", entry.type_bits() | entry.mode),
            format!("uid {}", entry.uid),
            format!("gid {}", entry.gid),
        ];
        for time in ["atime", "mtime", "ctime", "crtime"] {
            fields.push(format!("{time} @{mtime}"));
        }
        for field in fields {
            line(&mut script, &[b"set_inode_field", &target, field.as_bytes()]);
        }
    }
    Ok(script)
}

/// Appends one debugfs command line made of `words`.
fn line(script: &mut Vec<u8>, words: &[&[u8]]) {
    script.extend_from_slice(&words.join(&b' '));
    script.push(b'\n');
}

/// One debugfs argument: double quotes, with a quote inside doubled (debugfs's command parser
/// reads `""` in a quoted word as one `"`). A line break cannot be written at all.
fn quote(arg: &[u8]) -> Result<Vec<u8>> {
    ensure!(
        !arg.contains(&b'\n') && !arg.contains(&0),
        "{:?}: a name with a line break cannot go through debugfs",
        String::from_utf8_lossy(arg)
    );
    let mut out = vec![b'"'];
    for &byte in arg {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
    Ok(out)
}

// -- how much room a tree needs, and how much an image has ----------------------------------

/// Blocks and inodes a tree takes in the image, counted from above: file data as debugfs writes
/// it (whole blocks, all-zero blocks left as holes), extent blocks for files and directories
/// that may need more extents than an inode holds, directory blocks from the entries' sizes,
/// symlinks too long to sit in the inode.
#[derive(Debug, Default, PartialEq, Eq)]
struct Needs {
    blocks: u64,
    inodes: u64,
}

impl Needs {
    fn of(tree: &Tree) -> Result<Needs> {
        let mut needs = Needs { blocks: 0, inodes: tree.len() as u64 };
        // The root's first block is part of an empty filesystem already; lost+found is in it.
        let root_names = std::iter::once(LOST_FOUND.len()).chain(
            tree.children(Path::new(""))
                .filter(|(p, _)| *p != Path::new(LOST_FOUND))
                .map(|(p, _)| name_len(p)),
        );
        needs.blocks += dir_blocks(root_names) - 1;
        for (path, entry) in tree.iter() {
            needs.blocks += match &entry.kind {
                // mke2fs's lost+found has room for far more than a tree would put there
                Kind::Dir if path == Path::new(LOST_FOUND) => 0,
                Kind::Dir => dir_blocks(tree.children(path).map(|(p, _)| name_len(p))),
                Kind::File(Contents::Bytes(bytes)) => file_blocks(&bytes[..])
                    .with_context(|| format!("reading {}", path.display()))?,
                Kind::File(Contents::Host(host)) => {
                    let file = fs::File::open(host)
                        .with_context(|| format!("opening {}", host.display()))?;
                    file_blocks(std::io::BufReader::new(file))
                        .with_context(|| format!("reading {}", host.display()))?
                }
                // Targets shorter than 60 bytes live in the inode itself ("fast" symlinks).
                Kind::Symlink(target) => match target.as_os_str().len() as u64 {
                    len if len < 60 => 0,
                    len => len.div_ceil(BLOCK_SIZE),
                },
                Kind::CharDev { .. } => 0,
            };
        }
        Ok(needs)
    }
}

fn name_len(path: &Path) -> usize {
    path.file_name().map_or(0, |name| name.len())
}

/// Blocks of a linear directory holding entries with these name lengths, besides `.` and `..`:
/// each entry takes 8 bytes plus its name rounded up to 4, none spans two blocks, and every
/// block ends in a 12-byte checksum tail (metadata_csum). A directory grows one block at a time
/// between other files' data, so each block may be an extent of its own.
fn dir_blocks(name_lens: impl Iterator<Item = usize>) -> u64 {
    let usable = BLOCK_SIZE as usize - 12;
    let (mut blocks, mut used) = (1, 24);
    for len in name_lens {
        let size = 8 + len.div_ceil(4) * 4;
        if used + size > usable {
            blocks += 1;
            used = 0;
        }
        used += size;
    }
    blocks + extent_blocks(blocks)
}

/// Blocks a file takes as debugfs writes it: its blocks that are not all zeros, plus extent
/// blocks. Extents: one per run of data blocks, plus one wherever a run may be cut by a group's
/// metadata (allocation is otherwise sequential in a fresh filesystem).
fn file_blocks(mut input: impl std::io::Read) -> std::io::Result<u64> {
    let mut block = vec![0u8; BLOCK_SIZE as usize];
    let (mut data, mut runs, mut in_run, mut total) = (0u64, 0u64, false, 0u64);
    loop {
        let mut filled = 0;
        while filled < block.len() {
            match input.read(&mut block[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        total += 1;
        let is_data = block[..filled].iter().any(|&b| b != 0);
        if is_data {
            data += 1;
            runs += u64::from(!in_run);
        }
        in_run = is_data;
    }
    let extents = runs + total.div_ceil(4096);
    Ok(data + if extents > 4 { extent_blocks(extents) } else { 0 })
}

/// Extent tree blocks for up to `extents` extents, past the 4 an inode holds: one leaf block per
/// 84 extents (1 KiB blocks), and an index block above them when there are more than 4 leaves.
fn extent_blocks(extents: u64) -> u64 {
    match extents {
        0..=4 => 0,
        _ => extents.div_ceil(84) + u64::from(extents > 4 * 84),
    }
}

/// What an empty filesystem made by our mke2fs settings offers. The layout model (block 0, the
/// journal, inode tables, bitmaps, superblock and descriptor backups, root and lost+found) is
/// checked against `dumpe2fs` in the tests, to the block.
#[derive(Debug, PartialEq, Eq)]
struct Capacity {
    free_blocks: u64,
    free_inodes: u64,
}

impl Capacity {
    fn of(blocks: u64) -> Capacity {
        const BLOCKS_PER_GROUP: u64 = 8 * BLOCK_SIZE;
        const DESCRIPTORS_PER_BLOCK: u64 = BLOCK_SIZE / 64;
        const INODES_PER_BLOCK: u64 = BLOCK_SIZE / 256;
        let first_data_block = 1; // with 1 KiB blocks, block 0 is the boot block
        let groups = (blocks - first_data_block).div_ceil(BLOCKS_PER_GROUP);
        let inodes_per_group = (blocks * BLOCK_SIZE / 4096 / groups) & !7;
        let inodes = inodes_per_group * groups;
        let inode_table = inodes / INODES_PER_BLOCK;
        let descriptor_blocks = groups.div_ceil(DESCRIPTORS_PER_BLOCK);
        // Room for the descriptors of a filesystem grown 1024-fold, at most one block of pointers.
        let max_groups =
            ((blocks * 1024).min(u32::MAX as u64) - first_data_block).div_ceil(BLOCKS_PER_GROUP);
        let reserved_descriptor_blocks =
            (max_groups.div_ceil(DESCRIPTORS_PER_BLOCK) - descriptor_blocks).min(BLOCK_SIZE / 4);
        let superblock_copies = (0..groups).filter(|&g| has_superblock(g)).count() as u64;
        let overhead = first_data_block
            + journal_blocks(blocks)
            + inode_table
            + 2 * groups // block and inode bitmaps
            + superblock_copies * (1 + descriptor_blocks + reserved_descriptor_blocks)
            + 1 // root directory
            + 12 // lost+found, pre-grown by mke2fs
            + 1; // resize inode's indirect block
        Capacity {
            free_blocks: blocks.saturating_sub(overhead),
            free_inodes: inodes.saturating_sub(FIRST_INODE),
        }
    }

    fn holds(&self, needs: &Needs) -> bool {
        needs.blocks <= self.free_blocks && needs.inodes <= self.free_inodes
    }
}

/// sparse_super: superblock copies live in groups 0, 1 and powers of 3, 5 and 7.
fn has_superblock(group: u64) -> bool {
    let is_power = |mut n: u64, base: u64| {
        while n.is_multiple_of(base) {
            n /= base;
        }
        n == 1
    };
    group <= 1 || is_power(group, 3) || is_power(group, 5) || is_power(group, 7)
}

/// mke2fs's default journal size (in blocks) for a filesystem of `blocks`.
fn journal_blocks(blocks: u64) -> u64 {
    match blocks {
        0..2048 => 0,
        2048..32768 => 1024,
        32768..262144 => 4096,
        262144..524288 => 8192,
        524288..4194304 => 16384,
        _ => 32768,
    }
}

/// The error for a tree that does not fit: how big an image it needs, found with the same model
/// (the smallest whole MiB above `size_bytes` that holds it; a larger image may have a larger
/// journal, so a smaller size that happens to fit is not offered).
fn too_small(size_bytes: u64, needs: &Needs) -> String {
    const SEARCH_LIMIT_MIB: u64 = 4096;
    let have = Capacity::of(size_bytes / BLOCK_SIZE);
    let what = format!(
        "{} KiB of data and {} inodes; a {} MiB image has room for {} KiB and {} inodes",
        needs.blocks,
        needs.inodes,
        size_bytes / MIB,
        have.free_blocks,
        have.free_inodes
    );
    let fits = (size_bytes / MIB + 1..=SEARCH_LIMIT_MIB)
        .find(|mib| Capacity::of(mib * MIB / BLOCK_SIZE).holds(needs));
    match fits {
        Some(mib) if mib * MIB > RAMDISK_SIZE_LIMIT => format!(
            "the tree does not fit in a {} MiB ext4 image: it needs {mib} MiB ({what}), more than \
             the kernel's {} MiB ram disk holds",
            size_bytes / MIB,
            RAMDISK_SIZE_LIMIT / MIB
        ),
        Some(mib) => format!(
            "the tree does not fit in a {} MiB ext4 image: it needs {mib} MiB ({what})",
            size_bytes / MIB
        ),
        None => format!(
            "the tree does not fit in a {} MiB ext4 image: it needs more than {SEARCH_LIMIT_MIB} \
             MiB ({what})",
            size_bytes / MIB
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capacity model against what mke2fs really makes, for sizes around every step of the
    /// layout (journal sizes, group counts, the cap on reserved descriptor blocks).
    #[test]
    fn capacity_model_matches_mke2fs() {
        let sh = Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let conf = dir.path().join("mke2fs.conf");
        fs::write(&conf, MKE2FS_CONF).unwrap();
        for mib in [1u64, 2, 3, 8, 9, 17, 31, 32, 33, 48, 63, 64, 100] {
            let image = dir.path().join(format!("{mib}.img"));
            let size = format!("{}k", mib * 1024);
            cmd!(sh, "mke2fs -q -F -t ext4 -E lazy_itable_init=0,nodiscard {image} {size}")
                .env("MKE2FS_CONFIG", &conf)
                .quiet()
                .run()
                .unwrap();
            let header = cmd!(sh, "dumpe2fs -h {image}").quiet().ignore_stderr().read().unwrap();
            let field = |name: &str| -> u64 {
                let line = header.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap();
                line.split(':').nth(1).unwrap().trim().parse().unwrap()
            };
            let actual =
                Capacity { free_blocks: field("Free blocks"), free_inodes: field("Free inodes") };
            assert_eq!(Capacity::of(mib * 1024), actual, "{mib} MiB");
        }
    }

    fn free_blocks(sh: &Shell, image: &Path) -> u64 {
        let header = cmd!(sh, "dumpe2fs -h {image}").quiet().ignore_stderr().read().unwrap();
        let line = header.lines().find(|l| l.starts_with("Free blocks:")).unwrap();
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    }

    /// A tree with what makes block counting hard (a large file with holes, many small files,
    /// a directory spilling over several blocks, long and short symlinks) takes no more blocks
    /// than [`Needs`] says, and hardly fewer (4529 taken, 4530 estimated when written).
    #[test]
    fn needs_bound_what_the_tree_takes() {
        let sh = Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let mut tree = Tree::new();
        let mut big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        big[1_000_000..1_200_000].fill(0);
        tree.add_file_bytes("bin/busybox", big, 0o755).unwrap();
        for i in 0..300 {
            tree.add_symlink(
                format!("usr/bin/a-rather-long-applet-name-{i:03}"),
                "../../bin/busybox",
            )
            .unwrap();
            tree.add_file_bytes(format!("etc/conf{i}"), vec![b'x'; i * 37], 0o644).unwrap();
        }
        tree.add_symlink("long", "x".repeat(200)).unwrap();
        let needs = Needs::of(&tree).unwrap();
        let image = build_image(&tree, 16 * MIB, 1, dir.path(), true).unwrap();
        let taken = Capacity::of(16 * 1024).free_blocks - free_blocks(&sh, &image);
        assert!(taken <= needs.blocks, "took {taken} blocks, estimated {}", needs.blocks);
        assert!(
            needs.blocks <= taken + taken / 100,
            "took {taken} blocks, estimated {}",
            needs.blocks
        );
    }

    /// When the estimate is short after all, the filesystem's own failure says what to do too.
    #[test]
    fn out_of_space_in_debugfs_is_reported_as_too_small() {
        let sh = Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let mut tree = Tree::new();
        tree.add_file_bytes("big", vec![1u8; 5 << 20], 0o644).unwrap();
        let err = build_image(&tree, 4 * MIB, 1, dir.path(), false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("does not fit in a 4 MiB ext4 image: it needs 7 MiB"), "{msg}");
        assert!(msg.contains("Could not allocate block"), "{msg}");
    }

    /// Names debugfs's parser would split or swallow arrive intact, and a tree may carry its own
    /// lost+found.
    #[test]
    fn awkward_names_survive() {
        let sh = Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let names = ["a b", "quote\"d", "#hash", "-dash", "ünïcode", "semi;colon", "back\\slash"];
        let mut tree = Tree::new();
        for name in names {
            tree.add_file_bytes(format!("odd/{name}"), name, 0o644).unwrap();
        }
        tree.add_symlink("odd/link", "a b").unwrap();
        tree.add_dir("lost+found", 0o755).unwrap();
        tree.add_file_bytes("lost+found/kept", "x", 0o600).unwrap();
        let image = build_image(&tree, 4 * MIB, 1, dir.path(), true).unwrap();
        let ls = |dir: &str| {
            let request = format!("ls -p {dir}");
            cmd!(sh, "debugfs -R {request} {image}").quiet().ignore_stderr().read().unwrap()
        };
        let listing = ls("/odd");
        let mut found: Vec<&str> = listing.lines().filter_map(|l| l.split('/').nth(5)).collect();
        found.retain(|n| *n != "." && *n != "..");
        let mut expected = names.to_vec();
        expected.push("link");
        found.sort();
        expected.sort();
        assert_eq!(found, expected);
        let root = ls("/");
        assert!(root.contains("/11/040755/0/0/lost+found//"), "{root}");
    }

    #[test]
    fn directory_blocks() {
        assert_eq!(dir_blocks(std::iter::empty()), 1);
        // 8 + 8 bytes each: 61 fit next to `.` and `..` in 1012 usable bytes
        assert_eq!(dir_blocks(std::iter::repeat_n(7, 61)), 1);
        assert_eq!(dir_blocks(std::iter::repeat_n(7, 62)), 2);
        // 5 blocks may be 5 extents: one more than the inode holds
        assert_eq!(dir_blocks(std::iter::repeat_n(7, 61 * 5)), 6);
    }

    #[test]
    fn file_blocks_skip_zeros_and_count_extents() {
        let check = |bytes: &[u8], expected: u64| {
            assert_eq!(file_blocks(bytes).unwrap(), expected, "{} bytes", bytes.len());
        };
        check(b"", 0);
        check(b"x", 1);
        check(&[0; 3000], 0);
        check(&[1; 3000], 3);
        // data, hole, data, hole, ...: 5 runs need an extent block
        let mut striped = vec![1u8; 10 * 1024];
        for hole in [1, 3, 5, 7] {
            striped[hole * 1024..(hole + 1) * 1024].fill(0);
        }
        check(&striped, 6 + 1);
    }

    #[test]
    fn script_quotes_and_orders() {
        let mut tree = Tree::new();
        tree.add_file_bytes("etc/a \"b\"", "x", 0o644).unwrap();
        tree.add_symlink("bin/sh", "busybox").unwrap();
        tree.add_char_device("dev/console", 5, 1, 0o600).unwrap();
        let blobs = vec!["blobs/000000".to_string()];
        let script = String::from_utf8(debugfs_script(&tree, &blobs, 7).unwrap()).unwrap();
        let creation: Vec<&str> =
            script.lines().filter(|l| !l.starts_with("set_inode_field")).collect();
        assert_eq!(
            creation,
            [
                "mkdir \"bin\"",
                "cd \"/bin\"",
                "symlink \"sh\" \"busybox\"",
                "cd \"/\"",
                "mkdir \"dev\"",
                "cd \"/dev\"",
                "mknod \"console\" c 5 1",
                "cd \"/\"",
                "mkdir \"etc\"",
                "cd \"/etc\"",
                "write blobs/000000 \"a \"\"b\"\"\"",
            ]
        );
        assert!(script.contains("set_inode_field \"/dev/console\" mode 020600\n"), "{script}");
        assert!(script.contains("set_inode_field \"/lost+found\" crtime @7\n"), "{script}");
        assert!(script.contains("set_inode_field \"/\" uid 0\n"), "{script}");
        assert!(quote(b"a\nb").is_err());
    }
}
