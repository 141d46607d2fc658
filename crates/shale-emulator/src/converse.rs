//! Converse and ConverseStream: summarising a Converse request into a [`PromptInfo`] and
//! rendering the default [`Answer`] as a Converse response or as ConverseStream frames.

use crate::answer::{
    messages_and_last_user, string_array, tool_name, trailing_tool_results, Answer, PromptInfo,
    ToolChoice, ToolDef, Usage,
};
use crate::eventstream::padded_event;
use crate::model::Family;
use crate::text;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// Characters of all text-like strings in a value (base64 payloads and signatures skipped).
pub fn text_chars(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.chars().count() as u64,
        Value::Array(a) => a.iter().map(text_chars).sum(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match k.as_str() {
                "bytes" | "signature" | "redactedContent" | "data" => 340,
                _ => text_chars(v),
            })
            .sum(),
        Value::Number(_) | Value::Bool(_) => 1,
        Value::Null => 0,
    }
}

fn block_text(blocks: &[Value]) -> String {
    let mut out = String::new();
    for text in blocks
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(text);
    }
    out
}

/// Finds the prompt-cache prefix (hash, tokens) up to the last `cachePoint`, walking tools,
/// system and messages in order.
fn cache_prefix(body: &Value) -> Option<(u64, u64)> {
    let mut hash: u64 = 0;
    let mut chars: u64 = 0;
    let mut found = None;
    let tools = body
        .pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let system = body
        .get("system")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let message_blocks = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|m| {
            m.get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        });
    for block in tools.iter().chain(system.iter()).chain(message_blocks) {
        if block.get("cachePoint").is_some() {
            found = Some((hash, chars.div_ceil(4)));
        } else {
            hash = text::xorshift(hash ^ text::stable_hash(block.to_string().as_bytes()));
            chars += text_chars(block);
        }
    }
    found
}

/// Whether `additionalModelRequestFields` turns reasoning on (Claude thinking, gpt-oss /
/// DeepSeek `reasoning_effort`, Nova 2 `reasoningConfig`).
pub fn thinking_requested(extra: Option<&Value>) -> bool {
    let Some(extra) = extra else { return false };
    let claude = extra
        .pointer("/thinking/type")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "adaptive");
    let effort = extra.get("reasoning_effort").is_some_and(|e| !e.is_null());
    let nova = extra
        .pointer("/reasoningConfig/type")
        .and_then(Value::as_str)
        == Some("enabled");
    claude || effort || nova
}

