//! Legacy `/completions` (and `/v1/completions`): a `prompt` (string or list of strings) becomes
//! a chat request (one user message per prompt, merged into one turn), and the chat answer is
//! re-shaped as `text_completion` (`choices[].text`, `logprobs: null`), streamed or not.
//! Options Bedrock cannot honour (`echo`, `suffix`, `best_of` > 1, `logprobs`, `n` > 1, token
//! arrays as prompt) are rejected with a 400 naming the option.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::completion::{ChatChunk, ChatCompletion, Usage};
use crate::error::TranslateError;
use crate::openai::{ChatRequest, JsonMap, Stop, StreamOptions};

/// A `/completions` request. Unknown fields (e.g. `top_k`, `guardrailConfig`) are kept in
/// `extra` and travel with the chat request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    /// A string or a list of strings (token arrays are rejected).
    #[serde(default)]
    pub prompt: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

fn unsupported(param: &str, why: &str) -> TranslateError {
    TranslateError::invalid_code(
        param,
        "unsupported_parameter",
        format!("'{param}' is not supported for Bedrock models: {why}"),
    )
}

/// The prompts as strings.
fn prompts(prompt: Value) -> Result<Vec<String>, TranslateError> {
    let token_arrays = || {
        TranslateError::invalid(
            "prompt",
            "token arrays are not supported as prompt; send the prompt as a string or a list of strings",
        )
    };
    let list = match prompt {
        Value::String(s) => vec![s],
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s),
                    Value::Number(_) | Value::Array(_) => return Err(token_arrays()),
                    _ => {
                        return Err(TranslateError::invalid(
                            "prompt",
                            "prompt must be a string or a list of strings",
                        ))
                    }
                }
            }
            out
        }
        Value::Null => {
            return Err(TranslateError::invalid("prompt", "prompt is required"));
        }
        _ => {
            return Err(TranslateError::invalid(
                "prompt",
                "prompt must be a string or a list of strings",
            ))
        }
    };
    if list.iter().all(|s| s.trim().is_empty()) {
        return Err(TranslateError::invalid(
            "prompt",
            "prompt must not be empty",
        ));
    }
    Ok(list)
}

/// Translate a `/completions` request into a chat request (one user message per prompt).
/// Unsupported options → 400 naming them: `echo: true`, a non-empty `suffix`, `best_of` > 1,
/// `logprobs` (other than null / 0), `n` > 1, token-array prompts.
pub fn completion_to_chat(req: CompletionRequest) -> Result<ChatRequest, TranslateError> {
    if req.echo == Some(true) {
        return Err(unsupported("echo", "the prompt cannot be echoed back"));
    }
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported(
            "suffix",
            "insertion (fill-in-the-middle) is not available",
        ));
    }
    if req.best_of.is_some_and(|b| b > 1) {
        return Err(unsupported(
            "best_of",
            "only one completion is generated per request",
        ));
    }
    match &req.logprobs {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(0) => {}
        Some(_) => {
            return Err(unsupported(
                "logprobs",
                "token log probabilities are not returned",
            ))
        }
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n", "send one request per completion"));
    }
    let messages: Vec<Value> = prompts(req.prompt)?
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| json!({"role": "user", "content": p}))
        .collect();
    // Build through JSON so extra fields that are typed chat fields (top_k, reasoning_effort,
    // tools, …) land in their typed slots.
    let mut m: Map<String, Value> = req.extra;
    m.insert("model".into(), req.model.into());
    m.insert("messages".into(), Value::Array(messages));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put("max_tokens", req.max_tokens.map(Value::from));
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    put("stop", req.stop.map(|s| json!(s)));
    put("stream", req.stream.map(Value::from));
    put("stream_options", req.stream_options.map(|o| json!(o)));
    put("n", req.n.map(Value::from));
    serde_json::from_value(Value::Object(m))
        .map_err(|e| TranslateError::invalid("prompt", format!("invalid completion request: {e}")))
}

/// `chatcmpl-…` → `cmpl-…` (other ids unchanged).
fn completion_id(id: &str) -> String {
    match id.strip_prefix("chatcmpl-") {
        Some(rest) => format!("cmpl-{rest}"),
        None => id.to_owned(),
    }
}

/// One `text_completion` choice: `{text, index, logprobs: null, finish_reason}`.
fn text_choice(text: String, index: u32, finish_reason: Option<String>) -> Value {
    json!({
        "text": text,
        "index": index,
        "logprobs": null,
        "finish_reason": finish_reason,
    })
}

/// A `text_completion` object (response or chunk) with a `cmpl-…` id; `usage` only when given.
fn text_completion_object(
    chat_id: &str,
    created: u64,
    model: &str,
    choices: Vec<Value>,
    usage: Option<Usage>,
) -> Value {
    let mut out = json!({
        "id": completion_id(chat_id),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    });
    if let Some(u) = usage {
        out["usage"] = json!(u);
    }
    out
}

/// A chat completion as a `text_completion` response: `id` `cmpl-…`,
/// `choices[{text, index, logprobs: null, finish_reason}]`, `usage`.
pub fn chat_to_text_completion(c: ChatCompletion) -> Value {
    let choices: Vec<Value> = c
        .choices
        .into_iter()
        .map(|ch| {
            text_choice(
                ch.message.content.unwrap_or_default(),
                ch.index,
                ch.finish_reason,
            )
        })
        .collect();
    text_completion_object(&c.id, c.created, &c.model, choices, c.usage)
}

/// A stream chunk as a `text_completion` chunk; `None` for chunks with nothing to say (a
/// role-only or reasoning-only delta). The usage chunk (`choices: []`) keeps its shape.
pub fn chunk_to_text_completion(c: ChatChunk) -> Option<Value> {
    let mut choices = Vec::with_capacity(c.choices.len());
    for ch in c.choices {
        let text = ch.delta.content.unwrap_or_default();
        if text.is_empty() && ch.finish_reason.is_none() {
            continue;
        }
        choices.push(text_choice(text, ch.index, ch.finish_reason));
    }
    if choices.is_empty() && c.usage.is_none() {
        return None;
    }
    Some(text_completion_object(
        &c.id, c.created, &c.model, choices, c.usage,
    ))
}
