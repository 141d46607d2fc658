//! Where the router keeps what changes: rpm/tpm minute windows, in-flight counts, failure counts,
//! cooldowns and prompt-cache affinity. [`SharedState`] is either this process's memory
//! ([`LocalState`]) or Redis shared by every replica ([`RedisState`], which falls back to its own
//! local state while Redis is unreachable). Choosing the order of candidates is not done here.

pub mod gate;
mod local;
mod redis;

pub use self::redis::RedisState;
pub use gate::{RedisGate, RedisSetupError, RedisStatus};
pub use local::LocalState;

use crate::strategy::View;

/// When failures cool a deployment down: more than `allowed_fails` in one minute cool it down
/// for `cooldown_ms` (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownRule {
    pub allowed_fails: u32,
    pub cooldown_ms: u64,
}

/// One candidate handed to [`SharedState::acquire`].
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub id: &'a str,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// Candidates in order of preference; the state admits the first usable one atomically.
#[derive(Debug)]
pub struct AcquireRequest<'a> {
    pub slots: Vec<Slot<'a>>,
    /// Tokens the request is estimated to use (reserved in the tpm window).
    pub est_tokens: u64,
    /// Prompt-prefix key: the deployment that served it recently goes first when usable.
    pub affinity_key: Option<&'a str>,
    pub now_ms: u64,
}

/// The outcome of an acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Admitted `slots[pos]`: its rpm, tpm (estimate) and in-flight counts were incremented.
    /// `was_cooling`: every candidate was cooling down; this is the least recently failed.
    Chosen { pos: usize, was_cooling: bool },
    /// No candidate has room under its rpm/tpm limits this minute.
    Full,
}

/// Which store served an acquire (its release and token correction go to the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Redis,
}

/// The router's state store.
#[derive(Debug)]
pub enum SharedState {
    Local(LocalState),
    Redis(Box<RedisState>),
}

impl SharedState {
    /// Admits one candidate (one round trip with Redis). Also returns the candidates' views.
    pub async fn acquire(&self, req: &AcquireRequest<'_>) -> (Acquired, Vec<View>, Backend) {
        match self {
            SharedState::Local(l) => {
                let (a, v) = l.acquire(req);
                (a, v, Backend::Local)
            }
            SharedState::Redis(r) => r.acquire(req).await,
        }
    }

    /// The latest known views (no round trip).
    pub fn peek(&self, ids: &[&str], now_ms: u64) -> Vec<View> {
        match self {
            SharedState::Local(l) => l.peek(ids, now_ms),
            SharedState::Redis(r) => r.peek(ids, now_ms),
        }
    }

    /// The request finished: one fewer in flight. Never waits on Redis.
    pub fn release(&self, id: &str, backend: Backend) {
        match (self, backend) {
            (SharedState::Redis(r), Backend::Redis) => r.release(id),
            (SharedState::Redis(r), Backend::Local) => r.local().release(id),
            (SharedState::Local(l), _) => l.release(id),
        }
    }

    /// Corrects the tpm window by (reported − estimated) tokens. Never waits on Redis.
    pub fn add_tokens(&self, id: &str, minute: u64, delta: i64, backend: Backend) {
        if delta == 0 {
            return;
        }
        match (self, backend) {
            (SharedState::Redis(r), Backend::Redis) => r.add_tokens(id, minute, delta),
            (SharedState::Redis(r), Backend::Local) => r.local().add_tokens(id, minute, delta),
            (SharedState::Local(l), _) => l.add_tokens(id, minute, delta),
        }
    }

    /// Counts a failure; returns whether the deployment is now cooling down.
    pub async fn record_failure(&self, id: &str, rule: CooldownRule, now_ms: u64) -> bool {
        match self {
            SharedState::Local(l) => l.record_failure(id, rule, now_ms),
            SharedState::Redis(r) => r.record_failure(id, rule, now_ms).await,
        }
    }

    /// Drops a deployment's cooldown and failure count (its configuration changed). Never waits.
    pub fn forget_failures(&self, id: &str, now_ms: u64) {
        match self {
            SharedState::Local(l) => l.forget_failures(id),
            SharedState::Redis(r) => r.forget_failures(id, now_ms),
        }
    }

    /// Remaining cooldown per deployment (ms).
    pub async fn cooldowns(&self, ids: &[&str], now_ms: u64) -> Vec<Option<u64>> {
        match self {
            SharedState::Local(l) => l.cooldowns(ids, now_ms),
            SharedState::Redis(r) => r.cooldowns(ids, now_ms).await,
        }
    }

    /// Cools `id` down for `cooldown_ms` whatever its failure count (a failed health probe).
    pub async fn set_cooldown(&self, id: &str, cooldown_ms: u64, now_ms: u64) {
        match self {
            SharedState::Local(l) => l.set_cooldown(id, cooldown_ms, now_ms),
            SharedState::Redis(r) => r.set_cooldown(id, cooldown_ms, now_ms).await,
        }
    }

    /// Ends `id`'s cooldown (a passing health probe).
    pub async fn clear_cooldown(&self, id: &str, now_ms: u64) {
        match self {
            SharedState::Local(l) => l.clear_cooldown(id),
            SharedState::Redis(r) => r.clear_cooldown(id, now_ms).await,
        }
    }

    /// Remembers which deployment served a cached prompt prefix. Never waits on Redis.
    pub fn set_affinity(&self, key: &str, id: &str, now_ms: u64, ttl_ms: u64) {
        match self {
            SharedState::Local(l) => l.set_affinity(key, id, now_ms, ttl_ms),
            SharedState::Redis(r) => r.set_affinity(key, id, now_ms, ttl_ms),
        }
    }

    /// Redis health after one `PING`, when Redis is configured.
    pub async fn probe_redis(&self, now_ms: u64) -> Option<RedisStatus> {
        match self {
            SharedState::Local(_) => None,
            SharedState::Redis(r) => Some(r.ping(now_ms).await),
        }
    }

    /// The Redis connection, when Redis is configured (shared with the response cache).
    pub fn redis_connection(&self) -> Option<::redis::aio::ConnectionManager> {
        match self {
            SharedState::Local(_) => None,
            SharedState::Redis(r) => Some(r.connection()),
        }
    }

    /// Redis health, when Redis is configured.
    pub fn redis_status(&self) -> Option<RedisStatus> {
        match self {
            SharedState::Local(_) => None,
            SharedState::Redis(r) => Some(r.status()),
        }
    }
}
