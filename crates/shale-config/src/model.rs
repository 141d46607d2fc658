//! One `model_list` entry: `model_name`, typed `litellm_params`, `model_info`, and its parsed route.

use crate::fields::Fields;
use crate::{env, json_kind, validation, ConfigError, Finding, ModelRoute, Secret};
use serde_json::{Map, Value};
use std::time::Duration;

/// A deployment as configured: what clients call (`model_name`) and how to reach Bedrock.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    /// Position in `model_list`, for messages.
    pub index: usize,
    pub model_name: String,
    pub params: LitellmParams,
    /// `model_info` as given (`id`, `base_model`, `mode`, costs, capability flags …).
    pub model_info: Map<String, Value>,
    /// The `model` string parsed at load time.
    pub route: ModelRoute,
}

impl ModelEntry {
    /// A label for logs and errors: `model_list[3] (claude)`.
    pub fn label(&self) -> String {
        format!("model_list[{}] ({})", self.index, self.model_name)
    }

    /// One deployment given as JSON (`model_name`, `litellm_params`, `model_info`: the model API's
    /// body, or a stored row) read exactly like `model_list[index]` of the config file: the same
    /// `os.environ/` resolution, typing, checks, errors and findings.
    pub fn from_json(
        index: usize,
        mut value: Value,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(ModelEntry, Vec<Finding>), ConfigError> {
        let mut path = format!("model_list[{index}]");
        env::resolve_env_refs(&mut value, &mut path, lookup_env, None)?;
        let mut findings = Vec::new();
        let entry = ModelEntry::from_value(index, value, &mut findings)?;
        validation::check_entry(&entry)?;
        Ok((entry, findings))
    }

    /// Whether `other` configures the same deployment (everything but its position), secrets
    /// included: an unchanged deployment keeps its resolved target and its router state.
    pub fn same_deployment(&self, other: &ModelEntry) -> bool {
        self.model_name == other.model_name
            && self.params == other.params
            && self.model_info == other.model_info
    }

    /// `model_info.mode` (`chat`, `embedding`, `image_generation`, `rerank`, `completion`), if given.
    pub fn mode(&self) -> Option<&str> {
        self.model_info.get("mode").and_then(Value::as_str)
    }

    pub(crate) fn from_value(
        index: usize,
        value: Value,
        findings: &mut Vec<Finding>,
    ) -> Result<ModelEntry, ConfigError> {
        let path = format!("model_list[{index}]");
        let mut map = match value {
            Value::Object(map) => map,
            other => {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        let model_name = match map.remove("model_name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.model_name"),
                    message: "is required (the name clients send as `model`)".into(),
                })
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.model_name"),
                    message: format!("expected a string, found {}", json_kind(&other)),
                })
            }
        };
        let model_err = |message: String| ConfigError::Model {
            index,
            model_name: model_name.clone(),
            message,
        };

        let params_value = map.remove("litellm_params").unwrap_or(Value::Null);
        let params_map = match params_value {
            Value::Object(m) => m,
            Value::Null => {
                return Err(model_err(
                    "`litellm_params` with a `model` is required".into(),
                ))
            }
            other => {
                return Err(model_err(format!(
                    "`litellm_params` must be a mapping, found {}",
                    json_kind(&other)
                )))
            }
        };
        let params = LitellmParams::from_map(
            params_map,
            &format!("{path}.litellm_params"),
            findings,
            &model_err,
        )?;
        let mut route = ModelRoute::parse(&params.model).map_err(|e| model_err(e.to_string()))?;
        let region = params
            .aws_region_name
            .clone()
            .or_else(|| route.region.clone());
        crate::surface::settle(
            &mut route,
            &crate::surface::SurfaceParams {
                api: params.api,
                region: region.as_deref(),
                endpoint_given: params.api_base.is_some()
                    || params.aws_bedrock_runtime_endpoint.is_some(),
                project_id: params.aws_bedrock_project_id.as_deref(),
                model_id: params.model_id.as_deref(),
            },
            &format!("{path}.litellm_params"),
            findings,
        )
        .map_err(model_err)?;

        let model_info = match map.remove("model_info") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.model_info"),
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        for (key, _) in map {
            findings.push(Finding::ignored(
                format!("{path}.{key}"),
                "unknown model_list key",
            ));
        }
        Ok(ModelEntry {
            index,
            model_name,
            params,
            model_info,
            route,
        })
    }
}

