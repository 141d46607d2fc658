//! Router state in Redis, shared by every replica: one Lua script per request admits a deployment
//! atomically (cooldown check, rpm/tpm minute windows, in-flight count, prompt-cache affinity);
//! releases, token corrections and affinity writes are sent without waiting. While Redis is
//! unreachable the local state serves (a warning once per outage, a counter, a health flag) and
//! the connection manager reconnects by itself.

use super::gate::{connect, RedisGate, RedisSetupError, RedisStatus};
use super::{AcquireRequest, Acquired, Backend, CooldownRule, LocalState};
use crate::clock::minute_of;
use crate::strategy::View;
use redis::aio::ConnectionManager;
use redis::Script;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

/// Longest wait for one Redis round trip before the local state answers instead.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

const ACQUIRE_LUA: &str = r#"
local n = tonumber(ARGV[1])
local est = tonumber(ARGV[2])
local pref = false
if ARGV[3] == '1' then pref = redis.call('GET', KEYS[1]) end
local cool, rpm, tpm, inf = {}, {}, {}, {}
for i = 1, n do
  local k = 1 + (i - 1) * 4
  cool[i] = redis.call('GET', KEYS[k + 1])
  rpm[i] = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
  tpm[i] = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
  inf[i] = tonumber(redis.call('GET', KEYS[k + 4]) or '0')
  if inf[i] < 0 then inf[i] = 0 end
  if tpm[i] < 0 then tpm[i] = 0 end
end
local function room(i)
  local a = 3 + (i - 1) * 3
  local rl = tonumber(ARGV[a + 1])
  local tl = tonumber(ARGV[a + 2])
  if rl >= 0 and rpm[i] >= rl then return false end
  if tl >= 0 and tpm[i] + est > tl then return false end
  return true
end
local chosen, cooled = 0, 0
if pref then
  for i = 1, n do
    if ARGV[3 + (i - 1) * 3 + 3] == pref and not cool[i] and room(i) then chosen = i end
  end
end
if chosen == 0 then
  for i = 1, n do
    if (not cool[i]) and room(i) then chosen = i; break end
  end
end
if chosen == 0 then
  local best = nil
  for i = 1, n do
    if cool[i] and room(i) then
      local t = tonumber(cool[i]) or 0
      if best == nil or t < best then best = t; chosen = i end
    end
  end
  if chosen > 0 then cooled = 1 end
end
if chosen > 0 then
  local k = 1 + (chosen - 1) * 4
  rpm[chosen] = redis.call('INCR', KEYS[k + 2])
  redis.call('EXPIRE', KEYS[k + 2], 120)
  if est > 0 then tpm[chosen] = redis.call('INCRBY', KEYS[k + 3], est) end
  redis.call('EXPIRE', KEYS[k + 3], 120)
  inf[chosen] = redis.call('INCR', KEYS[k + 4])
  redis.call('EXPIRE', KEYS[k + 4], 600)
