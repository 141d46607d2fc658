//! `shale-config`: reads a LiteLLM proxy `config.yaml` unchanged and turns it into typed, validated
//! settings for the gateway.
//!
//! What this crate owns:
//! - parsing the YAML (errors carry line and column),
//! - resolving `os.environ/VAR` references anywhere in the tree (an unset variable is an error naming the
//!   variable and the field path),
//! - typing `model_list[].litellm_params` (every LiteLLM Bedrock key, extra keys kept as default
//!   request parameters) and parsing the `model` string into a [`ModelRoute`] once, at load time,
//! - the model table of Bedrock's OpenAI-compatible and Anthropic surfaces (bedrock-mantle,
//!   bedrock-runtime's `/openai/v1`): which host, API and path serves a model ([`SurfacePlan`]),
//! - the router, telemetry, Anthropic beta-flag, Responses-store, virtual-key, health-check
//!   and response-cache settings,
//! - the top-level `guardrails:` list (Bedrock ApplyGuardrail, `guardrails.rs`),
//! - validating impossible values (non-finite weights, zero limits, …) with line and column,
//! - reporting keys LiteLLM would accept but shale ignores as [`Finding`]s (for `shale check`).
//!
//! What it must not do: any I/O besides reading the config file, any networking, any logging of secrets.
//! Secrets live in [`Secret`], which redacts itself in `Debug` and `Display`.

#![forbid(unsafe_code)]

mod anthropic_beta;
mod cache;
mod env;
mod error;
mod fields;
mod findings;
mod fleet;
mod guardrails;
mod health;
mod keys;
mod model;
pub mod reload;
mod responses_store;
mod route;
mod router;
mod settings;
mod surface;
mod telemetry;
mod validation;

pub use anthropic_beta::AnthropicBetaSettings;
pub use cache::{
    valid_namespace, CacheBackend, CacheMode, CacheScope, CacheSettings, CallType, RedisTarget,
};
pub use error::ConfigError;
pub use findings::{Finding, Severity};
pub use fleet::FleetSettings;
pub use guardrails::{
    GuardrailAws, GuardrailConfig, GuardrailMode, DEFAULT_GUARDRAIL_TIMEOUT,
    DEFAULT_STREAM_FIRST_WINDOW, DEFAULT_STREAM_OVERLAP, DEFAULT_STREAM_WINDOW,
};
pub use health::{DeploymentHealthSettings, HealthCheckSettings, DEFAULT_PROBE_TIMEOUT};
pub use keys::KeysConfig;
pub use model::{LitellmParams, ModelEntry, SECRET_PARAMS};
pub use responses_store::{ResponsesBackend, ResponsesStoreSettings};
pub use route::{Api, InvokeSpec, ModelRoute, RouteError};
pub use router::{ErrorClassCounts, RedisSettings, RoutingSettings, RoutingStrategy};
pub use settings::{GeneralSettings, LitellmSettings, MediaFetchSettings, RouterSettings};
pub use shale_core::Secret;
pub use surface::{
    mantle_plan, model_table, runtime_openai_plan, ApiChoice, ApiSet, Host, OpenAiBase, PlanSource,
    SurfacePlan, WireApi,
};
pub use telemetry::TelemetrySettings;

use serde_json::{Map, Value};
use std::path::Path;

/// A fully loaded and validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// One entry per `model_list` item, in file order.
    pub model_list: Vec<ModelEntry>,
    pub general_settings: GeneralSettings,
    pub litellm_settings: LitellmSettings,
    pub router_settings: RouterSettings,
    /// The router's settings, from `router_settings` and `litellm_settings` together.
    pub routing: RoutingSettings,
    /// Metrics, traces, access log (`callbacks`, `general_settings.telemetry`).
    pub telemetry: TelemetrySettings,
    /// Things shale accepted but ignores, or would warn about (never fatal).
    pub findings: Vec<Finding>,
    /// The top-level `guardrails:` list (Bedrock ApplyGuardrail), in file order.
    pub guardrails: Vec<GuardrailConfig>,
}

