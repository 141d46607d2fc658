//! The `shale` binary: command-line parsing and wiring. `shale --config PATH` serves the gateway;
//! `shale check PATH` validates a config; `shale demo` runs the gateway on the built-in Bedrock
//! emulator; `shale healthcheck` probes a running gateway (for container health checks).

#![forbid(unsafe_code)]

mod cli;
mod demo;
mod logging;
mod run;

use clap::Parser;

/// mimalloc: glibc malloc/free was ~15% of the gateway's CPU under load (see bench/results/profile.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
