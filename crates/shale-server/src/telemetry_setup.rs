//! Telemetry built once at start-up from the config and the resolved deployments: each
//! deployment's labels (model id, Bedrock model, endpoint, rpm/tpm) and prices, the switches
//! (Prometheus, access log, content capture) and the master key's labels.
//!
//! Must not: run per request, or import other modules of this crate (it takes the deployments'
//! config entries and Bedrock targets, not `state::Deployment`, so `state.rs` can call it without
//! an import circle).

use shale_bedrock::Target;
use shale_config::ModelEntry;
use shale_telemetry::{otel, KeyLabels};

/// Telemetry for the configured deployments (indexed like `model_list`), resolved at load.
pub fn build_telemetry(
    config: &shale_config::Config,
    deployments: &[(&ModelEntry, &Target)],
    master_key: Option<&str>,
) -> shale_telemetry::Telemetry {
    use shale_telemetry::{DeploymentInfo, DeploymentTelemetry, Prices};
    let mut all: Vec<DeploymentTelemetry> =
        vec![DeploymentTelemetry::default(); config.model_list.len()];
    for &(entry, target) in deployments {
        let model = entry
            .params
            .model_id
            .clone()
            .unwrap_or_else(|| entry.route.model_id.clone());
        let model_id = entry
            .model_info
            .get("id")
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| {
                shale_telemetry::derived_model_id(
                    entry.index,
                    &entry.model_name,
                    &entry.params.model,
                )
            });
        let prices = Prices::resolve(
            &entry.route.base_model,
            entry.route.cross_region_prefix.as_deref(),
            &entry.params.price_overrides,
            &entry.model_info,
        );
        if let Some(slot) = all.get_mut(entry.index) {
            *slot = DeploymentTelemetry {
                info: DeploymentInfo {
                    model_name: entry.model_name.clone(),
                    model_id,
                    model,
                    api_base: target.runtime_endpoint().to_string(),
                    rpm: entry.params.rpm,
                    tpm: entry.params.tpm,
                },
                prices,
            };
        }
    }
    let switches = shale_telemetry::Switches {
        prometheus: config.telemetry.prometheus,
        access_log: config.telemetry.access_log,
        capture_content: otel::capture_content(config.telemetry.capture_message_content, &|name| {
            std::env::var(name).ok()
        }),
    };
    shale_telemetry::Telemetry::new(switches, all, master_key_labels(master_key))
}

/// The labels of requests made with the master key (or without a key).
pub fn master_key_labels(master_key: Option<&str>) -> KeyLabels {
    KeyLabels {
        hashed_api_key: master_key
            .map(shale_telemetry::hash_key)
            .unwrap_or_default()
            .into(),
        ..KeyLabels::default()
    }
}
