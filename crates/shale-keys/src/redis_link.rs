//! The key service's Redis: shared rpm/tpm/parallel counters and spend per budget period (one
//! admission script per request), slot releases and token corrections sent without waiting,
//! batches of settled spend added exactly once (by the background sharer, `share.rs`), and the
//! invalidation channel every replica subscribes to. While Redis is unreachable callers get
//! `None` and use this replica's own state; a warning is logged once per outage and the
//! connection manager reconnects by itself. Errors never carry the URL (it may hold a password).

use crate::error::{LimitKind, Scope};
use crate::limits::{secs_to_next_minute, ScopeCheck, Verdict};
use crate::principal::Principal;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for one round trip on the hot path.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// After a failure Redis is not asked again for this long.
const RETRY_AFTER_DOWN_MS: u64 = 1000;
/// Spend counters outlive their budget period by at most this (seconds): 32 days.
const SPEND_TTL_SECS: u64 = 32 * 86_400;

/// Budget, then rpm, tpm and parallel of every scope; all counted or none. Per scope: ARGV rpm,
/// tpm, parallel, max budget (-1 = none), the spend to seed a missing counter with, spend this
/// replica has that the counter lacks, and whether the scope is counted (1) or a budget only (0).
/// Returns strings: `{code, scope index, spend...}` — code 0 admitted, 1 budget, 2 rpm, 3 tpm,
/// 4 parallel. A tpm window refuses a request whose estimate does not fit, unless it is empty.
const ADMIT_LUA: &str = r#"
local n = tonumber(ARGV[1])
local est = tonumber(ARGV[2])
local ttl = tonumber(ARGV[n * 7 + 3])
local spends = {}
for i = 1, n do
  local k = (i - 1) * 4
  local a = 2 + (i - 1) * 7
  redis.call('SET', KEYS[k + 4], ARGV[a + 5], 'NX', 'EX', ttl)
  local s = tonumber(redis.call('GET', KEYS[k + 4]) or '0') or 0
  spends[i] = s
  local mb = tonumber(ARGV[a + 4])
  local mine = s + tonumber(ARGV[a + 6])
  if mb >= 0 and mine >= mb then return {'1', tostring(i), tostring(mine)} end
end
for i = 1, n do
  local k = (i - 1) * 4
  local a = 2 + (i - 1) * 7
  if ARGV[a + 7] == '1' then
    local rl = tonumber(ARGV[a + 1])
    local tl = tonumber(ARGV[a + 2])
    local pl = tonumber(ARGV[a + 3])
    if rl >= 0 and tonumber(redis.call('GET', KEYS[k + 1]) or '0') >= rl then return {'2', tostring(i)} end
    if tl >= 0 then
      local used = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
      if used < 0 then used = 0 end
      if used >= tl or (used > 0 and used + est > tl) then return {'3', tostring(i)} end
    end
    if pl >= 0 and tonumber(redis.call('GET', KEYS[k + 3]) or '0') >= pl then return {'4', tostring(i)} end
  end
end
for i = 1, n do
  local k = (i - 1) * 4
  if ARGV[2 + (i - 1) * 7 + 7] == '1' then
    redis.call('INCR', KEYS[k + 1])
    redis.call('EXPIRE', KEYS[k + 1], 120)
    if est > 0 then redis.call('INCRBY', KEYS[k + 2], est) end
    redis.call('EXPIRE', KEYS[k + 2], 120)
    redis.call('INCR', KEYS[k + 3])
    redis.call('EXPIRE', KEYS[k + 3], 3600)
  end
end
local out = {'0', '0'}
for i = 1, n do out[#out + 1] = tostring(spends[i]) end
return out
"#;

/// Adds one batch of this replica's settled spend to the shared counters, exactly once: KEYS[1]
/// holds the sequence number of the last batch of this replica that was applied, and a batch
/// whose number is not above it was applied already (an earlier attempt landed but its answer
/// was lost) and is skipped. ARGV: the batch's number, the counters' TTL, then per counter the
/// spend to add and the spend to seed it with if it is missing (what this replica knows the
/// period's spend to be without this batch and what else it has not shared).
const SHARE_LUA: &str = r#"
local seq = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if seq <= last then return 0 end
for i = 2, #KEYS do
  local a = 3 + (i - 2) * 2
  redis.call('SET', KEYS[i], ARGV[a + 1], 'NX', 'EX', ttl)
  redis.call('INCRBYFLOAT', KEYS[i], ARGV[a])
  redis.call('EXPIRE', KEYS[i], ttl)
end
redis.call('SET', KEYS[1], tostring(seq), 'EX', ttl)
return 1
"#;

/// One slot fewer in flight, never below zero.
const RELEASE_LUA: &str = r#"
for i = 1, #KEYS do
  local v = redis.call('DECR', KEYS[i])
  if v < 0 then redis.call('SET', KEYS[i], 0) end
end
return 1
"#;

/// One counter of a spend batch: the scope, its id and budget period, the spend to add, and what
/// to seed the counter with if it is missing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShareItem<'a> {
    pub scope: Scope,
    pub id: &'a str,
    pub period: Option<i64>,
    pub spend: f64,
    pub seed: f64,
}

