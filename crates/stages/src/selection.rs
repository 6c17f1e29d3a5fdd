//! What to build, as plain values. The command line's flags become these once (in `xtask`);
//! everything below reads them and nothing here knows about flags or clap. The benchmark makes
//! its variants by changing a copy.

use std::path::{Path, PathBuf};

use rootfs::Compression;

/// Where the kernel's and BusyBox's sources come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// a version of the pin table (its default when none)
    pub kernel_version: Option<String>,
    /// the user's own pin for a kernel.org release the table lacks (with `kernel_version`)
    pub kernel_sha256: Option<String>,
    pub busybox_version: Option<String>,
    /// a local tarball or unpacked tree instead of a pinned download
    pub kernel_source: Option<PathBuf>,
    pub busybox_source: Option<PathBuf>,
    /// base URLs tried before upstream, in order
    pub mirrors: Vec<String>,
    /// the download cache (the user's default cache when none)
    pub cache_dir: Option<PathBuf>,
    /// `kernel_source` is a tree the tool made (a bisect's checkout), which builds may write
    /// into; no flag sets it
    pub kernel_tree_is_the_tools: bool,
}

/// Everything a build's output depends on that a user chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub sources: Sources,
    /// a row of the architecture table
    pub arch: String,
    /// a profile of features.toml
    pub profile: String,
    /// the user's own fragments, applied after the repo's
    pub kernel_fragments: Vec<PathBuf>,
    /// the config files of the kernel tree's selftests a run builds (`test --kselftest`),
    /// before the user's; a kernel with them is a flavour of its own
    pub kselftest_fragments: Vec<PathBuf>,
    pub busybox_fragments: Vec<PathBuf>,
    pub compression: Compression,
    /// the ext4 initrd's size
    pub image_size_mib: u64,
    /// out-of-tree module folders built against the kernel and put in the images
    pub modules: Vec<PathBuf>,
    /// folders whose files go over the tutorial's tree
    pub overlays: Vec<PathBuf>,
    /// make's jobs (the number of CPUs when none)
    pub jobs: Option<u32>,
    /// extra arguments for every make
    pub make_args: Vec<String>,
    /// whether compiles go through ccache (the outputs are the same either way)
    pub ccache: crate::ccache::Choice,
    /// ccache's remote storage a team shares (`redis://...`, `http://...`), checked before any
    /// work ([`crate::ccache::check_remote`])
    pub ccache_remote: Option<String>,
}

impl Selection {
    /// The tutorial's selection for `arch`: the default profile, pinned sources, gzip, 32 MiB.
    pub fn new(arch: &str) -> Selection {
        Selection {
            sources: Sources::default(),
            arch: arch.to_string(),
            profile: "default".to_string(),
            kernel_fragments: Vec::new(),
            kselftest_fragments: Vec::new(),
            busybox_fragments: Vec::new(),
            compression: Compression::Gzip,
            image_size_mib: 32,
            modules: Vec::new(),
            overlays: Vec::new(),
            jobs: None,
            make_args: Vec::new(),
            ccache: crate::ccache::Choice::Auto,
            ccache_remote: None,
        }
    }
}

/// Which U-Boot to build: for `uboot`, `fetch u-boot` and the boots through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UbootSelection {
    pub version: Option<String>,
    pub source: Option<PathBuf>,
    /// a board of the architecture's row (its first when none)
    pub board: Option<String>,
    /// the user's fragments, after the repo's
    pub fragments: Vec<PathBuf>,
}

/// A module folder's name: its modules' folder in the build and its name in messages. Two
/// folders of one name would build into one place.
pub fn module_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "module".into())
}

/// A folder's name as one plain word (letters, digits, `-`, `_`; anything else `_`): a 9p tag,
/// a part of a variant's name.
pub fn folder_word(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    name.unwrap_or_else(|| "folder".into())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folders_name_becomes_one_plain_word() {
        assert_eq!(folder_word(Path::new("/home/me/my files.v2")), "my_files_v2");
        assert_eq!(folder_word(Path::new("/srv/rootfs-extra_1/")), "rootfs-extra_1");
        assert_eq!(folder_word(Path::new("/srv/éte")), "_te");
        assert_eq!(folder_word(Path::new("/")), "folder");
    }

    #[test]
    fn a_module_is_named_by_its_folder() {
        assert_eq!(module_name(Path::new("/work/examples/modules/hello")), "hello");
        assert_eq!(module_name(Path::new("/work/echodev/")), "echodev");
        // a folder that has no name of its own (`--module ..` made absolute)
        assert_eq!(module_name(Path::new("/work/hello/..")), "module");
    }
}