end
local out = {chosen, cooled}
for i = 1, n do
  out[#out + 1] = rpm[i]
  out[#out + 1] = tpm[i]
  out[#out + 1] = inf[i]
  if cool[i] then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out
"#;

const FAIL_LUA: &str = r#"
local f = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
if f > tonumber(ARGV[1]) and tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

const RELEASE_LUA: &str = r#"
local v = redis.call('DECR', KEYS[1])
if v < 0 then redis.call('SET', KEYS[1], 0) end
return v
"#;

/// Shared state in Redis with a local stand-in.
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
    local: LocalState,
    acquire: Script,
    fail: Script,
    /// Views from this replica's last round trip, by deployment id.
    views: Mutex<HashMap<String, View>>,
    gate: RedisGate,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("prefix", &self.prefix)
            .field("status", &self.status())
            .finish()
    }
}

impl RedisState {
    /// Prepares the connection (made lazily, so start-up never waits for Redis). Must be called
    /// inside a Tokio runtime.
    pub fn new(url: &str, prefix: &str) -> Result<RedisState, RedisSetupError> {
        Ok(RedisState {
            conn: connect(url)?,
            prefix: prefix.to_string(),
            local: LocalState::new(),
            acquire: Script::new(ACQUIRE_LUA),
            fail: Script::new(FAIL_LUA),
            views: Mutex::new(HashMap::new()),
            gate: RedisGate::new(
                CALL_TIMEOUT,
                "Redis is unreachable: the router uses this replica's own state (limits are per replica) until it is back",
                "Redis is reachable again: router state is shared again",
            ),
        })
    }

    /// The connection (a clone shares it: the response cache uses the router's when both talk to
    /// the same Redis).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub(super) fn local(&self) -> &LocalState {
        &self.local
    }

    pub fn status(&self) -> RedisStatus {
        self.gate.status()
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn window_key(&self, kind: &str, id: &str, minute: u64) -> String {
        format!("{}:{kind}:{id}:{minute}", self.prefix)
    }

    /// Runs one Redis call unless Redis is known to be down; records the outcome.
    async fn call<T>(
        &self,
        now_ms: u64,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        self.gate.call(now_ms, fut).await
    }

    pub async fn acquire(&self, req: &AcquireRequest<'_>) -> (Acquired, Vec<View>, Backend) {
        let minute = minute_of(req.now_ms);
        let mut inv = self.acquire.prepare_invoke();
        inv.key(self.key("aff", req.affinity_key.unwrap_or("-")));
        for s in &req.slots {
            inv.key(self.key("cd", s.id));
            inv.key(self.window_key("rpm", s.id, minute));
            inv.key(self.window_key("tpm", s.id, minute));
            inv.key(self.key("inf", s.id));
        }
        inv.arg(req.slots.len())
            .arg(req.est_tokens)
            .arg(if req.affinity_key.is_some() { "1" } else { "0" });
        for s in &req.slots {
            inv.arg(s.rpm.map_or(-1, |v| v as i64))
                .arg(s.tpm.map_or(-1, |v| v as i64))
                .arg(s.id);
        }
        let mut conn = self.conn.clone();
        let answer: Option<Vec<i64>> = self.call(req.now_ms, inv.invoke_async(&mut conn)).await;
        let Some(out) = answer.filter(|o| o.len() == 2 + 4 * req.slots.len()) else {
            let (a, v) = self.local.acquire(req);
            return (a, v, Backend::Local);
        };
        let views: Vec<View> = out[2..]
            .chunks_exact(4)
            .map(|c| View {
                rpm_used: c[0].max(0) as u64,
                tpm_used: c[1].max(0) as u64,
                in_flight: c[2].max(0) as u64,
                cooling: c[3] == 1,
            })
            .collect();
        {
            let mut cache = self.views.lock().unwrap_or_else(|e| e.into_inner());
            for (s, v) in req.slots.iter().zip(&views) {
                cache.insert(s.id.to_string(), *v);
            }
        }
        let acquired = match out[0] {
            n if n >= 1 && (n as usize) <= req.slots.len() => Acquired::Chosen {
                pos: n as usize - 1,
                was_cooling: out[1] == 1,
            },
            _ => Acquired::Full,
        };
        (acquired, views, Backend::Redis)
    }

    /// One `PING` (unless Redis is known to be down this second): refreshes [`Self::status`]
    /// without traffic, e.g. when metrics are scraped.
    pub async fn ping(&self, now_ms: u64) -> RedisStatus {
        let mut conn = self.conn.clone();
        let _: Option<String> = self
            .call(now_ms, redis::cmd("PING").query_async(&mut conn))
            .await;
        self.status()
    }

    pub fn peek(&self, ids: &[&str], _now_ms: u64) -> Vec<View> {
        let cache = self.views.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| cache.get(*id).copied().unwrap_or_default())
            .collect()
    }

    /// Sends a write without waiting for it (errors only count as local fallbacks).
    fn spawn_write(&self, inv: redis::ScriptInvocation<'static>) {
        if tokio::runtime::Handle::try_current().is_err() {
            // Outside a runtime (a value dropped during shutdown): nothing to send with.
            return;
        }
        let mut conn = self.conn.clone();
        let counter = self.gate.fallback_counter();
        tokio::spawn(async move {
            let done: Result<Result<i64, _>, _> =
                tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await;
            if !matches!(done, Ok(Ok(_))) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    pub fn release(&self, id: &str) {
        let script: &'static Script = release_script();
        let mut inv = script.prepare_invoke();
        inv.key(self.key("inf", id));
        self.spawn_write(inv);
    }

    pub fn add_tokens(&self, id: &str, minute: u64, delta: i64) {
        let script: &'static Script = incr_script();
        let mut inv = script.prepare_invoke();
        inv.key(self.window_key("tpm", id, minute)).arg(delta);
        self.spawn_write(inv);
    }

    pub fn set_affinity(&self, key: &str, id: &str, _now_ms: u64, ttl_ms: u64) {
        let script: &'static Script = set_px_script();
        let mut inv = script.prepare_invoke();
        inv.key(self.key("aff", key)).arg(id).arg(ttl_ms.max(1));
        self.spawn_write(inv);
    }

    pub async fn record_failure(&self, id: &str, rule: CooldownRule, now_ms: u64) -> bool {
        let mut inv = self.fail.prepare_invoke();
        inv.key(self.window_key("fail", id, minute_of(now_ms)))
            .key(self.key("cd", id))
            .arg(rule.allowed_fails)
            .arg(rule.cooldown_ms)
            .arg(now_ms);
        let mut conn = self.conn.clone();
        match self.call(now_ms, inv.invoke_async::<i64>(&mut conn)).await {
            Some(v) => v == 1,
            None => self.local.record_failure(id, rule, now_ms),
        }
    }

    /// A changed deployment starts afresh: its cooldown and failure count are dropped (sent
    /// without waiting; every replica applying the same change sends the same).
    pub fn forget_failures(&self, id: &str, now_ms: u64) {
        self.local.forget_failures(id);
        let script: &'static Script = del_script();
        let mut inv = script.prepare_invoke();
        inv.key(self.key("cd", id))
            .key(self.window_key("fail", id, minute_of(now_ms)));
        self.spawn_write(inv);
    }

    /// Cools `id` down for every replica (one round trip; the local state when Redis is down).
    pub async fn set_cooldown(&self, id: &str, cooldown_ms: u64, now_ms: u64) {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key("cd", id))
            .arg(now_ms)
            .arg("PX")
            .arg(cooldown_ms.max(1));
        if self
            .call(now_ms, cmd.query_async::<()>(&mut conn))
            .await
            .is_none()
        {
            self.local.set_cooldown(id, cooldown_ms, now_ms);
        }
    }

    /// Ends `id`'s cooldown for every replica (and in the local stand-in).
    pub async fn clear_cooldown(&self, id: &str, now_ms: u64) {
        self.local.clear_cooldown(id);
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key("cd", id));
        let _ = self.call(now_ms, cmd.query_async::<()>(&mut conn)).await;
    }

    pub async fn cooldowns(&self, ids: &[&str], now_ms: u64) -> Vec<Option<u64>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("PTTL").arg(self.key("cd", id));
        }
        let mut conn = self.conn.clone();
        match self
            .call(now_ms, pipe.query_async::<Vec<i64>>(&mut conn))
            .await
        {
            Some(ttls) if ttls.len() == ids.len() => ttls
                .into_iter()
                .map(|t| (t > 0).then_some(t as u64))
                .collect(),
            _ => self.local.cooldowns(ids, now_ms),
        }
    }
}

fn release_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new(RELEASE_LUA))
}

fn incr_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        Script::new("local v = redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], 120) return v")
    })
}

fn del_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new("return redis.call('DEL', unpack(KEYS))"))
}

fn set_px_script() -> &'static Script {
    static S: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    S.get_or_init(|| Script::new("redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1"))
}
