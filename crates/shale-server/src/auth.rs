//! Gateway authentication: the master key, read from `Authorization: Bearer`, `x-api-key` or
//! `x-litellm-api-key`, compared in constant time.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The configured key, stored as a SHA-256 digest so comparison time depends on neither the key's
/// content nor its length.
#[derive(Clone)]
pub struct MasterKey {
    digest: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn new(key: &str) -> Self {
        MasterKey {
            digest: Sha256::digest(key.as_bytes()).into(),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest))
    }
}

/// Headers a client may carry the key in. A SigV4 `Authorization` header (AWS SDKs on the
/// pass-through) simply does not match, so such clients put the key in `x-api-key`.
const KEY_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-litellm-api-key"];

/// True when any of the key headers carries the master key (with or without a `Bearer ` prefix).
pub fn request_is_authorized(key: &MasterKey, headers: &HeaderMap) -> bool {
    let mut ok = false;
    for name in KEY_HEADERS {
        for value in headers.get_all(name) {
            if let Ok(text) = value.to_str() {
                let token = strip_bearer(text.trim());
                // Evaluate every candidate: no early exit that depends on which header matched.
                ok |= key.matches(token);
            }
        }
    }
    ok
}

/// The key the caller presented: the first key header, without a `Bearer ` prefix.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    KEY_HEADERS.iter().find_map(|name| {
        let text = headers.get(*name)?.to_str().ok()?;
        Some(strip_bearer(text.trim()))
    })
}

fn strip_bearer(value: &str) -> &str {
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

/// Middleware: refuse with 401 unless the master key is presented (no key configured: everything passes;
/// the binary refuses to start that way unless explicitly allowed).
pub async fn require_master_key(
    State(key): State<Option<Arc<MasterKey>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = key {
        if let Err(err) = check_key(&key, request.headers()) {
            // The Messages API answers in Anthropic's error shape, like its handlers do.
            return if crate::anthropic_error::is_messages_path(request.uri().path()) {
                crate::anthropic_error::anthropic_error_response(err)
            } else {
                err.into_response()
            };
        }
    }
    next.run(request).await
}

fn check_key(key: &MasterKey, headers: &HeaderMap) -> Result<(), ApiError> {
    let present = KEY_HEADERS.iter().any(|h| headers.contains_key(*h));
    if !present {
        return Err(ApiError::Unauthorized(
            "Missing API key: send the gateway key as `Authorization: Bearer <key>`, `x-api-key` or `x-litellm-api-key`.",
        ));
    }
    if !request_is_authorized(key, headers) {
        return Err(ApiError::Unauthorized("Invalid API key."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn accepts_three_header_forms() {
        let key = MasterKey::new("sk-1234");
        assert!(request_is_authorized(
            &key,
            &headers("authorization", "Bearer sk-1234")
        ));
        assert!(request_is_authorized(
            &key,
            &headers("x-api-key", "sk-1234")
        ));
        assert!(request_is_authorized(
            &key,
            &headers("x-litellm-api-key", "Bearer sk-1234")
        ));
    }

    #[test]
    fn rejects_wrong_or_partial_keys() {
        let key = MasterKey::new("sk-1234");
        assert!(!request_is_authorized(
            &key,
            &headers("authorization", "Bearer sk-123")
        ));
        assert!(!request_is_authorized(
            &key,
            &headers("authorization", "Bearer sk-12345")
        ));
        assert!(!request_is_authorized(&key, &headers("x-api-key", "")));
        assert!(!request_is_authorized(
            &key,
            &headers(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=y"
            )
        ));
        assert!(!request_is_authorized(&key, &HeaderMap::new()));
    }

    #[test]
    fn sigv4_authorization_with_key_in_x_api_key() {
        let key = MasterKey::new("sk-1234");
        let mut h = headers("authorization", "AWS4-HMAC-SHA256 Credential=AKID/x");
        h.insert("x-api-key", HeaderValue::from_static("sk-1234"));
        assert!(request_is_authorized(&key, &h));
    }
}
