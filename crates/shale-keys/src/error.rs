//! [`KeyError`]: everything that can go wrong in `shale-keys`, for the server to map to HTTP in its
//! one error module. Messages never contain a key (clear or hashed) nor a database URL.

use std::fmt;

/// Whose limit or budget was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Key,
    Team,
    /// A key's spend on one model (`model_max_budget`); its id is `<key hash>/<model>`.
    Model,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Key => "key",
            Scope::Team => "team",
            Scope::Model => "model",
        })
    }
}

/// Which rate limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per minute (`rpm_limit`).
    Rpm,
    /// Tokens per minute (`tpm_limit`).
    Tpm,
    /// Requests in flight (`max_parallel_requests`).
    Parallel,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Rpm => "rpm_limit",
            LimitKind::Tpm => "tpm_limit",
            LimitKind::Parallel => "max_parallel_requests",
        })
    }
}

/// Errors of the key service. The server maps each variant to an HTTP status in `error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No `database_url` is configured (HTTP 400).
    #[error("virtual keys need database_url (general_settings.database_url or DATABASE_URL)")]
    NoDatabase,
    /// The presented key is not a known virtual key, or was deleted (HTTP 401).
    #[error("invalid API key")]
    InvalidKey,
    /// The key's `expires` is in the past (HTTP 401).
    #[error("the API key has expired")]
    Expired,
    /// The key (or its team) is blocked (HTTP 401).
    #[error("the API key is blocked")]
    Blocked,
    /// The key or its team may not call this model (HTTP 401).
    #[error("key not allowed to access model: {model}")]
    ModelNotAllowed { model: String },
    /// Spend reached `max_budget` (HTTP 400).
    #[error("Budget has been exceeded: {scope} spend {spend:.6} >= max_budget {max_budget:.6}")]
    BudgetExceeded {
        scope: Scope,
        spend: f64,
        max_budget: f64,
    },
    /// The key's spend on this model reached its `model_max_budget` entry (HTTP 400).
    #[error("Budget has been exceeded: key spend on model {model} {spend:.6} >= model_max_budget {max_budget:.6}")]
    ModelBudgetExceeded {
        model: String,
        spend: f64,
        max_budget: f64,
    },
    /// rpm/tpm/parallel limit reached (HTTP 429 with `Retry-After`).
    #[error("rate limit reached: {scope} {limit}; retry after {retry_after_secs}s")]
    RateLimited {
        limit: LimitKind,
        scope: Scope,
        retry_after_secs: u64,
    },
    /// A malformed admin request (HTTP 400).
    #[error("{0}")]
    InvalidRequest(String),
    /// An admin lookup found nothing (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Postgres is unreachable and the answer is not cached (HTTP 503).
    #[error("key store unavailable: {0}")]
    Unavailable(String),
}

impl KeyError {
    /// A database error as [`KeyError::Unavailable`], without the connection string; a value the
    /// request carried that PostgreSQL cannot store ([`refused_value`]) is the client's 400.
    pub(crate) fn db(e: &sqlx::Error) -> KeyError {
        match refused_value(e) {
            Some(message) => KeyError::InvalidRequest(message),
            None => KeyError::Unavailable(describe_db_error(e)),
        }
    }
}

/// When PostgreSQL refused a value rather than failed: SQLSTATE class 22, "data exception" (a NUL
/// character in text, 22P05; a number, date or interval out of range; text too long). Those values
/// come from the request, so the answer is a 400 saying what to change, never a 503 that blames
/// the database (also used by `shale-models`, on the same database).
pub fn refused_value(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    let code = d.code()?;
    if !code.starts_with("22") {
        return None;
    }
    let what = match code.as_ref() {
        "22P05" | "22021" => "text must not contain NUL (\\u0000) characters",
        "22003" => "a number is out of range",
        "22008" | "22007" | "22015" => "a date or duration is out of range",
        "22001" => "a text value is too long",
        _ => "a value cannot be stored",
    };
    Some(format!(
        "The request holds a value the database cannot store: {what} (database error {code})."
    ))
}

/// A short description of a sqlx error that never carries credentials or bound values (also
/// used by `shale-models`, on the same database).
pub fn describe_db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => format!("database error {}", d.code().unwrap_or_default()),
        sqlx::Error::Io(io) => format!("i/o error: {}", io.kind()),
        sqlx::Error::PoolTimedOut => "connection pool timed out".into(),
        sqlx::Error::PoolClosed => "connection pool closed".into(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::Protocol(_) => "protocol error".into(),
        sqlx::Error::Configuration(_) => "invalid database_url".into(),
        sqlx::Error::Migrate(m) => format!("migration failed: {m}"),
        _ => "database error".into(),
    }
}
