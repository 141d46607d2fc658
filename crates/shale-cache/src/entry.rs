//! A stored answer: the bytes the client received (a JSON body, or a stream's server-sent events
//! exactly as they were written), what kind they are, when they were stored (for `s-maxage`) and
//! the token usage of the call that produced them (for `litellm_cached_tokens_metric` and the
//! spend log of a hit). A hit sends the bytes as they are: nothing is parsed or translated again.
//!
//! Wire form (Redis value, local store value): `SHC1`, kind (1 byte), stored-at (u64 ms since the
//! Unix epoch), four u64 token counts, then the body — all little-endian. Anything else decodes to
//! `None` and is treated as a miss.

use bytes::Bytes;
use std::time::Duration;

const MAGIC: &[u8; 4] = b"SHC1";
const HEADER: usize = 4 + 1 + 8 + 4 * 8;

/// What the stored bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A complete JSON answer (`application/json`).
    Json,
    /// A stream's events (`text/event-stream`), replayed as they were sent.
    EventStream,
    /// One embedding vector (the JSON of an `embedding` member), for one `input` item.
    Embedding,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Json => 1,
            Kind::EventStream => 2,
            Kind::Embedding => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Json,
            2 => Kind::EventStream,
            3 => Kind::Embedding,
            _ => return None,
        })
    }
}

/// Token usage of the call that produced an entry (input = uncached input tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl StoredUsage {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// One stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// When it was stored (ms since the Unix epoch).
    pub stored_ms: u64,
    pub usage: StoredUsage,
    pub body: Bytes,
}

impl Entry {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.body.len());
        out.extend_from_slice(MAGIC);
        out.push(self.kind.byte());
        out.extend_from_slice(&self.stored_ms.to_le_bytes());
        for n in [
            self.usage.input,
            self.usage.output,
            self.usage.cache_read,
            self.usage.cache_write,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads a stored form; the body shares `bytes` (no copy). `None` for anything malformed.
    pub fn decode(bytes: Bytes) -> Option<Entry> {
        if bytes.len() < HEADER || &bytes[..4] != MAGIC {
            return None;
        }
        let kind = Kind::from_byte(bytes[4])?;
        let u64_at = |at: usize| -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Some(Entry {
            kind,
            stored_ms: u64_at(5),
            usage: StoredUsage {
                input: u64_at(13),
                output: u64_at(21),
                cache_read: u64_at(29),
                cache_write: u64_at(37),
            },
            body: bytes.slice(HEADER..),
        })
    }

    /// Whether the entry is young enough for a request that accepts `max_age` at `now_ms`. An
    /// age of zero accepts nothing (`max-age=0`: every entry is some time old, even one stored
    /// this millisecond).
    pub fn fresh(&self, max_age: Option<Duration>, now_ms: u64) -> bool {
        match max_age {
            None => true,
            Some(max) if max.is_zero() => false,
            Some(max) => now_ms.saturating_sub(self.stored_ms) <= max.as_millis() as u64,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let e = Entry {
            kind: Kind::EventStream,
            stored_ms: 1_700_000_000_123,
            usage: StoredUsage {
                input: 1,
                output: 2,
                cache_read: 3,
                cache_write: u64::MAX,
            },
            body: Bytes::from_static(b"data: [DONE]\n\n"),
        };
        assert_eq!(Entry::decode(Bytes::from(e.encode())), Some(e.clone()));
        let mut bad = e.encode();
        bad[4] = 9;
        assert_eq!(Entry::decode(Bytes::from(bad)), None);
        assert_eq!(Entry::decode(Bytes::from_static(b"SHC1")), None);
        assert_eq!(
            Entry::decode(Bytes::from_static(b"{\"timestamp\": 1}")),
            None
        );
    }

    #[test]
    fn freshness() {
        let e = Entry {
            kind: Kind::Json,
            stored_ms: 10_000,
            usage: StoredUsage::default(),
            body: Bytes::new(),
        };
        assert!(e.fresh(None, u64::MAX));
        assert!(e.fresh(Some(Duration::from_secs(5)), 15_000));
        assert!(!e.fresh(Some(Duration::from_secs(5)), 15_001));
        assert!(
            !e.fresh(Some(Duration::ZERO), 10_000),
            "max-age=0 accepts nothing"
        );
        assert!(
            e.fresh(Some(Duration::from_secs(1)), 9_000),
            "clock skew between replicas"
        );
    }
}
