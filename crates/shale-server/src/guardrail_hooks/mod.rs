//! The guardrail hooks of the model pipelines (chat — also `/completions` and `/v1/responses` —
//! and `/v1/messages`): thin glue between the handlers and `shale-guardrails`.
//!
//! Per request: [`chat_input`] / [`messages_input`] take the request's `guardrails` out of its
//! body (so Bedrock never sees them), plan which guardrails run (default_on, the request's, the
//! key's and team's), admit the virtual key first (so budgets and limits are checked before any
//! guardrail is paid for), run pre_call (blocking, or masking the input in place) and hand back a
//! [`RequestGuard`]; [`during`] runs during_call next to the routed model call and releases the
//! answer only once it passed (a block drops the model call); the post_call hooks check a complete
//! answer ([`post_completion`], [`post_message`]) or wrap the stream ([`stream`]). Every check is
//! reported to Prometheus and to the request's record (access log, spend log, the
//! `x-litellm-applied-guardrails` header written by `observe.rs`).
//!
//! With no guardrail for a request, each hook is one branch. Must not: decide what a guardrail
//! verdict means (that is `shale-guardrails`), or render errors (`error.rs`,
//! `anthropic_error.rs`).

pub mod stream;

use crate::error::ApiError;
use crate::response::json_response;
use crate::routing::Hints;
use crate::sse::event_stream_response;
use crate::state::AppState;
use axum::body::Body;
use axum::response::Response;
use bytes::BytesMut;
use futures::future::Either;
use serde_json::{Map, Value};
use shale_guardrails::chunks::AnthropicProgress;
use shale_guardrails::{
    anthropic_slots, chat_slots, text, Engine, Guardrail, Hook, InputVerdict, Observer, Outcome,
    Plan, Requested, SlotsOf, Step, Verdict, WindowSizes,
};
use shale_telemetry::record::{self, RequestCell};
use shale_telemetry::Telemetry;
use shale_translate::messages::new_message_id;
use shale_translate::{ChatCompletion, ChatRequest};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reports each check to the metrics and to the request's record.
pub(crate) struct Report {
    telemetry: Arc<Telemetry>,
    cell: Option<Arc<RequestCell>>,
}

impl Report {
    /// For the current request (call inside the request's scope; a stream keeps it).
    pub(crate) fn here(state: &AppState) -> Report {
        Report {
            telemetry: Arc::clone(&state.telemetry),
            cell: record::current(),
        }
    }
}

impl Observer for Report {
    fn ran(&self, g: &Guardrail, hook: Hook, outcome: Outcome, latency: Duration) {
        if let Some(m) = self.telemetry.metrics() {
            m.guardrail(&g.name, hook.as_str(), outcome.as_str(), latency);
        }
        if let Some(cell) = &self.cell {
            cell.lock()
                .note_guardrail(&g.name, hook.as_str(), outcome.as_str(), latency);
        }
    }
}

/// The guardrails of one request that has some.
pub struct RequestGuard {
    engine: Arc<Engine>,
    plan: Plan,
    /// The input as the model gets it (after pre_call), for during_call.
    input: Value,
    slots_of: SlotsOf,
}

/// How a request goes on after its pre_call guardrails.
pub enum Start {
    /// Call the model (with the guardrails still to run, if any).
    Go(Option<RequestGuard>),
    /// A guardrail with `disable_exception_on_block` blocked: answer with its message, without
    /// calling the model.
    Refuse(String),
}

/// Which guardrails run for this request (`None`: none — the usual case, one branch when the
/// config has none and nothing asks for one).
fn plan_for(state: &AppState, requested: &[Requested]) -> Result<Option<Plan>, ApiError> {
    if state.guardrails.is_none() && state.keys.is_none() && requested.is_empty() {
        // No guardrail configured, asked for, or stored on a key: nothing to do.
        return Ok(None);
    }
    let principal = crate::keygate::principal();
    let (key, team): (&[String], &[String]) = match &principal {
        Some(p) => (&p.guardrails, &p.team_guardrails),
        None => (&[], &[]),
    };
    let all = state.guardrails.as_ref().map_or(&[][..], |e| e.all());
    if all.is_empty() && requested.is_empty() && key.is_empty() && team.is_empty() {
        return Ok(None);
    }
    let plan = shale_guardrails::plan(all, requested, key, team)?;
    Ok((!plan.is_empty()).then_some(plan))
}

/// Whether a guardrail may run for this request: a `default_on` guardrail, one on the caller's
/// key or team, or a body that names `guardrails` at all (conservative: it is not parsed). The
/// response cache stays out of such requests, so a stored answer never skips a guardrail.
pub fn may_apply(state: &AppState, body: &[u8]) -> bool {
    if state
        .guardrails
        .as_ref()
        .is_some_and(|e| e.all().iter().any(|g| g.config.default_on))
    {
        return true;
    }
    if let Some(p) = crate::keygate::principal() {
        if !p.guardrails.is_empty() || !p.team_guardrails.is_empty() {
            return true;
        }
    }
    const NAME: &[u8] = b"guardrails";
    body.windows(NAME.len()).any(|w| w == NAME)
}

