//! Parsing LiteLLM's `litellm_params.model` string (`bedrock/[region/][route/]<model id>`, and
//! `bedrock_mantle/[region/]<model id>`) into a typed [`ModelRoute`] once, at config load. See
//! litellm-bedrock-behaviour.md §1; which surface a Mantle or `/openai/v1` model uses is the model
//! table's (`surface.rs`).

use crate::surface::{mantle_plan, runtime_openai_plan, SurfacePlan};
use thiserror::Error;

/// Which Bedrock API carries a chat request for this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /model/{id}/converse` and `/converse-stream`.
    Converse,
    /// `POST /model/{id}/invoke` and `/invoke-with-response-stream` with a model-native body.
    Invoke,
    /// A Converse body POSTed verbatim to `api_base` with `Authorization: Bearer api_key`.
    ConverseLike,
    /// bedrock-mantle, or bedrock-runtime's `/openai/v1`: OpenAI chat, Responses or Anthropic
    /// Messages over HTTP + SSE ([`ModelRoute::surface`] says which).
    Surface,
}

/// An explicit invoke body format forced by a route prefix (`bedrock/llama/<arn>` …), used for imported
/// models whose id says nothing about their family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeSpec {
    /// `openai/`: an OpenAI chat body.
    OpenAi,
    /// `llama/`: Llama prompt template.
    Llama,
    /// `deepseek_r1/`: DeepSeek R1 prompt template, reasoning split at `</think>`.
    DeepSeekR1,
    /// `qwen3/`: ChatML prompt.
    Qwen3,
    /// `qwen2/`: ChatML prompt.
    Qwen2,
    /// `moonshot/`: OpenAI-format body for Kimi.
    Moonshot,
}

/// The typed form of a deployment's `model` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRoute {
    pub api: Api,
    /// Set when a spec prefix forced the invoke body format.
    pub spec: Option<InvokeSpec>,
    /// The Bedrock model id exactly as it goes into the URL (cross-region prefix kept, ARNs whole),
    /// not yet percent-encoded.
    pub model_id: String,
    /// The id with any cross-region prefix removed and, for ARNs naming a foundation model or system
    /// inference profile, the resource id: what capabilities are looked up by.
    pub base_model: String,
    /// `us`, `eu`, `apac`, `global`, … when the id carries a cross-region prefix.
    pub cross_region_prefix: Option<String>,
    /// A region given as a path segment: `bedrock/us-east-1/<model>`.
    pub region: Option<String>,
    /// The region named by an ARN model id, if any.
    pub arn_region: Option<String>,
    /// Whether `api` was chosen by an explicit `converse/` / `invoke/` / spec prefix.
    pub explicit: bool,
    /// For [`Api::Surface`]: the host, APIs and paths (from the model table or `litellm_params.api`).
    pub surface: Option<SurfacePlan>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("`model` must start with `bedrock/` or `bedrock_mantle/` (shale serves Amazon Bedrock only), got `{0}`")]
    NotBedrock(String),
    #[error("`model` names no Bedrock model id after the route prefix: `{0}`")]
    EmptyModelId(String),
}

/// Cross-region inference profile prefixes; kept in URLs, stripped for capability lookup.
const CROSS_REGION_PREFIXES: &[&str] = &["global", "us-gov", "us", "eu", "apac", "jp", "au", "ca"];

/// Ids LiteLLM routes to invoke by default: providers/models that Converse does not serve.
const INVOKE_BY_DEFAULT: &[&str] = &[
    "anthropic.claude-v1",
    "anthropic.claude-v2",
    "anthropic.claude-instant",
    "cohere.command-text",
    "cohere.command-light",
    "cohere.embed",
    "cohere.rerank",
    "mistral.mistral-7b",
    "mistral.mixtral-8x7b",
    "amazon.titan",
    "meta.llama2",
    "ai21.j2",
    "deepseek.r1",
    "twelvelabs.",
    "stability.",
];

