//! `general_settings.responses_store`: where Responses API answers (`store: true`) are kept for
//! `previous_response_id`, `GET /v1/responses/{id}` and `…/input_items` (`backend`: this
//! replica's memory, or Postgres / Redis shared by every replica) and the bounds of that store.
//! Only parsing and defaults live here; the stores themselves are in `shale-fleet`.

use crate::fields::Fields;
use crate::ConfigError;
use serde_json::{Map, Value};
use std::time::Duration;

/// Where stored responses live (`responses_store.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponsesBackend {
    /// `auto` (default): Postgres when a database is configured (`database_url` / `DATABASE_URL`),
    /// else Redis when Redis is configured, else memory.
    #[default]
    Auto,
    /// `memory`: this replica only (lost on restart; other replicas do not see it).
    Memory,
    /// `postgres`: the `database_url` / `DATABASE_URL` database (table `shale_responses`).
    Postgres,
    /// `redis`: the router's Redis (`router_settings.redis_*`, `REDIS_URL`, …).
    Redis,
}

impl ResponsesBackend {
    pub fn name(self) -> &'static str {
        match self {
            ResponsesBackend::Auto => "auto",
            ResponsesBackend::Memory => "memory",
            ResponsesBackend::Postgres => "postgres",
            ResponsesBackend::Redis => "redis",
        }
    }
}

/// Where the Responses store lives and its bounds. Whichever limit is reached first evicts the
/// least recently used (in memory) or oldest (shared) responses; a response older than `ttl` is
/// gone. With a shared backend the bounds apply to the shared store and, separately, to this
/// replica's cache of recent writes in front of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesStoreSettings {
    /// Most responses kept (default 10 000; 0 disables storing: `store: true` is then ignored).
    pub max_responses: usize,
    /// Most bytes kept, counted as the JSON size of each response, its input and its conversation
    /// (default 256 MiB).
    pub max_bytes: usize,
    /// How long a response stays retrievable after it was created (default 24 h).
    pub ttl: Duration,
    /// Where responses live (default `auto`).
    pub backend: ResponsesBackend,
}

impl Default for ResponsesStoreSettings {
    fn default() -> Self {
        ResponsesStoreSettings {
            max_responses: 10_000,
            max_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(24 * 60 * 60),
            backend: ResponsesBackend::Auto,
        }
    }
}

impl ResponsesStoreSettings {
    pub(crate) fn from_map(map: Map<String, Value>) -> Result<Self, ConfigError> {
        let path = "general_settings.responses_store";
        let d = ResponsesStoreSettings::default();
        let mut f = Fields::new(map, path);
        let settings = ResponsesStoreSettings {
            max_responses: f.usize("max_responses")?.unwrap_or(d.max_responses),
            max_bytes: f.usize("max_bytes")?.unwrap_or(d.max_bytes),
            ttl: f.seconds("ttl_seconds")?.unwrap_or(d.ttl),
            backend: match f.string("backend")?.as_deref() {
                None | Some("auto") => ResponsesBackend::Auto,
                Some("memory") => ResponsesBackend::Memory,
                Some("postgres") => ResponsesBackend::Postgres,
                Some("redis") => ResponsesBackend::Redis,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        path: format!("{path}.backend"),
                        message: format!(
                            "`{other}` is not a backend (expected auto, memory, postgres or redis)"
                        ),
                    })
                }
            },
        };
        if let Some(key) = f.into_rest().keys().next() {
            return Err(ConfigError::Invalid {
                path: format!("{path}.{key}"),
                message: "unknown key (expected backend, max_responses, max_bytes, ttl_seconds)"
                    .into(),
            });
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::ResponsesBackend;
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
        assert_eq!(s.backend, ResponsesBackend::Auto);
        for name in ["memory", "postgres", "redis", "auto"] {
            let c = load(&format!(
                "model_list: []\ngeneral_settings:\n  responses_store: {{backend: {name}}}\n"
            ))
            .unwrap();
            assert_eq!(c.general_settings.responses_store.backend.name(), name);
        }
        let err = load("model_list: []\ngeneral_settings:\n  responses_store: {backend: s3}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("responses_store.backend") && err.contains("`s3`"),
            "{err}"
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
