//! Model ids: percent-decoding, ARN and cross-region-prefix stripping, and the model family
//! that decides which native body an InvokeModel request uses.

use crate::error::BedrockException;
use serde_json::Value;

/// The model families the emulator knows how to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Claude (Messages API; legacy text completion when the body has `prompt`).
    Anthropic,
    /// Meta Llama (`prompt` → `generation`).
    Llama,
    /// Mistral (`prompt` → `outputs`, or chat `messages` → `choices`).
    Mistral,
    /// Amazon Titan text (`inputText` → `results`).
    TitanText,
    /// Amazon Nova understanding models (`messages-v1` schema).
    Nova,
    /// Titan text embeddings v1.
    TitanEmbedV1,
    /// Titan text embeddings v2.
    TitanEmbedV2,
    /// Titan multimodal embeddings.
    TitanEmbedImage,
    /// Nova multimodal embeddings.
    NovaEmbed,
    /// Titan image generator and Nova Canvas.
    TitanImage,
    /// Cohere command / command-light (`prompt` → `generations`).
    CohereCommand,
    /// Cohere command-r / r+ (`message` → `text`).
    CohereCommandR,
    /// Cohere embed v3 (english / multilingual).
    CohereEmbedV3,
    /// Cohere embed v4.
    CohereEmbedV4,
    /// Cohere / Amazon rerank through InvokeModel.
    Rerank,
    /// AI21 Jurassic-2 (`prompt` → `completions`).
    Ai21J2,
    /// AI21 Jamba (chat `messages` → `choices`).
    Ai21Jamba,
    /// DeepSeek R1 (`prompt` → `choices[].text` with `<think>`).
    DeepSeekR1,
    /// Qwen (ChatML `prompt` → `generation`, or chat `messages`).
    Qwen,
    /// OpenAI-format chat bodies (gpt-oss, Moonshot/Kimi, DeepSeek v3, imported OpenAI-style).
    OpenAi,
    /// TwelveLabs Pegasus (`inputPrompt` + `mediaSource` → `message`).
    Pegasus,
    /// Stability SD3 / SD3.5 / Stable Image Ultra / Core.
    Stability,
    /// Legacy Stability SDXL (`text_prompts` → `artifacts`).
    StabilitySdxl,
    /// A Converse-only model of a known provider (Writer, Google, …).
    OtherChat,
    /// An ARN that does not name the model (custom/imported/provisioned/application profile):
    /// the invoke body format is inferred from the body.
    Opaque,
}

impl Family {
    /// Whether the model is a text/chat model Converse can talk to.
    pub fn supports_converse(self) -> bool {
        !matches!(
            self,
            Family::TitanEmbedV1
                | Family::TitanEmbedV2
                | Family::TitanEmbedImage
                | Family::NovaEmbed
                | Family::TitanImage
                | Family::CohereEmbedV3
                | Family::CohereEmbedV4
                | Family::Rerank
                | Family::Stability
                | Family::StabilitySdxl
        )
    }
}

const GEO_PREFIXES: &[&str] = &[
    "us", "eu", "apac", "global", "jp", "au", "us-gov", "ca", "de",
];

