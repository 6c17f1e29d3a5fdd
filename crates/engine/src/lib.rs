//! Each command's work from domain values, above the build (`stages`) and the boot (`boot`):
//! what a boot needs built ([`prepare`]), KUnit's suites and the tree's kselftests built, booted
//! and read into results ([`kunit`], [`kselftest`]), named targets each run in a process of its
//! own ([`targets`]), and the reports a CI reads ([`reports`]). `xtask` parses flags into these
//! values once and calls one function per command; nothing here knows a flag's parser.

pub mod check;
pub mod deps;
pub mod kselftest;
pub mod kunit;
pub mod prepare;
pub mod reports;
pub mod run;
pub mod targets;
