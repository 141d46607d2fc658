//! OpenAI chat completions on a chat surface (bedrock-mantle `/v1` or `/openai/v1`, bedrock-runtime
//! `/openai/v1`): the request relayed with the deployment's model id, `stream_options` asking for
//! usage whenever it streams (the gateway's metrics, cost and budgets need it), and the gateway's
//! own members left out; the answer relayed with the client's model name; the stream relayed
//! event by event — Mantle sends the usage chunk *after* the finish chunk, so nothing stops at the
//! first `finish_reason`, and the usage chunk reaches the client only when it asked for it
//! (`stream_options.include_usage`). For clients that are not chat clients (Responses,
//! `/completions`), the same answers parsed into the typed completion and chunks.
//!
//! Must not: change anything in a relayed answer but `model` and what the client did not ask for.

use serde::Deserialize;

use super::json::{json_string, Edit, TopLevel};
use super::with_defaults;
use crate::chat::EventTranslator;
use crate::completion::{ChatChunk, ChatCompletion, Usage};
use crate::error::TranslateError;
use crate::openai::{ChatRequest, JsonMap, StreamOptions};

/// A chat request ready for a chat surface.
#[derive(Debug, Clone)]
pub struct SurfaceChatBody {
    /// The JSON to send.
    pub body: Vec<u8>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// `stream_options.include_usage` as the client sent it.
    pub include_usage: bool,
}

/// The chat request for a chat surface: `model` is the deployment's model id, the deployment's
/// defaults fill what the request leaves out, gateway members are dropped, and a stream always
/// asks for usage (`stream_options.include_usage: true`; `stream_options` is dropped otherwise).
pub fn chat_body(req: ChatRequest, model_id: &str, defaults: &JsonMap) -> SurfaceChatBody {
    let mut req = with_defaults(req, defaults);
    let stream = req.stream == Some(true);
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    req.stream_options = stream.then(|| StreamOptions {
        include_usage: Some(true),
        extra: req
            .stream_options
            .take()
            .map(|o| o.extra)
            .unwrap_or_default(),
    });
    req.model.clear();
    req.model.push_str(model_id);
    SurfaceChatBody {
        body: serde_json::to_vec(&req).unwrap_or_default(),
        stream,
        include_usage,
    }
}

#[derive(Deserialize)]
struct FinishOnly {
    #[serde(default)]
    finish_reason: Option<String>,
}

/// A relayed answer: the client's bytes and what the gateway records of it.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub body: Vec<u8>,
    pub usage: Option<Usage>,
    pub finish_reasons: Vec<String>,
}

fn upstream(what: &str, e: impl std::fmt::Display) -> TranslateError {
    TranslateError::InvalidUpstream(format!("{what}: {e}"))
}

/// A `chat.completion` from the surface, relayed with `model` set to the client's model name.
pub fn relay_completion(body: &[u8], model_name: &str) -> Result<Relayed, TranslateError> {
    let top = TopLevel::parse(body).map_err(|e| upstream("chat completion", e))?;
    let usage = top.parse_member::<Usage>("usage");
    let finish_reasons = top
        .parse_member::<Vec<FinishOnly>>("choices")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.finish_reason)
        .collect();
    let name = json_string(model_name);
    Ok(Relayed {
        body: top.to_vec(&[Edit::Set("model", &name)]),
        usage,
        finish_reasons,
    })
}

/// A `chat.completion` from the surface, typed (for clients that get another shape).
pub fn parse_completion(body: &[u8], model_name: &str) -> Result<ChatCompletion, TranslateError> {
    let mut c: ChatCompletion =
        serde_json::from_slice(body).map_err(|e| upstream("chat completion", e))?;
    c.model.clear();
    c.model.push_str(model_name);
    Ok(c)
}

/// The chunks of a chat stream, relayed one `data:` event at a time.
#[derive(Debug)]
pub struct ChunkRelay {
    model: Vec<u8>,
    include_usage: bool,
    usage: Option<Usage>,
}

impl ChunkRelay {
    /// `include_usage`: whether the client asked for the usage chunk.
    pub fn new(model_name: &str, include_usage: bool) -> Self {
        ChunkRelay {
            model: json_string(model_name),
            include_usage,
            usage: None,
        }
    }

    /// Writes the client's `data: …` event for one upstream chunk into `out` (nothing for a
    /// usage-only chunk the client did not ask for).
    pub fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let top = TopLevel::parse(data).map_err(|e| upstream("chat chunk", e))?;
        let mut drop_usage = false;
        if let Some(usage) = top.parse_member::<Usage>("usage") {
            self.usage = Some(usage);
            if !self.include_usage {
                let no_choices = top.get("choices").is_none_or(|c| {
                    let mut b = c.get().bytes().filter(|b| !b.is_ascii_whitespace());
                    b.next() == Some(b'[') && b.next() == Some(b']')
                });
                if no_choices {
                    return Ok(());
                }
                drop_usage = true;
            }
        }
        let edits = [Edit::Set("model", &self.model), Edit::Remove("usage")];
        out.extend_from_slice(b"data: ");
        top.write(&edits[..if drop_usage { 2 } else { 1 }], out);
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// The stream's usage, once its usage chunk went by.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }
}

/// The chunks of a chat stream, typed (for clients that get another shape).
#[derive(Debug)]
pub struct ChunkParser {
    model: String,
    include_usage: bool,
    usage: Option<Usage>,
}

impl ChunkParser {
    pub fn new(model_name: &str, include_usage: bool) -> Self {
        ChunkParser {
            model: model_name.to_owned(),
            include_usage,
            usage: None,
        }
    }
}

impl EventTranslator for ChunkParser {
    fn on_event(&mut self, _event: &str, payload: &[u8]) -> Result<Vec<ChatChunk>, TranslateError> {
        let mut chunk: ChatChunk =
            serde_json::from_slice(payload).map_err(|e| upstream("chat chunk", e))?;
        chunk.model.clone_from(&self.model);
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
            if !self.include_usage {
                if chunk.choices.is_empty() {
                    return Ok(Vec::new());
                }
                chunk.usage = None;
            }
        }
        Ok(vec![chunk])
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        Vec::new()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.clone()
    }
}
