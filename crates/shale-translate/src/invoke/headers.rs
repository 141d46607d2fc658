//! Invoke-route config blocks → `X-Amzn-Bedrock-*` request headers. On the Converse route
//! `guardrailConfig`, `performanceConfig`, `serviceTier` and `requestMetadata` are body members;
//! InvokeModel takes them as headers instead (the body is the model's own format).

use serde_json::Value;

use crate::error::TranslateError;
use crate::openai::JsonMap;

pub const GUARDRAIL_IDENTIFIER: &str = "X-Amzn-Bedrock-GuardrailIdentifier";
pub const GUARDRAIL_VERSION: &str = "X-Amzn-Bedrock-GuardrailVersion";
pub const TRACE: &str = "X-Amzn-Bedrock-Trace";
pub const PERFORMANCE_LATENCY: &str = "X-Amzn-Bedrock-PerformanceConfig-Latency";
pub const SERVICE_TIER: &str = "X-Amzn-Bedrock-Service-Tier";
pub const REQUEST_METADATA: &str = "X-Amzn-Bedrock-Request-Metadata";

/// Longest `X-Amzn-Bedrock-Request-Metadata` value Bedrock accepts.
const MAX_METADATA_CHARS: usize = 8500;

/// Converse-only body members that have no meaning on the invoke route and are dropped.
const CONVERSE_ONLY: &[&str] = &[
    "promptVariables",
    "outputConfig",
    "additionalModelResponseFieldPaths",
];

fn str_member<'a>(v: &'a Value, key: &str, param: &str) -> Result<Option<&'a str>, TranslateError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TranslateError::invalid(
            format!("{param}.{key}"),
            format!("{param}.{key} must be a string"),
        )),
    }
}

fn object<'a>(v: &'a Value, param: &str) -> Result<&'a JsonMap, TranslateError> {
    v.as_object()
        .ok_or_else(|| TranslateError::invalid(param, format!("{param} must be an object")))
}

/// A `guardrailConfig` block (`guardrailIdentifier`, `guardrailVersion`, optional `trace`) as
/// the InvokeModel guardrail headers. Used for chat requests on the invoke route and for a
/// deployment's default guardrail on the pass-through.
pub fn guardrail_headers(g: &Value) -> Result<Vec<(&'static str, String)>, TranslateError> {
    let p = "guardrailConfig";
    object(g, p)?;
    let id = str_member(g, "guardrailIdentifier", p)?.ok_or_else(|| {
        TranslateError::invalid(
            "guardrailConfig.guardrailIdentifier",
            "guardrailConfig needs a guardrailIdentifier",
        )
    })?;
    let version = match g.get("guardrailVersion") {
        Some(Value::Number(n)) => n.to_string(),
        _ => str_member(g, "guardrailVersion", p)?
            .ok_or_else(|| {
                TranslateError::invalid(
                    "guardrailConfig.guardrailVersion",
                    "guardrailConfig needs a guardrailVersion (a number or DRAFT)",
                )
            })?
            .to_owned(),
    };
    let mut headers = vec![
        (GUARDRAIL_IDENTIFIER, id.to_owned()),
        (GUARDRAIL_VERSION, version),
    ];
    if let Some(t) = str_member(g, "trace", p)? {
        let t = match t.to_ascii_lowercase().as_str() {
            "enabled" => "ENABLED",
            "disabled" => "DISABLED",
            "enabled_full" => "ENABLED_FULL",
            _ => {
                return Err(TranslateError::invalid(
                    "guardrailConfig.trace",
                    format!(
                        "invalid guardrail trace '{t}' (use enabled, disabled or enabled_full)"
                    ),
                ))
            }
        };
        headers.push((TRACE, t.to_owned()));
    }
    Ok(headers)
}

