//! The access log: one structured line per finished request. Never prints keys, prompts or
//! answers: only the key's hash prefix and alias.
//!
//! A line is serialised here, straight from the request record into one buffer (JSON, or
//! `key=value` text on a terminal), and handed to the process's log writer, which the binary
//! installs with [`install`]: a non-blocking writer, so a request never waits on stderr. This
//! skips `tracing`'s per-field visitors, which cost several times the line itself. The line has
//! the shape of the JSON log lines (`timestamp`, `level`, `message`, `target`, then the fields), so
//! one log pipeline reads both. Whether it is written at all is decided once: the config's
//! `telemetry.access_log` and the log filter for target [`TARGET`] (`RUST_LOG=shale::access=off`).
//! Nothing here decides what a request's figures are; it only prints them.

use crate::record::RequestRecord;
use serde::Serialize;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The target of access-log lines (filter with `RUST_LOG=shale::access=off`).
pub const TARGET: &str = "shale::access";

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// One JSON object per line (when stderr is not a terminal).
    Json,
    /// `timestamp  INFO access key=value …` (on a terminal).
    Text,
}

/// Where finished lines go. Implementations must not block (the binary's is a bounded,
/// lossy channel to a writer thread).
pub trait LineSink: Send + Sync + 'static {
    fn write_line(&self, line: &[u8]);
}

struct Installed {
    sink: Box<dyn LineSink>,
    format: LineFormat,
}

/// `None` inside: the log filter turned the access log off.
static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// Sets where access lines go (first call wins; `sink: None` turns them off). Without a call,
/// lines go to stderr as JSON (tests, embedders).
pub fn install(sink: Option<Box<dyn LineSink>>, format: LineFormat) {
    let _ = INSTALLED.set(sink.map(|sink| Installed { sink, format }));
}

/// Stderr, one write per line: the fallback when no sink was installed.
struct Stderr;

impl LineSink for Stderr {
    fn write_line(&self, line: &[u8]) {
        let _ = std::io::stderr().write_all(line);
    }
}

/// One access line, borrowed from the record. Field order is the printed order.
#[derive(Serialize)]
struct AccessLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    message: &'static str,
    target: &'static str,
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    model: &'a str,
    deployment: &'a str,
    key_hash: &'a str,
    key_alias: &'a str,
    team: &'a str,
    stream: bool,
    prompt_tokens: u64,
    completion_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    latency_ms: f64,
    upstream_ms: f64,
    ttft_ms: f64,
    overhead_ms: f64,
    cost_usd: f64,
    retries: u32,
    fallbacks: u32,
    error: &'a str,
    /// `name:mode:outcome,…` of the guardrails that ran (never their text).
    guardrails: &'a str,
}

