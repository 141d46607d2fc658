//! Which answers may be stored: complete ones with output. A JSON answer needs output (a choice
//! with text or a tool call, a Messages content block, a Responses output item); a stream needs
//! its normal end (`data: [DONE]`, `message_stop`, `response.completed` / `response.incomplete`),
//! no error event, and output somewhere in it. Errors, empty answers and truncated streams are
//! never stored (LiteLLM replayed empty entries as 500s; a cut stream would replay as one).
//!
//! Runs when a store is decided, off the request's path. Pure.

use serde::Deserialize;
use serde_json::value::RawValue;
use shale_config::CallType;
use std::borrow::Cow;

/// One server-sent event: its `event:` name (if any) and its `data:` lines joined.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Event<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) data: String,
}

/// The events of a stream (comments and blank events skipped).
pub(crate) fn events(bytes: &[u8]) -> impl Iterator<Item = Event<'_>> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    text.split("\n\n").filter_map(|block| {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        (name.is_some() || !data.is_empty()).then_some(Event { name, data })
    })
}

/// The members the checks read, borrowed from the answer (the rest is skipped, never built):
/// a JSON answer, a stream's chunk or event, or a Responses API response.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Answer<'a> {
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
    /// Messages: `"message"`; a stream event: its `type`.
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    /// Messages: the content blocks (read only when needed).
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    /// Responses.
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    output: Option<Vec<Part<'a>>>,
    /// Messages stream: `content_block_delta`'s delta, `content_block_start`'s block.
    #[serde(borrow)]
    delta: Option<Part<'a>>,
    #[serde(borrow)]
    content_block: Option<Part<'a>>,
    /// Responses stream: the final event's response.
    #[serde(borrow)]
    response: Option<Box<Answer<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Option<Part<'a>>,
    #[serde(borrow)]
    delta: Option<Part<'a>>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
}

/// One piece of an answer, whichever API's: a chat message or delta (`content`, `tool_calls`,
/// `function_call`), a Messages content block or delta (`type`, `text`, `partial_json`), or a
/// Responses output item or content part (`type`, `text`, `content`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Part<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    partial_json: Option<&'a RawValue>,
    /// A chat message's content; a Responses message item's parts (read only when needed).
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_calls: Option<&'a RawValue>,
    #[serde(borrow)]
    function_call: Option<&'a RawValue>,
}

/// A list of parts kept raw in a parent (empty when it is not one).
fn blocks(raw: Option<&RawValue>) -> Vec<Part<'_>> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

/// A non-empty JSON string or a non-empty list (judged on its text: `""`, `[]`, `null` are empty).
fn filled(raw: Option<&RawValue>) -> bool {
    raw.is_some_and(|r| {
        let t = r.get().trim();
        (t.starts_with('"') && t.len() > 2) || (t.starts_with('[') && t[1..].trim_start() != "]")
    })
}

impl Part<'_> {
    /// A chat message or delta with text or a tool call.
    fn has_output(&self) -> bool {
        filled(self.content)
            || filled(self.tool_calls)
            || self.function_call.is_some_and(|f| f.get() != "null")
    }

    /// A Messages `tool_use` (or `server_tool_use`) block.
    fn is_tool_use(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|t| t.ends_with("tool_use"))
    }
}

fn parse(json: &[u8]) -> Option<Answer<'_>> {
    serde_json::from_slice(json).ok()
}

/// Whether a complete JSON answer of `call` has output worth storing.
pub fn json_has_output(call: CallType, body: &[u8]) -> bool {
    parse(body).is_some_and(|a| answer_has_output(call, &a))
}

fn answer_has_output(call: CallType, a: &Answer<'_>) -> bool {
    if a.error.is_some_and(|e| e.get() != "null") {
        return false;
    }
    match call {
        CallType::Chat => a
            .choices
            .iter()
            .any(|c| c.message.as_ref().is_some_and(Part::has_output)),
        CallType::Completions => a.choices.iter().any(|c| filled(c.text)),
        CallType::Messages => {
            a.kind.as_deref() == Some("message")
                && blocks(a.content)
                    .iter()
                    .any(|b| filled(b.text) || b.is_tool_use())
        }
        CallType::Responses => {
            matches!(a.status.as_deref(), Some("completed" | "incomplete"))
                && a.output
                    .iter()
                    .flatten()
                    .any(|item| match item.kind.as_deref() {
                        Some("message") => blocks(item.content).iter().any(|c| filled(c.text)),
                        Some("reasoning") | None => false,
                        Some(_) => true, // a tool call
                    })
        }
        CallType::Embeddings => false,
    }
}

/// Whether a stream of `call`, as the client received it, ended normally, carried no error and
/// has output.
pub fn stream_is_storable(call: CallType, bytes: &[u8]) -> bool {
    let mut last: Option<Event<'_>> = None;
    let mut output = false;
    for e in events(bytes) {
        let errored = match call {
            CallType::Chat | CallType::Completions => e.data.starts_with("{\"error\""),
            CallType::Messages => e.name == Some("error"),
            CallType::Responses => matches!(e.name, Some("error" | "response.failed")),
            CallType::Embeddings => true,
        };
        if errored {
            return false;
        }
        if !output {
            output = event_has_output(call, &e);
        }
        last = Some(e);
    }
    let Some(last) = last else {
        return false;
    };
    match call {
        CallType::Chat | CallType::Completions => output && last.data == "[DONE]",
        CallType::Messages => output && last.name == Some("message_stop"),
        CallType::Responses => {
            matches!(
                last.name,
                Some("response.completed" | "response.incomplete")
            ) && parse(last.data.as_bytes()).is_some_and(|a| {
                a.response
                    .as_deref()
                    .is_some_and(|r| answer_has_output(CallType::Responses, r))
            })
        }
        CallType::Embeddings => false,
    }
}

