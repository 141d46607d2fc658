//! ApplyGuardrail on the wire (botocore `bedrock-runtime` 2023-09-30) and what its answer means,
//! as pure functions: [`request_body`] (`{source, content: [{text: {text}}…]}`, one content block
//! per text segment so masked `outputs` map back by position), [`parse_answer`] and [`decide`]
//! (pass, mask or block), and [`redact_assessments`] (Bedrock's assessments with every matched
//! text replaced, for error bodies and logs).
//!
//! Decision rules (and where they differ from LiteLLM, on purpose):
//! - `action: NONE` passes;
//! - `GUARDRAIL_INTERVENED` with any assessment entry `action: BLOCKED` blocks;
//! - `GUARDRAIL_INTERVENED` with only `ANONYMIZED` entries masks — when masking is allowed and
//!   Bedrock returned one output per segment; masking switched off (`mask_*_content: false`)
//!   blocks instead, so unmasked text never goes on; an output count that does not match the
//!   segments is an unusable answer (the guardrail fails closed) rather than a guess;
//! - `GUARDRAIL_INTERVENED` with neither blocks (an intervention shale cannot apply is not a pass).
//!
//! Must not: do I/O, or put checked text anywhere but the request body.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::model::Source;

/// Redacted stand-in for matched text.
pub const REDACTED: &str = "[REDACTED]";

/// The ApplyGuardrail body for these text segments. `extra` (a request's `extra_body` for the
/// guardrail, e.g. `outputScope`) is merged in, except `source` and `content`.
pub fn request_body(source: Source, texts: &[&str], extra: Option<&Map<String, Value>>) -> Vec<u8> {
    let content: Vec<Value> = texts.iter().map(|t| json!({"text": {"text": t}})).collect();
    let mut body = Map::new();
    body.insert("source".into(), Value::from(source.as_str()));
    body.insert("content".into(), Value::Array(content));
    if let Some(extra) = extra {
        for (k, v) in extra {
            if k != "source" && k != "content" {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// The parts of an ApplyGuardrail answer shale reads (unknown members are ignored; the
/// undocumented duplicate `output` is never read).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub action: String,
    #[serde(default)]
    pub action_reason: Option<String>,
    #[serde(default)]
    pub outputs: Vec<OutputText>,
    #[serde(default)]
    pub assessments: Vec<Value>,
    #[serde(default)]
    pub usage: Option<Value>,
}

/// One of `outputs`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct OutputText {
    #[serde(default)]
    pub text: String,
}

/// Parses the 2xx body; `Err` is a message for an unusable answer.
pub fn parse_answer(body: &[u8]) -> Result<Answer, String> {
    serde_json::from_slice(body).map_err(|e| format!("ApplyGuardrail answered invalid JSON: {e}"))
}

/// What a verdict asks of the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Pass,
    /// Replace segment `i` with `texts[i]`.
    Mask(Vec<String>),
    Block {
        /// The guardrail's message (outputs joined), or why an anonymization blocks.
        message: String,
        action_reason: Option<String>,
        assessments: Value,
    },
}

/// Reads an answer for `segments` text segments; `may_mask` is the guardrail's masking switch
/// for this source. `Err` is an unusable answer (fail closed).
pub fn decide(answer: &Answer, segments: usize, may_mask: bool) -> Result<Decision, String> {
    match answer.action.as_str() {
        "NONE" => return Ok(Decision::Pass),
        "GUARDRAIL_INTERVENED" => {}
        other => {
            return Err(format!(
                "ApplyGuardrail answered an unknown action `{other}`"
            ))
        }
    }
    let mut blocked = false;
    let mut anonymized = false;
    for a in &answer.assessments {
        scan_actions(a, &mut blocked, &mut anonymized);
    }
    let block = |message: String| Decision::Block {
        message,
        action_reason: answer.action_reason.clone(),
        assessments: redact_assessments(&answer.assessments),
    };
    let joined = || {
        answer
            .outputs
            .iter()
            .map(|o| o.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if blocked || !anonymized {
        return Ok(block(joined()));
    }
    if !may_mask {
        return Ok(block(
            "The guardrail anonymized sensitive information and masking is off for this guardrail, so the content was blocked.".into(),
        ));
    }
    if answer.outputs.len() != segments {
        return Err(format!(
            "ApplyGuardrail masked {} text segment(s) into {} output(s): cannot tell which masked text replaces which",
            segments,
            answer.outputs.len()
        ));
    }
    Ok(Decision::Mask(
        answer.outputs.iter().map(|o| o.text.clone()).collect(),
    ))
}

/// Finds entry actions anywhere in one assessment (`topicPolicy.topics[].action`,
/// `sensitiveInformationPolicy.piiEntities[].action`, …).
fn scan_actions(v: &Value, blocked: &mut bool, anonymized: &mut bool) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("action", Value::String(a)) if a == "BLOCKED" => *blocked = true,
                    ("action", Value::String(a)) if a == "ANONYMIZED" => *anonymized = true,
                    // A finding that only detected (action NONE) decides nothing.
                    _ => scan_actions(v, blocked, anonymized),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| scan_actions(i, blocked, anonymized)),
        _ => {}
    }
}

/// Bedrock's assessments with matched text removed: every `match` becomes [`REDACTED`];
/// automated-reasoning findings (which restate the text) keep only their kinds.
pub fn redact_assessments(assessments: &[Value]) -> Value {
    Value::Array(assessments.iter().map(redact).collect())
}

fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("match", _) => Value::from(REDACTED),
                        ("automatedReasoningPolicy", Value::Object(p)) => finding_kinds(p),
                        _ => redact(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn finding_kinds(policy: &Map<String, Value>) -> Value {
    let kinds: Vec<Value> = policy
        .get("findings")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|finding| finding.as_object()?.keys().next().cloned())
                .map(|k| json!({ k: {} }))
                .collect()
        })
        .unwrap_or_default();
    json!({"findings": kinds})
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn answer(v: Value) -> Answer {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn request_body_golden() {
        let extra: Map<String, Value> = serde_json::from_value(
            json!({"outputScope": "FULL", "source": "OUTPUT", "content": []}),
        )
        .unwrap();
        let body = request_body(Source::Input, &["hello", "my mail is a@b.co"], Some(&extra));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({
                "source": "INPUT",
                "content": [
                    {"text": {"text": "hello"}},
                    {"text": {"text": "my mail is a@b.co"}}
                ],
                "outputScope": "FULL"
            })
        );
        let out: Value =
            serde_json::from_slice(&request_body(Source::Output, &["x"], None)).unwrap();
        assert_eq!(
            out,
            json!({"source": "OUTPUT", "content": [{"text": {"text": "x"}}]})
        );
    }

    #[test]
    fn none_passes_and_unknown_actions_fail_closed() {
        let a = answer(json!({"action": "NONE", "outputs": [], "assessments": [{}], "usage": {}}));
        assert_eq!(decide(&a, 1, true), Ok(Decision::Pass));
        let a = answer(json!({"action": "MAYBE", "outputs": [], "assessments": []}));
        assert!(decide(&a, 1, true).is_err());
        assert!(parse_answer(b"{not json").is_err());
    }

    #[test]
    fn blocked_entry_blocks_with_redacted_assessments() {
        // The botocore shape of a word + PII + topic intervention.
        let a = parse_answer(
            br#"{"action":"GUARDRAIL_INTERVENED","actionReason":"Guardrail blocked.",
            "outputs":[{"text":"Sorry, the model cannot answer this question."}],
            "output":[{"text":"ignored duplicate"}],
            "assessments":[{"topicPolicy":{"topics":[{"name":"Investments","type":"DENY","action":"BLOCKED","detected":true}]},
              "wordPolicy":{"customWords":[{"match":"secret-word","action":"BLOCKED","detected":true}]},
              "sensitiveInformationPolicy":{"piiEntities":[{"match":"a@b.co","type":"EMAIL","action":"ANONYMIZED","detected":true}],
                "regexes":[{"name":"acct","match":"ACCT-1","regex":"ACCT-\\d+","action":"BLOCKED"}]},
              "automatedReasoningPolicy":{"findings":[{"invalid":{"translation":{"premises":[{"naturalLanguage":"secret"}]}}}]},
              "invocationMetrics":{"guardrailProcessingLatency":12}}],
            "usage":{"topicPolicyUnits":1,"contentPolicyUnits":0,"wordPolicyUnits":1,"sensitiveInformationPolicyUnits":1,"sensitiveInformationPolicyFreeUnits":0,"contextualGroundingPolicyUnits":0}}"#,
        )
        .unwrap();
        let Ok(Decision::Block {
            message,
            action_reason,
            assessments,
        }) = decide(&a, 2, true)
        else {
            panic!("must block")
        };
        assert_eq!(message, "Sorry, the model cannot answer this question.");
        assert_eq!(action_reason.as_deref(), Some("Guardrail blocked."));
        assert_eq!(
            assessments,
            json!([{"topicPolicy":{"topics":[{"name":"Investments","type":"DENY","action":"BLOCKED","detected":true}]},
              "wordPolicy":{"customWords":[{"match":REDACTED,"action":"BLOCKED","detected":true}]},
              "sensitiveInformationPolicy":{"piiEntities":[{"match":REDACTED,"type":"EMAIL","action":"ANONYMIZED","detected":true}],
                "regexes":[{"name":"acct","match":REDACTED,"regex":"ACCT-\\d+","action":"BLOCKED"}]},
              "automatedReasoningPolicy":{"findings":[{"invalid":{}}]},
              "invocationMetrics":{"guardrailProcessingLatency":12}}])
        );
        let text = assessments.to_string();
        for secret in ["secret-word", "a@b.co", "ACCT-1", "naturalLanguage"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn anonymized_only_masks_by_position() {
        let a = answer(json!({
            "action": "GUARDRAIL_INTERVENED", "actionReason": "Guardrail masked.",
            "outputs": [{"text": "hi"}, {"text": "mail {EMAIL}"}],
            "assessments": [{"sensitiveInformationPolicy": {"piiEntities": [
                {"match": "a@b.co", "type": "EMAIL", "action": "ANONYMIZED", "detected": true},
                {"match": "555-0100", "type": "PHONE", "action": "NONE", "detected": true}]}}]
        }));
        assert_eq!(
            decide(&a, 2, true),
            Ok(Decision::Mask(vec!["hi".into(), "mail {EMAIL}".into()]))
        );
        // Outputs that cannot be placed: an unusable answer, never a guess.
        assert!(decide(&a, 3, true).is_err());
        // Masking off: the anonymization blocks (nothing unmasked goes on).
        let Ok(Decision::Block { message, .. }) = decide(&a, 2, false) else {
            panic!("must block")
        };
        assert!(message.contains("masking is off"), "{message}");
    }

    #[test]
    fn intervention_without_known_actions_blocks() {
        let a = answer(json!({
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": "Blocked."}],
            "assessments": [{"contentPolicy": {"filters": [{"type": "HATE", "confidence": "HIGH", "action": "NONE", "detected": true}]}}]
        }));
        assert!(matches!(decide(&a, 1, true), Ok(Decision::Block { .. })));
    }
}
