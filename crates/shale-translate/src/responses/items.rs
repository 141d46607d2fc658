//! Responses input items → chat messages. `message` items keep their role and map their parts
//! (`input_text`/`output_text` → text, `input_image` → `image_url`, `input_file` → `file`);
//! `function_call` items join the assistant message before them as `tool_calls`;
//! `function_call_output` items become `tool` messages; a `reasoning` item that carries
//! `encrypted_content` (the signature shale issued) becomes the next assistant message's signed
//! thinking block, so extended thinking survives tool loops. Items Bedrock cannot take
//! (built-in tool calls, `item_reference`, audio) are a 400 naming the item.

use serde_json::{json, Value};

use crate::error::TranslateError;
use crate::openai::{
    ChatMessage, ContentPart, FileRef, FunctionCall, JsonMap, MessageContent, Role, ThinkingBlock,
    ToolCall, UrlRef,
};

/// `encrypted_content` prefix of a reasoning item made from a redacted thinking block.
pub(crate) const REDACTED_PREFIX: &str = "redacted_thinking:";

/// The chat tool name of a function inside a `namespace` tool.
pub(crate) fn namespaced_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// Builds the chat messages of a conversation, item by item.
#[derive(Default)]
pub(crate) struct MessageBuilder {
    pub(crate) messages: Vec<ChatMessage>,
    /// Thinking blocks waiting for the next assistant message.
    pending_thinking: Vec<ThinkingBlock>,
    pending_reasoning_text: String,
}

fn bad(param: &str, message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(param, message)
}

impl MessageBuilder {
    /// Adds one input item; `param` names it in errors (e.g. `input[3]`).
    pub(crate) fn push_item(&mut self, item: &Value, param: &str) -> Result<(), TranslateError> {
        let Some(obj) = item.as_object() else {
            return Err(bad(param, "input items must be objects"));
        };
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
        match kind {
            "message" => self.message(obj, param),
            "function_call" => self.function_call(obj, param),
            "function_call_output" => self.function_output(obj, param),
            "reasoning" => {
                self.reasoning(obj);
                Ok(())
            }
            "custom_tool_call" | "custom_tool_call_output" => Err(bad(
                &format!("{param}.type"),
                format!("input item type '{kind}' (custom tools) is not supported by this gateway; use function tools"),
            )),
            other => Err(bad(
                &format!("{param}.type"),
                format!("input item type '{other}' is not supported for Bedrock models (only message, function_call, function_call_output and reasoning items)"),
            )),
        }
    }

    /// The messages, with any trailing reasoning dropped (nothing to attach it to).
    pub(crate) fn finish(self) -> Vec<ChatMessage> {
        self.messages
    }

    fn message(&mut self, obj: &JsonMap, param: &str) -> Result<(), TranslateError> {
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("system") => Role::System,
            Some("developer") => Role::Developer,
            Some(other) => {
                return Err(bad(
                    &format!("{param}.role"),
                    format!(
                        "unknown role '{other}' (expected user, assistant, system or developer)"
                    ),
                ))
            }
            None => return Err(bad(&format!("{param}.role"), "messages need a role")),
        };
        let content = match obj.get("content") {
            Some(Value::String(s)) => MessageContent::Text(s.clone()),
            Some(Value::Array(parts)) => {
                let mut out = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    out.push(content_part(part, &format!("{param}.content[{j}]"))?);
                }
                MessageContent::Parts(out)
            }
            _ => {
                return Err(bad(
                    &format!("{param}.content"),
                    "content must be a string or a list of parts",
                ))
            }
        };
        if role == Role::Assistant {
            let msg = self.assistant();
            match (&mut msg.content, content) {
                (None, c) => msg.content = Some(c),
                (Some(existing), c) => append_content(existing, c),
            }
        } else {
            self.messages.push(ChatMessage {
                content: Some(content),
                ..ChatMessage::text(role, "")
            });
        }
        Ok(())
    }

    fn function_call(&mut self, obj: &JsonMap, param: &str) -> Result<(), TranslateError> {
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        let Some(call_id) = text("call_id").filter(|s| !s.is_empty()) else {
            return Err(bad(
                &format!("{param}.call_id"),
                "function_call items need a call_id",
            ));
        };
        let Some(name) = text("name").filter(|s| !s.is_empty()) else {
            return Err(bad(
                &format!("{param}.name"),
                "function_call items need a name",
            ));
        };
        let name = match text("namespace").filter(|s| !s.is_empty()) {
            Some(ns) => namespaced_name(ns, name),
            None => name.to_owned(),
        };
        let arguments = obj.get("arguments").cloned().unwrap_or(json!("{}"));
        let call = ToolCall {
            id: call_id.to_owned(),
            kind: Some("function".into()),
            function: FunctionCall {
                name,
                arguments: Some(arguments),
            },
            extra: JsonMap::new(),
        };
        self.assistant()
            .tool_calls
            .get_or_insert_with(Vec::new)
            .push(call);
        Ok(())
    }

    fn function_output(&mut self, obj: &JsonMap, param: &str) -> Result<(), TranslateError> {
        let Some(call_id) = obj.get("call_id").and_then(Value::as_str) else {
            return Err(bad(
                &format!("{param}.call_id"),
                "function_call_output items need a call_id",
            ));
        };
        let content = match obj.get("output") {
            Some(Value::String(s)) => MessageContent::Text(s.clone()),
            Some(Value::Array(parts)) => {
                let mut out = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    out.push(content_part(part, &format!("{param}.output[{j}]"))?);
                }
                MessageContent::Parts(out)
            }
            Some(Value::Null) | None => MessageContent::Text(String::new()),
            Some(other) => MessageContent::Text(other.to_string()),
        };
        self.messages.push(ChatMessage {
            content: Some(content),
            tool_call_id: Some(call_id.to_owned()),
            ..ChatMessage::text(Role::Tool, "")
        });
        Ok(())
    }

    fn reasoning(&mut self, obj: &JsonMap) {
        let text: String = obj
            .get("summary")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("");
        match obj.get("encrypted_content").and_then(Value::as_str) {
            Some(enc) if enc.starts_with(REDACTED_PREFIX) => {
                self.pending_thinking.push(ThinkingBlock {
                    kind: "redacted_thinking".into(),
                    thinking: None,
                    signature: None,
                    data: Some(enc[REDACTED_PREFIX.len()..].to_owned()),
                    extra: JsonMap::new(),
                })
            }
            Some(sig) if !sig.is_empty() => self.pending_thinking.push(ThinkingBlock {
                kind: "thinking".into(),
                thinking: Some(text),
                signature: Some(sig.to_owned()),
                data: None,
                extra: JsonMap::new(),
            }),
            // Without a signature the reasoning cannot be sent back to Bedrock.
            _ => self.pending_reasoning_text.push_str(&text),
        }
    }

    /// The assistant message to add to: the last message when it is an assistant message not
    /// yet answered, else a new one (taking the pending reasoning).
    fn assistant(&mut self) -> &mut ChatMessage {
        let reuse = matches!(self.messages.last(), Some(m) if m.role == Role::Assistant)
            && self.pending_thinking.is_empty();
        if !reuse {
            let mut msg = ChatMessage {
                content: None,
                ..ChatMessage::text(Role::Assistant, "")
            };
            if !self.pending_thinking.is_empty() {
                msg.thinking_blocks = Some(std::mem::take(&mut self.pending_thinking));
            }
            if !self.pending_reasoning_text.is_empty() {
                msg.reasoning_content = Some(std::mem::take(&mut self.pending_reasoning_text));
            }
            self.messages.push(msg);
        }
        self.messages.last_mut().expect("just pushed")
    }
}

