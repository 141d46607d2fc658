//! The UI's sign-in sessions, in memory: a random 256-bit session id (the cookie's value) maps to
//! the session's CSRF token and its expiry. The store keeps only the SHA-256 digest of each id,
//! looks a presented id up by its digest (so lookup timing says nothing about a valid id) and
//! compares the digest and the CSRF token in constant time. Bounded: at most `capacity` sessions;
//! expired ones go first, then the oldest.
//!
//! Must not: store or log a clear session id, hold the master key, or outlive the process (a
//! restart signs everyone out; replicas do not share sessions).

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A new random token: 32 bytes from the OS, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[derive(Debug, Clone)]
struct Session {
    /// The id's digest again, compared in constant time after the map lookup.
    id_digest: [u8; 32],
    csrf: String,
    created: Instant,
    expires: Instant,
}

/// A new session as the sign-in answer needs it.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's value.
    pub id: String,
    pub csrf: String,
}

/// See the module doc.
#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    lifetime: Duration,
    capacity: usize,
}

impl SessionStore {
    pub fn new(lifetime: Duration, capacity: usize) -> SessionStore {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            lifetime,
            capacity: capacity.max(1),
        }
    }

    /// How long a session lasts from sign-in (the cookie's `Max-Age`).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session; makes room first when the store is full.
    pub fn create(&self) -> NewSession {
        let id = random_token();
        let csrf = random_token();
        let now = Instant::now();
        let id_digest = digest(&id);
        let mut sessions = self.lock();
        if sessions.len() >= self.capacity {
            sessions.retain(|_, s| s.expires > now);
        }
        while sessions.len() >= self.capacity {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
        sessions.insert(
            id_digest,
            Session {
                id_digest,
                csrf: csrf.clone(),
                created: now,
                expires: now + self.lifetime,
            },
        );
        NewSession { id, csrf }
    }

    /// The CSRF token of a live session, or `None` (unknown or expired; an expired one is
    /// removed).
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let key = digest(id);
        let now = Instant::now();
        let mut sessions = self.lock();
        let session = sessions.get(&key)?;
        if !bool::from(session.id_digest.ct_eq(&key)) {
            return None;
        }
        if session.expires <= now {
            sessions.remove(&key);
            return None;
        }
        Some(session.csrf.clone())
    }

    /// True when `id` is a live session and `csrf` its token (both compared in constant time).
    pub fn check_csrf(&self, id: &str, csrf: &str) -> bool {
        match self.csrf_of(id) {
            Some(expected) => bool::from(expected.as_bytes().ct_eq(csrf.as_bytes())),
            None => false,
        }
    }

    /// Ends a session (sign-out). Unknown ids are ignored.
    pub fn remove(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Live and expired sessions still held (tests, metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_random_and_long() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_session_knows_its_csrf_token_until_removed() {
        let store = SessionStore::new(Duration::from_secs(60), 10);
        let s = store.create();
        assert_ne!(s.id, s.csrf);
        assert_eq!(store.csrf_of(&s.id).as_deref(), Some(s.csrf.as_str()));
        assert!(store.check_csrf(&s.id, &s.csrf));
        assert!(!store.check_csrf(&s.id, "wrong"));
        assert!(!store.check_csrf(&s.id, ""));
        assert!(!store.check_csrf("unknown", &s.csrf));
        // Another session's token does not fit this session.
        let other = store.create();
        assert!(!store.check_csrf(&s.id, &other.csrf));
        store.remove(&s.id);
        assert_eq!(store.csrf_of(&s.id), None);
        assert!(store.csrf_of(&other.id).is_some());
    }

    #[test]
    fn sessions_expire() {
        let store = SessionStore::new(Duration::from_millis(20), 10);
        let s = store.create();
        assert!(store.csrf_of(&s.id).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.csrf_of(&s.id), None);
        assert!(store.is_empty(), "an expired session is dropped when seen");
    }

    #[test]
    fn the_store_is_bounded_and_drops_the_oldest() {
        let store = SessionStore::new(Duration::from_secs(60), 3);
        let first = store.create();
        std::thread::sleep(Duration::from_millis(2));
        let rest: Vec<_> = (0..3)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(2));
                store.create()
            })
            .collect();
        assert_eq!(store.len(), 3);
        assert_eq!(store.csrf_of(&first.id), None, "the oldest made room");
        assert!(rest.iter().all(|s| store.csrf_of(&s.id).is_some()));
    }

    #[test]
    fn the_clear_id_is_not_kept() {
        let store = SessionStore::new(Duration::from_secs(60), 3);
        let s = store.create();
        let held = format!("{:?}", store.lock());
        assert!(!held.contains(&s.id));
        assert!(!held.contains(&hex::encode(s.id.as_bytes())));
    }
}
