//! `/embeddings`: an OpenAI embeddings request → the model-native InvokeModel bodies it needs
//! (Titan text v1/v2, Titan multimodal, Cohere v3/v4, Nova multimodal), and the Bedrock answers →
//! one OpenAI `list` response. Pure: the server issues the planned calls (concurrently, with a
//! bound) and hands the answers back in plan order.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::caps::base_model_id;
use crate::error::TranslateError;
use crate::media::{classify_mime, parse_data_url, DataUrl, DataUrlError, MediaKind};
use crate::openai::is_dropped_param;

mod cohere;
mod nova;
mod titan;

/// Most texts Cohere Embed accepts in one call; longer lists are split into several calls.
pub const COHERE_MAX_TEXTS_PER_CALL: usize = 96;

/// An OpenAI `/embeddings` request. Unknown fields (`input_type`, `truncate`, `normalize`,
/// `embedding_types`, `embeddingPurpose`, ...) are kept in `extra` and passed to the model body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`; never forwarded to Bedrock.
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// End-user id: logging only, never forwarded.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `input` of an embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    /// Token ids (a list of integers, or a list of such lists): accepted by OpenAI, not by any
    /// Bedrock model, so planning rejects it with a 400 naming `input`.
    Tokens,
}

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || {
            serde::de::Error::custom(
                "`input` must be a string, a list of strings, or a list of token arrays",
            )
        };
        match Value::deserialize(d)? {
            Value::String(s) => Ok(EmbeddingInput::Text(s)),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(EmbeddingInput::Texts(
                items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            )),
            Value::Array(items) => {
                let is_token = |v: &Value| v.is_u64() || v.is_i64();
                let tokens = items.iter().all(is_token)
                    || items
                        .iter()
                        .all(|v| v.as_array().is_some_and(|a| a.iter().all(is_token)));
                if tokens {
                    Ok(EmbeddingInput::Tokens)
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }
}

/// How the vectors are returned to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// A JSON list of floats.
    Float,
    /// Base64 of the little-endian `f32` bytes (what the OpenAI SDKs request by default).
    Base64,
}

