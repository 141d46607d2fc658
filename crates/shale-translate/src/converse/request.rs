//! OpenAI chat request → Converse / ConverseStream request body.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::body::{ContentBlock, ConverseBody, Message, SystemContent};
use super::params;
use super::tools::{self, ToolInputs};
use crate::caps::ModelCaps;
use crate::chat::{BedrockBody, ChatApi, ChatCall};
use crate::context::ChatContext;
use crate::error::TranslateError;
use crate::media::MediaKind;
use crate::names::{sanitize_tool_id, ToolNameMap};
use crate::normalize::{
    normalize_messages, Block, Conversation, Media, MediaSource, NormalizeOptions, SystemBlock,
    TurnRole,
};
use crate::openai::ChatRequest;

/// Translate an OpenAI chat request into a Converse body. Takes the request by value so large
/// strings (base64 media) move into the body instead of being copied.
///
/// Bad input yields [`TranslateError::InvalidRequest`] naming the field, e.g. `n` > 1, an
/// unsupported image format, an invalid data URL or a `tool_choice` naming an unknown tool.
pub fn chat_to_converse(
    mut req: ChatRequest,
    ctx: &ChatContext<'_>,
) -> Result<ChatCall, TranslateError> {
    let caps = ctx.caps;
    let (include_usage, stream) = params::prepare_request(&mut req, ctx.default_params)?;

    let conv = normalize_messages(
        std::mem::take(&mut req.messages),
        &NormalizeOptions::from_context(ctx, caps.trim_prefill_whitespace),
    )?;

    let reasoning = params::reasoning(req.reasoning_effort.take(), req.thinking.take(), caps)?;
    if reasoning.thinking_on && caps.supports_thinking {
        params::drop_sampling_incompatible_with_thinking(&mut req);
    }
    let history_has_tools = conv.turns.iter().any(|t| {
        t.blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. } | Block::ToolResult { .. }))
    });
    let mut names = ToolNameMap::new();
    let mut setup = tools::build(
        ToolInputs {
            tools: req.tools.take(),
            tool_choice: req.tool_choice.take(),
            response_format: req.response_format.take(),
            thinking_on: reasoning.thinking_on,
            history_has_tools,
        },
        caps,
        &mut names,
    )?;

    let (mut system, messages) = render_conversation(conv, caps, &mut names);
    if setup.json_instruction {
        system.push(SystemContent::Text(Cow::Borrowed(
            tools::JSON_TOOL_INSTRUCTION,
        )));
    }
    let inference_config = params::inference_config(&mut req, &reasoning);
    let tool_config = setup.tool_config.take();

    let mut amrf = Map::new();
    let mut top = Map::new();
    params::top_k(req.top_k, caps, &mut amrf);
    let thinking_on = reasoning.thinking_on;
    for (k, v) in reasoning.fields {
        amrf.insert(k.into(), v);
    }
    if req.parallel_tool_calls == Some(false) && setup.has_client_tools && caps.anthropic_fields {
        // Anthropic requires `type` next to `disable_parallel_tool_use`; mirror the toolChoice.
        let mut tc = setup.anthropic_tool_choice;
        tc["disable_parallel_tool_use"] = true.into();
        amrf.insert("tool_choice".into(), tc);
    }
    if let Some(tier) = req.service_tier.take() {
        top.insert("serviceTier".into(), params::service_tier(&tier)?);
    }
    params::route_extra(std::mem::take(&mut req.extra), &mut top, &mut amrf);
    if !setup.anthropic_builtin_tools.is_empty() {
        amrf.insert(
            "tools".into(),
            Value::Array(std::mem::take(&mut setup.anthropic_builtin_tools)),
        );
        params::anthropic_beta(&setup.anthropic_betas.join(","), &mut amrf);
    }
    if caps.anthropic_fields {
        if let Some(h) = ctx.anthropic_beta {
            params::anthropic_beta(h, &mut amrf);
        }
    }
    if let Some(oc) = setup.output_config {
        top.entry("outputConfig").or_insert(oc);
    }
    if thinking_on {
        top.entry("additionalModelResponseFieldPaths")
            .or_insert_with(|| json!(["/usage/output_tokens_details"]));
    }
    let top = params::TOP_LEVEL_FIELDS
        .iter()
        .filter_map(|key| top.remove(*key).map(|v| (*key, v)))
        .collect();
    let body = ConverseBody {
        messages,
        system,
        inference_config,
        tool_config,
        additional_model_request_fields: (!amrf.is_empty()).then_some(amrf),
        top,
    };

    Ok(ChatCall {
        api: ChatApi::Converse,
        body: BedrockBody::Converse(Box::new(body)),
        headers: Vec::new(),
        tool_names: names,
        json_mode: setup.json_mode,
        include_usage,
        stream,
    })
}

