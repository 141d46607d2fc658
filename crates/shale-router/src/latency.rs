//! Per-deployment latency as a moving average (LiteLLM's `latency-based-routing`): total time for
//! plain calls, time to first token for streams. Samples older than the TTL are forgotten.
//! Kept in this replica's memory: each replica measures what it sees.

/// Weight of a new sample in the moving average.
const ALPHA: f64 = 0.3;

/// The moving average of one deployment.
#[derive(Debug, Clone, Copy)]
pub struct LatencyStats {
    avg_ms: f64,
    last_ms: u64,
    ttl_ms: u64,
}

impl LatencyStats {
    pub fn new(sample_ms: f64, now_ms: u64, ttl_ms: u64) -> LatencyStats {
        LatencyStats {
            avg_ms: sample_ms,
            last_ms: now_ms,
            ttl_ms,
        }
    }

    /// Adds a sample (a stale average restarts from it).
    pub fn add(&mut self, sample_ms: f64, now_ms: u64) {
        if self.average(now_ms).is_none() {
            self.avg_ms = sample_ms;
        } else {
            self.avg_ms = ALPHA * sample_ms + (1.0 - ALPHA) * self.avg_ms;
        }
        self.last_ms = now_ms;
    }

    /// The average, unless the last sample is older than the TTL.
    pub fn average(&self, now_ms: u64) -> Option<f64> {
        (now_ms.saturating_sub(self.last_ms) <= self.ttl_ms).then_some(self.avg_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_towards_new_samples_and_expires() {
        let mut s = LatencyStats::new(100.0, 0, 1000);
        s.add(200.0, 10);
        assert_eq!(s.average(10), Some(130.0));
        assert_eq!(s.average(1011), None);
        s.add(50.0, 2000);
        assert_eq!(s.average(2000), Some(50.0));
    }
}
