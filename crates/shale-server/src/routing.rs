//! The seam between the HTTP handlers and `shale-router`: builds the router's view of a request
//! (per-request `fallbacks` / `disable_fallbacks`, a token estimate, the prompt-cache affinity
//! key), runs a handler's per-deployment call through [`Router::run`], and puts the outcome on
//! the response (`x-litellm-*` headers) or into an [`ApiError`].
//!
//! What it must not do: choose deployments itself, translate bodies, or spell OpenAI error types
//! (that is `error.rs`).

use crate::error::ApiError;
use crate::state::{AppState, Deployment};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shale_core::{ErrorType, OpenAiError};
use shale_router::{Answer, Attempts, Failure, FailureClass, RouteError, RouteRequest};
use shale_translate::ChatRequest;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Tokens a successful call used, attached to its response by the handler (for tpm accounting).
#[derive(Debug, Clone, Copy)]
pub struct UsedTokens(pub u64);

impl Failure for ApiError {
    fn class(&self) -> FailureClass {
        match self {
            ApiError::Classified { error, .. } => {
                FailureClass::from_status(error.status, error.code.as_deref(), &error.message)
            }
            // The gateway's own refusals and the caller's mistakes: never retried elsewhere.
            _ => FailureClass::BadRequest,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Classified {
                retry_after: Some(v),
                ..
            } => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            _ => None,
        }
    }

    fn status(&self) -> u16 {
        ApiError::status(self).as_u16()
    }

    fn summary(&self) -> String {
        let mut text = self.to_string();
        if text.len() > 300 {
            let mut cut = 300;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }
}

/// What a request tells the router, owned (borrowed by [`RouteRequest`]).
#[derive(Debug, Default)]
pub struct Hints {
    pub model: String,
    pub fallbacks: Option<Vec<String>>,
    pub disable_fallbacks: bool,
    pub est_tokens: u64,
    pub affinity_key: Option<String>,
}

impl Hints {
    /// For endpoints without routing options in the body.
    pub fn model(model: &str) -> Hints {
        Hints {
            model: model.to_string(),
            ..Default::default()
        }
    }

    fn as_request(&self) -> RouteRequest<'_> {
        RouteRequest {
            model: &self.model,
            est_tokens: self.est_tokens,
            fallbacks: self.fallbacks.as_deref(),
            disable_fallbacks: self.disable_fallbacks,
            affinity_key: self.affinity_key.as_deref(),
        }
    }
}

/// Takes the router's options out of a chat request (so they never reach Bedrock) and computes
/// the token estimate and affinity key only when the router will use them.
pub fn chat_hints(state: &AppState, request: &mut ChatRequest) -> Hints {
    let fallbacks = request.extra.remove("fallbacks").and_then(fallback_names);
    let disable_fallbacks = matches!(
        request.extra.remove("disable_fallbacks"),
        Some(Value::Bool(true))
    );
    let router = &state.router;
    let members = router.members(&request.model).unwrap_or(&[]);
    let limited = members.iter().any(|&i| router.deployment(i).tpm.is_some());
    let est_tokens = if limited {
        serde_json::to_vec(&request.messages).map_or(0, |v| v.len() as u64 / 4)
    } else {
        0
    };
    let affinity_key = if router.affinity_enabled() && members.len() > 1 {
        cache_prefix_key(request)
    } else {
        None
    };
    Hints {
        model: request.model.clone(),
        fallbacks,
        disable_fallbacks,
        est_tokens,
        affinity_key,
    }
}

/// `["b", "c"]` or `[{"model": "b", ...}]` (LiteLLM accepts both).
fn fallback_names(value: Value) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        return None;
    };
    Some(
        items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s),
                Value::Object(mut m) => match m.remove("model") {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
    )
}

/// A digest of the prompt up to its last cache point (`cache_control`), so requests sharing a
/// cached prefix are sent where the cache is. `None` when the prompt has no cache point.
fn cache_prefix_key(request: &ChatRequest) -> Option<String> {
    let messages = serde_json::to_value(&request.messages).ok()?;
    let Value::Array(messages) = messages else {
        return None;
    };
    let last = messages.iter().rposition(has_cache_control)?;
    let mut h = Sha256::new();
    h.update(request.model.as_bytes());
    if let Some(tools) = &request.tools {
        h.update(serde_json::to_vec(tools).unwrap_or_default());
    }
    for m in &messages[..=last] {
        h.update(serde_json::to_vec(m).unwrap_or_default());
    }
    Some(hex::encode(&h.finalize()[..16]))
}

fn has_cache_control(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("cache_control") || m.values().any(has_cache_control),
        Value::Array(a) => a.iter().any(has_cache_control),
        _ => false,
    }
}

