//! One probe: send a deployment's [`ProbePlan`] through the gateway's Bedrock client (the same
//! targets, credentials and connection pools as client requests, one attempt, within the
//! deployment's `health_check_timeout`) and turn the outcome into a [`ProbeResult`] — the record
//! every replica shares.
//!
//! Probes run outside any client request: nothing here touches the access log, spend or the
//! request metrics.
//!
//! Must not: retry (one probe per deployment per interval is the point) or put credentials in a
//! result (Bedrock's error messages never carry them).

use super::plan::{ProbeCall, ProbeKind, ProbePlan};
use serde::{Deserialize, Serialize};
use shale_bedrock::{BedrockClient, BedrockError, ErrorKind, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One deployment to probe, taken from the current model table each interval.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `model_info.id` (or the generated id the router uses).
    pub id: Arc<str>,
    pub model_name: String,
    /// `litellm_params.model`.
    pub model: String,
    /// The endpoint URL the probe goes to.
    pub api_base: String,
    pub region: String,
    /// `model_info.health_check_timeout`, else 60 s.
    pub timeout: Duration,
    pub target: Target,
    pub plan: ProbePlan,
}

/// The outcome of one probe, as every replica sees it (serialised into Redis as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub model_id: String,
    pub model_name: String,
    pub model: String,
    pub api_base: String,
    /// The probe kind's label (`count_tokens`, `chat`, …).
    pub probe: String,
    pub healthy: bool,
    /// What failed (Bedrock's exception and message, or the connection error).
    pub error: Option<String>,
    /// The HTTP status of the failure (LiteLLM's `exception_status`), when there was one.
    pub exception_status: Option<u16>,
    /// Unix milliseconds the probe ended.
    pub checked_at_ms: u64,
    pub latency_ms: u64,
    /// The replica that probed (host:pid).
    pub checked_by: String,
    /// The failure took the deployment out of rotation (`enable_health_check_routing`).
    #[serde(default)]
    pub cooled_down: bool,
}

/// A probe's outcome, and whether it learned that the model cannot count tokens.
pub struct Outcome {
    pub result: ProbeResult,
    pub no_count_tokens: bool,
}

async fn send(
    client: &BedrockClient,
    target: &Target,
    call: &ProbeCall,
) -> Result<(), BedrockError> {
    match call {
        ProbeCall::Runtime { op, body, headers } => client
            .call(target, *op, body.clone(), headers)
            .await
            .map(|_| ()),
        ProbeCall::AgentRerank { body } => client.rerank(target, body.clone()).await.map(|_| ()),
    }
}

/// A plain `ValidationException` (400): the request was authenticated and authorised, only its
/// body was refused. An "invalid model identifier" validation error is not one of these.
fn is_plain_validation(e: &BedrockError) -> bool {
    matches!(e.kind(), Some(ErrorKind::Validation)) && e.http_status() == 400
}

/// Probes one deployment. `skip_count_tokens`: the model is known not to count tokens, so a
/// CountTokens plan goes straight to its chat fallback.
pub async fn run(
    client: &BedrockClient,
    subject: &Subject,
    replica: &str,
    skip_count_tokens: bool,
) -> Outcome {
    let plan = &subject.plan;
    let started = Instant::now();
    let mut kind = plan.kind;
    let mut no_count_tokens = false;
    let attempt = async {
        if kind == ProbeKind::CountTokens && skip_count_tokens {
            if let Some(fallback) = &plan.fallback {
                kind = ProbeKind::Chat;
                return send(client, &subject.target, fallback).await;
            }
        }
        match send(client, &subject.target, &plan.call).await {
            Err(e) if kind == ProbeKind::CountTokens && is_plain_validation(&e) => {
                match &plan.fallback {
                    Some(fallback) => {
                        no_count_tokens = true;
                        kind = ProbeKind::Chat;
                        send(client, &subject.target, fallback).await
                    }
                    None => Err(e),
                }
            }
            Err(e) if kind == ProbeKind::Access && is_plain_validation(&e) => Ok(()),
            other => other,
        }
    };
    let outcome = tokio::time::timeout(subject.timeout, attempt).await;
    let (healthy, error, status) = match outcome {
        Ok(Ok(())) => (true, None, None),
        Ok(Err(e)) => (false, Some(e.to_string()), Some(e.http_status())),
        Err(_) => (
            false,
            Some(format!(
                "Health check timeout exceeded ({} s)",
                subject.timeout.as_secs_f64()
            )),
            Some(408),
        ),
    };
    Outcome {
        result: ProbeResult {
            model_id: subject.id.to_string(),
            model_name: subject.model_name.clone(),
            model: subject.model.clone(),
            api_base: subject.api_base.clone(),
            probe: kind.label().to_string(),
            healthy,
            error,
            exception_status: status,
            checked_at_ms: crate::now_ms(),
            latency_ms: started.elapsed().as_millis() as u64,
            checked_by: replica.to_string(),
            cooled_down: false,
        },
        no_count_tokens,
    }
}