/// Render the neutral conversation as Converse `system` and `messages`.
fn render_conversation(
    conv: Conversation,
    caps: &ModelCaps,
    names: &mut ToolNameMap,
) -> (Vec<SystemContent>, Vec<Message>) {
    let cache_ok = caps.supports_cache_point;
    let mut system = Vec::with_capacity(conv.system.len() + 1);
    for b in conv.system {
        match b {
            SystemBlock::Text(t) => system.push(SystemContent::Text(Cow::Owned(t))),
            SystemBlock::CachePoint if cache_ok && !system.is_empty() => {
                system.push(SystemContent::CachePoint)
            }
            SystemBlock::CachePoint => {}
        }
    }
    let mut doc_names = HashSet::new();
    let mut messages = Vec::with_capacity(conv.turns.len());
    for turn in conv.turns {
        let mut content = Vec::with_capacity(turn.blocks.len() + 1);
        let mut has_text = false;
        let mut has_doc = false;
        for b in turn.blocks {
            match b {
                Block::Text(_) | Block::GuardedText(_) => has_text = true,
                Block::Media(Media {
                    kind: MediaKind::Document,
                    ..
                }) => has_doc = true,
                _ => {}
            }
            if let Some(block) = render_block(b, cache_ok, names, &mut doc_names) {
                if block == ContentBlock::CachePoint && content.is_empty() {
                    continue;
                }
                content.push(block);
            }
        }
        if turn.role == TurnRole::User && has_doc && !has_text {
            content.push(ContentBlock::Text(Cow::Borrowed(".")));
        }
        let role = match turn.role {
            TurnRole::User => "user",
            TurnRole::Assistant => "assistant",
        };
        messages.push(Message { role, content });
    }
    (system, messages)
}

fn render_block(
    b: Block,
    cache_ok: bool,
    names: &mut ToolNameMap,
    doc_names: &mut HashSet<String>,
) -> Option<ContentBlock> {
    Some(match b {
        Block::Text(t) => ContentBlock::Text(Cow::Owned(t)),
        Block::GuardedText(t) => ContentBlock::GuardText(t),
        Block::Media(m) => render_media(m, doc_names),
        Block::ToolUse { id, name, input } => ContentBlock::ToolUse {
            id: sanitize_tool_id(&id),
            name: names.sanitize(&name),
            input,
        },
        Block::ToolResult { id, content } => {
            let mut out: Vec<ContentBlock> = content
                .into_iter()
                .filter(|b| !matches!(b, Block::Text(t) if t.trim().is_empty()))
                .filter_map(|b| render_block(b, false, names, doc_names))
                .collect();
            if out.is_empty() {
                out.push(ContentBlock::Text(Cow::Borrowed(".")));
            }
            ContentBlock::ToolResult {
                id: sanitize_tool_id(&id),
                content: out,
            }
        }
        Block::Reasoning { text, signature } => ContentBlock::Reasoning { text, signature },
        Block::RedactedReasoning(d) => ContentBlock::RedactedReasoning(d),
        Block::CachePoint if cache_ok => ContentBlock::CachePoint,
        Block::CachePoint => return None,
    })
}

fn render_media(m: Media, doc_names: &mut HashSet<String>) -> ContentBlock {
    let name = (m.kind == MediaKind::Document).then(|| document_name(&m.source, doc_names));
    ContentBlock::Media {
        kind: m.kind,
        format: m.format,
        name,
        source: m.source,
    }
}

/// `Document-<first 12 hex of the content's SHA-256>`, with ` (n)` added for repeats within one
/// request (Bedrock rejects duplicate document names).
fn document_name(source: &MediaSource, used: &mut HashSet<String>) -> String {
    let data = match source {
        MediaSource::Base64(b) => b.as_bytes(),
        MediaSource::S3 { uri } => uri.as_bytes(),
        MediaSource::Text(t) => t.as_bytes(),
    };
    let hash = hex::encode(&Sha256::digest(data)[..6]);
    unique_document_name(format!("Document-{hash}"), used)
}

/// `base`, or `base (2)`, `base (3)`, … : the first not in `used` (which then holds it).
pub(crate) fn unique_document_name(base: String, used: &mut HashSet<String>) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{base} ({n})");
        n += 1;
    }
    name
}
