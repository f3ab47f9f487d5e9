//! Options from the environment and from a TOML file (`--config FILE` or CQLBULK_CONFIG),
//! for every option of every command, by one rule: a flag beats `CQLBULK_<OPTION>` (e.g.
//! CQLBULK_MAX_ROWS_PER_SECOND), which beats the file, which beats the default. Both become
//! what clap already knows (an option's environment variable and its default), so the
//! parsing, checking and help stay clap's.
//!
//! In the file, keys at the top apply to every command that has the option; a `[command]`
//! table (`[unload]`, `[iceberg.expire]`) to that command only. A key no command knows is
//! an error naming the file and line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use toml::de::{DeTable, DeValue};

use super::Cli;

/// The top-level key with which a config file insists on holding the password.
const ALLOW_PASSWORD: &str = "allow-password-in-config";

static PASSWORD: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The password a config file holds because it insisted (after --password-file and
/// CQLBULK_PASSWORD, before the prompt).
pub fn password() -> Option<&'static str> {
    PASSWORD.get().map(String::as_str)
}

/// Parses the command line with the environment and the config file under it.
pub fn parse(argv: Vec<OsString>) -> Result<Cli, ParseError> {
    let mut command = with_environment(Cli::command());
    if let Some(path) = config_path(&argv) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ParseError::Config(format!("--config {}: cannot read it: {e}", path.display())))?;
        command = with_file(command, &path, &text).map_err(ParseError::Config)?;
    }
    let matches = command.try_get_matches_from(argv).map_err(ParseError::Clap)?;
    Cli::from_arg_matches(&matches).map_err(ParseError::Clap)
}

pub enum ParseError {
    Clap(clap::Error),
    /// One line: the file, the line, what is wrong and what to do.
    Config(String),
}

/// `CQLBULK_MAX_ROWS_PER_SECOND` for `--max-rows-per-second`.
fn variable(long: &str) -> String {
    format!("CQLBULK_{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// Options that are not settings of a run: never from the environment or a file.
fn is_setting(arg: &Arg) -> bool {
    arg.get_long().is_some_and(|l| !matches!(l, "help" | "version" | "config" | "verbose"))
        && !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version | ArgAction::Count)
}

fn with_environment(command: Command) -> Command {
    let names: Vec<String> = command.get_arguments().map(|a| a.get_id().to_string()).collect();
    let mut command = command;
    for id in names {
        command = command.mut_arg(id, |arg| {
            if is_setting(&arg) && arg.get_env().is_none() {
                let name = variable(arg.get_long().expect("settings have long names"));
                arg.env(name).hide_env(true)
            } else {
                arg
            }
        });
    }
    let subcommands: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in subcommands {
        command = command.mut_subcommand(name, with_environment);
    }
    command
}

/// The `--config` value on the command line, else CQLBULK_CONFIG.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    std::env::var_os("CQLBULK_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn with_file(command: Command, path: &Path, text: &str) -> Result<Command, String> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let at = |offset: usize, what: String| format!("{}:{}: {what}", path.display(), line_of(offset));
    let table = DeTable::parse(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_of(span.start));
        format!("{}:{line}: not TOML: {}", path.display(), e.message())
    })?;
    let mut command = command;
    let (sections, top_level): (Vec<_>, Vec<_>) =
        table.get_ref().iter().partition(|(_, value)| matches!(value.get_ref(), DeValue::Table(_)));
    // A password only where the file insists (`allow-password-in-config = true`).
    let insists = top_level.iter().any(|(key, value)| {
        key.get_ref().as_ref() == ALLOW_PASSWORD && matches!(value.get_ref(), DeValue::Boolean(true))
    });
    // Top-level keys first, for every command that has the option (a key none has is a
    // mistake); then each [command] table, which overrides them.
    for (key, value) in top_level {
        let name = key.get_ref().as_ref();
        match (name, value.get_ref()) {
            (ALLOW_PASSWORD, DeValue::Boolean(_)) => continue,
            ("password", DeValue::String(password)) if insists => {
                let _ = PASSWORD.set(password.to_string());
                continue;
            }
            _ => {}
        }
        refuse_secret(name, key.span().start, &at)?;
        let values =
            values_of(value.get_ref()).map_err(|why| at(value.span().start, format!("{name}: {why}")))?;
        let mut known = false;
        command = apply_everywhere(command, name, &values, &mut known);
        if !known {
            return Err(at(key.span().start, format!("{name}: no command has an option --{name}")));
        }
    }
    for (key, value) in sections {
        let name = key.get_ref().as_ref();
        let DeValue::Table(section) = value.get_ref() else { continue };
        if command.find_subcommand(name).is_none() {
            return Err(at(key.span().start, format!("[{name}]: no such command")));
        }
        command = section_defaults(command, name, section, &at)?;
    }
    Ok(command)
}

type Locate<'a> = dyn Fn(usize, String) -> String + 'a;

