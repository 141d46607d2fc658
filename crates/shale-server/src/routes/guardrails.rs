//! The guardrail admin API, LiteLLM-compatible, master key only (`auth::require_master_key`):
//! `GET /guardrails/list` (every configured guardrail: `guardrail_name`, `litellm_params` with
//! credentials shown as `***`, `guardrail_info`) and `POST /guardrails/apply_guardrail`
//! (`{"guardrail_name","text"}` → `{"response_text"}`: the text as the guardrail leaves it —
//! unchanged, masked, or its message when it refuses; a block is the same 400 a request gets).
//!
//! Must not: return a secret, or decide anything about a verdict (that is `shale-guardrails`).

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::guardrail_hooks::Report;
use crate::routes::keys::json;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use shale_core::json::set_members;
use shale_core::Secret;
use shale_guardrails::{Guardrail, Hook, Verdict};
use std::sync::Arc;

/// `GET /guardrails/list`.
pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    let all = state.guardrails.as_ref().map_or(&[][..], |e| e.all());
    let guardrails: Vec<Value> = all.iter().map(|g| describe(g)).collect();
    json(&json!({ "guardrails": guardrails }))
}

/// One guardrail as `/guardrails/list` shows it (LiteLLM's shape; no secrets; unset settings
/// left out).
fn describe(g: &Guardrail) -> Value {
    let c = &g.config;
    let a = &c.aws;
    let modes: Vec<&str> = c.modes.iter().map(|m| m.as_str()).collect();
    let masked = |s: &Option<Secret>| json!(s.as_ref().map(|s| s.to_string()));
    let hidden = |s: &Option<String>| json!(s.as_ref().map(|_| "***"));
    let p = set_members([
        ("guardrail", json!("bedrock")),
        ("mode", json!(modes)),
        ("guardrailIdentifier", json!(c.guardrail_identifier)),
        ("guardrailVersion", json!(c.guardrail_version)),
        ("default_on", json!(c.default_on)),
        ("mask_request_content", json!(c.mask_request_content)),
        ("mask_response_content", json!(c.mask_response_content)),
        (
            "disable_exception_on_block",
            json!(c.disable_exception_on_block),
        ),
        (
            "experimental_use_latest_role_message_only",
            json!(c.latest_message_only),
        ),
        (
            "skip_system_message_in_guardrail",
            json!(c.skip_system_message),
        ),
        ("skip_tool_message_in_guardrail", json!(c.skip_tool_message)),
        ("fail_open", json!(c.fail_open)),
        ("timeout", json!(c.timeout.as_secs_f64())),
        ("num_retries", json!(c.num_retries)),
        (
            "stream_first_window_bytes",
            json!(c.stream_first_window_bytes),
        ),
        ("stream_window_bytes", json!(c.stream_window_bytes)),
        ("stream_overlap_bytes", json!(c.stream_overlap_bytes)),
        ("aws_region_name", json!(a.aws_region_name)),
        (
            "aws_bedrock_runtime_endpoint",
            json!(a.aws_bedrock_runtime_endpoint),
        ),
        ("aws_profile_name", json!(a.aws_profile_name)),
        ("aws_role_name", json!(a.aws_role_name)),
        ("aws_session_name", json!(a.aws_session_name)),
        ("aws_sts_endpoint", json!(a.aws_sts_endpoint)),
        ("api_key", masked(&a.api_key)),
        ("aws_access_key_id", hidden(&a.aws_access_key_id)),
        ("aws_secret_access_key", masked(&a.aws_secret_access_key)),
        ("aws_session_token", masked(&a.aws_session_token)),
        ("aws_web_identity_token", masked(&a.aws_web_identity_token)),
        ("aws_external_id", hidden(&a.aws_external_id)),
    ]);
    json!({
        "guardrail_name": &*g.name,
        "litellm_params": p,
        "guardrail_info": c.guardrail_info,
    })
}

/// `POST /guardrails/apply_guardrail` body (`language` and `entities` are LiteLLM's; a Bedrock
/// guardrail's own policy decides, so they are accepted and not used).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    pub guardrail_name: String,
    pub text: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub entities: Option<Vec<String>>,
}

/// `POST /guardrails/apply_guardrail`.
pub async fn apply(
    State(state): State<Arc<AppState>>,
    body: JsonBody<ApplyRequest>,
) -> Result<Response, ApiError> {
    let request = body.value;
    let all = state.guardrails.as_ref().map_or(&[][..], |e| e.all());
    let (Some(engine), Some(guardrail)) = (
        state.guardrails.as_ref(),
        all.iter().find(|g| *g.name == *request.guardrail_name),
    ) else {
        return Err(shale_guardrails::unknown(all, &request.guardrail_name, "request").into());
    };
    let report = Report::here(&state);
    let verdict = engine
        .apply(guardrail, Hook::Apply, &[&request.text], None, &report)
        .await?;
    let response_text = match verdict {
        Verdict::Pass => request.text,
        Verdict::Masked(mut m) => m.pop().unwrap_or_default(),
        Verdict::Refuse(message) => message,
    };
    Ok(json(&json!({ "response_text": response_text })))
}
