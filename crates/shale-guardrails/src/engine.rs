//! The [`Engine`]: the configured guardrails resolved once at load (each with its ApplyGuardrail
//! target through `shale-bedrock`, its own client so guardrail calls never count as model
//! attempts), and the calls — one check ([`Engine::apply`]), a hook's guardrails in order with
//! masks feeding the next ([`Engine::run`]), or all at once (during_call, [`Engine::run_parallel`]).
//!
//! Fail-closed policy (the one place it lives): an ApplyGuardrail call that does not give a usable
//! verdict — unreachable, timed out, 5xx, throttled, refused, unparseable, unplaceable masks — is
//! a [`GuardrailError::Unavailable`] (503 when Bedrock throttled or was unavailable, else 502)
//! and the request does not go on; only a guardrail with `fail_open: true` lets it through, and
//! that still counts as `error`. Every call reports its outcome and latency to an [`Observer`]
//! (metrics, the request's record) inside one `guardrail.apply` span.
//!
//! Must not: know HTTP routes or the client's wire format (the server's hooks do).

use crate::error::{Blocked, GuardrailError};
use crate::model::{Guardrail, Hook, Outcome};
use crate::select::Step;
use crate::text::{self, InputRules, Slot};
use crate::wire::{self, Decision};
use bytes::Bytes;
use serde_json::{Map, Value};
use shale_bedrock::{BedrockClient, BedrockError, ClientOptions, ErrorKind, TargetSpec};
use shale_config::GuardrailConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Told about every check (metrics, the request's record, the access log).
pub trait Observer: Send + Sync {
    fn ran(&self, guardrail: &Guardrail, hook: Hook, outcome: Outcome, latency: Duration);
}

/// An observer that records nothing (tests, tools).
pub struct Unobserved;

impl Observer for Unobserved {
    fn ran(&self, _: &Guardrail, _: Hook, _: Outcome, _: Duration) {}
}

/// What a hook's guardrails decided about the text they were given.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to change.
    Pass,
    /// Go on with these texts (same count and order as given).
    Masked(Vec<String>),
    /// A guardrail with `disable_exception_on_block` blocked: answer with its message instead.
    Refuse(String),
}

/// What a hook's guardrails did to a request's input (masks are already written back).
#[derive(Debug, Clone, PartialEq)]
pub enum InputVerdict {
    Pass,
    Masked,
    /// A guardrail with `disable_exception_on_block` blocked: answer with its message instead.
    Refuse(String),
}

/// The configured guardrails, resolved.
#[derive(Debug)]
pub struct Engine {
    guardrails: Vec<Arc<Guardrail>>,
    client: BedrockClient,
}

/// Why the guardrails could not be resolved at start-up.
#[derive(Debug, thiserror::Error)]
#[error("{label}: {source}")]
pub struct BuildError {
    pub label: String,
    #[source]
    pub source: BedrockError,
}

impl Engine {
    /// Resolves every guardrail (region, endpoint, credentials: built, not fetched). `workers`
    /// serving workers share the engine (one connection pool each).
    pub async fn build(configs: &[GuardrailConfig], workers: usize) -> Result<Engine, BuildError> {
        let client = BedrockClient::new(ClientOptions {
            num_retries: 0,
            workers,
            ..ClientOptions::default()
        })
        .map_err(|source| BuildError {
            label: "guardrails".into(),
            source,
        })?;
        Engine::with_client(configs, client).await
    }

    /// Like [`Engine::build`] with a given client (tests: a hermetic environment).
    pub async fn with_client(
        configs: &[GuardrailConfig],
        client: BedrockClient,
    ) -> Result<Engine, BuildError> {
        let mut guardrails = Vec::with_capacity(configs.len());
        for c in configs {
            let label = c.label();
            let a = &c.aws;
            let spec = TargetSpec {
                deployment: label.clone(),
                region: a.aws_region_name.clone(),
                runtime_endpoint: a.aws_bedrock_runtime_endpoint.clone(),
                api_key: a.api_key.clone(),
                access_key_id: a.aws_access_key_id.clone(),
                secret_access_key: a.aws_secret_access_key.clone(),
                session_token: a.aws_session_token.clone(),
                profile_name: a.aws_profile_name.clone(),
                role_name: a.aws_role_name.clone(),
                session_name: a.aws_session_name.clone(),
                external_id: a.aws_external_id.clone(),
                web_identity_token: a.aws_web_identity_token.clone(),
                sts_endpoint: a.aws_sts_endpoint.clone(),
                timeout: Some(c.timeout),
                num_retries: Some(c.num_retries),
                ..TargetSpec::default()
            };
            let target = client
                .guardrail_target(spec, &c.guardrail_identifier, &c.guardrail_version)
                .await
                .map_err(|source| BuildError {
                    label: label.clone(),
                    source,
                })?;
            guardrails.push(Arc::new(Guardrail {
                name: Arc::from(c.guardrail_name.as_str()),
                config: c.clone(),
                target,
            }));
        }
        Ok(Engine { guardrails, client })
    }

