//! [`KeyService`]: start-up (pool, migrations, background tasks), the hot path (`authenticate`,
//! `admit`, `settle`) and the spend writer. The admin operations are in `admin.rs`.
//!
//! Hot-path rules: a cache hit never waits on Postgres; `admit` makes at most one Redis round trip;
//! `settle` never awaits. Postgres down: cached keys keep working, spend is buffered (bounded) and
//! retried with backoff, a warning is logged once per outage, `database_up()` turns false. Redis
//! down: admission uses this replica's counters, and settled spend waits (`share.rs`) until the
//! background sharer can add it to the shared counters, exactly once.

mod admin;
mod report;

use crate::cache::{Cached, PrincipalCache};
use crate::duration::parse_duration;
use crate::error::{describe_db_error, Scope};
use crate::limits::{Limiter, Release, ScopeCheck, Verdict};
use crate::principal::{Admission, Principal, ScopeRules, SpendEvent};
use crate::redis_link::{RedisLink, ShareItem};
use crate::share::Unshared;
use crate::spend::SpendBook;
use crate::store::{self, KeyRow, StoredRules, TeamRow};
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
/// Longest pause between attempts to share spend while Redis is down.
const MAX_SHARE_BACKOFF: Duration = Duration::from_secs(2);

/// Virtual keys, teams, budgets, limits and spend (shared as `Arc<KeyService>`).
pub struct KeyService {
    pub(crate) pool: PgPool,
    pub(crate) config: KeysConfig,
    pub(crate) cache: PrincipalCache,
    pub(crate) book: SpendBook,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) redis: Option<Arc<RedisLink>>,
    /// Settled spend the shared Redis counters do not have yet.
    pub(crate) unshared: Unshared,
    /// Redis key of this replica's last applied spend batch (a random id per process).
    share_marker: String,
    share_wake: Arc<Notify>,
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
        let share_marker = redis
            .as_ref()
            .map(|r| r.share_marker(&uuid::Uuid::new_v4().to_string()))
            .unwrap_or_default();
        let service = Arc::new(KeyService {
            pool,
            config: config.clone(),
            cache: PrincipalCache::new(config.user_api_key_cache_ttl),
            book: SpendBook::new(config.max_buffered_spend_rows),
            limiter: Arc::new(Limiter::new(redis.clone())),
            redis,
            unshared: Unshared::new(),
            share_marker,
            share_wake: Arc::new(Notify::new()),
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
            let sharer = tokio::spawn(share_loop(
                Arc::downgrade(&service),
                Arc::clone(&service.share_wake),
            ));
            service.tasks_push(sharer);
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

    /// Operations this replica served alone because Redis did not answer (`None` without Redis).
    pub fn redis_fallbacks(&self) -> Option<u64> {
        self.redis.as_ref().map(|r| r.fallbacks())
    }

    /// USD of spend settled on this replica that the shared Redis counters do not have yet (Redis
    /// unreachable, or the write on its way); `None` without Redis.
    pub fn unshared_spend(&self) -> Option<f64> {
        self.redis.as_ref().map(|_| self.unshared.sum())
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
        let model_spend = if key.model_max_budget.0.is_empty() {
            Vec::new()
        } else {
            store::spend::model_spend(&self.pool, &key.token)
                .await
                .map_err(|e| self.db_error(&e))?
        };
        self.mark_db(true, None);
        if key.rules.blocked || team.as_ref().is_some_and(|t| t.rules.blocked) {
            return Ok(Cached::Blocked);
        }
        self.book.seed(
            Scope::Key,
            &key.token,
            key.rules.spend,
            key.rules.budget_reset_at,
        );
        if let Some(t) = &team {
            self.book.seed(
                Scope::Team,
                &t.team_id,
                t.rules.spend,
                t.rules.budget_reset_at,
            );
        }
        let principal = principal_of(key, team);
        for (model, period_end, spend) in model_spend {
            if let Some(b) = principal.model_budgets.iter().find(|b| b.model == model) {
                self.book
                    .seed(Scope::Model, &b.rules.id, spend, Some(period_end));
            }
        }
        Ok(Cached::Found(Arc::new(principal)))
    }

    /// Checks model scope, budgets (the key's, its team's and the key's budget for `model`) and
    /// rpm/tpm/parallel limits of the key and its team (the tighter wins) before Bedrock is
    /// called, reserving `est_tokens` in the tpm windows. The returned [`Admission`] holds the
    /// parallel slots and the reservation until it is settled or dropped.
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
        let mut checks: Vec<ScopeCheck> = Vec::with_capacity(3);
        for (i, (scope, rules)) in principal.scopes().enumerate() {
            let (spend, period) = self.book.current(scope, rules, now_dt);
            periods[i] = period;
            checks.push(self.check(scope, rules, spend, period));
        }
        let model_budget = principal.model_budget(model).and_then(|i| {
            let budget = principal.model_budgets.get(i)?;
            let end = budget.period_end(now_dt);
            let spend = self.book.in_period(Scope::Model, &budget.rules.id, end);
            checks.push(self.check(Scope::Model, &budget.rules, spend, Some(end)));
            Some((i, Some(end)))
        });
        let unlimited = checks.iter().all(|c| {
            c.rpm.is_none() && c.tpm.is_none() && c.parallel.is_none() && c.max_budget.is_none()
        });
        if unlimited {
            return Ok(Admission {
                principal: Arc::clone(principal),
                periods,
                model: model_budget,
                release: None,
            });
        }
        let now_ms = unix_ms(now);
        let (verdict, backend) = self.limiter.admit(&checks, est_tokens, now_ms).await;
        match verdict {
            Verdict::Admitted { shared_spend } => {
                if let Some(shared) = shared_spend {
                    for (c, s) in checks.iter().zip(shared) {
                        self.book
                            .set_shared(c.scope, c.id, c.period, s + c.unshared);
                    }
                }
                Ok(Admission {
                    principal: Arc::clone(principal),
                    periods,
                    model: model_budget,
                    release: Some(Release {
                        limiter: Arc::clone(&self.limiter),
                        principal: Arc::clone(principal),
                        backend,
                        reserved: est_tokens,
                        minute: now_ms / 60_000,
                    }),
                })
            }
            Verdict::Budget {
                scope: Scope::Model,
                spend,
                max_budget,
            } => Err(KeyError::ModelBudgetExceeded {
                model: model.to_string(),
                spend,
                max_budget,
            }),
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

    /// One scope of an admission: its limits (a model budget has no rate limits) and spend.
    fn check<'r>(
        &self,
        scope: Scope,
        rules: &'r ScopeRules,
        spend: f64,
        period: Option<OffsetDateTime>,
    ) -> ScopeCheck<'r> {
        let unshared = match &self.redis {
            Some(_) => self
                .unshared
                .total(scope, &rules.id, period.map(|t| t.unix_timestamp())),
            None => 0.0,
        };
        ScopeCheck {
            scope,
            id: &rules.id,
            rpm: rules.rpm_limit,
            tpm: rules.tpm_limit,
            parallel: rules.max_parallel_requests,
            max_budget: rules.max_budget,
            spend,
            unshared,
            period,
            counted: scope != Scope::Model,
        }
    }

    /// Records a finished request: spend and tokens counted in memory (and Redis) at once, the
    /// Postgres update and spend-log row queued for the writer. Never awaits, never blocks on I/O.
    pub fn settle(&self, mut admission: Admission, event: SpendEvent) {
        let p = Arc::clone(&admission.principal);
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
        if let Some(release) = admission.release.as_mut() {
            release.settle_tokens(tokens);
        }
        // With Redis, the spend also waits for the sharer (whatever counted the admission: spend
        // settled while Redis is down is added when it is back).
        let share = self.redis.is_some() && spend > 0.0;
        for (scope, rules, period) in admission.budgets() {
            self.book.add(scope, &rules.id, period, spend);
            if share {
                let period = period.map(|t| t.unix_timestamp());
                self.unshared.add(scope, &rules.id, period, spend);
            }
        }
        if share {
            self.share_wake.notify_one();
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
                request_tags: p.tags.clone(),
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

    /// Adds the spend Redis does not have yet to the shared counters now (graceful shutdown,
    /// tests); returns whether nothing is left to share.
    pub async fn share_spend(&self) -> bool {
        loop {
            match self.share_once().await {
                Ok(true) => continue,
                Ok(false) => return true,
                Err(()) => return false,
            }
        }
    }

    /// Sends one batch of unshared spend: `Ok(true)` when one was shared, `Ok(false)` when there
    /// was nothing to share, `Err` when Redis did not answer (the batch waits for the next try).
    async fn share_once(&self) -> Result<bool, ()> {
        let Some(redis) = &self.redis else {
            return Ok(false);
        };
        let Some(batch) = self.unshared.batch() else {
            return Ok(false);
        };
        let items: Vec<ShareItem> = batch
            .items
            .iter()
            .map(|(scope, id, period, spend)| {
                // What the counter holds without this replica's unshared spend, should it be
                // missing (first use in this period, or an expired counter).
                let known = self.book.spend_in(*scope, id, *period);
                let seed = known.map_or(0.0, |k| k - self.unshared.total(*scope, id, *period));
                ShareItem {
                    scope: *scope,
                    id,
                    period: *period,
                    spend: *spend,
                    seed,
                }
            })
            .collect();
        if redis.share(&self.share_marker, batch.seq, &items).await {
            self.unshared.shared(batch.seq);
            Ok(true)
        } else {
            Err(())
        }
    }

    /// A key or team is gone, or its spend was set by hand: its meter and its unshared spend go.
    pub(crate) fn forget(&self, scope: Scope, id: &str) {
        self.book.forget(scope, id);
        self.unshared.forget(scope, id);
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

    /// A key or team (`scope` is [`Scope::Key`] or [`Scope::Team`]) is gone or renamed: its meter
    /// and unshared spend go ([`KeyService::forget`]) and every replica's cache drops it.
    pub(crate) async fn forget_everywhere(&self, scope: Scope, id: &str) {
        debug_assert!(scope != Scope::Model, "models are not cached on their own");
        self.forget(scope, id);
        self.invalidate(&format!("{scope}:{id}")).await;
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

/// The spend sharer: sends unshared spend to Redis when settle wakes it; while Redis does not
/// answer, tries again after a doubling pause (200 ms up to 2 s), so spend settled during an
/// outage reaches the shared counters within moments of Redis coming back. Holds no strong
/// reference while waiting; ends when the service is gone.
async fn share_loop(service: Weak<KeyService>, wake: Arc<Notify>) {
    let mut backoff: Option<Duration> = None;
    loop {
        match backoff {
            None => wake.notified().await,
            Some(pause) => tokio::time::sleep(pause).await,
        }
        let Some(s) = service.upgrade() else { return };
        backoff = if s.share_spend().await {
            None
        } else {
            let next = backoff.map_or(Duration::from_millis(200), |b| b * 2);
            Some(next.min(MAX_SHARE_BACKOFF))
        };
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

/// A stored key's or team's rules as the hot path checks them.
fn scope_rules(id: String, r: &StoredRules) -> ScopeRules {
    ScopeRules {
        id,
        models: r.models.clone(),
        max_budget: r.max_budget,
        budget_period: period_of(&r.budget_duration),
        budget_reset_at: r.budget_reset_at,
        rpm_limit: store::limit(r.rpm_limit),
        tpm_limit: store::limit(r.tpm_limit),
        max_parallel_requests: store::limit(r.max_parallel_requests),
    }
}

/// A key row (and its team's row) as the hot path's principal.
fn principal_of(key: KeyRow, team: Option<TeamRow>) -> Principal {
    let model_budgets =
        crate::model_budget::budgets(&key.token, key.created_at, &key.model_max_budget.0);
    let metadata = &key.rules.metadata.0;
    let user_email = metadata
        .get("user_email")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let tags = store::tags_of(metadata);
    let key_rules = scope_rules(key.token.clone(), &key.rules);
    let (team_alias, team_guardrails, team_rules) = match team {
        Some(t) => {
            let rules = scope_rules(t.team_id, &t.rules);
            (t.team_alias, t.rules.guardrails, Some(rules))
        }
        None => (None, Vec::new(), None),
    };
    Principal {
        key_hash: key.token,
        key_alias: key.key_alias,
        team_id: key.team_id,
        team_alias,
        user_id: key.user_id,
        guardrails: key.rules.guardrails,
        team_guardrails,
        allowed_cache_controls: key.allowed_cache_controls,
        user_email,
        tags,
        expires: key.expires,
        key: key_rules,
        team: team_rules,
        model_budgets,
    }
}
