//! Golden cases of the ApplyGuardrail mapping (`tests/golden/*.json`): a request's text → the
//! ApplyGuardrail body shale sends; Bedrock's answer (botocore's shape) → the decision; masks →
//! the request rewritten at the right positions, or the block with its redacted assessments.

use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use shale_guardrails::text::{self, InputRules};
use shale_guardrails::wire::{self, Decision};
use shale_guardrails::Source;

fn rules(v: &Value) -> InputRules {
    InputRules {
        latest_user_only: v["latest_user_only"].as_bool().unwrap_or(false),
        skip_system: v["skip_system"].as_bool().unwrap_or(false),
        skip_tool: v["skip_tool"].as_bool().unwrap_or(false),
    }
}

fn run(case: &Value) {
    let what = case["what"].as_str().unwrap();
    let mut root = case["request"].clone();
    let (slots, source) = match case["kind"].as_str().unwrap() {
        "chat" => (
            text::chat_input_slots(&root, rules(&case["rules"])),
            Source::Input,
        ),
        "anthropic" => (
            text::anthropic_input_slots(root.as_object().unwrap(), rules(&case["rules"])),
            Source::Input,
        ),
        "output" => {
            let n = root.as_array().unwrap().len();
            (
                (0..n).map(|i| vec![text::Step::Index(i)]).collect(),
                Source::Output,
            )
        }
        other => panic!("unknown kind {other}"),
    };
    let texts = text::texts(&root, &slots);
    let body: Value = serde_json::from_slice(&wire::request_body(source, &texts, None)).unwrap();
    assert_eq!(body, case["apply_body"], "{what}: the ApplyGuardrail body");
    let answer = wire::parse_answer(&serde_json::to_vec(&case["answer"]).unwrap()).unwrap();
    let decision = wire::decide(&answer, texts.len(), case["may_mask"].as_bool().unwrap());
    match decision {
        Ok(Decision::Mask(masked)) => {
            text::write_back(&mut root, &slots, masked);
            assert_eq!(root, case["expected"], "{what}: the masked request");
        }
        Ok(Decision::Block {
            message,
            action_reason,
            assessments,
        }) => assert_eq!(
            json!({"block": {"message": message, "action_reason": action_reason, "assessments": assessments}}),
            case["expected"],
            "{what}: the block"
        ),
        other => panic!("{what}: unexpected {other:?}"),
    }
}

#[test]
fn golden_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            run(&case);
            n += 1;
        }
    }
    assert!(n >= 3, "golden cases found: {n}");
}
