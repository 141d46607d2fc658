//! Log set-up: `RUST_LOG`-style filtering, human-readable on a terminal and JSON otherwise, plus
//! the OpenTelemetry layer when traces are exported. Request headers are never logged (the
//! server marks key headers sensitive as well). Trace spans (target `shale::otel`) go to the
//! OpenTelemetry layer only, never to the log; Bedrock attempt spans are also counted per request
//! (retries in the access log and metrics).
//!
//! Every line goes through one non-blocking writer: a bounded queue drained by a writer thread,
//! so no request ever waits on stderr (when the queue is full, lines are dropped, not waited
//! for). The access log (`shale_telemetry::access_log`) writes its pre-serialised lines into the
//! same writer. Keep the returned [`LogGuard`] alive until exit: dropping it flushes the queue.

use crate::cli::LogFormat;
use shale_telemetry::access_log::{self, LineFormat, LineSink};
use shale_telemetry::otel::Otel;
use std::io::{IsTerminal, Write};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines the log queue holds before it drops new ones: about a second of access lines at 30,000
/// requests/s. (tracing-appender's default, 128,000, allocates and touches ~4 MB up front.)
const LOG_QUEUE_LINES: usize = 32_768;

/// Flushes buffered log lines when dropped.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: WorkerGuard,
}

/// The access log's way into the shared non-blocking writer.
struct AccessSink(NonBlocking);

impl LineSink for AccessSink {
    fn write_line(&self, line: &[u8]) {
        // One queue message per line; a full queue drops it rather than block.
        let _ = self.0.clone().write_all(line);
    }
}

/// `RUST_LOG`, or the default filter; trace spans never reach the log.
fn env_filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,hyper=warn,aws_config=warn"));
    match "shale::otel=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Whether the log filter lets access lines through, asked of the filter alone (the global
/// subscriber's other layers would say yes to everything).
fn access_lines_wanted() -> bool {
    let probe = tracing_subscriber::registry().with(env_filter());
    tracing::subscriber::with_default(
        probe,
        || tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO),
    )
}

pub fn init(format: LogFormat, otel: Option<&Otel>) -> LogGuard {
    let filter = env_filter();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_target(false);
    let fmt = if json {
        fmt.json().flatten_event(true).boxed()
    } else {
        fmt.boxed()
    };
    // No `Option` layer: an absent layer (`None`) says "always" to every callsite, which would
    // build every span in the process although nothing exports it.
    let logged = tracing_subscriber::registry().with(fmt.with_filter(filter));
    let result = match otel {
        Some(otel) => logged.with(otel.layer()).try_init(),
        None => logged.try_init(),
    };
    // A second init (tests) is harmless.
    let _ = result;
    // The filter decides once whether access lines are wanted (`RUST_LOG=…,shale::access=off`).
    let access_wanted = access_lines_wanted();
    let line_format = if json {
        LineFormat::Json
    } else {
        LineFormat::Text
    };
    access_log::install(
        access_wanted.then(|| Box::new(AccessSink(writer)) as Box<dyn LineSink>),
        line_format,
    );
    LogGuard { _worker: worker }
}
