//! Command-line interface definition (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "shale",
    version,
    about = "An OpenAI-compatible gateway for Amazon Bedrock",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file and print findings (exit 0 when it loads, 1 otherwise).
    Check {
        /// The config file (LiteLLM proxy format).
        path: PathBuf,
    },
    /// Run the gateway against the built-in Bedrock emulator: no AWS account needed.
    Demo(DemoArgs),
    /// Exit 0 when a running gateway answers 200 on its liveliness route (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:4000/health/liveliness")]
        url: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file (LiteLLM proxy `config.yaml`).
    #[arg(long, short = 'c', env = "SHALE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", env = "SHALE_HOST")]
    pub host: String,
    /// Port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 4000, env = "PORT")]
    pub port: u16,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Log format: `auto` is human-readable on a terminal and JSON otherwise.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, env = "SHALE_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Serve without a master key (every caller is accepted). Never do this on a shared network.
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Serving threads, each with its own runtime and Bedrock connection pool (default: one per
    /// CPU core). LiteLLM's `--num_workers` is accepted as an alias.
    #[arg(long, alias = "num_workers", env = "SHALE_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
}

impl CommonArgs {
    /// `--workers`, or one per CPU core.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Gateway port.
    #[arg(long, default_value_t = 4000, env = "PORT")]
    pub port: u16,
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// A config to use instead of the built-in demo config; `os.environ/SHALE_DEMO_BEDROCK_URL` in it
    /// resolves to the emulator's URL.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}
