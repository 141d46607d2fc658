//! Sealing secrets at rest: AES-256-GCM (`ring`) with a key derived by HKDF-SHA256 from the
//! operator's salt key (`SHALE_SALT_KEY`, else `LITELLM_SALT_KEY`, as LiteLLM names it), a fresh
//! random 96-bit nonce per value. A sealed value is `enc:v1:` + base64(nonce ‖ ciphertext ‖ tag),
//! so it is recognisable in the table and can never be mistaken for a clear secret.
//!
//! Must not: log or return a secret in an error, or fall back to any built-in key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// The prefix of every sealed value.
pub const SEALED_PREFIX: &str = "enc:v1:";

/// HKDF context: a different purpose of the same salt key gets a different key.
const INFO: &[u8] = b"shale model credentials v1";

/// Seals and opens secrets with one key. Cheap to share.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    /// The key derived from `salt_key` (any non-empty text).
    pub fn new(salt_key: &str) -> Sealer {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"shale").extract(salt_key.as_bytes());
        let mut bytes = [0u8; 32];
        prk.expand(&[INFO], KeyLen)
            .and_then(|okm| okm.fill(&mut bytes))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key");
        Sealer {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        }
    }

    /// From `SHALE_SALT_KEY`, else `LITELLM_SALT_KEY`; `None` when neither is set.
    pub fn from_env() -> Option<Sealer> {
        ["SHALE_SALT_KEY", "LITELLM_SALT_KEY"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
            .map(|key| Sealer::new(&key))
    }

    /// `clear` sealed under a fresh nonce.
    pub fn seal(&self, clear: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut data = clear.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing a bounded value cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    /// The clear text of a sealed value; `None` when it is not sealed with this key (or altered).
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = STANDARD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let clear = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(clear.to_vec()).ok()
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let s = Sealer::new("salt-1");
        let a = s.seal("AKIA-secret");
        let b = s.seal("AKIA-secret");
        assert!(a.starts_with(SEALED_PREFIX) && b.starts_with(SEALED_PREFIX));
        assert_ne!(a, b, "a nonce per value");
        assert!(!a.contains("AKIA-secret"));
        assert_eq!(s.open(&a).as_deref(), Some("AKIA-secret"));
        assert_eq!(s.open(&b).as_deref(), Some("AKIA-secret"));
    }

    #[test]
    fn another_key_or_an_altered_value_does_not_open() {
        let a = Sealer::new("salt-1").seal("secret");
        assert_eq!(Sealer::new("salt-2").open(&a), None);
        let mut altered = a.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(Sealer::new("salt-1").open(&altered), None);
        assert_eq!(Sealer::new("salt-1").open("secret"), None);
        assert_eq!(Sealer::new("salt-1").open("enc:v1:AAAA"), None);
    }
}
