//! Provider-neutral message normalisation, shared by the Converse and invoke translators:
//! system extraction (leading run only), messages into [`Block`]s (content parts are parsed by
//! [`crate::media::part_block`]), role merging, alternation repair (`modify_params` /
//! `user_continue_message`) and assistant-prefill trimming.
//! Tool names and ids are kept as the client sent them; each provider sanitises its own way.

use serde_json::Value;

use crate::context::ChatContext;
use crate::error::TranslateError;
use crate::media::{part_block, FetchedMedia, MediaKind};
use crate::openai::{ChatMessage, MessageContent, Role, ToolCall};

/// The default continue message of `modify_params` (LiteLLM's wording).
pub const DEFAULT_CONTINUE_TEXT: &str = "Please continue.";

/// A normalised conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// The leading run of system / developer messages.
    pub system: Vec<SystemBlock>,
    /// Strictly alternating turns (same-role neighbours merged).
    pub turns: Vec<Turn>,
}

/// A system prompt piece.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemBlock {
    Text(String),
    /// `cache_control` on the preceding system content.
    CachePoint,
}

/// Who speaks in a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnRole {
    User,
    Assistant,
}

/// One turn: the merged content of consecutive same-role messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: TurnRole,
    pub blocks: Vec<Block>,
}

/// A neutral content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// `guarded_text`: text that Bedrock Guardrails evaluate.
    GuardedText(String),
    Media(Media),
    /// An assistant tool call; `input` is the parsed arguments (`{}` when empty).
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// A `tool` message; `content` holds text / media blocks.
    ToolResult {
        id: String,
        content: Vec<Block>,
    },
    /// A signed thinking block from an earlier assistant turn.
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    /// Redacted thinking (base64).
    RedactedReasoning(String),
    /// `cache_control` on the preceding content.
    CachePoint,
}

/// An image, document or video.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub kind: MediaKind,
    /// Bedrock format name (`png`, `pdf`, `mp4`, ...).
    pub format: &'static str,
    pub mime: String,
    pub source: MediaSource,
    /// The client's file name, if any.
    pub filename: Option<String>,
}

/// Where media bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    /// Base64 text (never decoded).
    Base64(String),
    /// `s3://bucket/key`.
    S3 { uri: String },
    /// Plain text (text documents).
    Text(String),
}

/// Inputs of [`normalize_messages`].
#[derive(Debug, Clone, Copy)]
pub struct NormalizeOptions<'a> {
    /// LiteLLM `modify_params`: repair conversations that do not start with a user turn.
    pub modify_params: bool,
    /// LiteLLM `user_continue_message` (implies repair).
    pub user_continue_message: Option<&'a ChatMessage>,
    /// http(s) media already downloaded by the server.
    pub fetched_media: &'a FetchedMedia,
    /// Strip trailing whitespace of a final assistant prefill (Claude rejects it).
    pub trim_prefill_whitespace: bool,
}

impl<'a> NormalizeOptions<'a> {
    /// The options a chat request's context asks for.
    pub fn from_context(ctx: &ChatContext<'a>, trim_prefill_whitespace: bool) -> Self {
        NormalizeOptions {
            modify_params: ctx.modify_params,
            user_continue_message: ctx.user_continue_message,
            fetched_media: ctx.fetched_media,
            trim_prefill_whitespace,
        }
    }
}

/// Normalise OpenAI messages (taking ownership so large strings move instead of being copied).
pub fn normalize_messages(
    messages: Vec<ChatMessage>,
    opts: &NormalizeOptions<'_>,
) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    let mut iter = messages.into_iter().enumerate().peekable();
    while let Some((i, m)) = iter.next_if(|(_, m)| matches!(m.role, Role::System | Role::Developer))
    {
        system_blocks(m, i, &mut conv.system)?;
    }
    for (i, m) in iter {
        let (role, blocks) = message_blocks(m, i, opts.fetched_media)?;
        push_blocks(&mut conv.turns, role, blocks);
    }
    repair_alternation(&mut conv.turns, opts)?;
    if conv.turns.is_empty() && !conv.system.is_empty() {
        // OpenAI accepts a system-only conversation; Bedrock needs a user turn: the system text
        // becomes the user's message.
        let blocks = std::mem::take(&mut conv.system)
            .into_iter()
            .map(|b| match b {
                SystemBlock::Text(t) => Block::Text(t),
                SystemBlock::CachePoint => Block::CachePoint,
            })
            .collect();
        conv.turns.push(Turn {
            role: TurnRole::User,
            blocks,
        });
    }
    if opts.trim_prefill_whitespace {
        trim_prefill(&mut conv.turns);
    }
    Ok(conv)
}