/// The keys of `[name]` (and of its nested `[name.sub]` tables) as defaults of that command.
fn section_defaults(command: Command, name: &str, section: &DeTable, at: &Locate) -> Result<Command, String> {
    let mut failure = None;
    let command = command.mut_subcommand(name, |mut sub| {
        for (key, value) in section {
            let option = key.get_ref().as_ref();
            let result = match value.get_ref() {
                DeValue::Table(nested) if sub.find_subcommand(option).is_some() => {
                    section_defaults(sub.clone(), option, nested, at)
                }
                other => refuse_secret(option, key.span().start, at)
                    .and_then(|()| {
                        values_of(other).map_err(|why| at(value.span().start, format!("{option}: {why}")))
                    })
                    .and_then(|values| {
                        set_default(sub.clone(), option, &values).ok_or_else(|| {
                            at(
                                key.span().start,
                                format!(
                                    "{option}: `{}` has no option --{option} (see `cqlbulk config example`)",
                                    sub.get_name()
                                ),
                            )
                        })
                    }),
            };
            match result {
                Ok(updated) => sub = updated,
                Err(why) => {
                    failure.get_or_insert(why);
                }
            }
        }
        sub
    });
    match failure {
        Some(why) => Err(why),
        None => Ok(command),
    }
}

/// Sets `option`'s default wherever a command has it; `known` tells whether one had.
fn apply_everywhere(command: Command, option: &str, values: &[String], known: &mut bool) -> Command {
    let mut command = match set_default(command.clone(), option, values) {
        Some(updated) => {
            *known = true;
            updated
        }
        None => command,
    };
    let subcommands: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in subcommands {
        command = command.mut_subcommand(name, |sub| apply_everywhere(sub, option, values, known));
    }
    command
}

/// `command` with `values` as the default of its option `--option`, or None without one.
fn set_default(command: Command, option: &str, values: &[String]) -> Option<Command> {
    let arg = command.get_arguments().find(|a| a.get_long() == Some(option) && is_setting(a))?;
    let id = arg.get_id().to_string();
    let flag = !arg.get_action().takes_values();
    Some(command.mut_arg(id, |arg| {
        // A flag set to false in the file stays off (its default).
        if flag && values.iter().all(|v| v == "false") {
            arg
        } else {
            arg.default_values(values.to_vec()).required(false)
        }
    }))
}

fn values_of(value: &DeValue) -> Result<Vec<String>, String> {
    Ok(match value {
        DeValue::String(text) => vec![text.to_string()],
        DeValue::Integer(number) if number.radix() == 10 => vec![number.as_str().replace('_', "")],
        DeValue::Integer(number) => vec![
            i64::from_str_radix(&number.as_str().replace('_', ""), number.radix())
                .map_err(|e| format!("not a number: {e}"))?
                .to_string(),
        ],
        DeValue::Float(number) => vec![number.as_str().replace('_', "")],
        DeValue::Boolean(flag) => vec![flag.to_string()],
        DeValue::Datetime(moment) => vec![moment.to_string()],
        DeValue::Array(items) => {
            let mut all = Vec::new();
            for item in items {
                match item.get_ref() {
                    DeValue::Array(_) | DeValue::Table(_) => {
                        return Err("a list of plain values is expected".into());
                    }
                    plain => all.extend(values_of(plain)?),
                }
            }
            all
        }
        DeValue::Table(_) => return Err("a value is expected, not a table".into()),
    })
}

/// Passwords never come from the config file: it is read by whoever can read the job's
/// definition.
fn refuse_secret(key: &str, offset: usize, at: &Locate) -> Result<(), String> {
    if key.contains("password") && key != "password-file" {
        return Err(at(
            offset,
            format!(
                "{key}: secrets are not read from a config file; use password-file = \"PATH\" or CQLBULK_PASSWORD \
                 (or, if you insist, {ALLOW_PASSWORD} = true at the top of the file)"
            ),
        ));
    }
    Ok(())
}

/// `cqlbulk config example`: every option of every command, commented out at its default,
/// with its help.
pub fn example() -> String {
    let mut text = String::from(
        "# cqlbulk configuration: cqlbulk --config FILE <command> … (or CQLBULK_CONFIG=FILE).\n\
         # A flag beats the environment (CQLBULK_<OPTION>, e.g. CQLBULK_MAX_ROWS_PER_SECOND),\n\
         # which beats this file, which beats the default. Keys at the top apply to every\n\
         # command that has the option; a [command] table to that command only.\n\
         # Passwords are read from here only if the file insists (allow-password-in-config =\n\
         # true and password = \"…\" at the top): prefer password-file or CQLBULK_PASSWORD.\n\n\
         # host = [\"10.0.0.5\", \"10.0.0.6\"]\n# keyspace = \"shop\"\n",
    );
    describe(&Cli::command(), "", &mut text);
    text
}

