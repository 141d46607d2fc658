//! Building successful answers: JSON bodies with the `x-shale-overhead-ms` header, and the time
//! helpers every route shares. Errors are `crate::error`'s job; streams are `crate::sse`'s.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// A 200 JSON answer with the `x-shale-overhead-ms` header: time since `started` minus the time
/// spent waiting on Bedrock (`upstream_time`).
pub fn json_response(json: Vec<u8>, started: Instant, upstream_time: Duration) -> Response {
    let mut response = Response::new(Body::from(json));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_overhead(
        &mut response,
        started.elapsed().saturating_sub(upstream_time),
    );
    response
}

/// `x-shale-overhead-ms`: time spent in the gateway, excluding waiting for Bedrock.
pub fn set_overhead(response: &mut Response, overhead: Duration) {
    const OVERHEAD: HeaderName = HeaderName::from_static("x-shale-overhead-ms");
    let ms = format!("{:.3}", overhead.as_secs_f64() * 1000.0);
    // The formatted text becomes the header's bytes without another copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(ms)) {
        response.headers_mut().insert(OVERHEAD, v);
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
