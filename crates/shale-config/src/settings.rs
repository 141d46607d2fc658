//! `general_settings`, `litellm_settings` and `router_settings`: the keys shale acts on are typed;
//! the rest are kept and reported as findings.

use crate::anthropic_beta::AnthropicBetaSettings;
use crate::cache::CacheSettings;
use crate::fields::Fields;
use crate::fleet::FleetSettings;
use crate::health::HealthCheckSettings;
use crate::keys::KeysConfig;
use crate::responses_store::ResponsesStoreSettings;
use crate::{json_kind, ConfigError, Finding, Secret};
use serde_json::{Map, Value};
use std::time::Duration;

/// Default request-body limit: 32 MiB (enough for several base64 images or a PDF).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// `general_settings`.
#[derive(Debug, Clone)]
pub struct GeneralSettings {
    /// The gateway key clients must present. Also from env `SHALE_MASTER_KEY` / `LITELLM_MASTER_KEY`
    /// (resolved by the binary, not here).
    pub master_key: Option<Secret>,
    /// Serve without a master key (must be explicit).
    pub allow_unauthenticated: bool,
    /// Request bodies above this are refused with 413 (`max_request_size_mb` in LiteLLM).
    pub max_request_body_bytes: usize,
    /// Let `/bedrock/model/{id}/…` reach model ids that are not a configured `model_name`.
    pub pass_through_unknown_models: bool,
    /// How http(s) image/document URLs in chat requests are fetched.
    pub media_fetch: MediaFetchSettings,
    /// Upper bound on finishing in-flight requests after SIGTERM.
    pub shutdown_grace: Duration,
    /// Which Anthropic beta flags `/v1/messages` forwards to Bedrock.
    pub anthropic_beta: AnthropicBetaSettings,
    /// Bounds of the in-memory Responses API store.
    pub responses_store: ResponsesStoreSettings,
    /// How long a client may take to send its request headers before it is disconnected
    /// (`header_read_timeout_seconds`, default 10): stalled clients cannot hold connections.
    pub header_read_timeout: Duration,
    /// Virtual keys, budgets and spend logs in Postgres (`database_url`, `proxy_batch_write_at`, …).
    pub keys: KeysConfig,
    /// Models in Postgres for every replica, config reloads (`store_model_in_db`, …).
    pub fleet: FleetSettings,
    /// Everything else, kept as given.
    pub other: Map<String, Value>,
    /// Drop the built-in tools OpenAI hosts (`web_search`, `file_search`, `code_interpreter`, …)
    /// from `/v1/responses` and chat requests, telling the client in `x-shale-dropped-tools`
    /// (default true). `false`: refuse them with a 400 (`unsupported_tool`).
    pub drop_hosted_tools: bool,
    /// Background health checks (`background_health_checks`, `health_check_interval`, …).
    pub health_checks: HealthCheckSettings,
}

impl Default for GeneralSettings {
    fn default() -> Self {
        GeneralSettings {
            master_key: None,
            allow_unauthenticated: false,
            max_request_body_bytes: DEFAULT_MAX_BODY_BYTES,
            pass_through_unknown_models: false,
            media_fetch: MediaFetchSettings::default(),
            shutdown_grace: Duration::from_secs(30),
            anthropic_beta: AnthropicBetaSettings::default(),
            responses_store: ResponsesStoreSettings::default(),
            header_read_timeout: Duration::from_secs(10),
            keys: KeysConfig::default(),
            fleet: FleetSettings::default(),
            other: Map::new(),
            drop_hosted_tools: true,
            health_checks: HealthCheckSettings::default(),
        }
    }
}

/// SSRF-safe fetching of media URLs found in chat messages (`general_settings.media_fetch`).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFetchSettings {
    /// Fetch http(s) URLs at all (default true; `false` → such URLs are a 400).
    pub enabled: bool,
    /// Allow plain `http://` (default false: https only).
    pub allow_http: bool,
    /// Allow private, loopback and link-local addresses (default false). Only for trusted networks.
    pub allow_private_networks: bool,
    /// Largest download in bytes (default 20 MiB).
    pub max_bytes: usize,
    /// Whole-download time limit (default 10 s).
    pub timeout: Duration,
}

