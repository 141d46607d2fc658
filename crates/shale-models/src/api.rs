//! The model API's JSON, in LiteLLM's shapes: reading a `/model/new` body, merging a partial
//! `/model/update`, and writing the deployments of `/model/info`, `/v2/model/info` and
//! `/model_group/info` — with every secret masked. Pure functions: no I/O, no HTTP.
//!
//! Validation is not here: the server reads the resulting deployment with
//! `shale_config::ModelEntry::from_json`, the config file's own rules.

use crate::store::{StoredRow, SEALED_PARAMS};
use crate::ModelError;
use serde_json::{json, Map, Value};
use shale_config::{LitellmParams, ModelEntry};
use shale_core::json::set_members;

/// What a secret looks like in an answer. Sent back unchanged in `/model/update`, it keeps the
/// stored secret.
pub const MASK: &str = "********";

/// A deployment to store: what `/model/new` or `/model/update` asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub model_id: String,
    pub model_name: String,
    pub litellm_params: Map<String, Value>,
    /// Includes `id` (= `model_id`).
    pub model_info: Map<String, Value>,
}

impl Draft {
    /// The deployment as a `model_list` entry, for validation.
    pub fn entry_json(&self) -> Value {
        json!({
            "model_name": self.model_name,
            "litellm_params": self.litellm_params,
            "model_info": self.model_info,
        })
    }
}

fn object(value: Option<Value>, field: &str) -> Result<Map<String, Value>, ModelError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ModelError::invalid(
            Some(field),
            format!("`{field}` must be an object."),
        )),
    }
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn check_id(id: &str) -> Result<(), ModelError> {
    if id.len() > 200 || id.chars().any(char::is_control) {
        return Err(ModelError::invalid(
            Some("model_info.id"),
            "`model_info.id` must be at most 200 printable characters.",
        ));
    }
    Ok(())
}

/// A `/model/new` body (`model_name`, `litellm_params`, optional `model_info`): the id is
/// `model_info.id` when given, else a new UUID.
pub fn new_model(body: Value) -> Result<Draft, ModelError> {
    let Value::Object(mut body) = body else {
        return Err(ModelError::invalid(None, "The body must be a JSON object."));
    };
    let model_name = match body.remove("model_name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => {
            return Err(ModelError::invalid(
                Some("model_name"),
                "`model_name` is required (the name clients send as `model`).",
            ))
        }
    };
    let litellm_params = object(body.remove("litellm_params"), "litellm_params")?;
    if litellm_params.is_empty() {
        return Err(ModelError::invalid(
            Some("litellm_params"),
            "`litellm_params` with a `model` is required.",
        ));
    }
    let mut model_info = object(body.remove("model_info"), "model_info")?;
    model_info.remove("db_model");
    let model_id =
        id_text(model_info.get("id")).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    check_id(&model_id)?;
    model_info.insert("id".into(), Value::String(model_id.clone()));
    Ok(Draft {
        model_id,
        model_name,
        litellm_params,
        model_info,
    })
}

/// The id a `/model/update` body names: `model_info.id`, else `model_id`, else `id`.
pub fn update_id(body: &Value) -> Result<String, ModelError> {
    id_text(body.get("model_info").and_then(|i| i.get("id")))
        .or_else(|| id_text(body.get("model_id")))
        .or_else(|| id_text(body.get("id")))
        .ok_or_else(|| {
            ModelError::invalid(
                Some("model_info.id"),
                "`model_info.id` (or `model_id`) is required: the id of the model to update.",
            )
        })
}

