//! Cohere Embed v3/v4 on Bedrock: texts in batches of [`COHERE_MAX_TEXTS_PER_CALL`], one call
//! per image, and their answers (float or by-type embeddings, billed units).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{
    extend_absent, pick_by_type, upstream, EmbeddingFamily, Item, COHERE_MAX_TEXTS_PER_CALL,
};
use crate::error::TranslateError;

/// Cohere: texts in batches of [`COHERE_MAX_TEXTS_PER_CALL`], then one call per image.
pub(super) fn calls(
    items: Vec<Item>,
    family: EmbeddingFamily,
    dimensions: Option<u32>,
    mut extra: Map<String, Value>,
) -> (Vec<Value>, Vec<Vec<usize>>) {
    let input_type = extra.remove("input_type");
    let mut texts: Vec<(usize, String)> = Vec::new();
    let mut images: Vec<(usize, String)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Item::Text(s) => texts.push((i, s)),
            Item::Image { url, .. } => images.push((i, url)),
        }
    }
    let body = |key: &str, values: Vec<Value>, default_type: &str| {
        let mut body = Map::new();
        body.insert(key.into(), Value::Array(values));
        body.insert(
            "input_type".into(),
            input_type.clone().unwrap_or_else(|| default_type.into()),
        );
        if let Some(d) = dimensions {
            body.insert("output_dimension".into(), d.into());
        }
        extend_absent(&mut body, &extra);
        Value::Object(body)
    };
    // v3 embeds images only with input_type "image"; v4 has no such type.
    let image_type = if family == EmbeddingFamily::CohereV3 {
        "image"
    } else {
        "search_document"
    };
    let mut calls = Vec::new();
    let mut targets = Vec::new();
    let mut texts = texts.into_iter().peekable();
    while texts.peek().is_some() {
        let (idx, batch): (Vec<usize>, Vec<Value>) = texts
            .by_ref()
            .take(COHERE_MAX_TEXTS_PER_CALL)
            .map(|(i, s)| (i, Value::String(s)))
            .unzip();
        calls.push(body("texts", batch, "search_document"));
        targets.push(idx);
    }
    for (i, url) in images {
        calls.push(body("images", vec![Value::String(url)], image_type));
        targets.push(vec![i]);
    }
    (calls, targets)
}

/// Cohere: `embeddings` is a list of vectors (`embeddings_floats`) or an object by type
/// (`embeddings_by_type`, when `embedding_types` was sent); floats are preferred.
pub(super) fn parse(body: &[u8]) -> Result<(Vec<Vec<f32>>, Option<u64>), TranslateError> {
    #[derive(Deserialize)]
    struct Cohere<'a> {
        #[serde(borrow)]
        embeddings: &'a RawValue,
        #[serde(default)]
        meta: Option<Meta>,
    }
    #[derive(Deserialize)]
    struct Meta {
        billed_units: Option<Billed>,
    }
    #[derive(Deserialize)]
    struct Billed {
        input_tokens: Option<u64>,
    }
    let r: Cohere = serde_json::from_slice(body).map_err(|e| upstream("Cohere", e))?;
    let raw = r.embeddings.get();
    let vectors_raw = if raw.trim_start().starts_with('{') {
        let by_type: std::collections::HashMap<String, &RawValue> =
            serde_json::from_str(raw).map_err(|e| upstream("Cohere", e))?;
        pick_by_type(&by_type)
            .ok_or_else(|| upstream("Cohere", "no embeddings"))?
            .get()
    } else {
        raw
    };
    let vectors: Vec<Vec<f32>> =
        serde_json::from_str(vectors_raw).map_err(|e| upstream("Cohere", e))?;
    let tokens = r
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|b| b.input_tokens);
    Ok((vectors, tokens))
}
