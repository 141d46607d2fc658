//! ConverseStream events → `chat.completion.chunk`s, one event at a time, through an explicit
//! state machine (role sent?, running tool-call index, JSON-mode tool, `<think>` splitting,
//! finish reason, usage).

use serde::Deserialize;
use serde_json::Value;

use super::common::{finish_reason, reasoning_tokens, usage_from_bedrock, BedrockUsage};
use super::tools::JSON_TOOL_NAME;
use crate::completion::{
    ChatChunk, ChunkStamp, Delta, FunctionDelta, ThinkingBlock, ToolCallDelta, Usage,
};
use crate::context::{JsonMode, ResponseContext};
use crate::error::TranslateError;
use crate::names::ToolNameMap;
use crate::think::{Split, ThinkMode, ThinkSplitter};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u64,
    #[serde(default)]
    start: Option<StartBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    #[serde(default)]
    tool_use: Option<StartToolUse>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartToolUse {
    #[serde(default)]
    tool_use_id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u64,
    delta: DeltaBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    reasoning_content: Option<ReasoningDelta>,
}

#[derive(Deserialize)]
struct ToolUseDelta {
    #[serde(default)]
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningDelta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    redacted_content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    additional_model_response_fields: Option<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<BedrockUsage>,
}

/// What a content block index turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// A client tool call with running index `k`.
    Tool(u32),
    /// The JSON-mode tool: its input deltas become `content`.
    JsonTool,
}

/// The per-stream state machine. Feed every event with [`Self::on_event`], then call
/// [`Self::finish`] when the upstream ends; serialise each chunk as an SSE `data:` line.
#[derive(Debug)]
pub struct ConverseStreamTranslator {
    stamp: ChunkStamp,
    tool_names: ToolNameMap,
    json_mode: JsonMode,
    include_usage: bool,
    /// Client tool calls seen so far (the next `tool_calls[].index`).
    tool_count: u32,
    json_tool_used: bool,
    blocks: Vec<(u64, BlockKind)>,
    think: ThinkSplitter,
    finish_sent: bool,
    usage_sent: bool,
    reasoning_tokens: Option<u64>,
    usage: Option<Usage>,
}

impl ConverseStreamTranslator {
    /// A translator for one stream; `include_usage` is `stream_options.include_usage`.
    pub fn new(ctx: &ResponseContext<'_>, include_usage: bool) -> Self {
        ConverseStreamTranslator {
            stamp: ChunkStamp::new(ctx.id.clone(), ctx.created, ctx.model_name.to_owned()),
            tool_names: ctx.tool_names.clone(),
            json_mode: ctx.json_mode,
            include_usage,
            tool_count: 0,
            json_tool_used: false,
            blocks: Vec::new(),
            think: ThinkSplitter::new(ThinkMode::Leading),
            finish_sent: false,
            usage_sent: false,
            reasoning_tokens: None,
            usage: None,
        }
    }

