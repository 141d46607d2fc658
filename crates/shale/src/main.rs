//! The `shale` binary: command-line parsing and wiring. `shale --config PATH` serves the gateway;
//! `shale check PATH` validates a config; `shale demo` runs the gateway on the built-in Bedrock
//! emulator; `shale healthcheck` probes a running gateway (for container health checks).

#![forbid(unsafe_code)]

mod cli;
mod demo;
mod logging;
mod run;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::main(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
