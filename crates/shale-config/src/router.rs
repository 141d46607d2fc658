//! The router's settings, as LiteLLM spells them, read from `router_settings` and
//! `litellm_settings` (a key in `router_settings` wins): routing strategy, retries, cooldowns,
//! fallbacks, aliases, pre-call checks and the Redis connection that shares state across replicas.
//!
//! Parsing only: what the settings do lives in the `shale-router` crate. No environment reads here
//! (`REDIS_HOST` and friends are resolved by the server), no I/O.

use crate::fields::Fields;
use crate::{json_kind, ConfigError, Finding, Secret};
use serde_json::{Map, Value};
use std::time::Duration;

/// `routing_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingStrategy {
    /// `simple-shuffle`: weighted random (`weight`, else `rpm`, else `tpm`, else equal).
    #[default]
    SimpleShuffle,
    /// `least-busy`: fewest requests in flight.
    LeastBusy,
    /// `latency-based-routing`: lowest moving-average latency (time to first token for streams).
    LatencyBased,
    /// `usage-based-routing-v2` (and the older `usage-based-routing`): lowest current-minute usage.
    UsageBased,
}

impl RoutingStrategy {
    /// LiteLLM's spelling.
    pub fn name(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based-routing",
            RoutingStrategy::UsageBased => "usage-based-routing-v2",
        }
    }
}

/// A count per LiteLLM error class (`retry_policy`, `allowed_fails_policy`); `None` = not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorClassCounts {
    pub bad_request: Option<u32>,
    pub authentication: Option<u32>,
    pub timeout: Option<u32>,
    pub rate_limit: Option<u32>,
    pub content_policy: Option<u32>,
    pub internal_server: Option<u32>,
}

/// Redis connection for shared router state.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisSettings {
    /// `redis_url` / `cache_params.url`.
    Url(Secret),
    /// `redis_host` + `redis_port` + `redis_password`.
    Host {
        host: String,
        port: u16,
        password: Option<Secret>,
    },
}

/// Everything the router reads from the config.
#[derive(Debug, Clone)]
pub struct RoutingSettings {
    pub strategy: RoutingStrategy,
    /// `routing_strategy_args.lowest_latency_buffer` (share above the fastest that still counts as
    /// fast, default 0).
    pub lowest_latency_buffer: f64,
    /// `routing_strategy_args.ttl`: latency samples older than this are forgotten (default 1 h).
    pub latency_ttl: Duration,
    /// `num_retries` (router_settings, else litellm_settings).
    pub num_retries: Option<u32>,
    /// `retry_policy`: retries per error class.
    pub retry_policy: ErrorClassCounts,
    /// `retry_after`: least wait before retrying the same deployment.
    pub retry_after: Option<Duration>,
    /// `allowed_fails`: failures per minute before a deployment cools down (default 3).
    pub allowed_fails: Option<u32>,
    /// `cooldown_time` (default 5 s).
    pub cooldown_time: Option<Duration>,
    /// `allowed_fails_policy`: allowed fails per error class.
    pub allowed_fails_policy: ErrorClassCounts,
    pub disable_cooldowns: bool,
    /// `fallbacks`: model group → groups to try next, in order.
    pub fallbacks: Vec<(String, Vec<String>)>,
    pub context_window_fallbacks: Vec<(String, Vec<String>)>,
    pub content_policy_fallbacks: Vec<(String, Vec<String>)>,
    /// `default_fallbacks`: for groups without their own entry.
    pub default_fallbacks: Vec<String>,
    /// `model_group_alias`: alias → (group, hidden from /v1/models).
    pub model_group_alias: Vec<(String, String, bool)>,
    /// `optional_pre_call_checks` contains `prompt_caching`.
    pub prompt_caching_affinity: bool,
    /// `redis_*` or `cache_params` of type redis.
    pub redis: Option<RedisSettings>,
    /// Every router key found, as `section.key = value` (secrets masked), for `shale check`.
    pub understood: Vec<String>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            strategy: RoutingStrategy::SimpleShuffle,
            lowest_latency_buffer: 0.0,
            latency_ttl: Duration::from_secs(3600),
            num_retries: None,
            retry_policy: ErrorClassCounts::default(),
            retry_after: None,
            allowed_fails: None,
            cooldown_time: None,
            allowed_fails_policy: ErrorClassCounts::default(),
            disable_cooldowns: false,
            fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            model_group_alias: Vec::new(),
            prompt_caching_affinity: false,
            redis: None,
            understood: Vec::new(),
        }
    }
}

