//! Virtual keys on the request path: the per-request [`KeySlot`] (who is calling, and the
//! admission that holds their parallel-request slot and reserved tokens),
//! [`admit`] — called once before Bedrock is, from `routing::run` (every routed model API) and the
//! pass-through (which calls Bedrock without the router); a response-cache hit is admitted with
//! [`admit_cached`] (no tokens); `count_tokens` only checks the model scope ([`check_model`]) — and
//! [`settle`], called where the request's telemetry record is finished (`observe.rs`; for a
//! stream, when its body ends).
//!
//! The slot travels in a task-local set by the observe middleware, so handlers need no extra
//! arguments. Requests made with the master key (or when no database is configured) have no
//! principal and pass [`admit`] untouched.
//!
//! Must not: talk to Postgres or Redis (that is `shale-keys`), or render errors (`error.rs`).

use crate::error::ApiError;
use crate::state::AppState;
use shale_keys::{Admission, Principal, SpendEvent};
use shale_telemetry::record::RequestRecord;
use shale_telemetry::KeyLabels;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Bytes of request body per estimated token (the router's estimate of a prompt, too).
const BYTES_PER_TOKEN: u64 = 4;

/// Who is calling one request, and its admission once admitted.
#[derive(Default)]
pub struct KeySlot {
    principal: OnceLock<Arc<Principal>>,
    admission: Mutex<Option<Admission>>,
}

impl std::fmt::Debug for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySlot")
            .field("virtual_key", &self.principal.get().is_some())
            .finish()
    }
}

impl KeySlot {
    pub fn new() -> Arc<KeySlot> {
        Arc::new(KeySlot::default())
    }

    /// Records the virtual key that authenticated the request (set once, by `auth.rs`).
    pub fn set_principal(&self, principal: Arc<Principal>) {
        let _ = self.principal.set(principal);
    }

    pub fn principal(&self) -> Option<&Arc<Principal>> {
        self.principal.get()
    }

    fn put(&self, admission: Admission) {
        let previous = self
            .admission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(admission);
        drop(previous);
    }