/// Summarises a (validated) Converse request.
pub fn prompt_info(model_id: &str, family: Family, body: &Value) -> PromptInfo {
    let (messages, last_user) = messages_and_last_user(body);
    let last_content = last_user
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let tool_results =
        trailing_tool_results(messages, last_content, |b| b.get("toolResult").is_some());
    let tools: Vec<ToolDef> = body
        .pointer("/toolConfig/tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("toolSpec"))
        .map(|spec| ToolDef {
            name: tool_name(spec),
            schema: spec
                .pointer("/inputSchema/json")
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect();
    let tool_choice = match body.pointer("/toolConfig/toolChoice") {
        Some(c) if c.get("any").is_some() => ToolChoice::Any,
        Some(c) if c.get("tool").is_some() => ToolChoice::Tool(
            c.pointer("/tool/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
        _ => ToolChoice::Auto,
    };
    let inference = body.get("inferenceConfig");
    let json_schema = body
        .pointer("/outputConfig/textFormat/structure/jsonSchema/schema")
        .map(|s| match s {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        });
    let input_chars = text_chars(body.get("system").unwrap_or(&Value::Null))
        + messages.iter().map(text_chars).sum::<u64>()
        + text_chars(body.get("toolConfig").unwrap_or(&Value::Null));
    PromptInfo {
        model_id: model_id.to_owned(),
        last_user_text: block_text(last_content),
        input_tokens: input_chars.div_ceil(4),
        tools,
        tool_choice,
        thinking: thinking_requested(body.get("additionalModelRequestFields")),
        signed_reasoning: family == Family::Anthropic,
        max_tokens: inference
            .and_then(|i| i.get("maxTokens"))
            .and_then(Value::as_u64),
        stop_sequences: string_array(inference.and_then(|i| i.get("stopSequences"))),
        tool_results,
        json_schema,
        cache_prefix: cache_prefix(body),
    }
}

/// The Converse `usage` object.
pub fn usage_json(usage: &Usage) -> Value {
    let mut out = json!({
        "inputTokens": usage.input,
        "outputTokens": usage.output,
        "totalTokens": usage.total(),
    });
    if let (Some(read), Some(write)) = (usage.cache_read, usage.cache_write) {
        out["cacheReadInputTokens"] = json!(read);
        out["cacheWriteInputTokens"] = json!(write);
    }
    out
}

/// The Converse response body.
pub fn response_body(answer: &Answer, request: &Value, latency_ms: u64) -> Value {
    let mut content = Vec::with_capacity(3);
    if let Some(r) = &answer.reasoning {
        let mut rt = json!({ "text": r.text });
        if let Some(sig) = &r.signature {
            rt["signature"] = json!(sig);
        }
        content.push(json!({ "reasoningContent": { "reasoningText": rt } }));
    }
    if let Some(t) = &answer.text {
        content.push(json!({ "text": t }));
    }
    if let Some(t) = &answer.tool_use {
        content.push(json!({ "toolUse": {
            "toolUseId": format!("tooluse_{}", t.id_suffix),
            "name": t.name,
            "input": t.input,
        }}));
    }
    let mut out = Map::new();
    out.insert(
        "output".into(),
        json!({ "message": { "role": "assistant", "content": content } }),
    );
    out.insert("stopReason".into(), json!(answer.stop_reason.as_str()));
    out.insert("usage".into(), usage_json(&answer.usage));
    out.insert("metrics".into(), json!({ "latencyMs": latency_ms }));
    for key in ["performanceConfig", "serviceTier"] {
        if let Some(v) = request.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

fn event(event_type: &str, payload: Value) -> Bytes {
    padded_event(
        event_type,
        &serde_json::to_vec(&payload).expect("JSON serializes"),
    )
}

/// The ConverseStream frames for an answer.
pub fn stream_frames(answer: &Answer, latency_ms: u64) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(16);
    frames.push(event("messageStart", json!({ "role": "assistant" })));
    let mut index = 0u32;
    if let Some(r) = &answer.reasoning {
        for piece in text::split_for_stream(&r.text, 2) {
            frames.push(event(
                "contentBlockDelta",
                json!({ "contentBlockIndex": index, "delta": { "reasoningContent": { "text": piece } } }),
            ));
        }
        if let Some(sig) = &r.signature {
            frames.push(event(
                "contentBlockDelta",
                json!({ "contentBlockIndex": index, "delta": { "reasoningContent": { "signature": sig } } }),
            ));
        }
        frames.push(event(
            "contentBlockStop",
            json!({ "contentBlockIndex": index }),
        ));
        index += 1;
    }
    if let Some(t) = &answer.text {
        for piece in text::split_for_stream(t, 3) {
            frames.push(event(
                "contentBlockDelta",
                json!({ "contentBlockIndex": index, "delta": { "text": piece } }),
            ));
        }
        frames.push(event(
            "contentBlockStop",
            json!({ "contentBlockIndex": index }),
        ));
        index += 1;
    }
    if let Some(t) = &answer.tool_use {
        frames.push(event(
            "contentBlockStart",
            json!({ "contentBlockIndex": index, "start": { "toolUse": {
                "toolUseId": format!("tooluse_{}", t.id_suffix), "name": t.name } } }),
        ));
        for fragment in text::split_chars(&t.input.to_string(), 2) {
            frames.push(event(
                "contentBlockDelta",
                json!({ "contentBlockIndex": index, "delta": { "toolUse": { "input": fragment } } }),
            ));
        }
        frames.push(event(
            "contentBlockStop",
            json!({ "contentBlockIndex": index }),
        ));
    }
    frames.push(event(
        "messageStop",
        json!({ "stopReason": answer.stop_reason.as_str() }),
    ));
    frames.push(event(
        "metadata",
        json!({ "usage": usage_json(&answer.usage), "metrics": { "latencyMs": latency_ms } }),
    ));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::compose;
    use crate::config::EmulatorConfig;
    use crate::state::AppState;
    use aws_smithy_eventstream::frame::read_message_from;

    fn decode(frames: &[Bytes]) -> Vec<(String, Value)> {
        frames
            .iter()
            .map(|f| {
                let m = read_message_from(&f[..]).unwrap();
                let t = m
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == ":event-type")
                    .unwrap()
                    .value()
                    .as_string()
                    .unwrap()
                    .as_str()
                    .to_owned();
                (t, serde_json::from_slice(m.payload()).unwrap())
            })
            .collect()
    }

    /// Golden: the default Converse answer for a fixed request.
    #[test]
    fn golden_converse_response() {
        let req = json!({"messages":[{"role":"user","content":[{"text":"What is the capital of France?"}]}],
            "system":[{"text":"Be brief."}],"inferenceConfig":{"maxTokens":100}});
        let info = prompt_info(
            "anthropic.claude-3-haiku-20240307-v1:0",
            Family::Anthropic,
            &req,
        );
        let answer = compose(&info, &AppState::new(EmulatorConfig::default()));
        let body = response_body(&answer, &req, 10);
        assert_eq!(
            body,
            json!({
                "output":{"message":{"role":"assistant","content":[{"text":
                    "Hello from the shale emulator (model anthropic.claude-3-haiku-20240307-v1:0). You said: What is the capital of France?"}]}},
                "stopReason":"end_turn",
                "usage":{"inputTokens":11,"outputTokens":15,"totalTokens":26},
                "metrics":{"latencyMs":10}
            })
        );
    }

    #[test]
    fn stream_has_reasoning_text_and_tool_blocks() {
        let req = json!({"messages":[{"role":"user","content":[{"text":"weather?"}]}],
            "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}]},
            "additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}});
        let info = prompt_info("anthropic.claude-sonnet-4", Family::Anthropic, &req);
        let answer = compose(&info, &AppState::new(EmulatorConfig::default()));
        let events = decode(&stream_frames(&answer, 5));
        let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types.first(), Some(&"messageStart"));
        assert_eq!(types.last(), Some(&"metadata"));
        assert!(events
            .iter()
            .any(|(_, p)| p.pointer("/delta/reasoningContent/signature").is_some()));
        let start = events
            .iter()
            .find(|(t, _)| t == "contentBlockStart")
            .unwrap();
        assert_eq!(start.1["contentBlockIndex"], 2);
        assert_eq!(start.1["start"]["toolUse"]["name"], "get_weather");
        let input: String = events
            .iter()
            .filter_map(|(_, p)| p.pointer("/delta/toolUse/input").and_then(Value::as_str))
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&input).unwrap(),
            json!({"city":"example"})
        );
        assert!(
            events
                .iter()
                .filter(|(_, p)| p.pointer("/delta/toolUse/input").is_some())
                .count()
                >= 2
        );
        let stop = events.iter().find(|(t, _)| t == "messageStop").unwrap();
        assert_eq!(stop.1["stopReason"], "tool_use");
        assert!(events.iter().all(|(_, p)| p.get("p").is_some()));
    }

    #[test]
    fn cache_points_produce_cache_usage() {
        let req = json!({"system":[{"text":"a long system prompt here"},{"cachePoint":{"type":"default"}}],
            "messages":[{"role":"user","content":[{"text":"hi"}]}]});
        let info = prompt_info("m", Family::Anthropic, &req);
        assert!(info.cache_prefix.is_some());
        let st = AppState::new(EmulatorConfig::default());
        let first = compose(&info, &st);
        let u = usage_json(&first.usage);
        assert!(u["cacheWriteInputTokens"].as_u64().unwrap() > 0);
        let second = compose(&info, &st);
        assert!(
            usage_json(&second.usage)["cacheReadInputTokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}
