//! `type: redis`: entries in Redis, shared by every replica. Reads are one `GET` (or `MGET` for
//! embedding items) bounded by the gate's short timeout; writes are sent in the background
//! (`SET … PX ttl`) and never waited for. While Redis is unreachable a lookup answers "unavailable"
//! at once (the request is served uncached), the gate warns once, and the connection reconnects by
//! itself. The connection is the router's when both use the same Redis.
//!
//! Must not: log the URL (it may carry a password), touch keys outside the cache's namespaces
//! (`flush` removes `<namespace>:*` only, never `FLUSHALL`).

use bytes::Bytes;
use redis::aio::ConnectionManager;
use shale_router::state::gate::redacted;
use shale_router::{RedisGate, RedisStatus};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a lookup: a slow Redis costs a request at most this.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest wait for a background write or an admin call.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys per `SCAN` step and per `UNLINK` of a flush.
const FLUSH_BATCH: usize = 500;

/// The Redis store.
pub(crate) struct Remote {
    conn: ConnectionManager,
    gate: Arc<RedisGate>,
}

/// What a lookup found.
pub(crate) enum Found<T> {
    Value(T),
    /// Redis did not answer (down, or slower than [`LOOKUP_TIMEOUT`]).
    Unavailable,
}

impl Remote {
    pub(crate) fn new(conn: ConnectionManager) -> Remote {
        Remote {
            conn,
            gate: Arc::new(RedisGate::new(
                LOOKUP_TIMEOUT,
                "Redis is unreachable: the response cache is skipped (answers are served uncached) until it is back",
                "Redis is reachable again: the response cache is back",
            )),
        }
    }

    pub(crate) fn status(&self) -> RedisStatus {
        self.gate.status()
    }

    pub(crate) async fn get(&self, key: &str, now_ms: u64) -> Found<Option<Bytes>> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        match self
            .gate
            .call(now_ms, cmd.query_async::<Option<Vec<u8>>>(&mut conn))
            .await
        {
            Some(v) => Found::Value(v.map(Bytes::from)),
            None => Found::Unavailable,
        }
    }

    pub(crate) async fn get_many(&self, keys: &[String], now_ms: u64) -> Found<Vec<Option<Bytes>>> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("MGET");
        for k in keys {
            cmd.arg(k);
        }
        match self
            .gate
            .call(now_ms, cmd.query_async::<Vec<Option<Vec<u8>>>>(&mut conn))
            .await
        {
            Some(v) if v.len() == keys.len() => {
                Found::Value(v.into_iter().map(|v| v.map(Bytes::from)).collect())
            }
            _ => Found::Unavailable,
        }
    }

    /// Stores entries in the background (skipped while Redis is known to be down).
    pub(crate) fn put(&self, items: Vec<(String, Vec<u8>)>, ttl: Duration, now_ms: u64) {
        if items.is_empty() || !self.gate.open(now_ms) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let ms = ttl.as_millis().clamp(1, u64::MAX as u128) as u64;
        let mut pipe = redis::pipe();
        for (key, value) in items {
            pipe.cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .ignore();
        }
        let mut conn = self.conn.clone();
        let failures = self.gate.fallback_counter();
        handle.spawn(async move {
            let done = tokio::time::timeout(WRITE_TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
            if !matches!(done, Ok(Ok(()))) {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    async fn admin<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(WRITE_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(redacted(&e)),
            Err(_) => Err(format!("no answer within {WRITE_TIMEOUT:?}")),
        }
    }

    pub(crate) async fn delete(&self, keys: &[String]) -> Result<u64, String> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("UNLINK");
        for k in keys {
            cmd.arg(k);
        }
        self.admin(&cmd).await
    }

    /// Removes every key matching `<namespace>:*` (SCAN + UNLINK in batches).
    pub(crate) async fn flush(&self, namespace: &str) -> Result<u64, String> {
        let pattern = format!("{namespace}:*");
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(FLUSH_BATCH);
            let (next, keys): (u64, Vec<String>) = self.admin(&scan).await?;
            removed += self.delete(&keys).await?;
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// `PING`, then a test write (LiteLLM's `/cache/ping` does both). Errors say what failed.
    pub(crate) async fn ping(&self, test_key: &str) -> (Result<(), String>, Result<(), String>) {
        let ping = self.admin::<String>(&redis::cmd("PING")).await.map(|_| ());
        let mut set = redis::cmd("SET");
        set.arg(test_key).arg("ok").arg("PX").arg(10_000);
        let set = self.admin::<String>(&set).await.map(|_| ());
        (ping, set)
    }

    /// Opens the connection with a `PING` (bounded by the admin timeout, longer than a lookup's:
    /// a first TLS handshake can take longer), recording the outcome (one warning if it fails).
    pub(crate) async fn warm_up(&self, now_ms: u64) {
        let outcome = self.admin::<String>(&redis::cmd("PING")).await.map(|_| ());
        self.gate.record(now_ms, outcome);
    }

    /// One `PING` through the gate (refreshes [`Self::status`] without traffic; for metrics).
    pub(crate) async fn probe(&self, now_ms: u64) -> RedisStatus {
        let mut conn = self.conn.clone();
        let _: Option<String> = self
            .gate
            .call(now_ms, redis::cmd("PING").query_async(&mut conn))
            .await;
        self.status()
    }
}