/// `litellm_params` of one deployment. Every key of LiteLLM's Bedrock provider is typed here; keys
/// shale does not know are kept in [`LitellmParams::default_request_params`] and sent as default request
/// parameters (a request's own value wins), as LiteLLM does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LitellmParams {
    /// `bedrock/...` — see [`ModelRoute`].
    pub model: String,
    /// Overrides the id in the URL (provisioned throughput or inference profile ARN).
    pub model_id: Option<String>,
    pub api_key: Option<Secret>,
    pub api_base: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_region_name: Option<String>,
    pub aws_session_name: Option<String>,
    pub aws_profile_name: Option<String>,
    pub aws_role_name: Option<String>,
    pub aws_web_identity_token: Option<Secret>,
    pub aws_external_id: Option<String>,
    pub aws_sts_endpoint: Option<String>,
    pub aws_session_tags: Vec<(String, String)>,
    pub aws_bedrock_runtime_endpoint: Option<String>,
    pub aws_bedrock_agent_runtime_endpoint: Option<String>,
    /// `api`: the API the deployment is called with (`converse`, `invoke`, `openai`, `responses`,
    /// `messages`), overriding the route and the model table (shale's key; see `docs/mantle.md`).
    pub api: Option<crate::surface::ApiChoice>,
    /// `aws_bedrock_project_id`: the bedrock-mantle project (`OpenAI-Project` header; on the
    /// Anthropic surface `anthropic-workspace` / `anthropic-workspace-id`).
    pub aws_bedrock_project_id: Option<String>,
    /// Per-request timeout (LiteLLM: seconds).
    pub timeout: Option<Duration>,
    /// Timeout for streaming requests (to the first byte and between events).
    pub stream_timeout: Option<Duration>,
    /// `max_retries` / `num_retries`.
    pub num_retries: Option<u32>,
    /// Load-balancing weight among deployments sharing a `model_name` (default 1).
    pub weight: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// Inserted where a conversation must be repaired to alternate (`{"role":"user","content":…}`).
    pub user_continue_message: Option<Value>,
    pub modify_params: Option<bool>,
    pub drop_params: Option<bool>,
    /// LiteLLM price keys (`input_cost_per_token`, `output_cost_per_token`,
    /// `cache_read_input_token_cost`, `cache_creation_input_token_cost`): read by cost tracking,
    /// never sent to Bedrock.
    pub price_overrides: Map<String, Value>,
    /// Every other key: default request params (`temperature`, `top_k`, `guardrailConfig`, …).
    pub default_request_params: Map<String, Value>,
}

/// `litellm_params` keys whose values are secrets ([`Secret`] above): the model API never echoes
/// them and stores them encrypted.
pub const SECRET_PARAMS: [&str; 4] = [
    "api_key",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_web_identity_token",
];

/// LiteLLM's per-token price keys (cost tracking reads them; they are not request parameters).
const PRICE_KEYS: [&str; 4] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
];

/// `litellm_params` keys LiteLLM understands that have no effect in shale.
const IGNORED_PARAMS: &[(&str, &str)] = &[
    ("input_cost_per_second", "cost tracking is not implemented"),
    ("output_cost_per_second", "cost tracking is not implemented"),
    ("custom_llm_provider", "shale serves Bedrock only"),
    (
        "litellm_credential_name",
        "credential store is not implemented",
    ),
    (
        "use_in_pass_through",
        "pass-through uses every configured deployment",
    ),
    ("use_litellm_proxy", "not applicable"),
    (
        "merge_reasoning_content_in_choices",
        "reasoning is always returned separately",
    ),
    ("max_parallel_requests", "not enforced"),
    ("order", "deployment ordering is not implemented"),
    ("tags", "tag routing is not implemented"),
    ("mock_response", "not supported"),
    ("api_version", "not used by Bedrock"),
    ("organization", "not used by Bedrock"),
    ("region_name", "use aws_region_name"),
    ("cache_control_injection_points", "not implemented"),
    (
        "aws_bedrock_client",
        "not supported: configure credentials instead",
    ),
];

