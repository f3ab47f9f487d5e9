//! The `cqlbulk` command line: `main` → `run` → one module per subcommand in `cmd/`.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A command line clap cannot parse is a fatal error (3), so that 2 can keep DSBulk's
    // meaning (too many errors); help and version are not errors.
    let cli = match cmd::config::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(cmd::config::ParseError::Clap(err)) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { cmd::EXIT_FATAL } else { cmd::EXIT_OK });
        }
        Err(cmd::config::ParseError::Config(message)) => {
            eprintln!("cqlbulk: error: {message}");
            return ExitCode::from(cmd::EXIT_FATAL);
        }
    };
    let json = cli.log_format == cmd::LogFormat::Json;
    cqlbulk::logs::set_json(json);
    init_logging(cli.verbose, json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cqlbulk: cannot start the async runtime: {err}");
            return ExitCode::from(cmd::EXIT_FATAL);
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed pipe (`cqlbulk count … | head`) is the reader's choice, not a failure.
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            cqlbulk::logs::say("ERROR", &format!("cqlbulk: error: {err:#}"));
            ExitCode::from(cmd::exit_code(&err))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(verbose: u8, json: bool) {
    let default = match verbose {
        // The driver logs every failed connection attempt; what matters reaches the user as
        // cqlbulk's own error.
        0 => "warn,scylla=off",
        1 => "info,scylla=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CQLBULK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    if json {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
}
