//! Builds the fleet parts of the gateway state from the config (issue #31): the Responses store
//! (`general_settings.responses_store`: memory, or Postgres / Redis shared by every replica) and
//! the background health checker (not started: `fleet::start` does that once the state exists),
//! with the metrics of both; and whether models are stored (`store_model_in_db`).
//!
//! Must not: import the gateway state (the state imports this module) or wait for the database
//! or Redis (both connect on first use).

use shale_bedrock::BedrockClient;
use shale_config::Config;
use shale_fleet::health::{Coordination, HealthChecker};
use shale_fleet::metrics::FleetMetrics;
use shale_fleet::responses::ResponseStore;
use std::sync::Arc;

/// `store_model_in_db` (or `STORE_MODEL_IN_DB=true`): models are kept in the database and the
/// model API changes them.
pub fn store_models_enabled(config: &Config) -> bool {
    config.general_settings.fleet.store_model_in_db
        || std::env::var("STORE_MODEL_IN_DB")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// The fleet parts of the gateway state.
pub struct FleetParts {
    pub responses: Arc<dyn ResponseStore>,
    pub health: Option<Arc<HealthChecker>>,
    pub metrics: FleetMetrics,
}

/// Builds the Responses store and the health checker (not started: see `fleet::start`).
pub fn build(
    config: &Config,
    bedrock: &BedrockClient,
    redis: Option<&str>,
) -> Result<FleetParts, String> {
    let settings = &config.general_settings.responses_store;
    let database = config.general_settings.keys.database_url_or_env();
    let responses = shale_fleet::responses::open(settings, database.as_deref(), redis)
        .map_err(|e| e.to_string())?;
    if responses.backend() != "memory" {
        tracing::info!(
            backend = responses.backend(),
            "stored responses are shared by every replica"
        );
    }
    let checks = &config.general_settings.health_checks;
    let health = if checks.enabled {
        let coord = match (redis, checks.shared) {
            (Some(url), None | Some(true)) => {
                Coordination::redis(url).map_err(|e| e.to_string())?
            }
            _ => Coordination::Local,
        };
        // Its own connection pool: probes run on the main runtime and must not leave
        // connections driven by it in a serving worker's pool.
        let options = shale_bedrock::ClientOptions {
            workers: 1,
            ..bedrock.options().clone()
        };
        let client = BedrockClient::new(options).map_err(|e| e.to_string())?;
        Some(Arc::new(HealthChecker::new(
            checks.clone(),
            coord,
            client,
            shale_fleet::replica_name(),
        )))
    } else {
        None
    };
    let metrics = FleetMetrics::new(health.as_ref().map(|h| h.metrics()), responses.stats());
    Ok(FleetParts {
        responses,
        health,
        metrics,
    })
}
