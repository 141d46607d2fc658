//! Observability settings: LiteLLM's `litellm_settings.callbacks` / `success_callback` /
//! `failure_callback` (`prometheus`, `otel`), `litellm_settings.require_auth_for_metrics_endpoint`,
//! and shale's own `general_settings.telemetry` mapping. The keys are taken out of their
//! sections before those are parsed, so the sections never report them as ignored.

use crate::fields::Fields;
use crate::{json_kind, ConfigError, Finding};
use serde_json::{Map, Value};

/// What to observe and export.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// Serve `GET /metrics` (callback `prometheus`, or `general_settings.telemetry.prometheus`).
    pub prometheus: bool,
    /// Export traces over OTLP (callback `otel`, or `general_settings.telemetry.otel`); the
    /// `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` variables also turn it on.
    pub otel: bool,
    /// `/metrics` needs the master key (`litellm_settings.require_auth_for_metrics_endpoint`).
    pub require_auth_for_metrics: bool,
    /// One access-log line per request (`general_settings.telemetry.access_log`, default true).
    pub access_log: bool,
    /// Put prompts and completions on trace spans
    /// (`general_settings.telemetry.otel_capture_message_content`, default false).
    pub capture_message_content: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            prometheus: false,
            otel: false,
            require_auth_for_metrics: false,
            access_log: true,
            capture_message_content: false,
        }
    }
}

/// Callback names that mean OpenTelemetry in LiteLLM.
const OTEL_CALLBACKS: &[&str] = &["otel", "opentelemetry"];

impl TelemetrySettings {
    /// Removes the telemetry keys from the raw `litellm_settings` and `general_settings`
    /// mappings of `root` and types them.
    pub(crate) fn take(
        root: &mut Map<String, Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<TelemetrySettings, ConfigError> {
        let mut s = TelemetrySettings::default();
        if let Some(Value::Object(litellm)) = root.get_mut("litellm_settings") {
            for key in ["callbacks", "success_callback", "failure_callback"] {
                let Some(value) = litellm.remove(key) else {
                    continue;
                };
                let path = format!("litellm_settings.{key}");
                for name in callback_names(value, &path)? {
                    if name == "prometheus" {
                        s.prometheus = true;
                    } else if OTEL_CALLBACKS.contains(&name.as_str()) {
                        s.otel = true;
                    } else {
                        findings.push(Finding::ignored(
                            format!("{path}: {name}"),
                            "callback not implemented by shale (prometheus and otel are)",
                        ));
                    }
                }
            }
            let mut f = Fields::new(std::mem::take(litellm), "litellm_settings");
            if let Some(v) = f.bool("require_auth_for_metrics_endpoint")? {
                s.require_auth_for_metrics = v;
            }
            *litellm = f.into_rest();
        }
        if let Some(Value::Object(general)) = root.get_mut("general_settings") {
            match general.remove("telemetry") {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) => s.apply_shale_mapping(map)?,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        path: "general_settings.telemetry".into(),
                        message: format!("expected a mapping, found {}", json_kind(&other)),
                    })
                }
            }
        }
        Ok(s)
    }

    fn apply_shale_mapping(&mut self, map: Map<String, Value>) -> Result<(), ConfigError> {
        let path = "general_settings.telemetry";
        let mut f = Fields::new(map, path);
        if let Some(v) = f.bool("prometheus")? {
            self.prometheus = v;
        }
        if let Some(v) = f.bool("otel")? {
            self.otel = v;
        }
        if let Some(v) = f.bool("access_log")? {
            self.access_log = v;
        }
        if let Some(v) = f.bool("otel_capture_message_content")? {
            self.capture_message_content = v;
        }
        if let Some(key) = f.into_rest().keys().next() {
            return Err(ConfigError::Invalid {
                path: format!("{path}.{key}"),
                message:
                    "unknown key (expected prometheus, otel, access_log, otel_capture_message_content)"
                        .into(),
            });
        }
        Ok(())
    }
}

/// A callback list (`[prometheus, otel]`) or a single name.
fn callback_names(value: Value, path: &str) -> Result<Vec<String>, ConfigError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.trim().to_ascii_lowercase()]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_ascii_lowercase()),
                other => Err(ConfigError::Invalid {
                    path: path.to_string(),
                    message: format!("expected callback names, found {}", json_kind(&other)),
                }),
            })
            .collect(),
        other => Err(ConfigError::Invalid {
            path: path.to_string(),
            message: format!(
                "expected a list of callback names, found {}",
                json_kind(&other)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn load(yaml: &str) -> Config {
        Config::from_yaml_str(yaml, &|_| None).expect("config loads")
    }

    #[test]
    fn litellm_callbacks_turn_on_prometheus_and_otel() {
        let c = load(
            "litellm_settings:\n  callbacks: [prometheus, otel, langfuse]\n  require_auth_for_metrics_endpoint: true\n",
        );
        assert!(c.telemetry.prometheus && c.telemetry.otel);
        assert!(c.telemetry.require_auth_for_metrics);
        assert!(c.telemetry.access_log);
        let paths: Vec<_> = c.findings.iter().map(|f| f.path.clone()).collect();
        assert!(paths.iter().any(|p| p.contains("langfuse")), "{paths:?}");
        assert!(
            !paths.iter().any(|p| p.contains("require_auth")),
            "{paths:?}"
        );
        assert!(!paths.iter().any(|p| p.ends_with("callbacks")), "{paths:?}");
    }

    #[test]
    fn success_callback_string_and_shale_mapping() {
        let c = load(
            "litellm_settings:\n  success_callback: prometheus\ngeneral_settings:\n  telemetry: {access_log: false, otel_capture_message_content: true}\n",
        );
        assert!(c.telemetry.prometheus && !c.telemetry.otel);
        assert!(!c.telemetry.access_log && c.telemetry.capture_message_content);
        let c = load("general_settings:\n  telemetry: {prometheus: true}\n");
        assert!(c.telemetry.prometheus);
        assert!(Config::from_yaml_str(
            "general_settings:\n  telemetry: {prometheus: true, nope: 1}\n",
            &|_| None
        )
        .is_err());
    }

    #[test]
    fn defaults_off() {
        let c = load("model_list: []\n");
        assert!(
            !c.telemetry.prometheus && !c.telemetry.otel && !c.telemetry.require_auth_for_metrics
        );
    }
}
