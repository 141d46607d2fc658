//! [`GuardrailError`]: every way a guardrail stops a request, with its client form — the status,
//! OpenAI error type and code ([`GuardrailError::to_openai`]) and the details LiteLLM clients
//! read in `error.provider_specific_fields` ([`GuardrailError::details`]: the guardrail's name,
//! mode, identifier, version, its blocked message and Bedrock's assessments with the matched text
//! redacted). The server renders these in the OpenAI or the Anthropic envelope (`error.rs`,
//! `anthropic_error.rs`); nothing here knows HTTP.
//!
//! Must not: carry any checked text (prompts, answers, matches) — only the guardrail's own
//! configured message and redacted assessments.

use crate::model::Hook;
use serde_json::{json, Value};
use shale_core::{ErrorType, OpenAiError};
use std::sync::Arc;
use std::time::Duration;

/// LiteLLM's message for a block.
pub const VIOLATED: &str = "Violated guardrail policy";

/// A block: which guardrail, where, and what Bedrock said (redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub guardrail_name: Arc<str>,
    pub hook: Hook,
    pub guardrail_identifier: String,
    pub guardrail_version: String,
    /// The guardrail's blocked message (Bedrock's `outputs`, joined), or shale's reason when the
    /// guardrail anonymized text it may not rewrite.
    pub message: String,
    /// Bedrock's `actionReason`, when given.
    pub action_reason: Option<String>,
    /// Bedrock's assessments with every `match` redacted.
    pub assessments: Value,
}

/// Why a guardrail stopped a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuardrailError {
    /// The content violates the guardrail's policy.
    #[error("{VIOLATED}: guardrail `{}` ({}) blocked the {}: {}", .0.guardrail_name, .0.hook, what(.0.hook), .0.message)]
    Blocked(Box<Blocked>),
    /// ApplyGuardrail could not give a verdict (unreachable, timeout, 5xx, throttled, refused,
    /// or an answer shale cannot apply), and the guardrail fails closed.
    #[error("Guardrail `{guardrail}` ({hook}) could not be applied, so {}: {message}", withheld(*.hook))]
    Unavailable {
        guardrail: Arc<str>,
        hook: Hook,
        /// 502, or 503 when Bedrock throttled or was unavailable.
        status: u16,
        message: String,
        /// When to try again (throttling).
        retry_after: Option<Duration>,
    },
    /// A request asked for a guardrail that is not configured.
    #[error("Unknown guardrail `{name}` requested by the {origin}: configured guardrails are {configured}.")]
    Unknown {
        name: String,
        /// `request`, `key` or `team`.
        origin: &'static str,
        configured: String,
    },
    /// The request's `guardrails` field is malformed.
    #[error("{0}")]
    InvalidRequest(String),
}

/// What a failed check held back.
fn withheld(hook: Hook) -> &'static str {
    match hook {
        Hook::PreCall | Hook::Apply => "the request was not sent to the model",
        Hook::DuringCall | Hook::PostCall => "the answer was not returned",
    }
}

fn what(hook: Hook) -> &'static str {
    match hook {
        Hook::PostCall => "answer",
        _ => "request",
    }
}

impl GuardrailError {
    /// The client's error: status, OpenAI type, code and message.
    pub fn to_openai(&self) -> OpenAiError {
        let (status, kind, code) = match self {
            GuardrailError::Blocked(_) => (400, ErrorType::InvalidRequest, "guardrail_violation"),
            GuardrailError::Unavailable { status, .. } => (
                *status,
                if *status == 503 {
                    ErrorType::ServiceUnavailable
                } else {
                    ErrorType::ApiConnection
                },
                "guardrail_unavailable",
            ),
            GuardrailError::Unknown { origin, .. } if *origin == "request" => {
                (400, ErrorType::InvalidRequest, "guardrail_not_found")
            }
            // A key or team names a guardrail the config no longer has: the operator's mistake.
            GuardrailError::Unknown { .. } => (500, ErrorType::Api, "guardrail_not_found"),
            GuardrailError::InvalidRequest(_) => {
                (400, ErrorType::InvalidRequest, "invalid_guardrails")
            }
        };
        let param = matches!(
            self,
            GuardrailError::InvalidRequest(_)
                | GuardrailError::Unknown {
                    origin: "request",
                    ..
                }
        )
        .then_some("guardrails");
        OpenAiError::new(status, kind, self.to_string())
            .with_code(Some(code))
            .with_param(param)
    }