impl Default for MediaFetchSettings {
    fn default() -> Self {
        MediaFetchSettings {
            enabled: true,
            allow_http: false,
            allow_private_networks: false,
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// `general_settings` keys that belong to LiteLLM features shale does not have.
const IGNORED_GENERAL: &[&str] = &[
    "alerting",
    "alerting_threshold",
    "ui_access_mode",
    "custom_auth",
    "master_key_rotation",
    "enable_jwt_auth",
    "litellm_jwtauth",
    "infer_model_from_keys",
    "allowed_routes",
    "public_routes",
    "user_header_name",
];

impl GeneralSettings {
    pub(crate) fn from_value(
        value: Option<Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<GeneralSettings, ConfigError> {
        let path = "general_settings";
        let Some(map) = section(value, path)? else {
            return Ok(GeneralSettings::default());
        };
        let mut f = Fields::new(map, path);
        let defaults = GeneralSettings::default();
        let master_key = f.secret("master_key")?;
        let allow_unauthenticated = f.flag("allow_unauthenticated")?;
        let mb = f.f64("max_request_size_mb")?;
        let bytes = f.u64("max_request_body_bytes")?;
        let max_request_body_bytes = match (bytes, mb) {
            (Some(b), _) => b as usize,
            (None, Some(mb)) if mb > 0.0 => (mb * 1024.0 * 1024.0) as usize,
            (None, Some(mb)) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.max_request_size_mb"),
                    message: format!("must be positive, found {mb}"),
                })
            }
            (None, None) => defaults.max_request_body_bytes,
        };
        let pass_through_unknown_models = f.flag("pass_through_unknown_models")?;
        let shutdown_grace = f
            .seconds("shutdown_grace_seconds")?
            .unwrap_or(defaults.shutdown_grace);
        let header_read_timeout = f
            .seconds("header_read_timeout_seconds")?
            .unwrap_or(defaults.header_read_timeout);
        let media_fetch = match f.raw("media_fetch") {
            None => MediaFetchSettings::default(),
            Some(Value::Object(m)) => MediaFetchSettings::from_map(m)?,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.media_fetch"),
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        let keys = KeysConfig::take(&mut f)?;
        let fleet = FleetSettings::take(&mut f)?;
        let health_checks = HealthCheckSettings::take(&mut f)?;
        let anthropic_beta = AnthropicBetaSettings::from_value(f.raw("anthropic_beta"))?;
        let responses_store = match f.raw("responses_store") {
            None => ResponsesStoreSettings::default(),
            Some(Value::Object(m)) => ResponsesStoreSettings::from_map(m)?,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.responses_store"),
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        let drop_hosted_tools = f
            .bool("drop_hosted_tools")?
            .unwrap_or(defaults.drop_hosted_tools);
        let other = f.into_rest();
        for key in other.keys() {
            let why = if IGNORED_GENERAL.contains(&key.as_str()) {
                "LiteLLM feature not implemented by shale"
            } else {
                "unknown key"
            };
            findings.push(Finding::ignored(format!("{path}.{key}"), why));
        }
        Ok(GeneralSettings {
            master_key,
            allow_unauthenticated,
            max_request_body_bytes,
            pass_through_unknown_models,
            media_fetch,
            shutdown_grace,
            anthropic_beta,
            responses_store,
            header_read_timeout,
            keys,
            fleet,
            other,
            drop_hosted_tools,
            health_checks,
        })
    }
}

impl MediaFetchSettings {
    fn from_map(map: Map<String, Value>) -> Result<MediaFetchSettings, ConfigError> {
        let path = "general_settings.media_fetch";
        let d = MediaFetchSettings::default();
        let mut f = Fields::new(map, path);
        let settings = MediaFetchSettings {
            enabled: f.bool("enabled")?.unwrap_or(d.enabled),
            allow_http: f.bool("allow_http")?.unwrap_or(d.allow_http),
            allow_private_networks: f
                .bool("allow_private_networks")?
                .unwrap_or(d.allow_private_networks),
            max_bytes: f.usize("max_bytes")?.unwrap_or(d.max_bytes),
            timeout: f.seconds("timeout_seconds")?.unwrap_or(d.timeout),
        };
        if let Some(key) = f.into_rest().keys().next() {
            return Err(ConfigError::Invalid {
                path: format!("{path}.{key}"),
                message: "unknown key (expected enabled, allow_http, allow_private_networks, max_bytes, timeout_seconds)".into(),
            });
        }
        Ok(settings)
    }
}

/// `litellm_settings`.
#[derive(Debug, Clone, Default)]
pub struct LitellmSettings {
    /// Drop OpenAI params the model does not support instead of failing.
    pub drop_params: bool,
    /// Repair conversations so Bedrock accepts them (alternation, leading assistant turn, …).
    pub modify_params: bool,
    /// Default retries for every deployment (default 2 when unset everywhere).
    pub num_retries: Option<u32>,
    /// Default per-request timeout.
    pub request_timeout: Option<Duration>,
    pub other: Map<String, Value>,
    /// The response cache (`cache: true` + `cache_params`); `None` when off.
    pub cache: Option<CacheSettings>,
}

const KNOWN_UNUSED_LITELLM: &[&str] = &[
    "callbacks",
    "success_callback",
    "failure_callback",
    "service_callback",
    "set_verbose",
    "json_logs",
    "telemetry",
    "turn_off_message_logging",
    "redact_user_api_key_info",
    "max_budget",
    "budget_duration",
    "guardrails",
];

impl LitellmSettings {
    pub(crate) fn from_value(
        value: Option<Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<LitellmSettings, ConfigError> {
        let path = "litellm_settings";
        let Some(map) = section(value, path)? else {
            return Ok(LitellmSettings::default());
        };
        let mut f = Fields::new(map, path);
        let settings = LitellmSettings {
            drop_params: f.flag("drop_params")?,
            modify_params: f.flag("modify_params")?,
            num_retries: f.u32("num_retries")?,
            request_timeout: f.seconds("request_timeout")?,
            other: Map::new(),
            cache: CacheSettings::take(&mut f, findings)?,
        };
        let other = f.into_rest();
        for key in other.keys() {
            let why = if KNOWN_UNUSED_LITELLM.contains(&key.as_str()) {
                "LiteLLM feature not implemented by shale"
            } else {
                "unknown key"
            };
            findings.push(Finding::ignored(format!("{path}.{key}"), why));
        }
        Ok(LitellmSettings { other, ..settings })
    }
}

/// `router_settings`: the keys the router reads are in [`crate::RoutingSettings`]
/// (`Config::routing`); `num_retries` and `timeout` stay here for the Bedrock client.
#[derive(Debug, Clone, Default)]
pub struct RouterSettings {
    pub num_retries: Option<u32>,
    pub timeout: Option<Duration>,
    pub other: Map<String, Value>,
}

/// `router_settings` keys LiteLLM has that shale does not act on.
const KNOWN_UNUSED_ROUTER: &[&str] = &[
    "cache_responses",
    "cache_kwargs",
    "client_ttl",
    "polling_interval",
    "provider_budget_config",
    "model_group_retry_policy",
    "default_max_parallel_requests",
    "default_priority",
    "enable_tag_filtering",
    "tag_filtering_match_any",
    "redis_db",
    "routing_groups",
    "assistants_config",
    "search_tools",
    "guardrail_list",
];

impl RouterSettings {
    /// Parses `router_settings` after the router's own keys were taken out of it.
    pub(crate) fn from_value(
        value: Option<Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<RouterSettings, ConfigError> {
        let path = "router_settings";
        let Some(map) = section(value, path)? else {
            return Ok(RouterSettings::default());
        };
        let mut f = Fields::new(map, path);
        let settings = RouterSettings {
            num_retries: f.u32("num_retries")?,
            timeout: f.seconds("timeout")?,
            other: Map::new(),
        };
        let other = f.into_rest();
        for key in other.keys() {
            let why = if KNOWN_UNUSED_ROUTER.contains(&key.as_str()) {
                "router feature not implemented by shale"
            } else {
                "unknown key"
            };
            findings.push(Finding::ignored(format!("{path}.{key}"), why));
        }
        Ok(RouterSettings { other, ..settings })
    }
}

pub(crate) fn section(
    value: Option<Value>,
    path: &str,
) -> Result<Option<Map<String, Value>>, ConfigError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(ConfigError::Invalid {
            path: path.into(),
            message: format!("expected a mapping, found {}", json_kind(&other)),
        }),
    }
}
