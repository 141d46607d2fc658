//! [`SharedStore`]: responses in Postgres or Redis (a [`Backend`]) so every replica sees them,
//! behind this replica's cache of its recent writes.
//!
//! - `put` keeps the record in the cache and queues the write; one writer task writes queued
//!   operations in order (a write that fails because the store is down is retried with backoff).
//!   The queue is bounded (at most `max_bytes` of records and 100 000 operations, so while the
//!   store is down this replica holds at most twice `max_bytes`): beyond it the record stays only
//!   in this replica's cache and the drop is counted.
//! - `get` answers a record whose write is still queued from the cache (read-your-writes, no round
//!   trip); anything else costs one round trip to the shared store. The shared store not having a
//!   record any more (deleted on another replica, expired, trimmed) wins over the cache. While the
//!   shared store is down, the cache answers what it holds; a record it does not hold is
//!   [`StoreError::Unavailable`] (a 503 for the client, never a 404 that would be a lie).
//! - `delete` of a record whose write is still queued is queued behind that write (and hidden
//!   from reads at once); otherwise it is one round trip, and unavailable while the store is down.
//! - a sweeper asks the backend every minute to drop expired records and keep within the bounds.
//!
//! Must not: make a request wait on a write, or on more than one round trip.

use super::codec::Encoded;
use super::memory::MemoryStore;
use super::{Owner, ResponseStore, StoreError, StoreStats, StoredResponse};
use futures::future::BoxFuture;
use shale_config::ResponsesStoreSettings;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest wait for the shared store on a request's behalf (a read or a delete).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for one background write.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between write attempts while the store is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often expired and surplus records are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most queued operations.
const MAX_QUEUE: usize = 100_000;

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    /// Unreachable or too slow: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for good (e.g. a record the store cannot take): do not retry.
    #[error("{0}")]
    Rejected(String),
}

/// A shared store's operations, each one round trip.
/// What a [`Backend`] call comes to.
pub(crate) type BackendFuture<'a, T> = BoxFuture<'a, Result<T, BackendError>>;

pub(crate) trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn put<'a>(&'a self, record: &'a Encoded) -> BackendFuture<'a, ()>;
    fn get<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, Option<StoredResponse>>;
    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, bool>;
    /// Drops expired records and keeps the store within its bounds.
    fn sweep(&self) -> BackendFuture<'_, ()>;
    /// Whether the last call reached the store.
    fn up(&self) -> bool;
}

enum Op {
    Put {
        record: Arc<StoredResponse>,
        bytes: usize,
        created_ms: u64,
        queued: Instant,
    },
    Delete {
        owner: Owner,
        id: String,
    },
}

/// What the request path and the writer task share.
struct Core {
    backend: Arc<dyn Backend>,
    cache: MemoryStore,
    /// Ids whose write is queued (served from the cache).
    pending: Mutex<HashSet<String>>,
    /// Ids deleted here whose delete is queued (hidden at once).
    tombstones: Mutex<HashSet<String>>,
    stats: StoreStats,
    /// Bytes of the records whose write is queued (bounded by `max_bytes`).
    queued_bytes: AtomicUsize,
    /// A warning about answering "unavailable" was logged and the store has not answered since.
    warned: AtomicBool,
}

/// Locks one of the id sets (a panic while holding it leaves a consistent set).
fn ids(which: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    which.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    fn is_pending(&self, id: &str) -> bool {
        ids(&self.pending).contains(id)
    }

    fn is_tombstoned(&self, id: &str) -> bool {
        ids(&self.tombstones).contains(id)
    }

    fn unavailable(&self, why: &str) -> StoreError {
        self.stats.unavailable.inc();
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(backend = self.backend.name(), error = why, "the Responses store is unreachable: answering from this replica's cache of recent writes; other lookups get 503 until it is back");
        }
        StoreError::Unavailable(format!(
            "the {} Responses store is unreachable ({why}); try again shortly",
            self.backend.name()
        ))
    }

    fn answered(&self) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!(
                backend = self.backend.name(),
                "the Responses store is reachable again"
            );
        }
    }
}

