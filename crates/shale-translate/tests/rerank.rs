//! `/rerank` translation: golden fixtures (request → agent-runtime or InvokeModel body, Bedrock
//! answer → Cohere response) under `tests/fixtures/rerank/<case>/`, plus the rules that answer 400.

mod common;
use common::{assert_json_eq, case_dirs, invalid_param, read};

use serde_json::{json, Value};
use shale_translate::error::TranslateError;
use shale_translate::rerank::{
    foundation_model_arn, rerank_to_agent_runtime, rerank_to_invoke, scores_to_rerank,
    RerankRequest,
};

fn request(v: Value) -> RerankRequest {
    serde_json::from_value(v).expect("request parses")
}

const ARN: &str = "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0";

#[test]
fn golden_fixtures() {
    let cases = case_dirs("rerank");
    assert!(
        cases.len() >= 5,
        "expected the rerank fixtures, found {}",
        cases.len()
    );
    for dir in cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let meta = read(&dir, "case.json");
        let model = meta["bedrock_model"].as_str().unwrap();
        let id = meta["id"].as_str().unwrap().to_owned();
        let req = request(read(&dir, "request.json"));
        let answer = serde_json::to_vec(&read(&dir, "bedrock_response.json")).unwrap();
        let body = match meta["route"].as_str().unwrap() {
            "agent_runtime" => {
                let arn = foundation_model_arn(meta["region"].as_str().unwrap(), model);
                rerank_to_agent_runtime(&req, &arn)
            }
            "invoke" => rerank_to_invoke(&req),
            other => panic!("{case}: unknown route {other}"),
        }
        .unwrap_or_else(|e| panic!("{case}: request failed: {e:?}"));
        let resp = scores_to_rerank(&answer, &req, id)
            .unwrap_or_else(|e| panic!("{case}: response failed: {e:?}"));
        let resp = serde_json::to_vec(&resp).unwrap();
        let body: Value = serde_json::from_slice(&body).expect("body is JSON");
        assert_json_eq(
            &case,
            "bedrock request",
            &body,
            &read(&dir, "bedrock_request.json"),
        );
        let resp: Value = serde_json::from_slice(&resp).unwrap();
        assert_json_eq(&case, "response", &resp, &read(&dir, "response.json"));
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let cases = [
        (
            json!({"model": "m", "query": "q", "documents": []}),
            "documents",
        ),
        (
            json!({"model": "m", "query": "q", "documents": many}),
            "documents",
        ),
        (
            json!({"model": "m", "query": "q", "documents": ["a"], "top_n": 0}),
            "top_n",
        ),
        (
            json!({"model": "m", "query": "q", "documents": ["a", 3]}),
            "documents[1]",
        ),
        (
            json!({"model": "m", "query": "q", "documents": ["a", ["b"]]}),
            "documents[1]",
        ),
    ];
    for (req, param) in cases {
        let req = request(req);
        let err = rerank_to_agent_runtime(&req, ARN).unwrap_err();
        assert_eq!(invalid_param(&err), Some(param), "{err:?}");
        let err = rerank_to_invoke(&req).unwrap_err();
        assert_eq!(invalid_param(&err), Some(param), "{err:?}");
    }
}

#[test]
fn invoke_omits_top_n_when_not_given_and_clamps_it_otherwise() {
    let req = request(json!({"model": "m", "query": "q", "documents": ["a", "b"]}));
    let body: Value = serde_json::from_slice(&rerank_to_invoke(&req).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"query": "q", "documents": ["a", "b"], "api_version": 2})
    );
    let req = request(json!({"model": "m", "query": "q", "documents": ["a", "b"], "top_n": 5}));
    let body: Value = serde_json::from_slice(&rerank_to_invoke(&req).unwrap()).unwrap();
    assert_eq!(body["top_n"], 2);
}

#[test]
fn out_of_range_result_index_is_an_upstream_error() {
    let req = request(json!({"model": "m", "query": "q", "documents": ["a"]}));
    for answer in [
        &br#"{"results":[{"index":1,"relevanceScore":0.5}]}"#[..],
        b"{}",
    ] {
        let err = scores_to_rerank(answer, &req, "x".into()).unwrap_err();
        assert!(matches!(err, TranslateError::InvalidUpstream(_)), "{err:?}");
    }
}

#[test]
fn max_chunks_per_doc_is_accepted_but_not_forwarded() {
    let req =
        request(json!({"model": "m", "query": "q", "documents": ["a"], "max_chunks_per_doc": 3}));
    let body: Value = serde_json::from_slice(&rerank_to_agent_runtime(&req, ARN).unwrap()).unwrap();
    let config =
        &body["rerankingConfiguration"]["bedrockRerankingConfiguration"]["modelConfiguration"];
    assert_eq!(config, &json!({"modelArn": ARN}));
}