/// Admits the key, then runs pre_call on `root` (masks written back in place); `root` is only
/// needed (and only given) when pre_call or during_call guardrails run. `Ok((start, masked))`.
async fn start(
    state: &AppState,
    hints: &Hints,
    plan: Plan,
    root: Option<&mut Value>,
    slots_of: SlotsOf,
) -> Result<(Start, bool), ApiError> {
    let Some(engine) = state.guardrails.clone() else {
        return Err(ApiError::Internal(
            "guardrails planned without an engine".into(),
        ));
    };
    // Budgets, limits and model scope before any guardrail is paid for (routing::run's own
    // admission then sees the request admitted).
    crate::keygate::admit(state, &hints.model, hints.est_tokens).await?;
    let mut masked = false;
    let mut input = Value::Null;
    if let Some(root) = root {
        if !plan.pre.is_empty() {
            let report = Report::here(state);
            match engine
                .run_input(&plan.pre, Hook::PreCall, root, slots_of, &report)
                .await?
            {
                InputVerdict::Pass => {}
                InputVerdict::Masked => masked = true,
                InputVerdict::Refuse(m) => return Ok((Start::Refuse(m), false)),
            }
        }
        if !plan.during.is_empty() {
            input = root.clone();
        }
    }
    let guard = RequestGuard {
        engine,
        plan,
        input,
        slots_of,
    };
    Ok((Start::Go(Some(guard)), masked))
}

/// Whether a plan reads the request's input (pre_call or during_call).
fn reads_input(plan: &Plan) -> bool {
    !plan.pre.is_empty() || !plan.during.is_empty()
}

/// The chat pipeline's pre_call hook (`/chat/completions`, `/completions`, `/responses`).
pub async fn chat_input(
    state: &AppState,
    hints: &Hints,
    request: &mut ChatRequest,
) -> Result<Start, ApiError> {
    let requested = if request.extra.is_empty() {
        Vec::new()
    } else {
        shale_guardrails::take_requested(&mut request.extra)?
    };
    let Some(plan) = plan_for(state, &requested)? else {
        return Ok(Start::Go(None));
    };
    let mut messages = if reads_input(&plan) {
        Some(
            serde_json::to_value(&request.messages)
                .map_err(|e| ApiError::Internal(format!("messages do not serialise: {e}")))?,
        )
    } else {
        None
    };
    // Boxed: the guardrail calls' futures stay off the chat pipeline's own future.
    let (start, masked) =
        Box::pin(start(state, hints, plan, messages.as_mut(), chat_slots)).await?;
    if let (true, Some(m)) = (masked, messages) {
        request.messages = serde_json::from_value(m).map_err(|e| {
            ApiError::Internal(format!("masked messages are not chat messages: {e}"))
        })?;
    }
    Ok(start)
}

/// The Messages API's pre_call hook (`litellm_metadata.guardrails` or `guardrails` in the body).
pub async fn messages_input(
    state: &AppState,
    hints: &Hints,
    body: &mut Map<String, Value>,
) -> Result<Start, ApiError> {
    let requested = shale_guardrails::take_requested(body)?;
    let Some(plan) = plan_for(state, &requested)? else {
        return Ok(Start::Go(None));
    };
    if !reads_input(&plan) {
        return Ok(Box::pin(start(state, hints, plan, None, anthropic_slots))
            .await?
            .0);
    }
    let mut root = Value::Object(std::mem::take(body));
    let result = Box::pin(start(state, hints, plan, Some(&mut root), anthropic_slots)).await;
    if let Value::Object(m) = root {
        *body = m;
    }
    Ok(result?.0)
}

/// `/v1/responses` keeps `metadata` typed (it is echoed, never sent on): its `guardrails` move to
/// the chat request the Responses API becomes, where [`chat_input`] finds them.
pub fn responses_metadata(metadata: &mut Option<Value>, extra: &mut Map<String, Value>) {
    let taken = metadata
        .as_mut()
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("guardrails"));
    if let Some(guardrails) = taken {
        extra.insert(
            "metadata".into(),
            serde_json::json!({ "guardrails": guardrails }),
        );
    }
}

