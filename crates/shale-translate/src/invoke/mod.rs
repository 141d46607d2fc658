//! OpenAI chat ⇄ Bedrock InvokeModel / InvokeModelWithResponseStream with model-native bodies:
//! the invoke route (`bedrock/invoke/<id>`, the families LiteLLM sends to invoke by default, and
//! the `llama/`, `deepseek_r1/`, `qwen2/`, `qwen3/`, `openai/`, `moonshot/` specs).
//!
//! Server usage:
//! 1. [`InvokeFamily::detect`] (or the route spec) once per deployment (`None` → the model has no chat invoke body;
//!    answer 400 or use Converse).
//! 2. [`chat_to_invoke`] → a [`ChatCall`]: POST `body` to `/model/{id}/invoke` (or
//!    `/invoke-with-response-stream` when `stream` and [`InvokeFamily::supports_streaming`]) with
//!    `headers` added.
//! 3. Non-streaming: [`invoke_to_chat`] with the body and the
//!    `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count` header values.
//!    Streaming: an [`InvokeStreamTranslator`] per stream. A streaming request for a family that
//!    cannot stream is answered with InvokeModel and [`completion_to_chunks`].

mod anthropic;
mod common;
pub mod headers;
mod native;
mod openai_format;
mod prompt;
mod response;
mod stream;

use serde_json::Value;

pub use anthropic::{anthropic_tool_id, default_max_tokens, ANTHROPIC_VERSION};
pub use stream::{completion_to_chunks, InvocationMetrics, InvokeStreamTranslator};

use crate::caps::base_model_id;
use crate::chat::{BedrockBody, ChatApi, ChatCall};
use crate::completion::ChatCompletion;
use crate::context::{ChatContext, JsonMode, ResponseContext};
use crate::error::TranslateError;
use crate::names::ToolNameMap;
use crate::openai::ChatRequest;

/// The model-native body format of an invoke deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvokeFamily {
    /// Claude: Anthropic Messages (`anthropic_version: bedrock-2023-05-31`).
    Anthropic,
    /// Llama 2 chat: `<s>[INST] <<SYS>>…` prompt, `max_gen_len`.
    Llama2,
    /// Llama 3.x (and Llama 4 headers for `llama4` ids), and the `llama/` spec.
    Llama3,
    /// Mistral 7B / Mixtral / Mistral Large on invoke: `<s>[INST] … [/INST]`, `outputs[0].text`.
    Mistral,
    /// Amazon Titan text: `inputText` + `textGenerationConfig`, `results[0].outputText`.
    TitanText,
    /// Cohere Command / Command Light: `prompt`, `generations[0].text`.
    CohereCommand,
    /// Cohere Command R / R+: `message` + `chat_history`, `text`.
    CohereCommandR,
    /// AI21 Jurassic-2: `prompt`, `completions[0].data.text` (no streaming).
    Ai21J2,
    /// AI21 Jamba: OpenAI-like `messages` with string content.
    Ai21Jamba,
    /// DeepSeek R1 (and the `deepseek_r1/` spec): prompt template, reasoning split at `</think>`.
    DeepSeekR1,
    /// ChatML prompt (`qwen2/`, `qwen3/` imported models).
    Qwen,
    /// OpenAI chat bodies: `openai/` and `moonshot/` specs, `openai.`, `moonshot.`, `qwen.` and
    /// `deepseek.` (non-R1) foundation models.
    OpenAiFormat,
    /// TwelveLabs Pegasus: `inputPrompt` + `mediaSource`.
    Pegasus,
}

impl InvokeFamily {
    /// Every family, in declaration order.
    pub const ALL: [InvokeFamily; 13] = [
        InvokeFamily::Anthropic,
        InvokeFamily::Llama2,
        InvokeFamily::Llama3,
        InvokeFamily::Mistral,
        InvokeFamily::TitanText,
        InvokeFamily::CohereCommand,
        InvokeFamily::CohereCommandR,
        InvokeFamily::Ai21J2,
        InvokeFamily::Ai21Jamba,
        InvokeFamily::DeepSeekR1,
        InvokeFamily::Qwen,
        InvokeFamily::OpenAiFormat,
        InvokeFamily::Pegasus,
    ];