fn push_blocks(turns: &mut Vec<Turn>, role: TurnRole, blocks: Vec<Block>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(t) if t.role == role => t.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

fn repair_alternation(
    turns: &mut Vec<Turn>,
    opts: &NormalizeOptions<'_>,
) -> Result<(), TranslateError> {
    if !opts.modify_params && opts.user_continue_message.is_none() {
        return Ok(());
    }
    let needs = turns.first().is_none_or(|t| t.role != TurnRole::User);
    if needs {
        let blocks = match opts.user_continue_message {
            Some(m) => {
                let (_, b) = message_blocks(m.clone(), 0, opts.fetched_media).map_err(|e| {
                    TranslateError::invalid(
                        "user_continue_message",
                        format!("invalid user_continue_message: {e}"),
                    )
                })?;
                b
            }
            None => Vec::new(),
        };
        let blocks = if blocks.is_empty() {
            vec![Block::Text(DEFAULT_CONTINUE_TEXT.to_owned())]
        } else {
            blocks
        };
        turns.insert(
            0,
            Turn {
                role: TurnRole::User,
                blocks,
            },
        );
    }
    Ok(())
}

fn trim_prefill(turns: &mut Vec<Turn>) {
    let Some(last) = turns.last_mut() else { return };
    if last.role != TurnRole::Assistant {
        return;
    }
    if let Some(Block::Text(t)) = last.blocks.last_mut() {
        let n = t.trim_end().len();
        t.truncate(n);
        if t.is_empty() {
            last.blocks.pop();
        }
    }
    if last.blocks.is_empty() {
        turns.pop();
    }
}

fn system_blocks(
    m: ChatMessage,
    i: usize,
    out: &mut Vec<SystemBlock>,
) -> Result<(), TranslateError> {
    match m.content {
        None => {}
        Some(MessageContent::Text(t)) if t.trim().is_empty() => {}
        Some(MessageContent::Text(t)) => out.push(SystemBlock::Text(t)),
        Some(MessageContent::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                if p.kind != "text" {
                    return Err(TranslateError::invalid(
                        format!("messages[{i}].content[{j}].type"),
                        format!(
                            "system messages may only contain text parts, got '{}'",
                            p.kind
                        ),
                    ));
                }
                let text = p.text.unwrap_or_default();
                if !text.trim().is_empty() {
                    out.push(SystemBlock::Text(text));
                }
                if p.cache_control.is_some() {
                    out.push(SystemBlock::CachePoint);
                }
            }
        }
    }
    if m.cache_control.is_some() && !matches!(out.last(), Some(SystemBlock::CachePoint) | None) {
        out.push(SystemBlock::CachePoint);
    }
    Ok(())
}

/// The turn role and blocks of one non-leading message.
fn message_blocks(
    m: ChatMessage,
    i: usize,
    fetched: &FetchedMedia,
) -> Result<(TurnRole, Vec<Block>), TranslateError> {
    let cache = m.cache_control.is_some();
    let (role, mut blocks) = match m.role {
        Role::System | Role::Developer | Role::User => (
            TurnRole::User,
            content_blocks(m.content, i, fetched, false)?,
        ),
        Role::Assistant => (TurnRole::Assistant, assistant_blocks(m, i, fetched)?),
        Role::Tool | Role::Function => {
            let id = if m.role == Role::Tool {
                m.tool_call_id.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("messages[{i}].tool_call_id"),
                        "tool messages need a tool_call_id",
                    )
                })?
            } else {
                m.name.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("messages[{i}].name"),
                        "function messages need a name",
                    )
                })?
            };
            let mut content = content_blocks(m.content, i, fetched, true)?;
            // cache points are not allowed inside a tool result: hoist one after it
            let had_cache = content.iter().any(|b| matches!(b, Block::CachePoint));
            content.retain(|b| !matches!(b, Block::CachePoint));
            let mut v = vec![Block::ToolResult { id, content }];
            if had_cache {
                v.push(Block::CachePoint);
            }
            (TurnRole::User, v)
        }
    };
    if cache && !blocks.is_empty() && !matches!(blocks.last(), Some(Block::CachePoint)) {
        blocks.push(Block::CachePoint);
    }
    Ok((role, blocks))
}

