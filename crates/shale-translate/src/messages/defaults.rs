//! Deployment defaults for a Messages request: the deployment's extra `litellm_params` fill
//! members the client left unset (`max_tokens`, `temperature`, `top_p`, `top_k`,
//! `stop_sequences`, `thinking`), and its Bedrock config blocks (`guardrailConfig`,
//! `performanceConfig`, `serviceTier`, `requestMetadata`) and `anthropic_beta` are set aside for
//! the route to place (InvokeModel headers, Converse top-level members, the beta list).
//!
//! Must not: copy credential or routing keys (they are not in `default_params`) or OpenAI-only
//! parameters into the body.

use serde_json::Value;

use crate::openai::JsonMap;

/// Bedrock config blocks a deployment may set.
pub(crate) const CONFIG_BLOCKS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "serviceTier",
    "requestMetadata",
];

/// What [`apply`] set aside.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The deployment's config blocks, by name.
    pub blocks: JsonMap,
    /// The deployment's `anthropic_beta` flags.
    pub betas: Vec<String>,
}

/// Flags from a string (comma list) or an array of strings.
pub(crate) fn beta_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Fill unset members of `body` from `defaults`; return the blocks and betas set aside.
pub(crate) fn apply(body: &mut JsonMap, defaults: &JsonMap) -> Applied {
    let mut applied = Applied::default();
    for (k, v) in defaults {
        if v.is_null() {
            continue;
        }
        let slot = match k.as_str() {
            "max_tokens" | "max_completion_tokens" => "max_tokens",
            "temperature" => "temperature",
            "top_p" => "top_p",
            "top_k" => "top_k",
            "stop" | "stop_sequences" => "stop_sequences",
            "thinking" => "thinking",
            "anthropic_beta" => {
                applied.betas.extend(beta_list(v));
                continue;
            }
            block if CONFIG_BLOCKS.contains(&block) => {
                applied.blocks.insert(k.clone(), v.clone());
                continue;
            }
            _ => continue,
        };
        if body.get(slot).is_some_and(|x| !x.is_null()) {
            continue;
        }
        let value = match (slot, v) {
            ("stop_sequences", Value::String(s)) => Value::Array(vec![Value::String(s.clone())]),
            _ => v.clone(),
        };
        body.insert(slot.to_owned(), value);
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_wins_and_blocks_are_set_aside() {
        let mut body = json!({"max_tokens": 10, "messages": []})
            .as_object()
            .unwrap()
            .clone();
        let d = json!({"max_tokens": 99, "temperature": 0.3, "stop": "END",
            "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"},
            "anthropic_beta": "a,b", "reasoning_effort": "high"});
        let a = apply(&mut body, d.as_object().unwrap());
        assert_eq!(body["max_tokens"], 10);
        assert_eq!(body["temperature"], 0.3);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert!(!body.contains_key("reasoning_effort"));
        assert!(a.blocks.contains_key("guardrailConfig"));
        assert_eq!(a.betas, vec!["a", "b"]);
    }
}