    /// From the base model id (cross-region prefix already stripped, e.g.
    /// `anthropic.claude-3-haiku-20240307-v1:0`; a prefix or foundation-model ARN is tolerated).
    /// `None` when the id names no chat model with an invoke body (embeddings, images, rerank,
    /// Nova, unknown providers, opaque ARNs). An explicit route spec (`llama/`, `qwen3/`, …) is
    /// mapped by the caller and wins over this.
    pub fn detect(base_model: &str) -> Option<InvokeFamily> {
        let id = base_model_id(base_model).to_ascii_lowercase();
        let (vendor, name) = id.split_once('.')?;
        Some(match vendor {
            "anthropic" => InvokeFamily::Anthropic,
            "meta" if name.starts_with("llama2") => InvokeFamily::Llama2,
            "meta" if name.starts_with("llama") => InvokeFamily::Llama3,
            "mistral" => InvokeFamily::Mistral,
            "amazon" if name.starts_with("titan-text") || name.starts_with("titan-tg1") => {
                InvokeFamily::TitanText
            }
            "cohere" if name.starts_with("command-r") => InvokeFamily::CohereCommandR,
            "cohere" if name.starts_with("command") => InvokeFamily::CohereCommand,
            "ai21" if name.starts_with("j2") => InvokeFamily::Ai21J2,
            "ai21" if name.starts_with("jamba") => InvokeFamily::Ai21Jamba,
            "deepseek" if name.starts_with("r1") => InvokeFamily::DeepSeekR1,
            "deepseek" | "openai" | "moonshot" | "moonshotai" | "qwen" => {
                InvokeFamily::OpenAiFormat
            }
            "twelvelabs" if name.starts_with("pegasus") => InvokeFamily::Pegasus,
            _ => return None,
        })
    }

    /// Whether Bedrock offers InvokeModelWithResponseStream for the family (AI21 J2 does not:
    /// answer a streaming request with InvokeModel and [`completion_to_chunks`]).
    pub fn supports_streaming(self) -> bool {
        self != InvokeFamily::Ai21J2
    }

    /// A human-readable name for error messages.
    pub fn display_name(self) -> &'static str {
        match self {
            InvokeFamily::Anthropic => "Claude (Anthropic Messages)",
            InvokeFamily::Llama2 => "Llama 2",
            InvokeFamily::Llama3 => "Llama",
            InvokeFamily::Mistral => "Mistral",
            InvokeFamily::TitanText => "Amazon Titan Text",
            InvokeFamily::CohereCommand => "Cohere Command",
            InvokeFamily::CohereCommandR => "Cohere Command R",
            InvokeFamily::Ai21J2 => "AI21 Jurassic-2",
            InvokeFamily::Ai21Jamba => "AI21 Jamba",
            InvokeFamily::DeepSeekR1 => "DeepSeek R1",
            InvokeFamily::Qwen => "Qwen (ChatML)",
            InvokeFamily::OpenAiFormat => "the OpenAI-format model",
            InvokeFamily::Pegasus => "TwelveLabs Pegasus",
        }
    }
}

