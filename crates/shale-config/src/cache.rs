//! The response cache's settings, as LiteLLM spells them: `litellm_settings.cache: true` and
//! `litellm_settings.cache_params` (`type: redis | local`, the Redis connection, `namespace`,
//! `ttl`, `supported_call_types`, `mode`), plus shale's own keys (`scope`, the local cache's
//! bounds, `max_entry_bytes`).
//!
//! Parsing and validation only: values that cannot work are errors naming the field (so start-up
//! and `shale check` point at the line and column); LiteLLM keys shale does not act on are
//! findings. No environment reads here (`REDIS_URL`, `REDIS_HOST` … are resolved by `shale-cache`
//! when the cache starts), no I/O. What the cache does with these lives in `shale-cache`.

use crate::fields::Fields;
use crate::{json_kind, ConfigError, Finding, Secret};
use serde_json::{Map, Value};
use std::time::Duration;

/// Where the cache path is in the file.
const PATH: &str = "litellm_settings.cache_params";

/// The routes whose answers can be cached (LiteLLM's call types, grouped by shale route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    /// `/v1/chat/completions` (`completion`, `acompletion`).
    Chat,
    /// `/v1/completions` (`text_completion`, `atext_completion`).
    Completions,
    /// `/v1/embeddings` (`embedding`, `aembedding`).
    Embeddings,
    /// `/v1/messages` (`anthropic_messages`).
    Messages,
    /// `/v1/responses` (`responses`, `aresponses`).
    Responses,
}

impl CallType {
    pub const ALL: [CallType; 5] = [
        CallType::Chat,
        CallType::Completions,
        CallType::Embeddings,
        CallType::Messages,
        CallType::Responses,
    ];

    /// A short name for messages and `shale check`.
    pub fn name(self) -> &'static str {
        match self {
            CallType::Chat => "chat",
            CallType::Completions => "completions",
            CallType::Embeddings => "embeddings",
            CallType::Messages => "messages",
            CallType::Responses => "responses",
        }
    }

    /// LiteLLM's call-type names (sync and async spellings) for a shale route.
    fn from_litellm(name: &str) -> Option<CallType> {
        Some(match name {
            "completion" | "acompletion" => CallType::Chat,
            "text_completion" | "atext_completion" => CallType::Completions,
            "embedding" | "aembedding" => CallType::Embeddings,
            "anthropic_messages" | "messages" | "amessages" => CallType::Messages,
            "responses" | "aresponses" => CallType::Responses,
            _ => return None,
        })
    }
}

/// LiteLLM call types that exist but that shale does not cache.
const UNCACHED_LITELLM_CALL_TYPES: &[&str] = &[
    "transcription",
    "atranscription",
    "rerank",
    "arerank",
    "image_generation",
    "aimage_generation",
    "speech",
    "aspeech",
    "moderation",
    "amoderation",
];

/// `mode`: whether requests use the cache unless they opt out, or only when they opt in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// `default_on` (LiteLLM's default).
    #[default]
    DefaultOn,
    /// `default_off`: only requests with `cache: {"use-cache": true}` use the cache.
    DefaultOff,
}

/// `scope` (a shale extension): who shares entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// Every caller shares entries (LiteLLM's behaviour).
    #[default]
    Shared,
    /// Entries are per virtual key (the master key is one scope).
    Key,
    /// Entries are per team (keys without a team: per key).
    Team,
}

/// The Redis server of a `type: redis` cache, as configured. Anything left out falls back to the
/// environment (`REDIS_URL`, else `REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, `REDIS_USERNAME`,
/// `REDIS_SSL`), resolved by `shale-cache`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisTarget {
    /// `url` / `redis_url` (wins over everything else).
    pub url: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `ssl: true` → `rediss://`.
    pub ssl: Option<bool>,
    /// `ssl_cert_reqs: none` (LiteLLM passes it to redis-py): do not verify the server certificate.
    pub ssl_insecure: bool,
    /// `db` (database number).
    pub db: Option<u32>,
}

/// The cache's storage.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheBackend {
    /// `type: redis` (LiteLLM's default when `cache: true`).
    Redis(RedisTarget),
    /// `type: local`: this process's memory, bounded by entries and bytes.
    Local { max_entries: u64, max_bytes: u64 },
}

/// `litellm_settings.cache: true` with its `cache_params`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    pub backend: CacheBackend,
    /// Key prefix: entries are stored as `<namespace>:<sha256 hex>` (default `shale:cache`).
    pub namespace: String,
    /// How long an entry lives (default 600 s; `default_in_redis_ttl` / `default_in_memory_ttl`
    /// win for their type).
    pub ttl: Duration,
    /// The routes whose answers are cached (`supported_call_types`; default all five).
    pub call_types: Vec<CallType>,
    pub mode: CacheMode,
    pub scope: CacheScope,
    /// Answers larger than this are not stored (default 2 MiB).
    pub max_entry_bytes: u64,
}

