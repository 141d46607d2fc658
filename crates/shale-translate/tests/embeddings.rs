//! `/embeddings` translation: golden fixtures (request → Bedrock bodies, Bedrock answers → OpenAI
//! response) under `tests/fixtures/embeddings/<case>/`, plus the rules that answer 400.

mod common;
use common::{assert_json_eq, case_dirs, invalid_param, read};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use shale_translate::embeddings::{
    assemble_embeddings, parse_embedding_response, plan_embeddings, EmbeddingFamily,
    EmbeddingInput, EmbeddingVector, EmbeddingsRequest, EncodingFormat, ParsedEmbeddings,
    COHERE_MAX_TEXTS_PER_CALL,
};
use shale_translate::error::TranslateError;

fn request(v: Value) -> EmbeddingsRequest {
    serde_json::from_value(v).expect("request parses")
}

#[test]
fn golden_fixtures() {
    let cases = case_dirs("embeddings");
    assert!(
        cases.len() >= 10,
        "expected the embedding fixtures, found {}",
        cases.len()
    );
    for dir in cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let meta = read(&dir, "case.json");
        let model_id = meta["bedrock_model"].as_str().expect("bedrock_model");
        let family = EmbeddingFamily::from_model_id(model_id).expect("known family");
        let defaults = meta
            .get("defaults")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let req_json = read(&dir, "request.json");
        let model_name = req_json["model"].as_str().unwrap().to_owned();

        let plan = plan_embeddings(request(req_json), family, &defaults)
            .unwrap_or_else(|e| panic!("{case}: plan failed: {e:?}"));
        let got_calls = Value::Array(plan.calls.clone());
        assert_json_eq(
            &case,
            "bedrock requests",
            &got_calls,
            &read(&dir, "bedrock_requests.json"),
        );

        let answers = read(&dir, "bedrock_responses.json");
        let answers = answers.as_array().expect("responses array");
        let headers = meta.get("header_input_tokens").and_then(Value::as_array);
        let parts: Vec<ParsedEmbeddings> = answers
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let header = headers.map(|h| h[i].as_u64().unwrap());
                let body = serde_json::to_vec(a).unwrap();
                parse_embedding_response(family, &body, header)
                    .unwrap_or_else(|e| panic!("{case}: answer {i}: {e:?}"))
            })
            .collect();
        let resp = assemble_embeddings(&plan, parts, &model_name)
            .unwrap_or_else(|e| panic!("{case}: assemble failed: {e:?}"));
        // Compare what goes on the wire (f32 printed shortest), not the in-memory value.
        let wire: Value = serde_json::from_slice(&serde_json::to_vec(&resp).unwrap()).unwrap();
        assert_json_eq(&case, "response", &wire, &read(&dir, "response.json"));
    }
}

#[test]
fn base64_output_decodes_like_the_openai_sdk() {
    // np.frombuffer(base64.b64decode(s), dtype="float32") == the floats Bedrock returned.
    let floats = [0.1f32, -1.5, f32::MIN_POSITIVE, f32::MAX, -0.0, 123.456];
    let req = request(json!({"model": "m", "input": "x", "encoding_format": "base64"}));
    let plan = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap();
    assert_eq!(plan.encoding(), EncodingFormat::Base64);
    let body = serde_json::to_vec(&json!({"embedding": floats, "inputTextTokenCount": 1})).unwrap();
    let part = parse_embedding_response(EmbeddingFamily::TitanTextV2, &body, None).unwrap();
    let resp = assemble_embeddings(&plan, vec![part], "m").unwrap();
    let EmbeddingVector::Base64(b64) = &resp.data[0].embedding else {
        panic!("expected base64, got {:?}", resp.data[0].embedding)
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded.len(), floats.len());
    for (d, f) in decoded.iter().zip(floats) {
        assert_eq!(d.to_bits(), f.to_bits());
    }
}

#[test]
fn base64_never_asks_titan_for_binary_vectors() {
    let req = request(json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}));
    let plan = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap();
    for call in &plan.calls {
        assert!(call.get("embeddingTypes").is_none(), "{call}");
        assert!(call.get("encoding_format").is_none(), "{call}");
    }
}

#[test]
fn titan_text_makes_one_call_per_input_in_order() {
    let inputs: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    let req = request(json!({"model": "m", "input": inputs}));
    let plan = plan_embeddings(req, EmbeddingFamily::TitanTextV1, &Map::new()).unwrap();
    assert_eq!(plan.calls.len(), 5);
    assert_eq!(plan.input_count(), 5);
    for (i, call) in plan.calls.iter().enumerate() {
        assert_eq!(call, &json!({ "inputText": format!("t{i}") }));
        assert_eq!(plan.targets(i), &[i]);
    }
}