    fn admitted(&self) -> bool {
        self.admission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn take(&self) -> Option<Admission> {
        self.admission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

tokio::task_local! {
    static CURRENT: Option<Arc<KeySlot>>;
}

/// Runs a request's future with its key slot (`None` when virtual keys are off).
pub fn scope<F: Future>(slot: Option<Arc<KeySlot>>, fut: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(slot, fut)
}

/// The current request's key slot, if virtual keys are on.
pub fn current() -> Option<Arc<KeySlot>> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// The virtual key of the current request (`None` for the master key or without virtual keys).
pub fn principal() -> Option<Arc<Principal>> {
    current().and_then(|slot| slot.principal().cloned())
}

/// Model scope only, for calls that cost nothing and count toward no limit (`count_tokens`):
/// the current virtual key (if any) may call `model`.
pub fn check_model(model: &str) -> Result<(), ApiError> {
    match principal() {
        Some(key) if !key.may_use_model(model) => Err(shale_keys::KeyError::ModelNotAllowed {
            model: model.to_owned(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// Admits the current request for `model` before Bedrock is called: model scope, budgets and
/// rpm/tpm/parallel limits of the key and its team. When the key or its team has a `tpm_limit`,
/// the request's tokens are reserved: `est_tokens` (the router's estimate of the prompt, when it
/// made one) or a quarter of the body's bytes, whichever is larger. A no-op for the master key.
pub async fn admit(state: &AppState, model: &str, est_tokens: u64) -> Result<(), ApiError> {
    admit_with(state, model, Some(est_tokens)).await
}

/// [`admit`] for an answer from the response cache: it uses no model tokens, so none are reserved
/// (rpm, budgets and the model scope still apply).
pub async fn admit_cached(state: &AppState, model: &str) -> Result<(), ApiError> {
    admit_with(state, model, None).await
}

async fn admit_with(state: &AppState, model: &str, tokens: Option<u64>) -> Result<(), ApiError> {
    let (Some(keys), Some(slot)) = (&state.keys, current()) else {
        return Ok(());
    };
    let Some(principal) = slot.principal() else {
        return Ok(());
    };
    if slot.admitted() {
        // Admitted earlier in this request (before its pre_call guardrails).
        return Ok(());
    }
    let est_tokens = match tokens {
        Some(est) if principal.tpm_limited() => {
            // The body's size, as `body.rs` noted it on the request's record.
            let mut bytes = 0;
            shale_telemetry::record::with_current(|r| bytes = r.request_bytes);
            est.max(bytes / BYTES_PER_TOKEN)
        }
        Some(est) => est,
        None => 0,
    };
    match keys.admit(principal, model, est_tokens).await {
        Ok(admission) => {
            slot.put(admission);
            Ok(())
        }
        Err(err) => {
            shale_telemetry::record::with_current(|r| {
                r.requested_model.get_or_insert_with(|| model.to_owned());
            });
            Err(err.into())
        }
    }
}

/// Settles an admitted request: its cost and tokens go to the key's (and team's) spend, and one
/// spend-log row is queued. Never waits; a request that was never admitted settles nothing.
pub fn settle(state: &AppState, slot: &KeySlot, record: &RequestRecord, latency: Duration) {
    let (Some(keys), Some(admission)) = (&state.keys, slot.take()) else {
        return;
    };
    let cache = record.cache.as_ref().filter(|c| c.hit);
    // A hit logs the tokens of the answer it replayed, at no cost (LiteLLM's spend log row).
    let usage = record
        .usage
        .or(cache.map(|c| c.cached_usage))
        .unwrap_or_default();
    let deployment_id = record
        .deployment
        .and_then(|i| state.telemetry.deployment(i))
        .map(|d| d.info.model_id.clone())
        .unwrap_or_default();
    let end = SystemTime::now();
    keys.settle(
        admission,
        SpendEvent {
            request_id: record.request_id.clone(),
            requested_model: record.requested_model.clone().unwrap_or_default(),
            deployment_id,
            call_type: call_type(&record.path),
            input_tokens: usage.input,
            output_tokens: usage.output,
            cache_read_tokens: usage.cache_read,
            cache_write_tokens: usage.cache_write,
            spend: record.cost.unwrap_or(0.0),
            start: end.checked_sub(latency).unwrap_or(end),
            end,
            status: record.status,
            guardrails: spend_guardrails(&record.guardrails),
            cache_hit: cache.is_some(),
            cache_key: cache.and_then(|c| c.key.clone()),
        },
    );
}

/// The guardrails of a finished request, as the spend log keeps them (never their text).
fn spend_guardrails(
    runs: &[shale_telemetry::record::GuardrailRun],
) -> Vec<shale_keys::GuardrailInfo> {
    runs.iter()
        .map(|r| shale_keys::GuardrailInfo {
            guardrail_name: r.name.to_string(),
            guardrail_mode: r.mode.to_owned(),
            guardrail_status: r.outcome.to_owned(),
            duration_ms: (r.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        })
        .collect()
}

/// The metric and log labels of a virtual key.
pub fn labels(principal: &Principal) -> KeyLabels {
    let text = |v: &Option<String>| -> Arc<str> { v.as_deref().unwrap_or("").into() };
    KeyLabels {
        hashed_api_key: principal.key_hash.as_str().into(),
        api_key_alias: text(&principal.key_alias),
        team: text(&principal.team_id),
        team_alias: text(&principal.team_alias),
        user: text(&principal.user_id),
        user_email: text(&principal.user_email),
    }
}

/// The spend log's `call_type` for a request path (LiteLLM's names where it has them).
pub fn call_type(path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    if path.starts_with("/bedrock/") {
        "pass_through_endpoint"
    } else if path.ends_with("/chat/completions") {
        "acompletion"
    } else if path.ends_with("/completions") {
        "atext_completion"
    } else if path.ends_with("/embeddings") {
        "aembedding"
    } else if path.ends_with("/images/generations") {
        "aimage_generation"
    } else if path.ends_with("/rerank") {
        "arerank"
    } else if path.ends_with("/messages/count_tokens") {
        "acount_tokens"
    } else if path.ends_with("/messages") {
        "anthropic_messages"
    } else if path.ends_with("/responses") {
        "aresponses"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_types_follow_the_route() {
        assert_eq!(call_type("/v1/chat/completions"), "acompletion");
        assert_eq!(call_type("/chat/completions"), "acompletion");
        assert_eq!(call_type("/v1/completions"), "atext_completion");
        assert_eq!(call_type("/v1/embeddings"), "aembedding");
        assert_eq!(call_type("/v1/images/generations"), "aimage_generation");
        assert_eq!(call_type("/rerank"), "arerank");
        assert_eq!(call_type("/anthropic/v1/messages"), "anthropic_messages");
        assert_eq!(call_type("/v1/messages/count_tokens"), "acount_tokens");
        assert_eq!(call_type("/v1/responses"), "aresponses");
        assert_eq!(
            call_type("/bedrock/model/x/invoke"),
            "pass_through_endpoint"
        );
    }

    #[test]
    fn spend_logs_get_each_guardrails_outcome_in_milliseconds() {
        let info = spend_guardrails(&[shale_telemetry::record::GuardrailRun {
            name: "pii".into(),
            mode: "pre_call",
            outcome: "masked",
            latency: Duration::from_micros(12_345),
        }]);
        assert_eq!(info[0].guardrail_name, "pii");
        assert_eq!(info[0].guardrail_status, "masked");
        assert_eq!(info[0].duration_ms, 12.345);
    }

    #[tokio::test]
    async fn no_slot_outside_a_request() {
        assert!(current().is_none());
        let slot = KeySlot::new();
        let seen = scope(Some(Arc::clone(&slot)), async { current().is_some() }).await;
        assert!(seen);
    }
}
