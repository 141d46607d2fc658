//! Claude's native InvokeModel body (Anthropic Messages on Bedrock, plus the legacy text
//! completion): validation, summary into a [`PromptInfo`], and the native response and
//! stream events.

use crate::answer::reasoning_signature;
use crate::answer::{
    messages_and_last_user, string_array, tool_name, trailing_tool_results, Answer, PromptInfo,
    ToolChoice, ToolDef,
};
use crate::converse::text_chars;
use crate::error::BedrockException;
use crate::model::base_model_id;
use crate::text;
use crate::validate::{
    check_final_assistant_starts_with_reasoning, check_thinking, only_known_keys, required_key,
};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashSet;

const KNOWN_KEYS: &[&str] = &[
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "output_config",
    "output_format",
    "context_management",
    "container",
    "mcp_servers",
];
const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "container_upload",
];
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

fn v(msg: impl Into<String>) -> BedrockException {
    BedrockException::validation(msg)
}

/// Whether the body is the legacy Claude text-completion format.
pub fn is_legacy(body: &Value) -> bool {
    body.get("prompt").is_some()
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type":"text","text":s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Validates a Claude invoke body (Messages or legacy completion).
pub fn validate(body: &Value) -> Result<(), BedrockException> {
    let obj = body
        .as_object()
        .ok_or_else(|| v("Malformed input request: #: expected type: JSONObject, found: JSONArray, please reformat your input and try again."))?;
    if obj
        .get("anthropic_version")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(required_key("anthropic_version"));
    }
    if is_legacy(body) {
        if obj
            .get("max_tokens_to_sample")
            .and_then(Value::as_u64)
            .is_none()
        {
            return Err(required_key("max_tokens_to_sample"));
        }
        return Ok(());
    }
    only_known_keys(obj, KNOWN_KEYS)?;
    check_betas(obj.get("anthropic_beta"))?;
    check_metadata(obj.get("metadata"))?;
    match obj.get("max_tokens").and_then(Value::as_u64) {
        Some(0) => return Err(v("max_tokens: Input should be greater than or equal to 1")),
        Some(_) => {}
        None => return Err(required_key("max_tokens")),
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| required_key("messages"))?;
    if messages.is_empty() {
        return Err(v("messages: at least one message is required"));
    }
    let has_tools = obj
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let mut previous_uses: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if !["user", "assistant"].contains(&role) {
            return Err(v(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        if i == 0 && role != "user" {
            return Err(v("messages: first message must use the \"user\" role"));
        }
        let content = m.get("content").unwrap_or(&Value::Null);
        let content_blocks = blocks(content);
        if content_blocks.is_empty() || content.as_str() == Some("") {
            return Err(v(format!("messages.{i}: all messages must have non-empty content except for the optional final assistant message")));
        }
        let mut uses = HashSet::new();
        for (j, b) in content_blocks.iter().enumerate() {
            let ty = block_type(b);
            if !BLOCK_TYPES.contains(&ty) {
                return Err(v(format!("messages.{i}.content.{j}: Input tag '{ty}' found using 'type' does not match any of the expected tags: {}", BLOCK_TYPES.join(", "))));
            }
            match ty {
                "text"
                    if b.get("text")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t.is_empty()) =>
                {
                    return Err(v("messages: text content blocks must be non-empty"));
                }
                "image" => check_image(b, i, j)?,
                "tool_use" | "tool_result" if !has_tools => {
                    return Err(v("Requests which include `tool_use` or `tool_result` blocks must define tools."));
                }
                "tool_use" => {
                    uses.insert(b.get("id").and_then(Value::as_str).unwrap_or("").to_owned());
                }
                "tool_result" => {
                    let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                    if !previous_uses.contains(id) {
                        return Err(v(format!("messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")));
                    }
                }
                _ => {}
            }
        }
        previous_uses = uses;
    }
    let forced = matches!(
        obj.get("tool_choice")
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str),
        Some("any" | "tool")
    );
    let thinking = check_thinking(
        obj.get("thinking"),
        obj.get("max_tokens").and_then(Value::as_u64),
        obj.get("temperature").and_then(Value::as_f64),
        obj.get("top_p").and_then(Value::as_f64),
        forced,
    )?;
    if thinking {
        for (i, m) in messages.iter().enumerate() {
            for (j, b) in blocks(m.get("content").unwrap_or(&Value::Null))
                .iter()
                .enumerate()
            {
                if block_type(b) == "thinking" {
                    let t = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                    if b.get("signature").and_then(Value::as_str)
                        != Some(reasoning_signature(t).as_str())
                    {
                        return Err(v(format!(
                            "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                        )));
                    }
                }
            }
        }
        check_final_assistant_starts_with_reasoning(
            messages,
            |b| match block_type(b) {
                "thinking" | "redacted_thinking" => None,
                "tool_use" => Some("tool_use"),
                _ => Some("text"),
            },
            |m| {
                blocks(m.get("content").unwrap_or(&Value::Null))
                    .iter()
                    .any(|b| block_type(b) == "tool_result")
            },
        )?;
    }
    Ok(())
}

/// `metadata` is accepted with Anthropic's schema only (`{"user_id": ...}`, as Claude Code sends
/// it in its Bedrock mode); other members are refused, as gateways that forward their own
/// metadata objects have found.
fn check_metadata(metadata: Option<&Value>) -> Result<(), BedrockException> {
    match metadata {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => match m.keys().find(|k| k.as_str() != "user_id") {
            Some(k) => Err(v(format!("metadata.{k}: Extra inputs are not permitted"))),
            None => Ok(()),
        },
        Some(_) => Err(v("metadata: Input should be a valid dictionary")),
    }
}

fn check_betas(betas: Option<&Value>) -> Result<(), BedrockException> {
    let flags: Vec<&Value> = match betas {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
    };
    for f in flags {
        match f.as_str() {
            Some(flag) if crate::betas::accepts(flag) => {}
            _ => return Err(v("invalid beta flag")),
        }
    }
    Ok(())
}

fn check_image(b: &Value, i: usize, j: usize) -> Result<(), BedrockException> {
    let source = b.get("source").unwrap_or(&Value::Null);
    if source.get("type").and_then(Value::as_str) != Some("base64") {
        return Ok(());
    }
    let media = source
        .get("media_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !IMAGE_TYPES.contains(&media) {
        return Err(v(format!("messages.{i}.content.{j}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")));
    }
    let data = source.get("data").and_then(Value::as_str).unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| {
            v(format!(
                "messages.{i}.content.{j}.image.source.base64: invalid base64 data"
            ))
        })?;
    let format = media.trim_start_matches("image/");
    if !crate::validate::image_matches(format, &bytes) {
        return Err(v(format!("messages.{i}.content.{j}.image.source.base64.data: Image does not match the provided media type {media}")));
    }
    Ok(())
}

/// Summarises a validated Claude Messages body.
pub fn prompt_info(model_id: &str, body: &Value) -> PromptInfo {
    let (messages, last_user) = messages_and_last_user(body);
    let last_blocks = last_user
        .map(|m| blocks(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let last_user_text = last_blocks
        .iter()
        .filter(|b| block_type(b) == "text")
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let tool_results =
        trailing_tool_results(messages, &last_blocks, |b| block_type(b) == "tool_result");
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| ToolDef {
            name: tool_name(t),
            schema: t.get("input_schema").cloned().unwrap_or(Value::Null),
        })
        .collect();
    let tool_choice = match body
        .get("tool_choice")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
    {
        Some("any") => ToolChoice::Any,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Tool(
            body.pointer("/tool_choice/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
        _ => ToolChoice::Auto,
    };
    let thinking = body
        .pointer("/thinking/type")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "enabled" || t == "adaptive");
    let json_schema = body
        .pointer("/output_format/schema")
        .or_else(|| body.pointer("/output_config/format/schema"))
        .cloned();
    let input_chars = text_chars(body.get("system").unwrap_or(&Value::Null))
        + messages.iter().map(text_chars).sum::<u64>()
        + text_chars(body.get("tools").unwrap_or(&Value::Null));
    PromptInfo {
        model_id: model_id.to_owned(),
        last_user_text,
        input_tokens: input_chars.div_ceil(4),
        tools,
        tool_choice,
        thinking,
        signed_reasoning: true,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        stop_sequences: string_array(body.get("stop_sequences")),
        tool_results,
        json_schema,
        cache_prefix: cache_prefix(body),
    }
}

/// (hash, tokens) up to the last block carrying `cache_control` (tools, system, messages).
fn cache_prefix(body: &Value) -> Option<(u64, u64)> {
    let mut hash = 0u64;
    let mut chars = 0u64;
    let mut found = None;
    let mut visit = |b: &Value| {
        hash = text::xorshift(hash ^ text::stable_hash(b.to_string().as_bytes()));
        chars += text_chars(b);
        if b.get("cache_control").is_some() {
            found = Some((hash, chars.div_ceil(4)));
        }
    };
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .for_each(&mut visit);
    if let Some(Value::Array(system)) = body.get("system") {
        system.iter().for_each(&mut visit);
    }
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(Value::Array(content)) = m.get("content") {
            content.iter().for_each(&mut visit);
        }
    }
    found
}

/// `anthropic.claude-3-haiku-20240307-v1:0` → `claude-3-haiku-20240307`.
pub fn model_name(model_id: &str) -> String {
    let base = base_model_id(model_id).unwrap_or(model_id);
    let name = base.strip_prefix("anthropic.").unwrap_or(base);
    match name.rfind("-v") {
        Some(pos) if name[pos + 2..].starts_with(|c: char| c.is_ascii_digit()) => {
            name[..pos].to_owned()
        }
        _ => name.to_owned(),
    }
}

fn usage(answer: &Answer, output: u64) -> Value {
    let mut u = json!({ "input_tokens": answer.usage.input, "output_tokens": output });
    if let (Some(read), Some(write)) = (answer.usage.cache_read, answer.usage.cache_write) {
        u["cache_creation_input_tokens"] = json!(write);
        u["cache_read_input_tokens"] = json!(read);
    }
    u
}

fn message_id(answer: &Answer, model_id: &str) -> String {
    let seed =
        text::stable_hash(model_id.as_bytes()) ^ answer.usage.input ^ (answer.usage.output << 20);
    format!("msg_bdrk_{}", text::stable_id(seed, 24))
}

/// The native Messages response.
pub fn response_body(answer: &Answer, model_id: &str) -> Value {
    let mut content = Vec::new();
    if let Some(r) = &answer.reasoning {
        content.push(json!({"type":"thinking","thinking":r.text,"signature":r.signature}));
    }
    if let Some(t) = &answer.text {
        content.push(json!({"type":"text","text":t}));
    }
    if let Some(t) = &answer.tool_use {
        content.push(json!({"type":"tool_use","id":format!("toolu_bdrk_{}", t.id_suffix),"name":t.name,"input":t.input}));
    }
    json!({
        "id": message_id(answer, model_id),
        "type": "message",
        "role": "assistant",
        "model": model_name(model_id),
        "content": content,
        "stop_reason": answer.stop_reason.as_str(),
        "stop_sequence": answer.stop_sequence,
        "usage": usage(answer, answer.usage.output),
    })
}

/// The native stream events (before base64 `chunk` wrapping).
pub fn stream_events(answer: &Answer, model_id: &str) -> Vec<Value> {
    let mut events = vec![json!({"type":"message_start","message":{
        "id": message_id(answer, model_id), "type":"message", "role":"assistant",
        "model": model_name(model_id), "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": usage(answer, 1)}})];
    let mut index = 0;
    if let Some(r) = &answer.reasoning {
        events.push(json!({"type":"content_block_start","index":index,"content_block":{"type":"thinking","thinking":""}}));
        for piece in text::split_for_stream(&r.text, 2) {
            events.push(json!({"type":"content_block_delta","index":index,"delta":{"type":"thinking_delta","thinking":piece}}));
        }
        if let Some(sig) = &r.signature {
            events.push(json!({"type":"content_block_delta","index":index,"delta":{"type":"signature_delta","signature":sig}}));
        }
        events.push(json!({"type":"content_block_stop","index":index}));
        index += 1;
    }
    if let Some(t) = &answer.text {
        events.push(json!({"type":"content_block_start","index":index,"content_block":{"type":"text","text":""}}));
        for piece in text::split_for_stream(t, 3) {
            events.push(json!({"type":"content_block_delta","index":index,"delta":{"type":"text_delta","text":piece}}));
        }
        events.push(json!({"type":"content_block_stop","index":index}));
        index += 1;
    }
    if let Some(t) = &answer.tool_use {
        events.push(json!({"type":"content_block_start","index":index,"content_block":{
            "type":"tool_use","id":format!("toolu_bdrk_{}", t.id_suffix),"name":t.name,"input":{}}}));
        for fragment in text::split_chars(&t.input.to_string(), 2) {
            events.push(json!({"type":"content_block_delta","index":index,"delta":{"type":"input_json_delta","partial_json":fragment}}));
        }
        events.push(json!({"type":"content_block_stop","index":index}));
    }
    events.push(
        json!({"type":"message_delta","delta":{"stop_reason":answer.stop_reason.as_str(),
        "stop_sequence":answer.stop_sequence},"usage":{"output_tokens":answer.usage.output}}),
    );
    events.push(json!({"type":"message_stop"}));
    events
}

/// Legacy text-completion response.
pub fn legacy_body(reply: &str) -> Value {
    json!({"type":"completion","completion":format!(" {reply}"),"stop_reason":"stop_sequence","stop":"\n\nHuman:"})
}

/// Legacy text-completion stream events.
pub fn legacy_events(reply: &str) -> Vec<Value> {
    let pieces = text::split_for_stream(&format!(" {reply}"), 3);
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == n;
            json!({"type":"completion","completion":p,
                "stop_reason": if last { json!("stop_sequence") } else { Value::Null },
                "stop": if last { json!("\n\nHuman:") } else { Value::Null }})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_version_and_max_tokens() {
        let e = validate(&json!({"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}))
            .unwrap_err();
        assert!(e.message.contains("required key [anthropic_version]"));
        let e = validate(&json!({"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]})).unwrap_err();
        assert!(e.message.contains("required key [max_tokens]"));
        let e = validate(&json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"model":"x","messages":[{"role":"user","content":"hi"}]})).unwrap_err();
        assert!(e.message.contains("extraneous key [model]"));
        validate(&json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})).unwrap();
    }

    #[test]
    fn checks_metadata_and_betas() {
        let body = |extra: Value| {
            let mut b = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,
                "messages":[{"role":"user","content":"hi"}]});
            for (k, val) in extra.as_object().unwrap() {
                b[k] = val.clone();
            }
            validate(&b)
        };
        body(json!({"metadata": {"user_id": "u"}})).unwrap();
        let e = body(json!({"metadata": {"user_id": "u", "user_api_key_hash": "x"}})).unwrap_err();
        assert_eq!(
            e.message,
            "metadata.user_api_key_hash: Extra inputs are not permitted"
        );
        let e = body(json!({"anthropic_beta": ["claude-code-20250219"]})).unwrap_err();
        assert_eq!(e.message, "invalid beta flag");
        body(json!({"anthropic_beta": ["interleaved-thinking-2025-05-14"]})).unwrap();
    }

    #[test]
    fn tool_blocks_need_tools_and_pairing() {
        let msgs = json!([{"role":"user","content":"w"},
            {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":"x"}]}]);
        let e =
            validate(&json!({"anthropic_version":"v","max_tokens":5,"messages":msgs})).unwrap_err();
        assert!(e.message.contains("must define tools"));
        let e = validate(
            &json!({"anthropic_version":"v","max_tokens":5,"messages":msgs,
            "tools":[{"name":"f","input_schema":{"type":"object"}}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("unexpected `tool_use_id`"));
    }

    #[test]
    fn images_must_match_their_media_type() {
        let png = crate::images::TINY_PNG_B64;
        let body = |media: &str| {
            json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user",
            "content":[{"type":"image","source":{"type":"base64","media_type":media,"data":png}},{"type":"text","text":"what"}]}]})
        };
        validate(&body("image/png")).unwrap();
        assert!(validate(&body("image/jpeg"))
            .unwrap_err()
            .message
            .contains("does not match"));
        assert!(validate(&body("image/bmp")).is_err());
    }

    #[test]
    fn thinking_history_needs_signed_thinking_first() {
        let tools = json!([{"name":"f","input_schema":{"type":"object"}}]);
        let history = |first: Value| {
            json!({"anthropic_version":"v","max_tokens":2048,"tools":tools,
            "thinking":{"type":"enabled","budget_tokens":1024},
            "messages":[{"role":"user","content":"w"},
                {"role":"assistant","content":[first,{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}]})
        };
        let sig = reasoning_signature("hmm");
        validate(&history(
            json!({"type":"thinking","thinking":"hmm","signature":sig}),
        ))
        .unwrap();
        let e = validate(&history(json!({"type":"text","text":"calling"}))).unwrap_err();
        assert!(e
            .message
            .contains("Expected `thinking` or `redacted_thinking`, but found `text`"));
        let e = validate(&history(
            json!({"type":"thinking","thinking":"hmm","signature":"forged"}),
        ))
        .unwrap_err();
        assert!(e.message.contains("Invalid `signature`"));
    }

    #[test]
    fn model_names() {
        assert_eq!(
            model_name("anthropic.claude-3-haiku-20240307-v1:0"),
            "claude-3-haiku-20240307"
        );
        assert_eq!(
            model_name("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            "claude-sonnet-4-20250514"
        );
    }
}