fn assistant_blocks(
    m: ChatMessage,
    i: usize,
    fetched: &FetchedMedia,
) -> Result<Vec<Block>, TranslateError> {
    let mut blocks = Vec::new();
    for (j, tb) in m.thinking_blocks.into_iter().flatten().enumerate() {
        match tb.kind.as_str() {
            "thinking" => blocks.push(Block::Reasoning {
                text: tb.thinking.unwrap_or_default(),
                signature: tb.signature,
            }),
            "redacted_thinking" => {
                if let Some(d) = tb.data {
                    blocks.push(Block::RedactedReasoning(d));
                }
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].thinking_blocks[{j}].type"),
                    format!("unknown thinking block type '{other}'"),
                ))
            }
        }
    }
    blocks.extend(content_blocks(m.content, i, fetched, false)?);
    for (j, tc) in m.tool_calls.into_iter().flatten().enumerate() {
        blocks.push(tool_use(tc, i, j)?);
    }
    if let Some(fc) = m.function_call {
        let param = format!("messages[{i}].function_call.arguments");
        blocks.push(Block::ToolUse {
            id: fc.name.clone(),
            input: parse_arguments(fc.arguments, &param)?,
            name: fc.name,
        });
    }
    Ok(blocks)
}

fn tool_use(tc: ToolCall, i: usize, j: usize) -> Result<Block, TranslateError> {
    let param = format!("messages[{i}].tool_calls[{j}].function.arguments");
    Ok(Block::ToolUse {
        id: tc.id,
        input: parse_arguments(tc.function.arguments, &param)?,
        name: tc.function.name,
    })
}

/// Tool-call arguments as JSON: a JSON string is parsed (empty → `{}`), an object is kept.
pub fn parse_arguments(args: Option<Value>, param: &str) -> Result<Value, TranslateError> {
    match args {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Value::Object(Default::default())),
        Some(Value::String(s)) => serde_json::from_str(&s).map_err(|e| {
            TranslateError::invalid(
                param,
                format!("tool call arguments are not valid JSON: {e}"),
            )
        }),
        Some(v) => Ok(v),
    }
}

/// Parse message content into blocks. `in_tool` restricts to what a tool result may hold.
fn content_blocks(
    content: Option<MessageContent>,
    i: usize,
    fetched: &FetchedMedia,
    in_tool: bool,
) -> Result<Vec<Block>, TranslateError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(if t.trim().is_empty() && !in_tool {
            Vec::new()
        } else {
            vec![Block::Text(t)]
        }),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.into_iter().enumerate() {
                let cache = p.cache_control.is_some();
                if let Some(b) = part_block(p, &format!("messages[{i}].content[{j}]"), fetched)? {
                    if in_tool && matches!(b, Block::GuardedText(_)) {
                        return Err(TranslateError::invalid(
                            format!("messages[{i}].content[{j}].type"),
                            "guarded_text is not allowed in tool results",
                        ));
                    }
                    out.push(b);
                    if cache {
                        out.push(Block::CachePoint);
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ChatMessage;

    fn opts(f: &FetchedMedia) -> NormalizeOptions<'_> {
        NormalizeOptions {
            modify_params: false,
            user_continue_message: None,
            fetched_media: f,
            trim_prefill_whitespace: true,
        }
    }

    #[test]
    fn merges_and_extracts_system() {
        let f = FetchedMedia::new();
        let msgs = vec![
            ChatMessage::text(Role::System, "a"),
            ChatMessage::text(Role::Developer, "b"),
            ChatMessage::text(Role::User, "u1"),
            ChatMessage::text(Role::System, "late"),
            ChatMessage::text(Role::Assistant, "x"),
            ChatMessage::text(Role::Assistant, "y  \n"),
        ];
        let c = normalize_messages(msgs, &opts(&f)).unwrap();
        assert_eq!(
            c.system,
            vec![SystemBlock::Text("a".into()), SystemBlock::Text("b".into())]
        );
        assert_eq!(c.turns.len(), 2);
        assert_eq!(
            c.turns[0].blocks,
            vec![Block::Text("u1".into()), Block::Text("late".into())]
        );
        assert_eq!(
            c.turns[1].blocks,
            vec![Block::Text("x".into()), Block::Text("y".into())]
        );
    }

    #[test]
    fn continue_message_only_with_modify_params() {
        let f = FetchedMedia::new();
        let msgs = vec![ChatMessage::text(Role::Assistant, "hi")];
        let c = normalize_messages(msgs.clone(), &opts(&f)).unwrap();
        assert_eq!(c.turns[0].role, TurnRole::Assistant);
        let mut o = opts(&f);
        o.modify_params = true;
        let c = normalize_messages(msgs, &o).unwrap();
        assert_eq!(
            c.turns[0].blocks,
            vec![Block::Text(DEFAULT_CONTINUE_TEXT.into())]
        );
    }
}
