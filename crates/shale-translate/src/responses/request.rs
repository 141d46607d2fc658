//! Responses request → chat request. `instructions` becomes the leading system message, the
//! stored conversation (for `previous_response_id`) comes next, then `input`; `max_output_tokens`,
//! `temperature`, `top_p`, `tool_choice`, `parallel_tool_calls`, `reasoning.effort` and
//! `text.format` map onto their chat twins; function tools (also those inside `namespace` tools)
//! become chat tools. Built-in tools OpenAI hosts (web search, file search, code interpreter, …;
//! see `crate::hosted_tools`) are dropped unless the server turned that off; other built-in tools
//! are a 400 naming the tool type, or are dropped with `drop_params`. What was dropped is listed
//! in [`Translated::dropped_tools`].

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::items::{namespaced_name, MessageBuilder};
use super::response::ResponseMeta;
use super::types::ResponsesRequest;
use crate::error::TranslateError;
use crate::hosted_tools::{builtin_tool_error, is_hosted, note, report_name};
use crate::openai::{ChatMessage, ChatRequest, JsonMap, Role};

/// Responses fields that have no chat meaning and are never forwarded: they are answered by
/// the gateway (`store`, `previous_response_id`, `include`, …) or only describe the call.
pub const RESPONSES_ONLY_PARAMS: &[&str] = &[
    "include",
    "background",
    "conversation",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "client_metadata",
    "top_logprobs",
    "stream_options",
    "context_management",
    "max_tool_calls",
];

/// Per-request choices the server makes.
#[derive(Debug, Clone, Default)]
pub struct ResponsesOptions {
    /// Drop every non-function tool instead of refusing it (`drop_params`).
    pub drop_builtin_tools: bool,
    /// Drop the tools OpenAI hosts (`general_settings.drop_hosted_tools`, on by default).
    pub drop_hosted_tools: bool,
}

/// The chat request and what is needed to shape and store the answer.
#[derive(Debug, Clone)]
pub struct Translated {
    pub chat: ChatRequest,
    pub meta: ResponseMeta,
    /// This request's input items as stored and listed by `GET …/input_items` (ids added).
    pub input_items: Vec<Value>,
    /// The built-in tool types dropped from `tools` (reported names, each once).
    pub dropped_tools: Vec<&'static str>,
}

/// Translate a Responses request. `history` is the stored conversation of
/// `previous_response_id` (its input and output items, oldest first); `id` and `created_at` are
/// the new response's.
pub fn responses_to_chat(
    req: ResponsesRequest,
    history: &[Value],
    id: String,
    created_at: u64,
    opts: &ResponsesOptions,
) -> Result<Translated, TranslateError> {
    let input_items = input_items(&req.input, &id)?;
    let mut builder = MessageBuilder::default();
    if let Some(instructions) = req.instructions.as_deref().filter(|s| !s.trim().is_empty()) {
        builder
            .messages
            .push(ChatMessage::text(Role::System, instructions));
    }
    for (i, item) in history.iter().enumerate() {
        builder.push_item(item, &format!("previous_response_id (item {i})"))?;
    }
    for (i, item) in input_items.iter().enumerate() {
        let param = if req.input.is_string() {
            "input".to_owned()
        } else {
            format!("input[{i}]")
        };
        builder.push_item(item, &param)?;
    }
    let messages = builder.finish();
    if messages.is_empty() {
        return Err(TranslateError::invalid("input", "input must not be empty"));
    }

    let (tools, namespaces, dropped_tools) = tools(req.tools.as_deref(), opts)?;
    let mut m: Map<String, Value> = Map::new();
    for (k, v) in &req.extra {
        if !RESPONSES_ONLY_PARAMS.contains(&k.as_str()) {
            m.insert(k.clone(), v.clone());
        }
    }
    m.insert("model".into(), req.model.clone().into());
    m.insert("messages".into(), json!(messages));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put("max_tokens", req.max_output_tokens.map(Value::from));
    put("temperature", req.temperature.map(Value::from));
    put("top_p", req.top_p.map(Value::from));
    put(
        "parallel_tool_calls",
        req.parallel_tool_calls.map(Value::from),
    );
    put("service_tier", req.service_tier.clone().map(Value::from));
    if !tools.is_empty() {
        put("tools", Some(Value::Array(tools)));
        put(
            "tool_choice",
            tool_choice(req.tool_choice.as_ref(), &namespaces)?,
        );
    }
    put("reasoning_effort", reasoning_effort(&req));
    put("response_format", response_format(&req)?);
    if req.stream() {
        put("stream", Some(true.into()));
        put("stream_options", Some(json!({"include_usage": true})));
    }
    let chat: ChatRequest = serde_json::from_value(Value::Object(m))
        .map_err(|e| TranslateError::invalid("input", format!("invalid request: {e}")))?;
    let meta = ResponseMeta::new(id, created_at, &req, namespaces);
    Ok(Translated {
        chat,
        meta,
        input_items,
        dropped_tools,
    })
}

