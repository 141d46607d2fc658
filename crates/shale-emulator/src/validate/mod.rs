//! Request validation like Bedrock's: the Converse message/content rules (roles, alternation,
//! blank content, unknown block keys, media formats, tool pairing) and Claude's thinking rules.
//! Every failure is a `ValidationException` with Bedrock's wording where it is known.

use crate::error::BedrockException;
use crate::model::Family;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::HashSet;

mod thinking;

use thinking::check_converse_thinking_history;
pub use thinking::{check_final_assistant_starts_with_reasoning, check_thinking};

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: &[&str] = &[
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];
const VIDEO_FORMATS: &[&str] = &[
    "mkv", "mov", "mp4", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp",
];
const BLOCK_KEYS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
];

fn v(msg: impl Into<String>) -> BedrockException {
    BedrockException::validation(msg)
}

fn extraneous(key: &str) -> BedrockException {
    v(format!(
        "Malformed input request: extraneous key [{key}] is not permitted, please reformat your input and try again."
    ))
}

fn enum_error(value: &str, path: &str, allowed: &[&str]) -> BedrockException {
    v(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    ))
}

fn not_null(path: &str) -> BedrockException {
    v(format!(
        "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
    ))
}

fn valid_tool_use_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn valid_document_name(name: &str) -> bool {
    (1..=200).contains(&name.chars().count())
        && name.chars().all(|c| {
            c.is_alphanumeric() || c.is_whitespace() || matches!(c, '-' | '(' | ')' | '[' | ']')
        })
}

/// Checks that image bytes look like the declared format (`png`, `jpeg`, `gif`, `webp`).
pub fn image_matches(format: &str, bytes: &[u8]) -> bool {
    match format {
        "png" => bytes.starts_with(&[0x89, b'P', b'N', b'G']),
        "jpeg" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "gif" => bytes.starts_with(b"GIF8"),
        "webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

fn check_source(
    source: Option<&Value>,
    path: &str,
    media: &str,
    format: &str,
) -> Result<(), BedrockException> {
    let source = source
        .and_then(Value::as_object)
        .ok_or_else(|| not_null(&format!("{path}.source")))?;
    if source.len() != 1 {
        return Err(v(format!("The {media} source at {path} must set exactly one of bytes, s3Location, text, content.")));
    }
    let (key, value) = source.iter().next().expect("one entry");
    match key.as_str() {
        "bytes" => {
            let text = value.as_str().ok_or_else(|| {
                v(format!(
                    "The {media} bytes at {path} must be a base64 string."
                ))
            })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| v(format!("Invalid base64 {media} bytes at {path}.")))?;
            if bytes.is_empty() {
                return Err(v(format!("The {media} at {path} is empty.")));
            }
            if media == "image" && !image_matches(format, &bytes) {
                return Err(v(format!(
                    "The model returned the following errors: {path}.source.bytes: Image does not match the provided format {format}."
                )));
            }
            Ok(())
        }
        "s3Location" => match value.get("uri").and_then(Value::as_str) {
            Some(uri) if uri.starts_with("s3://") => Ok(()),
            _ => Err(v(format!(
                "The s3Location uri at {path} must start with s3://."
            ))),
        },
        "text" | "content" if media == "document" => Ok(()),
        other => Err(extraneous(other)),
    }
}

fn single_key<'a>(block: &'a Value, path: &str) -> Result<(&'a str, &'a Value), BedrockException> {
    let obj = block
        .as_object()
        .ok_or_else(|| v(format!("The ContentBlock at {path} must be an object.")))?;
    if let Some(unknown) = obj.keys().find(|k| !BLOCK_KEYS.contains(&k.as_str())) {
        return Err(extraneous(unknown));
    }
    if obj.len() != 1 {
        return Err(v(format!(
            "The ContentBlock at {path} must set exactly one member, found {}.",
            obj.len()
        )));
    }
    let (k, val) = obj.iter().next().expect("one entry");
    Ok((k.as_str(), val))
}

fn check_media(kind: &str, val: &Value, path: &str) -> Result<(), BedrockException> {
    let allowed = match kind {
        "image" => IMAGE_FORMATS,
        "document" => DOCUMENT_FORMATS,
        _ => VIDEO_FORMATS,
    };
    let format_path = format!("{path}.member.{kind}.format");
    let format = val
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| not_null(&format_path))?;
    if !allowed.contains(&format) {
        return Err(enum_error(format, &format_path, allowed));
    }
    if kind == "document" {
        let name = val
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| not_null(&format!("{path}.member.document.name")))?;
        if !valid_document_name(name) {
            return Err(v(format!(
                "The document file name at {path} can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character."
            )));
        }
    }
    check_source(val.get("source"), path, kind, format)
}

