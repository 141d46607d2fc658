//! The hot path's memory of key lookups: key hash → resolved [`Principal`] (or "unknown",
//! "blocked"), each entry fresh for `user_api_key_cache_ttl`. Stale entries are still handed out
//! when Postgres cannot be asked (cached keys keep working while it is down). Admin writes remove
//! entries at once (by key, by team, or all). Bounded: unknown keys are not remembered once full.

use crate::principal::Principal;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
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
}

impl PrincipalCache {
    pub(crate) fn new(ttl: Duration) -> PrincipalCache {
        PrincipalCache {
            ttl,
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The cached value and whether it is still fresh.
    pub(crate) fn get(&self, hash: &str) -> Option<(Cached, bool)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .map(|e| (e.value.clone(), e.at.elapsed() < self.ttl))
    }

    pub(crate) fn put(&self, hash: &str, value: Cached) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
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
        map.remove(hash);
    }

    /// Drops every key of a team (its limits, budget or models changed), and unknown/blocked
    /// entries (they may be that team's keys).
    pub(crate) fn remove_team(&self, team_id: &str) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| match &e.value {
            Cached::Found(p) => p.team_id.as_deref() != Some(team_id),
            _ => false,
        });
    }

    pub(crate) fn clear(&self) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
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
        c.put("a", Cached::Unknown);
        assert!(matches!(c.get("a"), Some((Cached::Unknown, true))));
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(c.get("a"), Some((Cached::Unknown, false))));
        c.remove_key("a");
        assert!(c.get("a").is_none());
        c.put("b", Cached::Blocked);
        c.remove_team("t");
        assert_eq!(c.len(), 0);
    }
}