/// Router keys shale reads in either section.
const SHARED_KEYS: &[&str] = &[
    "routing_strategy",
    "routing_strategy_args",
    "retry_policy",
    "retry_after",
    "allowed_fails",
    "cooldown_time",
    "allowed_fails_policy",
    "disable_cooldowns",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "model_group_alias",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
];

/// Takes the router keys out of one section (`router_settings` or `litellm_settings`), so the
/// section's own parser no longer reports them as ignored.
pub(crate) fn take_router_keys(map: &mut Map<String, Value>) -> Map<String, Value> {
    let mut taken = Map::new();
    for key in SHARED_KEYS {
        if let Some(v) = map.remove(*key) {
            taken.insert((*key).to_string(), v);
        }
    }
    // `cache_params: {type: redis, ...}` configures the router's Redis only when it is redis.
    // Copied, not taken: the response cache reads the same section (`crate::cache`).
    if let Some(Value::Object(params)) = map.get("cache_params") {
        if params.get("type").and_then(Value::as_str) == Some("redis") {
            taken.insert("cache_params".into(), Value::Object(params.clone()));
        }
    }
    taken
}

impl RoutingSettings {
    /// Builds the settings from the keys taken out of `litellm_settings` and `router_settings`
    /// (the latter win).
    pub(crate) fn from_sections(
        litellm: Map<String, Value>,
        router: Map<String, Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<RoutingSettings, ConfigError> {
        let mut merged = Map::new();
        let mut origin: Map<String, Value> = Map::new();
        for (k, v) in litellm {
            origin.insert(k.clone(), Value::from("litellm_settings"));
            merged.insert(k, v);
        }
        for (k, v) in router {
            origin.insert(k.clone(), Value::from("router_settings"));
            merged.insert(k, v);
        }
        let path_of = |key: &str| -> String {
            let section = origin
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("router_settings");
            format!("{section}.{key}")
        };
        let mut s = RoutingSettings::default();
        for (key, value) in &merged {
            let shown = match key.as_str() {
                "redis_password" | "redis_url" | "cache_params" => "(set)".to_string(),
                _ => value.to_string(),
            };
            s.understood.push(format!("{} = {shown}", path_of(key)));
        }
        let mut f = Fields::new(merged, "router_settings");

        if let Some(name) = f.string("routing_strategy")? {
            s.strategy = match name.as_str() {
                "simple-shuffle" => RoutingStrategy::SimpleShuffle,
                "least-busy" => RoutingStrategy::LeastBusy,
                "latency-based-routing" => RoutingStrategy::LatencyBased,
                "usage-based-routing-v2" => RoutingStrategy::UsageBased,
                "usage-based-routing" => {
                    findings.push(Finding::warning(
                        path_of("routing_strategy"),
                        "`usage-based-routing` is deprecated in LiteLLM: shale runs usage-based-routing-v2",
                    ));
                    RoutingStrategy::UsageBased
                }
                other => {
                    return Err(ConfigError::Invalid {
                        path: path_of("routing_strategy"),
                        message: format!("unknown routing strategy `{other}` (expected simple-shuffle, least-busy, latency-based-routing or usage-based-routing-v2)"),
                    })
                }
            };
        }
        if let Some(args) = f.raw("routing_strategy_args") {
            let path = path_of("routing_strategy_args");
            let map = object(args, &path)?;
            let mut a = Fields::new(map, &path);
            if let Some(b) = a.f64("lowest_latency_buffer")? {
                s.lowest_latency_buffer = b.max(0.0);
            }
            if let Some(ttl) = a.seconds("ttl")? {
                s.latency_ttl = ttl;
            }
            for key in a.into_rest().keys() {
                findings.push(Finding::ignored(
                    format!("{path}.{key}"),
                    "routing strategy argument not used by shale",
                ));
            }
        }
        s.retry_policy = counts(f.raw("retry_policy"), &path_of("retry_policy"), "Retries")?;
        s.retry_after = f.seconds("retry_after")?;
        s.allowed_fails = f.u32("allowed_fails")?;
        s.cooldown_time = non_negative_seconds(&mut f, "cooldown_time", &path_of("cooldown_time"))?;
        s.allowed_fails_policy = counts(
            f.raw("allowed_fails_policy"),
            &path_of("allowed_fails_policy"),
            "AllowedFails",
        )?;
        s.disable_cooldowns = f.flag("disable_cooldowns")?;
        s.fallbacks = fallback_map(f.raw("fallbacks"), &path_of("fallbacks"))?;
        s.context_window_fallbacks = fallback_map(
            f.raw("context_window_fallbacks"),
            &path_of("context_window_fallbacks"),
        )?;
        s.content_policy_fallbacks = fallback_map(
            f.raw("content_policy_fallbacks"),
            &path_of("content_policy_fallbacks"),
        )?;
        s.default_fallbacks =
            string_list(f.raw("default_fallbacks"), &path_of("default_fallbacks"))?;
        s.model_group_alias = aliases(f.raw("model_group_alias"), &path_of("model_group_alias"))?;
        // `enable_pre_call_checks` (context-window checks before the call) is accepted: Bedrock's own
        // "input is too long" answer drives context_window_fallbacks instead.
        let _ = f.bool("enable_pre_call_checks")?;
        let checks = string_list(
            f.raw("optional_pre_call_checks"),
            &path_of("optional_pre_call_checks"),
        )?;
        for check in &checks {
            if check == "prompt_caching" {
                s.prompt_caching_affinity = true;
            } else {
                findings.push(Finding::ignored(
                    format!("{}[{check}]", path_of("optional_pre_call_checks")),
                    "pre-call check not implemented by shale",
                ));
            }
        }
        s.redis = redis(&mut f, &path_of("cache_params"))?;
        Ok(s)
    }
}

fn object(value: Value, path: &str) -> Result<Map<String, Value>, ConfigError> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(ConfigError::Invalid {
            path: path.into(),
            message: format!("expected a mapping, found {}", json_kind(&other)),
        }),
    }
}