/// Merges a partial update into a stored deployment: `model_name` replaces; `litellm_params` and
/// `model_info` are merged key by key (`null` removes a key; a masked secret sent back keeps the
/// stored one). The id never changes.
pub fn apply_update(existing: &StoredRow, body: Value) -> Result<Draft, ModelError> {
    let Value::Object(mut body) = body else {
        return Err(ModelError::invalid(None, "The body must be a JSON object."));
    };
    let model_name = match body.remove("model_name") {
        None | Some(Value::Null) => existing.model_name.clone(),
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(_) => {
            return Err(ModelError::invalid(
                Some("model_name"),
                "`model_name` must be a non-empty string.",
            ))
        }
    };
    let mut litellm_params = existing.litellm_params.clone();
    for (key, value) in object(body.remove("litellm_params"), "litellm_params")? {
        match value {
            Value::Null => {
                litellm_params.remove(&key);
            }
            Value::String(s) if s == MASK && SEALED_PARAMS.contains(&key.as_str()) => {}
            value => {
                litellm_params.insert(key, value);
            }
        }
    }
    let mut model_info = existing.model_info.clone();
    for (key, value) in object(body.remove("model_info"), "model_info")? {
        match (key.as_str(), value) {
            ("id" | "db_model", _) => {}
            (_, Value::Null) => {
                model_info.remove(&key);
            }
            (_, value) => {
                model_info.insert(key, value);
            }
        }
    }
    model_info.insert("id".into(), Value::String(existing.model_id.clone()));
    Ok(Draft {
        model_id: existing.model_id.clone(),
        model_name,
        litellm_params,
        model_info,
    })
}

/// `litellm_params` with every secret replaced by [`MASK`].
pub fn masked(params: &Map<String, Value>) -> Map<String, Value> {
    let mut out = params.clone();
    for key in SEALED_PARAMS {
        if let Some(v) = out.get_mut(key) {
            if !v.is_null() {
                *v = Value::String(MASK.into());
            }
        }
    }
    out
}

/// The answer to `/model/new` and `/model/update`: the stored row, secrets masked.
pub fn row_answer(row: &StoredRow) -> Value {
    let stamp = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "model_id": row.model_id,
        "model_name": row.model_name,
        "litellm_params": masked(&row.litellm_params),
        "model_info": row.model_info,
        "created_at": stamp(row.created_at),
        "updated_at": stamp(row.updated_at),
    })
}

/// A deployment's `litellm_params` as JSON (secrets masked), from its typed form; unset ones are
/// left out.
pub fn params_json(p: &LitellmParams) -> Map<String, Value> {
    let secret = |s: &Option<shale_config::Secret>| json!(s.as_ref().map(|_| MASK));
    let seconds = |d: Option<std::time::Duration>| json!(d.map(|d| d.as_secs_f64()));
    let tags: Option<Map<String, Value>> = (!p.aws_session_tags.is_empty()).then(|| {
        p.aws_session_tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    });
    let fixed = [
        ("model", json!(p.model)),
        ("model_id", json!(p.model_id)),
        ("api_base", json!(p.api_base)),
        ("aws_region_name", json!(p.aws_region_name)),
        ("aws_session_name", json!(p.aws_session_name)),
        ("aws_profile_name", json!(p.aws_profile_name)),
        ("aws_role_name", json!(p.aws_role_name)),
        ("aws_external_id", json!(p.aws_external_id)),
        ("aws_sts_endpoint", json!(p.aws_sts_endpoint)),
        (
            "aws_bedrock_runtime_endpoint",
            json!(p.aws_bedrock_runtime_endpoint),
        ),
        (
            "aws_bedrock_agent_runtime_endpoint",
            json!(p.aws_bedrock_agent_runtime_endpoint),
        ),
        ("aws_session_tags", json!(tags)),
        ("timeout", seconds(p.timeout)),
        ("stream_timeout", seconds(p.stream_timeout)),
        ("num_retries", json!(p.num_retries)),
        ("weight", json!(p.weight)),
        ("rpm", json!(p.rpm)),
        ("tpm", json!(p.tpm)),
        ("modify_params", json!(p.modify_params)),
        ("drop_params", json!(p.drop_params)),
        ("user_continue_message", json!(p.user_continue_message)),
        ("api_key", secret(&p.api_key)),
        (
            "aws_access_key_id",
            json!(p.aws_access_key_id.as_ref().map(|_| MASK)),
        ),
        ("aws_secret_access_key", secret(&p.aws_secret_access_key)),
        ("aws_session_token", secret(&p.aws_session_token)),
        ("aws_web_identity_token", secret(&p.aws_web_identity_token)),
    ];
    let extra = p.price_overrides.iter().chain(&p.default_request_params);
    set_members(
        fixed
            .into_iter()
            .chain(extra.map(|(k, v)| (k.as_str(), v.clone()))),
    )
}

