//! OpenAI response wire types: `chat.completion`, `chat.completion.chunk` and usage, the
//! one-choice completion every translator answers with, the [`ChunkStamp`] every stream
//! translator builds its chunks with, and the two writers the server sends them with
//! ([`ChatCompletion::to_json`], [`ChatChunk::write_json`]: the derived serializers' bytes with
//! the fixed keys as literals). Must not: build a `serde_json::Value` to serialise.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::io;

pub use crate::openai::ThinkingBlock;

use crate::context::ResponseContext;

/// The parts of a one-choice assistant answer, as a translator collected them.
pub(crate) struct AssistantAnswer {
    pub content: Option<String>,
    pub reasoning: Option<String>,
    pub thinking_blocks: Vec<ThinkingBlock>,
    pub tool_calls: Vec<ToolCallOut>,
    pub finish_reason: String,
    pub usage: Option<Usage>,
}

impl ChatCompletion {
    /// A `chat.completion` with one assistant choice, stamped from `ctx`; empty reasoning,
    /// thinking blocks and tool calls are left out. No `service_tier` or `trace`.
    pub(crate) fn single_choice(ctx: &ResponseContext<'_>, a: AssistantAnswer) -> ChatCompletion {
        ChatCompletion {
            id: ctx.id.clone(),
            object: COMPLETION_OBJECT.into(),
            created: ctx.created,
            model: ctx.model_name.to_owned(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: a.content,
                    reasoning_content: a.reasoning.filter(|r| !r.is_empty()),
                    thinking_blocks: (!a.thinking_blocks.is_empty()).then_some(a.thinking_blocks),
                    tool_calls: (!a.tool_calls.is_empty()).then_some(a.tool_calls),
                },
                finish_reason: Some(a.finish_reason),
                logprobs: None,
            }],
            usage: a.usage,
            service_tier: None,
            trace: None,
        }
    }
}

impl ChatCompletion {
    /// The `chat.completion` JSON, serialised straight from the struct into a buffer sized for
    /// it (no `serde_json::Value` in between: same bytes, a fraction of the work).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json_size_hint());
        // Writing into a Vec cannot fail, and every field serialises.
        let _ = self.write_json(&mut out);
        out
    }

    /// The derived `Serialize`'s bytes (pinned by the tests below and the golden responses),
    /// with the fixed keys and the fixed `object` written as literals.
    fn write_json(&self, w: &mut Vec<u8>) -> serde_json::Result<()> {
        w.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut *w, &self.id)?;
        if self.object == COMPLETION_OBJECT {
            w.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
        } else {
            w.extend_from_slice(b",\"object\":");
            serde_json::to_writer(&mut *w, &self.object)?;
            w.extend_from_slice(b",\"created\":");
        }
        serde_json::to_writer(&mut *w, &self.created)?;
        w.extend_from_slice(b",\"model\":");
        serde_json::to_writer(&mut *w, &self.model)?;
        w.extend_from_slice(b",\"choices\":[");
        for (i, c) in self.choices.iter().enumerate() {
            w.extend_from_slice(if i == 0 {
                b"{\"index\":"
            } else {
                b",{\"index\":"
            });
            serde_json::to_writer(&mut *w, &c.index)?;
            w.extend_from_slice(b",\"message\":");
            serde_json::to_writer(&mut *w, &c.message)?;
            w.extend_from_slice(b",\"finish_reason\":");
            serde_json::to_writer(&mut *w, &c.finish_reason)?;
            w.extend_from_slice(b",\"logprobs\":");
            serde_json::to_writer(&mut *w, &c.logprobs)?;
            w.push(b'}');
        }
        w.push(b']');
        if let Some(u) = &self.usage {
            w.extend_from_slice(b",\"usage\":");
            serde_json::to_writer(&mut *w, u)?;
        }
        if let Some(t) = &self.service_tier {
            w.extend_from_slice(b",\"service_tier\":");
            serde_json::to_writer(&mut *w, t)?;
        }
        if let Some(t) = &self.trace {
            w.extend_from_slice(b",\"trace\":");
            serde_json::to_writer(&mut *w, t)?;
        }
        w.push(b'}');
        Ok(())
    }

    /// About the length of the JSON: fixed keys plus the variable text.
    fn json_size_hint(&self) -> usize {
        let text: usize = self
            .choices
            .iter()
            .map(|c| {
                let m = &c.message;
                m.content.as_ref().map_or(0, String::len)
                    + m.reasoning_content.as_ref().map_or(0, String::len)
                    + m.tool_calls.as_ref().map_or(0, |calls| {
                        calls
                            .iter()
                            .map(|t| t.function.arguments.len() + t.function.name.len() + 96)
                            .sum()
                    })
            })
            .sum();
        512 + self.id.len() + self.model.len() + text + text / 8
    }
}

