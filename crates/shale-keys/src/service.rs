//! [`KeyService`]: start-up (pool, migrations, background tasks), the hot path (`authenticate`,
//! `admit`, `settle`) and the spend writer. The admin operations are in `admin.rs`.
//!
//! Hot-path rules: a cache hit never waits on Postgres; `admit` makes at most one Redis round trip;
//! `settle` never awaits. Postgres down: cached keys keep working, spend is buffered (bounded) and
//! retried with backoff, a warning is logged once per outage, `database_up()` turns false.

mod admin;
mod report;

use crate::cache::{Cached, PrincipalCache};
use crate::duration::parse_duration;
use crate::error::{describe_db_error, Scope};
use crate::limits::{Limiter, Release, ScopeCheck, Verdict};
use crate::principal::{Admission, Principal, ScopeRules, SpendEvent};
use crate::redis_link::RedisLink;
use crate::spend::SpendBook;
use crate::store::{self, KeyRow, TeamRow};
use crate::token::hash_key;
use crate::KeyError;
use shale_config::KeysConfig;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Redis key namespace of the key service.
const REDIS_PREFIX: &str = "shale:keys";
/// Longest wait for a Postgres connection (hot-path cache misses, admin calls, the writer).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for Postgres on a key lookup (cache miss or refresh); a stale entry serves after.
const HOT_PATH_DB_WAIT: Duration = Duration::from_secs(1);
/// Longest pause between write attempts while Postgres is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Virtual keys, teams, budgets, limits and spend (shared as `Arc<KeyService>`).
pub struct KeyService {
    pub(crate) pool: PgPool,
    pub(crate) config: KeysConfig,
    pub(crate) cache: PrincipalCache,
    pub(crate) book: SpendBook,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) redis: Option<Arc<RedisLink>>,
    db_up: AtomicBool,
    /// An outage was reported and is not over (one warning per outage).
    in_outage: AtomicBool,
    schema_ready: AtomicBool,
    flush_lock: tokio::sync::Mutex<()>,
    wake: Arc<Notify>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("database_up", &self.database_up())
            .field("redis", &self.redis)
            .finish()
    }
}

impl Drop for KeyService {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn to_offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

impl KeyService {
    /// Connects the pool, runs the embedded migrations, starts the spend writer and (with Redis)
    /// the invalidation subscriber. The database URL is `config.database_url`, else the
    /// `DATABASE_URL` environment variable; neither → [`KeyError::NoDatabase`]. Postgres
    /// unreachable → [`KeyError::Unavailable`] unless `allow_requests_on_db_unavailable`.
    pub async fn start(
        config: &KeysConfig,
        redis_url: Option<&str>,
    ) -> Result<Arc<KeyService>, KeyError> {
        let url = config
            .database_url
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| !u.trim().is_empty())
            .ok_or(KeyError::NoDatabase)?;
        let pool = PgPoolOptions::new()
            .max_connections(config.database_connection_pool_limit.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy(&url)
            .map_err(|_| KeyError::InvalidRequest("invalid database_url".into()))?;
        let redis = match redis_url.map(|u| RedisLink::new(u, REDIS_PREFIX)) {
            Some(Ok(link)) => Some(Arc::new(link)),
            Some(Err(why)) => {
                tracing::warn!(error = %why, "invalid Redis settings: key limits and spend stay per replica");
                None
            }
            None => None,
        };
        let service = Arc::new(KeyService {
            pool,
            config: config.clone(),
            cache: PrincipalCache::new(config.user_api_key_cache_ttl),
            book: SpendBook::new(config.max_buffered_spend_rows),
            limiter: Arc::new(Limiter::new(redis.clone())),
            redis,
            db_up: AtomicBool::new(false),
            in_outage: AtomicBool::new(false),
            schema_ready: AtomicBool::new(false),
            flush_lock: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
        });
        match service.ensure_schema().await {
            Ok(()) => {}
            Err(e) if config.allow_requests_on_db_unavailable => {
                tracing::warn!(error = %e, "Postgres is unreachable at start-up: serving anyway (allow_requests_on_db_unavailable); virtual keys work once it is back");
            }
            Err(e) => {
                return Err(KeyError::Unavailable(format!(
                    "cannot start: Postgres for virtual keys is unreachable ({e}); set general_settings.allow_requests_on_db_unavailable: true to start anyway"
                )))
            }
        }
        let writer = tokio::spawn(writer_loop(
            Arc::downgrade(&service),
            Arc::clone(&service.wake),
            config.proxy_batch_write_at,
        ));
        service.tasks_push(writer);
        if let Some(link) = &service.redis {
            let weak = Arc::downgrade(&service);
            let ready = Arc::new(Notify::new());
            let notified = ready.clone().notified_owned();
            let sub = tokio::spawn(Arc::clone(link).subscribe_forever(
                move |msg| {
                    if let Some(s) = weak.upgrade() {
                        s.apply_invalidation(msg);
                    }
                },
                ready,
            ));
            service.tasks_push(sub);
            // Give the first subscription a moment so invalidations from other replicas are not
            // missed right after start (the TTL covers it otherwise).
            let _ = tokio::time::timeout(Duration::from_secs(2), notified).await;
        }
        Ok(service)
    }

