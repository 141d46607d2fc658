//! Scalar request parameters: deployment defaults, `inferenceConfig`, reasoning
//! (`reasoning_effort` / `thinking`), `service_tier`, the `anthropic-beta` header and the
//! routing of extra fields to `additionalModelRequestFields` or the top level.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::body::InferenceConfig;
use crate::caps::{ModelCaps, ModelFamily, TopKPlacement};
use crate::error::TranslateError;
use crate::openai::{is_dropped_param, ChatRequest, JsonMap, Tool};

/// Converse top-level members a client (or a deployment default) may set directly.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "serviceTier",
    "requestMetadata",
    "promptVariables",
    "outputConfig",
    "additionalModelResponseFieldPaths",
];

/// Minimum Anthropic thinking budget.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// An enabled `thinking` object's `budget_tokens`, raised to [`MIN_THINKING_BUDGET`] (the
/// default when absent) and written back.
pub(crate) fn clamp_thinking_budget(thinking: &mut Map<String, Value>) -> u64 {
    let b = thinking
        .get("budget_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(MIN_THINKING_BUDGET)
        .max(MIN_THINKING_BUDGET);
    thinking.insert("budget_tokens".into(), b.into());
    b
}

/// What every route does first with a chat request: deployment defaults, the `n` check, legacy
/// `functions` / `function_call` as `tools` / `tool_choice`. Returns (`include_usage`, `stream`).
pub fn prepare_request(
    req: &mut ChatRequest,
    defaults: &JsonMap,
) -> Result<(bool, bool), TranslateError> {
    apply_defaults(req, defaults)?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::invalid(
            "n",
            "n > 1 is not supported by Bedrock; send one request per completion",
        ));
    }
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let stream = req.stream.unwrap_or(false);
    if req.tools.is_none() {
        if let Some(fs) = req.functions.take() {
            req.tools = Some(
                fs.into_iter()
                    .map(|f| Tool {
                        kind: "function".into(),
                        function: Some(f),
                        cache_control: None,
                        extra: Map::new(),
                    })
                    .collect(),
            );
        }
    }
    if req.tool_choice.is_none() {
        if let Some(fc) = req.function_call.take() {
            req.tool_choice = Some(match fc {
                Value::Object(o) => json!({"type": "function", "function": o}),
                other => other,
            });
        }
    }
    Ok((include_usage, stream))
}