/// Runs during_call next to `routed` (the model call): the answer is released once every
/// during_call guardrail passed; a block (or a failure to decide) drops the model call — or,
/// if it already answered, its answer (a stream not yet read is cancelled). `refuse` builds the
/// answer of a guardrail with `disable_exception_on_block`.
pub async fn during<F, R>(
    state: &AppState,
    guard: Option<&RequestGuard>,
    routed: F,
    refuse: R,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Response, ApiError>>,
    R: FnOnce(&str) -> Response,
{
    let Some(g) = guard.filter(|g| !g.plan.during.is_empty()) else {
        return routed.await;
    };
    let report = Report::here(state);
    let check = g.engine.run_parallel(
        &g.plan.during,
        Hook::DuringCall,
        &g.input,
        g.slots_of,
        &report,
    );
    let (check, routed) = (Box::pin(check), Box::pin(routed));
    let verdict = match futures::future::select(check, routed).await {
        Either::Left((verdict, routed)) => match verdict? {
            None => return routed.await,
            Some(message) => message,
        },
        Either::Right((answer, check)) => {
            let answer = answer?;
            match check.await? {
                None => return Ok(answer),
                Some(message) => message,
            }
        }
    };
    Ok(refuse(&verdict))
}

impl RequestGuard {
    /// Post_call guardrails run on the answer.
    pub fn checks_output(&self) -> bool {
        !self.plan.post.is_empty()
    }

    /// What a post_call stream needs (owned: the stream outlives the handler). Notes the
    /// post_call guardrails on the request's record now, so the applied-guardrails header
    /// (sent before the stream) names them; each window check updates their outcome.
    pub(crate) fn post_stream(&self, state: &AppState) -> Option<stream::PostStream> {
        if self.plan.post.is_empty() {
            return None;
        }
        record::with_current(|r| {
            for s in &self.plan.post {
                r.note_guardrail(
                    &s.guardrail.name,
                    Hook::PostCall.as_str(),
                    "passed",
                    Duration::ZERO,
                );
            }
        });
        Some(stream::PostStream {
            engine: Arc::clone(&self.engine),
            steps: self.plan.post.clone(),
            sizes: combined_sizes(&self.plan.post),
            report: Report::here(state),
        })
    }
}

/// One window for every post_call guardrail of a stream: the smallest windows (the most
/// frequent checks), the largest overlap; any guardrail checking only at the end makes it so.
fn combined_sizes(steps: &[Step]) -> WindowSizes {
    let all: Vec<WindowSizes> = steps.iter().map(|s| s.guardrail.window_sizes()).collect();
    let overlap = all.iter().map(|s| s.overlap).max().unwrap_or(0);
    let whole = all.iter().any(|s| s.window == 0);
    let smallest =
        |f: fn(&WindowSizes) -> usize| all.iter().map(f).min().unwrap_or(0).max(overlap + 1);
    WindowSizes {
        first: smallest(|s| s.first),
        window: if whole { 0 } else { smallest(|s| s.window) },
        overlap,
    }
}

/// post_call on a complete chat answer: masks replace its text, a refusal its content.
pub async fn post_completion(
    state: &AppState,
    guard: &RequestGuard,
    completion: &mut ChatCompletion,
) -> Result<(), ApiError> {
    let found = text::completion_texts(completion);
    let positions: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
    let texts: Vec<String> = found.into_iter().map(|(_, t)| t.to_owned()).collect();
    let report = Report::here(state);
    match guard
        .engine
        .run(&guard.plan.post, Hook::PostCall, texts, &report)
        .await?
    {
        Verdict::Pass => {}
        Verdict::Masked(m) => text::mask_completion(completion, &positions, m),
        Verdict::Refuse(message) => text::refuse_completion(completion, &message),
    }
    Ok(())
}

/// post_call on a complete Anthropic message (its JSON bytes in, the checked bytes out).
pub async fn post_message(
    state: &AppState,
    guard: &RequestGuard,
    json: Vec<u8>,
) -> Result<Vec<u8>, ApiError> {
    let mut message: Value = serde_json::from_slice(&json)
        .map_err(|e| ApiError::Internal(format!("the answer is not JSON: {e}")))?;
    let slots = text::anthropic_output_slots(&message);
    let texts: Vec<String> = text::texts(&message, &slots)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let report = Report::here(state);
    match guard
        .engine
        .run(&guard.plan.post, Hook::PostCall, texts, &report)
        .await?
    {
        Verdict::Pass => return Ok(json),
        Verdict::Masked(m) => text::write_back(&mut message, &slots, m),
        Verdict::Refuse(m) => text::refuse_anthropic(&mut message, &m),
    }
    Ok(serde_json::to_vec(&message).unwrap_or(json))
}

/// The answer to a Messages API request a guardrail refused before the model answered
/// (`disable_exception_on_block`): the guardrail's message and `stop_reason: refusal`, streamed
/// when the request streams.
pub fn messages_refusal(model: &str, stream: bool, message: &str) -> Response {
    let id = new_message_id();
    if stream {
        let mut out = BytesMut::new();
        for e in AnthropicProgress::new(model).refusal(&id, message) {
            crate::routes::messages_stream::write_event(&mut out, &e.event, &e.data);
        }
        return event_stream_response(Body::from(out.freeze()));
    }
    let body =
        serde_json::to_vec(&text::refusal_message(&id, model, message)).expect("JSON serialises");
    json_response(body, Instant::now(), Duration::ZERO)
}

/// 400 unless every name is a configured guardrail (`/key/*` and `/team/*` bodies).
pub fn check_names(state: &AppState, names: Option<&Vec<String>>) -> Result<(), ApiError> {
    let Some(names) = names else { return Ok(()) };
    let all = state.guardrails.as_ref().map_or(&[][..], |e| e.all());
    match names
        .iter()
        .find(|n| !all.iter().any(|g| &*g.name == n.as_str()))
    {
        Some(name) => Err(shale_guardrails::unknown(all, name, "request").into()),
        None => Ok(()),
    }
}