impl LitellmParams {
    fn from_map(
        map: Map<String, Value>,
        path: &str,
        findings: &mut Vec<Finding>,
        model_err: &dyn Fn(String) -> ConfigError,
    ) -> Result<LitellmParams, ConfigError> {
        let mut f = Fields::new(map, path);
        let model = match f.string("model")? {
            Some(m) if !m.trim().is_empty() => m.trim().to_string(),
            _ => return Err(model_err("`litellm_params.model` is required".into())),
        };
        let max_retries = f.u32("max_retries")?;
        let api = match f.string("api")? {
            None => None,
            Some(text) => Some(crate::surface::ApiChoice::parse(&text).ok_or_else(|| {
                ConfigError::Invalid {
                    path: format!("{path}.api"),
                    message: format!(
                        "unknown API `{text}`: expected converse, invoke, openai, responses or messages"
                    ),
                }
            })?),
        };
        let num_retries = f.u32("num_retries")?;
        let params = LitellmParams {
            model,
            model_id: f.string("model_id")?,
            api_key: f.secret("api_key")?,
            api_base: f.string("api_base")?,
            aws_access_key_id: f.string("aws_access_key_id")?,
            aws_secret_access_key: f.secret("aws_secret_access_key")?,
            aws_session_token: f.secret("aws_session_token")?,
            aws_region_name: f.string("aws_region_name")?,
            aws_session_name: f.string("aws_session_name")?,
            aws_profile_name: f.string("aws_profile_name")?,
            aws_role_name: f.string("aws_role_name")?,
            aws_web_identity_token: f.secret("aws_web_identity_token")?,
            aws_external_id: f.string("aws_external_id")?,
            aws_sts_endpoint: f.string("aws_sts_endpoint")?,
            aws_session_tags: f.string_pairs("aws_session_tags")?,
            aws_bedrock_runtime_endpoint: f.string("aws_bedrock_runtime_endpoint")?,
            aws_bedrock_agent_runtime_endpoint: f.string("aws_bedrock_agent_runtime_endpoint")?,
            api,
            aws_bedrock_project_id: f.string("aws_bedrock_project_id")?,
            timeout: f.seconds("timeout")?,
            stream_timeout: f.seconds("stream_timeout")?,
            num_retries: num_retries.or(max_retries),
            weight: f.f64("weight")?,
            rpm: f.u64("rpm")?,
            tpm: f.u64("tpm")?,
            user_continue_message: f.raw("user_continue_message"),
            modify_params: f.bool("modify_params")?,
            drop_params: f.bool("drop_params")?,
            price_overrides: Map::new(),
            default_request_params: Map::new(),
        };
        let mut rest = f.into_rest();
        let mut price_overrides = Map::new();
        for key in PRICE_KEYS {
            if let Some(v) = rest.remove(key) {
                price_overrides.insert(key.to_string(), v);
            }
        }
        for (key, why) in IGNORED_PARAMS {
            if rest.remove(*key).is_some() {
                findings.push(Finding::ignored(format!("{path}.{key}"), *why));
            }
        }
        // `stream` in litellm_params would force streaming for non-streaming clients: never a default.
        if rest.remove("stream").is_some() {
            findings.push(Finding::ignored(
                format!("{path}.stream"),
                "streaming is chosen by each request",
            ));
        }
        Ok(LitellmParams {
            price_overrides,
            default_request_params: rest,
            ..params
        })
    }
}
