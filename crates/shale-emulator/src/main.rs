//! `shale-emulator` binary: runs the Bedrock emulator on a local address and prints one ready
//! line (`shale-emulator listening on http://HOST:PORT`) to stdout; logs go to stderr.

use clap::Parser;
use shale_emulator::EmulatorConfig;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// Amazon Bedrock emulator for tests and benchmarks.
#[derive(Parser, Debug)]
#[command(name = "shale-emulator", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4010", env = "SHALE_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Accepted access key id.
    #[arg(long, default_value = shale_emulator::DEFAULT_ACCESS_KEY_ID)]
    access_key_id: String,
    /// Accepted secret access key.
    #[arg(long, default_value = shale_emulator::DEFAULT_SECRET_ACCESS_KEY, hide_default_value = true)]
    secret_access_key: String,
    /// Accepted Bedrock API key (bearer token).
    #[arg(long, default_value = shale_emulator::DEFAULT_API_KEY, hide_default_value = true)]
    api_key: String,
    /// Delay before every Bedrock answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between stream frames, in milliseconds.
    #[arg(long, default_value_t = 0)]
    stream_delay_ms: u64,
    /// A JSON file of guardrail policies served besides the built-in ones
    /// (`{"guardrails": [{"id": "…", …}]}`, see docs/emulator.md).
    #[arg(long)]
    guardrails: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let guardrails = match &args.guardrails {
        None => Vec::new(),
        Some(path) => match load_guardrails(path) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("shale-emulator: {}: {e}", path.display());
                std::process::exit(2);
            }
        },
    };
    let config = EmulatorConfig {
        access_key_id: args.access_key_id,
        secret_access_key: args.secret_access_key,
        api_key: args.api_key,
        latency: Duration::from_millis(args.latency_ms),
        stream_delay: Duration::from_millis(args.stream_delay_ms),
        guardrails,
    };
    let emulator = shale_emulator::spawn(config, args.listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "shale-emulator listening on {}", emulator.url())?;
        out.flush()?;
    }
    shutdown_signal().await;
    emulator.shutdown().await;
    Ok(())
}

/// Reads and checks a `--guardrails` file.
fn load_guardrails(
    path: &std::path::Path,
) -> Result<Vec<shale_emulator::guardrail::Policy>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        guardrails: Vec<shale_emulator::guardrail::Policy>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: File = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    shale_emulator::guardrail::Registry::new(&file.guardrails)?;
    Ok(file.guardrails)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