fn non_negative_seconds(
    f: &mut Fields<'_>,
    key: &str,
    path: &str,
) -> Result<Option<Duration>, ConfigError> {
    match f.f64(key)? {
        None => Ok(None),
        Some(v) if v >= 0.0 && v.is_finite() => Ok(Some(Duration::from_secs_f64(v))),
        Some(v) => Err(ConfigError::Invalid {
            path: path.into(),
            message: format!("expected a non-negative number of seconds, found {v}"),
        }),
    }
}

/// `retry_policy` / `allowed_fails_policy`: `{AuthenticationErrorRetries: 0, ...}`.
fn counts(value: Option<Value>, path: &str, suffix: &str) -> Result<ErrorClassCounts, ConfigError> {
    let mut out = ErrorClassCounts::default();
    let Some(value) = value else {
        return Ok(out);
    };
    let map = object(value, path)?;
    let mut f = Fields::new(map, path);
    out.bad_request = f.u32(&format!("BadRequestError{suffix}"))?;
    out.authentication = f.u32(&format!("AuthenticationError{suffix}"))?;
    out.timeout = f.u32(&format!("TimeoutError{suffix}"))?;
    out.rate_limit = f.u32(&format!("RateLimitError{suffix}"))?;
    out.content_policy = f.u32(&format!("ContentPolicyViolationError{suffix}"))?;
    out.internal_server = f.u32(&format!("InternalServerError{suffix}"))?;
    if let Some(key) = f.into_rest().keys().next() {
        return Err(ConfigError::Invalid {
            path: format!("{path}.{key}"),
            message: format!("unknown error class (expected BadRequestError{suffix}, AuthenticationError{suffix}, TimeoutError{suffix}, RateLimitError{suffix}, ContentPolicyViolationError{suffix} or InternalServerError{suffix})"),
        });
    }
    Ok(out)
}

fn string_list(value: Option<Value>, path: &str) -> Result<Vec<String>, ConfigError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(ConfigError::Invalid {
                    path: format!("{path}[{i}]"),
                    message: format!("expected a model name, found {}", json_kind(&other)),
                }),
            })
            .collect(),
        Some(other) => Err(ConfigError::Invalid {
            path: path.into(),
            message: format!(
                "expected a list of model names, found {}",
                json_kind(&other)
            ),
        }),
    }
}

