//! Counting Bedrock attempts per request: the Bedrock client calls [`count_attempt`] as each
//! attempt starts (`ClientOptions::on_attempt`), on the request's own task, and it adds one to the
//! current request's record. The access log and the server span report retries from that count,
//! whether or not traces are exported. It is a plain function on purpose: counting through the
//! attempt's `tracing` span made every attempt build a span in the registry even when nothing
//! exported it (~5,000 instructions per request, `bench/results/profile.md`). The attempt-span
//! hooks ([`request_operation`], [`keep_answered_span`]) run only while traces are exported.

use crate::record;

/// Adds one to the current request's `attempts` (nothing outside a request).
pub fn count_attempt() {
    record::with_current(|r| r.attempts += 1);
}

/// The current request's `gen_ai.operation.name` (from its path), if inside a request: the
/// Bedrock client's attempt-span hook (`AttemptSpanHooks::operation`, called only while traces
/// are exported) names the attempt span after it.
pub fn request_operation() -> Option<&'static str> {
    let mut operation = None;
    record::with_current(|r| operation = Some(crate::otel::operation_name(&r.path)));
    operation
}

/// Keeps the span of the attempt that answered the current request (a later one replaces it)
/// until the request finishes (`AttemptSpanHooks::answered`).
pub fn keep_answered_span(span: &tracing::Span) {
    record::with_current(|r| r.attempt_span = Some(span.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RequestCell, RequestRecord};
    use std::sync::Arc;

    #[tokio::test]
    async fn counts_only_inside_a_request() {
        count_attempt();
        let cell = RequestCell::new(RequestRecord::default());
        record::scope(Arc::clone(&cell), async {
            count_attempt();
            count_attempt();
        })
        .await;
        assert_eq!(cell.lock().attempts, 2);
    }

    #[tokio::test]
    async fn hooks_read_and_fill_the_current_request() {
        assert_eq!(request_operation(), None, "no request");
        let cell = RequestCell::new(RequestRecord {
            path: "/v1/embeddings".into(),
            ..RequestRecord::default()
        });
        record::scope(Arc::clone(&cell), async {
            assert_eq!(request_operation(), Some("embeddings"));
            keep_answered_span(&tracing::Span::none());
        })
        .await;
        assert!(cell.lock().attempt_span.is_some());
    }
}
