//! Summary statistics of a sample of durations: nearest-rank percentiles, mean and max.

use serde::Serialize;

/// Percentiles of one measured quantity, in the sample's unit (µs or ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// Summarises `samples` (sorted in place); `None` when there is none.
pub fn summarize(samples: &mut [f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let sum: f64 = samples.iter().sum();
    Some(Summary {
        n: samples.len(),
        p50: percentile(samples, 50.0),
        p90: percentile(samples, 90.0),
        p99: percentile(samples, 99.0),
        p999: percentile(samples, 99.9),
        max: samples[samples.len() - 1],
        mean: sum / samples.len() as f64,
    })
}

/// Nearest-rank percentile of an already sorted, non-empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = summarize(&mut v).unwrap();
        assert_eq!(s.n, 100);
        assert_eq!(s.p50, 50.0);
        assert_eq!(s.p90, 90.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.p999, 100.0);
        assert_eq!(s.max, 100.0);
        assert_eq!(s.mean, 50.5);
    }

    #[test]
    fn single_sample_and_empty() {
        assert_eq!(summarize(&mut [7.0]).unwrap().p50, 7.0);
        assert_eq!(summarize(&mut [7.0]).unwrap().p999, 7.0);
        assert!(summarize(&mut []).is_none());
    }
}