/// Responses in a shared store with a local cache in front (see the module doc).
pub struct SharedStore {
    core: Arc<Core>,
    limits: ResponsesStoreSettings,
    queue: mpsc::Sender<Op>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("backend", &self.core.backend.name())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Drop for SharedStore {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SharedStore {
    /// Starts the writer and the sweeper (inside a Tokio runtime).
    pub(crate) fn start(backend: Arc<dyn Backend>, limits: ResponsesStoreSettings) -> SharedStore {
        let core = Arc::new(Core {
            backend,
            cache: MemoryStore::new(limits.clone()),
            pending: Mutex::default(),
            tombstones: Mutex::default(),
            stats: StoreStats::default(),
            queued_bytes: AtomicUsize::new(0),
            warned: AtomicBool::new(false),
        });
        let (queue, rx) = mpsc::channel(MAX_QUEUE);
        let ttl_ms = limits.ttl.as_millis() as u64;
        let writer = tokio::spawn(write_loop(Arc::clone(&core), rx, ttl_ms));
        let sweeper = tokio::spawn(sweep_loop(Arc::downgrade(&core)));
        SharedStore {
            core,
            limits,
            queue,
            tasks: vec![writer, sweeper],
        }
    }

    /// Writes still queued.
    pub fn pending_writes(&self) -> usize {
        ids(&self.core.pending).len()
    }

    /// Waits until every queued write was made (or `timeout` passed): shutdown calls it so that a
    /// replica leaving the fleet leaves its last answers to the others.
    async fn flush_queue(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let empty = ids(&self.core.pending).is_empty() && ids(&self.core.tombstones).is_empty();
            if empty {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn get_shared(
        &self,
        owner: Owner,
        id: &str,
    ) -> Result<Option<Arc<StoredResponse>>, StoreError> {
        let core = &self.core;
        if core.is_tombstoned(id) {
            return Ok(None);
        }
        if core.is_pending(id) {
            if let Some(found) = core.cache.get_now(owner, id, Instant::now()) {
                return Ok(Some(found));
            }
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, core.backend.get(owner, id))
            .await
            .unwrap_or_else(|_| Err(BackendError::Unavailable("no answer within 1 s".into())));
        match answer {
            Ok(Some(record)) => {
                core.answered();
                let record = Arc::new(record);
                // Kept for when the store is down (a later read here is still one round trip).
                core.cache
                    .put_arc(Arc::clone(&record), record.bytes(), Instant::now());
                Ok(Some(record))
            }
            Ok(None) => {
                core.answered();
                core.cache.forget(id);
                Ok(None)
            }
            Err(BackendError::Unavailable(why) | BackendError::Rejected(why)) => {
                match core.cache.get_now(owner, id, Instant::now()) {
                    Some(found) => {
                        core.stats.cache_reads_while_down.inc();
                        Ok(Some(found))
                    }
                    None => Err(core.unavailable(&why)),
                }
            }
        }
    }

    async fn delete_shared(&self, owner: Owner, id: &str) -> Result<bool, StoreError> {
        let core = &self.core;
        if core.is_tombstoned(id) {
            return Ok(false);
        }
        if core.is_pending(id) {
            if !core.cache.delete_now(owner, id, Instant::now()) {
                return Ok(false);
            }
            ids(&core.tombstones).insert(id.to_string());
            let op = Op::Delete {
                owner,
                id: id.to_string(),
            };
            if self.queue.try_send(op).is_err() {
                ids(&core.tombstones).remove(id);
                return Err(core.unavailable("the write queue is full"));
            }
            return Ok(true);
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, core.backend.delete(owner, id))
            .await
            .unwrap_or_else(|_| Err(BackendError::Unavailable("no answer within 1 s".into())));
        match answer {
            Ok(deleted) => {
                core.answered();
                core.cache.forget(id);
                Ok(deleted)
            }
            Err(BackendError::Unavailable(why) | BackendError::Rejected(why)) => {
                Err(core.unavailable(&why))
            }
        }
    }
}

impl ResponseStore for SharedStore {
    fn put(&self, record: StoredResponse) {
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
        let core = &self.core;
        let record = Arc::new(record);
        let id = record.id().to_string();
        core.cache
            .put_arc(Arc::clone(&record), bytes, Instant::now());
        ids(&core.pending).insert(id.clone());
        let queued = core.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        let op = Op::Put {
            record,
            bytes,
            created_ms: crate::now_ms(),
            queued: Instant::now(),
        };
        let sent = if queued + bytes > self.limits.max_bytes {
            Err(())
        } else {
            self.queue.try_send(op).map_err(|_| ())
        };
        match sent {
            Ok(()) => {
                core.stats.pending_writes.inc();
            }
            Err(()) => {
                core.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                ids(&core.pending).remove(&id);
                core.stats.dropped_writes.inc();
                tracing::warn!(
                    backend = core.backend.name(),
                    "the Responses store's write queue is full: this response is kept only in this replica's memory"
                );
            }
        }
    }

    fn get<'a>(
        &'a self,
        owner: Owner,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<StoredResponse>>, StoreError>> {
        Box::pin(self.get_shared(owner, id))
    }

    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.delete_shared(owner, id))
    }

    fn enabled(&self) -> bool {
        self.limits.max_responses > 0
    }

    fn backend(&self) -> &'static str {
        self.core.backend.name()
    }

    fn shared_up(&self) -> Option<bool> {
        Some(self.core.backend.up())
    }

    fn stats(&self) -> Option<&StoreStats> {
        Some(&self.core.stats)
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(self.flush_queue(timeout))
    }
}

/// Writes queued operations in order; an operation the store could not take because it is down
/// is retried (with backoff) before the next one, so a delete never overtakes its write.
async fn write_loop(core: Arc<Core>, mut rx: mpsc::Receiver<Op>, ttl_ms: u64) {
    while let Some(op) = rx.recv().await {
        let mut backoff = Duration::from_millis(100);
        loop {
            let outcome = match &op {
                Op::Put {
                    record, created_ms, ..
                } => {
                    let encoded = Encoded::new(record, *created_ms, ttl_ms);
                    if encoded.expires_ms <= crate::now_ms() {
                        Ok(())
                    } else {
                        timed(core.backend.put(&encoded)).await
                    }
                }
                Op::Delete { owner, id } => {
                    timed(core.backend.delete(*owner, id)).await.map(|_| ())
                }
            };
            match outcome {
                Ok(()) => {
                    core.answered();
                    break;
                }
                Err(BackendError::Rejected(why)) => {
                    core.stats.dropped_writes.inc();
                    tracing::warn!(backend = core.backend.name(), error = %why, "the Responses store refused a write: the response is kept only in this replica's memory");
                    break;
                }
                Err(BackendError::Unavailable(_)) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        match op {
            Op::Put {
                record,
                bytes,
                queued,
                ..
            } => {
                core.stats
                    .write_seconds
                    .observe(queued.elapsed().as_secs_f64());
                ids(&core.pending).remove(record.id());
                core.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                core.stats.pending_writes.dec();
            }
            Op::Delete { id, .. } => {
                ids(&core.tombstones).remove(&id);
            }
        }
    }
}

async fn timed<T>(
    fut: impl std::future::Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::time::timeout(WRITE_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(BackendError::Unavailable(format!(
                "no answer within {WRITE_TIMEOUT:?}"
            )))
        })
}

async fn sweep_loop(core: std::sync::Weak<Core>) {
    loop {
        let Some(c) = core.upgrade() else {
            return;
        };
        if let Err(e) = c.backend.sweep().await {
            tracing::debug!(backend = c.backend.name(), error = %e, "Responses store sweep failed (retried in a minute)");
        }
        drop(c);
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    /// A backend in memory that can be taken down and that counts its calls.
    #[derive(Default)]
    struct Fake {
        rows: Mutex<HashMap<String, (Owner, String)>>,
        down: AtomicBool,
        calls: AtomicUsize,
    }

    impl Fake {
        fn check(&self) -> Result<(), BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(BackendError::Unavailable("down".into()))
            } else {
                Ok(())
            }
        }
        fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Owner, String)>> {
            self.rows.lock().unwrap()
        }
    }

