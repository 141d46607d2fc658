//! Counting Bedrock attempts per request: a `tracing` layer that sees only the
//! `bedrock.attempt` spans the Bedrock client opens (one per attempt) and adds one to the current
//! request's record for each. It is installed whether or not traces are exported, so the access
//! log and spans report retries either way; it sees no other span or event.

use crate::otel::SPAN_TARGET;
use crate::record;
use crate::span_filter::CallsiteFilter;
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The span name the Bedrock client gives each attempt.
pub const ATTEMPT_SPAN: &str = "bedrock.attempt";

/// Adds one to the current request's `attempts` for every attempt span.
pub struct AttemptCounter;

impl<S: Subscriber> Layer<S> for AttemptCounter {
    fn on_new_span(&self, _attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        record::with_current(|r| r.attempts += 1);
    }
}

/// The counter, filtered to the attempt spans (decided once per callsite).
pub fn layer<S>() -> Filtered<AttemptCounter, CallsiteFilter, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    AttemptCounter.with_filter(CallsiteFilter::new(|meta| {
        meta.is_span() && meta.target() == SPAN_TARGET && meta.name() == ATTEMPT_SPAN
    }))
}
