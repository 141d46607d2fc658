//! [`ModelStore`]: the stored deployments in Postgres (schema `shale_models`, its own sqlx
//! migrations), secrets sealed on the way in and opened on the way out, a table version bumped
//! with every write, the Redis change notice, and the watcher that hands the gateway the whole
//! list whenever the version moved (on a notice, and every reconcile interval).
//!
//! Postgres down: reads and writes fail with [`ModelError::Unavailable`] (the gateway keeps the
//! table it has); one warning per outage; `health()` says so. Redis down: notices are lost, the
//! periodic check still finds every change. Runtime-checked queries with bound values only.

use crate::api::Draft;
use crate::error::ModelError;
use crate::seal::{is_sealed, Sealer};
use futures::StreamExt;
use serde_json::{Map, Value};
use shale_keys::describe_db_error;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::PgPool;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Embedded schema migrations (`crates/shale-models/migrations`), applied in schema `shale_models`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The schema of the model tables (and of their migration history).
const SCHEMA: &str = "shale_models";
/// The Redis channel of change notices.
const CHANNEL: &str = "shale:models:changed";
/// Longest wait for a Postgres connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for one Redis call.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// `litellm_params` keys stored sealed and masked in every answer: the secrets, and the access
/// key id that goes with a secret access key.
pub const SEALED_PARAMS: [&str; 5] = [
    "api_key",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_web_identity_token",
    "aws_access_key_id",
];

/// One stored deployment, secrets opened (in memory only).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub model_id: String,
    pub model_name: String,
    pub litellm_params: Map<String, Value>,
    pub model_info: Map<String, Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl StoredRow {
    /// The deployment as a `model_list` entry (`model_name`, `litellm_params`, `model_info`).
    pub fn entry_json(&self) -> Value {
        serde_json::json!({
            "model_name": self.model_name,
            "litellm_params": self.litellm_params,
            "model_info": self.model_info,
        })
    }
}

/// Health of the store's dependencies, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreHealth {
    pub database_up: bool,
    /// `None` without Redis.
    pub redis_up: Option<bool>,
}

type Row = (
    String,
    String,
    Json<Map<String, Value>>,
    Json<Map<String, Value>>,
    OffsetDateTime,
    OffsetDateTime,
);

/// The stored deployments of every replica. Shared as `Arc<ModelStore>`.
pub struct ModelStore {
    pool: PgPool,
    sealer: Option<Sealer>,
    redis: Option<(redis::Client, redis::aio::ConnectionManager)>,
    db_up: AtomicBool,
    redis_up: AtomicBool,
    schema_ready: AtomicBool,
    poke: Arc<Notify>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ModelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelStore")
            .field("health", &self.health())
            .field("sealer", &self.sealer.is_some())
            .finish()
    }
}

impl Drop for ModelStore {
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

impl ModelStore {
    /// Prepares the pool (connected lazily) and, when Postgres answers, the schema. Postgres
    /// down at start-up is not fatal: the schema is made on the first call that reaches it.
    pub async fn start(
        database_url: &str,
        pool_limit: u32,
        redis_url: Option<&str>,
        sealer: Option<Sealer>,
    ) -> Result<Arc<ModelStore>, ModelError> {
        let options = PgConnectOptions::from_str(database_url)
            .map_err(|_| ModelError::Unavailable("invalid database_url".into()))?
            .options([("search_path", SCHEMA)]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_limit.clamp(1, 4))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let redis = match redis_url.map(redis_link) {
            Some(Ok(link)) => Some(link),
            Some(Err(why)) => {
                tracing::warn!(error = %why, "invalid Redis settings: model changes reach other replicas by the periodic reconcile only");
                None
            }
            None => None,
        };
        let store = Arc::new(ModelStore {
            pool,
            sealer,
            redis,
            db_up: AtomicBool::new(false),
            redis_up: AtomicBool::new(true),
            schema_ready: AtomicBool::new(false),
            poke: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
        });
        if let Err(e) = store.ensure_schema().await {
            tracing::warn!(error = %e, "Postgres is unreachable at start-up: serving the config file's models; stored models arrive once it is back");
        }
        Ok(store)
    }

    /// Whether secrets can be stored (a salt key is set).
    pub fn can_seal(&self) -> bool {
        self.sealer.is_some()
    }

    pub fn health(&self) -> StoreHealth {
        StoreHealth {
            database_up: self.db_up.load(Ordering::Relaxed),
            redis_up: self
                .redis
                .as_ref()
                .map(|_| self.redis_up.load(Ordering::Relaxed)),
        }
    }

