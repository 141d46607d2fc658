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
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let text = match item {
                Item::Text(s) => s,
                Item::Image { url, .. } => url,
            };
            let mut body = Map::new();
            body.insert("inputText".into(), Value::String(text));
            if let Some(d) = dimensions {
                body.insert("dimensions".into(), d.into());
            }
            extend_absent(&mut body, extra);
            (Value::Object(body), vec![i])
        })
        .unzip()
}

/// Titan multimodal: one call per input, `inputText` or `inputImage`.
pub(super) fn image_calls(
    items: Vec<Item>,
    dimensions: Option<u32>,
    extra: &Map<String, Value>,
) -> (Vec<Value>, Vec<Vec<usize>>) {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut body = Map::new();
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
