//! Rerank: bedrock-agent-runtime `POST /rerank` and Cohere/Amazon rerank through InvokeModel.
//! Scores are deterministic: word overlap with the query plus a tiny hash tie-breaker.

use crate::error::BedrockException;
use crate::text;
use crate::validate::required_key;
use serde_json::{json, Value};
use std::collections::HashSet;

fn v(msg: impl Into<String>) -> BedrockException {
    BedrockException::validation(msg)
}

/// Relevance of `doc` to `query` in (0, 1).
pub fn score(query: &str, doc: &str) -> f64 {
    let q: HashSet<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let d: HashSet<String> = doc.split_whitespace().map(str::to_lowercase).collect();
    let overlap = q.intersection(&d).count() as f64 / q.len().max(1) as f64;
    let jitter = (text::stable_hash(doc.as_bytes()) % 1000) as f64 / 100_000.0;
    (0.05 + 0.9 * overlap + jitter).min(0.999)
}

fn ranked(query: &str, docs: &[String], top: usize) -> Vec<(usize, f64)> {
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (i, score(query, d)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(top);
    scored
}

/// The agent-runtime Rerank API; returns (body, tokens).
pub fn agent_rerank(body: &Value) -> Result<Value, BedrockException> {
    let queries = body
        .get("queries")
        .and_then(Value::as_array)
        .ok_or_else(|| required_key("queries"))?;
    if queries.len() != 1 {
        return Err(v(format!("1 validation error detected: Value at 'queries' failed to satisfy constraint: Member must have length less than or equal to 1 (got {})", queries.len())));
    }
    let query = queries[0]
        .pointer("/textQuery/text")
        .and_then(Value::as_str)
        .ok_or_else(|| v("queries[0].textQuery.text is required"))?;
    let sources = body
        .get("sources")
        .and_then(Value::as_array)
        .ok_or_else(|| required_key("sources"))?;
    if sources.is_empty() || sources.len() > 1000 {
        return Err(v("1 validation error detected: Value at 'sources' failed to satisfy constraint: Member must have length between 1 and 1000"));
    }
    let mut docs = Vec::with_capacity(sources.len());
    for (i, s) in sources.iter().enumerate() {
        let doc = s
            .get("inlineDocumentSource")
            .ok_or_else(|| v(format!("sources[{i}].inlineDocumentSource is required")))?;
        let text = match doc.get("type").and_then(Value::as_str) {
            Some("TEXT") => doc
                .pointer("/textDocument/text")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Some("JSON") => doc.get("jsonDocument").map(Value::to_string),
            _ => None,
        };
        docs.push(text.ok_or_else(|| {
            v(format!(
                "sources[{i}] must be a TEXT or JSON inline document"
            ))
        })?);
    }
    let config = body
        .pointer("/rerankingConfiguration/bedrockRerankingConfiguration")
        .ok_or_else(|| required_key("rerankingConfiguration"))?;
    if config
        .pointer("/modelConfiguration/modelArn")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(required_key("modelArn"));
    }
    let n = config
        .get("numberOfResults")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(docs.len());
    let results: Vec<Value> = ranked(query, &docs, n)
        .into_iter()
        .map(|(i, s)| json!({"index": i, "relevanceScore": s}))
        .collect();
    Ok(json!({ "results": results }))
}

/// Cohere / Amazon rerank models through InvokeModel; returns (body, tokens).
pub fn invoke_body(body: &Value) -> Result<(Value, u64), BedrockException> {
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| required_key("query"))?;
    let docs: Vec<String> = body
        .get("documents")
        .and_then(Value::as_array)
        .ok_or_else(|| required_key("documents"))?
        .iter()
        .map(|d| {
            d.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| d.to_string())
        })
        .collect();
    if docs.is_empty() {
        return Err(v("Malformed input request: #/documents: expected minItems: 1, please reformat your input and try again."));
    }
    let top = body
        .get("top_n")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(docs.len());
    let results: Vec<Value> = ranked(query, &docs, top)
        .into_iter()
        .map(|(i, s)| json!({"index": i, "relevance_score": s}))
        .collect();
    let tokens =
        text::approx_tokens(query) + docs.iter().map(|d| text::approx_tokens(d)).sum::<u64>();
    Ok((
        json!({"id": format!("rr-{}", text::stable_id(text::stable_hash(query.as_bytes()), 16)), "results": results}),
        tokens,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_overlap() {
        let body = json!({"queries":[{"type":"TEXT","textQuery":{"text":"capital of france"}}],
            "sources":[
                {"type":"INLINE","inlineDocumentSource":{"type":"TEXT","textDocument":{"text":"bananas are yellow"}}},
                {"type":"INLINE","inlineDocumentSource":{"type":"TEXT","textDocument":{"text":"paris is the capital of france"}}}],
            "rerankingConfiguration":{"type":"BEDROCK_RERANKING_MODEL","bedrockRerankingConfiguration":{"numberOfResults":1,
                "modelConfiguration":{"modelArn":"arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"}}}});
        let out = agent_rerank(&body).unwrap();
        assert_eq!(out["results"].as_array().unwrap().len(), 1);
        assert_eq!(out["results"][0]["index"], 1);
        let (inv, _) = invoke_body(&json!({"query":"capital of france","documents":["x","capital of france"],"top_n":2,"api_version":2})).unwrap();
        assert_eq!(inv["results"][0]["index"], 1);
    }
}