    async fn ensure_schema(&self) -> Result<(), ModelError> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            .execute(&self.pool)
            .await;
        if let Err(e) = created {
            // Two replicas creating it at once: one wins, the other sees a duplicate.
            let duplicate =
                matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"));
            if !duplicate {
                return Err(self.failed(&e));
            }
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| self.failed(&sqlx::Error::Migrate(Box::new(e))))?;
        self.schema_ready.store(true, Ordering::Release);
        self.mark_db(true);
        Ok(())
    }

    /// Records an outage (one warning per outage) and returns the error to give.
    fn failed(&self, e: &sqlx::Error) -> ModelError {
        if matches!(e, sqlx::Error::Database(_)) {
            // Postgres answered (a constraint, a bad value): it is up.
            self.mark_db(true);
        } else if self.db_up.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %describe_db_error(e), "Postgres is unreachable: the model table stays as it is until it is back");
        }
        ModelError::db(e)
    }

    fn mark_db(&self, up: bool) {
        if up && !self.db_up.swap(true, Ordering::Relaxed) {
            tracing::info!("Postgres is reachable: stored models are in sync again");
        }
    }

    /// Every stored deployment, oldest first, secrets opened. A row whose secrets do not open
    /// with this replica's salt key is left out (and logged).
    pub async fn list(&self) -> Result<Vec<StoredRow>, ModelError> {
        self.ensure_schema().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT model_id, model_name, litellm_params, model_info, created_at, updated_at \
             FROM deployments ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(&e))?;
        self.mark_db(true);
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = row.0.clone();
                self.open_row(row)
                    .map_err(|e| tracing::error!(model_id = %id, error = %e, "a stored model cannot be read"))
                    .ok()
            })
            .collect())
    }

    /// One stored deployment.
    pub async fn get(&self, model_id: &str) -> Result<Option<StoredRow>, ModelError> {
        self.ensure_schema().await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT model_id, model_name, litellm_params, model_info, created_at, updated_at \
             FROM deployments WHERE model_id = $1",
        )
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(&e))?;
        self.mark_db(true);
        row.map(|r| self.open_row(r)).transpose()
    }

    /// Stores a new deployment (secrets sealed) and announces the change.
    pub async fn insert(&self, draft: &Draft) -> Result<(), ModelError> {
        let sql = "INSERT INTO deployments (model_id, model_name, litellm_params, model_info) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (model_id) DO NOTHING";
        self.write_row(sql, draft).await.map_err(|e| match e {
            ModelError::NotFound(id) => ModelError::Duplicate(id),
            other => other,
        })
    }

    /// Replaces a stored deployment (secrets sealed) and announces the change.
    pub async fn update(&self, draft: &Draft) -> Result<(), ModelError> {
        let sql = "UPDATE deployments SET model_name = $2, litellm_params = $3, model_info = $4, \
                   updated_at = now() WHERE model_id = $1";
        self.write_row(sql, draft).await
    }

    /// Runs one row write (`$1` id, `$2` name, `$3` sealed params, `$4` info) with the version
    /// bump; [`ModelError::NotFound`] when it touched no row.
    async fn write_row(&self, sql: &str, draft: &Draft) -> Result<(), ModelError> {
        self.ensure_schema().await?;
        let sealed = self.seal_params(&draft.litellm_params)?;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(&e))?;
        let written = sqlx::query(sql)
            .bind(&draft.model_id)
            .bind(&draft.model_name)
            .bind(Json(&sealed))
            .bind(Json(&draft.model_info))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(&e))?;
        if written.rows_affected() == 0 {
            return Err(ModelError::NotFound(draft.model_id.clone()));
        }
        self.commit_change(tx).await
    }

    /// Deletes a stored deployment and announces the change.
    pub async fn delete(&self, model_id: &str) -> Result<(), ModelError> {
        self.ensure_schema().await?;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(&e))?;
        let deleted = sqlx::query("DELETE FROM deployments WHERE model_id = $1")
            .bind(model_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(&e))?;
        if deleted.rows_affected() == 0 {
            return Err(ModelError::NotFound(model_id.to_string()));
        }
        self.commit_change(tx).await
    }

    /// Bumps the table version in the write's transaction, commits, and tells every replica.
    async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), ModelError> {
        let (version,): (i64,) = sqlx::query_as(
            "UPDATE table_version SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.failed(&e))?;
        tx.commit().await.map_err(|e| self.failed(&e))?;
        self.mark_db(true);
        self.publish(version).await;
        self.poke.notify_one();
        Ok(())
    }

    /// The table's version (one tiny query).
    async fn version(&self) -> Result<i64, ModelError> {
        self.ensure_schema().await?;
        let (v,): (i64,) = sqlx::query_as("SELECT version FROM table_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(&e))?;
        self.mark_db(true);
        Ok(v)
    }

    fn seal_params(&self, params: &Map<String, Value>) -> Result<Map<String, Value>, ModelError> {
        let mut out = params.clone();
        for key in SEALED_PARAMS {
            let Some(value) = out.get_mut(key) else {
                continue;
            };
            let text = match &*value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match &self.sealer {
                Some(sealer) => *value = Value::String(sealer.seal(&text)),
                // A reference names where the secret is; it is not one.
                None if text.starts_with("os.environ/") => {}
                None => return Err(ModelError::NoSaltKey(key.to_string())),
            }
        }
        Ok(out)
    }

    fn open_row(&self, row: Row) -> Result<StoredRow, ModelError> {
        let (model_id, model_name, Json(mut litellm_params), Json(model_info), created, updated) =
            row;
        for key in SEALED_PARAMS {
            if let Some(Value::String(s)) = litellm_params.get_mut(key) {
                if is_sealed(s) {
                    let sealer = self
                        .sealer
                        .as_ref()
                        .ok_or_else(|| ModelError::NoSaltKey(key.to_string()))?;
                    *s = sealer.open(s).ok_or(ModelError::Seal)?;
                }
            }
        }
        Ok(StoredRow {
            model_id,
            model_name,
            litellm_params,
            model_info,
            created_at: created,
            updated_at: updated,
        })
    }

    /// Tells every replica the table changed (waits at most a moment; a lost notice is found by
    /// the periodic check).
    async fn publish(&self, version: i64) {
        let Some((_, conn)) = &self.redis else {
            return;
        };
        let mut conn = conn.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(CHANNEL).arg(version);
        let sent = tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async::<i64>(&mut conn)).await;
        self.mark_redis(matches!(sent, Ok(Ok(_))));
    }

    fn mark_redis(&self, up: bool) {
        let was = self.redis_up.swap(up, Ordering::Relaxed);
        if was && !up {
            tracing::warn!("Redis is unreachable: model changes reach the other replicas by the periodic reconcile only");
        } else if !was && up {
            tracing::info!("Redis is reachable again: model changes are announced at once");
        }
    }

    /// Starts the watcher: the whole list of stored deployments arrives on the returned channel
    /// now (when Postgres answers) and after every change, found on a Redis notice or by checking
    /// the table version every `every`. Stops when the store is dropped.
    pub fn watch(
        self: &Arc<Self>,
        every: Duration,
    ) -> watch::Receiver<Option<Arc<Vec<StoredRow>>>> {
        let (tx, rx) = watch::channel(None);
        let weak = Arc::downgrade(self);
        let poke = Arc::clone(&self.poke);
        let watcher = tokio::spawn(async move {
            let mut seen: Option<i64> = None;
            loop {
                let Some(store) = weak.upgrade() else { return };
                if let Ok(version) = store.version().await {
                    if seen != Some(version) {
                        if let Ok(rows) = store.list().await {
                            seen = Some(version);
                            if tx.send(Some(Arc::new(rows))).is_err() {
                                return;
                            }
                        }
                    }
                }
                drop(store);
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = poke.notified() => {}
                }
            }
        });
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(watcher);
        if let Some((client, _)) = &self.redis {
            tasks.push(tokio::spawn(subscribe_forever(
                client.clone(),
                Arc::clone(&self.poke),
                Arc::downgrade(self),
            )));
        }
        rx
    }
}

fn redis_link(url: &str) -> Result<(redis::Client, redis::aio::ConnectionManager), String> {
    let redacted = |e: redis::RedisError| format!("{:?}", e.kind());
    let client = redis::Client::open(url).map_err(redacted)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let conn = redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(redacted)?;
    Ok((client, conn))
}

/// Listens for change notices for ever (a notice pokes the watcher), resubscribing with a growing
/// pause (at most 5 s) when the subscription breaks — and poking then too, since notices may have
/// been missed meanwhile.
async fn subscribe_forever(
    client: redis::Client,
    poke: Arc<Notify>,
    store: std::sync::Weak<ModelStore>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
            Ok(Ok(mut pubsub)) => {
                if let Some(s) = store.upgrade() {
                    s.mark_redis(true);
                }
                pause = Duration::from_millis(100);
                poke.notify_one();
                let mut messages = pubsub.on_message();
                while messages.next().await.is_some() {
                    poke.notify_one();
                }
            }
            _ => {
                if let Some(s) = store.upgrade() {
                    s.mark_redis(false);
                }
            }
        }
        poke.notify_one();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
