//! Embedding models (Titan text v1/v2, Titan multimodal, Cohere v3/v4, Nova multimodal):
//! validation of the native body and deterministic vectors seeded by the input's hash, with
//! the requested dimension and normalization.

use crate::error::BedrockException;
use crate::model::Family;
use crate::text;
use crate::validate::required_key;
use serde_json::{json, Map, Value};

fn v(msg: impl Into<String>) -> BedrockException {
    BedrockException::validation(msg)
}

/// A deterministic vector for `input` (values in [-1, 1], L2-normalized when asked).
pub fn vector(input: &str, dims: usize, normalize: bool) -> Vec<f32> {
    let mut state = text::stable_hash(input.as_bytes()) | 1;
    let mut out: Vec<f32> = (0..dims)
        .map(|_| {
            state = text::xorshift(state);
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    if normalize {
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

fn floats(values: &[f32]) -> Value {
    Value::Array(values.iter().map(|x| json!(x)).collect())
}

fn dims_in(
    value: Option<u64>,
    default: u64,
    allowed: &[u64],
    path: &str,
) -> Result<usize, BedrockException> {
    let d = value.unwrap_or(default);
    if !allowed.contains(&d) {
        let list: Vec<String> = allowed.iter().map(u64::to_string).collect();
        return Err(v(format!("Malformed input request: #/{path}: {d} is not a valid enum value ({}), please reformat your input and try again.", list.join(", "))));
    }
    Ok(d as usize)
}

/// Answers an embedding request; returns (body, input tokens).
pub fn respond(family: Family, body: &Value) -> Result<(Value, u64), BedrockException> {
    match family {
        Family::TitanEmbedV1 | Family::TitanEmbedV2 => titan_text(family, body),
        Family::TitanEmbedImage => titan_image(body),
        Family::NovaEmbed => nova(body),
        _ => cohere(family, body),
    }
}

fn titan_text(family: Family, body: &Value) -> Result<(Value, u64), BedrockException> {
    let input = body
        .get("inputText")
        .and_then(Value::as_str)
        .ok_or_else(|| required_key("inputText"))?;
    if input.is_empty() {
        return Err(v("Malformed input request: #/inputText: expected minLength: 1, actual: 0, please reformat your input and try again."));
    }
    let tokens = text::approx_tokens(input);
    if family == Family::TitanEmbedV1 {
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "inputText"))
        {
            return Err(v(format!("Malformed input request: extraneous key [{extra}] is not permitted, please reformat your input and try again.")));
        }
        return Ok((
            json!({"embedding": floats(&vector(input, 1536, false)), "inputTextTokenCount": tokens}),
            tokens,
        ));
    }
    let dims = dims_in(
        body.get("dimensions").and_then(Value::as_u64),
        1024,
        &[256, 512, 1024],
        "dimensions",
    )?;
    let normalize = body
        .get("normalize")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let types: Vec<&str> = match body.get("embeddingTypes").and_then(Value::as_array) {
        Some(t) => t.iter().filter_map(Value::as_str).collect(),
        None => vec!["float"],
    };
    let vec = vector(input, dims, normalize);
    let mut by_type = Map::new();
    for t in &types {
        match *t {
            "float" => {
                by_type.insert("float".into(), floats(&vec));
            }
            "binary" => {
                by_type.insert("binary".into(), Value::Array(vec.iter().map(|x| json!(u8::from(*x > 0.0))).collect()));
            }
            other => return Err(v(format!("Malformed input request: #/embeddingTypes: {other} is not a valid enum value, please reformat your input and try again."))),
        }
    }
    let mut out = json!({"embedding": floats(&vec), "inputTextTokenCount": tokens});
    out["embeddingsByType"] = Value::Object(by_type);
    Ok((out, tokens))
}

fn titan_image(body: &Value) -> Result<(Value, u64), BedrockException> {
    let text_in = body.get("inputText").and_then(Value::as_str);
    let image = body.get("inputImage").and_then(Value::as_str);
    if text_in.is_none() && image.is_none() {
        return Err(v("Malformed input request: At least one of inputText or inputImage must be provided, please reformat your input and try again."));
    }
    let dims = dims_in(
        body.pointer("/embeddingConfig/outputEmbeddingLength")
            .and_then(Value::as_u64),
        1024,
        &[256, 384, 1024],
        "embeddingConfig/outputEmbeddingLength",
    )?;
    let seed = format!("{}{}", text_in.unwrap_or(""), image.unwrap_or(""));
    let tokens = text_in.map(text::approx_tokens).unwrap_or(0);
    Ok((
        json!({"embedding": floats(&vector(&seed, dims, true)), "inputTextTokenCount": tokens, "message": null}),
        tokens,
    ))
}

fn nova(body: &Value) -> Result<(Value, u64), BedrockException> {
    if body.get("taskType").and_then(Value::as_str) != Some("SINGLE_EMBEDDING") {
        return Err(v("Malformed input request: #/taskType: expected SINGLE_EMBEDDING, please reformat your input and try again."));
    }
    let params = body
        .get("singleEmbeddingParams")
        .ok_or_else(|| required_key("singleEmbeddingParams"))?;
    let dims = dims_in(
        params.get("embeddingDimension").and_then(Value::as_u64),
        3072,
        &[3072, 1024, 384, 256],
        "singleEmbeddingParams/embeddingDimension",
    )?;
    let (kind, seed) = if let Some(t) = params.pointer("/text/value").and_then(Value::as_str) {
        ("TEXT", t.to_owned())
    } else if let Some(img) = params.get("image") {
        ("IMAGE", img.to_string())
    } else if let Some(other) = ["video", "audio"]
        .iter()
        .find_map(|k| params.get(*k).map(|x| (k, x)))
    {
        (
            if *other.0 == "video" {
                "VIDEO"
            } else {
                "AUDIO"
            },
            other.1.to_string(),
        )
    } else {
        return Err(v("Malformed input request: singleEmbeddingParams needs one of text, image, video, audio, please reformat your input and try again."));
    };
    let tokens = text::approx_tokens(&seed);
    Ok((
        json!({"embeddings":[{"embeddingType":kind,"embedding":floats(&vector(&seed, dims, true))}]}),
        tokens,
    ))
}

fn cohere(family: Family, body: &Value) -> Result<(Value, u64), BedrockException> {
    let texts: Vec<&str> = body
        .get("texts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let images: Vec<&str> = body
        .get("images")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    if texts.is_empty() && images.is_empty() && inputs == 0 {
        return Err(required_key("texts"));
    }
    if texts.len() > 96 {
        return Err(v(format!("Malformed input request: #/texts: expected maxItems: 96, actual: {}, please reformat your input and try again.", texts.len())));
    }
    let input_type = body.get("input_type").and_then(Value::as_str);
    const INPUT_TYPES: &[&str] = &[
        "search_document",
        "search_query",
        "classification",
        "clustering",
        "image",
    ];
    match input_type {
        None if family == Family::CohereEmbedV3 => return Err(required_key("input_type")),
        Some(t) if !INPUT_TYPES.contains(&t) => {
            return Err(v(format!("Malformed input request: #/input_type: {t} is not a valid enum value, please reformat your input and try again.")));
        }
        _ => {}
    }
    let dims = if family == Family::CohereEmbedV4 {
        dims_in(
            body.get("output_dimension").and_then(Value::as_u64),
            1536,
            &[256, 512, 1024, 1536],
            "output_dimension",
        )?
    } else {
        1024
    };
    let seeds: Vec<String> = if !texts.is_empty() {
        texts.iter().map(|t| (*t).to_owned()).collect()
    } else if !images.is_empty() {
        images.iter().map(|t| (*t).to_owned()).collect()
    } else {
        body["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect()
    };
    let vectors: Vec<Vec<f32>> = seeds.iter().map(|s| vector(s, dims, false)).collect();
    let tokens: u64 = seeds.iter().map(|s| text::approx_tokens(s)).sum();
    let id = format!(
        "emb-{}",
        text::stable_id(text::stable_hash(seeds.concat().as_bytes()), 16)
    );
    let types: Option<Vec<&str>> = body
        .get("embedding_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let types = types.or_else(|| (family == Family::CohereEmbedV4).then(|| vec!["float"]));
    let out = match types {
        None => json!({"id":id,"response_type":"embeddings_floats",
            "embeddings": vectors.iter().map(|v| floats(v)).collect::<Vec<_>>(), "texts": texts}),
        Some(types) => {
            let mut by_type = Map::new();
            for t in types {
                let values: Vec<Value> = vectors
                    .iter()
                    .map(|vec| match t {
                        "int8" => Value::Array(
                            vec.iter()
                                .map(|x| json!((x * 127.0).round() as i32))
                                .collect(),
                        ),
                        "uint8" => Value::Array(
                            vec.iter()
                                .map(|x| json!(((x + 1.0) * 127.5).round() as u32))
                                .collect(),
                        ),
                        "binary" | "ubinary" => Value::Array(
                            vec.chunks(8)
                                .map(|c| {
                                    json!(c
                                        .iter()
                                        .fold(0u8, |acc, x| (acc << 1) | u8::from(*x > 0.0)))
                                })
                                .collect(),
                        ),
                        _ => floats(vec),
                    })
                    .collect();
                by_type.insert(t.to_owned(), Value::Array(values));
            }
            json!({"id":id,"response_type":"embeddings_by_type","embeddings":by_type,"texts":texts})
        }
    };
    Ok((out, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titan_v2_dimensions_and_normalization() {
        let (out, tokens) = respond(
            Family::TitanEmbedV2,
            &json!({"inputText":"hello world","dimensions":256}),
        )
        .unwrap();
        let e = out["embedding"].as_array().unwrap();
        assert_eq!(e.len(), 256);
        let norm: f64 = e
            .iter()
            .map(|x| x.as_f64().unwrap().powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
        assert_eq!(tokens, 3);
        assert!(respond(
            Family::TitanEmbedV2,
            &json!({"inputText":"x","dimensions":300})
        )
        .is_err());
        let (again, _) = respond(
            Family::TitanEmbedV2,
            &json!({"inputText":"hello world","dimensions":256}),
        )
        .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn titan_v1_and_cohere() {
        let (out, _) = respond(Family::TitanEmbedV1, &json!({"inputText":"a"})).unwrap();
        assert_eq!(out["embedding"].as_array().unwrap().len(), 1536);
        let (out, _) = respond(
            Family::CohereEmbedV3,
            &json!({"texts":["a","b"],"input_type":"search_document"}),
        )
        .unwrap();
        assert_eq!(out["response_type"], "embeddings_floats");
        assert_eq!(out["embeddings"].as_array().unwrap().len(), 2);
        assert_eq!(out["embeddings"][0].as_array().unwrap().len(), 1024);
        assert!(respond(Family::CohereEmbedV3, &json!({"texts":["a"]})).is_err());
        let (out, _) = respond(
            Family::CohereEmbedV4,
            &json!({"texts":["a"],"input_type":"search_query","output_dimension":256}),
        )
        .unwrap();
        assert_eq!(out["embeddings"]["float"][0].as_array().unwrap().len(), 256);
    }

    #[test]
    fn nova_multimodal() {
        let (out, _) = respond(Family::NovaEmbed, &json!({"taskType":"SINGLE_EMBEDDING","singleEmbeddingParams":{
            "embeddingPurpose":"GENERIC_INDEX","embeddingDimension":384,"text":{"truncationMode":"END","value":"hi"}}})).unwrap();
        assert_eq!(out["embeddings"][0]["embeddingType"], "TEXT");
        assert_eq!(
            out["embeddings"][0]["embedding"].as_array().unwrap().len(),
            384
        );
    }
}
