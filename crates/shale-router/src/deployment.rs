//! What the router knows about each deployment, resolved once from the config: its id
//! (`model_info.id`, else a stable hash of its non-secret parameters), its group, its shuffle
//! weight, its rpm/tpm limits and its cooldown overrides. No state changes here.

use sha2::{Digest, Sha256};
use shale_config::{ModelEntry, Secret};
use std::sync::Arc;
use std::time::Duration;

/// One deployment, as the router sees it. `index` is its position in `model_list` (the server
/// keeps its own per-deployment data at the same index).
#[derive(Debug, Clone)]
pub struct DeploymentInfo {
    pub index: usize,
    /// `model_info.id`, or a generated stable id (returned as `x-litellm-model-id`).
    pub id: Arc<str>,
    /// The `model_name` it serves.
    pub group: Arc<str>,
    /// Weight for simple-shuffle (> 0).
    pub weight: f64,
    /// Requests per minute it may receive (across every replica when Redis is configured).
    pub rpm: Option<u64>,
    /// Tokens per minute it may receive.
    pub tpm: Option<u64>,
    /// `model_info.allowed_fails`: overrides the router's per-class allowed fails.
    pub allowed_fails: Option<u32>,
    /// `model_info.cooldown_time` (seconds): overrides the router's cooldown.
    pub cooldown_time: Option<Duration>,
    /// `litellm_params.num_retries` / `max_retries`: replaces the router's `num_retries` for
    /// failures of this deployment.
    pub num_retries: Option<u32>,
}

impl DeploymentInfo {
    /// Reads one `model_list` entry. Shuffle weights are fixed per group by [`shuffle_weights`].
    pub fn from_entry(entry: &ModelEntry) -> DeploymentInfo {
        let info = &entry.model_info;
        let id = match info.get("id") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => generated_id(entry),
        };
        let number = |key: &str| info.get(key).and_then(serde_json::Value::as_f64);
        DeploymentInfo {
            index: entry.index,
            id: Arc::from(id),
            group: Arc::from(entry.model_name.as_str()),
            weight: 1.0,
            rpm: entry.params.rpm,
            tpm: entry.params.tpm,
            allowed_fails: number("allowed_fails")
                .filter(|v| *v >= 0.0)
                .map(|v| v as u32),
            cooldown_time: number("cooldown_time")
                .filter(|v| *v >= 0.0 && v.is_finite())
                .map(Duration::from_secs_f64),
            num_retries: entry.params.num_retries,
        }
    }
}

/// Sets simple-shuffle weights for one group as LiteLLM does: `weight` when any deployment has
/// one, else `rpm`, else `tpm`, else equal. A deployment without the chosen key gets 1.
pub fn shuffle_weights(entries: &[&ModelEntry], infos: &mut [DeploymentInfo]) {
    let pick: fn(&ModelEntry) -> Option<f64> = if entries.iter().any(|e| e.params.weight.is_some())
    {
        |e| e.params.weight
    } else if entries.iter().any(|e| e.params.rpm.is_some()) {
        |e| e.params.rpm.map(|v| v as f64)
    } else if entries.iter().any(|e| e.params.tpm.is_some()) {
        |e| e.params.tpm.map(|v| v as f64)
    } else {
        |_| None
    };
    for (entry, info) in entries.iter().zip(infos.iter_mut()) {
        info.weight = pick(entry).filter(|w| *w > 0.0).unwrap_or(1.0);
    }
}

/// A stable id from what identifies the deployment (never a secret in clear: secrets are hashed
/// together with everything else, and only a prefix of the digest is kept).
fn generated_id(entry: &ModelEntry) -> String {
    let p = &entry.params;
    let mut h = Sha256::new();
    let mut field = |v: Option<&str>| {
        h.update(v.unwrap_or("").as_bytes());
        h.update([0u8]);
    };
    field(Some(&entry.model_name));
    field(Some(&p.model));
    field(p.model_id.as_deref());
    field(p.aws_region_name.as_deref());
    field(p.api_base.as_deref());
    field(p.aws_bedrock_runtime_endpoint.as_deref());
    field(p.aws_access_key_id.as_deref());
    field(p.aws_profile_name.as_deref());
    field(p.aws_role_name.as_deref());
    field(p.api_key.as_ref().map(Secret::expose));
    field(Some(&entry.index.to_string()));
    hex::encode(&h.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use shale_config::Config;

    fn config(yaml: &str) -> Config {
        Config::from_yaml_str(yaml, &|_| None).unwrap()
    }

    #[test]
    fn ids_are_model_info_or_stable_hashes() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0, aws_region_name: us-east-1, api_key: secret-key-1}\n  - model_name: a\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0, aws_region_name: us-west-2}\n    model_info: {id: west, allowed_fails: 1, cooldown_time: 2.5}\n";
        let c = config(yaml);
        let a = DeploymentInfo::from_entry(&c.model_list[0]);
        let b = DeploymentInfo::from_entry(&c.model_list[1]);
        assert_eq!(a.id.len(), 24);
        assert!(!a.id.contains("secret"));
        assert_eq!(
            &*DeploymentInfo::from_entry(&config(yaml).model_list[0]).id,
            &*a.id
        );
        assert_eq!(&*b.id, "west");
        assert_eq!(b.allowed_fails, Some(1));
        assert_eq!(b.cooldown_time, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn weights_fall_back_to_rpm() {
        let c = config("model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y, rpm: 100}\n  - model_name: a\n    litellm_params: {model: bedrock/x.y, rpm: 300}\n");
        let entries: Vec<&ModelEntry> = c.model_list.iter().collect();
        let mut infos: Vec<_> = entries
            .iter()
            .map(|e| DeploymentInfo::from_entry(e))
            .collect();
        shuffle_weights(&entries, &mut infos);
        assert_eq!(infos[0].weight, 100.0);
        assert_eq!(infos[1].weight, 300.0);
    }
}