    fn tasks_push(&self, t: JoinHandle<()>) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(t);
    }

    /// Runs the migrations once; records whether Postgres answered.
    pub(crate) async fn ensure_schema(&self) -> Result<(), String> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        match store::MIGRATOR.run(&self.pool).await {
            Ok(()) => {
                self.schema_ready.store(true, Ordering::Release);
                self.mark_db(true, None);
                Ok(())
            }
            Err(e) => {
                let why = match &e {
                    sqlx::migrate::MigrateError::Execute(inner) => describe_db_error(inner),
                    other => other.to_string(),
                };
                self.mark_db(false, Some(&why));
                Err(why)
            }
        }
    }

    /// Records the outcome of a Postgres call; warns once per outage, says when it is over.
    pub(crate) fn mark_db(&self, up: bool, why: Option<&str>) {
        self.db_up.store(up, Ordering::Relaxed);
        if up {
            if self.in_outage.swap(false, Ordering::Relaxed) {
                tracing::info!("Postgres is reachable again: key lookups and spend writes resume");
            }
        } else if !self.in_outage.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = why.unwrap_or("unknown"),
                "Postgres is unreachable: cached keys keep working, spend is buffered until it is back"
            );
        }
    }

    /// Turns a database error into [`KeyError::Unavailable`] and records the outage.
    pub(crate) fn db_error(&self, e: &sqlx::Error) -> KeyError {
        let err = KeyError::db(e);
        if matches!(
            e,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
        ) {
            self.mark_db(false, Some(&describe_db_error(e)));
        }
        err
    }

    /// Postgres answered the last attempt (for `shale_dependency_up{dependency="postgres"}`).
    pub fn database_up(&self) -> bool {
        self.db_up.load(Ordering::Relaxed)
    }

    /// Spend-log rows dropped because Postgres was down longer than the buffer lasts.
    pub fn dropped_spend_rows(&self) -> u64 {
        self.book.dropped_rows()
    }

    /// Spend-log rows waiting to be written.
    pub fn buffered_spend_rows(&self) -> usize {
        self.book.buffered_rows()
    }

    /// Whether Redis answered the last call (`None` without Redis).
    pub fn redis_fallbacks(&self) -> Option<u64> {
        self.redis.as_ref().map(|r| r.fallbacks())
    }

    // ---------------------------------------------------------------- hot path

    /// Resolves a presented virtual key. A fresh cache entry answers without Postgres; a stale one
    /// is refreshed, or served as is while Postgres is down.
    pub async fn authenticate(&self, presented: &str) -> Result<Arc<Principal>, KeyError> {
        let hash = hash_key(presented);
        let now = OffsetDateTime::now_utc();
        let cached = self.cache.get(&hash);
        let mut _refresh = None;
        match &cached {
            Some((value, fresh)) if *fresh || !self.database_up() => {
                return resolve(value.clone(), now)
            }
            Some((value, _)) => match self.cache.begin_refresh(&hash) {
                Some(claim) => _refresh = Some(claim),
                None => return resolve(value.clone(), now),
            },
            // Known down: answer at once instead of waiting for a connection per request (the
            // writer keeps probing and turns `database_up` back on).
            None if !self.database_up() => {
                return Err(KeyError::Unavailable(
                    "Postgres is unreachable and this key is not cached".into(),
                ))
            }
            _ => {}
        }
        let generation = self.cache.generation();
        let loaded = match tokio::time::timeout(HOT_PATH_DB_WAIT, self.load(&hash)).await {
            Ok(r) => r,
            Err(_) => {
                self.mark_db(false, Some("no answer in time on a key lookup"));
                Err(KeyError::Unavailable(
                    "Postgres did not answer in time".into(),
                ))
            }
        };
        match loaded {
            Ok(value) => {
                self.cache.put(&hash, value.clone(), generation);
                resolve(value, now)
            }
            Err(e) => match cached {
                Some((value, _)) => resolve(value, now),
                None => Err(e),
            },
        }
    }

    /// Reads a key and its team from Postgres and seeds their spend meters.
    async fn load(&self, hash: &str) -> Result<Cached, KeyError> {
        if !self.schema_ready.load(Ordering::Acquire) {
            self.ensure_schema().await.map_err(KeyError::Unavailable)?;
        }
        let key = store::keys::get(&self.pool, hash)
            .await
            .map_err(|e| self.db_error(&e))?;
        let Some(key) = key else {
            self.mark_db(true, None);
            return Ok(Cached::Unknown);
        };
        let team = match &key.team_id {
            Some(id) => store::teams::get(&self.pool, id)
                .await
                .map_err(|e| self.db_error(&e))?,
            None => None,
        };
        self.mark_db(true, None);
        if key.blocked || team.as_ref().is_some_and(|t| t.blocked) {
            return Ok(Cached::Blocked);
        }
        self.book
            .seed(Scope::Key, &key.token, key.spend, key.budget_reset_at);
        if let Some(t) = &team {
            self.book
                .seed(Scope::Team, &t.team_id, t.spend, t.budget_reset_at);
        }
        Ok(Cached::Found(Arc::new(principal_of(key, team))))
    }

    /// Checks model scope, budgets and rpm/tpm/parallel limits of the key and its team (the
    /// tighter wins) before Bedrock is called. The returned [`Admission`] holds the parallel slots
    /// until it is dropped or settled.
    pub async fn admit(
        &self,
        principal: &Arc<Principal>,
        model: &str,
        est_tokens: u64,
    ) -> Result<Admission, KeyError> {
        if !principal.may_use_model(model) {
            return Err(KeyError::ModelNotAllowed {
                model: model.to_string(),
            });
        }
        let now = SystemTime::now();
        let now_dt = to_offset(now);
        let mut periods = [None, None];
        let mut checks: Vec<ScopeCheck> = Vec::with_capacity(2);
        for (i, (scope, rules)) in principal.scopes().enumerate() {
            let (spend, period) = self.book.current(scope, rules, now_dt);
            periods[i] = period;
            checks.push(ScopeCheck {
                scope,
                id: &rules.id,
                rpm: rules.rpm_limit,
                tpm: rules.tpm_limit,
                parallel: rules.max_parallel_requests,
                max_budget: rules.max_budget,
                spend,
                period,
            });
        }
        let unlimited = checks.iter().all(|c| {
            c.rpm.is_none() && c.tpm.is_none() && c.parallel.is_none() && c.max_budget.is_none()
        });
        if unlimited {
            return Ok(Admission {
                principal: Arc::clone(principal),
                est_tokens,
                periods,
                release: None,
            });
        }
        let (verdict, backend) = self.limiter.admit(&checks, est_tokens, unix_ms(now)).await;
        match verdict {
            Verdict::Admitted { shared_spend } => {
                if let Some(shared) = shared_spend {
                    for (c, s) in checks.iter().zip(shared) {
                        self.book.set_shared(c.scope, c.id, s);
                    }
                }
                Ok(Admission {
                    principal: Arc::clone(principal),
                    est_tokens,
                    periods,
                    release: Some(Release {
                        limiter: Arc::clone(&self.limiter),
                        principal: Arc::clone(principal),
                        backend,
                    }),
                })
            }
            Verdict::Budget {
                scope,
                spend,
                max_budget,
            } => Err(KeyError::BudgetExceeded {
                scope,
                spend,
                max_budget,
            }),
            Verdict::Limited {
                kind,
                scope,
                retry_after_secs,
            } => Err(KeyError::RateLimited {
                limit: kind,
                scope,
                retry_after_secs,
            }),
        }
    }

    /// Records a finished request: spend and tokens counted in memory (and Redis) at once, the
    /// Postgres update and spend-log row queued for the writer. Never awaits, never blocks on I/O.
    pub fn settle(&self, admission: Admission, event: SpendEvent) {
        let p = Arc::clone(&admission.principal);
        let now_ms = unix_ms(SystemTime::now());
        // A cached answer used no model tokens: it counts toward no tpm limit (its rpm was
        // counted when it was admitted).
        let tokens = if event.cache_hit {
            0
        } else {
            event.input_tokens.saturating_add(event.output_tokens)
        };
        let spend = if event.spend.is_finite() && event.spend > 0.0 {
            event.spend
        } else {
            0.0
        };
        if let Some(release) = &admission.release {
            let clamp = |v: u64| v.min(i64::MAX as u64) as i64;
            let delta = clamp(tokens).saturating_sub(clamp(admission.est_tokens));
            self.limiter.add_tokens(&p, delta, now_ms, release.backend);
            // Only an admission Redis counted has seeded the shared spend counters of these
            // periods; otherwise the increment would start a counter from zero.
            if release.backend == crate::limits::Backend::Redis {
                if let Some(redis) = &self.redis {
                    let items: Vec<(Scope, &str, Option<i64>)> = p
                        .scopes()
                        .zip(admission.periods)
                        .map(|((scope, rules), period)| {
                            (scope, rules.id.as_str(), period.map(|t| t.unix_timestamp()))
                        })
                        .collect();
                    redis.add_spend(&items, spend);
                }
            }
        }
        for ((scope, rules), period) in p.scopes().zip(admission.periods) {
            self.book.add(scope, &rules.id, period, spend);
        }
        drop(admission);
        if !self.config.disable_spend_logs {
            let full = self.book.push_row(store::spend::LogRow {
                request_id: event.request_id,
                api_key: p.key_hash.clone(),
                key_alias: p.key_alias.clone(),
                team_id: p.team_id.clone(),
                user_id: p.user_id.clone(),
                model: event.requested_model,
                model_id: event.deployment_id,
                call_type: event.call_type,
                prompt_tokens: event.input_tokens.min(i64::MAX as u64) as i64,
                completion_tokens: event.output_tokens.min(i64::MAX as u64) as i64,
                cache_read_input_tokens: event.cache_read_tokens.min(i64::MAX as u64) as i64,
                cache_creation_input_tokens: event.cache_write_tokens.min(i64::MAX as u64) as i64,
                spend,
                start_time: to_offset(event.start),
                end_time: to_offset(event.end),
                status_code: i32::from(event.status),
                guardrail_information: event.guardrails,
                cache_hit: event.cache_hit,
                cache_key: event.cache_key,
            });
            if full && self.database_up() {
                self.wake.notify_one();
            }
        }
    }

    /// Writes pending spend now (graceful shutdown, tests). Returns after one attempt.
    pub async fn flush(&self) {
        let _ = self.flush_once().await;
    }

    /// One write attempt of everything pending; Err when Postgres refused it (batch kept).
    async fn flush_once(&self) -> Result<(), ()> {
        let _guard = self.flush_lock.lock().await;
        if self.ensure_schema().await.is_err() {
            return Err(());
        }
        let batch = self.book.take();
        if batch.is_empty() {
            // Still probe, so `database_up` turns true again when idle.
            if !self.database_up() {
                let probe = sqlx::query("SELECT 1").execute(&self.pool).await;
                if let Err(e) = probe {
                    self.mark_db(false, Some(&describe_db_error(&e)));
                    return Err(());
                }
                self.mark_db(true, None);
            }
            return Ok(());
        }
        match store::spend::apply(&self.pool, &batch.resets, &batch.deltas, &batch.rows).await {
            Ok(()) => {
                self.mark_db(true, None);
                self.book.committed(&batch);
                Ok(())
            }
            Err(e) => {
                self.mark_db(false, Some(&describe_db_error(&e)));
                self.book.restore(batch);
                Err(())
            }
        }
    }

    // ---------------------------------------------------------------- invalidation

    /// Applies an invalidation message (`key:<hash>`, `team:<id>`, `all`) on this replica.
    pub(crate) fn apply_invalidation(&self, msg: &str) {
        if let Some(hash) = msg.strip_prefix("key:") {
            self.cache.remove_key(hash);
        } else if let Some(team) = msg.strip_prefix("team:") {
            self.cache.remove_team(team);
        } else {
            self.cache.clear();
        }
    }

    /// Invalidates here at once and, with Redis, on every other replica.
    pub(crate) async fn invalidate(&self, msg: &str) {
        self.apply_invalidation(msg);
        if let Some(redis) = &self.redis {
            redis.publish(msg).await;
        }
    }
}

