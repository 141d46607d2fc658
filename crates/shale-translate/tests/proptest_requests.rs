//! Property tests: any request body — arbitrary JSON, or a real fixture request with random
//! fields replaced, removed, added or retyped — goes through parsing and translation (Converse for
//! several model families, every invoke family, /completions, embeddings, images, rerank)
//! without a panic, and a refusal is always a typed `InvalidRequest` (the client's fault, a 4xx),
//! never an upstream error. Case count: `PROPTEST_CASES` (default 256 per property).

mod mutate;

use proptest::prelude::*;
use serde_json::{Map, Value};
use shale_translate::embeddings::{plan_embeddings, EmbeddingFamily, EmbeddingsRequest};
use shale_translate::images::{image_request_to_bedrock, ImagesRequest};
use shale_translate::invoke::{chat_to_invoke, InvokeFamily};
use shale_translate::rerank::{rerank_to_agent_runtime, rerank_to_invoke, RerankRequest};
use shale_translate::text_completion::{completion_to_chat, CompletionRequest};
use shale_translate::{
    chat_to_converse, ChatContext, ChatRequest, FetchedMedia, ModelCaps, TranslateError,
};

/// Converse model ids the no-panic properties cover besides [`mutate::CONVERSE_MODELS`].
const MORE_CONVERSE_MODELS: &[&str] = &["ai21.jamba-1-5-large-v1:0", "writer.palmyra-x5-v1:0"];

/// One model id per invoke family (for its capabilities).
const INVOKE_FAMILIES: &[(InvokeFamily, &str)] = &[
    (
        InvokeFamily::Anthropic,
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
    ),
    (InvokeFamily::Llama2, "meta.llama2-70b-chat-v1"),
    (InvokeFamily::Llama3, "meta.llama3-1-70b-instruct-v1:0"),
    (InvokeFamily::Mistral, "mistral.mistral-7b-instruct-v0:2"),
    (InvokeFamily::TitanText, "amazon.titan-text-express-v1"),
    (InvokeFamily::CohereCommand, "cohere.command-text-v14"),
    (InvokeFamily::CohereCommandR, "cohere.command-r-v1:0"),
    (InvokeFamily::Ai21J2, "ai21.j2-ultra-v1"),
    (InvokeFamily::Ai21Jamba, "ai21.jamba-1-5-mini-v1:0"),
    (InvokeFamily::DeepSeekR1, "deepseek.r1-v1:0"),
    (InvokeFamily::Qwen, "qwen.qwen3-32b-v1:0"),
    (InvokeFamily::OpenAiFormat, "openai.gpt-oss-20b-1:0"),
    (InvokeFamily::Pegasus, "twelvelabs.pegasus-1-2-v1:0"),
];

/// A refusal of a request must be the client's fault.
fn assert_request_error(e: &TranslateError, what: &str) {
    assert!(
        matches!(e, TranslateError::InvalidRequest { .. }),
        "{what}: a request was refused as an upstream error: {e:?}"
    );
    assert_eq!(e.to_openai().status, 400, "{what}: {e:?}");
}

/// Translates a parsed chat request every way the server can.
fn translate_chat(req: &ChatRequest, modify_params: bool, beta: Option<&str>) {
    let models: Vec<&str> = mutate::CONVERSE_MODELS
        .iter()
        .chain(MORE_CONVERSE_MODELS)
        .copied()
        .collect();
    mutate::for_each_chat_context(
        &models,
        modify_params,
        beta,
        |model, ctx| match chat_to_converse(req.clone(), ctx) {
            Ok(call) => {
                serde_json::from_slice::<Value>(&call.body.to_vec()).expect("body is JSON");
            }
            Err(e) => assert_request_error(&e, model),
        },
    );
    let defaults = Map::new();
    let fetched = FetchedMedia::new();
    for (family, model) in INVOKE_FAMILIES {
        let caps = ModelCaps::for_model_id(model);
        let ctx = ChatContext {
            caps: &caps,
            default_params: &defaults,
            modify_params,
            user_continue_message: None,
            anthropic_beta: beta,
            fetched_media: &fetched,
        };
        match chat_to_invoke(req.clone(), *family, &ctx) {
            Ok(call) => {
                serde_json::from_slice::<Value>(&call.body.to_vec()).expect("body is JSON");
            }
            Err(e) => assert_request_error(&e, model),
        }
    }
}

/// Parses bytes as the chat route does; a parse failure is fine (the server answers 400).
fn chat_from_value(v: &Value, modify_params: bool, beta: Option<&str>) {
    if let Ok(req) = serde_json::from_value::<ChatRequest>(v.clone()) {
        translate_chat(&req, modify_params, beta);
    }
}