fn event_has_output(call: CallType, e: &Event<'_>) -> bool {
    match call {
        CallType::Chat | CallType::Completions => {
            e.data.starts_with('{')
                && parse(e.data.as_bytes()).is_some_and(|a| {
                    a.choices
                        .iter()
                        .any(|c| c.delta.as_ref().is_some_and(Part::has_output) || filled(c.text))
                })
        }
        CallType::Messages => match e.name {
            Some("content_block_delta") => parse(e.data.as_bytes()).is_some_and(|a| {
                a.delta
                    .as_ref()
                    .is_some_and(|d| filled(d.text) || filled(d.partial_json))
            }),
            Some("content_block_start") => parse(e.data.as_bytes())
                .is_some_and(|a| a.content_block.as_ref().is_some_and(Part::is_tool_use)),
            _ => false,
        },
        // Judged on the final `response.completed` event.
        CallType::Responses | CallType::Embeddings => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_with_and_without_output() {
        let yes = [
            (
                CallType::Chat,
                r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#,
            ),
            (
                CallType::Chat,
                r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t"}]}}]}"#,
            ),
            (CallType::Completions, r#"{"choices":[{"text":"x"}]}"#),
            (
                CallType::Messages,
                r#"{"type":"message","content":[{"type":"text","text":"hi"}]}"#,
            ),
            (
                CallType::Messages,
                r#"{"type":"message","content":[{"type":"tool_use","id":"t","input":{}}]}"#,
            ),
            (
                CallType::Responses,
                r#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}"#,
            ),
            (
                CallType::Responses,
                r#"{"status":"completed","output":[{"type":"function_call","name":"f"}]}"#,
            ),
        ];
        for (call, body) in yes {
            assert!(json_has_output(call, body.as_bytes()), "{body}");
        }
        let no = [
            (CallType::Chat, r#"{"choices":[]}"#),
            (
                CallType::Chat,
                r#"{"choices":[{"message":{"content":""}}]}"#,
            ),
            (CallType::Chat, r#"{"error":{"message":"x"}}"#),
            (CallType::Chat, "not json"),
            (CallType::Completions, r#"{"choices":[{"text":""}]}"#),
            (CallType::Messages, r#"{"type":"message","content":[]}"#),
            (CallType::Messages, r#"{"type":"error","error":{}}"#),
            (
                CallType::Responses,
                r#"{"status":"failed","output":[{"type":"message","content":[{"text":"x"}]}]}"#,
            ),
            (
                CallType::Responses,
                r#"{"status":"completed","output":[{"type":"reasoning"}]}"#,
            ),
        ];
        for (call, body) in no {
            assert!(!json_has_output(call, body.as_bytes()), "{body}");
        }
    }

    const CHAT_OK: &str = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n: keep-alive\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

    #[test]
    fn chat_streams() {
        assert!(stream_is_storable(CallType::Chat, CHAT_OK.as_bytes()));
        let cut = CHAT_OK.replace("data: [DONE]\n\n", "");
        assert!(
            !stream_is_storable(CallType::Chat, cut.as_bytes()),
            "truncated"
        );
        let failed = CHAT_OK.replace("data: [DONE]", "data: {\"error\":{\"message\":\"boom\"}}");
        assert!(!stream_is_storable(CallType::Chat, failed.as_bytes()));
        let empty = "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\ndata: [DONE]\n\n";
        assert!(
            !stream_is_storable(CallType::Chat, empty.as_bytes()),
            "no output"
        );
        let text = "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n";
        assert!(stream_is_storable(CallType::Completions, text.as_bytes()));
        assert!(!stream_is_storable(CallType::Chat, b""));
    }

    #[test]
    fn messages_streams() {
        let ok = "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert!(stream_is_storable(CallType::Messages, ok.as_bytes()));
        let errored = ok.replace(
            "event: ping\ndata: {\"type\": \"ping\"}",
            "event: error\ndata: {\"type\":\"error\"}",
        );
        assert!(!stream_is_storable(CallType::Messages, errored.as_bytes()));
        let cut = &ok[..ok.find("event: message_stop").unwrap()];
        assert!(!stream_is_storable(CallType::Messages, cut.as_bytes()));
        let tool = "event: content_block_start\ndata: {\"content_block\":{\"type\":\"tool_use\"}}\n\nevent: message_stop\ndata: {}\n\n";
        assert!(stream_is_storable(CallType::Messages, tool.as_bytes()));
    }

    #[test]
    fn responses_streams() {
        let ok = "event: response.created\ndata: {\"response\":{\"status\":\"in_progress\"}}\n\nevent: response.output_text.delta\ndata: {\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}]}}\n\n";
        assert!(stream_is_storable(CallType::Responses, ok.as_bytes()));
        let empty = ok.replace("\"text\":\"Hi\"", "\"text\":\"\"");
        assert!(!stream_is_storable(CallType::Responses, empty.as_bytes()));
        let failed = "event: response.failed\ndata: {}\n\n";
        assert!(!stream_is_storable(CallType::Responses, failed.as_bytes()));
    }

    #[test]
    fn event_parsing() {
        let evs: Vec<_> =
            events(b"event: a\ndata: 1\ndata: 2\n\n: comment\n\ndata:3\n\n").collect();
        assert_eq!(
            evs,
            vec![
                Event {
                    name: Some("a"),
                    data: "1\n2".into()
                },
                Event {
                    name: None,
                    data: "3".into()
                },
            ]
        );
    }
}
