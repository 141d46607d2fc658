//! How the replicas of a fleet share health checks.
//!
//! Time is cut into slots of one `health_check_interval` (wall clock: slot = now / interval).
//! For each deployment and slot, exactly one replica wins a lease (`SET … NX PX`, all the
//! deployments of one replica in one script, one round trip) and probes; the others skip it. The
//! lease lives two intervals, so a replica whose clock runs a little behind still finds it. Each
//! result is written to Redis (`shale:health:result:{id}`, kept three intervals so the results of
//! a deployment that was removed fade away) and every replica reads them (one `MGET`) for
//! `/health` and its metrics.
//!
//! Without Redis ([`Coordination::Local`]), or while Redis is down, every lease is won: each
//! replica probes everything itself, as a single replica does.
//!
//! Must not: probe, or wait on Redis longer than its call timeout.

use super::probe::ProbeResult;
use crate::redis_link::RedisLink;
use redis::Script;
use std::time::Duration;

/// Longest wait for one health-check Redis call.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// KEYS: one lease key per deployment. ARGV: owner, lease ms. Returns 1 (won) / 0 per key.
const CLAIM_LUA: &str = r#"
local won = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then won[i] = 1 else won[i] = 0 end
end
return won
"#;

/// Who decides which replica probes.
#[derive(Debug)]
pub enum Coordination {
    /// This replica probes everything (no Redis, or `use_shared_health_check: false`).
    Local,
    /// Leases and results in Redis.
    Redis { link: RedisLink, claim: Script },
}

impl Coordination {
    /// Leases and results through Redis at `url`.
    pub fn redis(url: &str) -> Result<Coordination, crate::redis_link::LinkError> {
        Ok(Coordination::Redis {
            link: RedisLink::new(url, "shale:health", "health checks", CALL_TIMEOUT)?,
            claim: Script::new(CLAIM_LUA),
        })
    }

    /// `redis` or `local`, for `/health`.
    pub fn name(&self) -> &'static str {
        match self {
            Coordination::Local => "local",
            Coordination::Redis { .. } => "redis",
        }
    }

    /// Whether Redis answered its last call (`None` without Redis).
    pub fn redis_up(&self) -> Option<bool> {
        match self {
            Coordination::Local => None,
            Coordination::Redis { link, .. } => Some(link.up()),
        }
    }

    /// For each id, whether this replica probes it in `slot`. Redis unreachable: all of them
    /// (the fleet may then probe a deployment more than once this slot, never zero times).
    pub async fn claim(
        &self,
        ids: &[&str],
        slot: u64,
        interval: Duration,
        replica: &str,
    ) -> Vec<bool> {
        let Coordination::Redis { link, claim } = self else {
            return vec![true; ids.len()];
        };
        if ids.is_empty() {
            return Vec::new();
        }
        let slot = slot.to_string();
        let mut inv = claim.prepare_invoke();
        for id in ids {
            inv.key(link.key(&["lease", id, &slot]));
        }
        inv.arg(replica)
            .arg((interval.as_millis() as u64).saturating_mul(2).max(1));
        let mut conn = link.conn();
        match link.call(inv.invoke_async::<Vec<i64>>(&mut conn)).await {
            Ok(won) if won.len() == ids.len() => won.into_iter().map(|w| w == 1).collect(),
            _ => vec![true; ids.len()],
        }
    }

    /// Shares results with the other replicas (one pipelined round trip).
    pub async fn publish(&self, results: &[ProbeResult], interval: Duration) {
        let Coordination::Redis { link, .. } = self else {
            return;
        };
        if results.is_empty() {
            return;
        }
        let keep_ms = (interval.as_millis() as u64).saturating_mul(3).max(1);
        let mut pipe = redis::pipe();
        for r in results {
            let Ok(json) = serde_json::to_string(r) else {
                continue;
            };
            pipe.cmd("SET")
                .arg(link.key(&["result", &r.model_id]))
                .arg(json)
                .arg("PX")
                .arg(keep_ms)
                .ignore();
        }
        let mut conn = link.conn();
        let _ = link.call(pipe.query_async::<()>(&mut conn)).await;
    }

    /// The fleet's latest result per id (`None` where there is none), or `None` when it cannot
    /// be read (no Redis, or Redis down).
    pub async fn fetch(&self, ids: &[&str]) -> Option<Vec<Option<ProbeResult>>> {
        let Coordination::Redis { link, .. } = self else {
            return None;
        };
        if ids.is_empty() {
            return Some(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for id in ids {
            cmd.arg(link.key(&["result", id]));
        }
        let mut conn = link.conn();
        let values: Vec<Option<String>> = link.call(cmd.query_async(&mut conn)).await.ok()?;
        Some(
            values
                .into_iter()
                .map(|v| v.and_then(|json| serde_json::from_str(&json).ok()))
                .collect(),
        )
    }
}