/// The background writer: every `proxy_batch_write_at`, or earlier when the row buffer fills;
/// after a failure, retries after a doubling pause (500 ms up to the interval, at most 30 s).
/// Holds no strong reference while waiting; ends when the service is gone.
async fn writer_loop(service: Weak<KeyService>, wake: Arc<Notify>, interval: Duration) {
    let mut backoff: Option<Duration> = None;
    let max_backoff = interval.max(Duration::from_millis(500)).min(MAX_BACKOFF);
    loop {
        let pause = backoff.unwrap_or(interval);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
        }
        let Some(s) = service.upgrade() else { return };
        match s.flush_once().await {
            Ok(()) => backoff = None,
            Err(()) => {
                let next = backoff.map_or(Duration::from_millis(500), |b| b * 2);
                backoff = Some(next.min(max_backoff));
            }
        }
    }
}

/// A cached lookup as the caller's answer.
fn resolve(value: Cached, now: OffsetDateTime) -> Result<Arc<Principal>, KeyError> {
    match value {
        Cached::Found(p) if p.expired_at(now) => Err(KeyError::Expired),
        Cached::Found(p) => Ok(p),
        Cached::Unknown => Err(KeyError::InvalidKey),
        Cached::Blocked => Err(KeyError::Blocked),
    }
}