    /// LiteLLM's `provider_specific_fields` of a guardrail error (added to the error object).
    pub fn details(&self) -> Option<Value> {
        match self {
            GuardrailError::Blocked(b) => Some(json!({
                "error": VIOLATED,
                "guardrail_name": &*b.guardrail_name,
                "guardrail_mode": b.hook.as_str(),
                "guardrailIdentifier": b.guardrail_identifier,
                "guardrailVersion": b.guardrail_version,
                "bedrock_guardrail_response": b.message,
                "action_reason": b.action_reason,
                "assessments": b.assessments,
            })),
            GuardrailError::Unavailable {
                guardrail, hook, ..
            } => Some(json!({
                "guardrail_name": &**guardrail,
                "guardrail_mode": hook.as_str(),
            })),
            _ => None,
        }
    }

    /// `Retry-After` for the caller (a throttled guardrail).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GuardrailError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The guardrail at fault, when there is one.
    pub fn guardrail(&self) -> Option<&str> {
        match self {
            GuardrailError::Blocked(b) => Some(&b.guardrail_name),
            GuardrailError::Unavailable { guardrail, .. } => Some(guardrail),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked() -> GuardrailError {
        GuardrailError::Blocked(Box::new(Blocked {
            guardrail_name: "pii".into(),
            hook: Hook::PreCall,
            guardrail_identifier: "gr1".into(),
            guardrail_version: "DRAFT".into(),
            message: "Sorry, I can't help with that.".into(),
            action_reason: Some("Guardrail blocked.".into()),
            assessments: json!([{"wordPolicy": {"customWords": [{"match": "[REDACTED]", "action": "BLOCKED"}]}}]),
        }))
    }

    #[test]
    fn a_block_is_a_400_naming_the_guardrail() {
        let e = blocked().to_openai();
        assert_eq!(e.status, 400);
        assert_eq!(e.code.as_deref(), Some("guardrail_violation"));
        assert!(
            e.message
                .starts_with("Violated guardrail policy: guardrail `pii` (pre_call)"),
            "{}",
            e.message
        );
        let d = blocked().details().unwrap();
        assert_eq!(d["guardrail_name"], "pii");
        assert_eq!(d["guardrail_mode"], "pre_call");
        assert_eq!(d["guardrailIdentifier"], "gr1");
        assert_eq!(
            d["assessments"][0]["wordPolicy"]["customWords"][0]["match"],
            "[REDACTED]"
        );
    }

    #[test]
    fn unavailable_is_502_or_503_and_says_the_model_was_not_called() {
        let e = GuardrailError::Unavailable {
            guardrail: "pii".into(),
            hook: Hook::PreCall,
            status: 503,
            message: "ThrottlingException: Rate exceeded".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        let o = e.to_openai();
        assert_eq!(
            (o.status, o.error_type),
            (503, ErrorType::ServiceUnavailable)
        );
        assert!(o.message.contains("not sent to the model"), "{}", o.message);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        let post = GuardrailError::Unavailable {
            guardrail: "pii".into(),
            hook: Hook::PostCall,
            status: 502,
            message: "connection refused".into(),
            retry_after: None,
        };
        assert_eq!(post.to_openai().error_type, ErrorType::ApiConnection);
        assert!(
            post.to_string().contains("answer was not returned"),
            "{post}"
        );
    }

    #[test]
    fn unknown_names_are_the_callers_or_the_operators() {
        let req = GuardrailError::Unknown {
            name: "nope".into(),
            origin: "request",
            configured: "pii".into(),
        };
        assert_eq!(req.to_openai().status, 400);
        assert_eq!(req.to_openai().param.as_deref(), Some("guardrails"));
        let key = GuardrailError::Unknown {
            name: "nope".into(),
            origin: "key",
            configured: "pii".into(),
        };
        assert_eq!(key.to_openai().status, 500);
    }
}
