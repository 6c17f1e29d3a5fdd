//! `cargo xtask`: parses flags and wires the crates together. The engine lives in crates/
//! (`stages` builds, `boot` boots, `engine` does each command's work); each arm below is one
//! call into a command file.

mod bench;
mod bisect;
mod build;
mod check;
mod flags;
mod lava;
mod run;
mod settings;
mod test;
mod tidy;

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::Cmd;

fn main() -> ExitCode {
    // e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
    std::env::set_var("PATH", stages::hostdeps::path_with_sbin());
    let flags = flags::parse();
    match dispatch(flags.cmd) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Fetch(flags) => done(build::fetch(flags)),
        Cmd::Kernel(flags) => done(build::kernel(flags)),
        Cmd::Busybox(flags) => done(build::busybox(flags)),
        Cmd::Uboot(flags) => done(build::uboot(flags)),
        Cmd::Rootfs(flags) => done(build::rootfs(flags)),
        Cmd::All(flags) => done(build::all(flags)),
        Cmd::Run(flags) => run::run(flags),
        Cmd::Check(flags) => done(check::run(flags)),
        Cmd::Test(flags) => test::run(flags),
        Cmd::Bisect(flags) => bisect::run(flags),
        Cmd::Lava(flags) => lava::run(flags),
        Cmd::Bench(flags) => done(bench::run(flags)),
        Cmd::Deps(flags) => done(build::deps(flags)),
        Cmd::Gdb(flags) => done(run::gdb(flags)),
        Cmd::Tidy => done(tidy::run()),
        Cmd::Config => done(settings::run(&<flags::Xtask as clap::CommandFactory>::command())),
    }
}

fn done(result: Result<()>) -> Result<ExitCode> {
    result.map(|()| ExitCode::SUCCESS)
}
