//! `GET|POST /bedrock/{path}`: the Bedrock pass-through. AWS SDKs (boto3, the JS/Java SDKs) point
//! their `endpoint_url` at `http://gateway/bedrock` and speak native Bedrock; shale authenticates
//! them with the gateway key (`x-api-key` / `x-litellm-api-key`; their own SigV4 `Authorization`
//! is ignored and never forwarded), re-signs with a deployment's credentials and relays the answer
//! — status, the headers that matter and the body, streamed chunk by chunk (event streams
//! byte-for-byte, never buffered).
//!
//! Which deployment signs:
//! - `/bedrock/model/{model}/{converse|converse-stream|invoke|invoke-with-response-stream|count-tokens}`:
//!   `{model}` (percent-decoded) must be a configured `model_name`; its deployment supplies the
//!   Bedrock model id (or `model_id` ARN, re-encoded into the path), credentials, region, endpoint
//!   and its default `guardrailConfig` (added to Converse bodies that have none, and as
//!   `X-Amzn-Bedrock-Guardrail*` headers on invoke calls that send none). Any other model is
//!   refused with 404 `model_not_found`, unless `general_settings.pass_through_unknown_models` is
//!   true: then the id is forwarded as given, signed by the *default deployment*.
//! - Other bedrock-runtime paths (`/guardrail/…`, `/async-invoke…`) and the bedrock-agent-runtime
//!   paths (`/rerank`, `/retrieve…`, `/knowledgebases/…`, `/agents/…`, `/flows/…`, …) are signed
//!   by the *default deployment* and sent to its runtime / agent-runtime endpoint.
//! - The *default deployment* is the one named by the request header `x-shale-deployment` (a
//!   `model_name`), else the first deployment in `model_list` order that signs with AWS
//!   credentials rather than a bearer API key, else the first one that is not `converse_like`.
//!
//! Answers of configured models are counted like every other model request: their token usage
//! is read as the bytes go by (`passthrough_usage.rs`) for metrics, cost and the access log.

use crate::body::read_limited;
use crate::error::ApiError;
use crate::routes::passthrough_usage::{Usage, UsageTap};
use crate::state::{AppState, Deployment};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use shale_bedrock::resolve::encode_model_id;
use shale_bedrock::{Operation, Service};
use shale_config::Api;
use shale_core::{ErrorType, OpenAiError};
use shale_translate::invoke::headers::{guardrail_headers, GUARDRAIL_IDENTIFIER};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where the pass-through routes are mounted.
pub const PREFIX: &str = "/bedrock";

/// Request header naming the deployment (`model_name`) that signs non-model paths.
pub const DEPLOYMENT_HEADER: &str = "x-shale-deployment";

/// First path segments of bedrock-agent-runtime operations.
const AGENT_RUNTIME_SEGMENTS: &[&str] = &[
    "rerank",
    "retrieveAndGenerate",
    "retrieveAndGenerateStream",
    "knowledgebases",
    "agents",
    "flows",
    "sessions",
    "generateQuery",
    "optimize-prompt",
];

/// First path segments of bedrock-runtime operations that name no model.
const RUNTIME_SEGMENTS: &[&str] = &["guardrail", "async-invoke"];

/// What a pass-through path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassPath<'a> {
    /// `/model/{model}/{op}`: the model segment percent-decoded.
    Model { model: String, op: Operation },
    /// Any other path of a known service, forwarded as received (still encoded).
    Service { service: Service, path: &'a str },
}

/// Why a pass-through path cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("not a Bedrock operation path")]
    Unknown,
    #[error("the model segment is not valid percent-encoded UTF-8")]
    BadEncoding,
}

