//! `shale-bench`: the measuring probe used by `bench/run.sh`. It POSTs one body many times at a
//! fixed concurrency and prints one JSON object with the total latency, the time to the first
//! streamed event (SSE `data:` line or event-stream frame) and the distribution of a timing
//! header such as `x-shale-overhead-ms`. Throughput under load is measured by `wrk`; this tool
//! measures what `wrk` cannot see.

#![forbid(unsafe_code)]

mod first;
mod probe;
mod stats;

use anyhow::Context as _;
use clap::Parser;
use first::FirstEvent;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// Measure latency, time to first token and the gateway's overhead header.
#[derive(Parser, Debug)]
#[command(name = "shale-bench", version, about)]
struct Args {
    /// URL to POST to.
    #[arg(long)]
    url: String,
    /// File holding the request body.
    #[arg(long)]
    body: std::path::PathBuf,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Recorded requests.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Unrecorded warm-up requests sent first.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Measure the time to this first event.
    #[arg(long, value_enum)]
    first: Option<FirstEvent>,
    /// Collect this response header as a number (e.g. x-shale-overhead-ms).
    #[arg(long)]
    overhead_header: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body =
        std::fs::read(&args.body).with_context(|| format!("reading {}", args.body.display()))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header `{h}` is not `Name: value`"))?;
        headers.insert(
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        );
    }
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let config = probe::ProbeConfig {
        url: args.url,
        body: body.into(),
        headers,
        requests: args.requests,
        warmup: args.warmup,
        concurrency: args.concurrency,
        first: args.first,
        overhead_header: args.overhead_header,
        timeout: Duration::from_secs(args.timeout),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(probe::run(config))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
