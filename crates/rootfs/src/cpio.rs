//! newc cpio ("070701"), the format the kernel unpacks an initramfs from: a writer that needs
//! neither root nor `find | cpio` (owners, modes, times and device numbers are header fields), and
//! a reader for checking what was written.

use std::{
    fmt,
    fs::File,
    io::{self, Read, Write},
    os::unix::ffi::OsStrExt,
    path::Path,
};

use anyhow::{bail, ensure, Context, Result};

use crate::tree::{Contents, Entry, Kind, Tree};

const MAGIC: &[u8; 6] = b"070701";
/// The same layout with a checksum field; the reader accepts it too.
const MAGIC_CRC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// Writes `tree` as a newc archive: entries in tree order (parents first), every entry stamped
/// with `mtime` (seconds since the epoch, from SOURCE_DATE_EPOCH), inode numbers counting up from
/// 1, so the same tree always gives the same bytes.
pub fn write_cpio(tree: &Tree, mtime: u64, mut out: impl Write) -> Result<()> {
    let mtime = u32::try_from(mtime)
        .map_err(|_| anyhow::anyhow!("mtime {mtime} does not fit a cpio header (32 bits)"))?;
    for (index, (path, entry)) in tree.iter().enumerate() {
        let ino = u32::try_from(index + 1).context("more than 2^32 entries")?;
        // Directories link to themselves and from each subdirectory's `..`; nothing else is
        // hard-linked, so the kernel never takes two entries for one file.
        let nlink = if entry.is_dir() {
            u32::try_from(2 + tree.subdir_count(path)).context("too many subdirectories")?
        } else {
            1
        };
        write_entry(&mut out, path, entry, ino, nlink, mtime)
            .with_context(|| format!("writing {} into the cpio archive", path.display()))?;
    }
    let trailer = Header { nlink: 1, ..Header::default() };
    write_header_and_name(&mut out, &trailer, TRAILER.as_bytes())?;
    Ok(())
}

#[derive(Default)]
struct Header {
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    rdev_major: u32,
    rdev_minor: u32,
}

fn write_entry(
    out: &mut impl Write,
    path: &Path,
    entry: &Entry,
    ino: u32,
    nlink: u32,
    mtime: u32,
) -> Result<()> {
    let name = path.as_os_str().as_bytes();
    let mut header = Header {
        ino,
        mode: entry.type_bits() | entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        nlink,
        mtime,
        ..Header::default()
    };
    match &entry.kind {
        Kind::Dir => write_header_and_name(out, &header, name),
        Kind::CharDev { major, minor } => {
            header.rdev_major = *major;
            header.rdev_minor = *minor;
            write_header_and_name(out, &header, name)
        }
        Kind::Symlink(target) => {
            let target = target.as_os_str().as_bytes();
            write_with_data(out, header, name, target, path)
        }
        Kind::File(Contents::Bytes(bytes)) => write_with_data(out, header, name, bytes, path),
        Kind::File(Contents::Host(host)) => {
            let mut file =
                File::open(host).with_context(|| format!("opening {}", host.display()))?;
            let len = file.metadata().with_context(|| format!("reading {}", host.display()))?.len();
            header.size = u32::try_from(len).map_err(|_| {
                anyhow::anyhow!(
                    "{} is {len} bytes, too big for a cpio entry (4 GiB)",
                    host.display()
                )
            })?;
            write_header_and_name(out, &header, name)?;
            let copied = io::copy(&mut (&mut file).take(len), out)
                .with_context(|| format!("copying {}", host.display()))?;
            ensure!(copied == len, "{} shrank while being archived", host.display());
            write_padding(out, copied as usize)
        }
    }
}

fn write_with_data(
    out: &mut impl Write,
    mut header: Header,
    name: &[u8],
    data: &[u8],
    path: &Path,
) -> Result<()> {
    header.size = u32::try_from(data.len()).map_err(|_| {
        anyhow::anyhow!(
            "{} is {} bytes, too big for a cpio entry (4 GiB)",
            path.display(),
            data.len()
        )
    })?;
    write_header_and_name(out, &header, name)?;
    out.write_all(data)?;
    write_padding(out, data.len())
}

fn write_header_and_name(out: &mut impl Write, h: &Header, name: &[u8]) -> Result<()> {
    ensure!(
        !name.contains(&0),
        "{:?}: a NUL byte cannot be in a cpio name",
        String::from_utf8_lossy(name)
    );
    let namesize = u32::try_from(name.len() + 1).context("name too long")?;
    // Fields after the magic: ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
    // rdevminor namesize check. The device holding the file (dev*) means nothing in an archive.
    let fields = [
        h.ino,
        h.mode,
        h.uid,
        h.gid,
        h.nlink,
        h.mtime,
        h.size,
        0,
        0,
        h.rdev_major,
        h.rdev_minor,
        namesize,
        0,
    ];
    out.write_all(MAGIC)?;
    for field in fields {
        write!(out, "{field:08x}")?;
    }
    out.write_all(name)?;
    out.write_all(&[0])?;
    write_padding(out, HEADER_LEN + name.len() + 1)
}

/// Pads to the 4-byte boundary newc keeps after each header+name and after each file's data.
fn write_padding(out: &mut impl Write, written: usize) -> Result<()> {
    out.write_all(&[0; 3][..pad4(written)])?;
    Ok(())
}

fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// One member of a newc archive, as [`list_cpio`] reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpioEntryListing {
    pub name: String,
    /// Type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub size: u32,
    /// Device number of a device node, `(0, 0)` otherwise.
    pub rdev: (u32, u32),
    pub symlink_target: Option<String>,
}

/// One line per entry: `mode uid:gid size rdev name [-> target]`, for snapshots and reports.
impl fmt::Display for CpioEntryListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_device = matches!(self.mode & 0o170000, 0o020000 | 0o060000);
        let rdev = if is_device { format!("{},{}", self.rdev.0, self.rdev.1) } else { "-".into() };
        write!(
            f,
            "{:06o} {}:{} {:>7} {:>4} {}",
            self.mode, self.uid, self.gid, self.size, rdev, self.name
        )?;
        if let Some(target) = &self.symlink_target {
            write!(f, " -> {target}")?;
        }
        Ok(())
    }
}

/// Reads the members of a newc archive up to its trailer.
pub fn list_cpio(bytes: &[u8]) -> Result<Vec<CpioEntryListing>> {
    let mut listing = Vec::new();
    let mut offset = 0;
    loop {
        let header = bytes
            .get(offset..offset + HEADER_LEN)
            .with_context(|| format!("cpio archive ends inside a header at byte {offset}"))?;
        let magic = &header[..6];
        if magic != MAGIC && magic != MAGIC_CRC {
            bail!(
                "no newc header at byte {offset} (found {:?}, expected \"070701\")",
                String::from_utf8_lossy(magic)
            );
        }
        let at = offset;
        let field = |index: usize| -> Result<u32> {
            let text = &header[6 + index * 8..6 + (index + 1) * 8];
            std::str::from_utf8(text)
                .ok()
                .and_then(|text| u32::from_str_radix(text, 16).ok())
                .with_context(|| format!("bad hex field {index} in the cpio header at byte {at}"))
        };
        let namesize = field(11)? as usize;
        let size = field(6)?;
        let name_start = offset + HEADER_LEN;
        let name = bytes
            .get(name_start..name_start + namesize)
            .with_context(|| format!("cpio archive ends inside a name at byte {name_start}"))?;
        let Some((&0, name)) = name.split_last() else {
            bail!("cpio name at byte {name_start} is not NUL-terminated");
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let data_start = name_start + namesize + pad4(HEADER_LEN + namesize);
        let data = bytes
            .get(data_start..data_start + size as usize)
            .with_context(|| format!("cpio archive ends inside the data of {name}"))?;
        offset = data_start + size as usize + pad4(size as usize);
        if name == TRAILER {
            return Ok(listing);
        }
        let mode = field(1)?;
        let is_symlink = mode & 0o170000 == 0o120000;
        listing.push(CpioEntryListing {
            mode,
            uid: field(2)?,
            gid: field(3)?,
            nlink: field(4)?,
            mtime: field(5)?,
            size,
            rdev: (field(9)?, field(10)?),
            symlink_target: is_symlink.then(|| String::from_utf8_lossy(data).into_owned()),
            name,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(tree: &Tree) -> Vec<u8> {
        let mut out = Vec::new();
        write_cpio(tree, 1_700_000_000, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut tree = Tree::new();
        tree.add_file_bytes("init", "#!/bin/sh\n", 0o755).unwrap();
        tree.add_char_device("dev/console", 5, 1, 0o600).unwrap();
        tree.add_symlink("sbin/init", "../bin/busybox").unwrap();
        tree.add_dir("dev/pts", 0o755).unwrap();
        let bytes = archive(&tree);
        assert_eq!(bytes.len() % 4, 0);
        let text: Vec<String> = list_cpio(&bytes).unwrap().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "040755 0:0       0    - dev",
                "020600 0:0       0  5,1 dev/console",
                "040755 0:0       0    - dev/pts",
                "100755 0:0      10    - init",
                "040755 0:0       0    - sbin",
                "120777 0:0      14    - sbin/init -> ../bin/busybox",
            ]
        );
        let listing = list_cpio(&bytes).unwrap();
        assert!(listing.iter().all(|e| e.mtime == 1_700_000_000));
        let nlinks: Vec<u32> = listing.iter().map(|e| e.nlink).collect();
        assert_eq!(nlinks, [3, 1, 2, 1, 2, 1]);
    }

    #[test]
    fn empty_tree_is_just_a_trailer() {
        let bytes = archive(&Tree::new());
        assert!(bytes.starts_with(b"070701"));
        assert!(list_cpio(&bytes).unwrap().is_empty());
    }

    #[test]
    fn reader_names_what_is_wrong() {
        let mut tree = Tree::new();
        tree.add_file_bytes("a", "hello", 0o644).unwrap();
        let bytes = archive(&tree);
        let check = |bytes: &[u8], expected: &str| {
            let msg = format!("{:#}", list_cpio(bytes).unwrap_err());
            assert!(msg.contains(expected), "{msg}");
        };
        check(&bytes[..50], "ends inside a header at byte 0");
        check(&bytes[..116], "ends inside the data of a");
        check(&[0x1f; 200], "no newc header at byte 0");
    }

    #[test]
    fn mtime_beyond_32_bits_is_an_error() {
        let err = write_cpio(&Tree::new(), 1 << 33, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
    }
}