/// Default TTL of an entry (LiteLLM's in-memory default; its Redis default is no expiry).
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Default namespace (key prefix).
pub const DEFAULT_NAMESPACE: &str = "shale:cache";
const DEFAULT_MAX_ENTRIES: u64 = 10_000;
const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_MAX_ENTRY_BYTES: u64 = 2 * 1024 * 1024;
/// Longest namespace accepted (a Redis key prefix).
pub const MAX_NAMESPACE_LEN: usize = 128;

/// Keys of `cache_params` LiteLLM has and shale does not act on, with why.
const IGNORED_PARAMS: &[(&str, &str)] = &[
    (
        "redis_startup_nodes",
        "Redis Cluster is not supported: use a single Redis endpoint",
    ),
    (
        "service_name",
        "Redis Sentinel is not supported: use a single Redis endpoint",
    ),
    (
        "sentinel_nodes",
        "Redis Sentinel is not supported: use a single Redis endpoint",
    ),
    (
        "sentinel_password",
        "Redis Sentinel is not supported: use a single Redis endpoint",
    ),
    (
        "redis_flush_size",
        "writes are always sent in the background, one per answer",
    ),
    ("similarity_threshold", "semantic caching is not supported"),
    (
        "redis_semantic_cache_embedding_model",
        "semantic caching is not supported",
    ),
    (
        "redis_semantic_cache_use_async",
        "semantic caching is not supported",
    ),
    (
        "semantic_cache_scope",
        "semantic caching is not supported (see `scope`)",
    ),
    (
        "socket_timeout",
        "each lookup is bounded by shale itself (100 ms)",
    ),
    (
        "socket_connect_timeout",
        "each lookup is bounded by shale itself (100 ms)",
    ),
    (
        "max_connections",
        "one multiplexed connection is shared by every request",
    ),
];

/// Validates a namespace (configured or per request): a Redis key prefix.
pub fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= MAX_NAMESPACE_LEN
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