/// Percent-decodes the model id taken from the URL path.
pub fn decode_model_id(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// The bare foundation model id (`anthropic.claude-…`) or `None` for ARNs that do not name one.
pub fn base_model_id(model_id: &str) -> Option<&str> {
    let id = if let Some(rest) = model_id.strip_prefix("arn:") {
        // arn:partition:bedrock:region:account:resource-type/resource
        let resource = rest.splitn(5, ':').nth(4)?;
        let (kind, name) = resource.split_once('/')?;
        match kind {
            "foundation-model" | "inference-profile" => name,
            _ => return None,
        }
    } else {
        model_id
    };
    match id.split_once('.') {
        Some((geo, rest)) if GEO_PREFIXES.contains(&geo) && rest.contains('.') => Some(rest),
        _ => Some(id),
    }
}

/// The family of a model id, or a `ValidationException` for an unknown provider.
pub fn family_of(model_id: &str) -> Result<Family, BedrockException> {
    let Some(id) = base_model_id(model_id) else {
        if model_id.starts_with("arn:aws") && model_id.contains(":bedrock:") {
            return Ok(Family::Opaque);
        }
        return Err(invalid_model());
    };
    let (provider, name) = id.split_once('.').ok_or_else(invalid_model)?;
    let family = match provider {
        "anthropic" => Family::Anthropic,
        "meta" => Family::Llama,
        "mistral" => Family::Mistral,
        "amazon" => amazon_family(name),
        "cohere" => cohere_family(name),
        "ai21" if name.starts_with("j2") => Family::Ai21J2,
        "ai21" => Family::Ai21Jamba,
        "deepseek" if name.starts_with("r1") => Family::DeepSeekR1,
        "deepseek" => Family::OpenAi,
        "qwen" => Family::Qwen,
        "openai" | "moonshot" | "moonshotai" => Family::OpenAi,
        "twelvelabs" if name.starts_with("pegasus") => Family::Pegasus,
        "stability" if name.starts_with("stable-diffusion-xl") => Family::StabilitySdxl,
        "stability" => Family::Stability,
        "writer" | "google" | "minimax" | "nvidia" | "zai" | "luma" | "twelvelabs" => {
            Family::OtherChat
        }
        _ => return Err(invalid_model()),
    };
    Ok(family)
}

fn amazon_family(name: &str) -> Family {
    if name.starts_with("titan-embed-text-v1") || name.starts_with("titan-embed-g1-text") {
        Family::TitanEmbedV1
    } else if name.starts_with("titan-embed-text-v2") {
        Family::TitanEmbedV2
    } else if name.starts_with("titan-embed-image") {
        Family::TitanEmbedImage
    } else if name.starts_with("titan-image") || name.starts_with("nova-canvas") {
        Family::TitanImage
    } else if name.contains("multimodal-embeddings") {
        Family::NovaEmbed
    } else if name.starts_with("rerank") {
        Family::Rerank
    } else if name.starts_with("titan-") {
        Family::TitanText
    } else {
        Family::Nova
    }
}

fn cohere_family(name: &str) -> Family {
    if name.starts_with("embed-v4") {
        Family::CohereEmbedV4
    } else if name.starts_with("embed") {
        Family::CohereEmbedV3
    } else if name.starts_with("rerank") {
        Family::Rerank
    } else if name.starts_with("command-r") {
        Family::CohereCommandR
    } else {
        Family::CohereCommand
    }
}

/// Infers the invoke body family of an opaque ARN from the request body.
pub fn family_from_body(body: &Value) -> Family {
    let has = |k: &str| body.get(k).is_some();
    if has("anthropic_version") {
        Family::Anthropic
    } else if has("schemaVersion") {
        Family::Nova
    } else if has("messages") {
        Family::OpenAi
    } else if has("inputText") && has("textGenerationConfig") {
        Family::TitanText
    } else if has("texts") {
        Family::CohereEmbedV3
    } else {
        Family::Llama
    }
}

/// Bedrock's answer to a model id it does not know.
pub fn invalid_model() -> BedrockException {
    BedrockException::validation("The provided model identifier is invalid.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_strips_prefixes() {
        let id = decode_model_id("us.anthropic.claude-3-haiku-20240307-v1%3A0");
        assert_eq!(id, "us.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(
            base_model_id(&id),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"
            ),
            Some("meta.llama3-8b-instruct-v1:0")
        );
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
            ),
            None
        );
    }

    #[test]
    fn families() {
        let f = |id: &str| family_of(id).unwrap();
        assert_eq!(
            f("anthropic.claude-3-haiku-20240307-v1:0"),
            Family::Anthropic
        );
        assert_eq!(
            f("global.anthropic.claude-sonnet-4-20250514-v1:0"),
            Family::Anthropic
        );
        assert_eq!(f("amazon.titan-embed-text-v2:0"), Family::TitanEmbedV2);
        assert_eq!(f("amazon.nova-canvas-v1:0"), Family::TitanImage);
        assert_eq!(f("amazon.nova-pro-v1:0"), Family::Nova);
        assert_eq!(
            f("amazon.nova-2-multimodal-embeddings-v1:0"),
            Family::NovaEmbed
        );
        assert_eq!(f("cohere.embed-english-v3"), Family::CohereEmbedV3);
        assert_eq!(f("cohere.rerank-v3-5:0"), Family::Rerank);
        assert_eq!(f("deepseek.r1-v1:0"), Family::DeepSeekR1);
        assert_eq!(f("openai.gpt-oss-20b-1:0"), Family::OpenAi);
        assert_eq!(
            f("arn:aws:bedrock:us-east-1:123456789012:imported-model/xyz"),
            Family::Opaque
        );
        assert!(family_of("acme.super-model-v1").is_err());
        assert!(family_of("nonsense").is_err());
    }
}