fn append_content(existing: &mut MessageContent, more: MessageContent) {
    let to_parts = |c: MessageContent| match c {
        MessageContent::Text(t) => vec![text_part(t)],
        MessageContent::Parts(p) => p,
    };
    let mut parts = to_parts(std::mem::replace(
        existing,
        MessageContent::Parts(Vec::new()),
    ));
    parts.extend(to_parts(more));
    *existing = MessageContent::Parts(parts);
}

fn text_part(text: String) -> ContentPart {
    ContentPart {
        kind: "text".into(),
        text: Some(text),
        image_url: None,
        video_url: None,
        file: None,
        source: None,
        cache_control: None,
        extra: JsonMap::new(),
    }
}

/// One Responses content part as a chat content part.
fn content_part(part: &Value, param: &str) -> Result<ContentPart, TranslateError> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    let text = |k: &str| part.get(k).and_then(Value::as_str);
    match kind {
        "input_text" | "output_text" | "text" => Ok(text_part(text("text").unwrap_or("").into())),
        "refusal" => Ok(text_part(text("refusal").unwrap_or("").into())),
        "input_image" => {
            if text("file_id").is_some() && text("image_url").is_none() {
                return Err(no_file_ids(param));
            }
            let Some(url) = text("image_url") else {
                return Err(bad(
                    &format!("{param}.image_url"),
                    "input_image parts need an image_url (an https or data: URL)",
                ));
            };
            let mut extra = JsonMap::new();
            if let Some(detail) = text("detail") {
                extra.insert("detail".into(), detail.into());
            }
            Ok(ContentPart {
                kind: "image_url".into(),
                image_url: Some(UrlRef::Object {
                    url: url.to_owned(),
                    format: None,
                    extra,
                }),
                text: None,
                ..text_part(String::new())
            })
        }
        "input_file" => {
            let filename = text("filename").map(str::to_owned);
            let data = match (text("file_data"), text("file_url")) {
                (Some(d), _) if d.starts_with("data:") => d.to_owned(),
                (Some(d), _) => format!(
                    "data:{};base64,{d}",
                    mime_for(filename.as_deref().unwrap_or(""))
                ),
                (None, Some(url)) => url.to_owned(),
                (None, None) if text("file_id").is_some() => return Err(no_file_ids(param)),
                (None, None) => {
                    return Err(bad(
                        param,
                        "input_file parts need file_data (base64 or a data: URL) or file_url",
                    ))
                }
            };
            Ok(ContentPart {
                kind: "file".into(),
                file: Some(FileRef {
                    file_data: Some(data),
                    filename,
                    ..FileRef::default()
                }),
                text: None,
                ..text_part(String::new())
            })
        }
        "input_audio" => Err(bad(
            &format!("{param}.type"),
            "audio input is not supported for Bedrock chat models",
        )),
        other => Err(bad(
            &format!("{param}.type"),
            format!("unknown content part type '{other}' (expected input_text, input_image or input_file)"),
        )),
    }
}

fn no_file_ids(param: &str) -> TranslateError {
    bad(
        &format!("{param}.file_id"),
        "file ids are not supported (this gateway has no Files API): send the content as a data URL or an https URL",
    )
}

/// The MIME type of a file by its extension (for base64 `file_data` without a data: prefix).
fn mime_for(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => "application/pdf",
    }
}
