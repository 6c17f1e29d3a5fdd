//! The build side of the engine: what a user selects (plain values, no flags), where every output
//! goes, the stage mechanism, and the stages themselves (sources, kernel, BusyBox, U-Boot, your
//! modules, the images), run in order by the pipeline. Files import only downwards: `selection`,
//! `layout`, `features`, `ccache` and `stage` at the bottom, `context` above them, `kbuild` and `package`
//! (a kconfig package as a row) above it, the stages above those, the pipeline on top.

pub mod apt;
pub mod busybox;
pub mod ccache;
pub mod context;
pub mod features;
pub mod hostdeps;
pub mod images;
pub mod kbuild;
pub mod kernel;
pub mod kselftest;
pub mod layout;
pub mod modules;
pub mod package;
pub mod pipeline;
pub mod selection;
pub mod sources;
pub mod stage;
pub mod summary;
pub mod tuxmake;
pub mod uboot;

pub use context::{Context, Site};
pub use pipeline::Built;
pub use selection::{Selection, Sources, UbootSelection};

#[cfg(test)]
mod testing;
