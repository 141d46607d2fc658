//! Differential test of the Converse request body's exact bytes. The corpus file
//! (`tests/fixtures/converse_body_bytes.jsonl`) was written by the previous, `serde_json::Value`
//! based body builder (commit 8d56303): every chat/invoke fixture request plus deterministic
//! random mutations of them, each translated for a dozen Converse model families, with the
//! SHA-256 of the serialised body (or the error) recorded. The typed body writer must produce the
//! same bytes — key order and number formatting included — for every one of them.
//!
//! `SHALE_BLESS_CORPUS=1` regenerates the file (only meaningful with a builder known to be right;
//! refused under `CI=true`). Must not: loosen the comparison to semantic JSON equality.

mod common;
mod mutate;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shale_translate::{chat_to_converse, ChatRequest};
use std::path::Path;

/// Random mutations added to the unmodified fixture requests.
const MUTATED_CASES: usize = 600;

const CORPUS: &str = "tests/fixtures/converse_body_bytes.jsonl";

/// The translation outcome per model: `sha256:<hex>` of the body bytes, or `error:<Debug>`.
fn outcomes(req: &ChatRequest, modify_params: bool, beta: Option<&str>) -> Vec<String> {
    mutate::for_each_chat_context(mutate::CONVERSE_MODELS, modify_params, beta, |_, ctx| {
        match chat_to_converse(req.clone(), ctx) {
            Ok(call) => {
                let bytes = call.body.to_vec();
                format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
            }
            Err(e) => format!("error:{e:?}"),
        }
    })
}

/// The requests of the corpus: the fixtures as they are, then deterministic mutations.
fn generate() -> Vec<Value> {
    let corpus = mutate::corpus(&["chat", "invoke"], "request.json");
    let mut requests = corpus.clone();
    let strategy = mutate::mutated(corpus, 4);
    let mut runner = TestRunner::deterministic();
    while requests.len() < MUTATED_CASES {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        if serde_json::from_value::<ChatRequest>(v.clone()).is_ok() {
            requests.push(v);
        }
    }
    requests
}

fn case_line(i: usize, request: Value) -> Value {
    let modify_params = i.is_multiple_of(3);
    let beta = ["", "interleaved-thinking-2025-05-14", "a,b"]
        .get(i % 4)
        .copied();
    // The request is kept as text and parsed from that text both times: serde_json's float
    // parsing is not exact, so a re-parsed `Value` could differ in its last bits.
    let text = serde_json::to_string(&request).unwrap();
    let req: ChatRequest = serde_json::from_str(&text).unwrap();
    json!({
        "request": text,
        "modify_params": modify_params,
        "beta": beta,
        "outcomes": outcomes(&req, modify_params, beta),
    })
}

#[test]
fn converse_bodies_are_byte_identical_to_the_value_builder() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    if common::bless_corpus() {
        let mut out = String::new();
        for (i, request) in generate().into_iter().enumerate() {
            out.push_str(&serde_json::to_string(&case_line(i, request)).unwrap());
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).expect("corpus file");
    let mut checked = 0;
    let mut bodies = 0;
    for (n, line) in text.lines().enumerate() {
        let case: Value = serde_json::from_str(line).unwrap();
        let req: ChatRequest = serde_json::from_str(case["request"].as_str().unwrap()).unwrap();
        let beta = case["beta"].as_str();
        let modify_params = case["modify_params"].as_bool().unwrap();
        let want: Vec<String> = serde_json::from_value(case["outcomes"].clone()).unwrap();
        let got = outcomes(&req, modify_params, beta);
        for (m, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g,
                w,
                "line {}: model {}: request {}",
                n + 1,
                mutate::CONVERSE_MODELS[m],
                case["request"]
            );
            bodies += usize::from(w.starts_with("sha256:"));
        }
        checked += 1;
    }
    assert!(checked >= MUTATED_CASES, "corpus has {checked} cases");
    assert!(bodies > 1000, "only {bodies} bodies compared");
}
