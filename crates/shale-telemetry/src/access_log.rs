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
//!
//! **Batching.** Handing every line to the writer on its own costs a queue push and a wake-up of
//! the writer thread per request (a futex wake and, on a VM, an inter-processor interrupt), paid
//! before the answer leaves. A serving worker therefore calls [`batch_this_thread`] once: its lines
//! are written into a buffer of its own and handed over together — when the buffer holds
//! [`BATCH_BYTES`], or at the latest [`FLUSH_DELAY`] after the first line of the batch (the
//! [`Flusher`] task on the worker's runtime), and when the thread ends. The writer then wakes once
//! per batch and writes it with one `write`. Lines of different workers are interleaved by batch,
//! so timestamps are not in order across workers. Other threads write each line at once.

use crate::record::RequestRecord;
use serde::Serialize;
use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

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
    /// Writes one or more whole lines (each ends in `\n`).
    fn write_line(&self, line: &[u8]);
}

/// A batching thread hands its lines over once they fill this many bytes (~100 lines).
pub const BATCH_BYTES: usize = 64 * 1024;

/// The longest a line waits in a batching thread's buffer.
pub const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// One thread's unwritten lines.
struct Batch {
    buf: Vec<u8>,
    /// Told when a line lands in an empty buffer: the thread's [`Flusher`] waits on it.
    first_line: Arc<Notify>,
}

impl Drop for Batch {
    /// The thread ends: its lines are not lost.
    fn drop(&mut self) {
        hand_over(&mut self.buf);
    }
}

thread_local! {
    /// `Some` on threads that batch (the serving workers).
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Makes the current thread batch its access lines (see the module doc). The returned
/// [`Flusher`] must run on this same thread (a task on its current-thread runtime); until it
/// runs, lines wait for a full buffer or the end of the thread.
pub fn batch_this_thread() -> Flusher {
    let first_line = Arc::new(Notify::new());
    BATCH.with(|b| {
        *b.borrow_mut() = Some(Batch {
            buf: Vec::with_capacity(BATCH_BYTES + 1024),
            first_line: Arc::clone(&first_line),
        });
    });
    Flusher { first_line }
}

/// Hands the current thread's batched lines to the writer now (a worker that stops serving).
pub fn flush_this_thread() {
    let _ = BATCH.try_with(|b| {
        if let Ok(mut batch) = b.try_borrow_mut() {
            if let Some(batch) = batch.as_mut() {
                hand_over(&mut batch.buf);
            }
        }
    });
}

/// Writes a batching thread's lines at most [`FLUSH_DELAY`] after the first one of a batch.
#[derive(Debug)]
#[must_use = "a batching thread's lines wait for a full buffer unless its flusher runs"]
pub struct Flusher {
    first_line: Arc<Notify>,
}

impl Flusher {
    /// Runs forever on the batching thread's runtime: sleeps until a batch starts, waits
    /// [`FLUSH_DELAY`], writes the batch. No timer is armed while no lines arrive.
    pub async fn run(self) {
        loop {
            self.first_line.notified().await;
            tokio::time::sleep(FLUSH_DELAY).await;
            flush_this_thread();
        }
    }
}

/// The installed sink (stderr when none was installed), or `None` when lines are off.
fn installed() -> Option<&'static Installed> {
    INSTALLED
        .get_or_init(|| {
            Some(Installed {
                sink: Box::new(Stderr),
                format: LineFormat::Json,
            })
        })
        .as_ref()
}

