//! [`ModelError`]: what can go wrong in `shale-models`, for the server to map to HTTP in its one
//! error module. Messages never carry a secret or a database URL.

/// Errors of the model store and the model API.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `store_model_in_db` is off (HTTP 400).
    #[error("models are not stored in a database: set general_settings.store_model_in_db: true (or STORE_MODEL_IN_DB=true) and general_settings.database_url (or DATABASE_URL)")]
    NotEnabled,
    /// A deployment that does not validate, or a malformed request (HTTP 400).
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    /// The deployment comes from the config file: the API cannot change it (HTTP 400).
    #[error("Can't edit model `{0}`: it comes from the config file, which the model API does not change. Edit the config file (and reload it with SIGHUP), or add the model with /model/new to manage it through the API.")]
    ReadOnly(String),
    /// No stored deployment has this id (HTTP 404).
    #[error("Model with id `{0}` not found.")]
    NotFound(String),
    /// A deployment with this id exists already (HTTP 400).
    #[error("A model with id `{0}` already exists.")]
    Duplicate(String),
    /// Secrets cannot be stored (or read) without a salt key (HTTP 400 on a write).
    #[error("Refusing to store `litellm_params.{0}` without an encryption key: set SHALE_SALT_KEY (or LITELLM_SALT_KEY) on every replica, or pass the secret as an `os.environ/NAME` reference.")]
    NoSaltKey(String),
    /// A stored secret does not open with this replica's salt key.
    #[error("a stored secret cannot be decrypted with this replica's salt key (SHALE_SALT_KEY / LITELLM_SALT_KEY differs?)")]
    Seal,
    /// Postgres is unreachable (HTTP 503).
    #[error("model store unavailable: {0}")]
    Unavailable(String),
}

impl ModelError {
    /// A 400 naming the field at fault.
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> ModelError {
        ModelError::Invalid {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// A database error: a value PostgreSQL refused (`shale_keys::refused_value`) is the
    /// client's 400; anything else means the store is unavailable (503).
    pub(crate) fn db(e: &sqlx::Error) -> ModelError {
        match shale_keys::refused_value(e) {
            Some(message) => ModelError::invalid(None, message),
            None => ModelError::Unavailable(shale_keys::describe_db_error(e)),
        }
    }
}
