//! `general_settings` keys for running a fleet of replicas (issue #31): models kept in Postgres
//! (`store_model_in_db`) and how they reach every replica, and how often the config file is
//! checked for changes. Only parsing and defaults live here: the store is the `shale-models`
//! crate, the reload is the server's.

use crate::fields::Fields;
use crate::ConfigError;
use std::time::Duration;

/// Default pause between two reconciles of the model table with Postgres.
pub const DEFAULT_MODEL_RECONCILE: Duration = Duration::from_secs(5);

/// Fleet settings, read from `general_settings`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSettings {
    /// `store_model_in_db` (LiteLLM's key, default false): `/model/new`, `/model/update` and
    /// `/model/delete` keep deployments in Postgres (the virtual keys' database), shared by every
    /// replica. The environment variable `STORE_MODEL_IN_DB=true` turns it on too.
    pub store_model_in_db: bool,
    /// `model_reconcile_interval_seconds` (shale's own, default 5): how often each replica checks
    /// Postgres for model changes it has not heard of through Redis.
    pub model_reconcile_interval: Duration,
    /// `config_reload_interval_seconds` (shale's own, default 0 = off): how often the config file
    /// is checked for a change (a Kubernetes ConfigMap update); `SIGHUP` reloads it at any time.
    pub config_reload_interval: Option<Duration>,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            store_model_in_db: false,
            model_reconcile_interval: DEFAULT_MODEL_RECONCILE,
            config_reload_interval: None,
        }
    }
}

impl FleetSettings {
    /// Takes this section's keys out of `general_settings` (the rest stays in `f`).
    pub(crate) fn take(f: &mut Fields<'_>) -> Result<FleetSettings, ConfigError> {
        let d = FleetSettings::default();
        let config_reload_interval = match f.f64("config_reload_interval_seconds")? {
            None => None,
            Some(0.0) => None,
            Some(v) if (0.1..=86_400.0).contains(&v) => Some(Duration::from_secs_f64(v)),
            Some(v) => {
                return Err(ConfigError::Invalid {
                    path: "general_settings.config_reload_interval_seconds".into(),
                    message: format!("must be 0 (off) or from 0.1 to 86400 seconds, found {v}"),
                })
            }
        };
        let model_reconcile_interval = match f.f64("model_reconcile_interval_seconds")? {
            None => d.model_reconcile_interval,
            Some(v) if (0.1..=3_600.0).contains(&v) => Duration::from_secs_f64(v),
            Some(v) => {
                return Err(ConfigError::Invalid {
                    path: "general_settings.model_reconcile_interval_seconds".into(),
                    message: format!("must be from 0.1 to 3600 seconds, found {v}"),
                })
            }
        };
        Ok(FleetSettings {
            store_model_in_db: f.bool("store_model_in_db")?.unwrap_or(d.store_model_in_db),
            model_reconcile_interval,
            config_reload_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::time::Duration;

    fn load(yaml: &str) -> Result<Config, crate::ConfigError> {
        Config::from_yaml_str(yaml, &|_| None)
    }

    #[test]
    fn defaults_and_values() {
        let c = load("model_list: []\n").unwrap();
        assert!(!c.general_settings.fleet.store_model_in_db);
        assert_eq!(c.general_settings.fleet.config_reload_interval, None);
        let c = load(
            "general_settings:\n  store_model_in_db: true\n  config_reload_interval_seconds: 2\n  model_reconcile_interval_seconds: 1.5\n",
        )
        .unwrap();
        let f = &c.general_settings.fleet;
        assert!(f.store_model_in_db);
        assert_eq!(f.config_reload_interval, Some(Duration::from_secs(2)));
        assert_eq!(f.model_reconcile_interval, Duration::from_millis(1500));
        assert!(
            !c.findings
                .iter()
                .any(|f| f.path.contains("store_model_in_db")),
            "{:?}",
            c.findings
        );
    }

    #[test]
    fn impossible_intervals_are_refused() {
        let err = load("general_settings:\n  config_reload_interval_seconds: -1\n").unwrap_err();
        assert!(
            err.to_string().contains("config_reload_interval_seconds"),
            "{err}"
        );
        let err = load("general_settings:\n  model_reconcile_interval_seconds: 0\n").unwrap_err();
        assert!(
            err.to_string().contains("model_reconcile_interval_seconds"),
            "{err}"
        );
    }
}
