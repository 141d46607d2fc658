//! Stored Responses API answers (`store: true`): the response object, its input items and the
//! whole conversation up to it (what `previous_response_id` continues).
//!
//! [`ResponseStore`] is the seam the server talks to. [`MemoryStore`] keeps them in this
//! replica's memory (bounded: most responses, most bytes, time to live; least recently used out
//! first). [`SharedStore`] keeps them in Postgres or Redis so every replica sees them, behind a
//! local cache of this replica's recent writes: writes are queued and never awaited by the
//! request, the writing replica reads its own writes at once, and while the shared store is down
//! what the cache holds is still served (anything else is a clear "unavailable"). [`open`]
//! chooses from `general_settings.responses_store.backend`.
//!
//! Every record belongs to the SHA-256 of the key that created it ([`Owner`]), and only that key
//! can read or delete it. Must not: keep a key in clear, grow without bound, or make a request
//! wait on more than one round trip.

mod codec;
mod memory;
mod pg;
mod redis_store;
mod shared;

pub use memory::MemoryStore;
pub use shared::SharedStore;

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shale_config::{ResponsesBackend, ResponsesStoreSettings};
use std::sync::Arc;

/// The SHA-256 of the key a caller presented (of "" when none was needed).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner([u8; 32]);

impl Owner {
    pub fn of_key(key: Option<&str>) -> Owner {
        Owner(Sha256::digest(key.unwrap_or("").as_bytes()).into())
    }

    /// The hash as 64 lowercase hex digits (how shared stores keep it).
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// The hash from 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Owner> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Owner(out))
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Owner({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// One stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub owner: Owner,
    /// The `response` object as it was returned.
    pub response: Value,
    /// The input items of the request (with ids), for `GET …/input_items`.
    pub input_items: Vec<Value>,
    /// Every item of the conversation up to and including this response's output, oldest first.
    pub conversation: Arc<Vec<Value>>,
}

impl StoredResponse {
    /// The response id.
    pub fn id(&self) -> &str {
        self.response["id"].as_str().unwrap_or("")
    }

    /// Approximate memory cost: the JSON size of what is kept.
    pub fn bytes(&self) -> usize {
        let size = |v: &Value| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0);
        size(&self.response)
            + self.input_items.iter().map(size).sum::<usize>()
            + self.conversation.iter().map(size).sum::<usize>()
    }
}

/// A store that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The shared store is unreachable and this replica's cache does not hold the record.
    #[error("the response store is unavailable: {0}")]
    Unavailable(String),
}

/// Counters of a store, registered in `/metrics` (see [`crate::metrics::FleetMetrics`]).
#[derive(Debug, Clone)]
pub struct StoreStats {
    /// Writes waiting for the shared store.
    pub pending_writes: Gauge,
    /// Writes given up (queue full while the shared store was down, or refused by it).
    pub dropped_writes: Counter,
    /// Reads answered from this replica's cache because the shared store was down.
    pub cache_reads_while_down: Counter,
    /// Reads and deletes answered "unavailable" (503).
    pub unavailable: Counter,
    /// From a response's answer to its write in the shared store (when other replicas can read it).
    pub write_seconds: Histogram,
}

/// Write latencies: 1 ms to 10 s.
const WRITE_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0];

impl Default for StoreStats {
    fn default() -> Self {
        StoreStats {
            pending_writes: Gauge::default(),
            dropped_writes: Counter::default(),
            cache_reads_while_down: Counter::default(),
            unavailable: Counter::default(),
            write_seconds: Histogram::new(WRITE_BUCKETS),
        }
    }
}

/// Where stored responses live. Reads and deletes only see records of the given owner.
pub trait ResponseStore: Send + Sync + std::fmt::Debug {
    /// Keeps a record. Never waits: a store that writes elsewhere queues the write (a failed
    /// write is its own to report) — the answer has already gone to the client.
    fn put(&self, record: StoredResponse);
    fn get<'a>(
        &'a self,
        owner: Owner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<StoredResponse>>, StoreError>>;
    /// True when a record was deleted.
    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Whether `store: true` keeps anything at all.
    fn enabled(&self) -> bool;
    /// `memory`, `postgres` or `redis`.
    fn backend(&self) -> &'static str {
        "memory"
    }
    /// Whether the shared store answered its last call (`None`: nothing shared).
    fn shared_up(&self) -> Option<bool> {
        None
    }
    /// The store's counters (`None`: nothing worth counting).
    fn stats(&self) -> Option<&StoreStats> {
        None
    }
    /// Waits (at most `timeout`) until queued writes are made; true when none is left.
    fn flush(&self, _timeout: std::time::Duration) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("responses_store.backend is postgres but no database is configured (general_settings.database_url or DATABASE_URL)")]
    NoDatabase,
    #[error("responses_store.backend is redis but Redis is not configured (router_settings.redis_url, redis_host, REDIS_URL, …)")]
    NoRedis,
    #[error("responses_store: {0}")]
    Invalid(String),
}

