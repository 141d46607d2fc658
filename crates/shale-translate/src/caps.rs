//! What a Bedrock model supports, derived from its id. The tables are deliberately conservative:
//! a capability is only claimed for model ids known to have it.

/// Model vendor family (decides parameter placement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFamily {
    Anthropic,
    /// Amazon Nova 1 (micro, lite, pro, premier).
    Nova,
    /// Amazon Nova 2 (reasoning, native structured output).
    Nova2,
    Llama,
    Mistral,
    DeepSeek,
    GptOss,
    Qwen,
    Cohere,
    Ai21,
    Titan,
    Writer,
    Other,
}

/// Where `top_k` goes in `additionalModelRequestFields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKPlacement {
    /// `additionalModelRequestFields.top_k`.
    TopK,
    /// `additionalModelRequestFields.inferenceConfig.topK` (Nova).
    NovaInferenceConfig,
}

/// Capabilities of one model.
///
/// Native structured output (`outputConfig.textFormat`) is claimed for Claude Sonnet 4.5,
/// Haiku 4.5, Opus 4.1 / 4.5 and later Claude 4.x releases, and for Nova 2; every other model gets
/// JSON mode through the forced `json_tool_call` tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCaps {
    pub family: ModelFamily,
    /// The id without region prefix or ARN, e.g. `anthropic.claude-sonnet-4-5-20250929-v1:0`.
    pub base_id: String,
    /// `outputConfig.textFormat` json_schema is accepted.
    pub native_structured_output: bool,
    /// Anthropic extended thinking (`thinking` / `reasoning_effort` → budget tokens).
    pub supports_thinking: bool,
    /// `additionalModelRequestFields.reasoning_effort` (gpt-oss, DeepSeek v3).
    pub supports_reasoning_effort_field: bool,
    /// `additionalModelRequestFields.reasoningConfig` (Nova 2).
    pub supports_reasoning_config: bool,
    /// `toolChoice` `any` / `tool` is accepted (otherwise downgraded to auto).
    pub supports_forced_tool_choice: bool,
    /// `cachePoint` blocks are accepted (otherwise `cache_control` is ignored).
    pub supports_cache_point: bool,
    /// `anthropic_beta`, `tool_choice.disable_parallel_tool_use` are understood.
    pub anthropic_fields: bool,
    /// A final assistant prefill must not end in whitespace.
    pub trim_prefill_whitespace: bool,
    pub top_k: TopKPlacement,
}

/// Cross-region inference prefixes, stripped only for capability lookup.
const REGION_PREFIXES: &[&str] = &["us-gov.", "global.", "apac.", "us.", "eu.", "jp.", "au."];

/// The id with an ARN resource path or route prefix (`bedrock/converse/`, `us-east-1/`, ...) and
/// a cross-region prefix removed.
pub fn base_model_id(id: &str) -> &str {
    let id = id.rsplit_once('/').map_or(id, |(_, rest)| rest);
    for p in REGION_PREFIXES {
        if let Some(rest) = id.strip_prefix(p) {
            return rest;
        }
    }
    id
}

impl ModelCaps {
    /// Capabilities for a Bedrock model id, inference-profile id or ARN (an opaque application
    /// inference profile ARN yields [`ModelFamily::Other`] with permissive defaults).
    pub fn for_model_id(id: &str) -> Self {
        let base = base_model_id(id).to_ascii_lowercase();
        let family = family_of(&base);
        let claude_thinking = family == ModelFamily::Anthropic && claude_supports_thinking(&base);
        let claude_native = family == ModelFamily::Anthropic && claude_native_structured(&base);
        ModelCaps {
            family,
            native_structured_output: claude_native || family == ModelFamily::Nova2,
            supports_thinking: claude_thinking,
            supports_reasoning_effort_field: family == ModelFamily::GptOss
                || (family == ModelFamily::DeepSeek && base.contains("v3")),
            supports_reasoning_config: family == ModelFamily::Nova2,
            supports_forced_tool_choice: matches!(
                family,
                ModelFamily::Anthropic
                    | ModelFamily::Nova
                    | ModelFamily::Nova2
                    | ModelFamily::Mistral
                    | ModelFamily::Cohere
                    | ModelFamily::Qwen
                    | ModelFamily::GptOss
                    | ModelFamily::Other
            ),
            supports_cache_point: matches!(
                family,
                ModelFamily::Anthropic
                    | ModelFamily::Nova
                    | ModelFamily::Nova2
                    | ModelFamily::Other
            ),
            anthropic_fields: family == ModelFamily::Anthropic,
            trim_prefill_whitespace: family == ModelFamily::Anthropic,
            top_k: if matches!(family, ModelFamily::Nova | ModelFamily::Nova2) {
                TopKPlacement::NovaInferenceConfig
            } else {
                TopKPlacement::TopK
            },
            base_id: base,
        }
    }
}