fn ms(d: Option<Duration>) -> f64 {
    d.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

/// RFC 3339 UTC with microseconds, like the JSON log lines.
fn timestamp(now: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::from(now)
        .format(FORMAT)
        .unwrap_or_default()
}

/// Writes the line for `record`, which took `latency` in total. `model_id` names the deployment.
pub fn write(record: &RequestRecord, latency: Duration, model_id: &str) {
    let installed = INSTALLED.get_or_init(|| {
        Some(Installed {
            sink: Box::new(Stderr),
            format: LineFormat::Json,
        })
    });
    let Some(installed) = installed else { return };
    let line = render(
        record,
        latency,
        model_id,
        installed.format,
        SystemTime::now(),
    );
    installed.sink.write_line(&line);
}

/// The bytes of one line (with its newline).
pub fn render(
    record: &RequestRecord,
    latency: Duration,
    model_id: &str,
    format: LineFormat,
    now: SystemTime,
) -> Vec<u8> {
    let usage = record.usage.unwrap_or_default();
    let key = record.key.as_ref();
    let key_hash = key
        .map(|k| &k.hashed_api_key[..k.hashed_api_key.len().min(12)])
        .unwrap_or("");
    let timestamp = timestamp(now);
    let guardrails = record.guardrails_summary();
    let line = AccessLine {
        timestamp: &timestamp,
        level: "INFO",
        message: "access",
        target: TARGET,
        request_id: &record.request_id,
        method: &record.method,
        path: &record.path,
        status: record.status,
        model: record.requested_model.as_deref().unwrap_or(""),
        deployment: model_id,
        key_hash,
        key_alias: key.map(|k| &*k.api_key_alias).unwrap_or(""),
        team: key.map(|k| &*k.team).unwrap_or(""),
        stream: record.stream,
        prompt_tokens: usage.prompt_tokens(),
        completion_tokens: usage.output,
        cache_read_tokens: usage.cache_read,
        cache_write_tokens: usage.cache_write,
        latency_ms: ms(Some(latency)),
        upstream_ms: ms(record.upstream),
        ttft_ms: ms(record.ttft),
        overhead_ms: ms(record.overhead),
        cost_usd: record.cost.unwrap_or(0.0),
        retries: record.attempts.saturating_sub(1),
        fallbacks: record.fallbacks,
        error: record.error_class.unwrap_or(""),
        guardrails: &guardrails,
    };
    let mut out = Vec::with_capacity(640);
    match format {
        LineFormat::Json => {
            // Serialising borrowed strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, &line);
        }
        LineFormat::Text => write_text(&mut out, &line),
    }
    out.push(b'\n');
    out
}

/// `timestamp  INFO access request_id=… method=…`: the terminal format of the other log lines.
fn write_text(out: &mut Vec<u8>, l: &AccessLine<'_>) {
    let _ = write!(
        out,
        "{}  INFO access request_id={} method={} path={} status={} model={} deployment={} \
         key_hash={} key_alias={} team={} stream={} prompt_tokens={} completion_tokens={} \
         cache_read_tokens={} cache_write_tokens={} latency_ms={} upstream_ms={} ttft_ms={} \
         overhead_ms={} cost_usd={} retries={} fallbacks={} error={} guardrails={}",
        l.timestamp,
        l.request_id,
        l.method,
        l.path,
        l.status,
        l.model,
        l.deployment,
        l.key_hash,
        l.key_alias,
        l.team,
        l.stream,
        l.prompt_tokens,
        l.completion_tokens,
        l.cache_read_tokens,
        l.cache_write_tokens,
        l.latency_ms,
        l.upstream_ms,
        l.ttft_ms,
        l.overhead_ms,
        l.cost_usd,
        l.retries,
        l.fallbacks,
        l.error,
        l.guardrails,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::TokenUsage;
    use crate::labels::KeyLabels;

    fn record() -> RequestRecord {
        RequestRecord {
            request_id: "req-1".into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            requested_model: Some("claude".into()),
            key: Some(KeyLabels {
                hashed_api_key: "0123456789abcdef0123".into(),
                api_key_alias: "team-a".into(),
                ..KeyLabels::default()
            }),
            status: 200,
            usage: Some(TokenUsage {
                input: 10,
                output: 5,
                cache_read: 2,
                cache_write: 1,
            }),
            cost: Some(0.25),
            upstream: Some(Duration::from_micros(1500)),
            attempts: 2,
            guardrails: vec![crate::record::GuardrailRun {
                name: "pii".into(),
                mode: "pre_call",
                outcome: "masked",
                latency: Duration::from_millis(1),
            }],
            ..RequestRecord::default()
        }
    }

    #[test]
    fn json_line_has_the_log_shape_and_every_figure() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let line = render(
            &record(),
            Duration::from_millis(3),
            "dep-1",
            LineFormat::Json,
            now,
        );
        assert_eq!(line.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "access");
        assert_eq!(v["target"], TARGET);
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["model"], "claude");
        assert_eq!(v["deployment"], "dep-1");
        assert_eq!(v["key_hash"], "0123456789ab", "only a 12-digit prefix");
        assert_eq!(v["key_alias"], "team-a");
        assert_eq!(v["prompt_tokens"], 13, "input + cache read + cache write");
        assert_eq!(v["completion_tokens"], 5);
        assert_eq!(v["cache_read_tokens"], 2);
        assert_eq!(v["latency_ms"], 3.0);
        assert_eq!(v["upstream_ms"], 1.5);
        assert_eq!(v["cost_usd"], 0.25);
        assert_eq!(v["retries"], 1);
        assert_eq!(v["guardrails"], "pii:pre_call:masked");
    }

    #[test]
    fn text_line_is_one_line_of_key_values() {
        let line = render(
            &record(),
            Duration::from_millis(3),
            "dep-1",
            LineFormat::Text,
            SystemTime::UNIX_EPOCH,
        );
        let text = String::from_utf8(line).unwrap();
        assert!(text.starts_with("1970-01-01T00:00:00.000000Z  INFO access request_id=req-1 "));
        assert!(text.contains(" status=200 model=claude deployment=dep-1 key_hash=0123456789ab "));
        assert_eq!(text.matches('\n').count(), 1);
    }
}
