//! The probe loop: `concurrency` workers share a bounded request budget, POST the same body,
//! and record per request the total latency, the time to the first streamed event and the
//! gateway's `x-shale-overhead-ms` header. Warm-up requests are sent first and not recorded.

use crate::first::{FirstDetector, FirstEvent};
use crate::stats::{summarize, Summary};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to send and what to measure.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub url: String,
    pub body: Bytes,
    pub headers: HeaderMap,
    /// Recorded requests.
    pub requests: usize,
    /// Unrecorded requests sent before.
    pub warmup: usize,
    pub concurrency: usize,
    /// Which event ends the time to first token (`None`: not measured).
    pub first: Option<FirstEvent>,
    /// Response header holding a number of milliseconds to collect.
    pub overhead_header: Option<String>,
    pub timeout: Duration,
}

/// One recorded request.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    ttft_us: Option<f64>,
    total_us: f64,
    overhead_ms: Option<f64>,
}

/// The outcome, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall_seconds: f64,
    pub requests_per_second: f64,
    pub total_us: Option<Summary>,
    pub ttft_us: Option<Summary>,
    pub overhead_ms: Option<Summary>,
}

/// Runs the probe to completion (bounded by `warmup + requests`).
pub async fn run(config: ProbeConfig) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(config.concurrency)
        .timeout(config.timeout)
        .build()?;
    let config = Arc::new(config);
    if config.warmup > 0 {
        // Warm-up on all connections, then start the clock on the recorded part.
        for w in spawn_workers(&client, &config, config.warmup) {
            let _ = w.await?;
        }
    }
    let wall_start = Instant::now();
    let workers = spawn_workers(&client, &config, config.requests);
    let mut samples = Vec::with_capacity(config.requests);
    let mut errors = 0;
    let mut first_error = None;
    for w in workers {
        let (ok, errs) = w.await?;
        samples.extend(ok);
        errors += errs.len();
        if first_error.is_none() {
            first_error = errs.into_iter().next();
        }
    }
    let wall = wall_start.elapsed();
    let mut total_us: Vec<f64> = samples.iter().map(|s| s.total_us).collect();
    let mut ttft_us: Vec<f64> = samples.iter().filter_map(|s| s.ttft_us).collect();
    let mut overhead_ms: Vec<f64> = samples.iter().filter_map(|s| s.overhead_ms).collect();
    Ok(Report {
        url: config.url.clone(),
        concurrency: config.concurrency,
        requests: samples.len(),
        errors,
        first_error,
        wall_seconds: wall.as_secs_f64(),
        requests_per_second: samples.len() as f64 / wall.as_secs_f64().max(1e-9),
        total_us: summarize(&mut total_us),
        ttft_us: summarize(&mut ttft_us),
        overhead_ms: summarize(&mut overhead_ms),
    })
}

type WorkerResult = (Vec<Sample>, Vec<String>);

/// Spawns `concurrency` workers sharing a budget of `limit` requests.
fn spawn_workers(
    client: &reqwest::Client,
    config: &Arc<ProbeConfig>,
    limit: usize,
) -> Vec<tokio::task::JoinHandle<WorkerResult>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..config.concurrency)
        .map(|_| {
            let (client, config, next) = (client.clone(), config.clone(), next.clone());
            tokio::spawn(async move {
                let mut ok = Vec::new();
                let mut errs = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < limit {
                    match one(&client, &config).await {
                        Ok(sample) => ok.push(sample),
                        Err(e) => errs.push(e),
                    }
                }
                (ok, errs)
            })
        })
        .collect()
}

/// Sends one request and reads the whole answer.
async fn one(client: &reqwest::Client, config: &ProbeConfig) -> Result<Sample, String> {
    let started = Instant::now();
    let mut response = client
        .post(&config.url)
        .headers(config.headers.clone())
        .body(config.body.clone())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let overhead_ms = config
        .overhead_header
        .as_deref()
        .and_then(|name| response.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("status {status}: {}", truncate(&body, 300)));
    }
    let mut detector = config.first.map(FirstDetector::new);
    let mut ttft = None;
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("read: {e}"))? {
        if ttft.is_none() {
            if let Some(d) = detector.as_mut() {
                if d.feed(&chunk).map_err(|e| e.to_string())? {
                    ttft = Some(started.elapsed());
                }
            }
        }
    }
    if detector.is_some() && ttft.is_none() {
        return Err("stream ended before its first event".to_owned());
    }
    Ok(Sample {
        ttft_us: ttft.map(micros),
        total_us: micros(started.elapsed()),
        overhead_ms,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