/// Fill request fields the client left unset from the deployment's `litellm_params` defaults
/// (request fields win; `max_tokens` vs `max_completion_tokens`, `thinking` vs
/// `reasoning_effort` and `service_tier` vs `serviceTier` count as the same setting).
pub fn apply_defaults(req: &mut ChatRequest, defaults: &JsonMap) -> Result<(), TranslateError> {
    fn set<T: DeserializeOwned>(
        slot: &mut Option<T>,
        key: &str,
        v: &Value,
    ) -> Result<(), TranslateError> {
        if slot.is_none() {
            *slot = Some(serde_json::from_value(v.clone()).map_err(|e| {
                TranslateError::invalid(key, format!("invalid deployment default '{key}': {e}"))
            })?);
        }
        Ok(())
    }
    for (k, v) in defaults {
        if v.is_null() || is_dropped_param(k) {
            continue;
        }
        let no_max = req.max_tokens.is_none() && req.max_completion_tokens.is_none();
        let no_reasoning = req.thinking.is_none() && req.reasoning_effort.is_none();
        match k.as_str() {
            "model" | "messages" | "n" => {}
            "max_tokens" if no_max => set(&mut req.max_tokens, k, v)?,
            "max_completion_tokens" if no_max => set(&mut req.max_completion_tokens, k, v)?,
            "max_tokens" | "max_completion_tokens" => {}
            "temperature" => set(&mut req.temperature, k, v)?,
            "top_p" => set(&mut req.top_p, k, v)?,
            "top_k" => set(&mut req.top_k, k, v)?,
            "stop" => set(&mut req.stop, k, v)?,
            "tools" => set(&mut req.tools, k, v)?,
            "tool_choice" => set(&mut req.tool_choice, k, v)?,
            "parallel_tool_calls" => set(&mut req.parallel_tool_calls, k, v)?,
            "response_format" => set(&mut req.response_format, k, v)?,
            "reasoning_effort" if no_reasoning => set(&mut req.reasoning_effort, k, v)?,
            "thinking" if no_reasoning => set(&mut req.thinking, k, v)?,
            "reasoning_effort" | "thinking" => {}
            "service_tier" if !req.extra.contains_key("serviceTier") => {
                set(&mut req.service_tier, k, v)?
            }
            "service_tier" => {}
            "serviceTier" if req.service_tier.is_some() => {}
            _ => {
                if !req.extra.contains_key(k) {
                    req.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}

/// The outcome of reasoning resolution.
#[derive(Debug, Default)]
pub(crate) struct Reasoning {
    /// Anthropic thinking is on (forces tool choice to auto, adds response field paths).
    pub thinking_on: bool,
    /// The thinking budget, when known (for the default `maxTokens`).
    pub budget: Option<u64>,
    /// Members for `additionalModelRequestFields`.
    pub fields: Vec<(&'static str, Value)>,
}

fn effort_budget(effort: &str) -> Option<Option<u64>> {
    Some(match effort {
        "none" => None,
        "minimal" | "low" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        _ => return None,
    })
}

/// Resolve `reasoning_effort` and `thinking` for the model family.
pub(crate) fn reasoning(
    effort: Option<String>,
    thinking: Option<Value>,
    caps: &ModelCaps,
) -> Result<Reasoning, TranslateError> {
    let mut r = Reasoning::default();
    if let Some(e) = &effort {
        if effort_budget(e).is_none() {
            return Err(TranslateError::invalid(
                "reasoning_effort",
                format!("invalid reasoning_effort '{e}' (use none, minimal, low, medium or high)"),
            ));
        }
    }
    let anthropic_like = caps.supports_thinking || caps.family == ModelFamily::Other;
    if anthropic_like {
        if let Some(t) = thinking {
            let Value::Object(mut t) = t else {
                return Err(TranslateError::invalid(
                    "thinking",
                    "thinking must be an object like {\"type\":\"enabled\",\"budget_tokens\":2048}",
                ));
            };
            match t.get("type").and_then(Value::as_str) {
                Some("disabled") => {}
                Some("enabled") => {
                    let b = clamp_thinking_budget(&mut t);
                    r.thinking_on = true;
                    r.budget = Some(b);
                    r.fields.push(("thinking", Value::Object(t)));
                }
                _ => {
                    // e.g. "adaptive": pass through as given
                    r.thinking_on = true;
                    r.fields.push(("thinking", Value::Object(t)));
                }
            }
        } else if let Some(Some(b)) = effort.as_deref().and_then(effort_budget) {
            if caps.supports_thinking {
                r.thinking_on = true;
                r.budget = Some(b);
                r.fields
                    .push(("thinking", json!({"type": "enabled", "budget_tokens": b})));
            }
        }
    } else if caps.supports_reasoning_effort_field {
        if let Some(e) = effort.filter(|e| e != "none") {
            let e = if e == "minimal" { "low".to_owned() } else { e };
            r.fields.push(("reasoning_effort", Value::String(e)));
        }
    } else if caps.supports_reasoning_config {
        let level = match (&effort, &thinking) {
            (Some(e), _) if e == "none" => None,
            (Some(e), _) if e == "minimal" => Some("low".to_owned()),
            (Some(e), _) => Some(e.clone()),
            (None, Some(t)) if t.get("type").and_then(Value::as_str) == Some("enabled") => {
                let b = t.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0);
                Some(
                    match b {
                        0..=1024 => "low",
                        1025..=4096 => "medium",
                        _ => "high",
                    }
                    .to_owned(),
                )
            }
            _ => None,
        };
        if let Some(l) = level {
            r.fields.push((
                "reasoningConfig",
                json!({"type": "enabled", "maxReasoningEffort": l}),
            ));
        }
    }
    Ok(r)
}

/// Claude extended thinking accepts only `temperature` 1, `top_p` in 0.95..=1 and no `top_k`;
/// other values are dropped (`drop_params` semantics) instead of failing the request.
pub(crate) fn drop_sampling_incompatible_with_thinking(req: &mut ChatRequest) {
    if req.temperature.is_some_and(|t| t != 1.0) {
        req.temperature = None;
    }
    if req.top_p.is_some_and(|p| p < 0.95) {
        req.top_p = None;
    }
    req.top_k = None;
}

/// `inferenceConfig` (always present, possibly `{}`).
pub(crate) fn inference_config(req: &mut ChatRequest, reasoning: &Reasoning) -> InferenceConfig {
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .or(reasoning.budget.map(|b| b.saturating_add(4096)));
    let stop_sequences = req.stop.take().and_then(|s| {
        let v: Vec<String> = s.into_vec().into_iter().filter(|s| !s.is_empty()).collect();
        (!v.is_empty()).then_some(v)
    });
    InferenceConfig {
        max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences,
    }
}

/// `top_k` in the family's place.
pub(crate) fn top_k(top_k: Option<u64>, caps: &ModelCaps, amrf: &mut JsonMap) {
    let Some(k) = top_k else { return };
    match caps.top_k {
        TopKPlacement::TopK => {
            amrf.insert("top_k".into(), k.into());
        }
        TopKPlacement::NovaInferenceConfig => {
            let ic = amrf
                .entry("inferenceConfig")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(ic) = ic {
                ic.insert("topK".into(), k.into());
            }
        }
    }
}

/// OpenAI `service_tier` → Bedrock `serviceTier` (`auto` → `default`).
pub(crate) fn service_tier(tier: &str) -> Result<Value, TranslateError> {
    let t = match tier {
        "auto" | "default" => "default",
        "flex" => "flex",
        "priority" => "priority",
        "reserved" => "reserved",
        other => {
            return Err(TranslateError::invalid(
                "service_tier",
                format!("unsupported service_tier '{other}' (use auto, default, flex or priority)"),
            ))
        }
    };
    Ok(json!({"type": t}))
}

/// Merge the `anthropic-beta` header (comma list) into `additionalModelRequestFields.anthropic_beta`.
pub(crate) fn anthropic_beta(header: &str, amrf: &mut JsonMap) {
    let entry = amrf
        .entry("anthropic_beta")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::String(s) = entry {
        *entry = Value::Array(vec![Value::String(std::mem::take(s))]);
    }
    let Value::Array(list) = entry else { return };
    for b in header.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        if !list.iter().any(|x| x.as_str() == Some(b)) {
            list.push(Value::String(b.to_owned()));
        }
    }
    if list.is_empty() {
        amrf.remove("anthropic_beta");
    }
}

/// Route the remaining extra fields: top-level Converse members, an explicit
/// `additionalModelRequestFields` object (merged), dropped parameters, and everything else into
/// `additionalModelRequestFields`.
pub(crate) fn route_extra(extra: JsonMap, top: &mut JsonMap, amrf: &mut JsonMap) {
    for (k, v) in extra {
        if v.is_null() || is_dropped_param(&k) {
            continue;
        }
        if TOP_LEVEL_FIELDS.contains(&k.as_str()) {
            top.insert(k, v);
        } else if k == "additionalModelRequestFields" {
            if let Value::Object(o) = v {
                for (ik, iv) in o {
                    merge_into(amrf, ik, iv);
                }
            }
        } else {
            merge_into(amrf, k, v);
        }
    }
}

/// Insert `k: v`, merging the members of two objects (so e.g. a client's
/// `inferenceConfig: {topP}` and a translated `inferenceConfig.topK` coexist; explicit client
/// values win).
fn merge_into(map: &mut JsonMap, k: String, v: Value) {
    match (map.get_mut(&k), v) {
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (ik, iv) in new {
                existing.insert(ik, iv);
            }
        }
        (_, v) => {
            map.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_budgets() {
        let caps = ModelCaps::for_model_id("anthropic.claude-3-7-sonnet-20250219-v1:0");
        let r = reasoning(Some("medium".into()), None, &caps).unwrap();
        assert!(r.thinking_on);
        assert_eq!(r.budget, Some(2048));
        let r = reasoning(Some("none".into()), None, &caps).unwrap();
        assert!(!r.thinking_on && r.fields.is_empty());
        let r = reasoning(
            None,
            Some(json!({"type": "enabled", "budget_tokens": 10})),
            &caps,
        )
        .unwrap();
        assert_eq!(r.budget, Some(1024));
        assert!(reasoning(Some("max".into()), None, &caps).is_err());
    }

    #[test]
    fn beta_header_merges() {
        let mut m = JsonMap::new();
        m.insert("anthropic_beta".into(), json!("a"));
        anthropic_beta("a, b,,c", &mut m);
        assert_eq!(m["anthropic_beta"], json!(["a", "b", "c"]));
    }

    #[test]
    fn defaults_do_not_override() {
        let mut req: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [], "temperature": 0.5, "max_completion_tokens": 10
        }))
        .unwrap();
        let d = json!({"temperature": 0.1, "max_tokens": 99, "top_k": 5, "aws_region_name": "x",
                       "guardrailConfig": {"guardrailIdentifier": "g"}});
        apply_defaults(&mut req, d.as_object().unwrap()).unwrap();
        assert_eq!(req.temperature, Some(0.5));
        assert_eq!(req.max_tokens, None);
        assert_eq!(req.top_k, Some(5));
        assert!(req.extra.contains_key("guardrailConfig"));
        assert!(!req.extra.contains_key("aws_region_name"));
    }
}
