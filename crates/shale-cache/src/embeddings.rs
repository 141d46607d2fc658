//! Embeddings are cached per `input` item (LiteLLM does the same): each item's key is the
//! request's key (model group, `dimensions`, `encoding_format`, …) plus that item, so a list can
//! be part hit, part miss. Only the missed items go to Bedrock ([`rewrite_input`]); the answer is
//! assembled in the original order ([`assemble`]) from stored vectors and the upstream's, whose
//! vectors are kept as raw JSON (never parsed into floats).
//!
//! Pure: no I/O.

use crate::canon;
use crate::key::{self, KeyContext, KeyDigest};
use crate::request::RequestView;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::Digest;
use std::io::Write;

/// The items of an `input`: a string, a token list (one item), or a list of either.
pub fn items(input: &RawValue) -> Option<Vec<&RawValue>> {
    let text = input.get().trim_start();
    if !text.starts_with('[') {
        return Some(vec![input]);
    }
    let list: Vec<&RawValue> = serde_json::from_str(input.get()).ok()?;
    if list.is_empty() {
        return None;
    }
    let is_number = |r: &&RawValue| {
        r.get()
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
    };
    if list.iter().all(is_number) {
        // A list of token ids is one input.
        return Some(vec![input]);
    }
    Some(list)
}

/// One key per item, in order.
pub fn item_digests(
    ctx: &KeyContext<'_>,
    view: &RequestView<'_>,
    items: &[&RawValue],
) -> Result<Vec<KeyDigest>, serde_json::Error> {
    let base = key::hasher(ctx, view);
    let mut form = Vec::new();
    items
        .iter()
        .map(|item| {
            form.clear();
            canon::canonical(item.get(), &mut form)?;
            let mut h = base.clone();
            h.update(b"input");
            h.update(&form);
            Ok(KeyDigest(h.finalize().into()))
        })
        .collect()
}

/// The request body with `input` replaced by `missing` (the items not found).
pub fn rewrite_input(body: &[u8], missing: &[&RawValue]) -> Result<Vec<u8>, serde_json::Error> {
    let mut map: Map<String, Value> = serde_json::from_slice(body)?;
    let list: Vec<Value> = missing
        .iter()
        .map(|r| serde_json::from_str(r.get()))
        .collect::<Result<_, _>>()?;
    map.insert("input".into(), Value::Array(list));
    serde_json::to_vec(&map)
}

#[derive(Deserialize)]
struct UpstreamItem<'a> {
    index: usize,
    #[serde(borrow)]
    embedding: &'a RawValue,
}

#[derive(Deserialize, Default)]
struct UpstreamUsage {
    #[serde(default)]
    prompt_tokens: u64,
}

#[derive(Deserialize)]
struct Upstream<'a> {
    #[serde(borrow)]
    data: Vec<UpstreamItem<'a>>,
    #[serde(default)]
    usage: UpstreamUsage,
}

/// An upstream embeddings answer: each item's vector (raw JSON) by index, and its prompt tokens.
#[derive(Debug)]
pub struct Vectors<'a> {
    pub vectors: Vec<&'a RawValue>,
    pub prompt_tokens: u64,
}

/// Reads an OpenAI embeddings answer for `expected` items; `None` when it is not one.
pub fn parse_answer(body: &[u8], expected: usize) -> Option<Vectors<'_>> {
    let up: Upstream<'_> = serde_json::from_slice(body).ok()?;
    if up.data.len() != expected {
        return None;
    }
    let mut vectors: Vec<Option<&RawValue>> = vec![None; expected];
    for item in up.data {
        *vectors.get_mut(item.index)? = Some(item.embedding);
    }
    Some(Vectors {
        vectors: vectors.into_iter().collect::<Option<Vec<_>>>()?,
        prompt_tokens: up.usage.prompt_tokens,
    })
}

/// Splits `total` tokens over `n` items (the first ones get the remainder): what each stored
/// vector records as its usage.
pub fn share(total: u64, n: usize, i: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    let n = n as u64;
    total / n + u64::from((i as u64) < total % n)
}

