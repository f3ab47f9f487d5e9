//! The `cqlbulk` command line: [`cqlbulk::cmd::main`], one module per subcommand in `cmd/`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(cqlbulk::cmd::main(std::env::args_os().collect()))
}
