//! The per-request record every part of the gateway reports into, and the task-local that lets
//! code deep in a handler reach it without threading it through every signature.
//!
//! A request's record is created by the server's observing middleware, filled while the request
//! runs (deployment, tokens, upstream time …) and finished exactly once: when the response is
//! complete, or for streams when the stream ends. Nothing here does I/O.

use crate::cost::TokenUsage;
use crate::labels::KeyLabels;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What is known about one request. Filled in place; read once when it finishes.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    pub request_id: String,
    pub method: String,
    pub path: String,
    /// The route template the request matched (the metrics' `route` label, interned by
    /// [`crate::labels::route`]); `None` outside a routed request.
    pub route: Option<Arc<str>>,
    /// Size of the request body once read (a virtual key's tpm reservation is estimated from it).
    pub request_bytes: u64,
    /// The `model` the client asked for.
    pub requested_model: Option<String>,
    /// Index of the deployment that served it (position in `model_list`).
    pub deployment: Option<usize>,
    /// The calling key's labels; `None` for the master key (or no key).
    pub key: Option<KeyLabels>,
    /// Status sent to the client (for a stream that failed midway: still 200).
    pub status: u16,
    /// The error came from Bedrock (vs. the gateway refusing the request).
    pub upstream_error: bool,
    /// The failure's message class (`Bedrock.RateLimitError` …), set when the request failed.
    pub error_class: Option<&'static str>,
    pub usage: Option<TokenUsage>,
    /// USD; `None` when the deployment has no price.
    pub cost: Option<f64>,
    /// Time waiting on Bedrock.
    pub upstream: Option<Duration>,
    /// Time to the first streamed chunk.
    pub ttft: Option<Duration>,
    /// Gateway time outside the Bedrock call, as reported in `x-shale-overhead-ms`.
    pub overhead: Option<Duration>,
    /// Bedrock attempts (1 + retries).
    pub attempts: u32,
    /// Fallbacks to another model group taken by the router.
    pub fallbacks: u32,
    /// The router reported this request's failed attempts, so metrics counted each against its
    /// deployment already ([`crate::Metrics::attempt_failed`]).
    pub attempts_counted: bool,
    pub stream: bool,
    /// Finish reasons of the answer (`stop`, `length`, `tool_calls` …).
    pub finish_reasons: Vec<String>,
    /// Bedrock model id called (for traces).
    pub response_model: Option<String>,
    /// Prompts and completions may be put on the trace (the operator asked for it).
    pub capture_content: bool,
    /// The `bedrock.attempt` span of the attempt that answered (only while traces are exported):
    /// kept open until the request finishes, when it gets the answer's usage, finish reasons and
    /// response model ([`crate::otel::finish_server_span`]).
    pub attempt_span: Option<tracing::Span>,
    /// A Bedrock call failed for want of AWS credentials: the kind of source that failed.
    pub credential_failure: Option<&'static str>,
    /// The guardrails that ran, one entry per guardrail and hook (never any checked text).
    pub guardrails: Vec<GuardrailRun>,
    /// What the response cache did; `None` when it did not look at the request.
    pub cache: Option<CacheOutcome>,
}

/// What one guardrail did at one hook of a request (a stream's windows are summed into one).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailRun {
    pub name: Arc<str>,
    /// `pre_call`, `during_call`, `post_call`.
    pub mode: &'static str,
    /// `passed`, `masked`, `error` or `blocked` (the most severe of its checks).
    pub outcome: &'static str,
    /// Time spent in its ApplyGuardrail calls.
    pub latency: Duration,
}

/// Outcomes from least to most severe.
const OUTCOMES: [&str; 4] = ["passed", "masked", "error", "blocked"];

impl RequestRecord {
    /// Notes one guardrail check: a new entry, or the guardrail's entry for this mode updated
    /// (latency added, the more severe outcome kept).
    pub fn note_guardrail(
        &mut self,
        name: &Arc<str>,
        mode: &'static str,
        outcome: &'static str,
        latency: Duration,
    ) {
        let rank = |o: &str| OUTCOMES.iter().position(|x| *x == o).unwrap_or(0);
        match self
            .guardrails
            .iter_mut()
            .find(|g| g.mode == mode && g.name == *name)
        {
            Some(g) => {
                g.latency += latency;
                if rank(outcome) > rank(g.outcome) {
                    g.outcome = outcome;
                }
            }
            None => self.guardrails.push(GuardrailRun {
                name: Arc::clone(name),
                mode,
                outcome,
                latency,
            }),
        }
    }