impl CacheSettings {
    /// Reads `cache` and `cache_params` out of `litellm_settings` (`f`). `None` when the cache is
    /// not on; `cache_params` is validated either way (the router may use its Redis settings).
    pub(crate) fn take(
        f: &mut Fields<'_>,
        findings: &mut Vec<Finding>,
    ) -> Result<Option<CacheSettings>, ConfigError> {
        let on = f.bool("cache")?;
        let params = match f.raw("cache_params") {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: PATH.into(),
                    message: format!("expected a mapping, found {}", json_kind(&other)),
                })
            }
        };
        let settings = CacheSettings::from_params(params.clone().unwrap_or_default(), findings)?;
        if on != Some(true) {
            if params.is_some() {
                findings.push(Finding::ignored(
                    PATH,
                    "litellm_settings.cache is not true: no answers are cached (the router still uses a Redis given here)",
                ));
            }
            return Ok(None);
        }
        Ok(Some(settings))
    }

    fn from_params(
        map: Map<String, Value>,
        findings: &mut Vec<Finding>,
    ) -> Result<CacheSettings, ConfigError> {
        let mut f = Fields::new(map, PATH);
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: format!("{PATH}.{key}"),
            message,
        };
        let kind = f.string("type")?.unwrap_or_else(|| "redis".into());
        let ttl = f.seconds("ttl")?;
        let memory_ttl = f.seconds("default_in_memory_ttl")?;
        let redis_ttl = f.seconds("default_in_redis_ttl")?;
        let (backend, ttl) = match kind.as_str() {
            "redis" => {
                let url = match f.secret("url")? {
                    Some(u) => Some(u),
                    None => f.secret("redis_url")?,
                };
                let port = match f.u64("port")? {
                    None => None,
                    Some(p) => Some(
                        u16::try_from(p)
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| invalid("port", format!("{p} is not a port")))?,
                    ),
                };
                let db = f.u32("db")?;
                let ssl_insecure = match f.string("ssl_cert_reqs")? {
                    None => false,
                    Some(v) if v.eq_ignore_ascii_case("none") => true,
                    Some(v) if v.eq_ignore_ascii_case("required") => false,
                    Some(v) => {
                        return Err(invalid(
                            "ssl_cert_reqs",
                            format!("expected `required` or `none`, found `{v}`"),
                        ))
                    }
                };
                let target = RedisTarget {
                    url,
                    host: f.string("host")?,
                    port,
                    username: f.string("username")?,
                    password: f.secret("password")?,
                    ssl: f.bool("ssl")?,
                    ssl_insecure,
                    db,
                };
                if let Some(url) = &target.url {
                    let u = url.expose();
                    if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                        return Err(invalid(
                            "url",
                            "expected a redis:// or rediss:// URL".into(),
                        ));
                    }
                }
                for key in ["max_entries", "max_size_in_memory", "max_bytes"] {
                    if f.raw(key).is_some() {
                        findings.push(Finding::ignored(
                            format!("{PATH}.{key}"),
                            "only used by `type: local`",
                        ));
                    }
                }
                (CacheBackend::Redis(target), redis_ttl.or(ttl))
            }
            "local" => {
                let max_entries = match f.u64("max_entries")? {
                    Some(n) => Some(n),
                    None => f.u64("max_size_in_memory")?,
                }
                .unwrap_or(DEFAULT_MAX_ENTRIES);
                let max_bytes = f.u64("max_bytes")?.unwrap_or(DEFAULT_MAX_BYTES);
                if max_entries == 0 {
                    return Err(invalid("max_entries", "must be at least 1".into()));
                }
                if max_bytes == 0 {
                    return Err(invalid("max_bytes", "must be at least 1".into()));
                }
                for key in [
                    "host",
                    "port",
                    "password",
                    "username",
                    "url",
                    "redis_url",
                    "ssl",
                    "ssl_cert_reqs",
                    "db",
                ] {
                    if f.raw(key).is_some() {
                        findings.push(Finding::ignored(
                            format!("{PATH}.{key}"),
                            "only used by `type: redis`",
                        ));
                    }
                }
                (
                    CacheBackend::Local {
                        max_entries,
                        max_bytes,
                    },
                    memory_ttl.or(ttl),
                )
            }
            other => {
                return Err(invalid(
                    "type",
                    format!(
                        "cache type `{other}` is not supported by shale (expected `redis` or `local`; semantic, s3, gcs, disk and other caches are not implemented)"
                    ),
                ))
            }
        };
        let namespace = f
            .string("namespace")?
            .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        if !valid_namespace(&namespace) {
            return Err(invalid(
                "namespace",
                format!("`{namespace}` is not a usable key prefix (1–{MAX_NAMESPACE_LEN} characters of letters, digits, `_-.:/`)"),
            ));
        }
        let call_types = call_types(f.raw("supported_call_types"), findings)?;
        let mode = match f.string("mode")?.as_deref() {
            None | Some("default_on") => CacheMode::DefaultOn,
            Some("default_off") => CacheMode::DefaultOff,
            Some(other) => {
                return Err(invalid(
                    "mode",
                    format!("unknown mode `{other}` (expected default_on or default_off)"),
                ))
            }
        };
        let scope = match f.string("scope")?.as_deref() {
            None | Some("shared") | Some("global") => CacheScope::Shared,
            Some("key") | Some("api_key") => CacheScope::Key,
            Some("team") => CacheScope::Team,
            Some(other) => {
                return Err(invalid(
                    "scope",
                    format!("unknown scope `{other}` (expected shared, key or team)"),
                ))
            }
        };
        let max_entry_bytes = f.u64("max_entry_bytes")?.unwrap_or(DEFAULT_MAX_ENTRY_BYTES);
        if max_entry_bytes == 0 {
            return Err(invalid("max_entry_bytes", "must be at least 1".into()));
        }
        for (key, _) in f.into_rest() {
            let why = IGNORED_PARAMS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, why)| *why)
                .unwrap_or("unknown key");
            findings.push(Finding::ignored(format!("{PATH}.{key}"), why));
        }
        Ok(CacheSettings {
            backend,
            namespace,
            ttl: ttl.unwrap_or(DEFAULT_TTL),
            call_types,
            mode,
            scope,
            max_entry_bytes,
        })
    }

    /// Whether answers of this route are cached.
    pub fn caches(&self, call: CallType) -> bool {
        self.call_types.contains(&call)
    }
}

