//! The command line without a server: help, bad flags, exit codes and one-line errors.
//! Nothing here starts Cassandra; a node that is not there is a port nobody listens on.

mod common;

use common::{cqlbulk, stderr, stdout};

/// What: `--help` of the command and of every subcommand exits 0 and names the flags a
/// user looks for first. Why: help is how users find the flags; an error there is a dead end.
#[test]
fn help_for_every_command() {
    let out = cqlbulk(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for command in ["count", "unload", "load", "verify", "iceberg"] {
        assert!(stdout(&out).contains(command), "top-level help lacks {command}:\n{}", stdout(&out));
    }
    for (command, flags) in [
        ("count", &["--keyspace", "--table", "--consistency", "--by"][..]),
        ("unload", &["--format", "--url", "--warehouse", "--resume", "--escape"][..]),
        ("load", &["--format", "--url", "--mapping", "--max-errors", "--escape"][..]),
        ("verify", &["--format", "--url", "--warehouse"][..]),
    ] {
        let out = cqlbulk(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command} --help: {}", stderr(&out));
        for flag in flags {
            assert!(stdout(&out).contains(flag), "{command} --help lacks {flag}");
        }
    }
}

/// What: bad flag values are refused by the parser with exit 3 (fatal), before any
/// connection, in every command. Why: a typo in `--consistency` must not start a full scan
/// at the wrong level, and scripts tell a bad command line from a failed run by the code.
#[test]
fn bad_flags_are_refused_before_connecting() {
    for args in [
        &["count", "-k", "k", "-t", "t", "--consistency", "SOMETIMES"][..],
        &["count", "-k", "k", "-t", "t", "--splits", "0"],
        &["count", "-k", "k", "-t", "t", "--request-timeout", "soon"],
        &["count", "-t", "t"],
        &["unload", "-k", "k", "-t", "t", "--format", "xml", "--url", "/tmp/x"],
        &["unload", "-k", "k", "-t", "t", "--no-such-flag"],
        &["load", "-k", "k", "-t", "t", "--format", "csv"],
        &["verify", "-k", "k"],
        &["frobnicate"],
    ] {
        let out = cqlbulk(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).trim().is_empty(), "{args:?} says nothing");
    }
}

/// What: a host nobody answers on fails every command in one line that names the address
/// and exits 3. Why: the most common first-run mistake must say what to fix, not dump a
/// driver error tree.
#[test]
fn an_unreachable_host_is_one_line_and_exit_3() {
    let url = std::env::temp_dir().join(format!("cqlbulk-cli-{}", std::process::id()));
    let url = url.to_str().unwrap();
    for args in [
        &["count", "-k", "k", "-t", "t"][..],
        &["unload", "-k", "k", "-t", "t", "--format", "csv", "--url", url],
        &["verify", "-k", "k", "-t", "t", "--format", "csv", "--url", url],
    ] {
        let mut args = args.to_vec();
        // Port 1 on the loopback: nothing listens there, the refusal is immediate.
        args.extend_from_slice(&["-h", "127.0.0.1", "--port", "1", "--connect-timeout", "2s"]);
        let out = cqlbulk(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?} gave more than one line:\n{err}");
        assert!(lines[0].contains("127.0.0.1:1"), "{args:?} does not name the address: {err}");
    }
    let _ = std::fs::remove_dir_all(url);
}

