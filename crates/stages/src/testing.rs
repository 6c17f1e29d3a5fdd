//! What the unit tests share: a scratch folder of their own, and a context building into one.

use std::path::PathBuf;

use crate::{ccache::Choice, context::Context, selection::Selection};

/// An empty folder of this test's own under the system's temporary folder.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stages-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The selection of `profile` on `arch`, four jobs, no ccache (whatever the host has), with
/// `change` made to it.
pub fn selection(arch: &str, profile: &str, change: impl FnOnce(&mut Selection)) -> Selection {
    let mut selection = Selection::new(arch);
    selection.profile = profile.to_string();
    selection.jobs = Some(4);
    selection.ccache = Choice::Off;
    change(&mut selection);
    selection
}

/// A context for `selection` building into `target`.
pub fn context(selection: &Selection, target: PathBuf) -> Context {
    Context::new(selection, target).unwrap()
}
