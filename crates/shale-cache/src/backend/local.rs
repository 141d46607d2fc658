//! `type: local`: entries in this process's memory (`moka`), each with its own TTL, bounded by
//! entries *and* bytes. moka bounds one weighted capacity, so every entry weighs at least
//! `max_bytes / max_entries`: at most `max_entries` entries fit, and never more than `max_bytes`.
//! Least recently / frequently used entries make room.
//!
//! Must not: outlive the process or be shared with other replicas (that is `type: redis`).

use bytes::Bytes;
use moka::sync::Cache;
use moka::Expiry;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Stored {
    bytes: Bytes,
    ttl: Duration,
}

/// Each entry expires after its own TTL.
struct PerEntryTtl;

impl Expiry<String, Stored> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Stored, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The in-memory store.
pub(crate) struct Local {
    cache: Cache<String, Stored>,
    max_entries: u64,
    max_bytes: u64,
}

impl Local {
    pub(crate) fn new(max_entries: u64, max_bytes: u64) -> Local {
        let floor = (max_bytes / max_entries.max(1)).max(1);
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |key: &String, value: &Stored| -> u32 {
                let size = (key.len() + value.bytes.len()) as u64;
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Local {
            cache,
            max_entries,
            max_bytes,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        self.cache.get(key).map(|s| s.bytes)
    }

    pub(crate) fn put(&self, key: String, bytes: Bytes, ttl: Duration) {
        self.cache.insert(key, Stored { bytes, ttl });
    }

    pub(crate) fn delete(&self, keys: &[String]) -> u64 {
        keys.iter()
            .filter(|k| self.cache.remove(k.as_str()).is_some())
            .count() as u64
    }

    /// Removes every entry whose key starts with `prefix`.
    pub(crate) fn flush(&self, prefix: &str) -> u64 {
        let doomed: Vec<String> = self
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.as_ref().clone())
            .collect();
        self.delete(&doomed)
    }

    /// (entries, approximate weighted bytes, max entries, max bytes).
    pub(crate) fn usage(&self) -> (u64, u64, u64, u64) {
        self.cache.run_pending_tasks();
        (
            self.cache.entry_count(),
            self.cache.weighted_size(),
            self.max_entries,
            self.max_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_entries_and_bytes() {
        let local = Local::new(3, 3000);
        for i in 0..20 {
            local.put(
                format!("ns:{i}"),
                Bytes::from_static(b"x"),
                Duration::from_secs(60),
            );
        }
        let (entries, _, _, _) = local.usage();
        assert!(entries <= 3, "{entries} entries");
        let big = Local::new(1000, 1000);
        for i in 0..20 {
            big.put(
                format!("ns:{i}"),
                Bytes::from(vec![0u8; 300]),
                Duration::from_secs(60),
            );
        }
        let (entries, bytes, _, _) = big.usage();
        assert!(
            bytes <= 1000 && entries <= 3,
            "{entries} entries, {bytes} bytes"
        );
    }

    #[test]
    fn per_entry_ttl_delete_and_flush() {
        let local = Local::new(100, 1 << 20);
        local.put(
            "a:1".into(),
            Bytes::from_static(b"1"),
            Duration::from_millis(30),
        );
        local.put(
            "a:2".into(),
            Bytes::from_static(b"2"),
            Duration::from_secs(60),
        );
        local.put(
            "b:1".into(),
            Bytes::from_static(b"3"),
            Duration::from_secs(60),
        );
        assert_eq!(local.get("a:1").as_deref(), Some(&b"1"[..]));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(local.get("a:1"), None);
        assert_eq!(local.flush("a:"), 1);
        assert_eq!(local.get("a:2"), None);
        assert_eq!(local.delete(&["b:1".into(), "b:9".into()]), 1);
        assert_eq!(local.get("b:1"), None);
    }
}
