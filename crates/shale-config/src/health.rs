//! Background health checks (issue #31): LiteLLM's `general_settings` keys
//! (`background_health_checks`, `health_check_interval`, `use_shared_health_check`,
//! `enable_health_check_routing`, `health_check_ignore_transient_errors`,
//! `background_health_check_model_groups`) and the per-deployment `model_info` keys
//! (`disable_background_health_check`, `health_check_timeout`, `mode`). Only parsing, defaults
//! and validation live here; the checker itself is the `shale-fleet` crate.
//!
//! Must not: do I/O or decide how a deployment is probed (that needs the model tables of
//! `shale-translate`).

use crate::fields::Fields;
use crate::{json_kind, ConfigError, Finding, ModelEntry};
use serde_json::Value;
use std::time::Duration;

/// LiteLLM's default `health_check_interval` (seconds).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// LiteLLM's `HEALTH_CHECK_TIMEOUT_SECONDS`: one probe's time limit unless
/// `model_info.health_check_timeout` says otherwise.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Below this interval `shale check` warns (a probe per deployment per interval is real traffic).
const SHORT_INTERVAL: Duration = Duration::from_secs(10);

/// `model_info.mode` values LiteLLM documents that decide how a deployment is probed.
const KNOWN_MODES: &[&str] = &[
    "chat",
    "completion",
    "responses",
    "embedding",
    "image_generation",
    "rerank",
];

/// The fleet-wide health-check settings (`general_settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSettings {
    /// `background_health_checks` (default false): probe every deployment every interval.
    pub enabled: bool,
    /// `health_check_interval` (seconds, default 300).
    pub interval: Duration,
    /// `use_shared_health_check`: one replica probes each deployment per interval and every replica
    /// reads the results from Redis. Unset → shared whenever Redis is configured; `false` → every
    /// replica probes on its own even with Redis.
    pub shared: Option<bool>,
    /// `enable_health_check_routing` (default false): a failed probe takes the deployment out of
    /// rotation (a router cooldown until the next probe), a passing one puts it back.
    pub routing: bool,
    /// `health_check_ignore_transient_errors` (default false): a probe failing with 408 or 429
    /// marks the deployment unhealthy but never cools it down.
    pub ignore_transient_errors: bool,
    /// `background_health_check_model_groups`: only these `model_name`s are probed (unset: all).
    pub model_groups: Option<Vec<String>>,
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        HealthCheckSettings {
            enabled: false,
            interval: DEFAULT_INTERVAL,
            shared: None,
            routing: false,
            ignore_transient_errors: false,
            model_groups: None,
        }
    }
}

/// One deployment's `model_info` health-check keys (validated at load, so reading them later
/// cannot fail).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentHealthSettings {
    /// `model_info.disable_background_health_check`.
    pub disabled: bool,
    /// `model_info.health_check_timeout` (seconds), else [`DEFAULT_PROBE_TIMEOUT`].
    pub timeout: Duration,
}

impl HealthCheckSettings {
    /// Takes this section's keys out of `general_settings` (the rest stays in `f`).
    pub(crate) fn take(f: &mut Fields<'_>) -> Result<HealthCheckSettings, ConfigError> {
        let d = HealthCheckSettings::default();
        let model_groups = match f.raw("background_health_check_model_groups") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        other => Err(ConfigError::Invalid {
                            path: "general_settings.background_health_check_model_groups".into(),
                            message: format!(
                                "expected a list of model names, found {} in it",
                                json_kind(&other)
                            ),
                        }),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: "general_settings.background_health_check_model_groups".into(),
                    message: format!(
                        "expected a list of model names, found {}",
                        json_kind(&other)
                    ),
                })
            }
        };
        Ok(HealthCheckSettings {
            enabled: f.bool("background_health_checks")?.unwrap_or(d.enabled),
            interval: f.seconds("health_check_interval")?.unwrap_or(d.interval),
            shared: f.bool("use_shared_health_check")?,
            routing: f.bool("enable_health_check_routing")?.unwrap_or(d.routing),
            ignore_transient_errors: f
                .bool("health_check_ignore_transient_errors")?
                .unwrap_or(d.ignore_transient_errors),
            model_groups,
        })
    }

    /// Whether `entry` is probed in the background (checks on, not opted out, in the groups).
    pub fn probes(&self, entry: &ModelEntry) -> bool {
        self.enabled
            && !DeploymentHealthSettings::of(entry).disabled
            && self
                .model_groups
                .as_ref()
                .is_none_or(|groups| groups.contains(&entry.model_name))
    }
}