/// Admits the caller's virtual key for the model (scope, budget, limits), then runs `call` for
/// the deployment(s) the router picks; on success the response carries the `x-litellm-*` headers.
pub async fn run<F, Fut>(state: &AppState, hints: &Hints, mut call: F) -> Result<Response, ApiError>
where
    F: FnMut(Arc<Deployment>) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    crate::keygate::admit(state, &hints.model, hints.est_tokens).await?;
    let outcome = state
        .router
        .run(&hints.as_request(), |pick| {
            let deployment = Arc::clone(&state.deployments[pick.index]);
            crate::report::deployment_chosen(
                &hints.model,
                pick.index,
                deployment.target.model_id(),
            );
            // Boxed: the attempt's future (translation, signing, the HTTP call) is ~12 KB, and
            // every tower/axum layer above moves the request's future when it boxes it; with
            // the attempt on the heap they move a pointer instead (bench/results/profile.md).
            let fut = Box::pin(call(deployment));
            async move {
                let response = fut.await?;
                let tokens = response.extensions().get::<UsedTokens>().map(|t| t.0);
                Ok(Answer::new(response, tokens))
            }
        })
        .await;
    match outcome {
        Ok(routed) => {
            crate::report::routed(&routed.attempts);
            let mut response = routed.value;
            set_headers(&mut response, &routed.attempts);
            if let Some(ticket) = routed.tokens_pending {
                // Settled with the real usage when the request finishes (observe.rs).
                response.extensions_mut().insert(ticket);
            }
            Ok(response)
        }
        Err(RouteError::UnknownModel) => {
            crate::report::unknown_model(&hints.model);
            Err(ApiError::UnknownModel(hints.model.clone()))
        }
        Err(RouteError::Failed { error, attempts }) => {
            crate::report::routed(&attempts);
            Err(error)
        }
        Err(RouteError::LimitReached {
            group, retry_after, ..
        }) => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let message = format!(
                "Every deployment of `{group}` is at its rpm/tpm limit for this minute. Retry after {secs} s."
            );
            Err(ApiError::Classified {
                error: OpenAiError::new(429, ErrorType::RateLimit, message)
                    .with_code(Some("rate_limit_exceeded")),
                retry_after: Some(HeaderValue::from(secs)),
            })
        }
    }
}

/// `x-litellm-model-id`, `x-litellm-model-group`, `x-litellm-attempted-retries`,
/// `x-litellm-attempted-fallbacks`.
pub fn set_headers(response: &mut Response, attempts: &Attempts) {
    // Names built at compile time, not parsed per request; the usual count 0 is a static value.
    const MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
    const MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
    const RETRIES: HeaderName = HeaderName::from_static("x-litellm-attempted-retries");
    const FALLBACKS: HeaderName = HeaderName::from_static("x-litellm-attempted-fallbacks");
    fn count(n: u32) -> HeaderValue {
        match n {
            0 => HeaderValue::from_static("0"),
            n => HeaderValue::from(n),
        }
    }
    let headers = response.headers_mut();
    if let Some(v) = attempts
        .model_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert(MODEL_ID, v);
    }
    if let Some(v) = attempts
        .group
        .as_deref()
        .and_then(|g| HeaderValue::from_str(g).ok())
    {
        headers.insert(MODEL_GROUP, v);
    }
    headers.insert(RETRIES, count(attempts.retries));
    headers.insert(FALLBACKS, count(attempts.fallbacks));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, code: Option<&str>, message: &str) -> ApiError {
        ApiError::Classified {
            error: OpenAiError::new(status, ErrorType::Api, message).with_code(code),
            retry_after: Some(HeaderValue::from_static("2")),
        }
    }

    #[test]
    fn api_errors_are_classified_for_the_router() {
        assert_eq!(upstream(429, None, "x").class(), FailureClass::RateLimit);
        assert_eq!(
            upstream(503, None, "x").class(),
            FailureClass::InternalServer
        );
        assert_eq!(upstream(502, None, "x").class(), FailureClass::Connect);
        assert_eq!(upstream(504, None, "x").class(), FailureClass::Timeout);
        assert_eq!(
            upstream(403, None, "x").class(),
            FailureClass::Authentication
        );
        assert_eq!(
            upstream(400, Some("context_length_exceeded"), "Input is too long").class(),
            FailureClass::ContextWindow
        );
        assert_eq!(upstream(400, None, "bad").class(), FailureClass::BadRequest);
        assert_eq!(
            ApiError::invalid(None, "no").class(),
            FailureClass::BadRequest
        );
        assert_eq!(
            upstream(429, None, "x").retry_after(),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn cache_prefix_key_covers_the_prompt_up_to_the_last_cache_point() {
        let req = |tail: &str| -> ChatRequest {
            serde_json::from_value(serde_json::json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": "long rules", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "user", "content": tail}
                ]
            }))
            .unwrap()
        };
        let a = cache_prefix_key(&req("question one")).unwrap();
        let b = cache_prefix_key(&req("question two")).unwrap();
        assert_eq!(a, b, "same cached prefix, different tail");
        let plain: ChatRequest = serde_json::from_value(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();
        assert!(cache_prefix_key(&plain).is_none());
    }

    #[test]
    fn per_request_fallbacks_accept_names_and_objects() {
        let v = serde_json::json!(["b", {"model": "c", "messages": []}, 3]);
        assert_eq!(fallback_names(v), Some(vec!["b".into(), "c".into()]));
    }
}
