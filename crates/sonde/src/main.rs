//! The `sonde` binary: parses the command line and hands off to a subcommand.

mod check;
mod cli;
mod logging;
mod own_metrics;
mod query_cli;
mod server;
mod tsdb_cli;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse_noting_given();
    let result = match cli.command {
        None => server::run(cli.server),
        Some(Command::Server(args)) => server::run(args),
        Some(Command::Check(cmd)) => check::run(cmd),
        Some(Command::Query(args)) => query_cli::run(args),
        Some(Command::Tsdb(cmd)) => tsdb_cli::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sonde: {e:#}");
            ExitCode::FAILURE
        }
    }
}