    /// Every guardrail, in config order.
    pub fn all(&self) -> &[Arc<Guardrail>] {
        &self.guardrails
    }

    /// A guardrail by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Guardrail>> {
        self.guardrails.iter().find(|g| &*g.name == name)
    }

    /// One check of `texts` by `guardrail` at `hook`, fail-closed policy applied: `Ok` is a
    /// verdict to act on (a failing fail-open guardrail passes), `Err` stops the request.
    pub async fn apply(
        &self,
        guardrail: &Guardrail,
        hook: Hook,
        texts: &[&str],
        extra_body: Option<&Map<String, Value>>,
        observer: &dyn Observer,
    ) -> Result<Verdict, GuardrailError> {
        let span = tracing::info_span!(
            target: "shale::otel",
            "guardrail.apply",
            otel.name = %format_args!("ApplyGuardrail {}", guardrail.name),
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            shale.guardrail.name = %guardrail.name,
            shale.guardrail.mode = hook.as_str(),
            shale.guardrail.identifier = %guardrail.config.guardrail_identifier,
            shale.guardrail.version = %guardrail.config.guardrail_version,
            shale.guardrail.outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .call(guardrail, hook, texts, extra_body)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(Verdict::Pass) => Outcome::Passed,
            Ok(Verdict::Masked(_)) => Outcome::Masked,
            Ok(Verdict::Refuse(_)) | Err(GuardrailError::Blocked(_)) => Outcome::Blocked,
            Err(_) => Outcome::Error,
        };
        span.record("shale.guardrail.outcome", outcome.as_str());
        if outcome == Outcome::Error {
            span.record("otel.status_code", "ERROR");
        }
        observer.ran(guardrail, hook, outcome, started.elapsed());
        match result {
            Err(GuardrailError::Unavailable { message, .. }) if guardrail.config.fail_open => {
                tracing::warn!(guardrail = %guardrail.name, mode = hook.as_str(), %message,
                    "guardrail failed and fails open: the request goes on unchecked");
                Ok(Verdict::Pass)
            }
            other => other,
        }
    }

    /// [`Engine::apply`] for one step of a plan (its guardrail, with the request's `extra_body`).
    async fn apply_step(
        &self,
        step: &Step,
        hook: Hook,
        texts: &[&str],
        observer: &dyn Observer,
    ) -> Result<Verdict, GuardrailError> {
        self.apply(
            &step.guardrail,
            hook,
            texts,
            step.extra_body.as_deref(),
            observer,
        )
        .await
    }

    /// The call and its reading, without the policy.
    async fn call(
        &self,
        g: &Guardrail,
        hook: Hook,
        texts: &[&str],
        extra_body: Option<&Map<String, Value>>,
    ) -> Result<Verdict, GuardrailError> {
        if texts.iter().all(|t| t.is_empty()) {
            return Ok(Verdict::Pass);
        }
        let source = hook.source();
        let body = Bytes::from(wire::request_body(source, texts, extra_body));
        let unavailable = |status: u16, message: String, retry_after: Option<Duration>| {
            GuardrailError::Unavailable {
                guardrail: Arc::clone(&g.name),
                hook,
                status,
                message,
                retry_after,
            }
        };
        let answer = match self.client.apply_guardrail(&g.target, body).await {
            Ok(a) => a,
            Err(e) => {
                let status = match e.kind() {
                    Some(ErrorKind::Throttling | ErrorKind::ServiceUnavailable) => 503,
                    _ => 502,
                };
                return Err(unavailable(status, e.to_string(), e.retry_after()));
            }
        };
        let parsed = wire::parse_answer(&answer.body).map_err(|m| unavailable(502, m, None))?;
        match wire::decide(&parsed, texts.len(), g.may_mask(source)) {
            Ok(Decision::Pass) => Ok(Verdict::Pass),
            Ok(Decision::Mask(masked)) => Ok(Verdict::Masked(masked)),
            Ok(Decision::Block {
                message,
                action_reason,
                assessments,
            }) => {
                if g.config.disable_exception_on_block {
                    return Ok(Verdict::Refuse(message));
                }
                Err(GuardrailError::Blocked(Box::new(Blocked {
                    guardrail_name: Arc::clone(&g.name),
                    hook,
                    guardrail_identifier: g.config.guardrail_identifier.clone(),
                    guardrail_version: g.config.guardrail_version.clone(),
                    message,
                    action_reason,
                    assessments,
                })))
            }
            Err(m) => Err(unavailable(502, m, None)),
        }
    }

    /// A hook's guardrails one after the other on `texts` (the answer: the same text for every
    /// guardrail): a mask feeds the next guardrail, the first block (or refusal) ends it.
    pub async fn run(
        &self,
        steps: &[Step],
        hook: Hook,
        texts: Vec<String>,
        observer: &dyn Observer,
    ) -> Result<Verdict, GuardrailError> {
        let mut current: Option<Vec<String>> = None;
        for step in steps {
            let verdict = {
                let view: Vec<&str> = current
                    .as_ref()
                    .unwrap_or(&texts)
                    .iter()
                    .map(String::as_str)
                    .collect();
                self.apply_step(step, hook, &view, observer).await?
            };
            match verdict {
                Verdict::Pass => {}
                Verdict::Masked(m) => current = Some(m),
                refuse @ Verdict::Refuse(_) => return Ok(refuse),
            }
        }
        Ok(current.map_or(Verdict::Pass, Verdict::Masked))
    }

    /// A hook's guardrails on the input of a request, one after the other: each reads the
    /// text its own rules select (`slots_of`: chat `messages` or an Anthropic body), and a mask
    /// is written back into `root` before the next one runs.
    pub async fn run_input(
        &self,
        steps: &[Step],
        hook: Hook,
        root: &mut Value,
        slots_of: SlotsOf,
        observer: &dyn Observer,
    ) -> Result<InputVerdict, GuardrailError> {
        let mut masked = false;
        for step in steps {
            let slots = slots_of(root, step.guardrail.input_rules());
            let verdict = {
                let texts = text::texts(root, &slots);
                self.apply_step(step, hook, &texts, observer).await?
            };
            match verdict {
                Verdict::Pass => {}
                Verdict::Masked(m) => {
                    text::write_back(root, &slots, m);
                    masked = true;
                }
                Verdict::Refuse(m) => return Ok(InputVerdict::Refuse(m)),
            }
        }
        Ok(if masked {
            InputVerdict::Masked
        } else {
            InputVerdict::Pass
        })
    }

    /// A hook's guardrails on the input all at once (during_call: the model already has the
    /// text, so a mask changes nothing and passes): the first block or failure to finish wins
    /// and the other checks are dropped. `Ok(Some(message))`: refuse with this message.
    pub async fn run_parallel(
        &self,
        steps: &[Step],
        hook: Hook,
        root: &Value,
        slots_of: SlotsOf,
        observer: &dyn Observer,
    ) -> Result<Option<String>, GuardrailError> {
        let checks = steps.iter().map(|s| {
            Box::pin(async move {
                let slots = slots_of(root, s.guardrail.input_rules());
                let texts = text::texts(root, &slots);
                match self.apply_step(s, hook, &texts, observer).await {
                    Ok(Verdict::Refuse(m)) => Err(Stop::Refuse(m)),
                    Ok(_) => Ok(()),
                    Err(e) => Err(Stop::Error(e)),
                }
            })
        });
        match futures::future::try_join_all(checks).await {
            Ok(_) => Ok(None),
            Err(Stop::Refuse(m)) => Ok(Some(m)),
            Err(Stop::Error(e)) => Err(e),
        }
    }
}

/// Where a guardrail's input text is in a request's JSON, given its rules.
pub type SlotsOf = fn(&Value, InputRules) -> Vec<Slot>;

/// [`SlotsOf`] for an OpenAI chat `messages` array.
pub fn chat_slots(root: &Value, rules: InputRules) -> Vec<Slot> {
    text::chat_input_slots(root, rules)
}

/// [`SlotsOf`] for an Anthropic Messages body.
pub fn anthropic_slots(root: &Value, rules: InputRules) -> Vec<Slot> {
    match root.as_object() {
        Some(body) => text::anthropic_input_slots(body, rules),
        None => Vec::new(),
    }
}

enum Stop {
    Refuse(String),
    Error(GuardrailError),
}