/// Classifies the path after `/bedrock` (e.g. `/model/x%3A0/converse`). The model segment may
/// hold unencoded `/` (ARNs typed by hand): the operation is the last segment.
pub fn classify(path: &str) -> Result<PassPath<'_>, PathError> {
    if escapes(path) {
        return Err(PathError::Unknown);
    }
    let tail = path.strip_prefix('/').ok_or(PathError::Unknown)?;
    if let Some(rest) = tail.strip_prefix("model/") {
        let (model, op) = rest.rsplit_once('/').ok_or(PathError::Unknown)?;
        let op = Operation::ALL
            .into_iter()
            .find(|o| o.path_suffix() == op)
            .ok_or(PathError::Unknown)?;
        let model = percent_encoding::percent_decode_str(model)
            .decode_utf8()
            .map_err(|_| PathError::BadEncoding)?;
        if model.trim().is_empty() {
            return Err(PathError::Unknown);
        }
        return Ok(PassPath::Model {
            model: model.into_owned(),
            op,
        });
    }
    let first = tail.split(['/', '?']).next().unwrap_or("");
    let service = if AGENT_RUNTIME_SEGMENTS.contains(&first) {
        Service::AgentRuntime
    } else if RUNTIME_SEGMENTS.contains(&first) {
        Service::Runtime
    } else {
        return Err(PathError::Unknown);
    };
    Ok(PassPath::Service { service, path })
}

/// True for paths a URL parser would rewrite into another operation: `.` / `..` segments (also
/// percent-encoded, which WHATWG URL parsing resolves too) and `\` (a separator in http URLs).
/// `/guardrail/../model/x/converse` must not reach a model the gateway does not serve.
fn escapes(path: &str) -> bool {
    path.contains('\\')
        || path.split('/').any(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            decoded == "." || decoded == ".."
        })
}

pub async fn passthrough(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let full_path = uri.path();
    let path = full_path.strip_prefix(PREFIX).unwrap_or(full_path);
    let pass = classify(path).map_err(|e| match e {
        PathError::Unknown => ApiError::NotFound {
            path: full_path.to_string(),
        },
        PathError::BadEncoding => {
            ApiError::invalid(None, format!("Invalid pass-through path {full_path}: {e}."))
        }
    })?;
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut forwarded = forwarded_headers(&headers);
    let mut body = read_limited(&headers, body, state.max_body_bytes).await?;

    let (deployment, service, path_and_query, watched) = match pass {
        PassPath::Model { model, op } => {
            let (deployment, model_id, configured) = resolve_model(&state, &headers, &model)?;
            crate::keygate::admit(&state, &model, 0).await?;
            if configured {
                if let Some(guardrail) = deployment.default_params().get("guardrailConfig") {
                    body = apply_default_guardrail(op, guardrail, body, &mut forwarded);
                }
            }
            let path = format!(
                "/model/{}/{}{query}",
                encode_model_id(&model_id),
                op.path_suffix()
            );
            (deployment, Service::Runtime, path, configured.then_some(op))
        }
        PassPath::Service { service, path } => {
            let deployment = default_deployment(&state, &headers)?;
            crate::keygate::admit(&state, deployment.name(), 0).await?;
            (deployment, service, format!("{path}{query}"), None)
        }
    };

    let target = &deployment.target;
    // Boxed so the layers above move a pointer, not the whole HTTP call (see `routing::run`).
    let upstream =
        Box::pin(
            state
                .bedrock
                .raw(target, service, method, &path_and_query, body, &forwarded),
        )
        .await?;
    let idle = if path.ends_with("-stream") {
        target.stream_timeout()
    } else {
        target.timeout()
    };
    let usage = match watched {
        Some(op) if upstream.status().is_success() => UsageTap::start(op, upstream.headers()),
        _ => Usage::Done,
    };
    if upstream.status().as_u16() >= 400 {
        crate::report::upstream_error();
    }
    Ok(relay(upstream, idle, usage))
}