/// A `chat.completion` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    /// Always `chat.completion` (static: no allocation per answer).
    pub object: Cow<'static, str>,
    pub created: u64,
    /// The `model_name` the client asked for.
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Bedrock's `trace` (guardrail assessments), when the request enabled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: Option<String>,
    pub logprobs: Option<Value>,
}

/// The assistant message of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub role: Cow<'static, str>,
    /// Concatenated text; `null` when there is none.
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
}

/// A complete tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub function: FunctionOut,
}

/// `{name, arguments}` (arguments is a JSON string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

/// Token usage. `prompt_tokens` includes cache reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Anthropic-style duplicate of `prompt_tokens_details.cached_tokens` (LiteLLM compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Anthropic-style cache write count (LiteLLM compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
    #[serde(default)]
    pub cache_creation_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u64,
}

/// A `chat.completion.chunk`; the server writes `data: {json}\n\n` per chunk, then `data: [DONE]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: Cow<'static, str>,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl ChatChunk {
    /// Writes the chunk's JSON — the same bytes as its derived `Serialize` (pinned by the tests
    /// below and the golden chunks) — with the fixed keys, and the fixed `object`, written as
    /// literals instead of going through the serializer's escaping byte by byte. Streams write
    /// every chunk through here.
    pub fn write_json<W: io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"{\"id\":")?;
        serde_json::to_writer(&mut *w, &self.id)?;
        if self.object == CHUNK_OBJECT {
            w.write_all(b",\"object\":\"chat.completion.chunk\",\"created\":")?;
        } else {
            w.write_all(b",\"object\":")?;
            serde_json::to_writer(&mut *w, &self.object)?;
            w.write_all(b",\"created\":")?;
        }
        serde_json::to_writer(&mut *w, &self.created)?;
        w.write_all(b",\"model\":")?;
        serde_json::to_writer(&mut *w, &self.model)?;
        w.write_all(b",\"choices\":[")?;
        for (i, c) in self.choices.iter().enumerate() {
            w.write_all(if i == 0 {
                b"{\"index\":"
            } else {
                b",{\"index\":"
            })?;
            serde_json::to_writer(&mut *w, &c.index)?;
            w.write_all(b",\"delta\":")?;
            serde_json::to_writer(&mut *w, &c.delta)?;
            w.write_all(b",\"finish_reason\":")?;
            serde_json::to_writer(&mut *w, &c.finish_reason)?;
            w.write_all(b"}")?;
        }
        w.write_all(b"]")?;
        if let Some(u) = &self.usage {
            w.write_all(b",\"usage\":")?;
            serde_json::to_writer(&mut *w, u)?;
        }
        w.write_all(b"}")
    }
}

/// The `object` of every completion.
const COMPLETION_OBJECT: &str = "chat.completion";

/// The `object` of every chunk.
const CHUNK_OBJECT: &str = "chat.completion.chunk";

/// The single choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
}

/// A streamed delta; absent members are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

impl Delta {
    /// A delta with one tool-call fragment (`id`, `type` and `name` only on its first fragment).
    pub fn tool_call(
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> Self {
        Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                kind: id.is_some().then(|| "function".into()),
                id,
                function: FunctionDelta { name, arguments },
            }]),
            ..Delta::default()
        }
    }
}

/// A tool-call fragment; `index` is the running tool-call count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'static, str>>,
    pub function: FunctionDelta,
}

/// `{name?, arguments}` of a tool-call fragment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

/// What every chunk of one stream shares (`id`, `created`, `model`) and whether the first chunk,
/// which carries `role: "assistant"`, has gone out. Every stream translator builds its chunks here.
#[derive(Debug, Clone)]
pub struct ChunkStamp {
    id: String,
    created: u64,
    model: String,
    role_sent: bool,
}

impl ChunkStamp {
    pub fn new(id: String, created: u64, model: String) -> Self {
        ChunkStamp {
            id,
            created,
            model,
            role_sent: false,
        }
    }

    /// Whether the first (role-carrying) chunk was built.
    pub fn role_sent(&self) -> bool {
        self.role_sent
    }