/// Remove the config blocks (and Converse-only members) from the request's extra fields and
/// return the headers they become. `service_tier` is the OpenAI field (`auto` → `default`); a
/// native `serviceTier` block wins over it.
pub fn take_headers(
    extra: &mut JsonMap,
    service_tier: Option<String>,
) -> Result<Vec<(&'static str, String)>, TranslateError> {
    let mut headers = Vec::new();
    for k in CONVERSE_ONLY {
        extra.remove(*k);
    }
    if let Some(g) = extra.remove("guardrailConfig").filter(|v| !v.is_null()) {
        headers.extend(guardrail_headers(&g)?);
    }
    if let Some(pc) = extra.remove("performanceConfig").filter(|v| !v.is_null()) {
        object(&pc, "performanceConfig")?;
        if let Some(l) = str_member(&pc, "latency", "performanceConfig")? {
            headers.push((PERFORMANCE_LATENCY, l.to_owned()));
        }
    }
    let native_tier = extra.remove("serviceTier").filter(|v| !v.is_null());
    let tier = match native_tier {
        Some(t) => {
            object(&t, "serviceTier")?;
            str_member(&t, "type", "serviceTier")?.map(str::to_owned)
        }
        None => match service_tier.as_deref() {
            None => None,
            Some("auto" | "default") => Some("default".to_owned()),
            Some(t @ ("flex" | "priority" | "reserved")) => Some(t.to_owned()),
            Some(other) => {
                return Err(TranslateError::invalid(
                    "service_tier",
                    format!(
                        "unsupported service_tier '{other}' (use auto, default, flex or priority)"
                    ),
                ))
            }
        },
    };
    if let Some(t) = tier {
        headers.push((SERVICE_TIER, t));
    }
    if let Some(m) = extra.remove("requestMetadata").filter(|v| !v.is_null()) {
        object(&m, "requestMetadata")?;
        let s = m.to_string();
        if s.chars().count() > MAX_METADATA_CHARS {
            return Err(TranslateError::invalid(
                "requestMetadata",
                format!("requestMetadata is longer than {MAX_METADATA_CHARS} characters as JSON"),
            ));
        }
        headers.push((REQUEST_METADATA, s));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        extra: Value,
        tier: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>, TranslateError> {
        let mut m = extra.as_object().unwrap().clone();
        let h = take_headers(&mut m, tier.map(str::to_owned));
        assert!(m.get("guardrailConfig").is_none());
        h
    }

    #[test]
    fn blocks_become_headers() {
        let h = run(
            json!({"guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": 3, "trace": "enabled"},
                   "performanceConfig": {"latency": "optimized"},
                   "requestMetadata": {"team": "a"}}),
            Some("auto"),
        )
        .unwrap();
        assert_eq!(
            h,
            vec![
                (GUARDRAIL_IDENTIFIER, "gr-1".to_owned()),
                (GUARDRAIL_VERSION, "3".to_owned()),
                (TRACE, "ENABLED".to_owned()),
                (PERFORMANCE_LATENCY, "optimized".to_owned()),
                (SERVICE_TIER, "default".to_owned()),
                (REQUEST_METADATA, "{\"team\":\"a\"}".to_owned()),
            ]
        );
    }

    #[test]
    fn native_tier_wins_and_errors_name_the_field() {
        let h = run(json!({"serviceTier": {"type": "flex"}}), Some("priority")).unwrap();
        assert_eq!(h, vec![(SERVICE_TIER, "flex".to_owned())]);
        let e = run(json!({"guardrailConfig": {"guardrailVersion": "1"}}), None).unwrap_err();
        assert_eq!(
            e.to_openai().to_value()["error"]["param"],
            "guardrailConfig.guardrailIdentifier"
        );
        let e = run(json!({}), Some("turbo")).unwrap_err();
        assert_eq!(e.to_openai().to_value()["error"]["param"], "service_tier");
        let big = "x".repeat(9000);
        assert!(run(json!({"requestMetadata": {"k": big}}), None).is_err());
    }
}