    impl Backend for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn put<'a>(&'a self, r: &'a Encoded) -> BackendFuture<'a, ()> {
            Box::pin(async move {
                self.check()?;
                self.rows().insert(r.id.clone(), (r.owner, r.json.clone()));
                Ok(())
            })
        }
        fn get<'a>(
            &'a self,
            owner: Owner,
            id: &'a str,
        ) -> BackendFuture<'a, Option<StoredResponse>> {
            Box::pin(async move {
                self.check()?;
                Ok(self
                    .rows()
                    .get(id)
                    .filter(|(o, _)| *o == owner)
                    .and_then(|(o, json)| super::super::codec::decode(*o, json)))
            })
        }
        fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, bool> {
            Box::pin(async move {
                self.check()?;
                let mut rows = self.rows();
                if rows.get(id).is_some_and(|(o, _)| *o == owner) {
                    rows.remove(id);
                    return Ok(true);
                }
                Ok(false)
            })
        }
        fn sweep(&self) -> BackendFuture<'_, ()> {
            Box::pin(async { Ok(()) })
        }
        fn up(&self) -> bool {
            !self.down.load(Ordering::SeqCst)
        }
    }

    fn record(owner: Owner, id: &str) -> StoredResponse {
        StoredResponse {
            owner,
            response: json!({"id": id, "object": "response"}),
            input_items: vec![json!({"type": "message", "content": "hi"})],
            conversation: Arc::new(vec![json!({"role": "user", "content": "hi"})]),
        }
    }

    fn store(fake: &Arc<Fake>) -> SharedStore {
        SharedStore::start(
            Arc::clone(fake) as Arc<dyn Backend>,
            ResponsesStoreSettings::default(),
        )
    }

    #[tokio::test]
    async fn writes_are_queued_and_read_back_by_another_replica() {
        let fake = Arc::new(Fake::default());
        let (a, b) = (store(&fake), store(&fake));
        let owner = Owner::of_key(Some("sk-1"));
        a.put(record(owner, "resp_1"));
        // Read-your-writes on the writer, whether or not the write has happened yet.
        assert!(a.get(owner, "resp_1").await.unwrap().is_some());
        assert!(a.flush(Duration::from_secs(2)).await);
        assert_eq!(a.stats().unwrap().pending_writes.get(), 0);
        let seen = b.get(owner, "resp_1").await.unwrap().unwrap();
        assert_eq!(*seen, record(owner, "resp_1"));
        // Another key sees nothing, on either replica.
        let other = Owner::of_key(Some("sk-2"));
        assert!(b.get(other, "resp_1").await.unwrap().is_none());
        assert!(!b.delete(other, "resp_1").await.unwrap());
        // Deleted on b: a's cache does not bring it back.
        assert!(b.delete(owner, "resp_1").await.unwrap());
        assert!(a.get(owner, "resp_1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn while_the_store_is_down_the_cache_answers_and_the_rest_is_unavailable() {
        let fake = Arc::new(Fake::default());
        let (a, b) = (store(&fake), store(&fake));
        let owner = Owner::of_key(None);
        fake.down.store(true, Ordering::SeqCst);
        a.put(record(owner, "resp_1"));
        assert!(a.get(owner, "resp_1").await.unwrap().is_some(), "own write");
        let err = b.get(owner, "resp_1").await.unwrap_err();
        assert!(err.to_string().contains("unreachable"), "{err}");
        assert_eq!(b.stats().unwrap().unavailable.get(), 1);
        assert!(b.delete(owner, "resp_x").await.is_err());
        assert_eq!(a.pending_writes(), 1, "the write waits for the store");
        // Back up: the queued write lands and the other replica sees it.
        fake.down.store(false, Ordering::SeqCst);
        assert!(a.flush(Duration::from_secs(5)).await);
        assert!(b.get(owner, "resp_1").await.unwrap().is_some());
        // Down again: what a has read is still served from its cache.
        fake.down.store(true, Ordering::SeqCst);
        assert!(a.get(owner, "resp_1").await.unwrap().is_some());
        assert!(a.stats().unwrap().cache_reads_while_down.get() >= 1);
    }

    #[tokio::test]
    async fn a_delete_of_a_queued_write_never_resurrects_it() {
        let fake = Arc::new(Fake::default());
        let a = store(&fake);
        let owner = Owner::of_key(None);
        fake.down.store(true, Ordering::SeqCst);
        a.put(record(owner, "resp_1"));
        assert!(a.delete(owner, "resp_1").await.unwrap());
        assert!(a.get(owner, "resp_1").await.unwrap().is_none());
        fake.down.store(false, Ordering::SeqCst);
        assert!(a.flush(Duration::from_secs(5)).await);
        assert!(fake.rows().is_empty(), "the delete followed its write");
    }

    #[tokio::test]
    async fn while_down_the_queue_holds_at_most_max_bytes() {
        let fake = Arc::new(Fake::default());
        fake.down.store(true, Ordering::SeqCst);
        let owner = Owner::of_key(None);
        let one = record(owner, "resp_0").bytes();
        let a = SharedStore::start(
            Arc::clone(&fake) as Arc<dyn Backend>,
            ResponsesStoreSettings {
                max_bytes: one * 2 + one / 2,
                ..ResponsesStoreSettings::default()
            },
        );
        for i in 0..5 {
            a.put(record(owner, &format!("resp_{i}")));
        }
        assert_eq!(a.pending_writes(), 2);
        assert_eq!(a.stats().unwrap().dropped_writes.get(), 3);
        // Kept in this replica's cache all the same (as far as its own bound allows).
        assert!(a.get(owner, "resp_4").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_pending_read_costs_no_round_trip() {
        let fake = Arc::new(Fake::default());
        fake.down.store(true, Ordering::SeqCst);
        let a = store(&fake);
        let owner = Owner::of_key(None);
        a.put(record(owner, "resp_1"));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = fake.calls.load(Ordering::SeqCst);
        for _ in 0..5 {
            assert!(a.get(owner, "resp_1").await.unwrap().is_some());
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst) - before, 0);
    }
}
