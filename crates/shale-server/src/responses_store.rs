//! Stored Responses API answers (`store: true`): the response object, its input items and the
//! whole conversation up to it (what `previous_response_id` continues). [`ResponseStore`] is the
//! seam a database-backed store implements; [`MemoryStore`] is the bounded in-memory one
//! (`general_settings.responses_store`: most responses, most bytes, time to live; least recently
//! used first out). Every record belongs to the SHA-256 of the key that created it, and only that
//! key can read or delete it.
//!
//! Must not: block (one short mutex section per call), grow without bound, or keep a key in clear.

use futures::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shale_config::ResponsesStoreSettings;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The SHA-256 of the key a caller presented (of "" when none was needed).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner([u8; 32]);

impl Owner {
    pub fn of_key(key: Option<&str>) -> Owner {
        Owner(Sha256::digest(key.unwrap_or("").as_bytes()).into())
    }
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Owner({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// One stored response.
#[derive(Debug)]
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
    fn bytes(&self) -> usize {
        let size = |v: &Value| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0);
        size(&self.response)
            + self.input_items.iter().map(size).sum::<usize>()
            + self.conversation.iter().map(size).sum::<usize>()
    }
}

/// A store that could not answer (a database being down, for stores that have one).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the response store is unavailable: {0}")]
    Unavailable(String),
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
}

struct Entry {
    record: Arc<StoredResponse>,
    bytes: usize,
    created: Instant,
    /// Position in the recency order.
    tick: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// tick → id, least recently used first.
    recency: BTreeMap<u64, String>,
    next_tick: u64,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.recency.remove(&e.tick);
        self.bytes -= e.bytes;
        Some(e)
    }

    fn touch(&mut self, id: &str) {
        let tick = self.next_tick;
        if let Some(e) = self.entries.get_mut(id) {
            self.recency.remove(&e.tick);
            e.tick = tick;
            self.recency.insert(tick, id.to_owned());
            self.next_tick += 1;
        }
    }
}

/// The bounded in-memory store.
pub struct MemoryStore {
    limits: ResponsesStoreSettings,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new(limits: ResponsesStoreSettings) -> Self {
        MemoryStore {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every step is one map update).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.created) >= self.limits.ttl
    }

    /// Number of responses and bytes held (for tests and diagnostics).
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn put_now(&self, record: StoredResponse, now: Instant) {
        if !self.enabled() {
            return;
        }
        let bytes = record.bytes();
        if bytes > self.limits.max_bytes {
            tracing::debug!(
                bytes,
                "response larger than responses_store.max_bytes: not stored"
            );
            return;
        }
        let id = record.id().to_owned();
        let mut inner = self.lock();
        inner.remove(&id);
        while inner.entries.len() >= self.limits.max_responses
            || inner.bytes + bytes > self.limits.max_bytes
        {
            let Some((_, oldest)) = inner.recency.pop_first() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.recency.insert(tick, id.clone());
        inner.bytes += bytes;
        inner.entries.insert(
            id,
            Entry {
                record: Arc::new(record),
                bytes,
                created: now,
                tick,
            },
        );
    }

    fn get_now(&self, owner: Owner, id: &str, now: Instant) -> Option<Arc<StoredResponse>> {
        let mut inner = self.lock();
        let e = inner.entries.get(id)?;
        if self.expired(e, now) {
            inner.remove(id);
            return None;
        }
        if e.record.owner != owner {
            return None;
        }
        let record = Arc::clone(&e.record);
        inner.touch(id);
        Some(record)
    }

    fn delete_now(&self, owner: Owner, id: &str, now: Instant) -> bool {
        let mut inner = self.lock();
        match inner.entries.get(id) {
            Some(e) if e.record.owner == owner && !self.expired(e, now) => {
                inner.remove(id);
                true
            }
            Some(e) if self.expired(e, now) => {
                inner.remove(id);
                false
            }
            _ => false,
        }
    }

    /// The configured time to live.
    pub fn ttl(&self) -> Duration {
        self.limits.ttl
    }
}

impl ResponseStore for MemoryStore {
    fn put(&self, record: StoredResponse) {
        self.put_now(record, Instant::now());
    }

    fn get<'a>(
        &'a self,
        owner: Owner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<StoredResponse>>, StoreError>> {
        let found = self.get_now(owner, id, Instant::now());
        Box::pin(std::future::ready(Ok(found)))
    }

    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let deleted = self.delete_now(owner, id, Instant::now());
        Box::pin(std::future::ready(Ok(deleted)))
    }

    fn enabled(&self) -> bool {
        self.limits.max_responses > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(owner: Owner, id: &str, payload: usize) -> StoredResponse {
        StoredResponse {
            owner,
            response: json!({"id": id, "pad": "x".repeat(payload)}),
            input_items: vec![json!({"type": "message"})],
            conversation: Arc::new(vec![]),
        }
    }

    fn store(max_responses: usize, max_bytes: usize, ttl: u64) -> MemoryStore {
        MemoryStore::new(ResponsesStoreSettings {
            max_responses,
            max_bytes,
            ttl: Duration::from_secs(ttl),
        })
    }

    #[test]
    fn scoped_to_the_creating_key() {
        let s = store(10, 1 << 20, 60);
        let (a, b) = (Owner::of_key(Some("key-a")), Owner::of_key(Some("key-b")));
        let now = Instant::now();
        s.put_now(record(a, "resp_1", 0), now);
        assert!(s.get_now(a, "resp_1", now).is_some());
        assert!(s.get_now(b, "resp_1", now).is_none());
        assert!(!s.delete_now(b, "resp_1", now));
        assert!(s.delete_now(a, "resp_1", now));
        assert!(s.get_now(a, "resp_1", now).is_none());
    }

    #[test]
    fn least_recently_used_goes_first() {
        let s = store(2, 1 << 20, 60);
        let o = Owner::of_key(None);
        let now = Instant::now();
        s.put_now(record(o, "resp_1", 0), now);
        s.put_now(record(o, "resp_2", 0), now);
        assert!(s.get_now(o, "resp_1", now).is_some()); // resp_2 is now the oldest used
        s.put_now(record(o, "resp_3", 0), now);
        assert!(s.get_now(o, "resp_1", now).is_some());
        assert!(s.get_now(o, "resp_2", now).is_none());
        assert!(s.get_now(o, "resp_3", now).is_some());
        assert_eq!(s.usage().0, 2);
    }

    #[test]
    fn byte_bound_and_ttl() {
        let s = store(100, 3000, 60);
        let o = Owner::of_key(None);
        let now = Instant::now();
        for i in 0..10 {
            s.put_now(record(o, &format!("resp_{i}"), 1000), now);
            assert!(s.usage().1 <= 3000, "{:?}", s.usage());
        }
        assert_eq!(s.usage().0, 2);
        assert!(s.get_now(o, "resp_9", now).is_some());
        // Too large to keep at all.
        s.put_now(record(o, "resp_big", 5000), now);
        assert!(s.get_now(o, "resp_big", now).is_none());
        // Past the TTL it is gone, and its bytes are released.
        let later = now + Duration::from_secs(61);
        assert!(s.get_now(o, "resp_9", later).is_none());
        assert!(s.usage().1 < 3000);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let s = store(0, 1 << 20, 60);
        let o = Owner::of_key(None);
        s.put_now(record(o, "resp_1", 0), Instant::now());
        assert_eq!(s.usage(), (0, 0));
        assert!(!s.enabled());
    }
}
