//! Stored models (`store_model_in_db`) in the live table: opening the store at start-up, and the
//! task that hands every list the store's watcher reports (a Redis notice from the replica that
//! wrote, or the periodic reconcile) to [`Live::set_stored`]. Postgres down → the watcher reports
//! nothing and the last table keeps serving; Redis down → changes arrive by the reconcile.
//!
//! Must not: validate or serve deployments itself (that is `live.rs` / `state.rs`), or talk to
//! Postgres directly (that is `shale-models`).

use crate::live::{stored_models, Live};
use crate::state::StartupError;
use shale_config::Config;
use std::sync::Arc;

/// Whether models live in Postgres: `general_settings.store_model_in_db`, or env
/// `STORE_MODEL_IN_DB` true (LiteLLM's variable).
pub use crate::fleet_setup::store_models_enabled as enabled;

/// The model store, when `store_model_in_db` is on (it needs a database URL).
pub async fn open_store(
    config: &Config,
) -> Result<Option<Arc<shale_models::ModelStore>>, StartupError> {
    if !enabled(config) {
        return Ok(None);
    }
    // The virtual keys' database (`database_url`, else `DATABASE_URL`).
    let url = config
        .general_settings
        .keys
        .database_url_or_env()
        .ok_or_else(|| {
            StartupError::Models(
            "store_model_in_db needs a database: set general_settings.database_url or DATABASE_URL"
                .into(),
        )
        })?;
    let sealer = shale_models::Sealer::from_env();
    if sealer.is_none() {
        tracing::warn!("SHALE_SALT_KEY / LITELLM_SALT_KEY is not set: models with secrets in litellm_params cannot be stored (os.environ/ references can)");
    }
    let redis = crate::state::redis_url_of(config)?;
    let store = shale_models::ModelStore::start(
        &url,
        config.general_settings.keys.database_connection_pool_limit,
        redis.as_deref(),
        sealer,
    )
    .await
    .map_err(|e| StartupError::Models(e.to_string()))?;
    tracing::info!("models are stored in PostgreSQL (store_model_in_db)");
    Ok(Some(store))
}

/// Loads the stored models into the live table now (when Postgres answers) and keeps them in
/// sync for as long as the live table exists.
pub async fn start(live: &Arc<Live>) {
    let state = live.state();
    let Some(store) = state.models_store.clone() else {
        return;
    };
    let mut changes = store.watch(state.config.general_settings.fleet.model_reconcile_interval);
    // The first list (or none, if Postgres is down) before serving.
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), changes.changed()).await;
    if matches!(first, Ok(Ok(()))) {
        let rows = changes.borrow_and_update().clone();
        if let Some(rows) = rows {
            apply(live, &rows).await;
        }
    }
    let weak = Arc::downgrade(live);
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let rows = changes.borrow_and_update().clone();
            let (Some(live), Some(rows)) = (weak.upgrade(), rows) else {
                continue;
            };
            apply(&live, &rows).await;
        }
    });
}

async fn apply(live: &Live, rows: &[shale_models::StoredRow]) {
    match live.set_stored(stored_models(rows)).await {
        Ok(true) => tracing::info!(
            stored = rows.len(),
            deployments = live.state().deployments.len(),
            "model table updated from the store"
        ),
        Ok(false) => {}
        Err(err) => {
            tracing::error!(error = %err, "stored models could not be applied: the running model table is kept")
        }
    }
}
