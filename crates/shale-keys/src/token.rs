//! Virtual-key material: generating `sk-…` keys from the OS random source, checking a key the
//! caller chose, hashing them (SHA-256 hex, LiteLLM's `token`), masking them for display, and
//! telling a presented key from a hash. Clear keys pass through here and are never stored or
//! logged by this crate.

use crate::KeyError;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Random characters after `sk-` (48 alphanumerics ≈ 285 bits).
const KEY_RANDOM_CHARS: usize = 48;

/// A new clear key: `sk-` and 48 random alphanumerics from the operating system's CSPRNG.
pub(crate) fn generate() -> String {
    format!(
        "sk-{}",
        Alphanumeric.sample_string(&mut OsRng, KEY_RANDOM_CHARS)
    )
}

/// Longest caller-chosen key.
const MAX_CUSTOM_KEY: usize = 256;

/// A key shown in an error: its first and last four characters (LiteLLM's masking).
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() > 8 {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        "****".into()
    }
}

/// Checks a caller-chosen key (`/key/generate` with `key`): `sk-` and 1 to 253 visible ASCII
/// characters (it travels in an `Authorization` header). The error shows the key masked.
pub(crate) fn check_custom(key: &str) -> Result<(), KeyError> {
    let bad = |why: &str| {
        Err(KeyError::InvalidRequest(format!(
            "Invalid key format. {why} Received: {}",
            masked(key)
        )))
    };
    if !key.starts_with("sk-") {
        return bad("LiteLLM Virtual Key must start with 'sk-'.");
    }
    if key.len() <= 3 || key.len() > MAX_CUSTOM_KEY {
        return bad("A virtual key is 'sk-' and 1 to 253 more characters.");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("A virtual key has only visible ASCII characters (no spaces).");
    }
    Ok(())
}

/// SHA-256 of the key's UTF-8 bytes, lower-case hex (what is stored and compared).
pub fn hash_key(clear: &str) -> String {
    hex::encode(Sha256::digest(clear.as_bytes()))
}

/// A key for display: `sk-...` and its last four characters (LiteLLM's `key_name`).
pub(crate) fn mask(clear: &str) -> String {
    let tail: String = clear
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

/// Whether `s` already is a stored hash (64 lower-case hex digits).
pub(crate) fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Admin endpoints accept a clear key or its hash: returns the hash either way.
pub(crate) fn to_hash(key_or_hash: &str) -> String {
    if is_hash(key_or_hash) {
        key_or_hash.to_string()
    } else {
        hash_key(key_or_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_distinct_and_prefixed() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("sk-") && a.len() == 3 + KEY_RANDOM_CHARS);
        assert!(a[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_hex_like_litellm() {
        // sha256("sk-1234"), as LiteLLM's hash_token computes it.
        assert_eq!(
            hash_key("sk-1234"),
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        assert_eq!(hash_key("sk-1234").len(), 64);
        assert!(is_hash(&hash_key("anything")));
        assert_eq!(to_hash(&hash_key("sk-x")), hash_key("sk-x"));
        assert_eq!(to_hash("sk-x"), hash_key("sk-x"));
    }

    #[test]
    fn custom_keys_are_checked_and_never_echoed_whole() {
        assert!(check_custom("sk-my-migrated-key-0001").is_ok());
        assert!(check_custom("sk-1").is_ok());
        let err = check_custom("pk-secret-value-123456")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must start with 'sk-'"), "{err}");
        assert!(err.contains("pk-s****3456"), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
        assert!(check_custom("sk-").is_err());
        assert!(check_custom("sk-has space").is_err());
        assert!(check_custom("sk-tab\there").is_err());
        assert!(check_custom("sk-ünïcode").is_err());
        assert!(check_custom(&format!("sk-{}", "a".repeat(253))).is_ok());
        assert!(check_custom(&format!("sk-{}", "a".repeat(254))).is_err());
        assert_eq!(masked("short"), "****");
    }

    #[test]
    fn mask_shows_only_the_tail() {
        assert_eq!(mask("sk-abcdefgh1234"), "sk-...1234");
        assert_eq!(mask("ab"), "sk-...ab");
    }
}
