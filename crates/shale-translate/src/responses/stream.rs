//! Chat chunks → Responses stream events. One output item is open at a time (reasoning, the
//! message, or one function call); a delta of another kind closes it (`….done` events,
//! `response.output_item.done`) and opens the next (`response.output_item.added`, and
//! `response.content_part.added` / `response.reasoning_summary_part.added`). The stream starts
//! with `response.created` and `response.in_progress` and ends with `response.completed`,
//! `response.incomplete` (length / content-filter stop) or `response.failed`, each carrying the
//! whole response. Every event has a `sequence_number` counting from 0.

use serde_json::{json, Value};

use super::response::{
    function_call_item, message_item, output_text_part, reasoning_item, thinking_item, ResponseMeta,
};
use crate::completion::{ChatChunk, Usage};

/// One SSE event: `event: {name}` and its JSON `data` (which repeats the name as `type`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub name: &'static str,
    pub data: Value,
}

/// The output item being streamed.
#[derive(Debug)]
enum Open {
    Reasoning {
        id: String,
        text: String,
        signature: Option<String>,
    },
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// The per-stream state machine.
#[derive(Debug)]
pub struct ResponsesStream {
    meta: ResponseMeta,
    seq: u64,
    output: Vec<Value>,
    open: Option<Open>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// The final response object, once the stream ended.
    done: Option<Value>,
    /// The stream failed: the item being closed is `incomplete`.
    failed: bool,
}

impl ResponsesStream {
    pub fn new(meta: ResponseMeta) -> Self {
        ResponsesStream {
            meta,
            seq: 0,
            output: Vec::new(),
            open: None,
            finish_reason: None,
            usage: None,
            done: None,
            failed: false,
        }
    }

    /// The response's metadata.
    pub fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    /// The final response object (after [`Self::finish`] or [`Self::fail`]).
    pub fn final_response(&self) -> Option<&Value> {
        self.done.as_ref()
    }

    fn event(&mut self, out: &mut Vec<StreamEvent>, name: &'static str, mut data: Value) {
        data["type"] = name.into();
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        out.push(StreamEvent { name, data });
    }

    /// `response.created` and `response.in_progress`.
    pub fn start(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::with_capacity(2);
        let r = self.meta.in_progress();
        self.event(&mut out, "response.created", json!({"response": r}));
        let r = self.meta.in_progress();
        self.event(&mut out, "response.in_progress", json!({"response": r}));
        out
    }

    /// The events for one chat chunk.
    pub fn on_chunk(&mut self, chunk: ChatChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            let d = choice.delta;
            if let Some(text) = d.reasoning_content.filter(|t| !t.is_empty()) {
                self.reasoning_delta(&mut out, &text);
            }
            for block in d.thinking_blocks.into_iter().flatten() {
                if block.kind == "redacted_thinking" {
                    self.close(&mut out);
                    let id = self.meta.item_id("rs", self.output.len());
                    let item = thinking_item(id, &block);
                    self.whole_item(&mut out, item);
                } else if let Some(sig) = block.signature {
                    if !matches!(self.open, Some(Open::Reasoning { .. })) {
                        self.reasoning_delta(&mut out, "");
                    }
                    if let Some(Open::Reasoning { signature, .. }) = &mut self.open {
                        *signature = Some(sig);
                    }
                }
            }
            if let Some(text) = d.content.filter(|t| !t.is_empty()) {
                self.text_delta(&mut out, &text);
            }
            for call in d.tool_calls.into_iter().flatten() {
                let same =
                    matches!(&self.open, Some(Open::Call { index, .. }) if *index == call.index);
                if !same {
                    self.close(&mut out);
                    let id = self.meta.item_id("fc", self.output.len());
                    let name = call.function.name.clone().unwrap_or_default();
                    let call_id = call.id.clone().unwrap_or_default();
                    let item = function_call_item(
                        &self.meta,
                        id.clone(),
                        &call_id,
                        &name,
                        "",
                        "in_progress",
                    );
                    self.added(&mut out, item);
                    self.open = Some(Open::Call {
                        id,
                        index: call.index,
                        call_id,
                        name,
                        arguments: String::new(),
                    });
                }
                let fragment = call.function.arguments;
                if !fragment.is_empty() {
                    let output_index = self.output.len();
                    let Some(Open::Call { id, arguments, .. }) = &mut self.open else {
                        unreachable!("a call is open")
                    };
                    arguments.push_str(&fragment);
                    let item_id = id.clone();
                    self.event(
                        &mut out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": output_index, "delta": fragment}),
                    );
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        out
    }

    /// Closes the open item and ends with `response.completed` (or `response.incomplete`).
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.close(&mut out);
        if self.output.is_empty() {
            // No content at all: still answer with an (empty) message, as the non-streaming path.
            self.text_delta(&mut out, "");
            self.close(&mut out);
        }
        let response = self.meta.finished(
            std::mem::take(&mut self.output),
            self.finish_reason.as_deref(),
            self.usage.as_ref(),
        );
        let name = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(&mut out, name, json!({"response": response}));
        self.done = Some(response);
        out
    }

    /// Ends the stream with `response.failed` (`code` and `message` of the error).
    pub fn fail(&mut self, code: &str, message: &str) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.failed = true;
        self.close(&mut out);
        let response = self
            .meta
            .failed(std::mem::take(&mut self.output), code, message);
        self.event(&mut out, "response.failed", json!({"response": response}));
        self.done = Some(response);
        out
    }

