//! Log set-up: `RUST_LOG`-style filtering, human-readable on a terminal and JSON otherwise, plus
//! the OpenTelemetry layer when traces are exported. Request headers are never logged (the
//! server marks key headers sensitive as well). Trace spans (target `shale::otel`) go to the
//! OpenTelemetry layer only, never to the log; Bedrock attempt spans are also counted per request
//! (retries in the access log and metrics).

use crate::cli::LogFormat;
use shale_telemetry::otel::Otel;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init(format: LogFormat, otel: Option<&Otel>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,hyper=warn,aws_config=warn"));
    let filter = match "shale::otel=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let fmt = if json {
        fmt.json().flatten_event(true).boxed()
    } else {
        fmt.boxed()
    };
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel.map(|o| o.layer()))
        .with(shale_telemetry::attempts::layer())
        .try_init();
    // A second init (tests) is harmless.
    let _ = result;
}
