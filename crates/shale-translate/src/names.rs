//! Tool-name and tool-call-id sanitising. Bedrock accepts tool names matching
//! `[a-zA-Z][a-zA-Z0-9_-]{0,63}` and ids matching `[a-zA-Z0-9_.:-]{1,64}`; anything else is
//! rewritten deterministically, and renamed tools are mapped back in responses.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Sanitised tool name → the client's original name (only names that changed are stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNameMap(HashMap<String, String>);

impl ToolNameMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sanitise `name`, remembering the original when it changed. Two different originals never
    /// share a sanitised name.
    pub fn sanitize(&mut self, name: &str) -> String {
        let candidate = sanitize_tool_name(name);
        if candidate == name {
            return candidate;
        }
        match self.0.get(&candidate) {
            Some(orig) if orig != name => {
                // collision with another original: disambiguate with a hash suffix
                let h = short_hash(name, 8);
                let mut s: String = candidate.chars().take(64 - 9).collect();
                s.push('_');
                s.push_str(&h);
                self.0.insert(s.clone(), name.to_owned());
                s
            }
            _ => {
                self.0.insert(candidate.clone(), name.to_owned());
                candidate
            }
        }
    }

    /// The client's name for a sanitised name (the name itself when it was not renamed).
    pub fn original<'a>(&'a self, sanitized: &'a str) -> &'a str {
        self.0
            .get(sanitized)
            .map(String::as_str)
            .unwrap_or(sanitized)
    }

    /// Whether nothing was renamed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A valid Bedrock tool name for `name`: invalid characters become `_`, a name not starting with
/// a letter gets a `t` prefix, and the result is cut to 64 characters.
pub fn sanitize_tool_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 't');
    }
    if s.len() > 64 {
        // keep it unique: 55 chars + '_' + 8 hex
        let h = short_hash(name, 8);
        s.truncate(55);
        s.push('_');
        s.push_str(&h);
    }
    s
}

fn valid_tool_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
}

/// A valid Bedrock `toolUseId` for `id`: unchanged when valid, otherwise the invalid characters
/// replaced, cut, and suffixed with a hash of the original so the same id always maps to the same
/// result and different ids stay different.
pub fn sanitize_tool_id(id: &str) -> String {
    if valid_tool_id(id) {
        return id.to_owned();
    }
    let mut s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(47)
        .collect();
    if s.is_empty() {
        s.push_str("call");
    }
    s.push('_');
    s.push_str(&short_hash(id, 16));
    s
}

fn short_hash(s: &str, n: usize) -> String {
    let d = Sha256::digest(s.as_bytes());
    let mut h = hex::encode(d);
    h.truncate(n);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        let mut m = ToolNameMap::new();
        assert_eq!(m.sanitize("get_weather"), "get_weather");
        assert!(m.is_empty());
        assert_eq!(m.sanitize("my.tool/v1"), "my_tool_v1");
        assert_eq!(m.original("my_tool_v1"), "my.tool/v1");
        assert_eq!(m.sanitize("9lives"), "t9lives");
        // collision
        let other = m.sanitize("my tool v1");
        assert_ne!(other, "my_tool_v1");
        assert_eq!(m.original(&other), "my tool v1");
        // same original → same name
        assert_eq!(m.sanitize("my.tool/v1"), "my_tool_v1");
        let long = "a".repeat(100);
        let s = m.sanitize(&long);
        assert_eq!(s.len(), 64);
        assert_eq!(m.original(&s), long);
    }

    #[test]
    fn tool_ids() {
        assert_eq!(sanitize_tool_id("call_abc-1.2:3"), "call_abc-1.2:3");
        let a = sanitize_tool_id("call abc");
        assert_eq!(a, sanitize_tool_id("call abc"));
        assert!(valid_tool_id(&a));
        assert_ne!(a, sanitize_tool_id("call+abc"));
        assert!(valid_tool_id(&sanitize_tool_id("")));
        assert!(valid_tool_id(&sanitize_tool_id(&"x".repeat(200))));
    }
}
