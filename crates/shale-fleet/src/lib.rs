//! `shale-fleet`: what the replicas of one gateway share so that a fleet behind a load balancer
//! behaves like one gateway (issue #31).
//!
//! - [`health`]: background health checks — each interval every deployment is probed once per
//!   fleet (a Redis lease per deployment and interval slot elects the replica that probes; without
//!   Redis each replica probes itself) with the cheapest call that proves reachability and
//!   credentials, and the results are shared through Redis so every replica's `/health` shows
//!   the fleet's view.
//! - [`responses`]: the Responses API store (`store: true`) — in memory for one replica, or in
//!   Postgres / Redis for a fleet, behind a local write-through cache that gives the writing
//!   replica read-your-writes and serves recent answers while the shared store is down.
//! - [`redis_link`]: the Redis connection both use (time-limited calls, one warning per outage).
//!
//! Must not: serve HTTP (the server maps what this crate returns to answers), log secrets or
//! database/Redis URLs (they may carry passwords), or make a client request wait on more than one
//! round trip to Redis or Postgres.

#![forbid(unsafe_code)]

pub mod health;
pub mod metrics;
pub mod redis_link;
pub mod responses;

/// Wall-clock milliseconds since the Unix epoch (slots and `checked_at` are shared between
/// replicas, so this is wall time, not monotonic).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// This process's name in shared state (`checked_by`): host name and process id.
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "shale".to_string());
    format!("{host}:{}", std::process::id())
}