#[test]
fn cohere_splits_exactly_at_96() {
    for (n, want_calls) in [(96, 1), (97, 2), (192, 2), (193, 3)] {
        let inputs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let req = request(json!({"model": "m", "input": inputs}));
        let plan = plan_embeddings(req, EmbeddingFamily::CohereV4, &Map::new()).unwrap();
        assert_eq!(plan.calls.len(), want_calls, "n={n}");
        let sizes: Vec<usize> = plan
            .calls
            .iter()
            .map(|c| c["texts"].as_array().unwrap().len())
            .collect();
        assert!(
            sizes.iter().all(|&s| s <= COHERE_MAX_TEXTS_PER_CALL),
            "{sizes:?}"
        );
        assert_eq!(sizes.iter().sum::<usize>(), n);
        assert_eq!(plan.calls[0]["input_type"], "search_document");
    }
}

#[test]
fn parsed_order_is_restored_whatever_the_call_layout() {
    // Cohere v4: texts at 0 and 2 in one call, the image at 1 in another.
    let img = "data:image/png;base64,iVBORw0KGgo=";
    let req = request(json!({"model": "m", "input": ["a", img, "c"]}));
    let plan = plan_embeddings(req, EmbeddingFamily::CohereV4, &Map::new()).unwrap();
    assert_eq!(plan.targets(0), &[0, 2]);
    assert_eq!(plan.targets(1), &[1]);
    let parts = vec![
        ParsedEmbeddings {
            vectors: vec![vec![0.0], vec![2.0]],
            tokens: 2,
        },
        ParsedEmbeddings {
            vectors: vec![vec![1.0]],
            tokens: 1,
        },
    ];
    let resp = assemble_embeddings(&plan, parts, "m").unwrap();
    let got: Vec<(usize, EmbeddingVector)> = resp
        .data
        .into_iter()
        .map(|d| (d.index, d.embedding))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, EmbeddingVector::Float(vec![0.0])),
            (1, EmbeddingVector::Float(vec![1.0])),
            (2, EmbeddingVector::Float(vec![2.0])),
        ]
    );
    assert_eq!(resp.usage.prompt_tokens, 3);
    assert_eq!(resp.usage.total_tokens, 3);
}

#[test]
fn token_array_input_is_a_400_on_input() {
    for input in [json!([1, 2, 3]), json!([[1, 2], [3]])] {
        let req = request(json!({"model": "m", "input": input}));
        assert_eq!(req.input, EmbeddingInput::Tokens);
        let err = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap_err();
        assert_eq!(invalid_param(&err), Some("input"), "{err:?}");
    }
}

#[test]
fn malformed_input_does_not_parse() {
    for input in [
        json!(["a", 1]),
        json!({"text": "a"}),
        json!(3),
        json!([["a"]]),
    ] {
        let r: Result<EmbeddingsRequest, _> =
            serde_json::from_value(json!({"model": "m", "input": input.clone()}));
        assert!(r.is_err(), "{input} should be rejected");
    }
}

#[test]
fn empty_input_is_a_400() {
    let req = request(json!({"model": "m", "input": []}));
    let err = plan_embeddings(req, EmbeddingFamily::CohereV3, &Map::new()).unwrap_err();
    assert_eq!(invalid_param(&err), Some("input"));
}

#[test]
fn unknown_encoding_format_is_a_400() {
    let req = request(json!({"model": "m", "input": "x", "encoding_format": "binary"}));
    let err = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap_err();
    assert_eq!(invalid_param(&err), Some("encoding_format"));
}

#[test]
fn fixed_size_models_reject_other_dimensions() {
    for family in [EmbeddingFamily::TitanTextV1, EmbeddingFamily::CohereV3] {
        let req = request(json!({"model": "m", "input": "x", "dimensions": 256}));
        let err = plan_embeddings(req, family, &Map::new()).unwrap_err();
        assert_eq!(invalid_param(&err), Some("dimensions"), "{family:?}");
    }
    let req = request(json!({"model": "m", "input": "x", "dimensions": 1024}));
    let plan = plan_embeddings(req, EmbeddingFamily::CohereV3, &Map::new()).unwrap();
    assert!(plan.calls[0].get("output_dimension").is_none());
}

