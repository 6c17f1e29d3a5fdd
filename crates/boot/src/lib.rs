//! The boot side of the engine: the tutorial's boots as a table, the QEMU machine built from a
//! boot, the built system and one options value, U-Boot in front of it, the command runner with
//! its guest protocol, and the timeline of a boot. It reads what `stages` built and never builds.
//! Files import only downwards: `protocol` and `boots` at the bottom, `machine` and `uboot` above,
//! `warm` (saved machines) under `runner`, and `runner` and `checks` on top.

pub mod boots;
pub mod checks;
pub mod gdb;
pub mod kselftest;
pub mod kunit;
pub mod machine;
pub mod protocol;
pub mod runner;
pub mod timeline;
pub mod uboot;
pub mod user_root;
pub mod warm;

pub use machine::{Init, Options, Request, Share, Speed};
