//! The canonical form of a JSON value, written as bytes that are hashed into a cache key: two
//! values that mean the same (object members in another order, `1` and `1.0`, `"A"` and
//! `"\u0041"`, other whitespace) get the same bytes; values that differ get different bytes.
//!
//! The form is not JSON: every value is self-delimiting (a type tag, then a length or a `;`
//! terminator), so concatenations are unambiguous:
//! `n` null · `t` / `f` · `i<decimal>;` integral numbers · `d<shortest decimal>;` other numbers ·
//! `s<u32 LE length><UTF-8>` strings · `[…]` arrays · `{…}` objects, members (key string, value)
//! sorted by their key's encoding (a stable sort: duplicate keys keep their order).
//!
//! Parsing is serde_json's (its recursion limit and UTF-8 checks apply), borrowing strings where
//! it can; nothing here allocates per value except the member list of each object. Must not:
//! decide which members belong in a key (see `request.rs`).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::Write;

/// Writes the canonical form of the value it deserializes into `out`.
pub(crate) struct Canon<'o>(pub(crate) &'o mut Vec<u8>);

/// Writes the canonical form of the JSON text `json` into `out`.
pub(crate) fn canonical(json: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    Canon(out).deserialize(&mut de)?;
    de.end()
}

/// A string token: `s`, the length (u32 little-endian), the bytes.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b's');
    // Bodies are size-limited far below 4 GiB; saturate rather than wrap regardless.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn integer(out: &mut Vec<u8>, v: i128) {
    out.push(b'i');
    let _ = write!(out, "{v}");
    out.push(b';');
}

/// Largest magnitude below which every integer is exactly representable as an `f64`.
const EXACT_F64_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < EXACT_F64_INTEGERS {
        // `1.0` means `1`; `-0.0` means `0`.
        integer(out, v as i128);
    } else {
        out.push(b'd');
        // Rust's `Display` for f64 is the shortest text that reads back as the same value.
        let _ = write!(out, "{v}");
        out.push(b';');
    }
}

/// One object member written in `out`: where it starts, where its key token ends, where it ends.
#[derive(Clone, Copy)]
pub(crate) struct Member {
    pub(crate) start: usize,
    pub(crate) key_end: usize,
    pub(crate) end: usize,
}

/// Puts the members written in `out[members[0].start..]` in key order (stable), in place.
pub(crate) fn sort_members(out: &mut Vec<u8>, members: &mut [Member]) {
    let sorted = members
        .windows(2)
        .all(|w| out[w[0].start..w[0].key_end] <= out[w[1].start..w[1].key_end]);
    if sorted {
        return;
    }
    let Some(first) = members.first().map(|m| m.start) else {
        return;
    };
    let written = out[first..].to_vec();
    members.sort_by(|a, b| {
        written[a.start - first..a.key_end - first]
            .cmp(&written[b.start - first..b.key_end - first])
    });
    out.truncate(first);
    for m in members.iter() {
        out.extend_from_slice(&written[m.start - first..m.end - first]);
    }
}

impl<'de> DeserializeSeed<'de> for Canon<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(if v { b't' } else { b'f' });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        integer(self.0, i128::from(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        integer(self.0, i128::from(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        float(self.0, v);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        string(self.0, v);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push(b'n');
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'[');
        while seq.next_element_seed(Canon(&mut *out))?.is_some() {}
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'{');
        let mut members = Vec::new();
        loop {
            let start = out.len();
            if map.next_key_seed(KeyToken(&mut *out))?.is_none() {
                break;
            }
            let key_end = out.len();
            map.next_value_seed(Canon(&mut *out))?;
            members.push(Member {
                start,
                key_end,
                end: out.len(),
            });
        }
        sort_members(out, &mut members);
        out.push(b'}');
        Ok(())
    }
}

/// An object key written as a string token.
pub(crate) struct KeyToken<'o>(pub(crate) &'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for KeyToken<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyToken<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        string(self.0, v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        canonical(json, &mut out).expect("valid JSON");
        out
    }

    #[test]
    fn equal_meaning_equal_bytes() {
        let same = [
            (
                r#"{"a":1,"b":[true,null,"x"]}"#,
                r#" { "b" : [ true , null , "x" ] , "a" : 1.0 } "#,
            ),
            (r#"{"t":0.7}"#, r#"{"t":7e-1}"#),
            (r#"{"s":"A\n"}"#, r#"{"s":"\u0041\u000a"}"#),
            (r#"{"n":-0.0}"#, r#"{"n":0}"#),
            (r#"{"n":100}"#, r#"{"n":1e2}"#),
            (
                r#"{"o":{"z":1,"y":{"b":2,"a":1}}}"#,
                r#"{"o":{"y":{"a":1,"b":2},"z":1}}"#,
            ),
        ];
        for (a, b) in same {
            assert_eq!(canon(a), canon(b), "{a} vs {b}");
        }
    }

    #[test]
    fn different_meaning_different_bytes() {
        let different = [
            (r#"{"a":1}"#, r#"{"a":"1"}"#),
            (r#"{"a":1}"#, r#"{"a":1.5}"#),
            (r#"[1,2]"#, r#"[2,1]"#),
            (r#"{"a":[]}"#, r#"{"a":{}}"#),
            (r#"{"a":null}"#, r#"{}"#),
            (r#"{"a":"b","c":"d"}"#, r#"{"a":"bc","":"d"}"#),
            (r#"["ab"]"#, r#"["a","b"]"#),
            (r#"{"a":1,"a":2}"#, r#"{"a":2,"a":1}"#),
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (r#"9007199254740993"#, r#"9007199254740992"#),
            (r#"true"#, r#"false"#),
        ];
        for (a, b) in different {
            assert_ne!(canon(a), canon(b), "{a} vs {b}");
        }
    }

    #[test]
    fn invalid_or_trailing_text_is_an_error() {
        let mut out = Vec::new();
        assert!(canonical("{\"a\":", &mut out).is_err());
        assert!(canonical("1 2", &mut out).is_err());
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(
            canonical(&deep, &mut out).is_err(),
            "serde_json's depth limit applies"
        );
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-c\\\\\"é]{0,4}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::vec(("[a-d]{0,2}", inner), 0..4).prop_map(|members| {
                    serde_json::Value::Object(members.into_iter().collect())
                }),
            ]
        })
    }

    proptest! {
        /// Member order and formatting never change the form; reversing members of a non-trivial
        /// object and pretty-printing give the same bytes.
        #[test]
        fn order_and_whitespace_never_matter(v in json_value()) {
            let compact = serde_json::to_string(&v).unwrap();
            let pretty = serde_json::to_string_pretty(&reverse(&v)).unwrap();
            prop_assert_eq!(canon(&compact), canon(&pretty));
        }

        /// Two values with different forms are different values.
        #[test]
        fn equal_forms_mean_equal_values(a in json_value(), b in json_value()) {
            let (ca, cb) = (canon(&a.to_string()), canon(&b.to_string()));
            if ca == cb {
                prop_assert!(same_value(&a, &b), "{} vs {}", a, b);
            }
        }
    }

    fn reverse(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reverse(v)))
                    .collect(),
            ),
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(reverse).collect())
            }
            other => other.clone(),
        }
    }

    /// Equality with numbers compared by value and objects by member set.
    fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
            (Array(x), Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
            }
            (Object(x), Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
            }
            _ => a == b,
        }
    }
}
