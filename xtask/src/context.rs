//! What every task needs: a shell, the project's folders, and the build settings that are the
//! same for every stage.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use xshell::Shell;

use crate::flags::{Build, Compress, Profile, Selection};

/// `SOURCE_DATE_EPOCH` when the environment sets none: every timestamp the project writes into
/// an output (kernel build banner, cpio and ext4 times) comes from it, so outputs are
/// byte-identical from run to run. 2024-01-01T00:00:00Z.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_704_067_200;

pub struct Context {
    pub sh: Shell,
    /// The repository's root (kernel-config/, busybox-config/, crates/rootfs/files/)
    pub repo: PathBuf,
    /// Cargo's target folder
    pub target: PathBuf,
    pub selection: Selection,
    pub jobs: usize,
    pub make_args: Vec<String>,
    pub image_size_mib: u64,
    pub source_date_epoch: u64,
    pub configure_only: bool,
}

impl Context {
    pub fn new(build: &Build) -> Result<Context> {
        let sh = Shell::new()?;
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask is not inside the workspace")?
            .to_path_buf();
        let target = target_dir(&repo)?;
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) => text.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds")
            })?,
            Err(_) => DEFAULT_SOURCE_DATE_EPOCH,
        };
        let jobs = build
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        Ok(Context {
            sh,
            repo,
            target,
            selection: build.selection.clone(),
            jobs,
            make_args: build.make_args.clone(),
            image_size_mib: build.image_size_mib,
            source_date_epoch,
            configure_only: build.configure_only,
        })
    }

    /// The same settings building into another target folder (the benchmark's own, so that it
    /// never disturbs the user's build).
    pub fn with_target(&self, target: PathBuf) -> Result<Context> {
        Ok(Context {
            sh: Shell::new()?,
            repo: self.repo.clone(),
            target,
            selection: self.selection.clone(),
            jobs: self.jobs,
            make_args: self.make_args.clone(),
            image_size_mib: self.image_size_mib,
            source_date_epoch: self.source_date_epoch,
            configure_only: false,
        })
    }

    pub fn profile(&self) -> Profile {
        self.selection.profile
    }

    pub fn compress(&self) -> Compress {
        self.selection.compress
    }

    /// Build products a user keeps: bzImage, the images. `cargo clean` removes them.
    pub fn images_dir(&self) -> PathBuf {
        self.target.join("images")
    }

    /// The kernel's products for the selected profile: each profile keeps its own.
    pub fn kernel_images_dir(&self) -> PathBuf {
        self.images_dir().join(self.profile().name())
    }

    /// Unpacked sources, build trees, logs and stamps.
    pub fn work_dir(&self) -> PathBuf {
        self.target.join("kardel")
    }

    /// Where the KVM probe's verdict is kept, so that only the first boot pays for the probe.
    pub fn kvm_probe_cache(&self) -> PathBuf {
        self.work_dir().join("kvm-probe")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.work_dir().join("logs").join(format!("{name}.log"))
    }

    pub fn cache_dir(&self) -> Result<PathBuf> {
        match &self.selection.cache_dir {
            Some(dir) => Ok(dir.clone()),
            None => fetch::default_cache_dir(),
        }
    }

    pub fn repo_path(&self, relative: &str) -> PathBuf {
        self.repo.join(relative)
    }
}

/// Cargo's target folder. `CARGO_TARGET_DIR` answers without asking cargo; otherwise
/// cargo_metadata reads it (it knows about `build.target-dir` in config files).
fn target_dir(repo: &Path) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() { dir } else { repo.join(dir) });
    }
    let mut command = cargo_metadata::MetadataCommand::new();
    // the cargo that runs `cargo xtask`, even when it is not on PATH
    if let Some(cargo) = std::env::var_os("CARGO") {
        command.cargo_path(cargo);
    }
    let metadata = command
        .manifest_path(repo.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("asking cargo for the target folder (cargo metadata)")?;
    Ok(metadata.target_directory.into_std_path_buf())
}
