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
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|err| {
        if is_length_limit(&err) {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::invalid(None, format!("Could not read the request body: {err}"))
        }
    })?;
    // A virtual key with a tpm limit reserves tokens estimated from the body's size.
    shale_telemetry::record::with_current(|r| r.request_bytes = bytes.len() as u64);
    Ok(bytes)
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
    // Fast path: plain serde_json. Only a body that fails is parsed again with the path tracker
    // (which copies every key it passes): parsing is deterministic, so the second run fails with
    // the same error, now with its path. Neither run checks for trailing bytes.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if let Ok(v) = T::deserialize(&mut de) {
        return Ok(v);
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

#[cfg(test)]
mod tests {
    use super::*;
    use shale_translate::ChatRequest;

    /// (body, message, param) as the path-tracking parser reported them before the fast path.
    const ERRORS: &[(&str, &str, Option<&str>)] = &[
        (r#"{"model": 1, "messages": []}"#, "Invalid request field `model`: invalid type: integer `1`, expected a string at line 1 column 11", Some("model")),
        (r#"{"model": "m", "messages": [], "max_tokens": "x"}"#, "Invalid request field `max_tokens`: invalid type: string \"x\", expected u64 at line 1 column 48", Some("max_tokens")),
        (r#"{"model": "m", "messages": [], "max_tokens": -1}"#, "Invalid request field `max_tokens`: invalid value: integer `-1`, expected u64 at line 1 column 47", Some("max_tokens")),
        (r#"{"model": "m", "messages": [{"role": "bogus", "content": "x"}]}"#, "Invalid request field `messages[0].role`: unknown variant `bogus`, expected one of `system`, `developer`, `user`, `assistant`, `tool`, `function` at line 1 column 44", Some("messages[0].role")),
        (r#"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#, "Invalid request field `messages[0].content`: data did not match any variant of untagged enum MessageContent at line 1 column 58", Some("messages[0].content")),
        (r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}"#, "Invalid request field `messages[0].content`: data did not match any variant of untagged enum MessageContent at line 1 column 86", Some("messages[0].content")),
        (r#"{"model": "m", "messages": [{"role": "user", "content": {"a": [1, {"b": 2}]}}]}"#, "Invalid request field `messages[0].content`: data did not match any variant of untagged enum MessageContent at line 1 column 77", Some("messages[0].content")),
        (r#"{"model": "m", "messages": [{"role": "user", "content": true}]}"#, "Invalid request field `messages[0].content`: data did not match any variant of untagged enum MessageContent at line 1 column 61", Some("messages[0].content")),
        (r#"{"model": "m", "messages": [{"role": "user"}], "temperature": "hot"}"#, "Invalid request field `temperature`: invalid type: string \"hot\", expected f64 at line 1 column 67", Some("temperature")),
        (r#"{"model": "m"}"#, "Invalid request: missing field `messages` at line 1 column 14", Some("messages")),
        (r#"{"messages": []}"#, "Invalid request: missing field `model` at line 1 column 16", Some("model")),
        (r#"{"model": "m", "model": "n", "messages": []}"#, "Invalid request: duplicate field `model` at line 1 column 22", None),
        (r#"{"model": "m", "messages": [{"content": "x"}]}"#, "Invalid request field `messages[0]`: missing field `role` at line 1 column 44", Some("messages[0]")),
        (r#"{"model": "m", "messages": [], "stop": 5}"#, "Invalid request field `stop`: data did not match any variant of untagged enum Stop at line 1 column 41", Some("stop")),
        (r#"{"model": "m", "messages": [], "stream": "yes"}"#, "Invalid request field `stream`: invalid type: string \"yes\", expected a boolean at line 1 column 46", Some("stream")),
        (r#"{"model": "m", "messages": [], "tools": [{"type": "function", "function": {"name": 3}}]}"#, "Invalid request field `tools[0].function.name`: invalid type: integer `3`, expected a string at line 1 column 84", Some("tools[0].function.name")),
        (r#"{"model": "m", "messages": [] "#, "The request body is not valid JSON: EOF while parsing an object at line 1 column 30", None),
        (r#"[1]"#, "Invalid request: invalid type: sequence, expected struct ChatRequest at line 1 column 0", None),
    ];

    #[test]
    fn refusals_keep_their_message_and_path() {
        for (body, message, param) in ERRORS {
            match parse_json::<ChatRequest>(body.as_bytes()) {
                Err(ApiError::InvalidRequest {
                    message: m,
                    param: p,
                    ..
                }) => {
                    assert_eq!(&m, message, "{body}");
                    assert_eq!(p.as_deref(), *param, "{body}");
                }
                other => panic!("{body}: {:?}", other.map(|r| r.model)),
            }
        }
    }

    #[test]
    fn accepted_bodies_parse_as_before() {
        // Trailing bytes after the object were never checked; duplicate unknown keys keep the last.
        let r: ChatRequest =
            parse_json(br#"{"model": "m", "messages": [], "foo": 1, "foo": 2} trailing"#).unwrap();
        assert_eq!(r.extra["foo"], 2);
        let r: ChatRequest = parse_json(
            br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": [{"type": "text", "text": "a"}]}]}"#,
        )
        .unwrap();
        assert_eq!(r.messages.len(), 2);
    }
}