    /// The usage reported by the `metadata` event, once seen.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    fn chunk(&mut self, delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        self.stamp.chunk(delta, finish_reason)
    }

    fn usage_chunk(&mut self) -> ChatChunk {
        self.usage_sent = true;
        self.stamp
            .usage_chunk(self.usage.clone().unwrap_or_default())
    }

    fn split_chunk(&mut self, (reasoning, content): Split, out: &mut Vec<ChatChunk>) {
        out.extend(self.stamp.text_chunk(reasoning, content));
    }

    fn kind_of(&self, index: u64) -> Option<BlockKind> {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map(|&(_, k)| k)
    }

    /// Translate one event (`:event-type` and its JSON payload; unknown members such as the
    /// padding `p` are ignored, unknown event types yield nothing).
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<ChatChunk>, TranslateError> {
        fn parse<'a, T: Deserialize<'a>>(ev: &str, p: &'a [u8]) -> Result<T, TranslateError> {
            serde_json::from_slice(p)
                .map_err(|e| TranslateError::InvalidUpstream(format!("{ev} event: {e}")))
        }
        let mut out = Vec::new();
        match event_type {
            "messageStart" => out.extend(self.stamp.role_chunk()),
            "contentBlockStart" => {
                let s: BlockStart = parse(event_type, payload)?;
                if let Some(tu) = s.start.and_then(|s| s.tool_use) {
                    if self.json_mode == JsonMode::ToolCall && tu.name == JSON_TOOL_NAME {
                        self.json_tool_used = true;
                        self.blocks
                            .push((s.content_block_index, BlockKind::JsonTool));
                    } else {
                        let k = self.tool_count;
                        self.tool_count += 1;
                        self.blocks
                            .push((s.content_block_index, BlockKind::Tool(k)));
                        let name = self.tool_names.original(&tu.name).to_owned();
                        let c = self.chunk(
                            Delta {
                                tool_calls: Some(vec![ToolCallDelta {
                                    index: k,
                                    id: Some(tu.tool_use_id),
                                    kind: Some("function".into()),
                                    function: FunctionDelta {
                                        name: Some(name),
                                        arguments: String::new(),
                                    },
                                }]),
                                ..Delta::default()
                            },
                            None,
                        );
                        out.push(c);
                    }
                }
            }
            "contentBlockDelta" => {
                let d: BlockDelta = parse(event_type, payload)?;
                let idx = d.content_block_index;
                if let Some(t) = d.delta.text {
                    let split = self.think.push(&t);
                    self.split_chunk(split, &mut out);
                }
                if let Some(tu) = d.delta.tool_use {
                    let kind = match self.kind_of(idx) {
                        Some(k) => k,
                        None => {
                            // a tool block without contentBlockStart
                            let k = BlockKind::Tool(self.tool_count);
                            self.tool_count += 1;
                            self.blocks.push((idx, k));
                            k
                        }
                    };
                    let delta = match kind {
                        BlockKind::JsonTool => Delta {
                            content: Some(tu.input),
                            ..Delta::default()
                        },
                        BlockKind::Tool(k) => Delta::tool_call(k, None, None, tu.input),
                    };
                    out.push(self.chunk(delta, None));
                }
                if let Some(r) = d.delta.reasoning_content {
                    let mut delta = Delta::default();
                    if let Some(t) = r.text {
                        delta.thinking_blocks =
                            Some(vec![ThinkingBlock::thinking(t.clone(), None)]);
                        delta.reasoning_content = Some(t);
                    } else if let Some(s) = r.signature {
                        delta.thinking_blocks =
                            Some(vec![ThinkingBlock::thinking(String::new(), Some(s))]);
                    } else if let Some(data) = r.redacted_content {
                        delta.thinking_blocks = Some(vec![ThinkingBlock::redacted(data)]);
                    } else {
                        return Ok(out);
                    }
                    out.push(self.chunk(delta, None));
                }
            }
            "contentBlockStop" => {
                let split = self.think.flush();
                self.split_chunk(split, &mut out);
            }
            "messageStop" => {
                let split = self.think.flush();
                self.split_chunk(split, &mut out);
                let m: MessageStop = parse(event_type, payload)?;
                self.reasoning_tokens =
                    reasoning_tokens(m.additional_model_response_fields.as_ref());
                let mut finish = m
                    .stop_reason
                    .as_deref()
                    .map(finish_reason)
                    .unwrap_or("stop");
                if self.json_tool_used && self.tool_count == 0 && finish == "tool_calls" {
                    finish = "stop";
                }
                self.finish_sent = true;
                out.push(self.chunk(Delta::default(), Some(finish)));
            }
            "metadata" => {
                let m: Metadata = parse(event_type, payload)?;
                if let Some(u) = m.usage {
                    self.usage = Some(usage_from_bedrock(&u, self.reasoning_tokens));
                }
                if self.include_usage && !self.usage_sent {
                    out.push(self.usage_chunk());
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// Chunks due at the end of the stream: held-back text, and the usage chunk
    /// (`choices: []`) when `include_usage` is set and `metadata` never came.
    pub fn finish(&mut self) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        let split = self.think.flush();
        self.split_chunk(split, &mut out);
        if self.include_usage && !self.usage_sent {
            out.push(self.usage_chunk());
        }
        out
    }

    /// Whether a chunk with a `finish_reason` was produced.
    pub fn finished(&self) -> bool {
        self.finish_sent
    }
}