/// One deployment of `/model/info` (LiteLLM's item: `model_name`, `litellm_params` without
/// secrets, `model_info` with `id` and `db_model`), with `id` the deployment's router id.
pub fn info_item(entry: &ModelEntry, id: &str, db_model: bool) -> Value {
    let mut info = entry.model_info.clone();
    info.insert("id".into(), Value::String(id.to_string()));
    info.insert("db_model".into(), Value::Bool(db_model));
    json!({
        "model_name": entry.model_name,
        "litellm_params": params_json(&entry.params),
        "model_info": info,
    })
}

/// A page of `items` (LiteLLM's `/v2/model/info`): `page` from 1, `size` items per page.
pub fn page(items: Vec<Value>, page: usize, size: usize) -> Value {
    let size = size.clamp(1, 1000);
    let page = page.max(1);
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    json!({
        "data": data,
        "total_count": total,
        "current_page": page,
        "total_pages": total.div_ceil(size),
        "size": size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredRow {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        StoredRow {
            model_id: "m1".into(),
            model_name: "chat".into(),
            litellm_params: json!({"model": "bedrock/x.y", "api_key": "sk-real", "rpm": 10})
                .as_object()
                .unwrap()
                .clone(),
            model_info: json!({"id": "m1", "team": "a"})
                .as_object()
                .unwrap()
                .clone(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn new_model_takes_the_given_id_or_makes_one() {
        let d = new_model(json!({"model_name": "a", "litellm_params": {"model": "bedrock/x"}, "model_info": {"id": "given", "db_model": false}})).unwrap();
        assert_eq!(d.model_id, "given");
        assert_eq!(d.model_info, *json!({"id": "given"}).as_object().unwrap());
        let d = new_model(json!({"model_name": "a", "litellm_params": {"model": "bedrock/x"}}))
            .unwrap();
        assert_eq!(d.model_id.len(), 36);
        let e = new_model(json!({"litellm_params": {"model": "bedrock/x"}})).unwrap_err();
        assert!(e.to_string().contains("model_name"), "{e}");
        let e = new_model(json!({"model_name": "a"})).unwrap_err();
        assert!(e.to_string().contains("litellm_params"), "{e}");
    }

    #[test]
    fn updates_merge_keep_masked_secrets_and_never_change_the_id() {
        let body = json!({
            "model_info": {"id": "m1", "team": null, "note": "x"},
            "litellm_params": {"api_key": MASK, "rpm": null, "tpm": 5}
        });
        assert_eq!(update_id(&body).unwrap(), "m1");
        let d = apply_update(&stored(), body).unwrap();
        assert_eq!(d.model_name, "chat");
        assert_eq!(d.litellm_params["api_key"], "sk-real");
        assert!(!d.litellm_params.contains_key("rpm"));
        assert_eq!(d.litellm_params["tpm"], 5);
        assert_eq!(
            d.model_info,
            *json!({"id": "m1", "note": "x"}).as_object().unwrap()
        );
        let d = apply_update(
            &stored(),
            json!({"model_id": "m1", "litellm_params": {"api_key": "sk-new"}, "model_name": "b"}),
        )
        .unwrap();
        assert_eq!(d.litellm_params["api_key"], "sk-new");
        assert_eq!(d.model_name, "b");
        assert!(update_id(&json!({"litellm_params": {}})).is_err());
    }

    #[test]
    fn answers_never_carry_a_secret() {
        let text = row_answer(&stored()).to_string();
        assert!(!text.contains("sk-real"), "{text}");
        assert!(text.contains(MASK));
        let config = shale_config::Config::from_yaml_str(
            "model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y, api_key: sk-cfg, aws_access_key_id: AKIA1, aws_secret_access_key: s3cr3t, aws_region_name: us-east-1, temperature: 0.2}\n",
            &|_| None,
        )
        .unwrap();
        let item = info_item(&config.model_list[0], "id-1", false).to_string();
        for secret in ["sk-cfg", "AKIA1", "s3cr3t"] {
            assert!(!item.contains(secret), "{item}");
        }
        assert!(
            item.contains("us-east-1") && item.contains("temperature"),
            "{item}"
        );
        assert!(item.contains("\"db_model\":false"), "{item}");
    }

    #[test]
    fn pages() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let p = page(items, 2, 2);
        assert_eq!(p["data"], json!([2, 3]));
        assert_eq!(p["total_count"], 5);
        assert_eq!(p["total_pages"], 3);
    }
}
