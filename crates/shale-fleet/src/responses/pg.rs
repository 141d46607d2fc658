//! The Postgres backend of the shared Responses store: table `shale_responses` (id, owner hash,
//! the JSON document, its size, created and expiry times), created if missing the first time the
//! store is used (under an advisory lock, so replicas starting together do not race; it is not a
//! sqlx migration, so it never interferes with the virtual keys' migrations in the same
//! database). Every query is one round trip with bound values. The sweep deletes expired rows and
//! then the oldest beyond `max_responses` / `max_bytes`.
//!
//! Must not: put the database URL in an error or a log line, or build SQL from input text.

use super::codec::{decode, Encoded};
use super::shared::{Backend, BackendError, BackendFuture};
use super::{OpenError, Owner, StoredResponse};
use shale_config::ResponsesStoreSettings;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Most connections this replica opens for the store.
const POOL_SIZE: u32 = 4;

const SCHEMA: &[&str] = &[
    "SELECT pg_advisory_xact_lock(hashtext('shale_responses_schema'))",
    "CREATE TABLE IF NOT EXISTS shale_responses (
        id          TEXT PRIMARY KEY,
        owner       BYTEA NOT NULL CHECK (length(owner) = 32),
        body        TEXT NOT NULL,
        bytes       BIGINT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        expires_at  TIMESTAMPTZ NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS shale_responses_expires_at ON shale_responses (expires_at)",
    "CREATE INDEX IF NOT EXISTS shale_responses_created_at ON shale_responses (created_at)",
];

pub(crate) struct PgBackend {
    pool: PgPool,
    max_responses: i64,
    max_bytes: i64,
    schema_ready: AtomicBool,
    schema_lock: tokio::sync::Mutex<()>,
    up: AtomicBool,
}

impl PgBackend {
    /// A lazily connecting pool (start-up never waits for the database).
    pub(crate) fn connect(
        url: &str,
        limits: &ResponsesStoreSettings,
    ) -> Result<PgBackend, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy(url)
            .map_err(|_| OpenError::Invalid("invalid database_url".into()))?;
        Ok(PgBackend {
            pool,
            max_responses: limits.max_responses.min(i64::MAX as usize) as i64,
            max_bytes: limits.max_bytes.min(i64::MAX as usize) as i64,
            schema_ready: AtomicBool::new(false),
            schema_lock: tokio::sync::Mutex::new(()),
            up: AtomicBool::new(true),
        })
    }

    /// Records the outcome of a call; a connection-level failure means the store is down.
    fn outcome<T>(&self, r: Result<T, sqlx::Error>) -> Result<T, BackendError> {
        match r {
            Ok(v) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "Postgres is reachable again: stored responses are shared again"
                    );
                }
                Ok(v)
            }
            Err(e) => {
                let transient = matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                        | sqlx::Error::WorkerCrashed
                );
                let why = describe(&e);
                if transient {
                    if self.up.swap(false, Ordering::Relaxed) {
                        tracing::warn!(error = %why, "Postgres is unreachable: stored responses are written when it is back; meanwhile this replica answers from its cache of recent writes");
                    }
                    Err(BackendError::Unavailable(why))
                } else {
                    Err(BackendError::Rejected(why))
                }
            }
        }
    }

    async fn ensure_schema(&self) -> Result<(), BackendError> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.schema_lock.lock().await;
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let run = async {
            let mut tx = self.pool.begin().await?;
            for statement in SCHEMA {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            tx.commit().await
        };
        match self.outcome(run.await) {
            Ok(()) => {
                self.schema_ready.store(true, Ordering::Release);
                Ok(())
            }
            // Creating the table is never refused for good: try again on the next call.
            Err(BackendError::Rejected(why)) => Err(BackendError::Unavailable(why)),
            Err(e) => Err(e),
        }
    }
}

/// A database error without the URL: the class, and Postgres's own message when it sent one.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => format!("database error: {}", db.message()),
        sqlx::Error::PoolTimedOut => "no database connection within 1 s".into(),
        sqlx::Error::Io(io) => format!("cannot reach the database: {}", io.kind()),
        other => {
            let text = other.to_string();
            text.split(" (").next().unwrap_or("database error").into()
        }
    }
}

impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn put<'a>(&'a self, r: &'a Encoded) -> BackendFuture<'a, ()> {
        Box::pin(async move {
            self.ensure_schema().await?;
            let q = sqlx::query(
                "INSERT INTO shale_responses (id, owner, body, bytes, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000),
                         to_timestamp($6::double precision / 1000))
                 ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, body = EXCLUDED.body,
                     bytes = EXCLUDED.bytes, created_at = EXCLUDED.created_at,
                     expires_at = EXCLUDED.expires_at",
            )
            .bind(&r.id)
            .bind(&r.owner.as_bytes()[..])
            .bind(&r.json)
            .bind(r.bytes() as i64)
            .bind(r.created_ms as f64)
            .bind(r.expires_ms as f64);
            self.outcome(q.execute(&self.pool).await).map(|_| ())
        })
    }

    fn get<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, Option<StoredResponse>> {
        Box::pin(async move {
            self.ensure_schema().await?;
            let q = sqlx::query_scalar::<_, String>(
                "SELECT body FROM shale_responses WHERE id = $1 AND owner = $2 AND expires_at > now()",
            )
            .bind(id)
            .bind(&owner.as_bytes()[..]);
            let body = self.outcome(q.fetch_optional(&self.pool).await)?;
            Ok(body.and_then(|json| decode(owner, &json)))
        })
    }

    fn delete<'a>(&'a self, owner: Owner, id: &'a str) -> BackendFuture<'a, bool> {
        Box::pin(async move {
            self.ensure_schema().await?;
            let q = sqlx::query(
                "DELETE FROM shale_responses WHERE id = $1 AND owner = $2 AND expires_at > now()",
            )
            .bind(id)
            .bind(&owner.as_bytes()[..]);
            let done = self.outcome(q.execute(&self.pool).await)?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn sweep(&self) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            self.ensure_schema().await?;
            let expired = sqlx::query("DELETE FROM shale_responses WHERE expires_at <= now()");
            self.outcome(expired.execute(&self.pool).await)?;
            let surplus = sqlx::query(
                "DELETE FROM shale_responses WHERE id IN (
                   SELECT id FROM (
                     SELECT id, row_number() OVER w AS n, sum(bytes) OVER w AS total
                     FROM shale_responses WINDOW w AS (ORDER BY created_at DESC, id DESC)
                   ) ranked WHERE n > $1 OR total > $2)",
            )
            .bind(self.max_responses)
            .bind(self.max_bytes);
            self.outcome(surplus.execute(&self.pool).await).map(|_| ())
        })
    }

    fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}
