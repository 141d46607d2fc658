//! The two kinds of streamed chunk the post_call window holds — OpenAI chat chunks (chat,
//! `/completions` and the Responses API, before they are shaped) and Anthropic Messages events —
//! as [`WindowChunk`]s, and the endings a blocked stream gets with `disable_exception_on_block`
//! (the guardrail's message, `finish_reason: content_filter` / `stop_reason: refusal`).
//!
//! Must not: do I/O or write bytes for the client (the server's stream writers do).

use crate::window::WindowChunk;
use serde_json::{json, Value};
use shale_translate::completion::{ChunkChoice, Delta};
use shale_translate::messages::SseEvent;
use shale_translate::ChatChunk;
use std::borrow::Cow;

impl WindowChunk for ChatChunk {
    fn text(&self) -> &str {
        self.choices
            .iter()
            .find_map(|c| c.delta.content.as_deref())
            .unwrap_or("")
    }

    fn split_off_text(&mut self, at: usize) -> ChatChunk {
        let mut first = self.empty_like();
        let Some(choice) = self
            .choices
            .iter_mut()
            .find(|c| c.delta.content.as_deref().is_some_and(|t| !t.is_empty()))
        else {
            return first;
        };
        let content = choice.delta.content.get_or_insert_with(String::new);
        let rest = content.split_off(at);
        let head = std::mem::replace(content, rest);
        first.choices = vec![ChunkChoice {
            index: choice.index,
            delta: Delta {
                // The role opens the message: it goes with the first part.
                role: choice.delta.role.take(),
                content: Some(head),
                ..Delta::default()
            },
            finish_reason: None,
        }];
        first
    }

    fn set_text(&mut self, text: String) {
        if let Some(choice) = self.choices.iter_mut().find(|c| c.delta.content.is_some()) {
            choice.delta.content = Some(text);
        }
    }

    fn only_text(&self) -> bool {
        self.usage.is_none()
            && self.choices.iter().all(|c| {
                c.finish_reason.is_none()
                    && c.delta.role.is_none()
                    && c.delta.reasoning_content.is_none()
                    && c.delta.thinking_blocks.is_none()
                    && c.delta.tool_calls.is_none()
            })
    }
}

trait EmptyLike {
    fn empty_like(&self) -> Self;
}

impl EmptyLike for ChatChunk {
    fn empty_like(&self) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: self.object.clone(),
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: None,
        }
    }
}

/// The last chunk of a chat stream a guardrail blocked without an exception: the guardrail's
/// message as content and `finish_reason: content_filter` (`template` gives id, model, created;
/// `with_role` when no chunk went out yet).
pub fn chat_refusal_chunk(template: &ChatChunk, message: &str, with_role: bool) -> ChatChunk {
    let mut chunk = template.empty_like();
    chunk.choices = vec![ChunkChoice {
        index: 0,
        delta: Delta {
            role: with_role.then_some(Cow::Borrowed("assistant")),
            content: Some(message.to_owned()),
            ..Delta::default()
        },
        finish_reason: Some("content_filter".into()),
    }];
    chunk
}

/// An Anthropic Messages event, with its text delta parsed when it has one.
#[derive(Debug, Clone)]
pub struct AnthropicChunk {
    pub event: Cow<'static, str>,
    data: Data,
}

#[derive(Debug, Clone)]
enum Data {
    Raw(Vec<u8>),
    /// A `content_block_delta` with a `text_delta`: the parsed payload and its text.
    Text(Value, String),
}

impl AnthropicChunk {
    pub fn new(e: SseEvent) -> AnthropicChunk {
        if e.event == "content_block_delta" {
            if let Ok(v) = serde_json::from_slice::<Value>(&e.data) {
                if v["delta"]["type"] == "text_delta" {
                    if let Some(t) = v["delta"]["text"].as_str() {
                        let text = t.to_owned();
                        return AnthropicChunk {
                            event: e.event,
                            data: Data::Text(v, text),
                        };
                    }
                }
            }
        }
        AnthropicChunk {
            event: e.event,
            data: Data::Raw(e.data),
        }
    }

    /// The event as it goes out.
    pub fn into_event(self) -> SseEvent {
        let data = match self.data {
            Data::Raw(d) => d,
            Data::Text(mut v, text) => {
                v["delta"]["text"] = Value::String(text);
                serde_json::to_vec(&v).unwrap_or_default()
            }
        };
        SseEvent {
            event: self.event,
            data,
        }
    }
}

impl WindowChunk for AnthropicChunk {
    fn text(&self) -> &str {
        match &self.data {
            Data::Text(_, t) => t,
            Data::Raw(_) => "",
        }
    }