    fn added(&mut self, out: &mut Vec<StreamEvent>, item: Value) {
        let output_index = self.output.len();
        self.event(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
    }

    /// An item that arrives complete (a redacted thinking block): added and done at once.
    fn whole_item(&mut self, out: &mut Vec<StreamEvent>, item: Value) {
        self.added(out, item.clone());
        let output_index = self.output.len();
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.output.push(item);
    }

    fn reasoning_delta(&mut self, out: &mut Vec<StreamEvent>, text: &str) {
        let output_index = self.output.len();
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close(out);
            let id = self.meta.item_id("rs", output_index);
            self.added(out, reasoning_item(id.clone(), "", None));
            self.event(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
            );
            self.open = Some(Open::Reasoning {
                id,
                text: String::new(),
                signature: None,
            });
        }
        if text.is_empty() {
            return;
        }
        let Some(Open::Reasoning { id, text: all, .. }) = &mut self.open else {
            unreachable!("reasoning is open")
        };
        all.push_str(text);
        let item_id = id.clone();
        self.event(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": item_id, "output_index": output_index, "summary_index": 0, "delta": text}),
        );
    }

    fn text_delta(&mut self, out: &mut Vec<StreamEvent>, text: &str) {
        let output_index = self.output.len();
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(out);
            let id = self.meta.item_id("msg", output_index);
            let mut item = message_item(id.clone(), "", "in_progress");
            item["content"] = json!([]);
            self.added(out, item);
            self.event(
                out,
                "response.content_part.added",
                json!({"item_id": id, "output_index": output_index, "content_index": 0,
                       "part": output_text_part("")}),
            );
            self.open = Some(Open::Message {
                id,
                text: String::new(),
            });
        }
        if text.is_empty() {
            return;
        }
        let Some(Open::Message { id, text: all }) = &mut self.open else {
            unreachable!("a message is open")
        };
        all.push_str(text);
        let item_id = id.clone();
        self.event(
            out,
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                   "delta": text, "logprobs": []}),
        );
    }

    /// Closes the open item: its `….done` events and `response.output_item.done`.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let output_index = self.output.len();
        let item = match open {
            Open::Reasoning {
                id,
                text,
                signature,
            } => {
                self.event(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": output_index, "summary_index": 0, "text": text}),
                );
                self.event(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                           "part": {"type": "summary_text", "text": text}}),
                );
                reasoning_item(id, &text, signature.as_deref())
            }
            Open::Message { id, text } => {
                let status = if self.failed || self.finish_reason.as_deref() == Some("length") {
                    "incomplete"
                } else {
                    "completed"
                };
                self.event(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                           "text": text, "logprobs": []}),
                );
                self.event(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                           "part": output_text_part(&text)}),
                );
                message_item(id, &text, status)
            }
            Open::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => {
                let item = function_call_item(
                    &self.meta,
                    id.clone(),
                    &call_id,
                    &name,
                    &arguments,
                    "completed",
                );
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": output_index, "name": item["name"], "arguments": arguments}),
                );
                item
            }
        };
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.output.push(item);
    }
}