/// The OpenAI embeddings answer for `model`, with `vectors` (raw JSON, in input order) and
/// `prompt_tokens`.
pub fn assemble(model: &str, vectors: &[&[u8]], prompt_tokens: u64) -> Vec<u8> {
    let size: usize = vectors.iter().map(|v| v.len() + 48).sum();
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, v) in vectors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(out, r#"{{"object":"embedding","index":{i},"embedding":"#);
        out.extend_from_slice(v);
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"model":"#);
    let _ = serde_json::to_writer(&mut out, model);
    let _ = write!(
        out,
        r#","usage":{{"prompt_tokens":{prompt_tokens},"total_tokens":{prompt_tokens}}}}}"#
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shale_config::CallType;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn items_of_every_input_shape() {
        let s = raw(r#""hello""#);
        assert_eq!(items(&s).unwrap().len(), 1);
        let list = raw(r#"["a", "b", "a"]"#);
        let got: Vec<&str> = items(&list).unwrap().iter().map(|r| r.get()).collect();
        assert_eq!(got, vec![r#""a""#, r#""b""#, r#""a""#]);
        let tokens = raw("[1, 2, 3]");
        assert_eq!(items(&tokens).unwrap().len(), 1);
        let token_lists = raw("[[1, 2], [3]]");
        assert_eq!(items(&token_lists).unwrap().len(), 2);
        assert!(items(&raw("[]")).is_none());
    }

    #[test]
    fn item_keys_depend_on_the_item_and_the_request() {
        let ctx = KeyContext {
            call: CallType::Embeddings,
            group: "e",
            scope: None,
            anthropic_beta: None,
        };
        let body = br#"{"model":"e","input":["a","b","a"],"dimensions":256}"#;
        let view = RequestView::parse(body, CallType::Embeddings).unwrap();
        let list = items(view.input.unwrap()).unwrap();
        let keys = item_digests(&ctx, &view, &list).unwrap();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        let single = br#"{"dimensions":256,"input":"a","model":"alias"}"#;
        let view1 = RequestView::parse(single, CallType::Embeddings).unwrap();
        let one = item_digests(&ctx, &view1, &items(view1.input.unwrap()).unwrap()).unwrap();
        assert_eq!(
            one[0], keys[0],
            "a string input and a list item share the entry"
        );
        let other = br#"{"model":"e","input":"a","dimensions":512}"#;
        let view2 = RequestView::parse(other, CallType::Embeddings).unwrap();
        let two = item_digests(&ctx, &view2, &items(view2.input.unwrap()).unwrap()).unwrap();
        assert_ne!(two[0], keys[0]);
    }

    #[test]
    fn rewrite_parse_and_assemble() {
        let a = raw(r#""b""#);
        let body = rewrite_input(br#"{"model":"e","input":["a","b"],"user":"u"}"#, &[&a]).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["input"], serde_json::json!(["b"]));
        assert_eq!(v["user"], "u");

        let up = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5]},{"object":"embedding","index":0,"embedding":"AAAA"}],"model":"e","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let parsed = parse_answer(up, 2).unwrap();
        assert_eq!(parsed.vectors[0].get(), r#""AAAA""#);
        assert_eq!(parsed.vectors[1].get(), "[0.5]");
        assert_eq!(parsed.prompt_tokens, 7);
        assert!(parse_answer(up, 3).is_none());
        assert!(parse_answer(b"{\"error\":{}}", 1).is_none());

        let out = assemble("e\"x", &[b"[1.0]", b"\"AAAA\""], 9);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][1]["embedding"], "AAAA");
        assert_eq!(v["data"][0]["object"], "embedding");
        assert_eq!(v["model"], "e\"x");
        assert_eq!(v["usage"]["total_tokens"], 9);
    }

    #[test]
    fn tokens_are_shared_exactly() {
        let parts: Vec<u64> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
        assert_eq!(share(5, 0, 0), 0);
    }
}
