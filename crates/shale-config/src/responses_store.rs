//! `general_settings.responses_store`: bounds of the in-memory store that keeps Responses API
//! answers (`store: true`) for `previous_response_id`, `GET /v1/responses/{id}` and
//! `…/input_items`. Only parsing and defaults live here; the store itself is in `shale-server`.

use crate::fields::Fields;
use crate::ConfigError;
use serde_json::{Map, Value};
use std::time::Duration;

/// Bounds of the in-memory Responses store. Whichever limit is reached first evicts the least
/// recently used responses; a response older than `ttl` is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesStoreSettings {
    /// Most responses kept (default 10 000; 0 disables storing: `store: true` is then ignored).
    pub max_responses: usize,
    /// Most bytes kept, counted as the JSON size of each response, its input and its conversation
    /// (default 256 MiB).
    pub max_bytes: usize,
    /// How long a response stays retrievable after it was created (default 24 h).
    pub ttl: Duration,
}

impl Default for ResponsesStoreSettings {
    fn default() -> Self {
        ResponsesStoreSettings {
            max_responses: 10_000,
            max_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl ResponsesStoreSettings {
    pub(crate) fn from_map(map: Map<String, Value>) -> Result<Self, ConfigError> {
        let path = "general_settings.responses_store";
        let d = ResponsesStoreSettings::default();
        let mut f = Fields::new(map, path);
        let settings = ResponsesStoreSettings {
            max_responses: f
                .u64("max_responses")?
                .map(|n| n as usize)
                .unwrap_or(d.max_responses),
            max_bytes: f
                .u64("max_bytes")?
                .map(|n| n as usize)
                .unwrap_or(d.max_bytes),
            ttl: f.seconds("ttl_seconds")?.unwrap_or(d.ttl),
        };
        if let Some(key) = f.into_rest().keys().next() {
            return Err(ConfigError::Invalid {
                path: format!("{path}.{key}"),
                message: "unknown key (expected max_responses, max_bytes, ttl_seconds)".into(),
            });
        }
        Ok(settings)
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
    fn defaults_and_overrides() {
        let c = load("model_list: []\n").unwrap();
        let s = &c.general_settings.responses_store;
        assert_eq!(s.max_responses, 10_000);
        assert_eq!(s.ttl, Duration::from_secs(86_400));
        let c = load("model_list: []\ngeneral_settings:\n  responses_store: {max_responses: 5, max_bytes: 1000, ttl_seconds: 60}\n").unwrap();
        let s = &c.general_settings.responses_store;
        assert_eq!(
            (s.max_responses, s.max_bytes, s.ttl),
            (5, 1000, Duration::from_secs(60))
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err =
            load("model_list: []\ngeneral_settings:\n  responses_store: {size: 5}\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("general_settings.responses_store.size"),
            "{err}"
        );
    }
}
