//! `general_settings` keys of virtual keys, teams, budgets and spend logs (issue #15): where the
//! database is, how long key lookups are cached and how spend is written. Only parsing and
//! defaults live here; the key service itself is the `shale-keys` crate.

use crate::fields::Fields;
use crate::{ConfigError, Secret};
use std::time::Duration;

/// Settings of the virtual-key store, read from `general_settings` (LiteLLM's key names where
/// LiteLLM has one).
#[derive(Debug, Clone, PartialEq)]
pub struct KeysConfig {
    /// `database_url`: a `postgresql://` URL. Unset here → the key service falls back to the
    /// `DATABASE_URL` environment variable; unset there too → no virtual keys (master key only).
    pub database_url: Option<Secret>,
    /// `allow_requests_on_db_unavailable` (default false): start and keep serving cached keys when
    /// Postgres cannot be reached at start-up, instead of refusing to start.
    pub allow_requests_on_db_unavailable: bool,
    /// `disable_spend_logs` (default false): keep spend per key and team, but write no per-request
    /// rows to `spend_logs`.
    pub disable_spend_logs: bool,
    /// `proxy_batch_write_at` (seconds, default 10): how often buffered spend is written.
    pub proxy_batch_write_at: Duration,
    /// `user_api_key_cache_ttl` (seconds, default 5): how long a key lookup is served from memory
    /// before Postgres is asked again. Admin writes invalidate at once on this replica (and, with
    /// Redis, on every replica); without Redis other replicas see a change after this long.
    pub user_api_key_cache_ttl: Duration,
    /// `max_buffered_spend_rows` (shale's own, default 10 000): spend-log rows kept in memory while
    /// Postgres is down; beyond it the oldest are dropped (and counted).
    pub max_buffered_spend_rows: usize,
    /// `database_connection_pool_limit` (default 10): most Postgres connections of this replica.
    pub database_connection_pool_limit: u32,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            database_url: None,
            allow_requests_on_db_unavailable: false,
            disable_spend_logs: false,
            proxy_batch_write_at: Duration::from_secs(10),
            user_api_key_cache_ttl: Duration::from_secs(5),
            max_buffered_spend_rows: 10_000,
            database_connection_pool_limit: 10,
        }
    }
}

impl KeysConfig {
    /// The database of virtual keys — and of everything else the replicas keep in Postgres
    /// (stored models, the Responses store): `database_url`, else env `DATABASE_URL`; a blank
    /// value counts as unset.
    pub fn database_url_or_env(&self) -> Option<String> {
        self.database_url
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| !u.trim().is_empty())
    }

    /// Takes this section's keys out of `general_settings` (the rest stays in `f`).
    pub(crate) fn take(f: &mut Fields<'_>) -> Result<KeysConfig, ConfigError> {
        let d = KeysConfig::default();
        let max_rows = f.at_least_one("max_buffered_spend_rows")?;
        let pool_limit = f.at_least_one("database_connection_pool_limit")?;
        Ok(KeysConfig {
            database_url: f.secret("database_url")?,
            allow_requests_on_db_unavailable: f.flag("allow_requests_on_db_unavailable")?,
            disable_spend_logs: f.flag("disable_spend_logs")?,
            proxy_batch_write_at: f
                .seconds("proxy_batch_write_at")?
                .unwrap_or(d.proxy_batch_write_at),
            user_api_key_cache_ttl: f
                .seconds("user_api_key_cache_ttl")?
                .unwrap_or(d.user_api_key_cache_ttl),
            max_buffered_spend_rows: max_rows.unwrap_or(d.max_buffered_spend_rows),
            database_connection_pool_limit: pool_limit.unwrap_or(d.database_connection_pool_limit),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::time::Duration;

    fn load(yaml: &str) -> Result<Config, crate::ConfigError> {
        Config::from_yaml_str(yaml, &|name| {
            (name == "PG_URL").then(|| "postgresql://u:p@127.0.0.1:5/db".to_string())
        })
    }

    #[test]
    fn defaults_without_a_database() {
        let c = load("model_list: []\n").unwrap();
        let k = &c.general_settings.keys;
        assert!(k.database_url.is_none());
        assert_eq!(k.proxy_batch_write_at, Duration::from_secs(10));
        assert_eq!(k.max_buffered_spend_rows, 10_000);
        assert!(!k.allow_requests_on_db_unavailable);
    }

    #[test]
    fn settings_are_read_and_not_reported_as_ignored() {
        let c = load(
            "model_list: []\ngeneral_settings:\n  database_url: os.environ/PG_URL\n  \
             proxy_batch_write_at: 1\n  disable_spend_logs: true\n  user_api_key_cache_ttl: 2.5\n  \
             allow_requests_on_db_unavailable: true\n  max_buffered_spend_rows: 50\n  \
             database_connection_pool_limit: 3\n",
        )
        .unwrap();
        let k = &c.general_settings.keys;
        assert_eq!(
            k.database_url.as_ref().map(|s| s.expose().to_string()),
            Some("postgresql://u:p@127.0.0.1:5/db".to_string())
        );
        assert_eq!(k.proxy_batch_write_at, Duration::from_secs(1));
        assert_eq!(k.user_api_key_cache_ttl, Duration::from_millis(2500));
        assert!(k.disable_spend_logs && k.allow_requests_on_db_unavailable);
        assert_eq!(
            (k.max_buffered_spend_rows, k.database_connection_pool_limit),
            (50, 3)
        );
        assert!(
            !c.findings.iter().any(|f| f.path.contains("database_url")
                || f.path.contains("proxy_batch_write_at")
                || f.path.contains("disable_spend_logs")),
            "{:?}",
            c.findings
        );
    }

    #[test]
    fn zero_buffer_is_refused() {
        let err =
            load("model_list: []\ngeneral_settings:\n  max_buffered_spend_rows: 0\n").unwrap_err();
        assert!(err.to_string().contains("max_buffered_spend_rows"), "{err}");
    }
}
