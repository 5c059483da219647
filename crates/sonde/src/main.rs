//! The `sonde` binary: parses the command line and hands off to a subcommand.

mod cli;
mod logging;
mod own_metrics;
mod server;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => server::run(cli.server),
        Some(Command::Server(args)) => server::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sonde: {e:#}");
            ExitCode::FAILURE
        }
    }
}