fn chat_corpus() -> Vec<Value> {
    mutate::corpus(&["chat", "invoke"], "request.json")
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn mutated_chat_requests_translate_or_fail_typed(
        v in mutate::mutated(chat_corpus(), 4),
        modify_params in any::<bool>(),
        beta in prop::option::of(prop::sample::select(&["", "a,b", "interleaved-thinking-2025-05-14", "é"][..])),
    ) {
        chat_from_value(&v, modify_params, beta);
    }

    #[test]
    fn arbitrary_chat_bodies_translate_or_fail_typed(
        messages in prop::collection::vec(mutate::json_value(), 0..4),
        extra in mutate::json_value(),
    ) {
        let mut body = serde_json::json!({"model": "m", "messages": messages});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            for (k, v) in e {
                b.insert(k, v);
            }
        }
        chat_from_value(&body, false, None);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // A refusal is a syntax or data error of the bytes (never I/O); what parses translates.
        let refused = |e: serde_json::Error| assert!(!e.is_io(), "{e}");
        match serde_json::from_slice::<ChatRequest>(&bytes) {
            Ok(req) => translate_chat(&req, false, None),
            Err(e) => refused(e),
        }
        match serde_json::from_slice::<CompletionRequest>(&bytes) {
            Ok(req) => match completion_to_chat(req) {
                Ok(chat) => translate_chat(&chat, false, None),
                Err(e) => assert_request_error(&e, "completions"),
            },
            Err(e) => refused(e),
        }
        match serde_json::from_slice::<EmbeddingsRequest>(&bytes) {
            Ok(req) => {
                if let Err(e) = plan_embeddings(req, EmbeddingFamily::TitanTextV2, &Map::new()) {
                    assert_request_error(&e, "embeddings");
                }
            }
            Err(e) => refused(e),
        }
    }

    #[test]
    fn mutated_completions_requests(v in mutate::mutated(mutate::corpus(&["completions"], "request.json"), 4)) {
        if let Ok(req) = serde_json::from_value::<CompletionRequest>(v) {
            match completion_to_chat(req) {
                Ok(chat) => translate_chat(&chat, false, None),
                Err(e) => assert_request_error(&e, "completions"),
            }
        }
    }

    #[test]
    fn mutated_embeddings_requests(v in mutate::mutated(mutate::corpus(&["embeddings"], "request.json"), 4)) {
        if let Ok(req) = serde_json::from_value::<EmbeddingsRequest>(v) {
            for family in mutate::EMBEDDING_FAMILIES {
                if let Err(e) = plan_embeddings(req.clone(), family, &Map::new()) {
                    assert_request_error(&e, "embeddings");
                }
            }
        }
    }

    #[test]
    fn mutated_image_requests(v in mutate::mutated(mutate::corpus(&["images"], "request.json"), 4)) {
        if let Ok(req) = serde_json::from_value::<ImagesRequest>(v) {
            for family in mutate::IMAGE_FAMILIES {
                if let Err(e) = image_request_to_bedrock(req.clone(), family, &Map::new()) {
                    assert_request_error(&e, "images");
                }
            }
        }
    }

    #[test]
    fn mutated_rerank_requests(v in mutate::mutated(mutate::corpus(&["rerank"], "request.json"), 4)) {
        if let Ok(req) = serde_json::from_value::<RerankRequest>(v) {
            if let Err(e) = rerank_to_agent_runtime(&req, "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0") {
                assert_request_error(&e, "rerank");
            }
            if let Err(e) = rerank_to_invoke(&req) {
                assert_request_error(&e, "rerank");
            }
        }
    }
}

/// The inputs of issue #17, pinned: they used to panic.
#[test]
fn known_panics_are_gone() {
    for url in ["abcdé", "data:é", "s3:/é", "éééé", "s3:/", "data"] {
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}]}]});
        chat_from_value(&body, false, None);
    }
    for budget in [u64::MAX, u64::MAX - 4095, u64::MAX - 4096] {
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "enabled", "budget_tokens": budget}});
        chat_from_value(&body, false, None);
    }
}

/// Deep nesting is refused by the parser (serde_json's recursion limit), not a stack overflow.
#[test]
fn deep_nesting_is_a_parse_error() {
    for (open, close) in [("[", "]"), ("{\"content\":", "}")] {
        let depth = 100_000;
        let text = format!(
            "{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":{}1{}}}]}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        assert!(serde_json::from_str::<ChatRequest>(&text).is_err());
    }
}