/// Validates one Converse content block; records toolUse / toolResult ids.
fn check_block(
    block: &Value,
    path: &str,
    role: &str,
    tool_uses: &mut Vec<String>,
    tool_results: &mut Vec<String>,
) -> Result<(), BedrockException> {
    let (kind, val) = single_key(block, path)?;
    match kind {
        "text" => {
            let text = val
                .as_str()
                .ok_or_else(|| v(format!("The text field at {path} must be a string.")))?;
            if text.trim().is_empty() {
                return Err(v(format!(
                    "The text field in the ContentBlock object at {path} is blank. Add text to the text field, and try again."
                )));
            }
        }
        "image" | "document" | "video" => check_media(kind, val, path)?,
        "toolUse" => {
            let id = val.get("toolUseId").and_then(Value::as_str).unwrap_or("");
            let name = val.get("name").and_then(Value::as_str).unwrap_or("");
            if !valid_tool_use_id(id) {
                return Err(v(format!(
                    "The toolUseId at {path} must match [a-zA-Z0-9_.:-]{{1,64}}."
                )));
            }
            if !valid_tool_name(name) {
                return Err(v(format!(
                    "The tool name at {path} must match [a-zA-Z0-9_-]{{1,64}}."
                )));
            }
            if val.get("input").is_none() {
                return Err(not_null(&format!("{path}.member.toolUse.input")));
            }
            if role != "assistant" {
                return Err(v(format!(
                    "toolUse blocks are only allowed in assistant messages ({path})."
                )));
            }
            tool_uses.push(id.to_owned());
        }
        "toolResult" => {
            let id = val.get("toolUseId").and_then(Value::as_str).unwrap_or("");
            if !valid_tool_use_id(id) {
                return Err(v(format!(
                    "The toolUseId at {path} must match [a-zA-Z0-9_.:-]{{1,64}}."
                )));
            }
            let content = val
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| not_null(&format!("{path}.member.toolResult.content")))?;
            for (k, item) in content.iter().enumerate() {
                let ipath = format!("{path}.toolResult.content.{k}");
                let obj = item.as_object().ok_or_else(|| {
                    v(format!(
                        "The tool result content at {ipath} must be an object."
                    ))
                })?;
                for (key, inner) in obj {
                    match key.as_str() {
                        "json" | "text" => {}
                        "image" | "document" | "video" => check_media(key, inner, &ipath)?,
                        other => return Err(extraneous(other)),
                    }
                }
            }
            if let Some(status) = val.get("status").and_then(Value::as_str) {
                if !["success", "error"].contains(&status) {
                    return Err(enum_error(
                        status,
                        &format!("{path}.member.toolResult.status"),
                        &["success", "error"],
                    ));
                }
            }
            if role != "user" {
                return Err(v(format!(
                    "toolResult blocks are only allowed in user messages ({path})."
                )));
            }
            tool_results.push(id.to_owned());
        }
        "cachePoint" if val.get("type").and_then(Value::as_str) != Some("default") => {
            return Err(enum_error(
                val.get("type").and_then(Value::as_str).unwrap_or("null"),
                &format!("{path}.member.cachePoint.type"),
                &["default"],
            ));
        }
        "reasoningContent" => {
            if role != "assistant" {
                return Err(v(format!(
                    "reasoningContent blocks are only allowed in assistant messages ({path})."
                )));
            }
            let ok = val
                .get("reasoningText")
                .and_then(|r| r.get("text"))
                .is_some_and(Value::is_string)
                || val.get("redactedContent").is_some_and(Value::is_string);
            if !ok {
                return Err(v(format!(
                    "The reasoningContent at {path} needs reasoningText.text or redactedContent."
                )));
            }
        }
        "guardContent"
            if val.get("text").and_then(|t| t.get("text")).is_none()
                && val.get("image").is_none() =>
        {
            return Err(v(format!(
                "The guardContent at {path} needs text or image."
            )));
        }
        _ => {}
    }
    Ok(())
}

