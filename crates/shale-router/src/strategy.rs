//! The routing strategies: each turns the candidates of a group into an order of preference.
//! The state then admits the first one that is not cooling down and has room under its limits.
//! Pure functions over a snapshot; the random source is passed in so tests are deterministic.

use crate::latency::LatencyStats;
use rand::Rng;
use shale_config::RoutingStrategy;

/// What the state knows about one deployment right now (for Redis: as of this replica's last
/// round trip).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    /// Requests in flight (all replicas).
    pub in_flight: u64,
    /// Requests this minute.
    pub rpm_used: u64,
    /// Tokens this minute.
    pub tpm_used: u64,
    /// Cooling down now.
    pub cooling: bool,
}

/// One candidate for ordering.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub weight: f64,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub view: View,
    /// Moving-average latency in ms (None: no recent sample).
    pub latency_ms: Option<f64>,
}

/// Orders `cands` (returns positions into it, best first).
pub fn order(
    strategy: RoutingStrategy,
    cands: &[Candidate],
    latency_buffer: f64,
    rng: &mut impl Rng,
) -> Vec<usize> {
    match strategy {
        RoutingStrategy::SimpleShuffle => weighted_shuffle(cands, rng),
        RoutingStrategy::LeastBusy => by_key(cands, rng, |c| c.view.in_flight as f64),
        RoutingStrategy::UsageBased => by_key(cands, rng, usage_score),
        RoutingStrategy::LatencyBased => by_latency(cands, latency_buffer, rng),
    }
}

/// Weighted random order without replacement (each position drawn by weight among the rest).
fn weighted_shuffle(cands: &[Candidate], rng: &mut impl Rng) -> Vec<usize> {
    let mut rest: Vec<usize> = (0..cands.len()).collect();
    let mut out = Vec::with_capacity(cands.len());
    while !rest.is_empty() {
        let total: f64 = rest.iter().map(|&i| cands[i].weight).sum();
        let mut point = if total > 0.0 {
            rng.gen_range(0.0..total)
        } else {
            0.0
        };
        let mut pick = rest.len() - 1;
        for (k, &i) in rest.iter().enumerate() {
            if point < cands[i].weight {
                pick = k;
                break;
            }
            point -= cands[i].weight;
        }
        out.push(rest.swap_remove(pick));
    }
    out
}

/// Ascending by `key`, ties in random order.
fn by_key(cands: &[Candidate], rng: &mut impl Rng, key: impl Fn(&Candidate) -> f64) -> Vec<usize> {
    let mut idx = shuffled(cands.len(), rng);
    idx.sort_by(|&a, &b| key(&cands[a]).total_cmp(&key(&cands[b])));
    idx
}

fn shuffled(n: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        idx.swap(i, j);
    }
    idx
}

/// Current-minute usage against the limits (the fuller limit counts); without limits, tokens
/// used this minute (scaled down so any limited deployment with room compares sensibly).
fn usage_score(c: &Candidate) -> f64 {
    let frac = |used: u64, limit: Option<u64>| limit.map(|l| used as f64 / l.max(1) as f64);
    match (frac(c.view.rpm_used, c.rpm), frac(c.view.tpm_used, c.tpm)) {
        (None, None) => c.view.tpm_used as f64 / 1e9 + c.view.rpm_used as f64 / 1e12,
        (a, b) => a.unwrap_or(0.0).max(b.unwrap_or(0.0)),
    }
}

/// Deployments without a recent sample first (so they get measured), then those within
/// `buffer` of the fastest in random order, then the rest by latency.
fn by_latency(cands: &[Candidate], buffer: f64, rng: &mut impl Rng) -> Vec<usize> {
    let idx = shuffled(cands.len(), rng);
    let fastest = cands
        .iter()
        .filter_map(|c| c.latency_ms)
        .fold(f64::INFINITY, f64::min);
    let limit = fastest * (1.0 + buffer);
    let key = |c: &Candidate| match c.latency_ms {
        None => (0u8, 0.0),
        Some(l) if l <= limit => (1, 0.0),
        Some(l) => (2, l),
    };
    let mut idx = idx;
    idx.sort_by(|&a, &b| {
        let (ka, la) = key(&cands[a]);
        let (kb, lb) = key(&cands[b]);
        ka.cmp(&kb).then(la.total_cmp(&lb))
    });
    idx
}

/// Builds candidates from deployment limits, views and latency stats (helper for the router).
pub fn candidate(
    weight: f64,
    rpm: Option<u64>,
    tpm: Option<u64>,
    view: View,
    latency: Option<&LatencyStats>,
    now_ms: u64,
) -> Candidate {
    Candidate {
        weight,
        rpm,
        tpm,
        view,
        latency_ms: latency.and_then(|l| l.average(now_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn cand(weight: f64) -> Candidate {
        Candidate {
            weight,
            rpm: None,
            tpm: None,
            view: View::default(),
            latency_ms: None,
        }
    }

    #[test]
    fn simple_shuffle_follows_weights() {
        let mut rng = StdRng::seed_from_u64(7);
        let cands = [cand(1.0), cand(3.0)];
        let mut first = [0usize; 2];
        for _ in 0..4000 {
            let o = order(RoutingStrategy::SimpleShuffle, &cands, 0.0, &mut rng);
            assert_eq!(o.len(), 2);
            first[o[0]] += 1;
        }
        let share = first[1] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&share), "share {share}");
    }

    #[test]
    fn least_busy_prefers_fewest_in_flight() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut cands = [cand(1.0), cand(1.0), cand(1.0)];
        cands[0].view.in_flight = 5;
        cands[1].view.in_flight = 1;
        cands[2].view.in_flight = 3;
        assert_eq!(
            order(RoutingStrategy::LeastBusy, &cands, 0.0, &mut rng),
            vec![1, 2, 0]
        );
    }

    #[test]
    fn usage_based_prefers_lowest_share_of_limit() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut a = cand(1.0);
        a.tpm = Some(1000);
        a.view.tpm_used = 900;
        let mut b = cand(1.0);
        b.tpm = Some(100_000);
        b.view.tpm_used = 5000;
        assert_eq!(
            order(RoutingStrategy::UsageBased, &[a, b], 0.0, &mut rng),
            vec![1, 0]
        );
    }

    #[test]
    fn latency_explores_then_prefers_fastest_within_buffer() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut slow = cand(1.0);
        slow.latency_ms = Some(500.0);
        let mut fast = cand(1.0);
        fast.latency_ms = Some(100.0);
        let unknown = cand(1.0);
        let o = order(
            RoutingStrategy::LatencyBased,
            &[slow, fast, unknown],
            0.0,
            &mut rng,
        );
        assert_eq!(o, vec![2, 1, 0]);
        // With a 5x buffer both count as fast: either may come first.
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..50 {
            firsts.insert(order(RoutingStrategy::LatencyBased, &[slow, fast], 5.0, &mut rng)[0]);
        }
        assert_eq!(firsts.len(), 2);
    }
}