/// What: options come from a config file (`--config` or CQLBULK_CONFIG) and from
/// CQLBULK_<OPTION> variables, a flag beating the environment beating the file: the file's
/// keyspace, table and unreachable port are used (the error names 127.0.0.1:1); a bad
/// page size in the file is overridden by the environment, and a flag's bad value beats a
/// good environment one. Mistakes in the file are one line naming the file and line, and
/// `config example` prints a file TOML reads. Why: jobs run from cron and Kubernetes keep
/// their settings in files and the environment; the precedence must be predictable.
#[test]
fn options_come_from_a_config_file_and_the_environment() {
    let dir = std::env::temp_dir().join(format!("cqlbulk-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cqlbulk.toml");
    std::fs::write(
        &file,
        "# a job's settings\nhost = \"127.0.0.1\"\nport = 1\n\n[count]\nkeyspace = \"k\"\ntable = \"t\"\n\
         connect-timeout = \"2s\"\npage-size = 0\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = common::cqlbulk_with_env(args, env);
        (out.status.code(), stderr(&out))
    };
    // The file's page size of 0 is refused: the file is read.
    let (code, err) = run(&["count", "--config", config], &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("--page-size") && err.contains('0'), "{err}");
    // The environment beats the file: the run goes on to the file's unreachable port.
    let (code, err) = run(&["count"], &[("CQLBULK_CONFIG", config), ("CQLBULK_PAGE_SIZE", "100")]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("127.0.0.1:1") && !err.contains("--page-size"), "{err}");
    // A flag beats the environment.
    let (code, err) =
        run(&["count", "--config", config, "--page-size", "99999999999"], &[("CQLBULK_PAGE_SIZE", "100")]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("99999999999"), "{err}");

    std::fs::write(&file, "keyspace = \"k\"\n\n[unload]\nformat = \"csv\"\nmax-rows-per-secnd = 5\n")
        .unwrap();
    let (code, err) = run(&["unload", "--config", config], &[]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "cqlbulk: error: {config}:5: max-rows-per-secnd: `unload` has no option --max-rows-per-secnd (see `cqlbulk config example`)"
        )
    );
    std::fs::write(&file, "password = \"hunter2\"\n").unwrap();
    let (code, err) = run(&["count", "--config", config], &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(":1: password: secrets are not read from a config file") && !err.contains("hunter2"),
        "{err}"
    );

    let example = cqlbulk(&["config", "example"]);
    assert_eq!(example.status.code(), Some(0), "{}", stderr(&example));
    std::fs::write(&file, stdout(&example)).unwrap();
    let parsed = std::process::Command::new(common::python())
        .args(["-c", "import sys, tomllib; tomllib.load(open(sys.argv[1], 'rb'))", config])
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", stderr(&parsed));
    for section in ["[count]", "[unload]", "[load]", "[verify]", "[iceberg.expire]"] {
        assert!(stdout(&example).contains(section), "{section} missing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What: `completions` prints a script for each shell clap knows (bash's defines the
/// `_cqlbulk` function and offers `unload`), and `man --dir` writes roff pages for the
/// command and every subcommand, `cqlbulk-unload.1` naming `--max-rows-per-second`. Why:
/// packaged tools ship completions and man pages; generated from the CLI, they cannot drift.
#[test]
fn completions_and_man_pages_come_from_the_cli() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = cqlbulk(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("unload"), "{shell} completion lacks unload");
    }
    assert!(stdout(&cqlbulk(&["completions", "bash"])).contains("_cqlbulk()"));
    let dir = std::env::temp_dir().join(format!("cqlbulk-man-{}", std::process::id()));
    let out = cqlbulk(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "cqlbulk.1",
        "cqlbulk-count.1",
        "cqlbulk-unload.1",
        "cqlbulk-load.1",
        "cqlbulk-verify.1",
        "cqlbulk-iceberg-expire.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH"), "{page} is not roff");
    }
    let unload = std::fs::read_to_string(dir.join("cqlbulk-unload.1")).unwrap();
    assert!(unload.contains("max\\-rows\\-per\\-second"), "{unload}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What: with `--log-format json` the one-line error of an unreachable host is one JSON
/// object with timestamp, level ERROR and the same message. Why: log shippers (Kubernetes,
/// Airflow) parse stderr line by line.
#[test]
fn json_logs_are_one_object_per_line() {
    let out = cqlbulk(&[
        "--log-format",
        "json",
        "count",
        "-k",
        "k",
        "-t",
        "t",
        "-h",
        "127.0.0.1",
        "--port",
        "1",
        "--connect-timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    assert!(line["message"].as_str().unwrap().contains("127.0.0.1:1"), "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
}