/// Validates a Converse (or ConverseStream) request body for a model family.
pub fn converse(family: Family, body: &Value) -> Result<(), BedrockException> {
    let obj = body
        .as_object()
        .ok_or_else(|| v("Malformed input request: the request body must be a JSON object."))?;
    const TOP_KEYS: &[&str] = &[
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "modelId",
    ];
    if let Some(unknown) = obj.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
        return Err(extraneous(unknown));
    }
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        None | Some(Value::Null) => return Err(not_null("messages")),
        Some(_) => return Err(v("The messages field must be a list.")),
    };
    if messages.is_empty() {
        return Err(v("A conversation must start with a user message. Try again with a conversation that starts with a user message."));
    }
    let has_tool_config = obj.get("toolConfig").is_some_and(|t| !t.is_null());
    let mut previous_role = "";
    let mut turns: Vec<(Vec<String>, Vec<String>)> = Vec::with_capacity(messages.len());
    let mut cache_points = 0usize;
    for (i, message) in messages.iter().enumerate() {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("null");
        if !["user", "assistant"].contains(&role) {
            return Err(enum_error(
                role,
                &format!("messages.{i}.member.role"),
                &["user", "assistant"],
            ));
        }
        if i == 0 && role != "user" {
            return Err(v("A conversation must start with a user message. Try again with a conversation that starts with a user message."));
        }
        if role == previous_role {
            return Err(v("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."));
        }
        previous_role = role;
        let content = match message.get("content") {
            Some(Value::Array(c)) => c,
            None | Some(Value::Null) => {
                return Err(not_null(&format!("messages.{i}.member.content")))
            }
            Some(_) => {
                return Err(v(format!(
                    "The content field in the Message object at messages.{i} must be a list."
                )))
            }
        };
        if content.is_empty() {
            return Err(v(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        let (mut uses, mut results) = (Vec::new(), Vec::new());
        for (j, block) in content.iter().enumerate() {
            check_block(
                block,
                &format!("messages.{i}.content.{j}"),
                role,
                &mut uses,
                &mut results,
            )?;
            if block.get("cachePoint").is_some() {
                cache_points += 1;
            }
        }
        if (!uses.is_empty() || !results.is_empty()) && !has_tool_config {
            return Err(v("The toolConfig field must be defined when using toolUse and toolResult content blocks."));
        }
        turns.push((uses, results));
    }
    check_tool_pairing(&turns)?;
    if let Some(system) = obj.get("system") {
        let blocks = system
            .as_array()
            .ok_or_else(|| v("The system field must be a list."))?;
        for (k, block) in blocks.iter().enumerate() {
            let path = format!("system.{k}");
            let (kind, val) = single_key(block, &path)?;
            match kind {
                "text" if val.as_str().is_none_or(|t| t.trim().is_empty()) => {
                    return Err(v(format!("The text field in the SystemContentBlock object at {path} is blank. Add text to the text field, and try again.")));
                }
                "text" | "guardContent" => {}
                "cachePoint" => cache_points += 1,
                other => return Err(extraneous(other)),
            }
        }
    }
    let forced_tool = check_tool_config(obj.get("toolConfig"), &mut cache_points)?;
    let inference = obj.get("inferenceConfig").cloned().unwrap_or(Value::Null);
    check_inference(&inference)?;
    if family == Family::Anthropic {
        if cache_points > 4 {
            return Err(v(format!(
                "The model returned the following errors: A maximum of 4 blocks with cache_control may be provided. Found {cache_points}."
            )));
        }
        let extra = obj.get("additionalModelRequestFields");
        let thinking = extra.and_then(|e| e.get("thinking"));
        let enabled = check_thinking(
            thinking,
            inference.get("maxTokens").and_then(Value::as_u64),
            inference.get("temperature").and_then(Value::as_f64),
            inference.get("topP").and_then(Value::as_f64),
            forced_tool,
        )?;
        if enabled {
            check_converse_thinking_history(messages)?;
        }
    }
    Ok(())
}

fn check_tool_pairing(turns: &[(Vec<String>, Vec<String>)]) -> Result<(), BedrockException> {
    for (i, (uses, _)) in turns.iter().enumerate() {
        if uses.is_empty() {
            continue;
        }
        let Some((_, answered)) = turns.get(i + 1) else {
            continue;
        };
        let answered: HashSet<&String> = answered.iter().collect();
        let missing: Vec<&str> = uses
            .iter()
            .filter(|id| !answered.contains(id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(v(format!(
                "Expected toolResult blocks at messages.{}.content for the following Ids: {}",
                i + 1,
                missing.join(", ")
            )));
        }
    }
    for (i, (_, results)) in turns.iter().enumerate() {
        if results.is_empty() {
            continue;
        }
        let offered: HashSet<&String> = match i.checked_sub(1).and_then(|p| turns.get(p)) {
            Some((uses, _)) => uses.iter().collect(),
            None => HashSet::new(),
        };
        let unexpected: Vec<&str> = results
            .iter()
            .filter(|id| !offered.contains(id))
            .map(String::as_str)
            .collect();
        if !unexpected.is_empty() {
            return Err(v(format!(
                "The model returned the following errors: messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                unexpected.join(", ")
            )));
        }
    }
    Ok(())
}

/// Validates `toolConfig`; returns whether the tool choice forces a tool call.
fn check_tool_config(
    tool_config: Option<&Value>,
    cache_points: &mut usize,
) -> Result<bool, BedrockException> {
    let Some(tc) = tool_config.filter(|t| !t.is_null()) else {
        return Ok(false);
    };
    let tools = tc
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| not_null("toolConfig.tools"))?;
    if tools.is_empty() {
        return Err(v("1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"));
    }
    let mut names = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        if tool.get("cachePoint").is_some() {
            *cache_points += 1;
            continue;
        }
        let spec = tool.get("toolSpec").ok_or_else(|| {
            v(format!(
                "The tool at toolConfig.tools.{i} must be a toolSpec or cachePoint."
            ))
        })?;
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_tool_name(name) {
            return Err(v(format!("1 validation error detected: Value '{name}' at 'toolConfig.tools.{i}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+")));
        }
        if !spec
            .get("inputSchema")
            .and_then(|s| s.get("json"))
            .is_some_and(Value::is_object)
        {
            return Err(not_null(&format!(
                "toolConfig.tools.{i}.member.toolSpec.inputSchema"
            )));
        }
        if !names.insert(name) {
            return Err(v(format!("The model returned the following errors: tools: Tool names must be unique. Duplicate: {name}")));
        }
    }
    let Some(choice) = tc.get("toolChoice").and_then(Value::as_object) else {
        return Ok(false);
    };
    if choice.len() != 1 {
        return Err(v(
            "toolConfig.toolChoice must set exactly one of auto, any, tool.",
        ));
    }
    match choice.keys().next().map(String::as_str) {
        Some("auto") => Ok(false),
        Some("any") => Ok(true),
        Some("tool") => {
            let name = choice["tool"]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !names.contains(name) {
                return Err(v(format!("The model returned the following errors: Tool '{name}' not found in provided tools")));
            }
            Ok(true)
        }
        Some(other) => Err(extraneous(other)),
        None => Ok(false),
    }
}

fn check_inference(inference: &Value) -> Result<(), BedrockException> {
    if let Some(max) = inference.get("maxTokens") {
        if max.as_u64().is_none_or(|m| m < 1) {
            return Err(v(format!("1 validation error detected: Value '{max}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1")));
        }
    }
    for key in ["temperature", "topP"] {
        if let Some(x) = inference.get(key) {
            if x.as_f64().is_none_or(|x| !(0.0..=1.0).contains(&x)) {
                return Err(v(format!("1 validation error detected: Value '{x}' at 'inferenceConfig.{key}' failed to satisfy constraint: Member must have value less than or equal to 1")));
            }
        }
    }
    if let Some(stops) = inference.get("stopSequences") {
        if !stops
            .as_array()
            .is_some_and(|s| s.iter().all(Value::is_string))
        {
            return Err(v(
                "inferenceConfig.stopSequences must be a list of strings.",
            ));
        }
    }
    Ok(())
}

/// Shared check that a `{"key": value}` map only uses known keys.
pub fn only_known_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), BedrockException> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(extraneous(unknown)),
        None => Ok(()),
    }
}

