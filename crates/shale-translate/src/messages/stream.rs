//! ConverseStream events → Anthropic server-sent events, one event at a time, through an explicit
//! state machine: `message_start` (+ `ping`) on `messageStart`; a `content_block_start` when a
//! block first shows up (Converse sends none for text and reasoning), its deltas as `text_delta`,
//! `thinking_delta`, `signature_delta` or `input_json_delta`, and `content_block_stop`; the stop
//! reason is held until Converse's `metadata` event brings the usage, then `message_delta` (stop
//! reason + usage, input and cache tokens included) and `message_stop`.
//!
//! Must not: buffer text; emit anything after `message_stop`.

use serde_json::{json, Value};

use super::from_converse::{stop_reason, usage};
use super::types::SseEvent;
use crate::error::TranslateError;
use crate::names::ToolNameMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Redacted,
    Tool,
}

/// The per-stream state machine: feed every event to [`Self::on_event`], then call
/// [`Self::finish`] when the upstream ends cleanly.
#[derive(Debug)]
pub struct MessagesStreamTranslator {
    id: String,
    model: String,
    tool_names: ToolNameMap,
    started: bool,
    /// The open block: (Converse `contentBlockIndex`, Anthropic index, kind).
    open: Option<(u64, u32, Kind)>,
    next_index: u32,
    stop_reason: Option<&'static str>,
    done: bool,
}

impl MessagesStreamTranslator {
    pub fn new(id: String, model_name: &str, tool_names: ToolNameMap) -> Self {
        MessagesStreamTranslator {
            id,
            model: model_name.to_owned(),
            tool_names,
            started: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            done: false,
        }
    }

    /// Whether `message_stop` went out.
    pub fn done(&self) -> bool {
        self.done
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(SseEvent::json(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        ));
        out.push(SseEvent::json("ping", &json!({"type": "ping"})));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((_, index, _)) = self.open.take() {
            out.push(SseEvent::json(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// The Anthropic index of the open block for `cidx` of `kind`, opening it (with
    /// `content_block`) when needed.
    fn block(
        &mut self,
        cidx: u64,
        kind: Kind,
        content_block: impl FnOnce() -> Value,
        out: &mut Vec<SseEvent>,
    ) -> u32 {
        self.start(out);
        if let Some((c, index, k)) = self.open {
            if c == cidx && k == kind {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((cidx, index, kind));
        out.push(SseEvent::json(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": content_block()}),
        ));
        index
    }

    fn delta(index: u32, delta: Value) -> SseEvent {
        SseEvent::json(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn end(&mut self, usage_json: Value, out: &mut Vec<SseEvent>) {
        self.start(out);
        self.close(out);
        out.push(SseEvent::json(
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": usage_json}),
        ));
        out.push(SseEvent::json(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        self.done = true;
    }

    /// Translate one ConverseStream event (`:event-type` and JSON payload; unknown members such as
    /// the padding `p` are ignored, unknown event types yield nothing).
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<SseEvent>, TranslateError> {
        let mut out = Vec::new();
        if self.done {
            return Ok(out);
        }
        let v: Value = serde_json::from_slice(payload)
            .map_err(|e| TranslateError::InvalidUpstream(format!("{event_type} event: {e}")))?;
        let cidx = v
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match event_type {
            "messageStart" => self.start(&mut out),
            "contentBlockStart" => {
                if let Some(tu) = v.pointer("/start/toolUse") {
                    let id = tu
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let name = tu.get("name").and_then(Value::as_str).unwrap_or("");
                    let name = self.tool_names.original(name).to_owned();
                    self.block(
                        cidx,
                        Kind::Tool,
                        || json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                        &mut out,
                    );
                }
            }
            "contentBlockDelta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                if let Some(t) = d.get("text").and_then(Value::as_str) {
                    let i = self.block(
                        cidx,
                        Kind::Text,
                        || json!({"type": "text", "text": ""}),
                        &mut out,
                    );
                    out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
                } else if let Some(tu) = d.get("toolUse") {
                    let partial = tu.get("input").and_then(Value::as_str).unwrap_or("");
                    let i = self.block(
                        cidx,
                        Kind::Tool,
                        || json!({"type": "tool_use", "id": format!("toolu_bdrk_{cidx}"), "name": "", "input": {}}),
                        &mut out,
                    );
                    out.push(Self::delta(
                        i,
                        json!({"type": "input_json_delta", "partial_json": partial}),
                    ));
                } else if let Some(rc) = d.get("reasoningContent") {
                    let thinking = || json!({"type": "thinking", "thinking": "", "signature": ""});
                    if let Some(t) = rc.get("text").and_then(Value::as_str) {
                        let i = self.block(cidx, Kind::Thinking, thinking, &mut out);
                        out.push(Self::delta(
                            i,
                            json!({"type": "thinking_delta", "thinking": t}),
                        ));
                    } else if let Some(s) = rc.get("signature").and_then(Value::as_str) {
                        let i = self.block(cidx, Kind::Thinking, thinking, &mut out);
                        out.push(Self::delta(
                            i,
                            json!({"type": "signature_delta", "signature": s}),
                        ));
                    } else if let Some(data) = rc.get("redactedContent").and_then(Value::as_str) {
                        self.close(&mut out);
                        let data = data.to_owned();
                        self.block(
                            cidx,
                            Kind::Redacted,
                            || json!({"type": "redacted_thinking", "data": data}),
                            &mut out,
                        );
                    }
                }
            }
            "contentBlockStop" if self.open.is_some_and(|(c, _, _)| c == cidx) => {
                self.close(&mut out);
            }
            "messageStop" => {
                self.close(&mut out);
                self.stop_reason = Some(
                    v.get("stopReason")
                        .and_then(Value::as_str)
                        .map(stop_reason)
                        .unwrap_or("end_turn"),
                );
            }
            "metadata" => {
                let u = usage(v.get("usage"));
                self.end(u, &mut out);
            }
            _ => {}
        }
        Ok(out)
    }

    /// Events due when the upstream ended without `metadata`: close the message.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.done {
            self.end(usage(None), &mut out);
        }
        out
    }
}
