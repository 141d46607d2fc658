//! Claude on Bedrock speaks the Messages API natively, so a Messages request becomes an
//! InvokeModel body with nothing lost: the body passes through with `model` and `stream` removed,
//! `anthropic_version: bedrock-2023-05-31` set, the `anthropic-beta` header merged into
//! `anthropic_beta` (filtered by [`super::betas`]), members Bedrock rejects removed (`metadata`,
//! …), and deployment defaults applied (`max_tokens`, sampling; guardrails and the other config
//! blocks become `X-Amzn-Bedrock-*` headers). `cache_control`, thinking, tools, server tools,
//! images and documents pass untouched. Also the CountTokens input for the same body.
//!
//! Must not: rewrite content blocks or drop a member Bedrock accepts.

use base64::Engine as _;
use serde_json::{json, Value};

use super::betas::filter_betas;
use super::defaults::{self, beta_list};
use super::types::MessagesContext;
use crate::error::TranslateError;
use crate::invoke::{default_max_tokens, headers, ANTHROPIC_VERSION};
use crate::openai::JsonMap;

/// Top-level members of an Anthropic request that are not sent to InvokeModel: `model` and
/// `stream` are expressed by the URL ("extraneous key [model] is not permitted"); `metadata`
/// (Claude Code sends `metadata.user_id` on every request) has no effect on Bedrock, older Claude
/// versions there refuse it as an extraneous key and any member besides `user_id` is refused, so
/// it is never worth the risk; `service_tier` is Anthropic's own and unknown to Bedrock; `cache`
/// and `caching` are the gateway's response-cache controls (LiteLLM's), never the model's.
pub const REJECTED_KEYS: &[&str] = &[
    "model",
    "stream",
    "metadata",
    "service_tier",
    "cache",
    "caching",
];

/// A Messages request as an InvokeModel call.
#[derive(Debug, Clone)]
pub struct InvokeMessages {
    /// The InvokeModel / InvokeModelWithResponseStream body.
    pub body: Value,
    /// `X-Amzn-Bedrock-*` headers from the deployment's config blocks.
    pub headers: Vec<(&'static str, String)>,
    /// Beta flags that were not forwarded (for a debug log).
    pub dropped_betas: Vec<String>,
    /// Top-level members removed because Bedrock rejects them (for a debug log).
    pub removed_keys: Vec<String>,
}

/// Build the InvokeModel body for a Claude deployment from the request's members (everything but
/// `model` / `stream`, see [`super::MessagesRequest::rest`]).
pub fn messages_to_invoke(
    mut body: JsonMap,
    ctx: &MessagesContext<'_>,
) -> Result<InvokeMessages, TranslateError> {
    if !body.get("messages").is_some_and(Value::is_array) {
        return Err(TranslateError::invalid(
            "messages",
            "messages: Field required (a list of {role, content} objects)",
        ));
    }
    let mut removed_keys = Vec::new();
    for key in REJECTED_KEYS {
        if body.remove(*key).is_some() {
            removed_keys.push((*key).to_owned());
        }
    }
    let applied = defaults::apply(&mut body, ctx.default_params);
    let mut blocks = applied.blocks;
    // A client (or an SDK's extra body) may name Bedrock's config blocks itself.
    for key in defaults::CONFIG_BLOCKS {
        if let Some(v) = body.remove(*key) {
            blocks.insert((*key).to_owned(), v);
        }
    }
    let headers = headers::take_headers(&mut blocks, None)?;

    if body.get("max_tokens").is_none_or(Value::is_null) {
        let d = default_max_tokens(&ctx.caps.base_id);
        let budget = body
            .get("thinking")
            .and_then(|t| t.get("budget_tokens"))
            .and_then(Value::as_u64);
        let max = budget.map_or(d, |b| if b >= d { b + 4096 } else { d });
        body.insert("max_tokens".into(), max.into());
    }

    let body_betas = body.remove("anthropic_beta").map(|v| beta_list(&v));
    let sources = body_betas
        .iter()
        .flatten()
        .map(String::as_str)
        .chain(ctx.beta_header)
        .chain(applied.betas.iter().map(String::as_str));
    let (kept, dropped_betas) = filter_betas(sources, &ctx.betas, ctx.caps);
    if !kept.is_empty() {
        body.insert("anthropic_beta".into(), json!(kept));
    }
    body.insert("anthropic_version".into(), ANTHROPIC_VERSION.into());
    Ok(InvokeMessages {
        body: Value::Object(body),
        headers,
        dropped_betas,
        removed_keys,
    })
}

/// The CountTokens request for an InvokeModel body:
/// `{"input":{"invokeModel":{"body":"<base64 of the body>"}}}` (so tools and system count).
pub fn count_tokens_invoke_input(invoke_body: &Value) -> Value {
    let raw = serde_json::to_vec(invoke_body).expect("JSON serialises");
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    json!({"input": {"invokeModel": {"body": b64}}})
}

/// `{"input_tokens": N}` from a CountTokens answer `{"inputTokens": N}`.
pub fn count_tokens_answer(bedrock_body: &[u8]) -> Result<Value, TranslateError> {
    let v: Value = serde_json::from_slice(bedrock_body)
        .map_err(|e| TranslateError::InvalidUpstream(format!("CountTokens response: {e}")))?;
    let n = v
        .get("inputTokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            TranslateError::InvalidUpstream("CountTokens response without inputTokens".into())
        })?;
    Ok(json!({ "input_tokens": n }))
}
