//! `shale-models`: deployments kept in Postgres so every replica serves the same models —
//! LiteLLM's `store_model_in_db` behind `/model/new`, `/model/update`, `/model/delete` (issue
//! #31).
//!
//! - [`ModelStore`]: the rows (schema `shale_models` of the virtual keys' database, sqlx
//!   migrations), each write in one transaction with a bumped table version; secrets in
//!   `litellm_params` sealed with a key derived from `SHALE_SALT_KEY` / `LITELLM_SALT_KEY`
//!   ([`seal`]); a change notice on Redis pub/sub after each write, and a watcher that checks the
//!   table version on every notice and every `model_reconcile_interval_seconds`, handing the whole
//!   list to the gateway when it changed. Postgres down: the last list keeps serving; Redis down:
//!   changes arrive by the periodic check.
//! - [`api`]: the model API's JSON (LiteLLM's shapes): partial updates, secrets masked in every
//!   answer, the rows of `/model/info`, `/v2/model/info` and `/model_group/info`.
//!
//! Validation of a deployment is `shale_config::ModelEntry::from_json` (the config file's rules);
//! serving it is the gateway's. Must not: know HTTP, log a secret or a database URL.

#![forbid(unsafe_code)]

pub mod api;
mod error;
pub mod seal;
mod store;

pub use error::ModelError;
pub use seal::Sealer;
pub use store::{ModelStore, StoreHealth, StoredRow};
