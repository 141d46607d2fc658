//! `/rerank` (Cohere format): a rerank request → the bedrock-agent-runtime `Rerank` body or a
//! `cohere.rerank-v3-5:0` InvokeModel body, and either answer → the Cohere response
//! `{id, results:[{index, relevance_score, document?}], meta}`. Bodies are serialized straight
//! from the request, without copying the documents.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::caps::base_model_id;
use crate::error::TranslateError;
use crate::openai::is_dropped_param;

/// Most documents one Bedrock rerank call accepts.
pub const MAX_DOCUMENTS: usize = 1000;

/// Documents billed as one search unit.
const DOCUMENTS_PER_SEARCH_UNIT: usize = 100;

/// A Cohere-format rerank request. Unknown fields are passed to the model
/// (`additionalModelRequestFields` on agent-runtime, the body on InvokeModel).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RerankRequest {
    pub model: String,
    pub query: String,
    pub documents: Vec<RerankDocument>,
    #[serde(default)]
    pub top_n: Option<u32>,
    /// Defaults to `true` (LiteLLM's default).
    #[serde(default)]
    pub return_documents: Option<bool>,
    /// Fields of object documents to rank on (Cohere v1); default `text` when the object has one.
    #[serde(default)]
    pub rank_fields: Option<Vec<String>>,
    /// Cohere v1 field with no Bedrock equivalent: accepted and ignored.
    #[serde(default)]
    pub max_chunks_per_doc: Option<u32>,
    #[serde(default)]
    pub max_tokens_per_doc: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One document: a string, or a JSON value (normally an object such as `{"text": ...}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RerankDocument {
    Text(String),
    Json(Value),
}

/// The Cohere rerank response; `document`s borrow from the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerankResponse<'a> {
    pub id: String,
    pub results: Vec<RerankResult<'a>>,
    pub meta: RerankMeta,
}

/// One ranked document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerankResult<'a> {
    pub index: usize,
    pub relevance_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentOut<'a>>,
}

/// A returned document: strings as `{"text": ...}`, JSON documents as given.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentOut<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl Serialize for DocumentOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DocumentOut::Text(t) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("text", t)?;
                m.end()
            }
            DocumentOut::Json(v) => v.serialize(s),
        }
    }
}

/// `meta` of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RerankMeta {
    pub billed_units: BilledUnits,
}

/// Billing: Bedrock charges one query per started 100 documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BilledUnits {
    pub search_units: u64,
}

/// The `foundation-model` ARN agent-runtime wants for a model id (cross-region prefixes
/// removed; an id that already is an ARN is returned as is).
pub fn foundation_model_arn(region: &str, model_id: &str) -> String {
    if model_id.starts_with("arn:") {
        return model_id.to_owned();
    }
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!(
        "arn:{partition}:bedrock:{region}::foundation-model/{}",
        base_model_id(model_id)
    )
}

/// The bedrock-agent-runtime `POST /rerank` body; `model_arn` is the model's ARN (see
/// [`foundation_model_arn`]).
pub fn rerank_to_agent_runtime(
    req: &RerankRequest,
    model_arn: &str,
) -> Result<Vec<u8>, TranslateError> {
    let number_of_results = validate(req)?;
    let sources = req
        .documents
        .iter()
        .map(|d| Source {
            kind: "INLINE",
            inline_document_source: match ranked_content(d, req.rank_fields.as_deref()) {
                Ranked::Text(text) => InlineDocument::Text {
                    text_document: TextRef { text },
                },
                Ranked::Json(json) => InlineDocument::Json {
                    json_document: json,
                },
            },
        })
        .collect();
    let mut additional = model_fields(req);
    if let Some(m) = req.max_tokens_per_doc {
        additional.insert("max_tokens_per_doc".into(), m.into());
    }
    let body = AgentRerank {
        queries: [Query {
            kind: "TEXT",
            text_query: TextRef { text: &req.query },
        }],
        sources,
        reranking_configuration: RerankingConfiguration {
            kind: "BEDROCK_RERANKING_MODEL",
            bedrock_reranking_configuration: BedrockRerankingConfiguration {
                number_of_results,
                model_configuration: ModelConfiguration {
                    model_arn,
                    additional_model_request_fields: (!additional.is_empty()).then_some(additional),
                },
            },
        },
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::invalid("documents", e.to_string()))
}

/// The `cohere.rerank-v3-5:0` InvokeModel body `{query, documents, top_n, api_version: 2, ...}`.
pub fn rerank_to_invoke(req: &RerankRequest) -> Result<Vec<u8>, TranslateError> {
    let number_of_results = validate(req)?;
    let documents = req
        .documents
        .iter()
        .map(|d| match ranked_content(d, req.rank_fields.as_deref()) {
            Ranked::Text(t) => InvokeDocument::Text(t),
            Ranked::Json(j) => InvokeDocument::JsonText(j),
        })
        .collect();
    let body = InvokeRerank {
        query: &req.query,
        documents,
        top_n: req.top_n.map(|_| number_of_results),
        max_tokens_per_doc: req.max_tokens_per_doc,
        api_version: 2,
        extra: model_fields(req),
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::invalid("documents", e.to_string()))
}

/// Either Bedrock answer → Cohere: the agent-runtime one,
/// `{"results":[{"index","relevanceScore"}],"nextToken"?}`, or Cohere's InvokeModel one,
/// `{"id","results":[{"index","relevance_score"}]}` (other members ignored).
pub fn scores_to_rerank<'a>(
    body: &[u8],
    req: &'a RerankRequest,
    id: String,
) -> Result<RerankResponse<'a>, TranslateError> {
    #[derive(Deserialize)]
    struct Answer {
        results: Vec<Score>,
    }
    /// One result, as either API spells it.
    #[derive(Deserialize)]
    struct Score {
        index: usize,
        #[serde(alias = "relevanceScore")]
        relevance_score: f64,
    }
    let a: Answer = serde_json::from_slice(body).map_err(upstream)?;
    let scored = a.results.into_iter().map(|r| (r.index, r.relevance_score));
    build_response(scored, req, id)
}

fn upstream(e: impl std::fmt::Display) -> TranslateError {
    TranslateError::InvalidUpstream(format!("rerank response: {e}"))
}

fn build_response<'a>(
    scored: impl Iterator<Item = (usize, f64)>,
    req: &'a RerankRequest,
    id: String,
) -> Result<RerankResponse<'a>, TranslateError> {
    let return_documents = req.return_documents.unwrap_or(true);
    let results = scored
        .map(|(index, relevance_score)| {
            let doc = req.documents.get(index).ok_or_else(|| {
                upstream(format!(
                    "result index {index} but only {} documents",
                    req.documents.len()
                ))
            })?;
            Ok(RerankResult {
                index,
                relevance_score,
                document: return_documents.then(|| match doc {
                    RerankDocument::Text(t) => DocumentOut::Text(t),
                    RerankDocument::Json(v) => DocumentOut::Json(v),
                }),
            })
        })
        .collect::<Result<Vec<_>, TranslateError>>()?;
    let search_units = req
        .documents
        .len()
        .div_ceil(DOCUMENTS_PER_SEARCH_UNIT)
        .max(1) as u64;
    Ok(RerankResponse {
        id,
        results,
        meta: RerankMeta {
            billed_units: BilledUnits { search_units },
        },
    })
}

/// Check the request; returns how many results to ask for (`top_n` clamped to the document
/// count, or all).
fn validate(req: &RerankRequest) -> Result<u32, TranslateError> {
    let n = req.documents.len();
    if n == 0 {
        return Err(TranslateError::invalid(
            "documents",
            "documents must not be empty",
        ));
    }
    if n > MAX_DOCUMENTS {
        return Err(TranslateError::invalid(
            "documents",
            format!("at most {MAX_DOCUMENTS} documents per request, got {n}"),
        ));
    }
    for (i, d) in req.documents.iter().enumerate() {
        if let RerankDocument::Json(v) = d {
            if !v.is_object() {
                return Err(TranslateError::invalid(
                    format!("documents[{i}]"),
                    "a document must be a string or an object",
                ));
            }
        }
    }
    let n = n as u32;
    match req.top_n {
        Some(0) => Err(TranslateError::invalid("top_n", "top_n must be at least 1")),
        Some(top) => Ok(top.min(n)),
        None => Ok(n),
    }
}

/// Extra request fields that go to the model.
fn model_fields(req: &RerankRequest) -> Map<String, Value> {
    req.extra
        .iter()
        .filter(|(k, _)| !is_dropped_param(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What the model ranks for one document.
enum Ranked<'a> {
    Text(&'a str),
    Json(JsonDocument<'a>),
}

/// Strings rank as text. Objects rank on `rank_fields` (default: their `text` field when it is a
/// string, as in Cohere): one string field becomes a text document, otherwise the object
/// restricted to those fields is ranked as JSON; objects without `text` and without
/// `rank_fields` rank whole.
fn ranked_content<'a>(doc: &'a RerankDocument, rank_fields: Option<&'a [String]>) -> Ranked<'a> {
    let (obj, whole) = match doc {
        RerankDocument::Text(t) => return Ranked::Text(t),
        RerankDocument::Json(v @ Value::Object(o)) => (o, v),
        RerankDocument::Json(v) => return Ranked::Json(JsonDocument::Whole(v)),
    };
    match rank_fields {
        None => match obj.get("text") {
            Some(Value::String(t)) => Ranked::Text(t),
            _ => Ranked::Json(JsonDocument::Whole(whole)),
        },
        Some(fields) => match (fields, fields.first().and_then(|f| obj.get(f))) {
            ([_], Some(Value::String(t))) => Ranked::Text(t),
            _ => Ranked::Json(JsonDocument::Projected(obj, fields)),
        },
    }
}

/// A JSON document as sent: the whole value, or an object restricted to some fields (in
/// `rank_fields` order).
enum JsonDocument<'a> {
    Whole(&'a Value),
    Projected(&'a Map<String, Value>, &'a [String]),
}

impl Serialize for JsonDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonDocument::Whole(v) => v.serialize(s),
            JsonDocument::Projected(obj, fields) => {
                let mut m = s.serialize_map(None)?;
                for f in *fields {
                    if let Some(v) = obj.get(f) {
                        m.serialize_entry(f, v)?;
                    }
                }
                m.end()
            }
        }
    }
}

/// bedrock-agent-runtime `Rerank` request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentRerank<'a> {
    queries: [Query<'a>; 1],
    sources: Vec<Source<'a>>,
    reranking_configuration: RerankingConfiguration<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Query<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text_query: TextRef<'a>,
}

#[derive(Serialize)]
struct TextRef<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Source<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    inline_document_source: InlineDocument<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum InlineDocument<'a> {
    #[serde(rename = "TEXT")]
    Text {
        #[serde(rename = "textDocument")]
        text_document: TextRef<'a>,
    },
    #[serde(rename = "JSON")]
    Json {
        #[serde(rename = "jsonDocument")]
        json_document: JsonDocument<'a>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RerankingConfiguration<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    bedrock_reranking_configuration: BedrockRerankingConfiguration<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BedrockRerankingConfiguration<'a> {
    number_of_results: u32,
    model_configuration: ModelConfiguration<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelConfiguration<'a> {
    model_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<Map<String, Value>>,
}

/// Cohere Rerank 3.5 InvokeModel request (Cohere v2 API: documents are strings).
#[derive(Serialize)]
struct InvokeRerank<'a> {
    query: &'a str,
    documents: Vec<InvokeDocument<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens_per_doc: Option<u32>,
    api_version: u32,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// A document of the InvokeModel body: text, or a JSON document sent as its JSON text.
enum InvokeDocument<'a> {
    Text(&'a str),
    JsonText(JsonDocument<'a>),
}

impl Serialize for InvokeDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            InvokeDocument::Text(t) => s.serialize_str(t),
            InvokeDocument::JsonText(j) => {
                let text = serde_json::to_string(j).map_err(serde::ser::Error::custom)?;
                s.serialize_str(&text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_partitions() {
        assert_eq!(
            foundation_model_arn("us-west-2", "cohere.rerank-v3-5:0"),
            "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"
        );
        assert_eq!(
            foundation_model_arn("cn-north-1", "us.amazon.rerank-v1:0"),
            "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.rerank-v1:0"
        );
        assert_eq!(
            foundation_model_arn("us-gov-west-1", "amazon.rerank-v1:0"),
            "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.rerank-v1:0"
        );
        let arn = "arn:aws:bedrock:eu-central-1::foundation-model/amazon.rerank-v1:0";
        assert_eq!(foundation_model_arn("us-east-1", arn), arn);
    }
}