/// Translate an OpenAI chat request into `family`'s invoke body and headers. Takes the request
/// by value so large strings move into the body. `ctx` is the same per-deployment context as
/// Converse (deployment defaults, `modify_params`, `anthropic-beta` header, fetched media).
///
/// Bad input yields [`TranslateError::InvalidRequest`] naming the field: e.g. `n` > 1, tools on a
/// family without tool use, media a family cannot take, Pegasus without a video, a malformed
/// `guardrailConfig`.
pub fn chat_to_invoke(
    req: ChatRequest,
    family: InvokeFamily,
    ctx: &ChatContext<'_>,
) -> Result<ChatCall, TranslateError> {
    let mut p = common::prepare(req, ctx, family == InvokeFamily::Anthropic)?;
    let (body, tool_names, json_mode) = match family {
        InvokeFamily::Anthropic => anthropic::build(&mut p, ctx)?,
        InvokeFamily::OpenAiFormat | InvokeFamily::Ai21Jamba => (
            openai_format::build(family, &mut p)?,
            ToolNameMap::new(),
            JsonMode::None,
        ),
        _ => (
            prompt::build(family, &mut p, ctx.caps)?,
            ToolNameMap::new(),
            JsonMode::None,
        ),
    };
    Ok(ChatCall {
        api: ChatApi::Invoke(family),
        body: BedrockBody::Json(Value::Object(body)),
        headers: p.headers,
        tool_names,
        json_mode,
        include_usage: p.include_usage,
        stream: p.stream,
    })
}

/// Translate an InvokeModel response body into a `chat.completion`. `headers_usage` is
/// (`X-Amzn-Bedrock-Input-Token-Count`, `X-Amzn-Bedrock-Output-Token-Count`), used when the
/// body reports no usage.
pub fn invoke_to_chat(
    family: InvokeFamily,
    body: &[u8],
    headers_usage: Option<(u64, u64)>,
    ctx: &ResponseContext<'_>,
) -> Result<ChatCompletion, TranslateError> {
    let parts = match family {
        InvokeFamily::Anthropic => anthropic::parse_response(body, ctx)?,
        InvokeFamily::OpenAiFormat | InvokeFamily::Ai21Jamba => {
            openai_format::parse_response(family, body)?
        }
        _ => native::parse_response(family, body)?,
    };
    Ok(response::assemble(parts, headers_usage, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_families() {
        let d = |_: Option<&str>, id: &str| InvokeFamily::detect(id);
        use InvokeFamily::*;
        assert_eq!(
            d(None, "anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Anthropic)
        );
        assert_eq!(d(None, "anthropic.claude-v2:1"), Some(Anthropic));
        assert_eq!(
            d(None, "us.anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Anthropic)
        );
        assert_eq!(d(None, "meta.llama2-13b-chat-v1"), Some(Llama2));
        assert_eq!(d(None, "meta.llama3-1-8b-instruct-v1:0"), Some(Llama3));
        assert_eq!(d(None, "mistral.mixtral-8x7b-instruct-v0:1"), Some(Mistral));
        assert_eq!(d(None, "amazon.titan-text-express-v1"), Some(TitanText));
        assert_eq!(d(None, "amazon.titan-embed-text-v2:0"), None);
        assert_eq!(d(None, "amazon.nova-pro-v1:0"), None);
        assert_eq!(d(None, "cohere.command-text-v14"), Some(CohereCommand));
        assert_eq!(d(None, "cohere.command-r-plus-v1:0"), Some(CohereCommandR));
        assert_eq!(d(None, "cohere.embed-english-v3"), None);
        assert_eq!(d(None, "ai21.j2-ultra-v1"), Some(Ai21J2));
        assert_eq!(d(None, "ai21.jamba-1-5-large-v1:0"), Some(Ai21Jamba));
        assert_eq!(d(None, "deepseek.r1-v1:0"), Some(DeepSeekR1));
        assert_eq!(d(None, "deepseek.v3-v1:0"), Some(OpenAiFormat));
        assert_eq!(d(None, "moonshot.kimi-k2-thinking"), Some(OpenAiFormat));
        assert_eq!(d(None, "openai.gpt-oss-20b-1:0"), Some(OpenAiFormat));
        assert_eq!(d(None, "twelvelabs.pegasus-1-2-v1:0"), Some(Pegasus));
        assert_eq!(d(None, "twelvelabs.marengo-embed-2-7-v1:0"), None);
        assert_eq!(d(None, "stability.sd3-large-v1:0"), None);
        assert_eq!(d(None, "abc123"), None);
        assert_eq!(d(None, "kimi"), None);
        assert!(!Ai21J2.supports_streaming() && Llama3.supports_streaming());
    }
}
