//! Stream accounting for tests: how many event streams were started, sent to the end, or dropped
//! before their end (the client — the gateway — hung up, which is how a test proves that a client
//! disconnect cancels the Bedrock request). Served at `GET /_emulator/streams`.
//!
//! Must stay cheap: three atomic counters, no lock, no allocation per frame.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters shared by all streams of one emulator.
#[derive(Debug, Default)]
pub struct StreamStats {
    started: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
}

impl StreamStats {
    /// `{"started","completed","cancelled","open"}`.
    pub fn to_json(&self) -> Value {
        let started = self.started.load(Ordering::Acquire);
        let completed = self.completed.load(Ordering::Acquire);
        let cancelled = self.cancelled.load(Ordering::Acquire);
        json!({
            "started": started,
            "completed": completed,
            "cancelled": cancelled,
            "open": started.saturating_sub(completed + cancelled),
        })
    }

    /// Zeroes the counters (`POST /_emulator/reset`). Streams still open will still be counted
    /// when they end, so reset between tests, not during one.
    pub fn reset(&self) {
        self.started.store(0, Ordering::Release);
        self.completed.store(0, Ordering::Release);
        self.cancelled.store(0, Ordering::Release);
    }
}

/// Marks one stream; counts it as completed when the body reached its end, else as cancelled
/// when dropped.
struct Guard {
    stats: Arc<StreamStats>,
    ended: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let counter = if self.ended {
            &self.stats.completed
        } else {
            &self.stats.cancelled
        };
        counter.fetch_add(1, Ordering::AcqRel);
    }
}

/// Wraps a response body stream so it is counted.
pub fn track<S>(
    body: S,
    stats: Arc<StreamStats>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
{
    stats.started.fetch_add(1, Ordering::AcqRel);
    let guard = Guard {
        stats,
        ended: false,
    };
    futures::stream::unfold((body, guard), |(mut body, mut guard)| async move {
        match body.next().await {
            Some(item) => Some((item, (body, guard))),
            None => {
                guard.ended = true;
                drop(guard);
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin {
        futures::stream::iter((0..3).map(|i| Ok(Bytes::from(vec![i; 4]))))
    }

    #[tokio::test]
    async fn counts_completed_and_cancelled_streams() {
        let stats = Arc::new(StreamStats::default());
        let all: Vec<_> = track(frames(), Arc::clone(&stats)).collect().await;
        assert_eq!(all.len(), 3);
        let mut partial = Box::pin(track(frames(), Arc::clone(&stats)));
        partial.next().await.unwrap().unwrap();
        assert_eq!(stats.to_json()["open"], 1);
        drop(partial);
        assert_eq!(
            stats.to_json(),
            json!({"started": 2, "completed": 1, "cancelled": 1, "open": 0})
        );
        stats.reset();
        assert_eq!(stats.to_json()["started"], 0);
    }
}