#[test]
fn bad_image_inputs_name_the_input() {
    let cases = [
        (json!(["ok", "data:image/png;base64,abc"]), "input[1]"), // not canonical base64
        (json!("data:image/bmp;base64,Qk0="), "input"),           // unsupported type
        (json!(["data:image/png,rawbytes"]), "input[0]"),         // not base64
    ];
    for (input, param) in cases {
        let req = request(json!({"model": "m", "input": input.clone()}));
        let err = plan_embeddings(req, EmbeddingFamily::NovaMultimodal, &Map::new()).unwrap_err();
        assert_eq!(invalid_param(&err), Some(param), "{input}: {err:?}");
    }
}

#[test]
fn text_only_models_embed_data_urls_as_text() {
    let url = "data:image/png;base64,iVBORw0KGgo=";
    let req = request(json!({"model": "m", "input": url}));
    let plan = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap();
    assert_eq!(plan.calls, vec![json!({ "inputText": url })]);
}

#[test]
fn answer_count_mismatch_is_an_upstream_error() {
    let req = request(json!({"model": "m", "input": ["a", "b"]}));
    let plan = plan_embeddings(req, EmbeddingFamily::CohereV3, &Map::new()).unwrap();
    let short = ParsedEmbeddings {
        vectors: vec![vec![1.0]],
        tokens: 0,
    };
    let err = assemble_embeddings(&plan, vec![short], "m").unwrap_err();
    assert!(matches!(err, TranslateError::InvalidUpstream(_)), "{err:?}");
    let err = assemble_embeddings(&plan, vec![], "m").unwrap_err();
    assert!(matches!(err, TranslateError::InvalidUpstream(_)), "{err:?}");
}

#[test]
fn malformed_bedrock_bodies_are_upstream_errors() {
    let cases = [
        (
            EmbeddingFamily::TitanTextV2,
            &b"{\"inputTextTokenCount\":1}"[..],
        ),
        (EmbeddingFamily::TitanTextV2, b"not json"),
        (
            EmbeddingFamily::CohereV3,
            b"{\"embeddings\":{\"int4\":[[1]]}}",
        ),
        (EmbeddingFamily::CohereV3, b"{\"id\":\"x\"}"),
        (
            EmbeddingFamily::NovaMultimodal,
            b"{\"embeddings\":[{\"embeddingType\":\"TEXT\"}]}",
        ),
    ];
    for (family, body) in cases {
        let err = parse_embedding_response(family, body, None).unwrap_err();
        assert!(
            matches!(err, TranslateError::InvalidUpstream(_)),
            "{family:?} {}: {err:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn body_token_count_wins_over_header() {
    let body = br#"{"embedding":[1.0],"inputTextTokenCount":4}"#;
    let p = parse_embedding_response(EmbeddingFamily::TitanTextV1, body, Some(99)).unwrap();
    assert_eq!(p.tokens, 4);
    let body = br#"{"embeddings":[[1.0]],"id":"x","response_type":"embeddings_floats"}"#;
    let p = parse_embedding_response(EmbeddingFamily::CohereV3, body, Some(7)).unwrap();
    assert_eq!(p.tokens, 7);
    let p = parse_embedding_response(EmbeddingFamily::CohereV3, body, None).unwrap();
    assert_eq!(p.tokens, 0);
}

#[test]
fn litellm_control_params_are_not_forwarded() {
    let req = request(json!({
        "model": "m", "input": "x", "user": "u", "metadata": {"a": 1}, "aws_region_name": "eu-west-1",
        "timeout": 30, "normalize": true
    }));
    let plan = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()).unwrap();
    assert_eq!(
        plan.calls,
        vec![json!({"inputText": "x", "normalize": true})]
    );
}

#[test]
fn titan_answers_without_float_use_the_requested_type() {
    // A client that explicitly asked Titan v2 for `embeddingTypes: ["binary"]` gets those values.
    let body = br#"{"inputTextTokenCount":2,"embeddingsByType":{"binary":[1,0,1]}}"#;
    let p = parse_embedding_response(EmbeddingFamily::TitanTextV2, body, None).unwrap();
    assert_eq!(p.vectors, vec![vec![1.0, 0.0, 1.0]]);
    assert_eq!(p.tokens, 2);
    let body = br#"{"inputTextTokenCount":2,"embeddingsByType":{"binary":[1],"float":[0.5]}}"#;
    let p = parse_embedding_response(EmbeddingFamily::TitanTextV2, body, None).unwrap();
    assert_eq!(p.vectors, vec![vec![0.5]]);
}
