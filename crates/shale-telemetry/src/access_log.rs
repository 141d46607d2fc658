//! The access log: one structured line per finished request (target `shale::access`, level
//! info), written through `tracing`, so it is JSON when the logs are (not on a terminal) and
//! human-readable on a terminal. Never prints keys, prompts or answers: only the key's hash
//! prefix and alias.

use crate::record::RequestRecord;
use std::time::Duration;

/// The `tracing` target of access-log lines (filter with `RUST_LOG=shale::access=off`).
pub const TARGET: &str = "shale::access";

fn ms(d: Option<Duration>) -> f64 {
    d.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

/// Writes the line for `record`, which took `latency` in total. `model_id` names the deployment.
pub fn write(record: &RequestRecord, latency: Duration, model_id: &str) {
    let usage = record.usage.unwrap_or_default();
    let key = record.key.as_ref();
    let key_hash = key
        .map(|k| &k.hashed_api_key[..k.hashed_api_key.len().min(12)])
        .unwrap_or("");
    let key_alias = key.map(|k| &*k.api_key_alias).unwrap_or("");
    tracing::info!(
        target: TARGET,
        request_id = %record.request_id,
        method = %record.method,
        path = %record.path,
        status = record.status,
        model = record.requested_model.as_deref().unwrap_or(""),
        deployment = model_id,
        key_hash,
        key_alias,
        stream = record.stream,
        prompt_tokens = usage.prompt_tokens(),
        completion_tokens = usage.output,
        cache_read_tokens = usage.cache_read,
        cache_write_tokens = usage.cache_write,
        latency_ms = ms(Some(latency)),
        upstream_ms = ms(record.upstream),
        ttft_ms = ms(record.ttft),
        overhead_ms = ms(record.overhead),
        cost_usd = record.cost.unwrap_or(0.0),
        retries = record.attempts.saturating_sub(1),
        fallbacks = record.fallbacks,
        error = record.error_class.unwrap_or(""),
        "access"
    );
}