/// `supported_call_types`: LiteLLM names → shale routes. Absent → every route; `[]` → none.
fn call_types(
    value: Option<Value>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<CallType>, ConfigError> {
    let path = format!("{PATH}.supported_call_types");
    let items = match value {
        None => return Ok(CallType::ALL.to_vec()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConfigError::Invalid {
                path,
                message: format!("expected a list of call types, found {}", json_kind(&other)),
            })
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::String(name) = item else {
            return Err(ConfigError::Invalid {
                path: format!("{path}[{i}]"),
                message: format!("expected a call type name, found {}", json_kind(&item)),
            });
        };
        match CallType::from_litellm(&name) {
            Some(c) => {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            None if UNCACHED_LITELLM_CALL_TYPES.contains(&name.as_str()) => findings.push(
                Finding::ignored(format!("{path}[{i}]"), format!("shale does not cache `{name}` calls")),
            ),
            None => findings.push(Finding::warning(
                format!("{path}[{i}]"),
                format!("unknown call type `{name}` (expected completion, text_completion, embedding, anthropic_messages or responses, with or without the `a` prefix)"),
            )),
        }
    }
    if out.is_empty() {
        findings.push(Finding::warning(
            path,
            "no cacheable call type is listed: the cache is on but stores nothing",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::{CacheBackend, CacheMode, CacheScope, CallType, Config, ConfigError};
    use std::time::Duration;

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, &|_| None)
    }

    #[test]
    fn cache_true_defaults_to_redis_with_every_route() {
        let c = load("litellm_settings:\n  cache: true\n").unwrap();
        let cache = c.litellm_settings.cache.expect("cache on");
        assert!(matches!(cache.backend, CacheBackend::Redis(ref t) if t.host.is_none()));
        assert_eq!(cache.namespace, "shale:cache");
        assert_eq!(cache.ttl, Duration::from_secs(600));
        assert_eq!(cache.call_types, CallType::ALL.to_vec());
        assert_eq!(cache.mode, CacheMode::DefaultOn);
        assert_eq!(cache.scope, CacheScope::Shared);
    }

    #[test]
    fn litellm_redis_params_are_read() {
        let c = load(
            "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    host: localhost\n    port: \"6380\"\n    password: pw\n    namespace: litellm.caching.caching\n    ttl: 60\n    supported_call_types: [acompletion, aembedding, atranscription]\n    mode: default_off\n    scope: team\n",
        )
        .unwrap();
        let cache = c.litellm_settings.cache.unwrap();
        let CacheBackend::Redis(t) = &cache.backend else {
            panic!("redis")
        };
        assert_eq!(t.host.as_deref(), Some("localhost"));
        assert_eq!(t.port, Some(6380));
        assert_eq!(t.password.as_ref().map(|p| p.expose()), Some("pw"));
        assert_eq!(cache.namespace, "litellm.caching.caching");
        assert_eq!(cache.ttl, Duration::from_secs(60));
        assert_eq!(cache.call_types, vec![CallType::Chat, CallType::Embeddings]);
        assert_eq!(cache.mode, CacheMode::DefaultOff);
        assert_eq!(cache.scope, CacheScope::Team);
        assert!(c
            .findings
            .iter()
            .any(|f| f.path.ends_with("supported_call_types[2]")));
        // The router reads the same Redis from cache_params.
        assert!(c.routing.redis.is_some());
    }

    #[test]
    fn local_cache_bounds_and_type_specific_ttl() {
        let c = load(
            "litellm_settings:\n  cache: true\n  cache_params: {type: local, max_entries: 5, max_bytes: 1000, ttl: 9, default_in_memory_ttl: 3}\n",
        )
        .unwrap();
        let cache = c.litellm_settings.cache.unwrap();
        assert_eq!(
            cache.backend,
            CacheBackend::Local {
                max_entries: 5,
                max_bytes: 1000
            }
        );
        assert_eq!(cache.ttl, Duration::from_secs(3));
    }

    #[test]
    fn mistakes_are_located() {
        for (yaml, needle) in [
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    type: s3\n",
                "line 4",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    port: 70000\n",
                "line 5",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    mode: sometimes\n",
                "line 4",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    ttl: -1\n",
                "line 4",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    namespace: 'a b'\n",
                "line 4",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    max_entries: 0\n",
                "line 5",
            ),
            (
                "litellm_settings:\n  cache: true\n  cache_params:\n    url: http://x\n",
                "line 4",
            ),
        ] {
            let err = load(yaml).unwrap_err().to_string();
            assert!(err.contains(needle), "{yaml}: {err}");
            assert!(err.contains("cache_params"), "{err}");
        }
    }

    #[test]
    fn cache_params_without_cache_true_is_a_finding() {
        let c = load("litellm_settings:\n  cache_params: {type: local}\n").unwrap();
        assert!(c.litellm_settings.cache.is_none());
        assert!(c
            .findings
            .iter()
            .any(|f| f.path == "litellm_settings.cache_params"));
        assert!(!c
            .findings
            .iter()
            .any(|f| f.path == "litellm_settings.cache"));
    }

    #[test]
    fn unsupported_litellm_keys_are_findings() {
        let c = load(
            "litellm_settings:\n  cache: true\n  cache_params: {type: redis, host: h, redis_flush_size: 10, supported_call_types: []}\n",
        )
        .unwrap();
        let paths: Vec<&str> = c.findings.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"litellm_settings.cache_params.redis_flush_size"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"litellm_settings.cache_params.supported_call_types"),
            "{paths:?}"
        );
        assert!(c.litellm_settings.cache.unwrap().call_types.is_empty());
    }
}