    fn split_off_text(&mut self, at: usize) -> AnthropicChunk {
        match &mut self.data {
            Data::Text(v, t) => {
                let rest = t.split_off(at);
                let head = std::mem::replace(t, rest);
                AnthropicChunk {
                    event: self.event.clone(),
                    data: Data::Text(v.clone(), head),
                }
            }
            Data::Raw(_) => self.clone(),
        }
    }

    fn set_text(&mut self, text: String) {
        if let Data::Text(_, t) = &mut self.data {
            *t = text;
        }
    }

    fn only_text(&self) -> bool {
        matches!(self.data, Data::Text(..))
    }
}

/// What went out of an Anthropic stream so far, to end it properly when a guardrail blocks it
/// without an exception.
#[derive(Debug, Default, Clone)]
pub struct AnthropicProgress {
    message_started: bool,
    /// The open content block: (index, is text).
    open: Option<(u64, bool)>,
    next_index: u64,
    model: String,
}

impl AnthropicProgress {
    pub fn new(model: &str) -> AnthropicProgress {
        AnthropicProgress {
            model: model.to_owned(),
            ..AnthropicProgress::default()
        }
    }

    /// Notes an event that went out.
    pub fn saw(&mut self, e: &AnthropicChunk) {
        match &*e.event {
            "message_start" => self.message_started = true,
            "content_block_start" => {
                if let Data::Raw(d) = &e.data {
                    let v: Value = serde_json::from_slice(d).unwrap_or(Value::Null);
                    let index = v["index"].as_u64().unwrap_or(self.next_index);
                    self.open = Some((index, v["content_block"]["type"] == "text"));
                    self.next_index = index + 1;
                }
            }
            "content_block_stop" => self.open = None,
            _ => {}
        }
    }

    /// The events that end the stream with the guardrail's message and `stop_reason: refusal`.
    pub fn refusal(&self, message_id: &str, message: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.message_started {
            out.push(SseEvent::json(
                "message_start",
                &json!({"type": "message_start", "message": {"id": message_id, "type": "message",
                    "role": "assistant", "model": self.model, "content": [], "stop_reason": null,
                    "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ));
        }
        let index = match self.open {
            Some((i, true)) => i,
            other => {
                if let Some((i, false)) = other {
                    out.push(SseEvent::json(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": i}),
                    ));
                }
                out.push(SseEvent::json(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": self.next_index,
                        "content_block": {"type": "text", "text": ""}}),
                ));
                self.next_index
            }
        };
        out.push(SseEvent::json(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": message}}),
        ));
        out.push(SseEvent::json(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        out.push(SseEvent::json(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "refusal", "stop_sequence": null},
                "usage": {"output_tokens": 0}}),
        ));
        out.push(SseEvent::json(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Window, WindowSizes};

    fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn chat_chunks_split_with_the_role_first() {
        let mut c = chunk(
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello there"}, "finish_reason": null}]}),
        );
        assert_eq!(c.text(), "Hello there");
        assert!(!c.only_text());
        let head = c.split_off_text(5);
        assert_eq!(head.text(), "Hello");
        assert_eq!(head.choices[0].delta.role.as_deref(), Some("assistant"));
        assert_eq!((head.id.as_str(), head.created), ("c1", 5));
        assert_eq!(c.text(), " there");
        assert!(c.choices[0].delta.role.is_none());
        assert!(c.only_text());
        let r = chat_refusal_chunk(&c, "Blocked.", true);
        assert_eq!(r.text(), "Blocked.");
        assert_eq!(
            r.choices[0].finish_reason.as_deref(),
            Some("content_filter")
        );
    }

    #[test]
    fn anthropic_text_deltas_are_windowed_and_rewritten() {
        let ev = |event: &'static str, v: Value| AnthropicChunk::new(SseEvent::json(event, &v));
        let mut w = Window::new(WindowSizes {
            first: 4,
            window: 4,
            overlap: 0,
        });
        let mut out = Vec::new();
        w.push(ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})), &mut out);
        w.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "mail a@b"}})), &mut out);
        assert_eq!(out.len(), 1, "the block start goes at once");
        assert!(w.check_due());
        w.mask("mail {EMAIL}".into(), &mut out);
        let sent = out.pop().unwrap().into_event();
        assert_eq!(sent.data_json()["delta"]["text"], "mail {EMAIL}");
        assert_eq!(sent.data_json()["index"], 0);
        let mut p = AnthropicProgress::new("claude");
        p.saw(&ev("message_start", json!({"type": "message_start"})));
        p.saw(&out[0]);
        let ending = p.refusal("msg_1", "Blocked.");
        let names: Vec<&str> = ending.iter().map(|e| &*e.event).collect();
        assert_eq!(
            names,
            vec![
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ending[2].data_json()["delta"]["stop_reason"], "refusal");
        let fresh = AnthropicProgress::new("claude").refusal("msg_1", "Blocked.");
        assert_eq!(&*fresh[0].event, "message_start");
        assert_eq!(&*fresh[1].event, "content_block_start");
    }
}
