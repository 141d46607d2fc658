//! Amazon Titan embeddings: text v1/v2 and multimodal (image) bodies, and their answers.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{extend_absent, pick_by_type, upstream, Item};
use crate::error::TranslateError;
use crate::media::take_payload;

/// Titan text: one call per input.
pub(super) fn text_calls(
    items: Vec<Item>,
    dimensions: Option<u32>,
    extra: &Map<String, Value>,
) -> (Vec<Value>, Vec<Vec<usize>>) {
    one_call_per_item(items, extra, |item, body| {
        let text = match item {
            Item::Text(s) => s,
            Item::Image { url, .. } => url,
        };
        body.insert("inputText".into(), Value::String(text));
        if let Some(d) = dimensions {
            body.insert("dimensions".into(), d.into());
        }
    })
}

/// Titan multimodal: one call per input, `inputText` or `inputImage`.
pub(super) fn image_calls(
    items: Vec<Item>,
    dimensions: Option<u32>,
    extra: &Map<String, Value>,
) -> (Vec<Value>, Vec<Vec<usize>>) {
    one_call_per_item(items, extra, |item, body| {
        match item {
            Item::Text(s) => body.insert("inputText".into(), Value::String(s)),
            Item::Image { url, data, .. } => {
                body.insert("inputImage".into(), Value::String(take_payload(url, &data)))
            }
        };
        if let Some(d) = dimensions {
            body.insert(
                "embeddingConfig".into(),
                json!({ "outputEmbeddingLength": d }),
            );
        }
    })
}

/// One body per input, each answering for that input alone: `fill` writes the input and its
/// options, then `extra` adds what they left absent.
fn one_call_per_item(
    items: Vec<Item>,
    extra: &Map<String, Value>,
    fill: impl Fn(Item, &mut Map<String, Value>),
) -> (Vec<Value>, Vec<Vec<usize>>) {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut body = Map::new();
            fill(item, &mut body);
            extend_absent(&mut body, extra);
            (Value::Object(body), vec![i])
        })
        .unzip()
}

/// Titan text/image: `{"embedding":[...],"inputTextTokenCount":n,"embeddingsByType"?:{...}}`.
pub(super) fn parse(body: &[u8]) -> Result<(Vec<Vec<f32>>, Option<u64>), TranslateError> {
    #[derive(Deserialize)]
    struct Titan<'a> {
        embedding: Option<Vec<f32>>,
        #[serde(rename = "inputTextTokenCount")]
        tokens: Option<u64>,
        #[serde(rename = "embeddingsByType", borrow)]
        by_type: Option<std::collections::HashMap<String, &'a RawValue>>,
    }
    let r: Titan = serde_json::from_slice(body).map_err(|e| upstream("Titan", e))?;
    let vector = match (r.embedding, r.by_type) {
        (Some(v), _) => v,
        (None, Some(by_type)) => pick_by_type(&by_type)
            .ok_or_else(|| upstream("Titan", "no embedding"))
            .and_then(|raw| serde_json::from_str(raw.get()).map_err(|e| upstream("Titan", e)))?,
        (None, None) => return Err(upstream("Titan", "no embedding")),
    };
    Ok((vec![vector], r.tokens))
}
