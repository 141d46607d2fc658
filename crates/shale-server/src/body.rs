//! Reading a JSON request body under the configured size limit, with OpenAI-shaped errors for
//! oversized or malformed bodies — as the [`JsonBody`] extractor every JSON route takes, and as
//! the two functions it is made of.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

/// A JSON request body read under `general_settings.max_request_body_bytes` and parsed into `T`
/// (413 / 400 OpenAI errors otherwise); the raw bytes are dropped once parsed.
pub struct JsonBody<T> {
    pub value: T,
    /// When the gateway started on the request (before reading the body): the start of the
    /// `x-shale-overhead-ms` measurement.
    pub received: Instant,
}

impl<T> JsonBody<T> {
    /// The parsed body and when the request was received.
    pub fn into_parts(self) -> (T, Instant) {
        (self.value, self.received)
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let received = Instant::now();
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body, state.max_body_bytes).await?;
        Ok(JsonBody {
            value: parse_json(&bytes)?,
            received,
        })
    }
}

/// Collects the body, refusing it with 413 once it passes `limit` bytes (checked against
/// `Content-Length` first, so an honest oversized upload is refused before it is read).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(ApiError::PayloadTooLarge { limit });
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        if is_length_limit(&err) {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::invalid(None, format!("Could not read the request body: {err}"))
        }
    })
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Parses JSON into `T`; errors say what is wrong and where (`missing field `messages` at line 1 column 20`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid(
            None,
            "The request body is empty: expected a JSON object.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let param = (path != "." && !path.is_empty()).then_some(path);
            let message = if inner.is_syntax() || inner.is_eof() {
                format!("The request body is not valid JSON: {inner}")
            } else {
                match &param {
                    Some(p) => format!("Invalid request field `{p}`: {inner}"),
                    None => format!("Invalid request: {inner}"),
                }
            };
            let param = if inner.is_syntax() || inner.is_eof() {
                None
            } else {
                param.or_else(|| missing_field(&inner.to_string()))
            };
            Err(ApiError::InvalidRequest {
                message,
                param,
                code: None,
            })
        }
    }
}

/// serde reports missing fields only in the message: `missing field `messages``.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}