/// The deployment and model id for a model path. `configured` is false for an unknown model
/// forwarded because `pass_through_unknown_models` is on.
fn resolve_model(
    state: &AppState,
    headers: &HeaderMap,
    model: &str,
) -> Result<(Arc<Deployment>, String, bool), ApiError> {
    if state.models.contains_key(model) {
        let deployment = state.deployment(model)?;
        if matches!(deployment.api(), Api::ConverseLike | Api::Surface) {
            return Err(ApiError::invalid(
                Some("model"),
                format!(
                    "Deployment {} uses converse_like or an OpenAI-compatible surface (not bedrock-runtime's model API): the Bedrock pass-through cannot serve it.",
                    deployment.entry.label()
                ),
            ));
        }
        let id = deployment.target.model_id().to_owned();
        return Ok((deployment, id, true));
    }
    if state.config.general_settings.pass_through_unknown_models {
        return Ok((default_deployment(state, headers)?, model.to_owned(), false));
    }
    Err(ApiError::Classified {
        error: OpenAiError::new(
            404,
            ErrorType::InvalidRequest,
            format!(
                "The model `{model}` is not configured on this gateway: the Bedrock pass-through serves the model names listed by GET /v1/models (set general_settings.pass_through_unknown_models: true to forward other model ids)."
            ),
        )
        .with_code(Some("model_not_found")),
        retry_after: None,
    })
}

/// The deployment that signs requests naming no configured model (see the module docs).
pub fn default_deployment(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<Deployment>, ApiError> {
    if let Some(value) = headers.get(DEPLOYMENT_HEADER) {
        let name = value.to_str().map_err(|_| {
            ApiError::invalid(
                None,
                format!("The {DEPLOYMENT_HEADER} header must be a model name."),
            )
        })?;
        return state.deployment(name.trim());
    }
    let in_order = || {
        state
            .config
            .model_list
            .iter()
            .filter_map(|entry| {
                state
                    .models
                    .get(&entry.model_name)?
                    .deployments
                    .iter()
                    .find(|d| d.entry.index == entry.index)
            })
            .filter(|d| !matches!(d.api(), Api::ConverseLike | Api::Surface))
    };
    in_order()
        .find(|d| !d.target.uses_bearer())
        .or_else(|| in_order().next())
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                None,
                "No deployment can sign pass-through requests: configure a Bedrock deployment in model_list.",
            )
        })
}

