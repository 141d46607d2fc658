//! The master key as the gateway holds it: a SHA-256 digest compared in constant time. Lives
//! apart from `auth.rs` (which reads the key headers and decides) so that `state.rs` can hold one
//! without importing the authentication step.
//!
//! Must not: keep the key itself, or log or print it (`Debug` prints `***`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured key, stored as a SHA-256 digest so comparison time depends on neither the key's
/// content nor its length.
#[derive(Clone)]
pub struct MasterKey {
    digest: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn new(key: &str) -> Self {
        MasterKey {
            digest: Sha256::digest(key.as_bytes()).into(),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest))
    }
}
