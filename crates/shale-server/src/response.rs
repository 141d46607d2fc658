//! Building successful answers: JSON bodies with the `x-shale-overhead-ms` header, and the time
//! helpers every route shares. Errors are `crate::error`'s job; streams are `crate::sse`'s.

use crate::error::ApiError;
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

/// `x-shale-dropped-tools` on a successful answer (`value` from `report::dropped_tools`).
pub fn with_dropped_tools(
    result: Result<Response, ApiError>,
    value: Option<HeaderValue>,
) -> Result<Response, ApiError> {
    match (result, value) {
        (Ok(mut response), Some(v)) => {
            response
                .headers_mut()
                .insert(crate::headers::DROPPED_TOOLS, v);
            Ok(response)
        }
        (result, _) => result,
    }
}

/// `x-shale-overhead-ms`: time spent in the gateway, excluding waiting for Bedrock.
pub fn set_overhead(response: &mut Response, overhead: Duration) {
    const OVERHEAD: HeaderName = HeaderName::from_static("x-shale-overhead-ms");
    // The text becomes the header's bytes without another copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(millis_text(overhead))) {
        response.headers_mut().insert(OVERHEAD, v);
    }
}

/// Milliseconds with three decimals (`12.345`), rounded to the nearest microsecond: what
/// `format!("{:.3}", ms)` writes, from integers (float formatting was ~1,200 instructions a
/// request).
fn millis_text(duration: Duration) -> String {
    let micros = (duration.as_nanos() + 500) / 1000;
    let mut out = String::with_capacity(16);
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    out.push('.');
    let frac = (micros % 1000) as u16;
    for digit in [frac / 100, frac / 10 % 10, frac % 10] {
        out.push(char::from(b'0' + digit as u8));
    }
    out
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::millis_text;
    use std::time::Duration;

    #[test]
    fn millis_text_matches_float_formatting_away_from_ties() {
        for nanos in [
            0u64,
            1,
            499,
            501,
            999,
            1_000,
            1_234_567,
            12_345_678,
            999_999_499,
            3_600_000_000_123,
        ]
        .into_iter()
        .chain((0..200_000u64).map(|i| i * 7_919 + 3))
        {
            if nanos % 1000 == 500 {
                continue; // exact ties: the float's binary value decides; either is right
            }
            let d = Duration::from_nanos(nanos);
            assert_eq!(
                millis_text(d),
                format!("{:.3}", d.as_secs_f64() * 1000.0),
                "{nanos} ns"
            );
        }
    }
}
