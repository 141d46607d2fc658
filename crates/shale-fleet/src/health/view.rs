//! LiteLLM's `/health` lists (`healthy_endpoints`, `unhealthy_endpoints`): as in LiteLLM, a
//! deployment is unhealthy when its last background probe (the fleet's) failed; every other
//! deployment is listed as healthy, with the router's view beside it (`state: cooling_down` and
//! `cooldown_remaining_s` while the router keeps it out of rotation after real traffic failed).
//!
//! Each endpoint has LiteLLM's fields (`model`, `model_id`, `api_base`, `aws_region_name`, and
//! `error` / `exception_status` when unhealthy) plus `model_name`, `state` (`healthy`,
//! `unhealthy`, `cooling_down`) and `health_check` (the last probe: `probe`, `healthy`,
//! `checked_at`, `latency_ms`, `checked_by`, `error`, `exception_status`; null when the
//! deployment is not probed or not probed yet).
//!
//! Pure: no I/O.

use super::probe::ProbeResult;
use serde_json::{json, Map, Value};

/// What the gateway knows about one deployment, for its endpoint entry.
#[derive(Debug, Clone, Copy)]
pub struct EndpointRow<'a> {
    pub model_id: &'a str,
    pub model_name: &'a str,
    /// `litellm_params.model`.
    pub model: &'a str,
    /// The endpoint URL requests go to.
    pub api_base: &'a str,
    pub region: &'a str,
    /// The router is cooling it down for this many more milliseconds.
    pub cooling_for_ms: Option<u64>,
    /// The router's last error message for it.
    pub router_error: Option<&'a str>,
}

/// `(healthy_endpoints, unhealthy_endpoints)`; `results[i]` is the last probe of `rows[i]`.
pub fn endpoints(
    rows: &[EndpointRow<'_>],
    results: &[Option<ProbeResult>],
) -> (Vec<Value>, Vec<Value>) {
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for (row, result) in rows
        .iter()
        .zip(results.iter().chain(std::iter::repeat(&None)))
    {
        let probe_failed = result.as_ref().is_some_and(|r| !r.healthy);
        let cooling = row.cooling_for_ms.is_some();
        let mut entry = Map::new();
        entry.insert("model_name".into(), json!(row.model_name));
        entry.insert("model_id".into(), json!(row.model_id));
        entry.insert("model".into(), json!(row.model));
        entry.insert("api_base".into(), json!(row.api_base));
        entry.insert("aws_region_name".into(), json!(row.region));
        let state = if probe_failed {
            "unhealthy"
        } else if cooling {
            "cooling_down"
        } else {
            "healthy"
        };
        entry.insert("state".into(), json!(state));
        if let Some(r) = result.as_ref().filter(|r| !r.healthy) {
            entry.insert("error".into(), json!(r.error));
            entry.insert("exception_status".into(), json!(r.exception_status));
        } else if cooling {
            entry.insert("error".into(), json!(row.router_error));
        }
        if let Some(ms) = row.cooling_for_ms {
            entry.insert("cooldown_remaining_s".into(), json!(ms as f64 / 1000.0));
        }
        entry.insert(
            "health_check".into(),
            result.as_ref().map_or(Value::Null, |r| {
                json!({
                    "probe": r.probe,
                    "healthy": r.healthy,
                    "checked_at": r.checked_at_ms as f64 / 1000.0,
                    "latency_ms": r.latency_ms,
                    "checked_by": r.checked_by,
                    "error": r.error,
                    "exception_status": r.exception_status,
                    "cooled_down": r.cooled_down,
                })
            }),
        );
        if probe_failed {
            unhealthy.push(Value::Object(entry));
        } else {
            healthy.push(Value::Object(entry));
        }
    }
    (healthy, unhealthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(id: &'a str, cooling: Option<u64>) -> EndpointRow<'a> {
        EndpointRow {
            model_id: id,
            model_name: "claude",
            model: "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            api_base: "https://bedrock-runtime.us-east-1.amazonaws.com",
            region: "us-east-1",
            cooling_for_ms: cooling,
            router_error: cooling.map(|_| "ThrottlingException: slow down"),
        }
    }

    fn result(id: &str, healthy: bool) -> ProbeResult {
        ProbeResult {
            model_id: id.into(),
            model_name: "claude".into(),
            model: "bedrock/x".into(),
            api_base: "https://e".into(),
            probe: "count_tokens".into(),
            healthy,
            error: (!healthy).then(|| "AccessDeniedException: no".into()),
            exception_status: (!healthy).then_some(403),
            checked_at_ms: 1_700_000_000_000,
            latency_ms: 12,
            checked_by: "host:1".into(),
            cooled_down: false,
        }
    }

    #[test]
    fn a_failed_probe_is_unhealthy_and_a_cooldown_is_shown_beside() {
        let rows = [
            row("a", None),
            row("b", None),
            row("c", Some(4000)),
            row("d", None),
        ];
        let results = [Some(result("a", true)), Some(result("b", false)), None];
        let (healthy, unhealthy) = endpoints(&rows, &results);
        let ids = |v: &[Value]| {
            v.iter()
                .map(|e| e["model_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&healthy), ["a", "c", "d"]);
        assert_eq!(ids(&unhealthy), ["b"]);
        let b = &unhealthy[0];
        assert_eq!(b["state"], "unhealthy");
        assert_eq!(b["error"], "AccessDeniedException: no");
        assert_eq!(b["exception_status"], 403);
        assert_eq!(
            b["api_base"],
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        assert_eq!(b["health_check"]["checked_by"], "host:1");
        let c = &healthy[1];
        assert_eq!(c["state"], "cooling_down");
        assert_eq!(c["error"], "ThrottlingException: slow down");
        assert_eq!(c["cooldown_remaining_s"], 4.0);
        assert!(c["health_check"].is_null());
        assert!(healthy[0].get("error").is_none());
        assert_eq!(healthy[0]["health_check"]["probe"], "count_tokens");
    }
}