/// Redis as the key service uses it.
pub(crate) struct RedisLink {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    admit: Script,
    release: Script,
    share: Script,
    healthy: AtomicBool,
    down_until_ms: AtomicU64,
    fallbacks: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("prefix", &self.prefix)
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .finish()
    }
}

/// A Redis error without the URL.
fn redacted(e: &redis::RedisError) -> String {
    format!("{:?}: {}", e.kind(), e.detail().unwrap_or("(no detail)"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RedisLink {
    /// Prepares the connection (made lazily: start-up never waits for Redis). Inside a runtime.
    pub(crate) fn new(url: &str, prefix: &str) -> Result<RedisLink, String> {
        let client = redis::Client::open(url).map_err(|e| redacted(&e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| redacted(&e))?;
        Ok(RedisLink {
            client,
            conn,
            prefix: prefix.to_string(),
            admit: Script::new(ADMIT_LUA),
            release: Script::new(RELEASE_LUA),
            share: Script::new(SHARE_LUA),
            healthy: AtomicBool::new(true),
            down_until_ms: AtomicU64::new(0),
            fallbacks: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The channel admin writes are announced on.
    pub(crate) fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    /// Operations this replica served alone because Redis was unreachable.
    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn key(&self, kind: &str, scope: Scope, id: &str) -> String {
        format!("{}:{kind}:{scope}:{id}", self.prefix)
    }

    fn window(&self, kind: &str, scope: Scope, id: &str, minute: u64) -> String {
        format!("{}:{kind}:{scope}:{id}:{minute}", self.prefix)
    }

    /// The shared spend counter of one scope's budget period.
    pub(crate) fn spend_key(&self, scope: Scope, id: &str, period: Option<i64>) -> String {
        format!(
            "{}:spend:{scope}:{id}:{}",
            self.prefix,
            period.map_or_else(|| "-".to_string(), |p| p.to_string())
        )
    }

    /// Runs one call unless Redis is known to be down; records the outcome.
    async fn call<T>(&self, fut: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        let now = now_ms();
        if now < self.down_until_ms.load(Ordering::Relaxed) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match tokio::time::timeout(CALL_TIMEOUT, fut).await {
            Ok(Ok(v)) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "Redis is reachable again: key limits and spend are shared again"
                    );
                }
                Some(v)
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => redacted(&e),
                    _ => format!("no answer within {CALL_TIMEOUT:?}"),
                };
                self.down_until_ms
                    .store(now + RETRY_AFTER_DOWN_MS, Ordering::Relaxed);
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if self.healthy.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %why, "Redis is unreachable: key limits and spend are per replica until it is back");
                }
                None
            }
        }
    }

    /// One admission round trip; `None` when Redis did not answer.
    pub(crate) async fn admit(
        &self,
        checks: &[ScopeCheck<'_>],
        est_tokens: u64,
        now_ms: u64,
    ) -> Option<Verdict> {
        let minute = now_ms / 60_000;
        let mut inv = self.admit.prepare_invoke();
        for c in checks {
            inv.key(self.window("rpm", c.scope, c.id, minute))
                .key(self.window("tpm", c.scope, c.id, minute))
                .key(self.key("inf", c.scope, c.id))
                .key(self.spend_key(c.scope, c.id, c.period.map(|p| p.unix_timestamp())));
        }
        inv.arg(checks.len()).arg(est_tokens);
        for c in checks {
            inv.arg(c.rpm.map_or(-1, |v| v.min(i64::MAX as u64) as i64))
                .arg(c.tpm.map_or(-1, |v| v.min(i64::MAX as u64) as i64))
                .arg(c.parallel.map_or(-1, |v| v.min(i64::MAX as u64) as i64))
                .arg(c.max_budget.map_or(-1.0, |v| v.max(0.0)))
                .arg((c.spend - c.unshared).max(0.0))
                .arg(c.unshared)
                .arg(u8::from(c.counted));
        }
        inv.arg(SPEND_TTL_SECS);
        let mut conn = self.conn.clone();
        let out: Vec<String> = self.call(inv.invoke_async(&mut conn)).await?;
        let num = |i: usize| out.get(i).and_then(|s| s.parse::<f64>().ok());
        let code = out.first().map(String::as_str);
        let pos = num(1).map(|p| p as usize).unwrap_or(0);
        let scope = |pos: usize| checks.get(pos.wrapping_sub(1)).map(|c| c.scope);
        let limited = |kind: LimitKind| {
            Some(Verdict::Limited {
                kind,
                scope: scope(pos)?,
                retry_after_secs: match kind {
                    LimitKind::Parallel => 1,
                    _ => secs_to_next_minute(now_ms),
                },
            })
        };
        match code {
            Some("0") => Some(Verdict::Admitted {
                shared_spend: Some(
                    (0..checks.len())
                        .map(|i| num(2 + i).unwrap_or(0.0))
                        .collect(),
                ),
            }),
            Some("1") => {
                let check = checks.get(pos.wrapping_sub(1))?;
                Some(Verdict::Budget {
                    scope: check.scope,
                    spend: num(2).unwrap_or(0.0),
                    max_budget: check.max_budget.unwrap_or(0.0),
                })
            }
            Some("2") => limited(LimitKind::Rpm),
            Some("3") => limited(LimitKind::Tpm),
            Some("4") => limited(LimitKind::Parallel),
            _ => None,
        }
    }

    /// Sends a pipeline without waiting (failures only count as fallbacks).
    fn spawn(&self, pipe: redis::Pipeline) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let counter = Arc::clone(&self.fallbacks);
        handle.spawn(async move {
            let done: Result<redis::RedisResult<()>, _> =
                tokio::time::timeout(CALL_TIMEOUT, pipe.query_async(&mut conn)).await;
            if !matches!(done, Ok(Ok(()))) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    pub(crate) fn release(&self, p: &Principal) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let script = self.release.clone();
        let keys: Vec<String> = p
            .scopes()
            .map(|(scope, rules)| self.key("inf", scope, &rules.id))
            .collect();
        let mut conn = self.conn.clone();
        let counter = Arc::clone(&self.fallbacks);
        handle.spawn(async move {
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            let done: Result<redis::RedisResult<i64>, _> =
                tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await;
            if !matches!(done, Ok(Ok(_))) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Corrects the tpm windows of `minute` by `delta` tokens (no wait).
    pub(crate) fn add_tokens(&self, p: &Principal, delta: i64, minute: u64) {
        let mut pipe = redis::pipe();
        for (scope, rules) in p.scopes() {
            let k = self.window("tpm", scope, &rules.id, minute);
            pipe.cmd("INCRBY").arg(&k).arg(delta).ignore();
            pipe.cmd("EXPIRE").arg(&k).arg(120).ignore();
        }
        self.spawn(pipe);
    }

    /// Adds one batch of settled spend to the shared counters (see `SHARE_LUA`): `marker` is
    /// this replica's applied-batch key, each item (scope, id, period, spend to add, seed).
    /// `true` when Redis answered (applied now, or found already applied).
    pub(crate) async fn share(&self, marker: &str, seq: u64, items: &[ShareItem<'_>]) -> bool {
        let mut inv = self.share.prepare_invoke();
        inv.key(marker);
        inv.arg(seq).arg(SPEND_TTL_SECS);
        for item in items {
            inv.key(self.spend_key(item.scope, item.id, item.period))
                .arg(item.spend)
                .arg(item.seed.max(0.0));
        }
        let mut conn = self.conn.clone();
        let done: Option<i64> = self.call(inv.invoke_async(&mut conn)).await;
        done.is_some()
    }

    /// The key holding the number of the last spend batch of `replica` that was applied.
    pub(crate) fn share_marker(&self, replica: &str) -> String {
        format!("{}:shared:{replica}", self.prefix)
    }

    /// Sets a shared spend counter (an admin changed the spend by hand), awaited briefly.
    pub(crate) async fn set_spend(&self, scope: Scope, id: &str, period: Option<i64>, spend: f64) {
        let k = self.spend_key(scope, id, period);
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&k)
            .arg(spend)
            .arg("EX")
            .arg(SPEND_TTL_SECS)
            .ignore();
        let mut conn = self.conn.clone();
        let _: Option<()> = self.call(pipe.query_async(&mut conn)).await;
    }

    /// Announces an invalidation to every replica (awaited briefly; the TTL covers a miss).
    pub(crate) async fn publish(&self, message: &str) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.channel()).arg(message);
        let _: Option<i64> = self.call(cmd.query_async(&mut conn)).await;
    }

    /// Subscribes to the invalidation channel and calls `on_message` for each message, for ever:
    /// reconnects with a growing pause (at most 5 s) when the subscription breaks. `ready` is
    /// notified when a subscription is in place and after each failed attempt.
    pub(crate) async fn subscribe_forever(
        self: Arc<Self>,
        on_message: impl Fn(&str) + Send + Sync + 'static,
        ready: Arc<tokio::sync::Notify>,
    ) {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(self.channel()).await {
                    Ok(()) => {
                        pause = Duration::from_millis(100);
                        ready.notify_waiters();
                        let mut stream = pubsub.on_message();
                        while let Some(msg) = stream.next().await {
                            if let Ok(text) = msg.get_payload::<String>() {
                                on_message(&text);
                            }
                        }
                        tracing::debug!("key invalidation subscription ended; resubscribing");
                        // Messages may have been missed while disconnected: drop everything.
                        on_message("all");
                    }
                    Err(e) => tracing::debug!(error = %redacted(&e), "subscribe failed"),
                },
                Err(e) => tracing::debug!(error = %redacted(&e), "Redis pub/sub connection failed"),
            }
            // Start-up waits for the first attempt only, whatever its outcome.
            ready.notify_waiters();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}
