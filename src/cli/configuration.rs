//! The settings as flags and environment variables, built from `config::SETTINGS` so
//! that `--help` lists each with its variable and default, and cannot drift from it.

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

use crate::config::{Setting, SETTINGS};

const HEADING: &str = "Configuration (a flag wins over the environment, which wins over the --config file)";

/// `command` with a global flag per setting.
pub fn with_settings(command: Command) -> Command {
    SETTINGS.iter().fold(command, |command, setting| command.arg(flag(setting)))
}

fn flag(setting: &'static Setting) -> Arg {
    let arg = Arg::new(setting.env)
        .long(leak(setting.flag()))
        .value_name(leak(setting.file_key().to_ascii_uppercase()))
        .env(setting.env)
        .hide_env_values(setting.secret)
        .help(setting.about)
        .help_heading(HEADING)
        .global(true);
    match setting.default {
        Some(default) => arg.default_value(default),
        None => arg,
    }
}

/// clap keeps `'static` names; these are built once per process.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// The settings given on the command line or in the environment, by variable name.
/// Defaults are left out, and so are empty values: the `--config` file comes first.
pub fn given(matches: &ArgMatches) -> Vec<(&'static str, String)> {
    // Global flags reach the innermost subcommand wherever they were written.
    let mut innermost = matches;
    while let Some((_, sub)) = innermost.subcommand() {
        innermost = sub;
    }
    SETTINGS
        .iter()
        .filter(|s| {
            matches!(innermost.value_source(s.env), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
        })
        .filter_map(|s| innermost.get_one::<String>(s.env).map(|value| (s.env, value.clone())))
        .filter(|(_, value)| !value.trim().is_empty())
        .collect()
}