/// Gives `buf`'s lines to the sink and empties it (keeping its capacity).
fn hand_over(buf: &mut Vec<u8>) {
    if buf.is_empty() {
        return;
    }
    if let Some(installed) = installed() {
        installed.sink.write_line(buf);
    }
    buf.clear();
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
/// On a batching thread the line joins the thread's batch; elsewhere it is written at once.
pub fn write(record: &RequestRecord, latency: Duration, model_id: &str) {
    let Some(installed) = installed() else { return };
    let now = SystemTime::now();
    let batched = BATCH.try_with(|b| {
        let Ok(mut batch) = b.try_borrow_mut() else {
            return false;
        };
        let Some(batch) = batch.as_mut() else {
            return false;
        };
        let was_empty = batch.buf.is_empty();
        render_into(
            &mut batch.buf,
            record,
            latency,
            model_id,
            installed.format,
            now,
        );
        if batch.buf.len() >= BATCH_BYTES {
            hand_over(&mut batch.buf);
        } else if was_empty {
            batch.first_line.notify_one();
        }
        true
    });
    if !matches!(batched, Ok(true)) {
        let line = render(record, latency, model_id, installed.format, now);
        installed.sink.write_line(&line);
    }
}

/// The bytes of one line (with its newline).
pub fn render(
    record: &RequestRecord,
    latency: Duration,
    model_id: &str,
    format: LineFormat,
    now: SystemTime,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(640);
    render_into(&mut out, record, latency, model_id, format, now);
    out
}

/// Appends one line (with its newline) to `out`.
fn render_into(
    out: &mut Vec<u8>,
    record: &RequestRecord,
    latency: Duration,
    model_id: &str,
    format: LineFormat,
    now: SystemTime,
) {
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
    match format {
        LineFormat::Json => {
            // Serialising borrowed strings and numbers into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &line);
        }
        LineFormat::Text => write_text(out, &line),
    }
    out.push(b'\n');
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

    /// What reached the installed sink, per writing thread: one entry per `write_line` call.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<Vec<(std::thread::ThreadId, Vec<u8>)>>);

    impl Capture {
        fn calls_from(&self, thread: std::thread::ThreadId) -> Vec<Vec<u8>> {
            let calls = self.0.lock().unwrap();
            calls
                .iter()
                .filter(|(t, _)| *t == thread)
                .map(|(_, b)| b.clone())
                .collect()
        }
    }

    struct CaptureSink(&'static Capture);

    impl LineSink for CaptureSink {
        fn write_line(&self, line: &[u8]) {
            let me = std::thread::current().id();
            self.0 .0.lock().unwrap().push((me, line.to_vec()));
        }
    }

    /// Installs the capturing sink for this test binary (the sink is process-wide; each test
    /// looks only at the calls made from its own threads).
    fn capture() -> &'static Capture {
        static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture: &'static Capture = Box::leak(Box::default());
            install(Some(Box::new(CaptureSink(capture))), LineFormat::Json);
            capture
        })
    }

    fn lines(calls: &[Vec<u8>]) -> usize {
        calls
            .iter()
            .map(|c| c.iter().filter(|b| **b == b'\n').count())
            .sum()
    }

    #[test]
    fn a_thread_that_does_not_batch_writes_each_line_at_once() {
        let capture = capture();
        let me = std::thread::current().id();
        for _ in 0..3 {
            write(&record(), Duration::from_millis(1), "dep-1");
        }
        let calls = capture.calls_from(me);
        assert_eq!(calls.len(), 3, "one write per line");
        assert_eq!(lines(&calls), 3);
    }

    #[test]
    fn a_batching_thread_writes_its_lines_together_after_the_flush_delay() {
        let capture = capture();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let me = std::thread::current().id();
        runtime.block_on(async {
            let flusher = batch_this_thread();
            tokio::spawn(flusher.run());
            for _ in 0..5 {
                write(&record(), Duration::from_millis(1), "dep-1");
            }
            tokio::task::yield_now().await;
            assert!(capture.calls_from(me).is_empty(), "held for the batch");
            tokio::time::sleep(FLUSH_DELAY - Duration::from_millis(1)).await;
            assert!(capture.calls_from(me).is_empty(), "not before the delay");
            tokio::time::sleep(Duration::from_millis(2)).await;
            let calls = capture.calls_from(me);
            assert_eq!(calls.len(), 1, "one write for the batch");
            assert_eq!(lines(&calls), 5);
            for line in calls[0].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                assert_eq!(v["request_id"], "req-1");
            }
            // The next line starts a new batch with its own delay.
            write(&record(), Duration::from_millis(1), "dep-1");
            tokio::time::sleep(FLUSH_DELAY + Duration::from_millis(1)).await;
            assert_eq!(lines(&capture.calls_from(me)), 6);
            assert_eq!(capture.calls_from(me).len(), 2);
        });
        drop(runtime);
        BATCH.with(|b| b.borrow_mut().take());
    }

    #[test]
    fn a_full_batch_is_written_at_once_and_the_rest_when_the_thread_ends() {
        let capture = capture();
        let thread = std::thread::spawn(|| {
            let me = std::thread::current().id();
            // No flusher runs: only a full buffer and the thread's end write lines.
            let _flusher = batch_this_thread();
            let one = render(
                &record(),
                Duration::from_millis(1),
                "dep-1",
                LineFormat::Json,
                SystemTime::now(),
            )
            .len();
            let per_batch = BATCH_BYTES.div_ceil(one);
            for _ in 0..per_batch + 3 {
                write(&record(), Duration::from_millis(1), "dep-1");
            }
            let calls = capture.calls_from(me);
            assert_eq!(calls.len(), 1, "the full buffer went out");
            assert_eq!(lines(&calls), per_batch);
            assert!(calls[0].len() >= BATCH_BYTES);
            (me, per_batch)
        });
        let (id, per_batch) = thread.join().unwrap();
        let calls = capture.calls_from(id);
        assert_eq!(calls.len(), 2, "the rest was written when the thread ended");
        assert_eq!(lines(&calls), per_batch + 3);
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
