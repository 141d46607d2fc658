//! The hot path's memory of key lookups: key hash → resolved [`Principal`] (or "unknown",
//! "blocked"), each entry fresh for `user_api_key_cache_ttl`. Stale entries are still handed out
//! when Postgres cannot be asked (cached keys keep working while it is down). Admin writes remove
//! entries at once (by key, by team, or all). Bounded: unknown keys are not remembered once full.

use crate::principal::Principal;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most entries kept.
const MAX_ENTRIES: usize = 100_000;

/// What a lookup found.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Found(Arc<Principal>),
    /// No such key (never existed or deleted).
    Unknown,
    /// The key or its team is blocked.
    Blocked,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    value: Cached,
}

/// Key hash → lookup result.
#[derive(Debug)]
pub(crate) struct PrincipalCache {
    ttl: Duration,
    map: RwLock<HashMap<String, Entry>>,
    /// Stale entries being reloaded right now (other callers keep the stale value meanwhile).
    refreshing: Mutex<HashSet<String>>,
    /// Bumped by every removal: a lookup that read Postgres before an invalidation must not put
    /// its (older) answer back afterwards.
    generation: AtomicU64,
}

/// One caller's reload of a stale entry; ends (even when the caller is cancelled) on drop.
pub(crate) struct Refresh<'c> {
    cache: &'c PrincipalCache,
    hash: String,
}

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        self.cache
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.hash);
    }
}

impl PrincipalCache {
    pub(crate) fn new(ttl: Duration) -> PrincipalCache {
        PrincipalCache {
            ttl,
            map: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Read before asking Postgres; hand to [`PrincipalCache::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Claims the reload of a stale entry; `None` when another caller is already reloading it
    /// (then the stale value answers: one Postgres query per key per TTL, not one per request).
    pub(crate) fn begin_refresh(&self, hash: &str) -> Option<Refresh<'_>> {
        let mut set = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(hash.to_string()).then(|| Refresh {
            cache: self,
            hash: hash.to_string(),
        })
    }

    /// The cached value and whether it is still fresh.
    pub(crate) fn get(&self, hash: &str) -> Option<(Cached, bool)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .map(|e| (e.value.clone(), e.at.elapsed() < self.ttl))
    }

    /// Remembers a lookup made at `generation`, unless something was invalidated since.
    pub(crate) fn put(&self, hash: &str, value: Cached, generation: u64) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES && !map.contains_key(hash) {
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= MAX_ENTRIES && !matches!(value, Cached::Found(_)) {
                return;
            }
        }
        map.insert(
            hash.to_string(),
            Entry {
                at: Instant::now(),
                value,
            },
        );
    }

    pub(crate) fn remove_key(&self, hash: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.bump();
        map.remove(hash);
    }

    /// Drops every key of a team (its limits, budget or models changed), and unknown/blocked
    /// entries (they may be that team's keys).
    pub(crate) fn remove_team(&self, team_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.bump();
        map.retain(|_, e| match &e.value {
            Cached::Found(p) => p.team_id.as_deref() != Some(team_id),
            _ => false,
        });
    }

    pub(crate) fn clear(&self) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.bump();
        map.clear();
    }

    /// Every cached principal (to refresh spend meters, tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_go_stale_and_can_be_removed() {
        let c = PrincipalCache::new(Duration::from_millis(30));
        c.put("a", Cached::Unknown, c.generation());
        assert!(matches!(c.get("a"), Some((Cached::Unknown, true))));
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(c.get("a"), Some((Cached::Unknown, false))));
        c.remove_key("a");
        assert!(c.get("a").is_none());
        c.put("b", Cached::Blocked, c.generation());
        c.remove_team("t");
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_lookup_older_than_an_invalidation_is_not_kept() {
        let c = PrincipalCache::new(Duration::from_secs(60));
        let before = c.generation();
        c.remove_key("a"); // an admin write lands while the lookup is in flight
        c.put("a", Cached::Unknown, before);
        assert!(c.get("a").is_none());
    }

    #[test]
    fn one_refresh_at_a_time_per_key() {
        let c = PrincipalCache::new(Duration::from_secs(1));
        let first = c.begin_refresh("a");
        assert!(first.is_some());
        assert!(c.begin_refresh("a").is_none());
        assert!(c.begin_refresh("b").is_some());
        drop(first);
        assert!(c.begin_refresh("a").is_some());
    }
}
