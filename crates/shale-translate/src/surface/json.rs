//! Editing the top-level members of a JSON object without building a tree: the object is read
//! once into its members (keys borrowed, values as `RawValue` slices of the input) and written
//! back with some members replaced or removed. This is how relayed answers get the client's model
//! name and lose what the client did not ask for, byte for byte otherwise.
//!
//! Must not: look below the top level (a member's value is copied verbatim).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The members of one JSON object, in order.
#[derive(Debug)]
pub struct TopLevel<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

struct MembersVisitor;

/// A key, borrowed from the input unless it holds escapes (serde's `borrow` on a `Cow`).
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            members.push((key, value));
        }
        Ok(TopLevel { members })
    }
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

/// What a member becomes when the object is written.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'e> {
    /// Replaced by this JSON text (or added at the end when absent).
    Set(&'e str, &'e [u8]),
    /// Left out.
    Remove(&'e str),
}

impl<'a> TopLevel<'a> {
    /// Reads the members of `json`, which must be an object.
    pub fn parse(json: &'a [u8]) -> Result<TopLevel<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let top = TopLevel::deserialize(&mut de)?;
        de.end()?;
        Ok(top)
    }

    /// A member's raw value.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// A member parsed as `T` (`None` when absent, null or not a `T`).
    pub fn parse_member<T: Deserialize<'a>>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.get(key)?.get()).ok()
    }

    /// Writes the object with `edits` applied, into `out`.
    pub fn write(&self, edits: &[Edit<'_>], out: &mut Vec<u8>) {
        let size: usize = self
            .members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        out.reserve(size + 2);
        out.push(b'{');
        let mut first = true;
        let mut put = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
            if !first {
                out.push(b',');
            }
            first = false;
            // Keys are short; escaping through serde_json keeps them valid JSON whatever they hold.
            serde_json::to_writer(&mut *out, key).expect("a string serialises");
            out.push(b':');
            out.extend_from_slice(value);
        };
        let mut done = vec![false; edits.len()];
        for (key, value) in &self.members {
            match edits.iter().position(|e| match e {
                Edit::Set(k, _) | Edit::Remove(k) => k == key,
            }) {
                Some(i) => {
                    done[i] = true;
                    if let Edit::Set(_, v) = edits[i] {
                        put(out, key, v);
                    }
                }
                None => put(out, key, value.get().as_bytes()),
            }
        }
        for (i, e) in edits.iter().enumerate() {
            if let (Edit::Set(k, v), false) = (e, done[i]) {
                put(out, k, v);
            }
        }
        out.push(b'}');
    }

    /// The object with `edits` applied.
    pub fn to_vec(&self, edits: &[Edit<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(edits, &mut out);
        out
    }
}

/// A string as JSON text (`"…"` with escapes).
pub fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let top = TopLevel::parse(br#"{"plain":1,"k\"q":2}"#).unwrap();
        assert!(matches!(top.members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&top.members[1].0, Cow::Owned(k) if k == "k\"q"));
    }

    #[test]
    fn edits_keep_everything_else_byte_for_byte() {
        let json = br#"{"id":"x","model":"openai.gpt-oss-120b","choices":[{"a":1.50}],"usage":null,"k\"q":{"z":[ 1 ]}}"#;
        let top = TopLevel::parse(json).unwrap();
        assert_eq!(top.get("choices").unwrap().get(), r#"[{"a":1.50}]"#);
        let name = json_string("my-model");
        let out = top.to_vec(&[
            Edit::Set("model", &name),
            Edit::Remove("usage"),
            Edit::Set("extra", b"true"),
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"x","model":"my-model","choices":[{"a":1.50}],"k\"q":{"z":[ 1 ]},"extra":true}"#
        );
        assert!(TopLevel::parse(b"[1]").is_err());
        assert!(TopLevel::parse(b"{\"a\":1} x").is_err());
        assert_eq!(top.parse_member::<String>("id").as_deref(), Some("x"));
    }
}
