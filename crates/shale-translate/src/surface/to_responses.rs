//! OpenAI chat request → Responses request, for models a surface serves on Responses only
//! (GPT-5.x, Gemma 4 and Grok on bedrock-mantle's `/openai/v1`): messages become input items
//! (`message` items with `input_text` / `input_image` / `input_file` parts, `function_call` and
//! `function_call_output` items), function tools flatten to Responses function tools,
//! `tool_choice`, `max_tokens` / `max_completion_tokens` → `max_output_tokens`,
//! `reasoning_effort` → `reasoning.effort`, `response_format` → `text.format`. The response is
//! never stored upstream (`store: false`): the gateway answers chat.
//!
//! Chat members Responses has no twin for (`stop`, `seed`, penalties, `logit_bias`, `logprobs`,
//! `n` of 1) are dropped; `n` > 1 is a 400.
//!
//! Must not: hold the reverse direction (that is [`super::from_responses`]).

use serde_json::{json, Map, Value};

use super::with_defaults;
use crate::error::TranslateError;
use crate::openai::{ChatMessage, ChatRequest, ContentPart, JsonMap, MessageContent, Role};

/// Chat members with no Responses counterpart: never sent.
pub const CHAT_ONLY_PARAMS: &[&str] = &[
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "stream_options",
    "functions",
    "function_call",
    "verbosity",
];

/// A chat request as the Responses body for `model_id` (deployment defaults applied first).
pub fn chat_to_responses(
    req: ChatRequest,
    model_id: &str,
    defaults: &JsonMap,
) -> Result<Vec<u8>, TranslateError> {
    let req = with_defaults(req, defaults);
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::invalid(
            "n",
            "n > 1 is not supported for this model (its surface speaks the Responses API)",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), model_id.into());
    let mut input = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        push_message(m, i, &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    let mut tools = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        let f = t.into_function(i)?;
        let mut tool = json!({"type": "function", "name": f.name});
        if let Some(d) = f.description {
            tool["description"] = d.into();
        }
        tool["parameters"] = f
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if let Some(s) = f.strict {
            tool["strict"] = s.into();
        }
        tools.push(tool);
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = req.tool_choice {
        body.insert("tool_choice".into(), tool_choice(choice));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body.insert(k.to_owned(), v);
        }
    };
    put(
        "parallel_tool_calls",
        req.parallel_tool_calls.map(Value::from),
    );
    put(
        "max_output_tokens",
        req.max_completion_tokens
            .or(req.max_tokens)
            .map(Value::from),
    );
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    put("service_tier", req.service_tier.map(Value::from));
    put(
        "reasoning",
        req.reasoning_effort.map(|e| json!({"effort": e})),
    );
    if let Some(format) = req.response_format {
        let text = match format.kind.as_str() {
            "json_schema" => {
                let s = format.json_schema.ok_or_else(|| {
                    TranslateError::invalid(
                        "response_format.json_schema",
                        "json_schema response_format needs a json_schema",
                    )
                })?;
                serde_json::to_value(&s)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(|mut o| {
                        o.insert("type".into(), "json_schema".into());
                        Value::Object(o)
                    })
            }
            "json_object" => Some(json!({"type": "json_object"})),
            _ => None,
        };
        put("text", text.map(|f| json!({"format": f})));
    }
    for (k, v) in req.extra {
        if !CHAT_ONLY_PARAMS.contains(&k.as_str()) && !body.contains_key(&k) {
            body.insert(k, v);
        }
    }
    let stream = req.stream == Some(true);
    if stream {
        body.insert("stream".into(), true.into());
    }
    body.insert("store".into(), false.into());
    Ok(serde_json::to_vec(&Value::Object(body)).unwrap_or_default())
}

fn tool_choice(choice: Value) -> Value {
    match choice {
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .cloned()
                .unwrap_or(Value::Null);
            json!({"type": "function", "name": name})
        }
        other => other,
    }
}

fn text_of(content: Option<MessageContent>) -> String {
    match content {
        None => String::new(),
        Some(MessageContent::Text(t)) => t,
        Some(MessageContent::Parts(parts)) => parts
            .into_iter()
            .filter_map(|p| p.text)
            .collect::<Vec<_>>()
            .join(""),
    }
}

fn input_part(p: ContentPart, param: &str) -> Result<Option<Value>, TranslateError> {
    Ok(match p.kind.as_str() {
        "text" | "input_text" | "guarded_text" => {
            p.text.map(|t| json!({"type": "input_text", "text": t}))
        }
        "image_url" => {
            let url = p.image_url.map(|u| u.into_parts().0).ok_or_else(|| {
                TranslateError::invalid(format!("{param}.image_url"), "image_url needs a url")
            })?;
            Some(json!({"type": "input_image", "image_url": url}))
        }
        "file" => {
            let f = p.file.unwrap_or_default();
            let mut part = json!({"type": "input_file"});
            if let Some(d) = f.file_data {
                part["file_data"] = d.into();
            }
            if let Some(id) = f.file_id {
                part["file_url"] = id.into();
            }
            if let Some(n) = f.filename {
                part["filename"] = n.into();
            }
            Some(part)
        }
        other => {
            return Err(TranslateError::invalid(
                format!("{param}.type"),
                format!("content part type '{other}' is not supported for this model"),
            ))
        }
    })
}

fn push_message(m: ChatMessage, i: usize, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let param = format!("messages[{i}]");
    match m.role {
        Role::System | Role::Developer => {
            let role = if m.role == Role::System {
                "system"
            } else {
                "developer"
            };
            out.push(json!({"type": "message", "role": role, "content": text_of(m.content)}));
        }
        Role::User => {
            let content = match m.content {
                None => Value::String(String::new()),
                Some(MessageContent::Text(t)) => Value::String(t),
                Some(MessageContent::Parts(parts)) => {
                    let mut items = Vec::with_capacity(parts.len());
                    for (j, p) in parts.into_iter().enumerate() {
                        items.extend(input_part(p, &format!("{param}.content[{j}]"))?);
                    }
                    Value::Array(items)
                }
            };
            out.push(json!({"type": "message", "role": "user", "content": content}));
        }
        Role::Assistant => {
            let text = text_of(m.content);
            if !text.is_empty() {
                out.push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": text}]}));
            }
            for call in m.tool_calls.into_iter().flatten() {
                let arguments = match call.function.arguments {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => "{}".to_owned(),
                };
                out.push(json!({"type": "function_call", "call_id": call.id,
                    "name": call.function.name, "arguments": arguments}));
            }
        }
        Role::Tool | Role::Function => {
            let call_id = m.tool_call_id.or(m.name).ok_or_else(|| {
                TranslateError::invalid(
                    format!("{param}.tool_call_id"),
                    "tool messages need a tool_call_id",
                )
            })?;
            out.push(json!({"type": "function_call_output", "call_id": call_id,
                "output": text_of(m.content)}));
        }
    }
    Ok(())
}
