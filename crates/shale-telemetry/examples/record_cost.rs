//! Hot-path cost of metrics: nanoseconds to record one successful request through the
//! pre-resolved handles, against resolving the label sets per request (what a naive
//! implementation does). `cargo run -p shale-telemetry --example record_cost [iterations]`.

use shale_telemetry::labels::{self, DeploymentInfo, KeyLabels};
use shale_telemetry::metrics::Observation;
use shale_telemetry::{Metrics, TokenUsage};
use std::time::{Duration, Instant};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let info = DeploymentInfo {
        model_name: "claude".into(),
        model_id: "claude-1".into(),
        model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
        api_base: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
        rpm: Some(1000),
        tpm: Some(1_000_000),
    };
    let key = KeyLabels {
        hashed_api_key: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        ..KeyLabels::default()
    };
    let metrics = Metrics::new(vec![info.clone()], key.clone());
    let observation = Observation {
        status: 200,
        usage: Some(TokenUsage {
            input: 120,
            output: 40,
            cache_read: 0,
            cache_write: 0,
        }),
        cost: Some(0.001),
        latency: Duration::from_millis(300),
        upstream: Some(Duration::from_millis(299)),
        overhead: Some(Duration::from_micros(400)),
        ..Observation::default()
    };

    let handles = metrics.handles(0, None).expect("handles");
    let started = Instant::now();
    for _ in 0..n {
        let h = metrics.handles(0, None).expect("handles");
        metrics.record(&h, &observation);
    }
    let per = started.elapsed().as_nanos() as f64 / f64::from(n);
    println!("pre-resolved handles: {per:.0} ns per request (15 series, 4 histograms)");

    // The naive way: build every label set per request and look each series up.
    let families = prometheus_client::metrics::family::Family::<
        labels::Labels<9>,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let started = Instant::now();
    for _ in 0..n {
        for _ in 0..10 {
            families.get_or_create(&labels::request(&info, &key)).inc();
        }
    }
    let naive = started.elapsed().as_nanos() as f64 / f64::from(n);
    println!("label sets built per request (10 counters only): {naive:.0} ns per request");
    drop(handles);
}
