//! Chat completion → Responses `response` object: reasoning (one `reasoning` item per thinking
//! block, the signature kept in `encrypted_content` so it can be sent back), the `message` with
//! its `output_text`, one `function_call` item per tool call, `usage` in Responses terms, and
//! `status: incomplete` with `incomplete_details` for length and content-filter stops. The
//! request's settings are echoed as OpenAI does.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::items::REDACTED_PREFIX;
use super::types::ResponsesRequest;
use crate::completion::{ChatCompletion, Usage};
use crate::openai::ThinkingBlock;

/// What every output of one response shares: its id, creation time, model, the request's
/// settings to echo, and the namespaced tool names to map back.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMeta {
    pub id: String,
    pub created_at: u64,
    pub model: String,
    /// The response object without `status`, `output`, `usage` (request settings echoed).
    skeleton: Value,
    /// Chat tool name → (namespace, function name).
    namespaces: HashMap<String, (String, String)>,
}

impl ResponseMeta {
    pub(crate) fn new(
        id: String,
        created_at: u64,
        req: &ResponsesRequest,
        namespaces: HashMap<String, (String, String)>,
    ) -> Self {
        let reasoning = match &req.reasoning {
            Some(r) => json!({"effort": r.effort, "summary": r.summary}),
            None => json!({"effort": null, "summary": null}),
        };
        let text = match &req.text {
            Some(t) => {
                let mut v = json!(t);
                if v.get("format").is_none() {
                    v["format"] = json!({"type": "text"});
                }
                v
            }
            None => json!({"format": {"type": "text"}}),
        };
        let skeleton = json!({
            "id": id,
            "object": "response",
            "created_at": created_at,
            "status": "in_progress",
            "background": false,
            "error": null,
            "incomplete_details": null,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "model": req.model,
            "output": [],
            "parallel_tool_calls": req.parallel_tool_calls.unwrap_or(true),
            "previous_response_id": req.previous_response_id,
            "reasoning": reasoning,
            "service_tier": req.service_tier,
            "store": req.store(),
            "temperature": req.temperature,
            "text": text,
            "tool_choice": req.tool_choice.clone().unwrap_or(json!("auto")),
            "tools": req.tools.clone().unwrap_or_default(),
            "top_p": req.top_p,
            "truncation": req.truncation.clone().unwrap_or_else(|| "disabled".into()),
            "usage": null,
            "user": req.user,
            "metadata": req.metadata.clone().unwrap_or(json!({})),
        });
        ResponseMeta {
            id,
            created_at,
            model: req.model.clone(),
            skeleton,
            namespaces,
        }
    }

    /// The response object in progress (no output yet).
    pub fn in_progress(&self) -> Value {
        self.skeleton.clone()
    }

    /// The finished response object.
    pub(crate) fn finished(
        &self,
        output: Vec<Value>,
        finish_reason: Option<&str>,
        usage: Option<&Usage>,
    ) -> Value {
        let mut r = self.skeleton.clone();
        let (status, details) = status(finish_reason);
        r["status"] = status.into();
        r["incomplete_details"] = details;
        r["output"] = Value::Array(output);
        r["usage"] = usage.map(response_usage).unwrap_or(Value::Null);
        r
    }

    /// The failed response object (`error: {code, message}`).
    pub(crate) fn failed(&self, output: Vec<Value>, code: &str, message: &str) -> Value {
        let mut r = self.skeleton.clone();
        r["status"] = "failed".into();
        r["error"] = json!({"code": code, "message": message});
        r["output"] = Value::Array(output);
        r
    }

    /// An output item id: `{prefix}_{response id suffix}_{n}`.
    pub(crate) fn item_id(&self, prefix: &str, n: usize) -> String {
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{prefix}_{base}_{n}")
    }

    /// `function_call` name (and namespace) of a chat tool name.
    pub(crate) fn function_name<'a>(&'a self, chat_name: &'a str) -> (&'a str, Option<&'a str>) {
        match self.namespaces.get(chat_name) {
            Some((ns, name)) => (name.as_str(), Some(ns.as_str())),
            None => (chat_name, None),
        }
    }
}

/// (`status`, `incomplete_details`) for a chat finish reason.
fn status(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// Chat usage in Responses terms.
pub(crate) fn response_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": u.prompt_tokens_details.as_ref().map(|d| d.cached_tokens).unwrap_or(0),
        },
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {
            "reasoning_tokens": u.completion_tokens_details.as_ref().map(|d| d.reasoning_tokens).unwrap_or(0),
        },
        "total_tokens": u.total_tokens,
    })
}

/// A `reasoning` item.
pub(crate) fn reasoning_item(id: String, text: &str, encrypted: Option<&str>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    json!({"id": id, "type": "reasoning", "summary": summary, "encrypted_content": encrypted})
}

/// The `reasoning` item of one thinking block.
pub(crate) fn thinking_item(id: String, block: &ThinkingBlock) -> Value {
    match block.kind.as_str() {
        "redacted_thinking" => {
            let enc = format!("{REDACTED_PREFIX}{}", block.data.as_deref().unwrap_or(""));
            reasoning_item(id, "", Some(&enc))
        }
        _ => reasoning_item(
            id,
            block.thinking.as_deref().unwrap_or(""),
            block.signature.as_deref(),
        ),
    }
}

/// A `message` item with one `output_text` part.
pub(crate) fn message_item(id: String, text: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text_part(text)],
    })
}

/// An `output_text` content part.
pub(crate) fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `function_call` item.
pub(crate) fn function_call_item(
    meta: &ResponseMeta,
    id: String,
    call_id: &str,
    chat_name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    let (name, namespace) = meta.function_name(chat_name);
    let mut item = json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    });
    if let Some(ns) = namespace {
        item["namespace"] = ns.into();
    }
    item
}

/// The `response` object for a chat completion.
pub fn chat_to_response(c: ChatCompletion, meta: &ResponseMeta) -> Value {
    let mut output = Vec::new();
    let choice = c.choices.into_iter().next();
    let finish = choice.as_ref().and_then(|ch| ch.finish_reason.clone());
    if let Some(ch) = choice {
        let m = ch.message;
        match (&m.thinking_blocks, &m.reasoning_content) {
            (Some(blocks), _) if !blocks.is_empty() => {
                for b in blocks {
                    output.push(thinking_item(meta.item_id("rs", output.len()), b));
                }
            }
            (_, Some(text)) if !text.is_empty() => {
                output.push(reasoning_item(meta.item_id("rs", output.len()), text, None))
            }
            _ => {}
        }
        let calls = m.tool_calls.unwrap_or_default();
        let text = m.content.unwrap_or_default();
        if !text.is_empty() || calls.is_empty() {
            let status = if finish.as_deref() == Some("length") {
                "incomplete"
            } else {
                "completed"
            };
            output.push(message_item(
                meta.item_id("msg", output.len()),
                &text,
                status,
            ));
        }
        for call in calls {
            let id = meta.item_id("fc", output.len());
            output.push(function_call_item(
                meta,
                id,
                &call.id,
                &call.function.name,
                &call.function.arguments,
                "completed",
            ));
        }
    }
    meta.finished(output, finish.as_deref(), c.usage.as_ref())
}
