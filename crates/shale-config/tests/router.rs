//! Router keys (`router_settings` / `litellm_settings`): parsed as LiteLLM spells them, reported
//! as understood (no finding), unknown strategies refused.

use shale_config::{Config, RedisSettings, RoutingStrategy, Severity};
use std::time::Duration;

const MODELS: &str = "model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0, rpm: 10, tpm: 1000}\n  - model_name: b\n    litellm_params: {model: bedrock/us.amazon.nova-pro-v1:0}\n";

fn load(extra: &str) -> Result<Config, shale_config::ConfigError> {
    Config::from_yaml_str(&format!("{MODELS}{extra}"), &|_| None)
}

#[test]
fn every_router_key_is_understood() {
    let cfg = load(
        r#"
router_settings:
  routing_strategy: latency-based-routing
  routing_strategy_args: {lowest_latency_buffer: 0.5, ttl: 60}
  num_retries: 4
  timeout: 30
  retry_after: 1
  retry_policy: {RateLimitErrorRetries: 1, AuthenticationErrorRetries: 0}
  allowed_fails: 2
  cooldown_time: 10
  allowed_fails_policy: {InternalServerErrorAllowedFails: 5}
  fallbacks: [{"a": ["b"]}]
  model_group_alias: {"gpt-4o": "a", "hidden": {"model": "b", "hidden": true}}
  optional_pre_call_checks: ["prompt_caching"]
  enable_pre_call_checks: true
  redis_host: 127.0.0.1
  redis_port: 6390
  redis_password: pw
litellm_settings:
  context_window_fallbacks: [{"a": ["b"]}]
  content_policy_fallbacks: [{"a": ["b"]}]
  default_fallbacks: ["b"]
"#,
    )
    .unwrap();
    let r = &cfg.routing;
    assert_eq!(r.strategy, RoutingStrategy::LatencyBased);
    assert_eq!(r.lowest_latency_buffer, 0.5);
    assert_eq!(r.latency_ttl, Duration::from_secs(60));
    assert_eq!(r.num_retries, Some(4));
    assert_eq!(r.retry_policy.rate_limit, Some(1));
    assert_eq!(r.retry_policy.authentication, Some(0));
    assert_eq!(r.allowed_fails, Some(2));
    assert_eq!(r.cooldown_time, Some(Duration::from_secs(10)));
    assert_eq!(r.allowed_fails_policy.internal_server, Some(5));
    assert_eq!(r.fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    assert_eq!(r.context_window_fallbacks.len(), 1);
    assert_eq!(r.content_policy_fallbacks.len(), 1);
    assert_eq!(r.default_fallbacks, vec!["b".to_string()]);
    assert_eq!(r.model_group_alias.len(), 2);
    assert!(r
        .model_group_alias
        .contains(&("hidden".into(), "b".into(), true)));
    assert!(r.prompt_caching_affinity);
    match &r.redis {
        Some(RedisSettings::Host {
            host,
            port,
            password,
        }) => {
            assert_eq!(host, "127.0.0.1");
            assert_eq!(*port, 6390);
            assert_eq!(password.as_ref().unwrap().expose(), "pw");
        }
        other => panic!("{other:?}"),
    }
    assert!(cfg.findings.is_empty(), "{:?}", cfg.findings);
    let understood = r.understood.join("\n");
    assert!(
        understood.contains("router_settings.routing_strategy = \"latency-based-routing\""),
        "{understood}"
    );
    assert!(
        understood.contains("litellm_settings.default_fallbacks = [\"b\"]"),
        "{understood}"
    );
    assert!(
        understood.contains("router_settings.redis_password = (set)"),
        "{understood}"
    );
    assert!(
        !understood.contains("pw"),
        "secrets are masked: {understood}"
    );
}

#[test]
fn unknown_strategy_is_an_error_naming_the_key() {
    let err = load("router_settings: {routing_strategy: round-robin}\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("router_settings.routing_strategy"), "{msg}");
    assert!(msg.contains("round-robin"), "{msg}");
}

#[test]
fn deprecated_usage_based_routing_runs_v2_with_a_warning() {
    let cfg = load("router_settings: {routing_strategy: usage-based-routing}\n").unwrap();
    assert_eq!(cfg.routing.strategy, RoutingStrategy::UsageBased);
    assert!(cfg
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warning && f.path == "router_settings.routing_strategy"));
}

#[test]
fn redis_from_cache_params_or_url() {
    let cfg = load("litellm_settings:\n  cache: true\n  cache_params: {type: redis, host: cachehost, port: 6380}\n").unwrap();
    assert!(
        matches!(&cfg.routing.redis, Some(RedisSettings::Host { host, port: 6380, .. }) if host == "cachehost")
    );
    let cfg = load("router_settings: {redis_url: 'redis://:pw@h:1/0'}\n").unwrap();
    assert!(
        matches!(&cfg.routing.redis, Some(RedisSettings::Url(u)) if u.expose() == "redis://:pw@h:1/0")
    );
    // A local cache is not Redis: still reported as ignored.
    let cfg = load("litellm_settings:\n  cache_params: {type: local}\n").unwrap();
    assert!(cfg.routing.redis.is_none());
    assert!(cfg
        .findings
        .iter()
        .any(|f| f.path == "litellm_settings.cache_params"));
}

#[test]
fn bad_policy_class_and_fallback_shape_are_errors() {
    let err = load("router_settings: {retry_policy: {TeapotErrorRetries: 1}}\n").unwrap_err();
    assert!(err.to_string().contains("TeapotErrorRetries"), "{err}");
    let err = load("router_settings: {fallbacks: a}\n").unwrap_err();
    assert!(
        err.to_string().contains("router_settings.fallbacks"),
        "{err}"
    );
}

#[test]
fn fallback_to_a_missing_group_is_a_warning() {
    let cfg = load("router_settings: {fallbacks: [{a: [nope]}]}\n").unwrap();
    assert!(
        cfg.findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("nope")),
        "{:?}",
        cfg.findings
    );
}

#[test]
fn rpm_and_tpm_are_no_longer_reported_as_ignored() {
    let cfg = load("").unwrap();
    assert!(
        cfg.findings.iter().all(|f| !f.path.contains("rpm")),
        "{:?}",
        cfg.findings
    );
    assert_eq!(cfg.model_list[0].params.rpm, Some(10));
}
