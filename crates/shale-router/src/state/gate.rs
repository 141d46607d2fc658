//! The one home of how shale talks to Redis on a request's path: [`connect`] makes the
//! connection (multiplexed, made lazily so start-up never waits, reconnecting by itself), and a
//! [`RedisGate`] runs each call with a time bound, remembers an outage so Redis is not asked
//! again for a second, warns once per outage (and once when Redis is back) and counts outages
//! for `shale_dependency_up{dependency="redis"}`. The router's shared state and the response
//! cache (`shale-cache`) each keep a gate; they can share one connection.
//!
//! Must not: log the URL (it may carry a password: errors are redacted), decide what a caller
//! does while Redis is down (callers fall back themselves when a call returns `None`).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// After a failure, Redis is not asked again for this long (callers fall back meanwhile).
pub const RETRY_AFTER_DOWN_MS: u64 = 1000;
/// Bound of the connection's own connect and response timeouts.
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(300);

/// Why Redis could not be set up (bad URL).
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis settings: {0}")]
pub struct RedisSetupError(pub(crate) String);

/// Prepares one connection to `url` (made lazily, so start-up never waits for Redis). Must be
/// called inside a Tokio runtime. Cloning the connection shares it.
pub fn connect(url: &str) -> Result<ConnectionManager, RedisSetupError> {
    if url.starts_with("rediss:") {
        // TLS: the redis client asks rustls for the process's provider; the workspace builds
        // rustls with two (ring, and aws-lc-rs through the AWS SDK), so name ring, the one shale's
        // own TLS clients use. A provider installed before wins (the call then does nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = redis::Client::open(url).map_err(|e| RedisSetupError(redacted(&e)))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(CONNECTION_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| RedisSetupError(redacted(&e)))
}

/// A Redis error without the URL (which may carry the password).
pub fn redacted(e: &redis::RedisError) -> String {
    format!("{:?}: {}", e.kind(), e.detail().unwrap_or("(no detail)"))
}

/// Redis health as one user of it sees it (for `/health` and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStatus {
    /// The last round trip succeeded.
    pub healthy: bool,
    /// Calls that were not made or failed (the caller served without Redis).
    pub local_fallbacks: u64,
    /// Times Redis went from reachable to unreachable.
    pub outages: u64,
}

/// The outage memory and warnings of one Redis user.
#[derive(Debug)]
pub struct RedisGate {
    /// Longest wait for one call.
    timeout: Duration,
    /// Logged once when an outage starts ("Redis is unreachable: …").
    down: &'static str,
    /// Logged once when Redis answers again.
    up: &'static str,
    healthy: AtomicBool,
    down_until_ms: AtomicU64,
    fallbacks: Arc<AtomicU64>,
    outages: AtomicU64,
}

impl RedisGate {
    /// `down` / `up` say what the caller does meanwhile and when it is back.
    pub fn new(timeout: Duration, down: &'static str, up: &'static str) -> RedisGate {
        RedisGate {
            timeout,
            down,
            up,
            healthy: AtomicBool::new(true),
            down_until_ms: AtomicU64::new(0),
            fallbacks: Arc::new(AtomicU64::new(0)),
            outages: AtomicU64::new(0),
        }
    }

    /// The bound of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn status(&self) -> RedisStatus {
        RedisStatus {
            healthy: self.healthy.load(Ordering::Relaxed),
            local_fallbacks: self.fallbacks.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
        }
    }

    /// Whether a call would be made now (Redis is not known to be down this second).
    pub fn open(&self, now_ms: u64) -> bool {
        now_ms >= self.down_until_ms.load(Ordering::Relaxed)
    }

    /// The counter of calls that were skipped or failed, for writes sent in the background.
    pub fn fallback_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.fallbacks)
    }

    /// Runs one call unless Redis is known to be down; records the outcome. `None`: no answer
    /// (skipped, failed or slower than the bound).
    pub async fn call<T>(
        &self,
        now_ms: u64,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        if !self.open(now_ms) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => {
                self.record(now_ms, Ok(()));
                Some(v)
            }
            Ok(Err(e)) => {
                self.record(now_ms, Err(redacted(&e)));
                None
            }
            Err(_) => {
                self.record(now_ms, Err(format!("no answer within {:?}", self.timeout)));
                None
            }
        }
    }

    /// Records the outcome of a call made outside [`Self::call`] (e.g. a first connection, which
    /// may take longer than a lookup's bound).
    pub fn record(&self, now_ms: u64, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{}", self.up);
                }
            }
            Err(why) => {
                self.down_until_ms
                    .store(now_ms + RETRY_AFTER_DOWN_MS, Ordering::Relaxed);
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.healthy.swap(false, Ordering::Relaxed) {
                    self.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %why, "{}", self.down);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing() -> impl Future<Output = redis::RedisResult<u8>> {
        std::future::ready(Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "refused",
        ))))
    }

    #[tokio::test]
    async fn an_outage_is_remembered_for_a_second_and_counted_once() {
        let gate = RedisGate::new(Duration::from_millis(50), "down", "up");
        assert_eq!(gate.call(1_000, async { Ok(1u8) }).await, Some(1));
        assert_eq!(gate.call(1_000, failing()).await, None);
        assert_eq!(gate.status().outages, 1);
        assert!(!gate.status().healthy);
        // Not asked again within the second (the future is never polled).
        assert_eq!(gate.call(1_500, async { Ok(2u8) }).await, None);
        assert_eq!(gate.call(1_999, failing()).await, None);
        assert_eq!(gate.status().outages, 1);
        assert_eq!(gate.status().local_fallbacks, 3);
        // Back.
        assert_eq!(gate.call(2_000, async { Ok(3u8) }).await, Some(3));
        assert!(gate.status().healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_counts_as_none() {
        let gate = RedisGate::new(Duration::from_millis(50), "down", "up");
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(1u8)
        };
        assert_eq!(gate.call(0, slow).await, None);
        assert_eq!(gate.status().outages, 1);
    }
}
