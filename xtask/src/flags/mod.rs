//! Command-line flags: the only place clap appears. The parsed struct is the command: `main`
//! dispatches on it, and each command turns its flags into the engine's plain values once
//! (`Build::selection`, `Machine::options`, `UbootBoot::choice`). Every value is checked here, by
//! its parser, before any work: a bad flag costs nothing.

mod build;
mod commands;
mod machine;

pub use build::*;
pub use commands::*;
pub use machine::*;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build a micro Linux system (kernel, static BusyBox, initrd and initramfs) and boot it in QEMU",
    version
)]
pub struct Xtask {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Download (or take from a mirror or the cache) and verify the kernel and BusyBox sources
    Fetch(Fetch),
    /// Configure and build the kernel
    Kernel(Configurable),
    /// Configure and build a static BusyBox
    Busybox(Configurable),
    /// Configure and build U-Boot's ROM for booting through U-Boot (`run --uboot`)
    Uboot(UbootBuild),
    /// Make the initrd, the initramfs and the hello initramfs (builds BusyBox first if needed)
    Rootfs(Build),
    /// Everything: sources, kernel, BusyBox and the three images
    All(Build),
    /// Boot one image in QEMU on this terminal (builds what is missing first)
    Run(Run),
    /// Boot images headless and check that they behave as the tutorial shows
    Check(Check),
    /// Run the kernel's tests in the guest (KUnit) and report their results (a summary, JUnit,
    /// JSON; exit code 0 all passed, 1 a case failed, 125 the build or the machine failed)
    Test(Test),
    /// Find the commit that broke it: bisect a git kernel tree (--kernel-source DIR) between
    /// --good and --bad, building and booting each step (exit code 0 when one commit is named)
    // the usage clap makes lists the flags a variable set as if they were required
    #[command(
        override_usage = "cargo xtask bisect [OPTIONS] --kernel-source DIR (--good REV --bad REV | --replay LOG) [-- CMD...]"
    )]
    Bisect(Bisect),
    /// Run a LAVA job (from `check --lava-job`, `run --lava-job`) through LAVA's own dispatcher
    /// on this machine and report its test cases (exit code 0 all passed, 1 a case failed, 125
    /// LAVA or the machine failed)
    Lava(Lava),
    /// Measure build, rebuild and boot times and image sizes
    Bench(Bench),
    /// Check (and with --install, install) the host packages the build needs
    Deps(Deps),
    /// Start gdb on the debug kernel's vmlinux, connected to a `run --gdb` guest, with the
    /// kernel's gdb scripts (lx-dmesg, lx-symbols)
    Gdb(Gdb),
    /// Run the repository's own checks (README, fragments, tables, formatting)
    Tidy,
    /// Every setting (a flag with a KARDEL_* variable) with its value and where it came from:
    /// the environment, a settings file's line (kardel.toml), or the default
    Config,
}

/// Every environment variable a flag reads: a child given [`selection_args`] gets none of the
/// user's.
pub fn flag_variables() -> Vec<String> {
    use clap::CommandFactory;
    env_names(&Xtask::command())
}

fn env_names(command: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    collect_env_names(command, &mut names);
    names
}

/// Parses the command line. An environment variable set to the empty string counts as unset, as
/// for most tools (`export KARDEL_KERNEL_SOURCE=` to drop one), and an error about a value that
/// came from a variable names the variable.
pub fn parse() -> Xtask {
    use clap::CommandFactory;
    let command = Xtask::command();
    for name in &env_names(&command) {
        if std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            std::env::remove_var(name);
        }
    }
    // the settings files' values reach clap as their variables would, where the environment
    // has none
    let known = crate::settings::known(&command);
    let origins = match settings::apply(&known, &stages::context::repo()) {
        Ok(origins) => origins,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    };
    match Xtask::try_parse() {
        Ok(flags) => {
            settings::remember(origins);
            with_target(flags, &command)
        }
        Err(err) => {
            let from_env = invalid_arg_env(&err, &command);
            if let Some(name) = from_env {
                let shown = err.render().to_string();
                eprint!("{}", shown.trim_end());
                let value = std::env::var(&name).unwrap_or_default();
                match origins.get(&name) {
                    Some(origin) => eprintln!("\n(the value {value:?} came from {origin})"),
                    None => eprintln!(
                        "\n(the value came from the environment variable {name}={value:?})"
                    ),
                }
                std::process::exit(2);
            }
            err.exit()
        }
    }
}

/// `run --target NAME`: the target's settings over the files' others, read again through clap,
/// and its command when none was given.
fn with_target(flags: Xtask, command: &clap::Command) -> Xtask {
    let Cmd::Run(Run { target: Some(name), .. }) = &flags.cmd else { return flags };
    let known = crate::settings::known(command);
    let picked = settings::pick_target(&known, &stages::context::repo(), name);
    let target = picked.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    });
    let mut flags = Xtask::try_parse().unwrap_or_else(|err| err.exit());
    if let Cmd::Run(run) = &mut flags.cmd {
        if run.command.is_empty() {
            run.command = target.command;
        }
    }
    flags
}

fn collect_env_names(command: &clap::Command, names: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy().into_owned();
            if !names.contains(&env) {
                names.push(env);
            }
        }
    }
    for sub in command.get_subcommands() {
        collect_env_names(sub, names);
    }
}

/// The environment variable that gave the rejected value, when the value was not on the command
/// line.
fn invalid_arg_env(err: &clap::Error, command: &clap::Command) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
    let long = arg.split_whitespace().next()?.trim_start_matches('-').split('=').next()?;
    let mut stack = vec![command];
    while let Some(cmd) = stack.pop() {
        if let Some(a) = cmd.get_arguments().find(|a| a.get_long() == Some(long)) {
            let given = |word: &String| {
                word == &format!("--{long}")
                    || word.starts_with(&format!("--{long}="))
                    || a.get_short().is_some_and(|c| word.starts_with(&format!("-{c}")))
            };
            if std::env::args().skip(1).any(|word| given(&word)) {
                return None;
            }
            let env = a.get_env()?.to_string_lossy().into_owned();
            return std::env::var_os(&env).is_some().then_some(env);
        }
        stack.extend(cmd.get_subcommands());
    }
    None
}