/// The input as a list of items, each with an `id` (string input → one user message).
pub fn input_items(input: &Value, id: &str) -> Result<Vec<Value>, TranslateError> {
    let base = id.strip_prefix("resp_").unwrap_or(id);
    let mut items = match input {
        Value::String(s) => vec![json!({
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": s}],
        })],
        Value::Array(items) => items.clone(),
        Value::Null => return Err(TranslateError::invalid("input", "input is required")),
        _ => {
            return Err(TranslateError::invalid(
                "input",
                "input must be a string or a list of items",
            ))
        }
    };
    for (i, item) in items.iter_mut().enumerate() {
        if let Some(obj) = item.as_object_mut() {
            if !obj.contains_key("type") {
                obj.insert("type".into(), "message".into());
            }
            // Message text as a string → one text part, as OpenAI lists input items.
            if let Some(Value::String(text)) = obj.get("content") {
                let kind = if obj.get("role").and_then(Value::as_str) == Some("assistant") {
                    "output_text"
                } else {
                    "input_text"
                };
                let part = json!([{"type": kind, "text": text}]);
                obj.insert("content".into(), part);
            }
            if !obj.contains_key("id") {
                let prefix = match obj.get("type").and_then(Value::as_str) {
                    Some("function_call") => "fc",
                    Some("function_call_output") => "fco",
                    Some("reasoning") => "rs",
                    _ => "msg",
                };
                obj.insert("id".into(), format!("{prefix}_{base}_in{i}").into());
            }
        }
    }
    Ok(items)
}

/// Chat tools, and chat name → (namespace, name) for functions inside `namespace` tools.
type Namespaces = HashMap<String, (String, String)>;

fn tools(
    tools: Option<&[Value]>,
    opts: &ResponsesOptions,
) -> Result<(Vec<Value>, Namespaces, Vec<&'static str>), TranslateError> {
    let mut out = Vec::new();
    let mut namespaces = Namespaces::new();
    let mut dropped = Vec::new();
    for (i, tool) in tools.unwrap_or_default().iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "function" => out.push(function_tool(tool, None, &format!("tools[{i}]"))?),
            "namespace" => {
                let ns = tool.get("name").and_then(Value::as_str).unwrap_or("");
                if ns.is_empty() {
                    return Err(TranslateError::invalid(
                        format!("tools[{i}].name"),
                        "namespace tools need a name",
                    ));
                }
                for (j, inner) in tool
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let param = format!("tools[{i}].tools[{j}]");
                    let t = function_tool(inner, Some(ns), &param)?;
                    let name = inner["name"].as_str().unwrap_or_default().to_owned();
                    namespaces.insert(namespaced_name(ns, &name), (ns.to_owned(), name));
                    out.push(t);
                }
            }
            k if opts.drop_builtin_tools || (opts.drop_hosted_tools && is_hosted(k)) => {
                note(&mut dropped, report_name(k));
            }
            "" => {
                return Err(TranslateError::invalid(
                    format!("tools[{i}].type"),
                    "tools need a type",
                ))
            }
            other => return Err(builtin_tool_error(format!("tools[{i}].type"), other)),
        }
    }
    Ok((out, namespaces, dropped))
}

/// A Responses function tool (`{type, name, description, parameters, strict}`) as a chat tool.
fn function_tool(tool: &Value, ns: Option<&str>, param: &str) -> Result<Value, TranslateError> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return Err(TranslateError::invalid(
            format!("{param}.type"),
            "namespace tools may only contain function tools",
        ));
    }
    let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(TranslateError::invalid(
            format!("{param}.name"),
            "function tools need a name",
        ));
    }
    let mut function = JsonMap::new();
    let name = match ns {
        Some(ns) => namespaced_name(ns, name),
        None => name.to_owned(),
    };
    function.insert("name".into(), name.into());
    for k in ["description", "parameters", "strict"] {
        if let Some(v) = tool.get(k).filter(|v| !v.is_null()) {
            function.insert(k.into(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice`: strings as they are; `{type:"function", name}` → the chat form;
/// `{type:"allowed_tools", mode}` → its mode.
fn tool_choice(choice: Option<&Value>, ns: &Namespaces) -> Result<Option<Value>, TranslateError> {
    let Some(choice) = choice else {
        return Ok(None);
    };
    match choice {
        Value::String(_) => Ok(Some(choice.clone())),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o.get("name").and_then(Value::as_str).unwrap_or("");
                let name = match o.get("namespace").and_then(Value::as_str) {
                    Some(n) => namespaced_name(n, name),
                    None => ns
                        .iter()
                        .find(|(_, (_, inner))| inner == name)
                        .map(|(chat, _)| chat.clone())
                        .unwrap_or_else(|| name.to_owned()),
                };
                Ok(Some(
                    json!({"type": "function", "function": {"name": name}}),
                ))
            }
            Some("allowed_tools") => Ok(o.get("mode").cloned()),
            Some(other) => Err(TranslateError::invalid(
                "tool_choice",
                format!("tool_choice type '{other}' is not available for Bedrock models"),
            )),
            None => Err(TranslateError::invalid(
                "tool_choice",
                "tool_choice objects need a type",
            )),
        },
        _ => Err(TranslateError::invalid(
            "tool_choice",
            "tool_choice must be a string or an object",
        )),
    }
}

fn reasoning_effort(req: &ResponsesRequest) -> Option<Value> {
    let effort = req.reasoning.as_ref()?.effort.as_deref()?;
    Some(if effort == "xhigh" { "high" } else { effort }.into())
}

/// `text.format` → `response_format`.
fn response_format(req: &ResponsesRequest) -> Result<Option<Value>, TranslateError> {
    let Some(format) = req.text.as_ref().and_then(|t| t.format.as_ref()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") | None => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = JsonMap::new();
            schema.insert(
                "name".into(),
                format.get("name").cloned().unwrap_or(json!("response")),
            );
            for k in ["schema", "strict", "description"] {
                if let Some(v) = format.get(k).filter(|v| !v.is_null()) {
                    schema.insert(k.into(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(TranslateError::invalid(
                    "text.format.schema",
                    "json_schema formats need a schema",
                ));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        Some(other) => Err(TranslateError::invalid(
            "text.format.type",
            format!("unknown text format '{other}' (expected text, json_object or json_schema)"),
        )),
    }
}
