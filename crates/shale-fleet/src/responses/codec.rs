//! How a stored response travels to a shared store and back: one JSON document
//! `{"response", "input_items", "conversation"}` (key order kept, so an answer read back is the
//! answer that was sent), its owner hash beside it, its size and its expiry time.
//!
//! Must not: do I/O, or carry anything of the caller's key but its SHA-256.

use super::{Owner, StoredResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// A record ready to write.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub id: String,
    pub owner: Owner,
    /// The JSON document.
    pub json: String,
    /// Unix milliseconds the record was made.
    pub created_ms: u64,
    /// Unix milliseconds it stops being retrievable.
    pub expires_ms: u64,
}

#[derive(Serialize)]
struct Out<'a> {
    response: &'a Value,
    input_items: &'a [Value],
    conversation: &'a [Value],
}

#[derive(Deserialize)]
struct In {
    response: Value,
    #[serde(default)]
    input_items: Vec<Value>,
    #[serde(default)]
    conversation: Vec<Value>,
}

impl Encoded {
    pub(crate) fn new(record: &StoredResponse, created_ms: u64, ttl_ms: u64) -> Encoded {
        let json = serde_json::to_string(&Out {
            response: &record.response,
            input_items: &record.input_items,
            conversation: &record.conversation,
        })
        .expect("JSON values serialise");
        Encoded {
            id: record.id().to_string(),
            owner: record.owner,
            json,
            created_ms,
            expires_ms: created_ms.saturating_add(ttl_ms),
        }
    }

    /// Size in bytes (what the shared store's byte bound counts).
    pub(crate) fn bytes(&self) -> usize {
        self.json.len()
    }
}

/// The record from its JSON document; `None` when the document is not one (written by something
/// else).
pub(crate) fn decode(owner: Owner, json: &str) -> Option<StoredResponse> {
    let doc: In = serde_json::from_str(json).ok()?;
    Some(StoredResponse {
        owner,
        response: doc.response,
        input_items: doc.input_items,
        conversation: Arc::new(doc.conversation),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_back_as_written_with_its_key_order() {
        let record = StoredResponse {
            owner: Owner::of_key(Some("sk")),
            response: json!({"id": "resp_1", "object": "response", "a": 1, "Z": [1, 2]}),
            input_items: vec![json!({"id": "msg_1", "type": "message"})],
            conversation: Arc::new(vec![json!({"role": "user", "content": "hi"})]),
        };
        let e = Encoded::new(&record, 1000, 60_000);
        assert_eq!((e.id.as_str(), e.expires_ms), ("resp_1", 61_000));
        assert_eq!(e.bytes(), e.json.len());
        let back = decode(record.owner, &e.json).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            serde_json::to_string(&back.response).unwrap(),
            r#"{"id":"resp_1","object":"response","a":1,"Z":[1,2]}"#
        );
        assert!(decode(record.owner, "not json").is_none());
    }
}