/// Bedrock's message for a missing required key in a native body.
pub fn required_key(key: &str) -> BedrockException {
    v(format!(
        "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::reasoning_signature;
    use serde_json::json;

    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    fn err(body: Value) -> String {
        converse(Family::Anthropic, &body).unwrap_err().message
    }

    fn user(text: &str) -> Value {
        json!({"role":"user","content":[{"text":text}]})
    }

    #[test]
    fn accepts_a_simple_conversation() {
        let body = json!({"messages":[user("hi"),{"role":"assistant","content":[{"text":"yo"}]},user("again")],
            "system":[{"text":"be nice"},{"cachePoint":{"type":"default"}}],"inferenceConfig":{"maxTokens":10}});
        converse(Family::Anthropic, &body).unwrap();
    }

    #[test]
    fn rejects_bad_conversations() {
        assert!(
            err(json!({"messages":[{"role":"assistant","content":[{"text":"x"}]}]}))
                .contains("must start with a user message")
        );
        assert!(err(json!({"messages":[user("a"), user("b")]})).contains("must alternate"));
        assert!(err(json!({"messages":[{"role":"user","content":[]}]})).contains("is empty"));
        assert!(
            err(json!({"messages":[{"role":"user","content":[{"text":"  "}]}]}))
                .contains("is blank")
        );
        assert!(
            err(json!({"messages":[{"role":"user","content":[{"txt":"a"}]}]}))
                .contains("extraneous key [txt]")
        );
        assert!(
            err(json!({"messages":[{"role":"system","content":[{"text":"a"}]}]}))
                .contains("enum value set")
        );
        assert!(err(json!({"messages":[user("a")],"model":"x"})).contains("extraneous key [model]"));
    }

    #[test]
    fn checks_media() {
        let img = |format: &str, bytes: &str| {
            json!({"messages":[{"role":"user","content":[
            {"image":{"format":format,"source":{"bytes":bytes}}},{"text":"what"}]}]})
        };
        converse(Family::Anthropic, &img("png", PNG)).unwrap();
        assert!(err(img("bmp", PNG)).contains("enum value set: [png, jpeg, gif, webp]"));
        assert!(err(img("jpeg", PNG)).contains("does not match"));
        assert!(err(img("png", "!!notbase64")).contains("Invalid base64"));
        let doc = |name: &str| {
            json!({"messages":[{"role":"user","content":[
            {"document":{"format":"txt","name":name,"source":{"bytes":"aGVsbG8="}}},{"text":"sum"}]}]})
        };
        converse(Family::Anthropic, &doc("notes-1")).unwrap();
        assert!(err(doc("bad/name.txt")).contains("document file name"));
    }

    #[test]
    fn tool_rules() {
        let tools = json!({"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]});
        let history = json!([user("w"),
            {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{}}}]},
            {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"sunny"}]}}]}]);
        assert!(err(json!({"messages":history})).contains("toolConfig field must be defined"));
        converse(
            Family::Anthropic,
            &json!({"messages":history,"toolConfig":tools}),
        )
        .unwrap();
        let wrong = json!([user("w"),
            {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{}}}]},
            {"role":"user","content":[{"toolResult":{"toolUseId":"t2","content":[{"text":"sunny"}]}}]}]);
        assert!(err(json!({"messages":wrong,"toolConfig":tools})).contains(
            "Expected toolResult blocks at messages.2.content for the following Ids: t1"
        ));
    }

    #[test]
    fn thinking_rules() {
        let base = |extra: Value, inference: Value| {
            json!({"messages":[user("hi")],
            "additionalModelRequestFields":extra,"inferenceConfig":inference})
        };
        converse(
            Family::Anthropic,
            &base(
                json!({"thinking":{"type":"enabled","budget_tokens":1024}}),
                json!({"maxTokens":2000}),
            ),
        )
        .unwrap();
        assert!(err(base(
            json!({"thinking":{"type":"enabled","budget_tokens":512}}),
            json!({})
        ))
        .contains("greater than or equal to 1024"));
        assert!(err(base(
            json!({"thinking":{"type":"enabled","budget_tokens":2048}}),
            json!({"maxTokens":1000})
        ))
        .contains("max_tokens"));
        assert!(err(base(
            json!({"thinking":{"type":"enabled","budget_tokens":1024}}),
            json!({"temperature":0.5})
        ))
        .contains("temperature"));
        // Tool-use history without the reasoning block first.
        let tools = json!({"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}]});
        let body = json!({"messages":[user("w"),
            {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"f","input":{}}}]},
            {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"ok"}]}}]}],
            "toolConfig":tools,"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}});
        assert!(
            err(body).contains("Expected `thinking` or `redacted_thinking`, but found `tool_use`")
        );
        let sig = reasoning_signature("hmm");
        let good = json!({"messages":[user("w"),
            {"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"hmm","signature":sig}}},
                {"toolUse":{"toolUseId":"t1","name":"f","input":{}}}]},
            {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"ok"}]}}]}],
            "toolConfig":tools,"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}});
        converse(Family::Anthropic, &good).unwrap();
        let mut forged = good.clone();
        forged["messages"][1]["content"][0]["reasoningContent"]["reasoningText"]["text"] =
            json!("changed");
        assert!(err(forged).contains("Invalid `signature`"));
    }
}
