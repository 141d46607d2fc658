//! `shale-cache`: the response cache — LiteLLM's `litellm_settings.cache: true`.
//!
//! A request's key is the SHA-256 of its model *group*, route and canonical parameters
//! ([`request`], [`canon`], [`key`]; embeddings per input item, [`embeddings`]); the per-request
//! controls (body `cache` object, `Cache-Control` header, a key's `allowed_cache_controls`) decide
//! whether it is read and stored ([`controls`]); a stored [`entry::Entry`] is the exact bytes the
//! client received (JSON, or a stream's events) so a hit is sent as it is; only complete answers
//! with output are stored ([`answer`]). Entries live in Redis (shared by replicas, through the
//! router's connection handling: one connection, bounded lookups, outages remembered and warned
//! about once) or in bounded memory ([`backend`]).
//!
//! What it must not do: HTTP (the server's `cache_hooks` module does), wait on a write (stores
//! are sent in the background), log a Redis URL or password, or silently fall back to memory when
//! Redis is configured but unreachable (lookups then miss, with a warning and a metric).

#![forbid(unsafe_code)]

pub mod answer;
pub mod backend;
mod canon;
pub mod controls;
pub mod embeddings;
pub mod entry;
pub mod key;
pub mod request;

pub use backend::{resolve_redis, RedisEndpoint};
pub use controls::{ControlError, Controls, Plan};
pub use entry::{Entry, Kind, StoredUsage};
pub use key::{KeyContext, KeyDigest};
pub use request::RequestView;
pub use shale_config::{CacheBackend, CacheMode, CacheScope, CacheSettings, CallType};

use backend::local::Local;
use backend::remote::{Found, Remote};
use bytes::Bytes;
use redis::aio::ConnectionManager;
use shale_router::RedisStatus;
use std::time::Duration;

/// Why the cache could not start, or an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("litellm_settings.cache is true with `type: redis`, but no Redis is configured: set cache_params.host (or url), or REDIS_HOST / REDIS_URL — or use `type: local` for a cache in this process's memory")]
    NoRedis,
    #[error("litellm_settings.cache_params: {0}")]
    BadRedis(String),
    #[error("Redis: {0}")]
    Redis(String),
}

/// The route a request path is, when its answers can be cached (POST only).
pub fn call_type(path: &str) -> Option<CallType> {
    Some(match path {
        "/chat/completions" | "/v1/chat/completions" => CallType::Chat,
        "/completions" | "/v1/completions" => CallType::Completions,
        "/embeddings" | "/v1/embeddings" => CallType::Embeddings,
        "/messages" | "/v1/messages" | "/anthropic/v1/messages" => CallType::Messages,
        "/responses" | "/v1/responses" => CallType::Responses,
        _ => return None,
    })
}

enum Store {
    Local(Local),
    Redis(Remote),
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Entry),
    Miss,
    /// Redis did not answer in time: serve uncached.
    Unavailable,
}

/// The result of `GET /cache/ping`.
#[derive(Debug)]
pub struct Ping {
    pub cache_type: &'static str,
    /// `Err` says why Redis did not answer `PING`.
    pub ping: Result<(), String>,
    /// `Err` says why the test write failed.
    pub set: Result<(), String>,
    /// Local: (entries, bytes, max entries, max bytes).
    pub local_usage: Option<(u64, u64, u64, u64)>,
}

/// The response cache of one gateway.
pub struct ResponseCache {
    settings: CacheSettings,
    store: Store,
    /// Where entries live, for messages (no password).
    shown: String,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("store", &self.shown)
            .finish()
    }
}

impl ResponseCache {
    /// A cache in this process's memory (`type: local`).
    pub fn local(settings: CacheSettings) -> ResponseCache {
        let (max_entries, max_bytes) = match settings.backend {
            CacheBackend::Local {
                max_entries,
                max_bytes,
            } => (max_entries, max_bytes),
            CacheBackend::Redis(_) => (10_000, 64 << 20),
        };
        ResponseCache {
            shown: format!("in memory (up to {max_entries} entries, {max_bytes} bytes)"),
            store: Store::Local(Local::new(max_entries, max_bytes)),
            settings,
        }
    }