impl Config {
    /// Reads and parses the config file at `path`, resolving `os.environ/` references from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_yaml_str(&text, &|name| std::env::var(name).ok())
    }

    /// Parses YAML text; `lookup_env` resolves `os.environ/NAME` references (injectable for tests).
    pub fn from_yaml_str(
        text: &str,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse(text, lookup_env, None).map_err(|e| validation::with_location(e, text))
    }

    /// Like [`Config::load`], for `shale check`: unset `os.environ/` variables are reported as
    /// warnings (the value is taken as empty) instead of failing, so configs can be validated where
    /// the secrets are absent.
    pub fn load_for_check(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::check_yaml_str(&text, &|name| std::env::var(name).ok())
    }

    /// See [`Config::load_for_check`].
    pub fn check_yaml_str(
        text: &str,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut missing = Vec::new();
        let mut config = Config::parse(text, lookup_env, Some(&mut missing))
            .map_err(|e| validation::with_location(e, text))?;
        for (variable, path) in missing {
            config.findings.push(Finding::warning(
                path,
                format!("environment variable {variable} is not set: the gateway will refuse to start until it is"),
            ));
        }
        Ok(config)
    }

    /// YAML → JSON tree → `os.environ/` references → typed config → number checks.
    fn parse(
        text: &str,
        lookup_env: &dyn Fn(&str) -> Option<String>,
        missing: Option<&mut Vec<(String, String)>>,
    ) -> Result<Config, ConfigError> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(ConfigError::from_yaml)?;
        let mut root = env::yaml_to_json(yaml, "")?;
        env::resolve_env_refs(&mut root, &mut String::new(), lookup_env, missing)?;
        let config = Config::from_json(root)?;
        validation::check_numbers(&config)?;
        Ok(config)
    }

    fn from_json(root: Value) -> Result<Config, ConfigError> {
        let mut root = match root {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ConfigError::Invalid {
                    path: "<root>".into(),
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        let mut findings = Vec::new();
        let telemetry = TelemetrySettings::take(&mut root, &mut findings)?;

        let general_settings =
            GeneralSettings::from_value(root.remove("general_settings"), &mut findings)?;
        let mut litellm_raw =
            settings::section(root.remove("litellm_settings"), "litellm_settings")?;
        let mut router_raw = settings::section(root.remove("router_settings"), "router_settings")?;
        let from_litellm = litellm_raw
            .as_mut()
            .map(router::take_router_keys)
            .unwrap_or_default();
        let from_router = router_raw
            .as_mut()
            .map(router::take_router_keys)
            .unwrap_or_default();
        let mut routing = RoutingSettings::from_sections(from_litellm, from_router, &mut findings)?;
        let litellm_settings =
            LitellmSettings::from_value(litellm_raw.map(Value::Object), &mut findings)?;
        let router_settings =
            RouterSettings::from_value(router_raw.map(Value::Object), &mut findings)?;
        routing.num_retries = router_settings.num_retries.or(litellm_settings.num_retries);

        let model_list = match root.remove("model_list") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| ModelEntry::from_value(index, item, &mut findings))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: "model_list".into(),
                    message: format!("expected a list, found {}", json_kind(&other)),
                })
            }
        };

        let guardrails = guardrails::parse(root.remove("guardrails"), &mut findings)?;
        for (key, _) in root {
            findings.push(Finding::ignored(
                key.clone(),
                "top-level section is not used by shale",
            ));
        }
        {
            let mut seen = std::collections::HashSet::new();
            let names: Vec<&str> = model_list
                .iter()
                .map(|m| m.model_name.as_str())
                .filter(|n| seen.insert(*n))
                .collect();
            routing.check_group_names(&names, &mut findings);
        }
        health::check(&model_list, &general_settings.health_checks, &mut findings)?;
        if model_list.is_empty() {
            findings.push(Finding::warning(
                "model_list",
                "no models are configured: every model request will be refused",
            ));
        }

        Ok(Config {
            model_list,
            general_settings,
            litellm_settings,
            router_settings,
            routing,
            telemetry,
            findings,
            guardrails,
        })
    }

    /// Distinct `model_name`s in file order (what `/v1/models` lists).
    pub fn model_names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.model_list
            .iter()
            .map(|m| m.model_name.as_str())
            .filter(|name| seen.insert(*name))
            .collect()
    }
}

/// A short name of a JSON value's kind, for error messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