fn period_of(text: &Option<String>) -> Option<Duration> {
    text.as_deref().and_then(|t| parse_duration(t).ok())
}

/// A key row (and its team's row) as the hot path's principal.
fn principal_of(key: KeyRow, team: Option<TeamRow>) -> Principal {
    let key_rules = ScopeRules {
        id: key.token.clone(),
        models: key.models,
        max_budget: key.max_budget,
        budget_period: period_of(&key.budget_duration),
        budget_reset_at: key.budget_reset_at,
        rpm_limit: store::limit(key.rpm_limit),
        tpm_limit: store::limit(key.tpm_limit),
        max_parallel_requests: store::limit(key.max_parallel_requests),
    };
    let (team_alias, team_guardrails, team_rules) = match team {
        Some(t) => (
            t.team_alias,
            t.guardrails,
            Some(ScopeRules {
                id: t.team_id,
                models: t.models,
                max_budget: t.max_budget,
                budget_period: period_of(&t.budget_duration),
                budget_reset_at: t.budget_reset_at,
                rpm_limit: store::limit(t.rpm_limit),
                tpm_limit: store::limit(t.tpm_limit),
                max_parallel_requests: store::limit(t.max_parallel_requests),
            }),
        ),
        None => (None, Vec::new(), None),
    };
    Principal {
        key_hash: key.token,
        key_alias: key.key_alias,
        team_id: key.team_id,
        team_alias,
        user_id: key.user_id,
        guardrails: key.guardrails,
        team_guardrails,
        allowed_cache_controls: key.allowed_cache_controls,
        expires: key.expires,
        key: key_rules,
        team: team_rules,
    }
}