    /// A cache in Redis over `conn` (the router's connection when both use this Redis).
    pub fn redis(settings: CacheSettings, conn: ConnectionManager, shown: &str) -> ResponseCache {
        ResponseCache {
            shown: format!("Redis at {shown}"),
            store: Store::Redis(Remote::new(conn)),
            settings,
        }
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Where entries live (no password), e.g. `Redis at redis://cache:6379/`.
    pub fn describe_store(&self) -> &str {
        &self.shown
    }

    /// `redis` or `local`.
    pub fn cache_type(&self) -> &'static str {
        match self.store {
            Store::Local(_) => "local",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether answers of `call` are cached.
    pub fn caches(&self, call: CallType) -> bool {
        self.settings.caches(call)
    }

    /// What the cache does for a request with `controls` (`None`: nothing).
    pub fn plan(&self, controls: &Controls) -> Option<Plan> {
        controls::plan(self.settings.mode, self.settings.ttl, controls)
    }

    /// The namespace a request's entries use.
    pub fn namespace<'a>(&'a self, controls: &'a Controls) -> &'a str {
        controls
            .namespace
            .as_deref()
            .unwrap_or(&self.settings.namespace)
    }

    /// Answers larger than this are not stored.
    pub fn max_entry_bytes(&self) -> usize {
        usize::try_from(self.settings.max_entry_bytes).unwrap_or(usize::MAX)
    }

    /// Looks one key up (bounded: at most a short timeout on Redis).
    pub async fn get(&self, key: &str) -> Lookup {
        let found = match &self.store {
            Store::Local(l) => l.get(key),
            Store::Redis(r) => match r.get(key, entry::now_ms()).await {
                Found::Value(v) => v,
                Found::Unavailable => return Lookup::Unavailable,
            },
        };
        match found.and_then(Entry::decode) {
            Some(e) => Lookup::Hit(e),
            None => Lookup::Miss,
        }
    }

    /// Looks several keys up in one round trip. `None`: Redis did not answer.
    pub async fn get_many(&self, keys: &[String]) -> Option<Vec<Option<Entry>>> {
        let found: Vec<Option<Bytes>> = match &self.store {
            Store::Local(l) => keys.iter().map(|k| l.get(k)).collect(),
            Store::Redis(r) => match r.get_many(keys, entry::now_ms()).await {
                Found::Value(v) => v,
                Found::Unavailable => return None,
            },
        };
        Some(
            found
                .into_iter()
                .map(|b| b.and_then(Entry::decode))
                .collect(),
        )
    }

    /// Stores entries under their keys for `ttl`, without waiting (Redis writes are sent in the
    /// background; a write Redis refuses is only counted).
    pub fn put(&self, items: Vec<(String, Entry)>, ttl: Duration) {
        match &self.store {
            Store::Local(l) => {
                for (key, e) in items {
                    l.put(key, Bytes::from(e.encode()), ttl);
                }
            }
            Store::Redis(r) => {
                let encoded = items.into_iter().map(|(k, e)| (k, e.encode())).collect();
                r.put(encoded, ttl, entry::now_ms());
            }
        }
    }

    /// Full keys (`<namespace>:<hex>`, as `x-litellm-cache-key` shows them; a bare hex key gets
    /// the configured namespace).
    fn full_keys(&self, keys: &[String]) -> Vec<String> {
        keys.iter()
            .map(|k| {
                if k.contains(':') {
                    k.clone()
                } else {
                    format!("{}:{k}", self.settings.namespace)
                }
            })
            .collect()
    }

    /// `POST /cache/delete`: removes these keys; how many existed.
    pub async fn delete(&self, keys: &[String]) -> Result<u64, CacheError> {
        let keys = self.full_keys(keys);
        match &self.store {
            Store::Local(l) => Ok(l.delete(&keys)),
            Store::Redis(r) => r.delete(&keys).await.map_err(CacheError::Redis),
        }
    }

    /// `POST /cache/flushall`: removes every entry of the configured namespace (nothing else).
    pub async fn flush(&self) -> Result<u64, CacheError> {
        let ns = &self.settings.namespace;
        match &self.store {
            Store::Local(l) => Ok(l.flush(&format!("{ns}:"))),
            Store::Redis(r) => r.flush(ns).await.map_err(CacheError::Redis),
        }
    }

    /// `GET /cache/ping`: `PING` and a test write on Redis; usage in memory.
    pub async fn ping(&self) -> Ping {
        match &self.store {
            Store::Local(l) => Ping {
                cache_type: "local",
                ping: Ok(()),
                set: Ok(()),
                local_usage: Some(l.usage()),
            },
            Store::Redis(r) => {
                let test_key = format!("{}:__ping__", self.settings.namespace);
                let (ping, set) = r.ping(&test_key).await;
                Ping {
                    cache_type: "redis",
                    ping,
                    set,
                    local_usage: None,
                }
            }
        }
    }

    /// Connects to Redis now (start-up; bounded, never fails: an unreachable Redis is one warning
    /// and the cache is skipped until it answers). Nothing to do for `local`.
    pub async fn warm_up(&self) {
        if let Store::Redis(r) = &self.store {
            r.warm_up(entry::now_ms()).await;
        }
    }

    /// Redis health after one bounded `PING` (for `shale_dependency_up`); `None` for `local`.
    pub async fn probe(&self) -> Option<RedisStatus> {
        match &self.store {
            Store::Local(_) => None,
            Store::Redis(r) => Some(r.probe(entry::now_ms()).await),
        }
    }

    /// Redis health as of the last call; `None` for `local`.
    pub fn redis_status(&self) -> Option<RedisStatus> {
        match &self.store {
            Store::Local(_) => None,
            Store::Redis(r) => Some(r.status()),
        }
    }
}

/// One line saying what the cache does, for `shale check` and the start-up log.
pub fn describe(settings: &CacheSettings, env: &dyn Fn(&str) -> Option<String>) -> String {
    let store = match &settings.backend {
        CacheBackend::Local {
            max_entries,
            max_bytes,
        } => format!(
            "in this process's memory (up to {max_entries} entries / {} MiB; not shared by replicas)",
            max_bytes / (1024 * 1024)
        ),
        CacheBackend::Redis(t) => match resolve_redis(t, env) {
            Ok(Some(e)) => format!("Redis at {} (from {})", e.shown, e.source),
            Ok(None) => format!("NOT STARTING: {}", CacheError::NoRedis),
            Err(why) => format!("NOT STARTING: {}", CacheError::BadRedis(why)),
        },
    };
    let routes: Vec<&str> = settings.call_types.iter().map(|c| c.name()).collect();
    let mode = match settings.mode {
        CacheMode::DefaultOn => "every request unless it opts out",
        CacheMode::DefaultOff => "only requests with cache: {\"use-cache\": true}",
    };
    let scope = match settings.scope {
        CacheScope::Shared => "entries shared by every caller",
        CacheScope::Key => "entries per virtual key",
        CacheScope::Team => "entries per team",
    };
    format!(
        "on — {store}; namespace `{}`; ttl {} s; routes: {}; {mode}; {scope}; answers up to {} KiB",
        settings.namespace,
        settings.ttl.as_secs_f64(),
        if routes.is_empty() {
            "none".to_string()
        } else {
            routes.join(", ")
        },
        settings.max_entry_bytes / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml_params: &str) -> CacheSettings {
        let yaml = format!("litellm_settings:\n  cache: true\n  cache_params: {yaml_params}\n");
        shale_config::Config::from_yaml_str(&yaml, &|_| None)
            .unwrap()
            .litellm_settings
            .cache
            .unwrap()
    }

    #[test]
    fn routes_by_path() {
        assert_eq!(call_type("/v1/chat/completions"), Some(CallType::Chat));
        assert_eq!(call_type("/completions"), Some(CallType::Completions));
        assert_eq!(
            call_type("/anthropic/v1/messages"),
            Some(CallType::Messages)
        );
        assert_eq!(call_type("/v1/messages/count_tokens"), None);
        assert_eq!(call_type("/v1/responses/resp_1"), None);
        assert_eq!(call_type("/v1/images/generations"), None);
    }

    #[tokio::test]
    async fn local_store_round_trip_delete_and_flush() {
        let cache = ResponseCache::local(settings("{type: local, namespace: ns}"));
        let e = Entry {
            kind: Kind::Json,
            stored_ms: entry::now_ms(),
            usage: StoredUsage::default(),
            body: Bytes::from_static(b"{}"),
        };
        cache.put(
            vec![("ns:a".into(), e.clone()), ("other:b".into(), e.clone())],
            Duration::from_secs(60),
        );
        assert!(matches!(cache.get("ns:a").await, Lookup::Hit(ref got) if *got == e));
        assert!(matches!(cache.get("ns:zz").await, Lookup::Miss));
        let many = cache
            .get_many(&["ns:a".into(), "ns:zz".into()])
            .await
            .unwrap();
        assert!(many[0].is_some() && many[1].is_none());
        assert_eq!(cache.flush().await.unwrap(), 1);
        assert!(
            matches!(cache.get("other:b").await, Lookup::Hit(_)),
            "other namespaces stay"
        );
        assert_eq!(cache.delete(&["other:b".into()]).await.unwrap(), 1);
        assert!(matches!(cache.get("other:b").await, Lookup::Miss));
    }

    #[test]
    fn describe_says_where_and_how() {
        let s =
            settings("{type: redis, host: r, password: secret, mode: default_off, scope: team}");
        let line = describe(&s, &|_| None);
        assert!(
            line.contains("Redis at redis://:***@r:6379/ (from cache_params.host)"),
            "{line}"
        );
        assert!(!line.contains("secret"));
        assert!(
            line.contains("use-cache") && line.contains("per team"),
            "{line}"
        );
        let no_redis = describe(&settings("{type: redis}"), &|_| None);
        assert!(no_redis.contains("NOT STARTING"), "{no_redis}");
        let env = |n: &str| (n == "REDIS_HOST").then(|| "envhost".to_string());
        assert!(describe(&settings("{type: redis}"), &env).contains("from REDIS_HOST"));
        assert!(describe(&settings("{type: local}"), &|_| None).contains("memory"));
    }
}