/// `[{"a": ["b", "c"]}, ...]` (LiteLLM's form) or `{"a": ["b"]}`.
fn fallback_map(
    value: Option<Value>,
    path: &str,
) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let mut out = Vec::new();
    match value {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let list = string_list(Some(v), &format!("{path}.{k}"))?;
                out.push((k, list));
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let m = object(item, &format!("{path}[{i}]"))?;
                for (k, v) in m {
                    let list = string_list(Some(v), &format!("{path}[{i}].{k}"))?;
                    out.push((k, list));
                }
            }
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                path: path.into(),
                message: format!(
                    "expected a list like [{{\"model\": [\"fallback\"]}}], found {}",
                    json_kind(&other)
                ),
            })
        }
    }
    Ok(out)
}

/// `{"alias": "group"}` or `{"alias": {"model": "group", "hidden": true}}`.
fn aliases(value: Option<Value>, path: &str) -> Result<Vec<(String, String, bool)>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (alias, target) in object(value, path)? {
        match target {
            Value::String(group) => out.push((alias, group, false)),
            Value::Object(m) => {
                let p = format!("{path}.{alias}");
                let mut f = Fields::new(m, &p);
                let Some(group) = f.string("model")? else {
                    return Err(ConfigError::Invalid {
                        path: format!("{p}.model"),
                        message: "is required".into(),
                    });
                };
                let hidden = f.flag("hidden")?;
                out.push((alias, group, hidden));
            }
            other => {
                return Err(ConfigError::Invalid {
                    path: format!("{path}.{alias}"),
                    message: format!("expected a model name, found {}", json_kind(&other)),
                })
            }
        }
    }
    Ok(out)
}

/// `redis_url`, or `redis_host` (+ `redis_port`, `redis_password`), or `cache_params` of type redis.
fn redis(f: &mut Fields<'_>, cache_path: &str) -> Result<Option<RedisSettings>, ConfigError> {
    let url = f.secret("redis_url")?;
    let host = f.string("redis_host")?.filter(|h| !h.is_empty());
    let port = f.u32("redis_port")?;
    let password = f.secret("redis_password")?;
    if let Some(url) = url {
        return Ok(Some(RedisSettings::Url(url)));
    }
    if let Some(host) = host {
        return Ok(Some(RedisSettings::Host {
            host,
            port: port_of(port, "router_settings.redis_port")?,
            password,
        }));
    }
    let Some(params) = f.raw("cache_params") else {
        return Ok(None);
    };
    let mut c = Fields::new(object(params, cache_path)?, cache_path);
    if let Some(url) = c.secret("url")?.or(c.secret("redis_url")?) {
        return Ok(Some(RedisSettings::Url(url)));
    }
    let Some(host) = c.string("host")?.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let port = c.u32("port")?;
    Ok(Some(RedisSettings::Host {
        host,
        port: port_of(port, &format!("{cache_path}.port"))?,
        password: c.secret("password")?,
    }))
}

fn port_of(port: Option<u32>, path: &str) -> Result<u16, ConfigError> {
    match port {
        None => Ok(6379),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ConfigError::Invalid {
                path: path.into(),
                message: format!("{p} is not a port"),
            }),
    }
}

impl RoutingSettings {
    /// Warns about fallbacks and aliases that name no configured `model_name`.
    pub(crate) fn check_group_names(&self, names: &[&str], findings: &mut Vec<Finding>) {
        let known =
            |g: &str| names.contains(&g) || self.model_group_alias.iter().any(|(a, _, _)| a == g);
        let lists = [
            ("fallbacks", &self.fallbacks),
            ("context_window_fallbacks", &self.context_window_fallbacks),
            ("content_policy_fallbacks", &self.content_policy_fallbacks),
        ];
        for (key, list) in lists {
            for (from, to) in list.iter() {
                for g in std::iter::once(from).chain(to.iter()) {
                    if g != "*" && !known(g) {
                        findings.push(Finding::warning(
                            format!("router_settings.{key}"),
                            format!("`{g}` is not a configured model_name: it is skipped"),
                        ));
                    }
                }
            }
        }
        for g in &self.default_fallbacks {
            if !known(g) {
                findings.push(Finding::warning(
                    "router_settings.default_fallbacks",
                    format!("`{g}` is not a configured model_name: it is skipped"),
                ));
            }
        }
        for (alias, group, _) in &self.model_group_alias {
            if !names.contains(&group.as_str()) {
                findings.push(Finding::warning(
                    "router_settings.model_group_alias",
                    format!(
                        "alias `{alias}` points at `{group}`, which is not a configured model_name"
                    ),
                ));
            }
        }
    }
}