fn describe(command: &Command, path: &str, text: &mut String) {
    for sub in command.get_subcommands() {
        let name =
            if path.is_empty() { sub.get_name().to_string() } else { format!("{path}.{}", sub.get_name()) };
        let settings: Vec<&Arg> = sub.get_arguments().filter(|a| is_setting(a)).collect();
        if !settings.is_empty() {
            text.push_str(&format!("\n[{name}]\n"));
        }
        for arg in settings {
            let long = arg.get_long().expect("settings have long names");
            if let Some(help) = arg.get_help() {
                let help = help.to_string();
                for line in textwrap_lines(&help, 88) {
                    text.push_str(&format!("# {line}\n"));
                }
            }
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            let flag = !arg.get_action().takes_values();
            let shown = match (flag, defaults.as_slice()) {
                (true, _) => "false".to_string(),
                (false, []) => "\"\"".to_string(),
                (false, [one]) => toml_value(one),
                (false, many) => {
                    format!("[{}]", many.iter().map(|v| toml_value(v)).collect::<Vec<_>>().join(", "))
                }
            };
            text.push_str(&format!("# {long} = {shown}\n"));
        }
        describe(sub, &name, text);
    }
}

/// A default as TOML: numbers and booleans bare, anything else quoted.
fn toml_value(value: &str) -> String {
    if value.parse::<f64>().is_ok() || value == "true" || value == "false" {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

fn textwrap_lines(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(file: &str, args: &[&str]) -> Result<Cli, String> {
        let path = std::env::temp_dir().join(format!("cqlbulk-config-{}.toml", std::process::id()));
        let command = with_file(Cli::command(), &path, file)?;
        let argv: Vec<OsString> =
            std::iter::once("cqlbulk").chain(args.iter().copied()).map(Into::into).collect();
        let matches = command.try_get_matches_from(argv).map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    fn count_args(cli: Cli) -> String {
        match cli.command {
            super::super::Command::Count(args) => format!("{args:?}"),
            _ => panic!("not count"),
        }
    }

    /// What: file values fill what the command line leaves out (required ones included),
    /// a flag beats the file, `[command]` beats the top level, lists and booleans work.
    /// Why: the precedence rule is the whole contract of a config file.
    #[test]
    fn the_file_fills_what_flags_leave() {
        let file = "host = [\"10.0.0.1\", \"10.0.0.2\"]\nkeyspace = \"shop\"\npage-size = 100\n\
                    [count]\ntable = \"orders\"\npage-size = 200\nquiet = true\n";
        let args = count_args(parse_with(file, &["count"]).unwrap_or_else(|e| panic!("{e}")));
        for part in [
            "keyspace: \"shop\"",
            "table: Some(\"orders\")",
            "hosts: [\"10.0.0.1\", \"10.0.0.2\"]",
            "page_size: 200",
            "quiet: true",
        ] {
            assert!(args.contains(part), "{part} not in {args}");
        }
        let args = count_args(parse_with(file, &["count", "-t", "other", "--page-size", "7"]).unwrap());
        assert!(args.contains("table: Some(\"other\")") && args.contains("page_size: 7"), "{args}");
    }

    /// What: an unknown key, an option the command lacks, a password, and bad TOML each
    /// fail with the file and line. Why: a typo in a config file must not be ignored.
    #[test]
    fn mistakes_name_the_file_and_line() {
        let err = parse_with("keyspace = \"k\"\nmax-rowz = 3\n", &["count"]).err().unwrap();
        assert!(err.ends_with(":2: max-rowz: no command has an option --max-rowz"), "{err}");
        let err = parse_with("[count]\n\nformat = \"csv\"\n", &["count"]).err().unwrap();
        assert!(err.contains(":3: format: `count` has no option --format"), "{err}");
        let err = parse_with("password = \"x\"\n", &["count"]).err().unwrap();
        assert!(err.contains(":1: password: secrets are not read from a config file"), "{err}");
        let insisted =
            "allow-password-in-config = true\npassword = \"x\"\n[count]\nkeyspace = \"k\"\ntable = \"t\"\n";
        parse_with(insisted, &["count"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(password(), Some("x"));
        let err = parse_with("[nope]\n", &["count"]).err().unwrap();
        assert!(err.contains(":1: [nope]: no such command"), "{err}");
        let err = parse_with("a = \n", &["count"]).err().unwrap();
        assert!(err.contains(":1: not TOML"), "{err}");
    }

    /// What: the example file parses as a config file and mentions every command.
    /// Why: users start from it; it must be valid as printed and once uncommented.
    #[test]
    fn the_example_is_a_valid_config() {
        let example = example();
        for command in ["[count]", "[unload]", "[load]", "[verify]", "[iceberg.expire]"] {
            assert!(example.contains(command), "{command} missing");
        }
        assert!(example.contains("# max-rows-per-second = \"\""), "{example}");
        DeTable::parse(&example).unwrap();
    }
}
