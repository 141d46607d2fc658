//! The format-independent default answer: what any request format (Converse, Anthropic,
//! OpenAI-style, prompt-based) is summarised into ([`PromptInfo`]) and the deterministic
//! [`Answer`] composed from it (reasoning, text, tool call, stop reason, usage).

use crate::state::AppState;
use crate::text;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A tool the request offers.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Tool name.
    pub name: String,
    /// Input JSON schema.
    pub schema: Value,
}

/// The request's tool choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Model decides (the emulator calls a tool).
    Auto,
    /// Must call some tool.
    Any,
    /// Must call this tool.
    Tool(String),
    /// Must not call tools.
    None,
}

/// A request body's `messages` (empty when absent) and the last user message among them.
pub fn messages_and_last_user(body: &Value) -> (&[Value], Option<&Value>) {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    (messages, last_user)
}

/// How many of the last user turn's `blocks` are tool results — none unless the conversation
/// ends on that user turn.
pub fn trailing_tool_results(
    messages: &[Value],
    blocks: &[Value],
    is_result: impl Fn(&Value) -> bool,
) -> usize {
    match messages.last() {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("user") => {
            blocks.iter().filter(|b| is_result(b)).count()
        }
        _ => 0,
    }
}

/// A tool's `name` member, `""` when absent.
pub fn tool_name(v: &Value) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The strings of a JSON array (other items skipped); empty when `v` is not an array.
pub fn string_array(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// What the default answer depends on.
#[derive(Debug, Clone)]
pub struct PromptInfo {
    /// Model id as requested.
    pub model_id: String,
    /// Text of the last user turn.
    pub last_user_text: String,
    /// Estimated input tokens (all text in the request).
    pub input_tokens: u64,
    /// Offered tools.
    pub tools: Vec<ToolDef>,
    /// Tool choice.
    pub tool_choice: ToolChoice,
    /// Whether reasoning/thinking is enabled.
    pub thinking: bool,
    /// Whether reasoning blocks carry a signature (Claude).
    pub signed_reasoning: bool,
    /// Output token limit.
    pub max_tokens: Option<u64>,
    /// Stop sequences.
    pub stop_sequences: Vec<String>,
    /// Tool results in the last user turn.
    pub tool_results: usize,
    /// Structured output schema: the answer text is a JSON instance of it.
    pub json_schema: Option<Value>,
    /// Prompt-cache prefix (hash, tokens) up to the last cache point.
    pub cache_prefix: Option<(u64, u64)>,
}

impl PromptInfo {
    /// A prompt with only text.
    pub fn text_only(model_id: &str, last_user_text: &str, input_tokens: u64) -> Self {
        Self {
            model_id: model_id.to_owned(),
            last_user_text: last_user_text.to_owned(),
            input_tokens,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            thinking: false,
            signed_reasoning: false,
            max_tokens: None,
            stop_sequences: Vec::new(),
            tool_results: 0,
            json_schema: None,
            cache_prefix: None,
        }
    }
}

/// Why the answer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end.
    EndTurn,
    /// Wants a tool result.
    ToolUse,
    /// Hit the output limit.
    MaxTokens,
    /// Hit a stop sequence.
    StopSequence,
}

impl StopReason {
    /// Converse / Anthropic name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
        }
    }

    /// OpenAI-style finish reason.
    pub fn openai(self) -> &'static str {
        match self {
            StopReason::EndTurn | StopReason::StopSequence => "stop",
            StopReason::ToolUse => "tool_calls",
            StopReason::MaxTokens => "length",
        }
    }
}

/// A reasoning block.
#[derive(Debug, Clone)]
pub struct Reasoning {
    /// Reasoning text.
    pub text: String,
    /// Signature (Claude only).
    pub signature: Option<String>,
}

/// A tool call.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// Deterministic id suffix.
    pub id_suffix: String,
    /// Tool name.
    pub name: String,
    /// Input object.
    pub input: Value,
}

/// Token usage.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Input tokens (excluding cache reads/writes).
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache-read tokens, when the request had cache points.
    pub cache_read: Option<u64>,
    /// Cache-write tokens, when the request had cache points.
    pub cache_write: Option<u64>,
}

impl Usage {
    /// input + output + cache tokens.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read.unwrap_or(0) + self.cache_write.unwrap_or(0)
    }
}

/// The composed default answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Reasoning first, when thinking is on.
    pub reasoning: Option<Reasoning>,
    /// Text.
    pub text: Option<String>,
    /// Tool call.
    pub tool_use: Option<ToolCall>,
    /// Stop reason.
    pub stop_reason: StopReason,
    /// The stop sequence hit, if any.
    pub stop_sequence: Option<String>,
    /// Usage.
    pub usage: Usage,
}

/// The signature the emulator gives a reasoning text (verifiable on the next turn).
pub fn reasoning_signature(text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"shale-emulator-reasoning:");
    hasher.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// Composes the deterministic answer for a prompt (`state` decides cache read vs write).
