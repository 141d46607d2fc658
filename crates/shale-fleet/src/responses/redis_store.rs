//! The Redis backend of the shared Responses store. A record is one string key
//! (`shale:responses:r:{id}` = owner hash, a newline, the JSON document) that expires with the
//! record's TTL; an index (sorted set by creation time), a hash of sizes and a byte total keep the
//! store within `max_responses` / `max_bytes`. A put is one script that writes the record, drops
//! index entries whose record has expired and then the oldest records beyond the bounds; a delete
//! is one script that checks the owner before removing. Reads are one `GET`.
//!
//! Must not: put the Redis URL in an error or a log line (it may carry a password).

use super::codec::{decode, Encoded};
use super::shared::{Backend, BackendError, BackendFuture, REQUEST_TIMEOUT};
use super::{OpenError, Owner, StoredResponse};
use crate::redis_link::{LinkError, RedisLink};
use redis::Script;
use shale_config::ResponsesStoreSettings;

/// Most expired index entries one put cleans up (bounds the script's work).
const EXPIRED_PER_PUT: usize = 100;

/// KEYS: record, index, sizes, total. ARGV: id, value, ttl ms, created ms, bytes, max responses,
/// max bytes, now ms, ttl ms (again, for expiry of index entries), record key prefix, cleanup cap.
const PUT_LUA: &str = r#"
local function drop(id)
  redis.call('ZREM', KEYS[2], id)
  local size = redis.call('HGET', KEYS[3], id)
  if size then
    redis.call('HDEL', KEYS[3], id)
    redis.call('DECRBY', KEYS[4], size)
  end
  redis.call('DEL', ARGV[10] .. id)
end
drop(ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
redis.call('INCRBY', KEYS[4], ARGV[5])
local cutoff = tonumber(ARGV[8]) - tonumber(ARGV[9])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[11]))
for _, id in ipairs(expired) do drop(id) end
local max_n = tonumber(ARGV[6])
local max_bytes = tonumber(ARGV[7])
while redis.call('ZCARD', KEYS[2]) > max_n or tonumber(redis.call('GET', KEYS[4]) or '0') > max_bytes do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  drop(oldest)
end
return 1
"#;

/// KEYS: record, index, sizes, total. ARGV: id, owner hex. 1 when deleted.
const DELETE_LUA: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 64) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local size = redis.call('HGET', KEYS[3], ARGV[1])
if size then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('DECRBY', KEYS[4], size)
end
return 1
"#;

pub(crate) struct RedisBackend {
    link: RedisLink,
    put: Script,
    delete: Script,
    max_responses: usize,
    max_bytes: usize,
}

impl RedisBackend {
    pub(crate) fn connect(
        url: &str,
        limits: &ResponsesStoreSettings,
    ) -> Result<RedisBackend, OpenError> {
        let link = RedisLink::new(
            url,
            "shale:responses",
            "the Responses store",
            REQUEST_TIMEOUT,
        )
        .map_err(|e| OpenError::Invalid(e.to_string()))?;
        Ok(RedisBackend {
            link,
            put: Script::new(PUT_LUA),
            delete: Script::new(DELETE_LUA),
            max_responses: limits.max_responses,
            max_bytes: limits.max_bytes,
        })
    }

    fn record_key(&self, id: &str) -> String {
        self.link.key(&["r", id])
    }

    fn keys(&self, inv: &mut redis::ScriptInvocation<'_>, id: &str) {
        inv.key(self.record_key(id))
            .key(self.link.key(&["index"]))
            .key(self.link.key(&["sizes"]))
            .key(self.link.key(&["bytes"]));
    }
}

fn unavailable(e: LinkError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn put<'a>(&'a self, r: &'a Encoded) -> BackendFuture<'a, ()> {
        Box::pin(async move {
            let now = crate::now_ms();
            let ttl_left = r.expires_ms.saturating_sub(now);
            if ttl_left == 0 {
                return Ok(());
            }
            let mut value = String::with_capacity(65 + r.json.len());
            value.push_str(&r.owner.to_hex());
            value.push('\n');
            value.push_str(&r.json);
            let mut inv = self.put.prepare_invoke();
            self.keys(&mut inv, &r.id);
            inv.arg(&r.id)
                .arg(value)
                .arg(ttl_left)
                .arg(r.created_ms)
                .arg(r.bytes())
                .arg(self.max_responses)
                .arg(self.max_bytes)
                .arg(now)
                .arg(r.expires_ms - r.created_ms)
                .arg(self.link.key(&["r", ""]))
                .arg(EXPIRED_PER_PUT);
            let mut conn = self.link.conn();
            self.link
                .call(inv.invoke_async::<i64>(&mut conn))
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    fn get<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, Option<StoredResponse>> {
        Box::pin(async move {
            let mut conn = self.link.conn();
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.record_key(id));
            let value: Option<String> = self
                .link
                .call(cmd.query_async(&mut conn))
                .await
                .map_err(unavailable)?;
            Ok(value.and_then(|v| {
                let (stored_owner, json) = v.split_once('\n')?;
                (Owner::from_hex(stored_owner)? == owner)
                    .then(|| decode(owner, json))
                    .flatten()
            }))
        })
    }

    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, bool> {
        Box::pin(async move {
            let mut inv = self.delete.prepare_invoke();
            self.keys(&mut inv, id);
            inv.arg(id).arg(owner.to_hex());
            let mut conn = self.link.conn();
            self.link
                .call(inv.invoke_async::<i64>(&mut conn))
                .await
                .map(|n| n == 1)
                .map_err(unavailable)
        })
    }

    fn sweep(&self) -> BackendFuture<'_, ()> {
        // Every put trims expired and surplus records; nothing to do on a timer.
        Box::pin(async { Ok(()) })
    }

    fn up(&self) -> bool {
        self.link.up()
    }
}