impl ModelRoute {
    /// Parses `bedrock/[region/][converse|invoke|converse_like|openai|llama|deepseek_r1|qwen3|qwen2|moonshot/]<id>`,
    /// `bedrock/mantle/<id>` and `bedrock_mantle/[region/]<id>`.
    pub fn parse(model: &str) -> Result<ModelRoute, RouteError> {
        if let Some(rest) = model.strip_prefix("bedrock_mantle/") {
            return ModelRoute::mantle(model, rest);
        }
        let rest = model
            .strip_prefix("bedrock/")
            .ok_or_else(|| RouteError::NotBedrock(model.to_string()))?;

        let (region, rest) = match rest.split_once('/') {
            Some((first, tail)) if looks_like_region(first) => (Some(first.to_string()), tail),
            _ => (None, rest),
        };
        // LiteLLM's older spelling of Claude on Mantle.
        if let Some(id) = rest.strip_prefix("mantle/") {
            let mut route = ModelRoute::mantle(model, id)?;
            route.region = route.region.or(region);
            return Ok(route);
        }

        let mut api = None;
        let mut spec = None;
        let mut rest = rest;
        for _ in 0..2 {
            let Some((prefix, tail)) = rest.split_once('/') else {
                break;
            };
            let matched = match prefix {
                "converse" if api.is_none() => {
                    api = Some(Api::Converse);
                    true
                }
                "invoke" if api.is_none() => {
                    api = Some(Api::Invoke);
                    true
                }
                "converse_like" if api.is_none() => {
                    api = Some(Api::ConverseLike);
                    true
                }
                _ => match spec_for(prefix) {
                    Some(s) if spec.is_none() => {
                        spec = Some(s);
                        api = Some(Api::Invoke);
                        true
                    }
                    _ => false,
                },
            };
            if !matched {
                break;
            }
            rest = tail;
        }

        if rest.trim().is_empty() {
            return Err(RouteError::EmptyModelId(model.to_string()));
        }
        let model_id = rest.to_string();
        let (base_model, cross_region_prefix, arn_region) = analyse_id(&model_id);
        let explicit = api.is_some();
        // Models bedrock-runtime serves only through /openai/v1 (no Converse, no InvokeModel).
        let surface = if explicit {
            None
        } else {
            runtime_openai_plan(&base_model)
        };
        let api = match (api, surface) {
            (Some(api), _) => api,
            (None, Some(_)) => Api::Surface,
            (None, None) => default_api(&model_id, &base_model),
        };
        Ok(ModelRoute {
            api,
            spec,
            model_id,
            base_model,
            cross_region_prefix,
            region,
            arn_region,
            explicit,
            surface,
        })
    }

    /// `bedrock_mantle/[region/]<id>` (after the prefix): bedrock-mantle, APIs from the model table.
    fn mantle(model: &str, rest: &str) -> Result<ModelRoute, RouteError> {
        let (region, rest) = match rest.split_once('/') {
            Some((first, tail)) if looks_like_region(first) => (Some(first.to_string()), tail),
            _ => (None, rest),
        };
        if rest.trim().is_empty() {
            return Err(RouteError::EmptyModelId(model.to_string()));
        }
        let model_id = rest.to_string();
        let (base_model, cross_region_prefix, arn_region) = analyse_id(&model_id);
        Ok(ModelRoute {
            api: Api::Surface,
            spec: None,
            surface: Some(mantle_plan(&base_model)),
            model_id,
            base_model,
            cross_region_prefix,
            region,
            arn_region,
            explicit: true,
        })
    }
}