    /// `name:mode:outcome` of every guardrail that ran, comma-joined (access log), or "".
    pub fn guardrails_summary(&self) -> String {
        let mut out = String::new();
        for (i, g) in self.guardrails.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&g.name);
            out.push(':');
            out.push_str(g.mode);
            out.push(':');
            out.push_str(g.outcome);
        }
        out
    }
}

/// The response cache's part in one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheOutcome {
    /// Entries served from the cache (a whole answer is one; embeddings count per input item).
    pub hits: u32,
    /// Lookups that found nothing usable.
    pub misses: u32,
    /// The whole answer came from the cache (no Bedrock call, cost 0).
    pub hit: bool,
    /// The key of the answer (`x-litellm-cache-key`).
    pub key: Option<String>,
    /// Usage of the calls whose stored answers were served (`litellm_cached_tokens_metric`).
    pub cached_usage: TokenUsage,
}

impl CacheOutcome {
    /// `hit`, `partial` (some embeddings items), `miss` or `bypass` (the cache stayed out).
    pub fn status(&self) -> &'static str {
        if self.hit {
            "hit"
        } else if self.hits > 0 {
            "partial"
        } else if self.misses > 0 {
            "miss"
        } else {
            "bypass"
        }
    }
}

/// A request in flight: its start time and its record.
#[derive(Debug)]
pub struct RequestCell {
    pub started: Instant,
    record: Mutex<RequestRecord>,
}

impl RequestCell {
    pub fn new(record: RequestRecord) -> Arc<RequestCell> {
        Arc::new(RequestCell {
            started: Instant::now(),
            record: Mutex::new(record),
        })
    }

    /// The record, for filling in. Never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, RequestRecord> {
        self.record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The record as it stands, taken out of the cell (which is left with a default record),
    /// with its total latency. For the one place that finishes the request: nothing reads the
    /// cell after that, so it need not be copied.
    pub fn take(&self) -> (RequestRecord, Duration) {
        (std::mem::take(&mut *self.lock()), self.started.elapsed())
    }
}

tokio::task_local! {
    static CURRENT: Arc<RequestCell>;
}

/// Runs `fut` with `cell` as the current request (see [`with_current`]).
/// Not an `async fn`: that would keep a second copy of `fut` in its own state.
pub fn scope<F: Future>(cell: Arc<RequestCell>, fut: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(cell, fut)
}

/// The current request, if the code runs inside [`scope`] (streams keep this handle to report
/// when they end, outside the scope).
pub fn current() -> Option<Arc<RequestCell>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Fills in the current request's record; does nothing outside a request.
pub fn with_current(f: impl FnOnce(&mut RequestRecord)) {
    let _ = CURRENT.try_with(|cell| f(&mut cell.lock()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_inside_the_scope_only() {
        with_current(|r| r.attempts = 9); // no request: ignored
        let cell = RequestCell::new(RequestRecord::default());
        scope(Arc::clone(&cell), async {
            with_current(|r| r.attempts += 1);
            assert!(current().is_some());
        })
        .await;
        assert_eq!(cell.lock().attempts, 1);
        assert!(current().is_none());
    }

    #[test]
    fn guardrail_checks_of_one_hook_add_up() {
        let mut r = RequestRecord::default();
        let name: Arc<str> = "pii".into();
        r.note_guardrail(&name, "pre_call", "masked", Duration::from_millis(3));
        r.note_guardrail(&name, "post_call", "passed", Duration::from_millis(2));
        r.note_guardrail(&name, "post_call", "blocked", Duration::from_millis(2));
        r.note_guardrail(&name, "post_call", "passed", Duration::from_millis(2));
        assert_eq!(r.guardrails.len(), 2);
        assert_eq!(r.guardrails[1].outcome, "blocked");
        assert_eq!(r.guardrails[1].latency, Duration::from_millis(6));
        assert_eq!(
            r.guardrails_summary(),
            "pii:pre_call:masked,pii:post_call:blocked"
        );
    }
}
