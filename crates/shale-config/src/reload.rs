//! What a config reload (`SIGHUP`, or a changed file) applies to a running gateway, and what needs
//! a restart. Pure: the server loads and validates the new file with [`crate::Config::load`]
//! first (a file that does not load is refused with the start-up errors and changes nothing),
//! then asks [`apply_reload`] for the configuration to run.
//!
//! Reloadable (swapped in atomically with the model table): `model_list`, the router's settings
//! (routing strategy and its arguments, retries, cooldowns, fallbacks, model group aliases,
//! prompt-cache affinity), `litellm_settings` `drop_params` / `modify_params` / `num_retries`,
//! `router_settings.num_retries`, and `general_settings` `anthropic_beta`,
//! `pass_through_unknown_models` and `max_request_body_bytes` / `max_request_size_mb`.
//!
//! Everything else is read once at start-up by something that lives as long as the process (the
//! listener, the workers, authentication, the Bedrock HTTP client, Redis and Postgres
//! connections, telemetry): a change there is reported by [`apply_reload`] and the running value is
//! kept until the next restart.

use crate::{Config, GeneralSettings};

/// What a reload reports, one line per setting.
pub const RELOADABLE: &[&str] = &[
    "model_list",
    "router settings (routing_strategy, routing_strategy_args, num_retries, retry_policy, retry_after, allowed_fails, allowed_fails_policy, cooldown_time, disable_cooldowns, fallbacks, context_window_fallbacks, content_policy_fallbacks, default_fallbacks, model_group_alias, optional_pre_call_checks)",
    "litellm_settings.drop_params, modify_params, num_retries",
    "general_settings.anthropic_beta, pass_through_unknown_models, max_request_body_bytes / max_request_size_mb",
];

/// Settings a reload does not apply (the running value is kept until a restart).
pub const RESTART_ONLY: &[&str] = &[
    "--host / --port / --workers",
    "general_settings.master_key, allow_unauthenticated",
    "general_settings.database_url and the virtual-key settings",
    "general_settings.store_model_in_db, model_reconcile_interval_seconds, config_reload_interval_seconds",
    "general_settings.media_fetch, responses_store, header_read_timeout_seconds, shutdown_grace_seconds",
    "litellm_settings.request_timeout, router_settings.timeout",
    "Redis (router_settings.redis_*, cache_params)",
    "telemetry (callbacks, general_settings.telemetry, require_auth_for_metrics_endpoint)",
    "guardrails (the top-level guardrails: list)",
    "general_settings.background_health_checks, health_check_interval, use_shared_health_check, enable_health_check_routing, …",
];

/// The configuration to run after a reload: `next`'s reloadable settings on top of `running`'s
/// restart-only ones, and the restart-only settings `next` would change (empty when none).
pub fn apply_reload(running: &Config, next: Config) -> (Config, Vec<&'static str>) {
    let (rg, ng) = (&running.general_settings, &next.general_settings);
    // Each restart-only setting: whether `next` changes it, and how the reload names it.
    let restart_only = [
        (
            rg.master_key != ng.master_key || rg.allow_unauthenticated != ng.allow_unauthenticated,
            "general_settings.master_key / allow_unauthenticated",
        ),
        (rg.keys != ng.keys, "general_settings.database_url / virtual-key settings"),
        (rg.fleet != ng.fleet, "general_settings fleet settings (store_model_in_db, model_reconcile_interval_seconds, config_reload_interval_seconds)"),
        (rg.media_fetch != ng.media_fetch, "general_settings.media_fetch"),
        (rg.responses_store != ng.responses_store, "general_settings.responses_store"),
        (
            rg.header_read_timeout != ng.header_read_timeout,
            "general_settings.header_read_timeout_seconds",
        ),
        (rg.shutdown_grace != ng.shutdown_grace, "general_settings.shutdown_grace_seconds"),
        (
            running.litellm_settings.request_timeout != next.litellm_settings.request_timeout
                || running.router_settings.timeout != next.router_settings.timeout,
            "litellm_settings.request_timeout / router_settings.timeout",
        ),
        (running.routing.redis != next.routing.redis, "Redis settings"),
        (running.telemetry != next.telemetry, "telemetry settings"),
        (running.guardrails != next.guardrails, "guardrails"),
        (rg.health_checks != ng.health_checks, "general_settings health-check settings"),
    ];
    let ignored = restart_only
        .into_iter()
        .filter_map(|(changed, what)| changed.then_some(what))
        .collect();

    let general_settings = GeneralSettings {
        anthropic_beta: ng.anthropic_beta.clone(),
        pass_through_unknown_models: ng.pass_through_unknown_models,
        max_request_body_bytes: ng.max_request_body_bytes,
        ..rg.clone()
    };
    let mut litellm_settings = next.litellm_settings;
    litellm_settings.request_timeout = running.litellm_settings.request_timeout;
    let mut router_settings = next.router_settings;
    router_settings.timeout = running.router_settings.timeout;
    let mut routing = next.routing;
    routing.redis = running.routing.redis.clone();
    let config = Config {
        model_list: next.model_list,
        general_settings,
        litellm_settings,
        router_settings,
        routing,
        telemetry: running.telemetry.clone(),
        guardrails: running.guardrails.clone(),
        findings: next.findings,
    };
    (config, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Config {
        Config::from_yaml_str(yaml, &|_| None).unwrap()
    }

    #[test]
    fn models_and_routing_are_applied_the_rest_is_kept() {
        let running = load("general_settings:\n  master_key: sk-a\n  header_read_timeout_seconds: 3\nrouter_settings:\n  num_retries: 1\n  redis_url: redis://a:1/\nmodel_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y}\n");
        let next = load("general_settings:\n  master_key: sk-b\n  header_read_timeout_seconds: 9\n  pass_through_unknown_models: true\nrouter_settings:\n  num_retries: 4\n  redis_url: redis://b:2/\n  fallbacks: [{a: [b]}]\nmodel_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y}\n  - model_name: b\n    litellm_params: {model: bedrock/x.z}\n");
        let (config, ignored) = apply_reload(&running, next);
        assert_eq!(config.model_list.len(), 2);
        assert_eq!(config.router_settings.num_retries, Some(4));
        assert_eq!(config.routing.fallbacks.len(), 1);
        assert!(config.general_settings.pass_through_unknown_models);
        assert_eq!(
            config
                .general_settings
                .master_key
                .as_ref()
                .map(|k| k.expose()),
            Some("sk-a")
        );
        assert_eq!(config.general_settings.header_read_timeout.as_secs(), 3);
        assert_eq!(config.routing.redis, running.routing.redis);
        assert_eq!(
            ignored,
            vec![
                "general_settings.master_key / allow_unauthenticated",
                "general_settings.header_read_timeout_seconds",
                "Redis settings"
            ]
        );
    }

    #[test]
    fn an_identical_file_ignores_nothing() {
        let yaml = "general_settings:\n  master_key: sk-a\nmodel_list: []\n";
        let (_, ignored) = apply_reload(&load(yaml), load(yaml));
        assert!(ignored.is_empty(), "{ignored:?}");
    }
}