pub fn compose(info: &PromptInfo, state: &AppState) -> Answer {
    let seed = text::stable_hash(info.last_user_text.as_bytes())
        ^ text::stable_hash(info.model_id.as_bytes());
    let echo = text::first_words(&info.last_user_text, 8);
    let reasoning = info.thinking.then(|| {
        let text = format!("The user wrote: {echo}. I should answer briefly.");
        let signature = info.signed_reasoning.then(|| reasoning_signature(&text));
        Reasoning { text, signature }
    });
    let tool = if info.tool_results == 0 && info.tool_choice != ToolChoice::None {
        match &info.tool_choice {
            ToolChoice::Tool(name) => info.tools.iter().find(|t| &t.name == name),
            _ => info.tools.first(),
        }
    } else {
        None
    };
    let mut stop_reason = StopReason::EndTurn;
    let mut stop_sequence = None;
    let mut tool_use = tool.map(|t| ToolCall {
        id_suffix: text::stable_id(seed ^ text::stable_hash(t.name.as_bytes()), 22),
        name: t.name.clone(),
        input: text::sample_from_schema(&t.schema),
    });
    let mut reply = match (&tool_use, &info.tool_choice) {
        (Some(_), ToolChoice::Any | ToolChoice::Tool(_)) => None,
        (Some(t), _) => Some(format!("I will call the {} tool.", t.name)),
        (None, _) => Some(match &info.json_schema {
            Some(schema) => text::sample_from_schema(schema).to_string(),
            None if info.tool_results > 0 => format!(
                "{} Received {} tool result(s).",
                text::reply_text(&info.model_id, &info.last_user_text),
                info.tool_results
            ),
            None => text::reply_text(&info.model_id, &info.last_user_text),
        }),
    };
    if tool_use.is_some() {
        stop_reason = StopReason::ToolUse;
    }
    if let Some(text_out) = reply.as_mut() {
        if let Some((pos, seq)) = info
            .stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text_out.find(s.as_str()).map(|p| (p, s)))
            .min_by_key(|(p, _)| *p)
        {
            text_out.truncate(pos);
            stop_reason = StopReason::StopSequence;
            stop_sequence = Some(seq.clone());
            tool_use = None;
        }
        if let Some(max) = info.max_tokens {
            if text::word_tokens(text_out) > max {
                *text_out = text_out
                    .split_inclusive(' ')
                    .take(max.max(1) as usize)
                    .collect::<String>()
                    .trim_end()
                    .to_owned();
                stop_reason = StopReason::MaxTokens;
                stop_sequence = None;
                tool_use = None;
            }
        }
    }
    let output = reply.as_deref().map(text::word_tokens).unwrap_or(0)
        + reasoning
            .as_ref()
            .map(|r| text::word_tokens(&r.text))
            .unwrap_or(0)
        + tool_use
            .as_ref()
            .map(|t| 8 + text::approx_tokens(&t.input.to_string()))
            .unwrap_or(0);
    let mut usage = Usage {
        input: info.input_tokens.max(1),
        output: output.max(1),
        cache_read: None,
        cache_write: None,
    };
    if let Some((hash, tokens)) = info.cache_prefix {
        let cached = tokens.min(usage.input.saturating_sub(1));
        usage.input -= cached;
        if state.cache_prefix_seen(hash) {
            usage.cache_read = Some(cached);
            usage.cache_write = Some(0);
        } else {
            usage.cache_read = Some(0);
            usage.cache_write = Some(cached);
        }
    }
    Answer {
        reasoning,
        text: reply,
        tool_use,
        stop_reason,
        stop_sequence,
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;
    use serde_json::json;

    fn state() -> AppState {
        AppState::new(EmulatorConfig::default())
    }

    #[test]
    fn plain_answer_echoes_and_counts() {
        let info = PromptInfo::text_only("m", "hello there", 5);
        let a = compose(&info, &state());
        assert_eq!(
            a.text.as_deref(),
            Some("Hello from the shale emulator (model m). You said: hello there")
        );
        assert_eq!(a.stop_reason, StopReason::EndTurn);
        assert_eq!(a.usage.input, 5);
        assert_eq!(a.usage.output, 11);
    }

    #[test]
    fn tools_thinking_and_limits() {
        let mut info = PromptInfo::text_only("m", "weather in Paris", 5);
        info.tools = vec![ToolDef {
            name: "get_weather".into(),
            schema: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        }];
        info.thinking = true;
        info.signed_reasoning = true;
        let a = compose(&info, &state());
        assert_eq!(a.stop_reason, StopReason::ToolUse);
        let t = a.tool_use.unwrap();
        assert_eq!(t.input, json!({"city":"example"}));
        let r = a.reasoning.unwrap();
        assert_eq!(r.signature.unwrap(), reasoning_signature(&r.text));

        let mut info = PromptInfo::text_only("m", "hello there", 5);
        info.max_tokens = Some(3);
        let a = compose(&info, &state());
        assert_eq!(a.stop_reason, StopReason::MaxTokens);
        assert_eq!(a.text.as_deref(), Some("Hello from the"));

        let mut info = PromptInfo::text_only("m", "hello", 5);
        info.stop_sequences = vec!["shale".into()];
        let a = compose(&info, &state());
        assert_eq!(a.stop_reason, StopReason::StopSequence);
        assert_eq!(a.text.as_deref(), Some("Hello from the "));
    }

    #[test]
    fn cache_prefix_writes_then_reads() {
        let st = state();
        let mut info = PromptInfo::text_only("m", "hello", 100);
        info.cache_prefix = Some((42, 60));
        let first = compose(&info, &st).usage;
        assert_eq!(
            (first.cache_write, first.cache_read, first.input),
            (Some(60), Some(0), 40)
        );
        let second = compose(&info, &st).usage;
        assert_eq!((second.cache_write, second.cache_read), (Some(0), Some(60)));
    }
}