impl DeploymentHealthSettings {
    /// The deployment's health-check keys (defaults where absent).
    pub fn of(entry: &ModelEntry) -> DeploymentHealthSettings {
        let info = &entry.model_info;
        DeploymentHealthSettings {
            disabled: info
                .get("disable_background_health_check")
                .and_then(as_bool)
                .unwrap_or(false),
            timeout: info
                .get("health_check_timeout")
                .and_then(as_seconds)
                .unwrap_or(DEFAULT_PROBE_TIMEOUT),
        }
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_seconds(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

/// Refuses ill-typed `model_info` health-check keys (with their path, so the error gets a line and
/// column) and reports what will not do what the user expects.
pub(crate) fn check(
    models: &[ModelEntry],
    settings: &HealthCheckSettings,
    findings: &mut Vec<Finding>,
) -> Result<(), ConfigError> {
    for entry in models {
        let info = &entry.model_info;
        let path = |key: &str| format!("model_list[{}].model_info.{key}", entry.index);
        if let Some(v) = info.get("disable_background_health_check") {
            if as_bool(v).is_none() {
                return Err(ConfigError::Invalid {
                    path: path("disable_background_health_check"),
                    message: format!("expected true or false, found {}", json_kind(v)),
                });
            }
        }
        if let Some(v) = info.get("health_check_timeout") {
            if as_seconds(v).is_none() {
                return Err(ConfigError::Invalid {
                    path: path("health_check_timeout"),
                    message: "expected a positive number of seconds".into(),
                });
            }
        }
        match info.get("mode") {
            None | Some(Value::Null) => {}
            Some(Value::String(mode)) if KNOWN_MODES.contains(&mode.as_str()) => {}
            Some(Value::String(mode)) => findings.push(Finding::warning(
                path("mode"),
                format!("`{mode}` is not a mode shale serves (chat, completion, responses, embedding, image_generation, rerank): the health probe is chosen from the model id"),
            )),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: path("mode"),
                    message: format!("expected a string, found {}", json_kind(other)),
                })
            }
        }
    }
    if !settings.enabled {
        return Ok(());
    }
    if settings.interval < SHORT_INTERVAL {
        findings.push(Finding::warning(
            "general_settings.health_check_interval",
            format!(
                "{} s: every deployment is probed that often (one real Bedrock call each time)",
                settings.interval.as_secs_f64()
            ),
        ));
    }
    if let Some(groups) = &settings.model_groups {
        for group in groups {
            if !models.iter().any(|m| m.model_name == *group) {
                findings.push(Finding::warning(
                    "general_settings.background_health_check_model_groups",
                    format!(
                        "`{group}` is not a model_name of model_list: nothing is probed for it"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, &|_| None)
    }

    const MODEL: &str = "model_list:\n  - model_name: claude\n    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0}\n";

    #[test]
    fn defaults_are_litellms() {
        let c = load(MODEL).unwrap();
        let h = &c.general_settings.health_checks;
        assert_eq!(h, &HealthCheckSettings::default());
        assert!(!h.enabled);
        assert_eq!(h.interval, Duration::from_secs(300));
        assert!(!h.probes(&c.model_list[0]));
        let d = DeploymentHealthSettings::of(&c.model_list[0]);
        assert_eq!((d.disabled, d.timeout), (false, DEFAULT_PROBE_TIMEOUT));
    }

    #[test]
    fn keys_are_read_and_not_reported_as_ignored() {
        let c = load(&format!(
            "{MODEL}  - model_name: titan\n    litellm_params: {{model: bedrock/amazon.titan-embed-text-v2:0}}\n    model_info: {{disable_background_health_check: true, health_check_timeout: 5, mode: embedding}}\n\
             general_settings:\n  background_health_checks: true\n  health_check_interval: 30\n  use_shared_health_check: false\n  \
             enable_health_check_routing: true\n  health_check_ignore_transient_errors: true\n  background_health_check_model_groups: [claude, titan]\n"
        ))
        .unwrap();
        let h = &c.general_settings.health_checks;
        assert!(h.enabled && h.routing && h.ignore_transient_errors);
        assert_eq!(h.interval, Duration::from_secs(30));
        assert_eq!(h.shared, Some(false));
        assert_eq!(h.model_groups.as_deref().map(<[_]>::len), Some(2));
        assert!(h.probes(&c.model_list[0]));
        assert!(!h.probes(&c.model_list[1]), "opted out");
        assert_eq!(
            DeploymentHealthSettings::of(&c.model_list[1]).timeout,
            Duration::from_secs(5)
        );
        assert!(
            c.findings.iter().all(|f| !f.path.contains("health")),
            "{:?}",
            c.findings
        );
    }

    #[test]
    fn model_groups_limit_what_is_probed() {
        let c = load(&format!(
            "{MODEL}general_settings:\n  background_health_checks: true\n  background_health_check_model_groups: [other]\n"
        ))
        .unwrap();
        assert!(!c.general_settings.health_checks.probes(&c.model_list[0]));
        assert!(c
            .findings
            .iter()
            .any(|f| f.message.contains("`other` is not a model_name")));
    }

    #[test]
    fn bad_values_are_refused_with_their_location() {
        let err = load(&format!(
            "{MODEL}    model_info: {{disable_background_health_check: maybe}}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("model_list[0].model_info.disable_background_health_check")
                && err.contains("line 4"),
            "{err}"
        );
        let err = load(&format!(
            "{MODEL}    model_info: {{health_check_timeout: -1}}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("health_check_timeout"), "{err}");
        let err = load(&format!(
            "{MODEL}general_settings:\n  health_check_interval: 0\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("general_settings.health_check_interval"),
            "{err}"
        );
        let err = load(&format!(
            "{MODEL}general_settings:\n  background_health_check_model_groups: claude\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("expected a list of model names"), "{err}");
    }

    #[test]
    fn short_intervals_and_unknown_modes_are_findings() {
        let c = load(&format!(
            "{MODEL}    model_info: {{mode: audio_speech}}\ngeneral_settings:\n  background_health_checks: true\n  health_check_interval: 2\n"
        ))
        .unwrap();
        let paths: Vec<&str> = c.findings.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"general_settings.health_check_interval"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"model_list[0].model_info.mode"),
            "{paths:?}"
        );
    }
}
