//! Cache keys: the SHA-256 of a versioned header (route, model group, scope, the
//! `anthropic-beta` header) and the request's canonical members, stored as
//! `<namespace>:<64 hex digits>` (LiteLLM's `namespace:sha256` layout).
//!
//! The route is in the key because the same members on two routes produce different answers
//! (`/v1/messages` and `/v1/chat/completions` both take `messages`). The scope is the tenant when
//! `cache_params.scope` asks for one. Every part is length-prefixed, so no two different
//! contexts hash the same bytes.

use crate::canon;
use crate::request::RequestView;
use sha2::{Digest, Sha256};
use shale_config::CallType;

/// Bumped when the canonical form or the stored entry changes meaning.
const VERSION: &str = "shale-cache/1";

/// What besides the body decides the answer.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    pub call: CallType,
    /// The model group (`model_name`) the request's model resolves to.
    pub group: &'a str,
    /// The tenant (key hash or team id) when entries are scoped; `None` when shared.
    pub scope: Option<&'a str>,
    /// The `anthropic-beta` request header (it changes what Bedrock does).
    pub anthropic_beta: Option<&'a str>,
}

/// The digest of one cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    /// `<namespace>:<hex>`, the stored key.
    pub fn key(&self, namespace: &str) -> String {
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(self.0, &mut hex);
        let mut out = String::with_capacity(namespace.len() + 65);
        out.push_str(namespace);
        out.push(':');
        out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
        out
    }
}

/// The hasher after the header and the body's canonical members (embeddings add an item).
pub(crate) fn hasher(ctx: &KeyContext<'_>, view: &RequestView<'_>) -> Sha256 {
    let mut head = Vec::with_capacity(96);
    canon::string(&mut head, VERSION);
    canon::string(&mut head, ctx.call.name());
    canon::string(&mut head, ctx.group);
    match ctx.scope {
        Some(s) => canon::string(&mut head, s),
        None => head.push(b'n'),
    }
    match ctx.anthropic_beta {
        Some(b) => canon::string(&mut head, b),
        None => head.push(b'n'),
    }
    let mut h = Sha256::new();
    h.update(&head);
    h.update(&view.canonical);
    h
}

/// The key of a request (every route but `/embeddings`, whose items each have one).
pub fn digest(ctx: &KeyContext<'_>, view: &RequestView<'_>) -> KeyDigest {
    KeyDigest(hasher(ctx, view).finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(body: &str, ctx: KeyContext<'_>) -> KeyDigest {
        digest(
            &ctx,
            &RequestView::parse(body.as_bytes(), ctx.call).unwrap(),
        )
    }

    fn chat(group: &str) -> KeyContext<'_> {
        KeyContext {
            call: CallType::Chat,
            group,
            scope: None,
            anthropic_beta: None,
        }
    }

    const BODY: &str =
        r#"{"model":"alias","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"#;

    #[test]
    fn order_model_name_and_controls_do_not_matter() {
        let a = key(BODY, chat("g"));
        let b = key(
            r#"{"temperature":5e-1,"messages":[{"content":"hi","role":"user"}],"model":"g","cache":{"ttl":5},"metadata":{"trace":"x"},"num_retries":3}"#,
            chat("g"),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn group_route_scope_beta_and_parameters_matter() {
        let base = key(BODY, chat("g"));
        let with = |ctx: KeyContext<'static>| key(BODY, ctx);
        let scoped = |s: &'static str| {
            with(KeyContext {
                scope: Some(s),
                ..chat("g")
            })
        };
        let beta = |b: &'static str| {
            with(KeyContext {
                anthropic_beta: Some(b),
                ..chat("g")
            })
        };
        let completions = with(KeyContext {
            call: CallType::Completions,
            ..chat("g")
        });
        let all = [
            key(BODY, chat("h")),
            completions,
            scoped("team-1"),
            scoped("team-2"),
            beta("x"),
            // A scope that spells the beta header cannot collide with it.
            scoped("x"),
            key(&BODY.replace("0.5", "0.6"), chat("g")),
            key(&BODY.replace("}],", "}],\"stream\":true,"), chat("g")),
            key(&BODY.replace("}],", "}],\"user\":\"u\","), chat("g")),
        ];
        for (i, a) in all.iter().enumerate() {
            assert_ne!(*a, base, "variant {i}");
            for (j, b) in all.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "variants {i} and {j}");
            }
        }
    }

    #[test]
    fn stored_key_is_namespace_colon_hex() {
        let k = key(BODY, chat("g")).key("litellm.caching.caching");
        let hex = k.strip_prefix("litellm.caching.caching:").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
