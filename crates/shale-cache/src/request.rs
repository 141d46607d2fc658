//! What the cache reads from a request body, in one pass over the raw bytes (the typed parse of
//! the route's handler is not needed for a hit): the `model`, whether it streams, the body's
//! `cache` controls, and the canonical form of every member that shapes the answer.
//!
//! Members in the key: everything the client sent except `model` (the key uses the model *group*
//! instead, so aliases and every deployment of a group share entries), the cache controls
//! themselves, and the gateway's own controls that do not change the answer ([`NOT_IN_KEY`]:
//! `metadata`, routing and retry options). `stream` is in the key: a streamed answer is stored
//! and replayed as a stream. On `/embeddings`, `input` is kept apart: each of its items has its
//! own key ([`crate::embeddings`]).
//!
//! Must not: resolve the model group or decide whether the cache applies (see `lib.rs`).

use crate::canon::{self, Canon, Member};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use shale_config::CallType;
use std::borrow::Cow;
use std::fmt;

/// Members that never shape the answer: gateway controls (LiteLLM's `metadata` exclusion, the
/// router's options, timeouts) and the cache controls.
pub const NOT_IN_KEY: &[&str] = &[
    "model",
    "cache",
    "caching",
    "metadata",
    "litellm_metadata",
    "fallbacks",
    "disable_fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "max_retries",
    "timeout",
    "request_timeout",
    "stream_timeout",
    "tags",
];

/// A request body as the cache sees it. Borrows the body.
#[derive(Debug)]
pub struct RequestView<'a> {
    /// `model`, when it is a string.
    pub model: Option<Cow<'a, str>>,
    /// `stream: true`.
    pub stream: bool,
    /// The body's `cache` object, unparsed.
    pub cache: Option<&'a RawValue>,
    /// `caching` (`false` turns the cache off for the request, as LiteLLM's kwarg does).
    pub caching: Option<&'a RawValue>,
    /// `/embeddings` only: `input`, unparsed (not in [`Self::canonical`]).
    pub input: Option<&'a RawValue>,
    /// The members in the key, canonical and sorted by name.
    pub(crate) canonical: Vec<u8>,
}

impl<'a> RequestView<'a> {
    /// Reads a JSON object body. An error means the body is not a JSON object; the route's own
    /// parser then reports it to the client.
    pub fn parse(body: &'a [u8], call: CallType) -> Result<RequestView<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let view = TopLevel { call }.deserialize(&mut de)?;
        de.end()?;
        Ok(view)
    }
}

struct TopLevel {
    call: CallType,
}

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = RequestView<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = RequestView<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut view = RequestView {
            model: None,
            stream: false,
            cache: None,
            caching: None,
            input: None,
            canonical: Vec::with_capacity(256),
        };
        let mut members: Vec<Member> = Vec::with_capacity(8);
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            match &*name {
                "model" => {
                    let raw: &'de RawValue = map.next_value()?;
                    view.model = serde_json::from_str::<Name<'de>>(raw.get())
                        .ok()
                        .map(|n| n.0);
                }
                "cache" => view.cache = Some(map.next_value()?),
                "caching" => view.caching = Some(map.next_value()?),
                "input" if self.call == CallType::Embeddings => {
                    view.input = Some(map.next_value()?)
                }
                other if NOT_IN_KEY.contains(&other) => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => {
                    let out = &mut view.canonical;
                    let start = out.len();
                    canon::string(out, other);
                    let key_end = out.len();
                    if other == "stream" {
                        let raw: &RawValue = map.next_value()?;
                        view.stream = raw.get() == "true";
                        canon::canonical(raw.get(), out).map_err(de::Error::custom)?;
                    } else {
                        map.next_value_seed(Canon(&mut *out))?;
                    }
                    members.push(Member {
                        start,
                        key_end,
                        end: out.len(),
                    });
                }
            }
        }
        canon::sort_members(&mut view.canonical, &mut members);
        Ok(view)
    }
}

/// A string that borrows from the body when it has no escapes (serde's `borrow` on a `Cow`).
#[derive(serde::Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

#[cfg(test)]
mod tests {
    use super::*;

    fn view(body: &str, call: CallType) -> RequestView<'_> {
        RequestView::parse(body.as_bytes(), call).expect("parses")
    }

    #[test]
    fn model_stream_and_controls_are_read_and_kept_out_of_the_form() {
        let v = view(
            r#"{"model":"m","stream":true,"cache":{"no-cache":true},"metadata":{"x":1},"messages":[]}"#,
            CallType::Chat,
        );
        assert_eq!(v.model.as_deref(), Some("m"));
        assert!(v.stream);
        assert_eq!(v.cache.map(|c| c.get()), Some(r#"{"no-cache":true}"#));
        let plain = view(
            r#"{"messages":[],"stream":true,"model":"other"}"#,
            CallType::Chat,
        );
        assert_eq!(
            v.canonical, plain.canonical,
            "model, cache and metadata are not in it"
        );
    }

    #[test]
    fn stream_true_false_and_absent_differ() {
        let t = view(r#"{"model":"m","stream":true}"#, CallType::Chat);
        let f = view(r#"{"model":"m","stream":false}"#, CallType::Chat);
        let absent = view(r#"{"model":"m"}"#, CallType::Chat);
        assert!(t.stream && !f.stream && !absent.stream);
        assert_ne!(t.canonical, f.canonical);
        assert_ne!(f.canonical, absent.canonical);
    }

    #[test]
    fn embeddings_input_is_kept_apart() {
        let v = view(
            r#"{"model":"e","input":["a","b"],"dimensions":256}"#,
            CallType::Embeddings,
        );
        assert_eq!(v.input.map(|i| i.get()), Some(r#"["a","b"]"#));
        let w = view(
            r#"{"model":"e","input":"c","dimensions":256}"#,
            CallType::Embeddings,
        );
        assert_eq!(v.canonical, w.canonical);
        // On other routes `input` is an ordinary member (the Responses API's input).
        let r = view(r#"{"model":"m","input":"hi"}"#, CallType::Responses);
        assert!(r.input.is_none());
        assert!(!r.canonical.is_empty());
    }

    #[test]
    fn escaped_names_and_non_string_models() {
        let v = view(r#"{"mod\u0065l":"m\u0031"}"#, CallType::Chat);
        assert_eq!(v.model.as_deref(), Some("m1"));
        assert!(v.canonical.is_empty());
        let n = view(r#"{"model":5}"#, CallType::Chat);
        assert!(n.model.is_none());
        assert!(RequestView::parse(b"[1]", CallType::Chat).is_err());
        assert!(RequestView::parse(b"{\"a\":1} x", CallType::Chat).is_err());
        assert!(RequestView::parse(b"", CallType::Chat).is_err());
    }
}