    /// A one-choice chunk; the first one of the stream also carries the role.
    pub fn chunk(&mut self, mut delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        if !self.role_sent {
            self.role_sent = true;
            delta.role = Some("assistant".into());
        }
        ChatChunk {
            id: self.id.clone(),
            object: CHUNK_OBJECT.into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_owned),
            }],
            usage: None,
        }
    }

    /// The stream's first chunk, `{role: "assistant", content: ""}`, unless one went out already.
    pub fn role_chunk(&mut self) -> Option<ChatChunk> {
        (!self.role_sent).then(|| {
            self.chunk(
                Delta {
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            )
        })
    }

    /// A chunk of model text split into reasoning and answer (`<think>` text has no signature:
    /// `reasoning_content` only, no `thinking_blocks`); `None` when both parts are empty.
    pub fn text_chunk(
        &mut self,
        reasoning: Option<String>,
        content: Option<String>,
    ) -> Option<ChatChunk> {
        if reasoning.is_none() && content.is_none() {
            return None;
        }
        let delta = Delta {
            reasoning_content: reasoning,
            content,
            ..Delta::default()
        };
        Some(self.chunk(delta, None))
    }

    /// The final `choices: []` chunk of `stream_options.include_usage`.
    pub fn usage_chunk(&self, usage: Usage) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: CHUNK_OBJECT.into(),
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: Some(usage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stamp() -> ChunkStamp {
        ChunkStamp::new(
            "chatcmpl-\"x\"\u{1}é".into(),
            1_700_000_000,
            "model/\\n".into(),
        )
    }

    fn usage() -> Usage {
        Usage {
            prompt_tokens: 10,
            completion_tokens: u64::MAX,
            total_tokens: 12,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: 1,
                cache_creation_tokens: 0,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: 3,
            }),
            cache_read_input_tokens: Some(1),
            cache_creation_input_tokens: None,
        }
    }

    /// Every chunk shape the translators build, plus odd strings and a foreign `object`.
    fn chunks() -> Vec<ChatChunk> {
        let mut s = stamp();
        let mut out = vec![s.role_chunk().unwrap()];
        out.extend(s.text_chunk(Some("think\n".into()), Some("a \"quote\" \u{7f}\t".into())));
        out.push(s.chunk(
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 2,
                    id: Some("call_1".into()),
                    kind: Some("function".into()),
                    function: FunctionDelta {
                        name: Some("get_weather".into()),
                        arguments: "{\"city\":\"Zürich\"}".into(),
                    },
                }]),
                thinking_blocks: Some(vec![ThinkingBlock::thinking(
                    "t".into(),
                    Some("sig".into()),
                )]),
                ..Delta::default()
            },
            None,
        ));
        out.push(s.chunk(Delta::default(), Some("tool_calls")));
        out.push(s.usage_chunk(usage()));
        let mut two = s.chunk(Delta::default(), Some("stop"));
        two.choices.push(two.choices[0].clone());
        two.usage = Some(Usage::default());
        out.push(two);
        let mut other = s.usage_chunk(Usage::default());
        other.object = "text_completion".into();
        out.push(other);
        let mut extra = ThinkingBlock::redacted("ZGF0YQ==".into());
        extra.extra.insert("x".into(), json!({"k": [1, 2.5, null]}));
        out.push(s.chunk(
            Delta {
                thinking_blocks: Some(vec![extra]),
                ..Delta::default()
            },
            None,
        ));
        out
    }

    #[test]
    fn chunk_writer_matches_the_derived_serializer() {
        for chunk in chunks() {
            let mut fast = Vec::new();
            chunk.write_json(&mut fast).unwrap();
            let derived = serde_json::to_vec(&chunk).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(derived).unwrap()
            );
        }
    }

    #[test]
    fn completion_json_matches_the_value_round_trip() {
        // The bytes the server sent before: struct → Value → bytes.
        let ctx_names = crate::names::ToolNameMap::new();
        let ctx = ResponseContext {
            model_name: "m\"odel",
            tool_names: &ctx_names,
            json_mode: crate::context::JsonMode::None,
            created: 1,
            id: "chatcmpl-1".into(),
        };
        let mut extra = ThinkingBlock::redacted("ZGF0YQ==".into());
        extra.extra.insert("x".into(), json!({"k": [1, 2.5, null]}));
        let answers = [
            AssistantAnswer {
                content: Some("hi \"there\"\n".into()),
                reasoning: Some(String::new()),
                thinking_blocks: vec![],
                tool_calls: vec![],
                finish_reason: "stop".into(),
                usage: Some(usage()),
            },
            AssistantAnswer {
                content: None,
                reasoning: Some("r".into()),
                thinking_blocks: vec![ThinkingBlock::thinking("r".into(), None), extra],
                tool_calls: vec![ToolCallOut {
                    id: "call_1".into(),
                    kind: "function".into(),
                    function: FunctionOut {
                        name: "f".into(),
                        arguments: "{}".into(),
                    },
                }],
                finish_reason: "tool_calls".into(),
                usage: None,
            },
        ];
        for a in answers {
            let one = ChatCompletion::single_choice(&ctx, a);
            let mut two = one.clone();
            two.choices.push(two.choices[0].clone());
            two.choices[1].index = 1;
            two.choices[0].logprobs = Some(json!({"content": []}));
            two.object = "text_completion".into();
            for mut c in [one, two] {
                for (tier, trace) in [
                    (None, None),
                    (Some("flex".to_owned()), Some(json!({"g": 1.5}))),
                ] {
                    c.service_tier = tier;
                    c.trace = trace;
                    let before = serde_json::to_vec(&serde_json::to_value(&c).unwrap()).unwrap();
                    assert_eq!(
                        String::from_utf8(c.to_json()).unwrap(),
                        String::from_utf8(before).unwrap()
                    );
                }
            }
        }
    }
}