fn spec_for(prefix: &str) -> Option<InvokeSpec> {
    Some(match prefix {
        "openai" => InvokeSpec::OpenAi,
        "llama" => InvokeSpec::Llama,
        "deepseek_r1" => InvokeSpec::DeepSeekR1,
        "qwen3" => InvokeSpec::Qwen3,
        "qwen2" => InvokeSpec::Qwen2,
        "moonshot" => InvokeSpec::Moonshot,
        _ => return None,
    })
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-1` …
pub(crate) fn looks_like_region(segment: &str) -> bool {
    let parts: Vec<&str> = segment.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// Returns (base model for capability lookup, cross-region prefix, ARN region).
fn analyse_id(model_id: &str) -> (String, Option<String>, Option<String>) {
    let mut arn_region = None;
    let mut id = model_id;
    if let Some(arn) = model_id.strip_prefix("arn:") {
        // arn:partition:bedrock:region:account:resource-type/resource-id
        let fields: Vec<&str> = arn.splitn(5, ':').collect();
        if fields.len() == 5 {
            if !fields[2].is_empty() {
                arn_region = Some(fields[2].to_string());
            }
            id = fields[4]
                .split_once('/')
                .map(|(_, resource)| resource)
                .unwrap_or(fields[4]);
        }
    }
    let (base, prefix) = strip_cross_region_prefix(id);
    (base.to_string(), prefix.map(str::to_string), arn_region)
}

/// `us.anthropic.claude…` → (`anthropic.claude…`, Some("us")).
pub fn strip_cross_region_prefix(id: &str) -> (&str, Option<&str>) {
    for prefix in CROSS_REGION_PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
            // Only a prefix if what follows still looks like `provider.model`.
            if rest.contains('.') {
                return (rest, Some(prefix));
            }
        }
    }
    (id, None)
}

fn default_api(model_id: &str, base_model: &str) -> Api {
    if model_id.contains(":application-inference-profile/") || base_model.starts_with("openai.") {
        return Api::Converse;
    }
    if INVOKE_BY_DEFAULT.iter().any(|p| base_model.starts_with(p)) {
        Api::Invoke
    } else {
        Api::Converse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ModelRoute {
        ModelRoute::parse(s).unwrap()
    }

    #[test]
    fn plain_claude_is_converse() {
        let r = parse("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert_eq!(r.api, Api::Converse);
        assert_eq!(r.model_id, "anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert_eq!(r.base_model, r.model_id);
        assert!(!r.explicit);
    }

    #[test]
    fn cross_region_prefix_kept_in_id_stripped_in_base() {
        let r = parse("bedrock/us.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.model_id, "us.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.base_model, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.cross_region_prefix.as_deref(), Some("us"));
        let r = parse("bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(r.cross_region_prefix.as_deref(), Some("global"));
        let r = parse("bedrock/us-gov.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.cross_region_prefix.as_deref(), Some("us-gov"));
    }

    #[test]
    fn explicit_routes() {
        assert_eq!(
            parse("bedrock/converse/us.amazon.nova-pro-v1:0").api,
            Api::Converse
        );
        let r = parse("bedrock/invoke/anthropic.claude-3-7-sonnet-20250219-v1:0");
        assert_eq!(r.api, Api::Invoke);
        assert!(r.explicit);
        let r = parse("bedrock/converse_like/some-model");
        assert_eq!(r.api, Api::ConverseLike);
        assert_eq!(r.model_id, "some-model");
    }

    #[test]
    fn spec_prefixes_force_invoke() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123";
        for (prefix, spec) in [
            ("openai", InvokeSpec::OpenAi),
            ("llama", InvokeSpec::Llama),
            ("deepseek_r1", InvokeSpec::DeepSeekR1),
            ("qwen3", InvokeSpec::Qwen3),
            ("qwen2", InvokeSpec::Qwen2),
            ("moonshot", InvokeSpec::Moonshot),
        ] {
            let r = parse(&format!("bedrock/{prefix}/{arn}"));
            assert_eq!(r.api, Api::Invoke, "{prefix}");
            assert_eq!(r.spec, Some(spec));
            assert_eq!(r.model_id, arn);
            assert_eq!(r.arn_region.as_deref(), Some("us-east-1"));
        }
    }

    #[test]
    fn invoke_by_default_families() {
        for id in [
            "anthropic.claude-v2:1",
            "anthropic.claude-instant-v1",
            "amazon.titan-text-express-v1",
            "cohere.command-text-v14",
            "meta.llama2-13b-chat-v1",
            "mistral.mistral-7b-instruct-v0:2",
            "mistral.mixtral-8x7b-instruct-v0:1",
            "ai21.j2-ultra-v1",
            "us.deepseek.r1-v1:0",
            "us.twelvelabs.pegasus-1-2-v1:0",
            "stability.sd3-5-large-v1:0",
        ] {
            assert_eq!(parse(&format!("bedrock/{id}")).api, Api::Invoke, "{id}");
        }
        for id in [
            "meta.llama3-1-70b-instruct-v1:0",
            "us.amazon.nova-pro-v1:0",
            "mistral.mistral-large-2407-v1:0",
            "ai21.jamba-1-5-large-v1:0",
            "openai.gpt-oss-120b-1:0",
            "qwen.qwen3-235b-a22b-2507-v1:0",
            "cohere.command-r-plus-v1:0",
            "moonshot.kimi-k2-thinking",
        ] {
            assert_eq!(parse(&format!("bedrock/{id}")).api, Api::Converse, "{id}");
        }
    }

    #[test]
    fn region_segment() {
        let r = parse("bedrock/us-east-1/anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.region.as_deref(), Some("us-east-1"));
        assert_eq!(r.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
        let r = parse("bedrock/us-gov-west-1/invoke/anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(r.region.as_deref(), Some("us-gov-west-1"));
        assert_eq!(r.api, Api::Invoke);
    }

    #[test]
    fn application_inference_profile_arn() {
        let arn =
            "arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0a0a0a0a0a0";
        let r = parse(&format!("bedrock/{arn}"));
        assert_eq!(r.api, Api::Converse);
        assert_eq!(r.model_id, arn);
        assert_eq!(r.arn_region.as_deref(), Some("eu-central-1"));
        let r = parse(
            "bedrock/arn:aws:bedrock:us-west-2:123:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
        );
        assert_eq!(r.base_model, "anthropic.claude-3-haiku-20240307-v1:0");
    }

    #[test]
    fn errors() {
        assert_eq!(
            ModelRoute::parse("openai/gpt-4o"),
            Err(RouteError::NotBedrock("openai/gpt-4o".into()))
        );
        assert!(matches!(
            ModelRoute::parse("bedrock/converse/"),
            Err(RouteError::EmptyModelId(_))
        ));
    }

    #[test]
    fn mantle_routes() {
        use crate::surface::{Host, WireApi};
        let r = parse("bedrock_mantle/openai.gpt-oss-120b");
        assert_eq!(r.api, Api::Surface);
        let plan = r.surface.unwrap();
        assert_eq!(plan.host, Host::Mantle);
        assert_eq!(plan.preferred, WireApi::Chat);
        assert_eq!(r.model_id, "openai.gpt-oss-120b");
        assert_eq!(r.region, None);
        let r = parse("bedrock_mantle/eu-west-1/openai.gpt-5.5");
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.surface.unwrap().preferred, WireApi::Responses);
        let r = parse("bedrock/mantle/anthropic.claude-opus-4-8");
        assert_eq!(r.surface.unwrap().preferred, WireApi::Messages);
        assert_eq!(r.model_id, "anthropic.claude-opus-4-8");
        let r = parse("bedrock/us-east-2/mantle/anthropic.claude-opus-4-8");
        assert_eq!(r.region.as_deref(), Some("us-east-2"));
        assert!(matches!(
            ModelRoute::parse("bedrock_mantle/us-east-1/"),
            Err(RouteError::EmptyModelId(_))
        ));
    }

    #[test]
    fn runtime_openai_only_models() {
        use crate::surface::Host;
        let r = parse("bedrock/us.openai.gpt-5.5");
        assert_eq!(r.api, Api::Surface);
        assert_eq!(r.surface.unwrap().host, Host::Runtime);
        assert_eq!(r.model_id, "us.openai.gpt-5.5");
        // An explicit route prefix keeps the old API; gpt-oss stays on Converse.
        assert_eq!(
            parse("bedrock/converse/us.openai.gpt-5.5").api,
            Api::Converse
        );
        assert!(parse("bedrock/converse/us.openai.gpt-5.5")
            .surface
            .is_none());
        assert_eq!(parse("bedrock/openai.gpt-oss-120b-1:0").api, Api::Converse);
    }

    #[test]
    fn region_detection() {
        assert!(looks_like_region("us-east-1"));
        assert!(looks_like_region("ap-southeast-2"));
        assert!(looks_like_region("us-gov-west-1"));
        assert!(!looks_like_region("converse"));
        assert!(!looks_like_region("anthropic.claude-v2"));
        assert!(!looks_like_region("us"));
    }
}
