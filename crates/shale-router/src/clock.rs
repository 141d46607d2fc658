//! Wall-clock milliseconds behind a trait, so cooldowns and rate windows can be tested without
//! sleeping. Wall time (not monotonic) because replicas share minute windows through Redis.

use std::sync::atomic::{AtomicU64, Ordering};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock(AtomicU64::new(start_ms))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The minute window a time falls in.
pub fn minute_of(now_ms: u64) -> u64 {
    now_ms / 60_000
}

/// Milliseconds until the next minute window starts (at least 1).
pub fn ms_to_next_minute(now_ms: u64) -> u64 {
    (60_000 - now_ms % 60_000).max(1)
}
