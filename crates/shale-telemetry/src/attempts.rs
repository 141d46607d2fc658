//! Counting Bedrock attempts per request: the Bedrock client calls [`count_attempt`] as each
//! attempt starts (`ClientOptions::on_attempt`), on the request's own task, and it adds one to the
//! current request's record. The access log and the server span report retries from that count,
//! whether or not traces are exported. It is a plain function on purpose: counting through the
//! attempt's `tracing` span made every attempt build a span in the registry even when nothing
//! exported it (~5,000 instructions per request, `bench/results/profile.md`).

use crate::record;

/// Adds one to the current request's `attempts` (nothing outside a request).
pub fn count_attempt() {
    record::with_current(|r| r.attempts += 1);
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
}