/// The backend `settings.backend` resolves to with these connections configured.
pub fn choose(
    settings: &ResponsesStoreSettings,
    has_database: bool,
    has_redis: bool,
) -> Result<ResponsesBackend, OpenError> {
    Ok(match settings.backend {
        ResponsesBackend::Auto if has_database => ResponsesBackend::Postgres,
        ResponsesBackend::Auto if has_redis => ResponsesBackend::Redis,
        ResponsesBackend::Auto => ResponsesBackend::Memory,
        ResponsesBackend::Postgres if !has_database => return Err(OpenError::NoDatabase),
        ResponsesBackend::Redis if !has_redis => return Err(OpenError::NoRedis),
        other => other,
    })
}

/// Opens the store `settings` ask for (see [`choose`]). Never waits for the database or Redis:
/// the schema is created in the background, and a store that cannot be reached yet serves from
/// its cache and says so. Must be called inside a Tokio runtime.
pub fn open(
    settings: &ResponsesStoreSettings,
    database_url: Option<&str>,
    redis_url: Option<&str>,
) -> Result<Arc<dyn ResponseStore>, OpenError> {
    let limits = settings.clone();
    Ok(
        match choose(settings, database_url.is_some(), redis_url.is_some())? {
            ResponsesBackend::Postgres => {
                let url = database_url.ok_or(OpenError::NoDatabase)?;
                let backend = pg::PgBackend::connect(url, &limits)?;
                Arc::new(SharedStore::start(Arc::new(backend), limits))
            }
            ResponsesBackend::Redis => {
                let url = redis_url.ok_or(OpenError::NoRedis)?;
                let backend = redis_store::RedisBackend::connect(url, &limits)?;
                Arc::new(SharedStore::start(Arc::new(backend), limits))
            }
            ResponsesBackend::Memory | ResponsesBackend::Auto => Arc::new(MemoryStore::new(limits)),
        },
    )
}

/// `shale check`'s description of where responses will be kept.
pub fn describe(settings: &ResponsesStoreSettings, has_database: bool, has_redis: bool) -> String {
    let bounds = format!(
        "up to {} response(s) / {} MiB, kept {} s",
        settings.max_responses,
        settings.max_bytes / (1024 * 1024),
        settings.ttl.as_secs()
    );
    if settings.max_responses == 0 {
        return "off (max_responses: 0: `store: true` keeps nothing)".into();
    }
    match choose(settings, has_database, has_redis) {
        Ok(ResponsesBackend::Postgres) => format!("PostgreSQL (table shale_responses, shared by every replica; this replica caches its recent writes), {bounds}"),
        Ok(ResponsesBackend::Redis) => format!("Redis (shared by every replica; this replica caches its recent writes), {bounds}"),
        Ok(_) => format!("in memory (this replica only: another replica cannot continue its responses), {bounds}"),
        Err(e) => format!("error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_hex_round_trips() {
        let o = Owner::of_key(Some("sk-1"));
        assert_eq!(Owner::from_hex(&o.to_hex()), Some(o));
        assert_eq!(Owner::from_hex("zz"), None);
        assert_ne!(o, Owner::of_key(Some("sk-2")));
    }

    #[test]
    fn auto_prefers_postgres_then_redis_then_memory() {
        let s = ResponsesStoreSettings::default();
        assert_eq!(choose(&s, true, true).unwrap(), ResponsesBackend::Postgres);
        assert_eq!(choose(&s, false, true).unwrap(), ResponsesBackend::Redis);
        assert_eq!(choose(&s, false, false).unwrap(), ResponsesBackend::Memory);
        let pg = ResponsesStoreSettings {
            backend: ResponsesBackend::Postgres,
            ..s.clone()
        };
        assert!(matches!(
            choose(&pg, false, true),
            Err(OpenError::NoDatabase)
        ));
        let redis = ResponsesStoreSettings {
            backend: ResponsesBackend::Redis,
            ..s.clone()
        };
        assert_eq!(choose(&redis, true, true).unwrap(), ResponsesBackend::Redis);
        assert!(matches!(
            choose(&redis, true, false),
            Err(OpenError::NoRedis)
        ));
        let memory = ResponsesStoreSettings {
            backend: ResponsesBackend::Memory,
            ..s
        };
        assert_eq!(
            choose(&memory, true, true).unwrap(),
            ResponsesBackend::Memory
        );
        assert!(describe(&memory, true, true).starts_with("in memory"));
    }
}
