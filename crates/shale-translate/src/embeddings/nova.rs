//! Amazon Nova multimodal embeddings: one `SINGLE_EMBEDDING` call per input, and its answer.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{extend_absent, upstream, Item};
use crate::error::TranslateError;
use crate::media::take_payload;

/// Nova multimodal: one `SINGLE_EMBEDDING` call per input.
pub(super) fn calls(
    items: Vec<Item>,
    dimensions: Option<u32>,
    mut extra: Map<String, Value>,
) -> (Vec<Value>, Vec<Vec<usize>>) {
    let purpose = extra
        .remove("embeddingPurpose")
        .unwrap_or_else(|| "GENERIC_INDEX".into());
    let truncation = extra
        .remove("truncationMode")
        .unwrap_or_else(|| "END".into());
    let detail = extra.remove("detailLevel");
    let dimension = dimensions.unwrap_or(3072);
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut params = Map::new();
            params.insert("embeddingPurpose".into(), purpose.clone());
            params.insert("embeddingDimension".into(), dimension.into());
            match item {
                Item::Text(s) => {
                    params.insert(
                        "text".into(),
                        json!({ "truncationMode": truncation.clone(), "value": s }),
                    );
                }
                Item::Image { url, data, format } => {
                    let mut image = Map::new();
                    image.insert("format".into(), format.into());
                    if let Some(d) = &detail {
                        image.insert("detailLevel".into(), d.clone());
                    }
                    image.insert(
                        "source".into(),
                        json!({ "bytes": take_payload(url, &data) }),
                    );
                    params.insert("image".into(), Value::Object(image));
                }
            }
            let mut body = Map::new();
            body.insert("taskType".into(), "SINGLE_EMBEDDING".into());
            body.insert("singleEmbeddingParams".into(), Value::Object(params));
            extend_absent(&mut body, &extra);
            (Value::Object(body), vec![i])
        })
        .unzip()
}

/// Nova: `{"embeddings":[{"embeddingType":"TEXT","embedding":[...]}]}`.
pub(super) fn parse(body: &[u8]) -> Result<(Vec<Vec<f32>>, Option<u64>), TranslateError> {
    #[derive(Deserialize)]
    struct Nova {
        embeddings: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        embedding: Vec<f32>,
    }
    let r: Nova = serde_json::from_slice(body).map_err(|e| upstream("Nova", e))?;
    Ok((
        r.embeddings.into_iter().map(|e| e.embedding).collect(),
        None,
    ))
}
