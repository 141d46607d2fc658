//! Gateway state built once at start-up from the config: deployments by `model_name`, the master
//! key, limits, and precomputed responses. Nothing here is re-parsed per request.

use crate::auth::MasterKey;
use crate::error::ApiError;
use bytes::Bytes;
use rand::Rng;
use serde_json::json;
use shale_config::{Config, ModelEntry};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// One configured deployment with everything resolved for serving.
#[derive(Debug)]
pub struct Deployment {
    pub entry: ModelEntry,
    /// Load-balancing weight (> 0).
    pub weight: f64,
}

/// The deployments that answer to one `model_name`.
#[derive(Debug, Default)]
pub struct ModelGroup {
    pub deployments: Vec<Arc<Deployment>>,
    total_weight: f64,
}

impl ModelGroup {
    /// Weighted random choice (LiteLLM's `simple-shuffle`).
    pub fn pick(&self) -> &Arc<Deployment> {
        if self.deployments.len() == 1 {
            return &self.deployments[0];
        }
        let mut point = rand::thread_rng().gen_range(0.0..self.total_weight);
        for d in &self.deployments {
            if point < d.weight {
                return d;
            }
            point -= d.weight;
        }
        self.deployments.last().expect("a group is never empty")
    }
}

/// Shared, read-only gateway state.
#[derive(Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub models: HashMap<String, ModelGroup>,
    pub master_key: Option<Arc<MasterKey>>,
    pub max_body_bytes: usize,
    /// `GET /v1/models`, serialised once.
    pub models_json: Bytes,
    /// Set when shutdown begins: readiness answers 503 so load balancers stop sending traffic.
    pub draining: AtomicBool,
    /// Unix time the config was loaded (the `created` of `/v1/models` entries).
    pub created: u64,
}

impl AppState {
    /// Builds the state; `master_key` is the effective key (config or environment), already chosen
    /// by the caller.
    pub fn new(config: Config, master_key: Option<&str>) -> AppState {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut models: HashMap<String, ModelGroup> = HashMap::new();
        for entry in &config.model_list {
            let weight = entry.params.weight.filter(|w| *w > 0.0).unwrap_or(1.0);
            let group = models.entry(entry.model_name.clone()).or_default();
            group.total_weight += weight;
            group.deployments.push(Arc::new(Deployment {
                entry: entry.clone(),
                weight,
            }));
        }
        let data: Vec<_> = config
            .model_names()
            .into_iter()
            .map(|name| model_object(name, created))
            .collect();
        let models_json = Bytes::from(
            serde_json::to_vec(&json!({"object": "list", "data": data})).expect("models JSON"),
        );
        AppState {
            max_body_bytes: config.general_settings.max_request_body_bytes,
            master_key: master_key.map(|k| Arc::new(MasterKey::new(k))),
            models,
            models_json,
            draining: AtomicBool::new(false),
            created,
            config: Arc::new(config),
        }
    }

    /// The deployment to serve `model_name`, or the OpenAI-style "unknown model" error.
    pub fn deployment(&self, model_name: &str) -> Result<Arc<Deployment>, ApiError> {
        self.models
            .get(model_name)
            .map(|g| Arc::clone(g.pick()))
            .ok_or_else(|| ApiError::UnknownModel(model_name.to_string()))
    }
}

/// One entry of `/v1/models`.
pub fn model_object(name: &str, created: u64) -> serde_json::Value {
    json!({"id": name, "object": "model", "created": created, "owned_by": "shale"})
}