fn family_of(base: &str) -> ModelFamily {
    let vendor = base.split('.').next().unwrap_or("");
    match vendor {
        "anthropic" => ModelFamily::Anthropic,
        "amazon" if base.starts_with("amazon.nova-2") => ModelFamily::Nova2,
        "amazon" if base.starts_with("amazon.nova") => ModelFamily::Nova,
        "amazon" if base.starts_with("amazon.titan") => ModelFamily::Titan,
        "meta" => ModelFamily::Llama,
        "mistral" => ModelFamily::Mistral,
        "deepseek" => ModelFamily::DeepSeek,
        "openai" if base.contains("gpt-oss") => ModelFamily::GptOss,
        "qwen" => ModelFamily::Qwen,
        "cohere" => ModelFamily::Cohere,
        "ai21" => ModelFamily::Ai21,
        "writer" => ModelFamily::Writer,
        _ => ModelFamily::Other,
    }
}

/// Claude 3.7 Sonnet and every Claude 4+ model.
fn claude_supports_thinking(base: &str) -> bool {
    base.contains("claude-3-7") || claude_major(base).is_some_and(|m| m >= 4)
}

/// Claude models with native structured output: 4.5-era (Sonnet 4.5, Haiku 4.5, Opus 4.5),
/// Opus 4.1, and any later version.
fn claude_native_structured(base: &str) -> bool {
    let Some((major, minor)) = claude_version(base) else {
        return false;
    };
    major > 4 || (major == 4 && minor >= 5) || (major == 4 && minor == 1 && base.contains("opus"))
}

fn claude_major(base: &str) -> Option<u32> {
    claude_version(base).map(|(m, _)| m)
}

/// `(major, minor)` from ids like `claude-sonnet-4-5-2025...`, `claude-opus-4-20250514`,
/// `claude-3-7-sonnet-...`.
fn claude_version(base: &str) -> Option<(u32, u32)> {
    let rest = &base[base.find("claude-")? + "claude-".len()..];
    let mut nums = rest
        .split(['-', ':'])
        .skip_while(|s| s.parse::<u32>().is_err())
        .map_while(|s| s.parse::<u32>().ok().filter(|_| s.len() <= 2));
    let major = nums.next()?;
    let minor = nums.next().unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_region_prefix_and_arn() {
        assert_eq!(
            base_model_id("us.anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(base_model_id("us-gov.meta.llama3"), "meta.llama3");
        assert_eq!(
            base_model_id("bedrock/converse/eu.amazon.nova-lite-v1:0"),
            "amazon.nova-lite-v1:0"
        );
        assert_eq!(
            base_model_id("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"),
            "amazon.nova-pro-v1:0"
        );
    }

    #[test]
    fn claude_tables() {
        let c = ModelCaps::for_model_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(c.family, ModelFamily::Anthropic);
        assert!(c.native_structured_output && c.supports_thinking);
        let c = ModelCaps::for_model_id("anthropic.claude-3-7-sonnet-20250219-v1:0");
        assert!(c.supports_thinking && !c.native_structured_output);
        let c = ModelCaps::for_model_id("anthropic.claude-sonnet-4-20250514-v1:0");
        assert!(c.supports_thinking && !c.native_structured_output);
        let c = ModelCaps::for_model_id("us.anthropic.claude-opus-4-1-20250805-v1:0");
        assert!(c.native_structured_output);
        let c = ModelCaps::for_model_id("anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert!(!c.supports_thinking && !c.native_structured_output);
        let c = ModelCaps::for_model_id("anthropic.claude-3-haiku-20240307-v1:0");
        assert!(!c.supports_thinking);
    }

    #[test]
    fn other_families() {
        assert_eq!(
            ModelCaps::for_model_id("us.amazon.nova-2-lite-v1:0").family,
            ModelFamily::Nova2
        );
        let nova = ModelCaps::for_model_id("amazon.nova-pro-v1:0");
        assert_eq!(nova.family, ModelFamily::Nova);
        assert_eq!(nova.top_k, TopKPlacement::NovaInferenceConfig);
        assert!(ModelCaps::for_model_id("openai.gpt-oss-20b-1:0").supports_reasoning_effort_field);
        assert!(ModelCaps::for_model_id("deepseek.v3-v1:0").supports_reasoning_effort_field);
        assert!(!ModelCaps::for_model_id("us.deepseek.r1-v1:0").supports_reasoning_effort_field);
        let llama = ModelCaps::for_model_id("meta.llama3-1-70b-instruct-v1:0");
        assert_eq!(llama.family, ModelFamily::Llama);
        assert!(!llama.supports_forced_tool_choice && !llama.supports_cache_point);
        assert_eq!(
            ModelCaps::for_model_id("arn:aws:bedrock:us-east-1:1:application-inference-profile/x")
                .family,
            ModelFamily::Other
        );
    }
}
