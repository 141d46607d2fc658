//! The Redis connection of the fleet features: a lazily connected, self-reconnecting connection
//! manager, every call limited in time, and the outage bookkeeping the rest relies on — while
//! Redis is known to be down it is not asked again for a second (callers get
//! [`LinkError::Down`] at once and use their local state), one warning per outage, one line when
//! it is back, and [`RedisLink::up`] for the `shale_dependency_up` gauge.
//!
//! Must not: put the URL in an error or a log line (it may carry a password), or retry on its
//! own (callers decide what a failed call means).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// After a failure Redis is not asked again for this long.
const RETRY_AFTER_DOWN_MS: u64 = 1000;

/// Why a Redis call gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// Redis failed within the last second: not asked.
    #[error("Redis is unreachable")]
    Down,
    /// The call failed or timed out (the text never contains the URL).
    #[error("Redis call failed: {0}")]
    Failed(String),
}

/// Redis as one fleet feature uses it (each feature has its own, named in its warnings).
pub struct RedisLink {
    conn: ConnectionManager,
    prefix: String,
    /// What this link serves, for the outage warning (e.g. "health checks").
    feature: &'static str,
    timeout: Duration,
    healthy: AtomicBool,
    down_until_ms: AtomicU64,
    outages: AtomicU64,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("prefix", &self.prefix)
            .field("feature", &self.feature)
            .field("up", &self.up())
            .finish()
    }
}

/// A Redis error without the URL.
pub(crate) fn redacted(e: &redis::RedisError) -> String {
    format!("{:?}: {}", e.kind(), e.detail().unwrap_or("(no detail)"))
}

impl RedisLink {
    /// Prepares the connection (made on first use: start-up never waits for Redis). Must be
    /// called inside a Tokio runtime. `prefix` starts every key; `timeout` bounds each call.
    pub fn new(
        url: &str,
        prefix: &str,
        feature: &'static str,
        timeout: Duration,
    ) -> Result<RedisLink, LinkError> {
        let client = redis::Client::open(url).map_err(|e| LinkError::Failed(redacted(&e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| LinkError::Failed(redacted(&e)))?;
        Ok(RedisLink {
            conn,
            prefix: prefix.to_string(),
            feature,
            timeout,
            healthy: AtomicBool::new(true),
            down_until_ms: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        })
    }

    /// `{prefix}:{a}:{b}…`.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for p in parts {
            key.push(':');
            key.push_str(p);
        }
        key
    }

    /// A connection handle for one call (cheap clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Whether the last call succeeded.
    pub fn up(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// How many times Redis went from reachable to unreachable.
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Runs one call unless Redis failed within the last second; records the outcome.
    pub async fn call<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LinkError> {
        let now = crate::now_ms();
        if now < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(LinkError::Down);
        }
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::warn!(feature = self.feature, "Redis is reachable again");
                }
                Ok(v)
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => redacted(&e),
                    _ => format!("no answer within {:?}", self.timeout),
                };
                self.down_until_ms
                    .store(now + RETRY_AFTER_DOWN_MS, Ordering::Relaxed);
                if self.healthy.swap(false, Ordering::Relaxed) {
                    self.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(feature = self.feature, error = %why, "Redis is unreachable: this replica works on its own until it is back");
                }
                Err(LinkError::Failed(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_is_reported_once_and_not_asked_again_at_once() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let link = RedisLink::new(
            "redis://127.0.0.1:1/",
            "t",
            "tests",
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(link.key(&["a", "b"]), "t:a:b");
        assert!(link.up());
        let mut conn = link.conn();
        let first = link
            .call(redis::cmd("PING").query_async::<String>(&mut conn))
            .await;
        assert!(matches!(first, Err(LinkError::Failed(_))), "{first:?}");
        assert!(!link.up());
        assert_eq!(link.outages(), 1);
        let second = link
            .call(redis::cmd("PING").query_async::<String>(&mut conn))
            .await;
        assert!(matches!(second, Err(LinkError::Down)), "{second:?}");
        assert_eq!(link.outages(), 1, "one outage, however many calls fail");
        assert!(!format!("{first:?}").contains("127.0.0.1"));
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let err = RedisLink::new(
            "nonsense://user:secret@host/",
            "t",
            "tests",
            Duration::from_millis(10),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
