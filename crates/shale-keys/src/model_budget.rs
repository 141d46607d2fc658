//! LiteLLM's per-model budgets on a key (`model_max_budget`): checking what a client sends,
//! `{"<model>": {"budget_limit": 1.0, "time_period": "1d"}}` (LiteLLM's `BudgetConfig` also
//! names them `max_budget` and `budget_duration`), storing it in one normalised shape, and turning
//! the stored form into the budget scopes admission checks.
//!
//! Each entry's period runs from the key's creation, every `time_period` (like a key's
//! `budget_duration`), so every replica computes the same period without storing it first.

use crate::duration::parse_duration;
use crate::principal::{ModelBudget, ScopeRules};
use crate::KeyError;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Most entries on one key.
const MAX_ENTRIES: usize = 100;

fn bad(model: &str, why: &str) -> KeyError {
    KeyError::InvalidRequest(format!("model_max_budget.{model}: {why}"))
}

/// A number, or a string holding one (LiteLLM's pydantic accepts both).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Checks a client's `model_max_budget` and returns it as stored: every entry with
/// `budget_limit` (a non-negative number) and `time_period` (a duration such as `1d`).
pub(crate) fn normalize(raw: Map<String, Value>) -> Result<Map<String, Value>, KeyError> {
    if raw.len() > MAX_ENTRIES {
        return Err(KeyError::InvalidRequest(format!(
            "model_max_budget: at most {MAX_ENTRIES} models"
        )));
    }
    let mut out = Map::new();
    for (model, entry) in raw {
        if model.trim().is_empty() || model.len() > 256 || model.chars().any(char::is_control) {
            return Err(KeyError::InvalidRequest(
                "model_max_budget: model names are 1 to 256 characters without control characters"
                    .into(),
            ));
        }
        let Value::Object(fields) = entry else {
            return Err(bad(
                &model,
                "expected {\"budget_limit\": …, \"time_period\": \"1d\"}",
            ));
        };
        let mut limit = None;
        let mut period = None;
        for (name, value) in &fields {
            match name.as_str() {
                "budget_limit" | "max_budget" => limit = Some(value),
                "time_period" | "budget_duration" => period = Some(value),
                other => {
                    return Err(bad(
                        &model,
                        &format!("unknown field `{other}` (expected budget_limit, time_period)"),
                    ))
                }
            }
        }
        let limit = limit
            .and_then(number)
            .filter(|l| l.is_finite() && *l >= 0.0)
            .ok_or_else(|| bad(&model, "budget_limit must be a non-negative number"))?;
        let period = period
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&model, "time_period is required (e.g. \"1d\", \"30d\")"))?;
        parse_duration(period).map_err(|e| bad(&model, &e.to_string()))?;
        let mut stored = Map::new();
        stored.insert("budget_limit".into(), limit.into());
        stored.insert("time_period".into(), period.trim().into());
        out.insert(model, Value::Object(stored));
    }
    Ok(out)
}

/// The stored `model_max_budget` of key `token` (created at `created`) as budget scopes; an entry
/// that does not read (never written by this crate) is left out.
pub(crate) fn budgets(
    token: &str,
    created: OffsetDateTime,
    stored: &Map<String, Value>,
) -> Vec<ModelBudget> {
    let anchor = created.replace_nanosecond(0).unwrap_or(created);
    stored
        .iter()
        .filter_map(|(model, entry)| {
            let limit = entry.get("budget_limit").and_then(number)?;
            let period = parse_duration(entry.get("time_period")?.as_str()?).ok()?;
            Some(ModelBudget {
                model: model.clone(),
                rules: ScopeRules {
                    id: format!("{token}/{model}"),
                    models: Vec::new(),
                    max_budget: Some(limit),
                    // Periods are computed from the anchor at each admission.
                    budget_period: None,
                    budget_reset_at: None,
                    rpm_limit: None,
                    tpm_limit: None,
                    max_parallel_requests: None,
                },
                anchor,
                period,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn litellm_shapes_are_accepted_and_stored_in_one_form() {
        let stored = normalize(map(json!({
            "claude": {"budget_limit": 0.5, "time_period": "1d"},
            "nova": {"max_budget": "2", "budget_duration": "30d"},
        })))
        .unwrap();
        assert_eq!(
            Value::Object(stored.clone()),
            json!({
                "claude": {"budget_limit": 0.5, "time_period": "1d"},
                "nova": {"budget_limit": 2.0, "time_period": "30d"},
            })
        );
        let b = budgets("h", datetime!(2026-01-01 10:00:00.5 UTC), &stored);
        assert_eq!(b.len(), 2);
        let claude = b.iter().find(|b| b.model == "claude").unwrap();
        assert_eq!(claude.rules.id, "h/claude");
        assert_eq!(claude.rules.max_budget, Some(0.5));
        assert_eq!(
            claude.period_end(datetime!(2026-01-05 09:00 UTC)),
            datetime!(2026-01-05 10:00 UTC),
            "periods run from the key's creation, in whole seconds"
        );
    }

    #[test]
    fn bad_entries_are_refused_with_the_model_named() {
        let err = |v: Value| normalize(map(v)).unwrap_err().to_string();
        assert!(err(json!({"m": 1})).contains("model_max_budget.m"));
        assert!(
            err(json!({"m": {"budget_limit": -1, "time_period": "1d"}})).contains("non-negative")
        );
        assert!(err(json!({"m": {"budget_limit": 1}})).contains("time_period is required"));
        assert!(err(json!({"m": {"budget_limit": 1, "time_period": "1x"}}))
            .contains("invalid duration"));
        assert!(
            err(json!({"m": {"budget_limit": 1, "time_period": "1d", "tpm_limit": 5}}))
                .contains("unknown field `tpm_limit`")
        );
        assert!(err(json!({"": {"budget_limit": 1, "time_period": "1d"}})).contains("model names"));
    }
}
