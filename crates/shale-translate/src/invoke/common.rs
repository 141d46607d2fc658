//! Request preparation shared by every invoke family: deployment defaults, `n`, legacy
//! `functions`, the header config blocks, message normalisation, and small helpers (tool choice,
//! schemas, JSON-mode instructions, pass-through of extra fields).

use serde_json::{json, Value};

use super::headers;
use crate::context::ChatContext;
use crate::converse::prepare_request;
pub(super) use crate::converse::{named_choice, parse_choice, Choice};
use crate::error::TranslateError;
use crate::normalize::{normalize_messages, Block, Conversation, NormalizeOptions, SystemBlock};
use crate::openai::{is_dropped_param, ChatRequest, JsonMap, ResponseFormat};
use crate::schema::inline_refs;

/// A request after the family-independent steps.
pub(super) struct Prepared {
    /// The request with `messages` moved out, legacy `functions` / `function_call` converted and
    /// the header config blocks removed from `extra`.
    pub req: ChatRequest,
    pub conv: Conversation,
    pub headers: Vec<(&'static str, String)>,
    pub include_usage: bool,
    pub stream: bool,
}

pub(super) fn prepare(
    mut req: ChatRequest,
    ctx: &ChatContext<'_>,
    trim_prefill: bool,
) -> Result<Prepared, TranslateError> {
    let (include_usage, stream) = prepare_request(&mut req, ctx.default_params)?;
    let headers = headers::take_headers(&mut req.extra, req.service_tier.take())?;
    let conv = normalize_messages(
        std::mem::take(&mut req.messages),
        &NormalizeOptions::from_context(ctx, trim_prefill),
    )?;
    Ok(Prepared {
        req,
        conv,
        headers,
        include_usage,
        stream,
    })
}

/// `max_completion_tokens`, else `max_tokens`.
pub(super) fn max_tokens(req: &ChatRequest) -> Option<u64> {
    req.max_completion_tokens.or(req.max_tokens)
}

/// The non-empty stop sequences.
pub(super) fn stop_sequences(req: &mut ChatRequest) -> Option<Vec<String>> {
    let v: Vec<String> = req
        .stop
        .take()?
        .into_vec()
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Insert `key: value` when the value is present.
pub(super) fn put<T: Into<Value>>(body: &mut JsonMap, key: &str, value: Option<T>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), v.into());
    }
}

/// Copy the remaining extra request fields into the native body (a client's explicit native
/// field such as `max_gen_len` wins over the translated one). Dropped parameters are skipped and
/// an `additionalModelRequestFields` object is merged in member by member.
pub(super) fn pass_through(extra: JsonMap, body: &mut JsonMap) {
    for (k, v) in extra {
        if v.is_null() || is_dropped_param(&k) {
            continue;
        }
        if k == "additionalModelRequestFields" {
            if let Value::Object(o) = v {
                body.extend(o);
            }
            continue;
        }
        body.insert(k, v);
    }
}

/// Validate `response_format`; `Some((schema))` when JSON output is asked for (the schema is
/// `None` for `json_object`).
pub(super) fn json_request(
    rf: Option<ResponseFormat>,
) -> Result<Option<Option<Value>>, TranslateError> {
    let Some(rf) = rf else { return Ok(None) };
    match rf.kind.as_str() {
        "text" => Ok(None),
        "json_object" => Ok(Some(None)),
        "json_schema" => Ok(Some(rf.json_schema.and_then(|j| j.schema).map(inline_refs))),
        other => Err(TranslateError::invalid(
            "response_format.type",
            format!("unsupported response_format type '{other}'"),
        )),
    }
}

/// A system instruction asking for JSON output (for families without a native JSON mode).
pub(super) fn json_instruction(schema: Option<&Value>) -> String {
    match schema {
        Some(s) => format!(
            "Respond only with a JSON object that matches this JSON schema, with no other text:\n{s}"
        ),
        None => "Respond only with a valid JSON object, with no other text.".to_owned(),
    }
}

/// The system prompt as one string (pieces joined by a blank line).
pub(super) fn system_text(system: &[SystemBlock]) -> Option<String> {
    let parts: Vec<&str> = system
        .iter()
        .filter_map(|b| match b {
            SystemBlock::Text(t) => Some(t.as_str()),
            SystemBlock::CachePoint => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Plain text of a turn for prompt-template families: text joins with newlines, tool calls and
/// tool results are written out as text; media is rejected (`what` names the family).
pub(super) fn turn_text(blocks: Vec<Block>, what: &str) -> Result<String, TranslateError> {
    let mut out: Vec<String> = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b {
            Block::Text(t) | Block::GuardedText(t) => out.push(t),
            Block::ToolUse { name, input, .. } => out.push(
                json!({"tool_call": {"name": name, "arguments": input}}).to_string(),
            ),
            Block::ToolResult { content, .. } => {
                let inner = turn_text(content, what)?;
                out.push(format!("Tool result: {inner}"));
            }
            Block::Media(m) => {
                return Err(TranslateError::invalid(
                    "messages",
                    format!(
                        "{} input ({}) is not supported by {what} on the invoke route; use a model that accepts it or the Converse route",
                        match m.kind {
                            crate::media::MediaKind::Image => "image",
                            crate::media::MediaKind::Document => "document",
                            crate::media::MediaKind::Video => "video",
                        },
                        m.format
                    ),
                ))
            }
            Block::Reasoning { .. } | Block::RedactedReasoning(_) | Block::CachePoint => {}
        }
    }
    Ok(out.join("\n"))
}
