//! Start-up assembly: builds the first snapshot of the gateway from the config, opens the model
//! store (`store_model_in_db`), makes the snapshot live with the routes of `app.rs`, and starts
//! the task that keeps stored models in sync.
//!
//! Must not: serve requests or bind sockets (that is `connections.rs`); it sits above the live
//! table, the routes and the model sync so none of them imports another's assembly.

use crate::live::Live;
use crate::state::{AppState, StartupError};
use shale_config::Config;
use std::path::PathBuf;
use std::sync::Arc;

/// Builds the gateway for `config` (read from `path`, when reloads should re-read it) and makes
/// it live. `master_key` is the effective key, `workers` the serving workers. With
/// `store_model_in_db` the stored models are loaded (when Postgres answers: otherwise the file's
/// models serve until it does) and kept in sync (see `models_sync.rs`).
pub async fn start(
    config: Config,
    path: Option<PathBuf>,
    master_key: Option<&str>,
    workers: usize,
) -> Result<Arc<Live>, StartupError> {
    let mut state = AppState::build(config.clone(), master_key, workers).await?;
    state.models_store = crate::models_sync::open_store(&config).await?;
    let live = Live::new(state, config, path, crate::app::routes);
    crate::models_sync::start(&live).await;
    Ok(live)
}