/// Bedrock embedding model families, each with its own body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingFamily {
    /// `amazon.titan-embed-text-v1` (and `amazon.titan-embed-g1-text-02`): 1536 floats.
    TitanTextV1,
    /// `amazon.titan-embed-text-v2:0`: `dimensions`, `normalize`.
    TitanTextV2,
    /// `amazon.titan-embed-image-v1`: text or image, `embeddingConfig.outputEmbeddingLength`.
    TitanImage,
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`: 1024 floats.
    CohereV3,
    /// `cohere.embed-v4:0`: `output_dimension`.
    CohereV4,
    /// `amazon.nova-2-multimodal-embeddings-v1:0`.
    NovaMultimodal,
}

impl EmbeddingFamily {
    /// The family of a Bedrock model id (cross-region prefixes, ARN paths and route prefixes such
    /// as `invoke/` ignored); `None` for ids that are not embedding models this module knows.
    pub fn from_model_id(id: &str) -> Option<Self> {
        let tail = id.rsplit('/').next().unwrap_or(id);
        let id = base_model_id(tail).to_ascii_lowercase();
        let family = if id.starts_with("amazon.titan-embed-text-v2") {
            Self::TitanTextV2
        } else if id.starts_with("amazon.titan-embed-text-v1")
            || id.starts_with("amazon.titan-embed-g1-text")
        {
            Self::TitanTextV1
        } else if id.starts_with("amazon.titan-embed-image-v1") {
            Self::TitanImage
        } else if id.starts_with("cohere.embed-v4") {
            Self::CohereV4
        } else if id.starts_with("cohere.embed-") {
            Self::CohereV3
        } else if id.starts_with("amazon.nova") && id.contains("embed") {
            Self::NovaMultimodal
        } else {
            return None;
        };
        Some(family)
    }

    /// The only vector size of families whose size cannot be chosen.
    fn fixed_dimensions(self) -> Option<u32> {
        match self {
            Self::TitanTextV1 => Some(1536),
            Self::CohereV3 => Some(1024),
            _ => None,
        }
    }

    /// Whether `data:image/...;base64,` inputs are embedded as images.
    fn accepts_images(self) -> bool {
        !matches!(self, Self::TitanTextV1 | Self::TitanTextV2)
    }
}

/// The Bedrock calls for one request and how to put their answers back together.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingPlan {
    /// One InvokeModel body per Bedrock call, all to the same model.
    pub calls: Vec<Value>,
    /// For each call, the input positions its vectors fill, in answer order.
    targets: Vec<Vec<usize>>,
    inputs: usize,
    encoding: EncodingFormat,
}

impl EmbeddingPlan {
    /// Number of inputs (= embeddings in the response).
    pub fn input_count(&self) -> usize {
        self.inputs
    }

    /// The input positions filled by call `call`'s vectors.
    pub fn targets(&self, call: usize) -> &[usize] {
        &self.targets[call]
    }

    /// The encoding the client asked for.
    pub fn encoding(&self) -> EncodingFormat {
        self.encoding
    }
}

/// The vectors and input-token count read from one Bedrock answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedEmbeddings {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: u64,
}

/// The OpenAI embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingsResponse {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

/// One entry of [`EmbeddingsResponse::data`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingVector,
}

/// A vector as floats or as base64 of little-endian `f32`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

/// Token usage: embeddings only have prompt tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// One input, classified.
enum Item {
    Text(String),
    /// A base64 image data URL: the whole URL, its parsed header, and the Bedrock format.
    Image {
        url: String,
        data: DataUrl,
        format: &'static str,
    },
}

/// Translate a request into Bedrock calls. `defaults` are the deployment's default model
/// parameters (LiteLLM `litellm_params` kwargs); request fields win over them.
pub fn plan_embeddings(
    mut req: EmbeddingsRequest,
    family: EmbeddingFamily,
    defaults: &Map<String, Value>,
) -> Result<EmbeddingPlan, TranslateError> {
    apply_defaults(&mut req, defaults)?;
    req.extra.retain(|k, _| !is_dropped_param(k));
    let encoding = match req.encoding_format.as_deref() {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(other) => {
            return Err(TranslateError::invalid(
                "encoding_format",
                format!("encoding_format must be \"float\" or \"base64\", got {other:?}"),
            ))
        }
    };
    if let (Some(d), Some(fixed)) = (req.dimensions, family.fixed_dimensions()) {
        if d != fixed {
            return Err(TranslateError::invalid(
                "dimensions",
                format!(
                    "model {} only produces {fixed}-dimensional embeddings; dimensions={d} is not supported",
                    req.model
                ),
            ));
        }
        req.dimensions = None;
    }
    let (texts, single) = match req.input {
        EmbeddingInput::Text(s) => (vec![s], true),
        EmbeddingInput::Texts(v) => (v, false),
        EmbeddingInput::Tokens => {
            return Err(TranslateError::invalid(
                "input",
                "token-array input is not supported by Bedrock embedding models; send text",
            ))
        }
    };
    if texts.is_empty() {
        return Err(TranslateError::invalid("input", "input must not be empty"));
    }
    let inputs = texts.len();
    let items = texts
        .into_iter()
        .enumerate()
        .map(|(i, s)| classify(s, family, || input_param(single, i)))
        .collect::<Result<Vec<_>, _>>()?;
    let (calls, targets) = match family {
        EmbeddingFamily::TitanTextV1 | EmbeddingFamily::TitanTextV2 => {
            titan::text_calls(items, req.dimensions, &req.extra)
        }
        EmbeddingFamily::TitanImage => titan::image_calls(items, req.dimensions, &req.extra),
        EmbeddingFamily::CohereV3 | EmbeddingFamily::CohereV4 => {
            cohere::calls(items, family, req.dimensions, req.extra)
        }
        EmbeddingFamily::NovaMultimodal => nova::calls(items, req.dimensions, req.extra),
    };
    Ok(EmbeddingPlan {
        calls,
        targets,
        inputs,
        encoding,
    })
}

/// Read one Bedrock answer. `header_input_tokens` is the `X-Amzn-Bedrock-Input-Token-Count`
/// response header, used when the body carries no count (Cohere, Nova).
pub fn parse_embedding_response(
    family: EmbeddingFamily,
    body: &[u8],
    header_input_tokens: Option<u64>,
) -> Result<ParsedEmbeddings, TranslateError> {
    let (vectors, tokens) = match family {
        EmbeddingFamily::TitanTextV1
        | EmbeddingFamily::TitanTextV2
        | EmbeddingFamily::TitanImage => titan::parse(body)?,
        EmbeddingFamily::CohereV3 | EmbeddingFamily::CohereV4 => cohere::parse(body)?,
        EmbeddingFamily::NovaMultimodal => nova::parse(body)?,
    };
    Ok(ParsedEmbeddings {
        vectors,
        tokens: tokens.or(header_input_tokens).unwrap_or(0),
    })
}

/// Put the answers (one per planned call, in plan order) back into input order and build the
/// OpenAI response; `model_name` is the name the client asked for.
pub fn assemble_embeddings(
    plan: &EmbeddingPlan,
    parts: Vec<ParsedEmbeddings>,
    model_name: &str,
) -> Result<EmbeddingsResponse, TranslateError> {
    if parts.len() != plan.targets.len() {
        return Err(TranslateError::InvalidUpstream(format!(
            "{} embedding answers for {} calls",
            parts.len(),
            plan.targets.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; plan.inputs];
    let mut tokens = 0u64;
    for (call, (part, targets)) in parts.into_iter().zip(&plan.targets).enumerate() {
        if part.vectors.len() != targets.len() {
            return Err(TranslateError::InvalidUpstream(format!(
                "call {call} returned {} embeddings for {} inputs",
                part.vectors.len(),
                targets.len()
            )));
        }
        tokens = tokens.saturating_add(part.tokens);
        for (vector, &i) in part.vectors.into_iter().zip(targets) {
            slots[i] = Some(vector);
        }
    }
    let data = slots
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let v = v.ok_or_else(|| {
                TranslateError::InvalidUpstream(format!("no embedding for input {index}"))
            })?;
            let embedding = match plan.encoding {
                EncodingFormat::Float => EmbeddingVector::Float(v),
                EncodingFormat::Base64 => EmbeddingVector::Base64(f32_le_base64(&v)),
            };
            Ok(Embedding {
                object: "embedding",
                index,
                embedding,
            })
        })
        .collect::<Result<Vec<_>, TranslateError>>()?;
    Ok(EmbeddingsResponse {
        object: "list",
        data,
        model: model_name.to_owned(),
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

/// Base64 (standard alphabet, padded) of the vector's little-endian `f32` bytes: what
/// `np.frombuffer(base64.b64decode(s), dtype="float32")` in the OpenAI SDKs decodes.
pub fn f32_le_base64(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Fill unset request fields from the deployment defaults; other defaults become extra fields.
fn apply_defaults(
    req: &mut EmbeddingsRequest,
    defaults: &Map<String, Value>,
) -> Result<(), TranslateError> {
    for (k, v) in defaults {
        match k.as_str() {
            "model" | "input" | "user" => {}
            "dimensions" => {
                if req.dimensions.is_none() && !v.is_null() {
                    let d = v
                        .as_u64()
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| {
                            TranslateError::invalid(
                                "dimensions",
                                "default dimensions must be an integer",
                            )
                        })?;
                    req.dimensions = Some(d);
                }
            }
            "encoding_format" => {
                if req.encoding_format.is_none() {
                    req.encoding_format = v.as_str().map(str::to_owned);
                }
            }
            _ => {
                if !req.extra.contains_key(k) {
                    req.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}

/// The `param` naming input `i`.
fn input_param(single: bool, i: usize) -> String {
    if single {
        "input".to_owned()
    } else {
        format!("input[{i}]")
    }
}

/// Decide whether an input is text or (for multimodal families) a base64 image data URL.
fn classify(
    s: String,
    family: EmbeddingFamily,
    param: impl Fn() -> String,
) -> Result<Item, TranslateError> {
    if !family.accepts_images() {
        return Ok(Item::Text(s));
    }
    let parsed = match parse_data_url(&s) {
        Ok(p) if p.mime.starts_with("image/") => p,
        Err(DataUrlError::InvalidBase64) if looks_like_image_url(&s) => {
            return Err(TranslateError::invalid(
                param(),
                "the image data URL has an invalid base64 payload",
            ))
        }
        _ => return Ok(Item::Text(s)),
    };
    if !parsed.base64 {
        return Err(TranslateError::invalid(
            param(),
            "image data URLs must be base64-encoded (data:image/<type>;base64,...)",
        ));
    }
    let format = classify_mime(&parsed.mime)
        .filter(|f| f.kind == MediaKind::Image)
        .map(|f| f.format)
        .ok_or_else(|| {
            TranslateError::invalid(
                param(),
                format!(
                    "unsupported image type {}; use png, jpeg, gif or webp",
                    parsed.mime
                ),
            )
        })?;
    Ok(Item::Image {
        url: s,
        data: parsed,
        format,
    })
}

/// `data:image/...` prefix check (case-insensitive).
fn looks_like_image_url(s: &str) -> bool {
    s.get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:image/"))
}

/// Insert the extra fields the body does not already set.
fn extend_absent(body: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        if !body.contains_key(k) {
            body.insert(k.clone(), v.clone());
        }
    }
}

fn upstream(family: &str, e: impl std::fmt::Display) -> TranslateError {
    TranslateError::InvalidUpstream(format!("{family} embedding response: {e}"))
}

/// The vectors of an answer keyed by embedding type: `float` first, then the integer types.
fn pick_by_type<'a>(
    by_type: &std::collections::HashMap<String, &'a RawValue>,
) -> Option<&'a RawValue> {
    ["float", "int8", "uint8", "binary", "ubinary"]
        .iter()
        .find_map(|t| by_type.get(*t).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_detection_ignores_prefixes_and_arns() {
        use EmbeddingFamily::*;
        let cases = [
            ("amazon.titan-embed-text-v1", Some(TitanTextV1)),
            ("amazon.titan-embed-g1-text-02", Some(TitanTextV1)),
            ("amazon.titan-embed-text-v2:0", Some(TitanTextV2)),
            ("us.amazon.titan-embed-text-v2:0", Some(TitanTextV2)),
            ("amazon.titan-embed-image-v1", Some(TitanImage)),
            ("cohere.embed-english-v3", Some(CohereV3)),
            ("eu.cohere.embed-multilingual-v3", Some(CohereV3)),
            ("global.cohere.embed-v4:0", Some(CohereV4)),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-v4:0",
                Some(CohereV4),
            ),
            ("invoke/amazon.titan-embed-text-v2:0", Some(TitanTextV2)),
            (
                "amazon.nova-2-multimodal-embeddings-v1:0",
                Some(NovaMultimodal),
            ),
            ("anthropic.claude-3-haiku-20240307-v1:0", None),
            ("amazon.nova-pro-v1:0", None),
        ];
        for (id, want) in cases {
            assert_eq!(EmbeddingFamily::from_model_id(id), want, "{id}");
        }
    }

    #[test]
    fn base64_is_little_endian_f32() {
        // 1.0f32 = 0x3f800000 → LE bytes 00 00 80 3f; -2.5 = 0xc0200000 → 00 00 20 c0.
        assert_eq!(f32_le_base64(&[1.0, -2.5]), "AACAPwAAIMA=");
        assert_eq!(f32_le_base64(&[]), "");
    }
}
