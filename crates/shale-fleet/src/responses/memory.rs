//! The bounded in-memory store (`responses_store.backend: memory`, and the cache of recent writes
//! in front of a shared store): most responses, most bytes and a time to live
//! (`general_settings.responses_store`); least recently used out first.
//!
//! Must not: block (one short mutex section per call), grow without bound, or keep a key in clear.

use super::{Owner, ResponseStore, StoreError, StoredResponse};
use futures::future::BoxFuture;
use shale_config::ResponsesStoreSettings;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    pub(crate) fn put_now(&self, record: StoredResponse, now: Instant) {
        let bytes = record.bytes();
        self.put_arc(Arc::new(record), bytes, now);
    }

    /// Keeps a record whose size is already known (`bytes`, see [`StoredResponse::bytes`]).
    pub(crate) fn put_arc(&self, record: Arc<StoredResponse>, bytes: usize, now: Instant) {
        if !self.enabled() {
            return;
        }
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
                record,
                bytes,
                created: now,
                tick,
            },
        );
    }

    pub(crate) fn get_now(
        &self,
        owner: Owner,
        id: &str,
        now: Instant,
    ) -> Option<Arc<StoredResponse>> {
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

    pub(crate) fn delete_now(&self, owner: Owner, id: &str, now: Instant) -> bool {
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

    /// Drops `id` whoever owns it (the shared store no longer has it).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
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
            ..ResponsesStoreSettings::default()
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
