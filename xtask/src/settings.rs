//! The settings files' rows from the command line: every flag with a `KARDEL_*` variable is a
//! key of `kardel.toml` (the `settings` crate reads the files), and `cargo xtask config`.

use anyhow::Result;
use settings::Known;

/// Every setting the command line knows, from clap's flags with a variable.
pub fn known(command: &clap::Command) -> Vec<Known> {
    let mut out: Vec<Known> = Vec::new();
    let mut visit = vec![command];
    while let Some(command) = visit.pop() {
        for arg in command.get_arguments() {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else { continue };
            if out.iter().any(|k| k.key == long) {
                continue;
            }
            let default =
                arg.get_default_values().first().map(|d| d.to_string_lossy().into_owned());
            out.push(Known {
                key: long.to_string(),
                variable: env.to_string_lossy().into_owned(),
                delimiter: arg.get_value_delimiter(),
                default,
            });
        }
        visit.extend(command.get_subcommands());
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// `cargo xtask config`.
pub fn run(command: &clap::Command) -> Result<()> {
    print!("{}", settings::describe(&known(command), &stages::context::repo())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn table() -> Vec<Known> {
        known(&crate::flags::Xtask::command())
    }

    #[test]
    fn every_setting_is_a_flag_of_one_variable() {
        let table = table();
        assert!(table.iter().any(|k| k.key == "profile" && k.variable == "KARDEL_PROFILE"));
        for known in &table {
            let twins: Vec<&Known> =
                table.iter().filter(|k| k.variable == known.variable).collect();
            assert_eq!(twins.len(), 1, "{} is set by two keys: {twins:?}", known.variable);
        }
    }
}