/// The client headers Bedrock should see: `content-type`, `accept` and the `x-amzn-bedrock-*` /
/// `x-amz-*` operation headers. Everything else — the gateway key, the client's own SigV4
/// (`authorization`, `x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256`), SDK
/// bookkeeping and hop-by-hop headers — stays here.
pub fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    const SIGNING: &[&str] = &["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        let keep = n == "content-type"
            || n == "accept"
            || (n.starts_with("x-amz-") && !SIGNING.contains(&n))
            || n.starts_with("x-amzn-bedrock-");
        if keep {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Adds a deployment's default `guardrailConfig` to a request that names no guardrail: into
/// the JSON body of Converse calls, as headers on InvokeModel calls.
fn apply_default_guardrail(
    op: Operation,
    guardrail: &Value,
    body: Bytes,
    headers: &mut HeaderMap,
) -> Bytes {
    match op {
        Operation::Converse | Operation::ConverseStream => with_guardrail_config(body, guardrail),
        Operation::Invoke | Operation::InvokeStream => {
            add_guardrail_headers(guardrail, headers);
            body
        }
        Operation::CountTokens => body,
    }
}

/// Inserts `"guardrailConfig": …` as the first member of a JSON object body that has none; any
/// other body is returned untouched (Bedrock judges it). The body is spliced, not re-serialised.
pub fn with_guardrail_config(body: Bytes, guardrail: &Value) -> Bytes {
    let Ok(members) = serde_json::from_slice::<HashMap<String, serde::de::IgnoredAny>>(&body)
    else {
        return body;
    };
    if members.contains_key("guardrailConfig") {
        return body;
    }
    let Some(open) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return body;
    };
    let config = serde_json::to_vec(guardrail).expect("JSON serialises");
    let mut out = Vec::with_capacity(body.len() + config.len() + 20);
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(b"\"guardrailConfig\":");
    out.extend_from_slice(&config);
    if !members.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(&body[open + 1..]);
    Bytes::from(out)
}

/// A deployment's default guardrail as the InvokeModel guardrail headers
/// (`shale_translate::invoke::headers::guardrail_headers`), unless the client already names a
/// guardrail. A default the translator refuses is left out (`shale check` reports it).
pub fn add_guardrail_headers(config: &Value, headers: &mut HeaderMap) {
    if headers.contains_key(GUARDRAIL_IDENTIFIER) {
        return;
    }
    let Ok(pairs) = guardrail_headers(config) else {
        return;
    };
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Response headers relayed to the client.
fn is_relayed(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "content-type" | "content-length" | "x-amzn-requestid" | "x-amzn-errortype"
    ) || n.starts_with("x-amzn-bedrock-")
}

/// Why relaying a response body stopped early.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("Bedrock response body failed: {0}")]
    Upstream(#[source] shale_bedrock::TransportError),
    #[error("Bedrock sent nothing for {0:?}")]
    Idle(Duration),
}

/// Streams Bedrock's answer to the client as it arrives: status, relayed headers, body chunks
/// (each shown to the usage tap, if any). A silence longer than `idle` or a broken upstream
/// aborts the client's body.
fn relay(upstream: shale_bedrock::UpstreamResponse, idle: Duration, usage: Usage) -> Response {
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if is_relayed(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let (tap, at_body_end) = match usage {
        Usage::Done => (None, false),
        Usage::AtBodyEnd(tap) => (Some(tap), true),
        Usage::InStream(tap) => (Some(tap), false),
    };
    let chunks = upstream.into_body().into_stream().boxed();
    let timer = shale_bedrock::idle::IdleTimer::new(idle);
    let body = futures::stream::unfold(Some((chunks, timer, tap)), move |state| async move {
        let (mut chunks, mut timer, mut tap) = state?;
        let item = match timer.next(&mut chunks).await {
            Ok(None) => {
                if let Some(tap) = &mut tap {
                    tap.on_end();
                }
                return None;
            }
            Ok(Some(Ok(bytes))) => {
                if let Some(tap) = &mut tap {
                    tap.on_bytes(&bytes);
                }
                return Some((Ok(bytes), Some((chunks, timer, tap))));
            }
            Ok(Some(Err(e))) => RelayError::Upstream(e),
            Err(shale_bedrock::idle::Idle) => RelayError::Idle(idle),
        };
        tracing::warn!(error = %item, "pass-through relay aborted");
        Some((Err(item), None))
    });
    let mut response = (status, Body::from_stream(body)).into_response();
    *response.headers_mut() = headers;
    if at_body_end {
        response
            .extensions_mut()
            .insert(crate::report::FinishAtBodyEnd);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::embeddings::test_state;
    use axum::http::StatusCode;
    use serde_json::json;

    fn config(unknown_models: bool) -> String {
        let keys = "aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret, aws_region_name: us-east-1";
        format!(
            "model_list:
  - model_name: proxy
    litellm_params: {{model: bedrock/converse_like/amazon.nova-pro-v1:0, api_base: 'https://proxy.example/v1', api_key: k}}
  - model_name: bearer
    litellm_params: {{model: bedrock/amazon.nova-pro-v1:0, api_key: k, aws_region_name: us-east-1}}
  - model_name: claude
    litellm_params: {{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, {keys}}}
  - model_name: arn
    litellm_params: {{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, model_id: 'arn:aws:bedrock:us-east-1:1:application-inference-profile/p1', {keys}}}
general_settings: {{pass_through_unknown_models: {unknown_models}}}
"
        )
    }

    #[tokio::test]
    async fn default_deployment_prefers_sigv4_then_the_named_one() {
        let state = test_state(&config(false)).await;
        let none = HeaderMap::new();
        assert_eq!(
            default_deployment(&state, &none).unwrap().entry.model_name,
            "claude"
        );
        let mut named = HeaderMap::new();
        named.insert(DEPLOYMENT_HEADER, HeaderValue::from_static("arn"));
        assert_eq!(
            default_deployment(&state, &named).unwrap().entry.model_name,
            "arn"
        );
        named.insert(DEPLOYMENT_HEADER, HeaderValue::from_static("nope"));
        assert!(matches!(
            default_deployment(&state, &named),
            Err(ApiError::UnknownModel(_))
        ));

        let only_bearer = test_state(
            "model_list:
  - model_name: bearer
    litellm_params: {model: bedrock/amazon.nova-pro-v1:0, api_key: k, aws_region_name: us-east-1}
",
        )
        .await;
        assert_eq!(
            default_deployment(&only_bearer, &none)
                .unwrap()
                .entry
                .model_name,
            "bearer"
        );
    }

    #[tokio::test]
    async fn models_resolve_to_their_deployment_or_are_refused() {
        let closed = test_state(&config(false)).await;
        let none = HeaderMap::new();
        let (d, id, configured) = resolve_model(&closed, &none, "arn").unwrap();
        assert_eq!(d.entry.model_name, "arn");
        assert_eq!(
            id,
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1"
        );
        assert!(configured);
        let err = resolve_model(&closed, &none, "proxy").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = resolve_model(&closed, &none, "amazon.nova-pro-v1:0").unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(err.code().as_deref(), Some("model_not_found"));

        let open = test_state(&config(true)).await;
        let (d, id, configured) = resolve_model(&open, &none, "amazon.nova-pro-v1:0").unwrap();
        assert_eq!(d.entry.model_name, "claude");
        assert_eq!(id, "amazon.nova-pro-v1:0");
        assert!(!configured);
    }

    #[test]
    fn model_paths_are_decoded() {
        assert_eq!(
            classify("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
            Ok(PassPath::Model {
                model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
                op: Operation::ConverseStream
            })
        );
        assert_eq!(
            classify("/model/my-claude/invoke-with-response-stream"),
            Ok(PassPath::Model {
                model: "my-claude".into(),
                op: Operation::InvokeStream
            })
        );
        // ARNs: encoded `/` (boto3) and raw `/` (hand-written) decode to the same id.
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
        for path in [
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/invoke",
            "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc/invoke",
        ] {
            assert_eq!(
                classify(path),
                Ok(PassPath::Model {
                    model: arn.into(),
                    op: Operation::Invoke
                }),
                "{path}"
            );
        }
        assert_eq!(
            classify("/model/x/count-tokens"),
            Ok(PassPath::Model {
                model: "x".into(),
                op: Operation::CountTokens
            })
        );
    }

    #[test]
    fn service_paths_and_refusals() {
        assert_eq!(
            classify("/rerank"),
            Ok(PassPath::Service {
                service: Service::AgentRuntime,
                path: "/rerank"
            })
        );
        assert_eq!(
            classify("/knowledgebases/KB1/retrieve"),
            Ok(PassPath::Service {
                service: Service::AgentRuntime,
                path: "/knowledgebases/KB1/retrieve"
            })
        );
        assert_eq!(
            classify("/guardrail/g1/version/1/apply"),
            Ok(PassPath::Service {
                service: Service::Runtime,
                path: "/guardrail/g1/version/1/apply"
            })
        );
        assert_eq!(classify("/model/x/explode"), Err(PathError::Unknown));
        // Dot segments and backslashes would be resolved by the URL parser into other paths.
        for path in [
            "/guardrail/../model/anthropic.claude-v2/converse",
            "/agents/%2e%2e/model/x/invoke",
            "/rerank/./x",
            "/guardrail\\..\\model\\x\\converse",
            "/model/../converse",
            "/model/%2E%2E/converse",
        ] {
            assert_eq!(classify(path), Err(PathError::Unknown), "{path}");
        }
        assert_eq!(classify("/model//converse"), Err(PathError::Unknown));
        assert_eq!(classify("/model/converse"), Err(PathError::Unknown));
        assert_eq!(classify("/foundation-models"), Err(PathError::Unknown));
        assert_eq!(classify(""), Err(PathError::Unknown));
        assert_eq!(
            classify("/model/%FF%FE/converse"),
            Err(PathError::BadEncoding)
        );
    }

    #[test]
    fn model_ids_are_re_encoded_for_the_path() {
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:1:application-inference-profile/a b"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fa%20b"
        );
    }

    #[test]
    fn only_bedrock_headers_are_forwarded() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=y",
            ),
            ("x-api-key", "sk-gateway"),
            ("x-litellm-api-key", "sk-gateway"),
            ("x-amz-date", "20250101T000000Z"),
            ("x-amz-security-token", "tok"),
            ("x-amz-content-sha256", "abc"),
            ("amz-sdk-invocation-id", "id"),
            ("user-agent", "Boto3/1.0"),
            ("host", "localhost"),
            ("content-length", "2"),
            (DEPLOYMENT_HEADER, "claude"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("x-amzn-bedrock-trace", "ENABLED"),
            ("x-amz-source-arn", "arn:x"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = forwarded_headers(&h);
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "accept",
                "content-type",
                "x-amz-source-arn",
                "x-amzn-bedrock-trace"
            ]
        );
    }

    #[test]
    fn default_guardrail_is_spliced_into_converse_bodies() {
        let g = json!({"guardrailIdentifier": "gr-1", "guardrailVersion": "DRAFT"});
        let body =
            Bytes::from_static(br#" {"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#);
        let out = with_guardrail_config(body, &g);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["guardrailConfig"], g);
        assert_eq!(v["messages"][0]["content"][0]["text"], "hi");

        let empty = with_guardrail_config(Bytes::from_static(b"{ }"), &g);
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).unwrap(),
            json!({"guardrailConfig": g})
        );

        // The client's own guardrail (even null) wins; non-objects are left to Bedrock.
        for body in [
            &br#"{"guardrailConfig":{"guardrailIdentifier":"mine"},"messages":[]}"#[..],
            br#"{"guardrailConfig":null}"#,
            b"[1,2]",
            b"not json",
            b"",
        ] {
            let b = Bytes::copy_from_slice(body);
            assert_eq!(with_guardrail_config(b.clone(), &g), b);
        }
    }

    #[test]
    fn default_guardrail_becomes_invoke_headers() {
        let g = json!({"guardrailIdentifier": "gr-1", "guardrailVersion": 3, "trace": "enabled"});
        let mut h = HeaderMap::new();
        let body =
            apply_default_guardrail(Operation::Invoke, &g, Bytes::from_static(b"{}"), &mut h);
        assert_eq!(body, Bytes::from_static(b"{}"));
        assert_eq!(h["x-amzn-bedrock-guardrailidentifier"], "gr-1");
        assert_eq!(h["x-amzn-bedrock-guardrailversion"], "3");
        assert_eq!(h["x-amzn-bedrock-trace"], "ENABLED");

        // A client naming its own guardrail keeps it.
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-bedrock-guardrailidentifier",
            HeaderValue::from_static("mine"),
        );
        add_guardrail_headers(&g, &mut h);
        assert_eq!(h["x-amzn-bedrock-guardrailidentifier"], "mine");
        assert!(!h.contains_key("x-amzn-bedrock-guardrailversion"));

        // count-tokens gets nothing.
        let mut h = HeaderMap::new();
        apply_default_guardrail(Operation::CountTokens, &g, Bytes::new(), &mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn relayed_response_headers() {
        for (name, relayed) in [
            ("content-type", true),
            ("x-amzn-requestid", true),
            ("x-amzn-errortype", true),
            ("x-amzn-bedrock-input-token-count", true),
            ("x-amzn-bedrock-content-type", true),
            ("set-cookie", false),
            ("connection", false),
            ("server", false),
        ] {
            assert_eq!(
                is_relayed(&HeaderName::from_static(name)),
                relayed,
                "{name}"
            );
        }
    }
}
