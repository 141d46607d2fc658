//! Gateway authentication: the key read from `Authorization: Bearer`, `x-api-key` or
//! `x-litellm-api-key` is the master key (compared in constant time) or, when a database is
//! configured, a virtual key resolved by `shale_keys::KeyService::authenticate`. On the model
//! routes this is a step `observe.rs` calls inline ([`authenticate`]); the admin API's
//! middleware ([`require_master_key`]) takes the master key only. A request with no key at all
//! may carry an admin UI session instead (cookie + CSRF token, checked by `shale_ui::Ui`), which
//! stands for the master key.
//!
//! Must not: log or store a presented key, or decide model scope and budgets (that is admission,
//! `keygate.rs`, once the model is known).

use crate::error::ApiError;
pub use crate::master_key::MasterKey;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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

/// The key the caller presented: the first key header, without a `Bearer ` prefix. A SigV4
/// `Authorization` (an AWS SDK on the pass-through) is a signature, not a key: it is skipped, so
/// such clients are known by the key in `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    KEY_HEADERS.iter().find_map(|name| {
        let text = headers.get(*name)?.to_str().ok()?.trim();
        (!text.starts_with("AWS4-")).then(|| strip_bearer(text))
    })
}

fn strip_bearer(value: &str) -> &str {
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

/// The authentication step of every model route, called by `observe` inside the request's
/// record and key-slot scopes (so a refusal is observed and counted like any other answer): the
/// master key (constant time) passes; else, with a database, a virtual key — its principal goes
/// into the request's key slot and onto the telemetry record; else the refusal to send (401, in
/// Anthropic's shape on the Messages API, with `Connection: close`). (No master key and no
/// database configured: everything passes; the binary refuses to start that way unless
/// explicitly allowed.)
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<(), Response> {
    let Err(err) = identify(state, headers).await else {
        return Ok(());
    };
    // The Messages API answers in Anthropic's error shape, like its handlers do.
    let response = if crate::anthropic_error::is_messages_path(path) {
        crate::anthropic_error::anthropic_error_response(err)
    } else {
        err.into_response()
    };
    Err(closing(response))
}

/// A refusal sent before the request body was read: the connection cannot be reused (the unread
/// body is still on it), so say so — else a keep-alive client sends its next request on a
/// connection the server is closing.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

async fn identify(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &state.master_key else {
        return Ok(());
    };
    if let Err(missing) = require_key_header(headers) {
        return ui_session(state, headers).unwrap_or(Err(missing));
    }
    if request_is_authorized(key, headers) {
        return Ok(());
    }
    let (Some(keys), Some(presented)) = (&state.keys, presented_key(headers)) else {
        return Err(ApiError::Unauthorized("Invalid API key."));
    };
    // Boxed: only virtual keys take this path, and the lookup's future (cache, then Postgres) is
    // large; inline, it would grow every request's observed future (`observe.rs`).
    let principal = Box::pin(keys.authenticate(presented)).await?;
    shale_telemetry::record::with_current(|r| r.key = Some(crate::keygate::labels(&principal)));
    if let Some(slot) = crate::keygate::current() {
        slot.set_principal(principal);
    }
    Ok(())
}

/// Middleware on the admin API (`/key/*`, `/team/*`, `/spend/logs`): the master key only; a
/// virtual key is refused with 403.
pub async fn require_master_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // Without a master key the gateway runs open (`allow_unauthenticated`), and an open admin
    // API would let anyone mint keys: it stays closed.
    let Some(key) = &state.master_key else {
        return closing(
            ApiError::Forbidden(
                "The admin API (/key, /team, /spend) needs general_settings.master_key (or LITELLM_MASTER_KEY) to be set.",
            )
            .into_response(),
        );
    };
    let headers = request.headers();
    if let Err(err) = require_key_header(headers) {
        return match ui_session(&state, headers) {
            Some(Ok(())) => next.run(request).await,
            Some(Err(refusal)) => closing(refusal.into_response()),
            None => closing(err.into_response()),
        };
    }
    if !request_is_authorized(key, headers) {
        return closing(
            ApiError::Forbidden(
                "The admin API (/key, /team, /spend) needs the master key; virtual keys cannot call it.",
            )
            .into_response(),
        );
    }
    next.run(request).await
}

/// A request that carries no key may come from the admin UI (`shale-ui`): its session cookie AND
/// the session's CSRF token in `x-csrf-token` stand for the master key. `None`: no UI session
/// (the caller answers its own "missing key" 401); a live session without its token is refused.
fn ui_session(state: &AppState, headers: &HeaderMap) -> Option<Result<(), ApiError>> {
    match state.ui.as_ref()?.authorize(headers) {
        Ok(()) => Some(Ok(())),
        Err(shale_ui::Denied::Csrf) => Some(Err(ApiError::Forbidden(
            "The admin UI session's CSRF token is missing or wrong (send it in x-csrf-token).",
        ))),
        Err(shale_ui::Denied::NoSession) => None,
    }
}

/// True when the request carries the master key, or an admin UI session with its CSRF token.
pub fn master_or_ui_session(state: &AppState, key: &MasterKey, headers: &HeaderMap) -> bool {
    request_is_authorized(key, headers) || matches!(ui_session(state, headers), Some(Ok(())))
}

fn require_key_header(headers: &HeaderMap) -> Result<(), ApiError> {
    if KEY_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "Missing API key: send the gateway key as `Authorization: Bearer <key>`, `x-api-key` or `x-litellm-api-key`.",
        ))
    }
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
    fn presented_key_skips_a_sigv4_signature() {
        let mut h = headers(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=y",
        );
        h.insert("x-api-key", HeaderValue::from_static("sk-virtual"));
        assert_eq!(presented_key(&h), Some("sk-virtual"));
        assert_eq!(
            presented_key(&headers("authorization", "Bearer sk-a")),
            Some("sk-a")
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn sigv4_authorization_with_key_in_x_api_key() {
        let key = MasterKey::new("sk-1234");
        let mut h = headers("authorization", "AWS4-HMAC-SHA256 Credential=AKID/x");
        h.insert("x-api-key", HeaderValue::from_static("sk-1234"));
        assert!(request_is_authorized(&key, &h));
    }
}
