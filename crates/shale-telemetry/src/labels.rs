//! Label sets of the LiteLLM-compatible metrics, spelled as LiteLLM spells them
//! (`litellm/types/integrations/prometheus.py`, `PrometheusMetricLabels`), and the exception
//! class names LiteLLM reports (`Bedrock.RateLimitError` …).
//!
//! Label values are built here only at load (one set per deployment and key) or on the failure
//! path; the success path uses pre-resolved handles (see `metrics.rs`).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock};

/// One label set: fixed names, owned values.
pub type Labels<const N: usize> = [(&'static str, String); N];

/// Who made the request, as metrics label it. Values are shared, never re-built per request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyLabels {
    /// SHA-256 hex of the key (LiteLLM's `user_api_key_hash`).
    pub hashed_api_key: Arc<str>,
    pub api_key_alias: Arc<str>,
    pub team: Arc<str>,
    pub team_alias: Arc<str>,
    pub user: Arc<str>,
    /// The key owner's email (`user_email`; LiteLLM's from its user table, shale's from the key's
    /// `metadata.user_email`).
    pub user_email: Arc<str>,
}

/// Most distinct `route` label values; later ones are all `other` (the values are route
/// templates, a few dozen, but a label must stay bounded whatever a caller passes).
const MAX_ROUTES: usize = 256;

/// Interned `route` label values, at most [`MAX_ROUTES`].
#[derive(Debug, Default)]
struct Routes(RwLock<HashSet<Arc<str>>>);

impl Routes {
    fn get(&self, template: &str) -> Arc<str> {
        if let Some(r) = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(template)
        {
            return Arc::clone(r);
        }
        let mut w = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = w.get(template) {
            return Arc::clone(r);
        }
        if w.len() >= MAX_ROUTES {
            return Arc::from("other");
        }
        let r: Arc<str> = Arc::from(template);
        w.insert(Arc::clone(&r));
        r
    }
}

/// A request's `route` label: the route template it matched (`/v1/chat/completions`,
/// `/bedrock/{*path}` — never a raw path with ids in it), interned so recording it allocates
/// nothing after the first time.
pub fn route(template: &str) -> Arc<str> {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(Routes::default).get(template)
}

/// What metrics need to know about one deployment, resolved at load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentInfo {
    /// The `model_name` clients send (`requested_model`, `model_group`).
    pub model_name: String,
    /// `model_info.id`, else a stable id derived from the entry (`model_id`).
    pub model_id: String,
    /// The Bedrock model id called (`model`, `litellm_model_name`).
    pub model: String,
    /// The runtime endpoint (`api_base`).
    pub api_base: String,
    /// `litellm_params.rpm` / `tpm`, for the remaining-requests/tokens gauges.
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// `api_provider` of every shale deployment.
pub const API_PROVIDER: &str = "bedrock";

fn s(v: &str) -> String {
    v.to_string()
}

/// The labels LiteLLM's request metrics start with: who called, for which model group.
fn caller(d: &DeploymentInfo, k: &KeyLabels) -> Labels<7> {
    [
        ("end_user", String::new()),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("requested_model", s(&d.model_name)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
        ("user", s(&k.user)),
    ]
}

/// `litellm_proxy_total_requests_metric` (with `user_email` and `route`, as LiteLLM has them).
pub fn proxy_total(d: &DeploymentInfo, k: &KeyLabels, status: &str, route: &str) -> Labels<11> {
    let [e, h, a, r, t, ta, u] = caller(d, k);
    [
        e,
        h,
        a,
        r,
        t,
        ta,
        u,
        ("status_code", s(status)),
        ("user_email", s(&k.user_email)),
        ("route", s(route)),
        ("model_id", s(&d.model_id)),
    ]
}

/// `litellm_proxy_failed_requests_metric` (with `user_email` and `route`).
pub fn proxy_failed(
    d: &DeploymentInfo,
    k: &KeyLabels,
    exception_status: &str,
    exception_class: &str,
    route: &str,
) -> Labels<12> {
    let [e, h, a, r, t, ta, u] = caller(d, k);
    [
        e,
        h,
        a,
        r,
        t,
        ta,
        u,
        ("user_email", s(&k.user_email)),
        ("exception_status", s(exception_status)),
        ("exception_class", s(exception_class)),
        ("route", s(route)),
        ("model_id", s(&d.model_id)),
    ]
}

/// `litellm_request_total_latency_metric`, `litellm_llm_api_latency_metric`,
/// `litellm_llm_api_time_to_first_token_metric` (same names, LiteLLM orders them differently,
/// which the text format does not care about).
pub fn request(d: &DeploymentInfo, k: &KeyLabels) -> Labels<9> {
    let [e, h, a, r, t, ta, u] = caller(d, k);
    [
        e,
        h,
        a,
        r,
        t,
        ta,
        u,
        ("model", s(&d.model)),
        ("model_id", s(&d.model_id)),
    ]
}

/// `litellm_input_tokens_metric`, `litellm_output_tokens_metric`, `litellm_total_tokens_metric`:
/// the request labels and `user_email`.
pub fn tokens(d: &DeploymentInfo, k: &KeyLabels) -> Labels<10> {
    let [e, h, a, r, t, ta, u] = caller(d, k);
    [
        e,
        h,
        a,
        r,
        t,
        ta,
        u,
        ("user_email", s(&k.user_email)),
        ("model", s(&d.model)),
        ("model_id", s(&d.model_id)),
    ]
}

/// `litellm_spend_metric`.
pub fn spend(d: &DeploymentInfo, k: &KeyLabels) -> Labels<10> {
    [
        ("end_user", String::new()),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("model", s(&d.model)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
        ("user", s(&k.user)),
        ("user_email", s(&k.user_email)),
        ("model_id", s(&d.model_id)),
        ("api_provider", s(API_PROVIDER)),
    ]
}

/// `litellm_overhead_latency_metric`, `litellm_remaining_requests_metric`,
/// `litellm_remaining_tokens_metric`.
pub fn deployment_key(d: &DeploymentInfo, k: &KeyLabels) -> Labels<7> {
    [
        ("model_group", s(&d.model_name)),
        ("api_provider", s(API_PROVIDER)),
        ("api_base", s(&d.api_base)),
        ("litellm_model_name", s(&d.model)),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("model_id", s(&d.model_id)),
    ]
}

/// `litellm_deployment_state`.
pub fn deployment(d: &DeploymentInfo) -> Labels<4> {
    [
        ("litellm_model_name", s(&d.model)),
        ("model_id", s(&d.model_id)),
        ("api_base", s(&d.api_base)),
        ("api_provider", s(API_PROVIDER)),
    ]
}

/// `litellm_deployment_cooled_down`.
pub fn cooled_down(d: &DeploymentInfo, exception_status: &str) -> Labels<5> {
    [
        ("litellm_model_name", s(&d.model)),
        ("model_id", s(&d.model_id)),
        ("api_base", s(&d.api_base)),
        ("api_provider", s(API_PROVIDER)),
        ("exception_status", s(exception_status)),
    ]
}

/// `litellm_deployment_success_responses`, `litellm_deployment_total_requests`.
pub fn deployment_requests(d: &DeploymentInfo, k: &KeyLabels) -> Labels<9> {
    [
        ("requested_model", s(&d.model_name)),
        ("litellm_model_name", s(&d.model)),
        ("model_id", s(&d.model_id)),
        ("api_base", s(&d.api_base)),
        ("api_provider", s(API_PROVIDER)),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
    ]
}

/// `litellm_deployment_failure_responses`.
pub fn deployment_failure(
    d: &DeploymentInfo,
    k: &KeyLabels,
    exception_status: &str,
    exception_class: &str,
) -> Labels<11> {
    [
        ("requested_model", s(&d.model_name)),
        ("litellm_model_name", s(&d.model)),
        ("model_id", s(&d.model_id)),
        ("api_base", s(&d.api_base)),
        ("api_provider", s(API_PROVIDER)),
        ("exception_status", s(exception_status)),
        ("exception_class", s(exception_class)),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
    ]
}

/// `litellm_deployment_latency_per_output_token`.
pub fn latency_per_token(d: &DeploymentInfo, k: &KeyLabels) -> Labels<8> {
    [
        ("litellm_model_name", s(&d.model)),
        ("model_id", s(&d.model_id)),
        ("api_base", s(&d.api_base)),
        ("api_provider", s(API_PROVIDER)),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
    ]
}

/// `litellm_deployment_successful_fallbacks`, `litellm_deployment_failed_fallbacks`.
pub fn fallback(
    requested_model: &str,
    fallback_model: &str,
    model_id: &str,
    k: &KeyLabels,
    exception_status: &str,
    exception_class: &str,
) -> Labels<9> {
    [
        ("requested_model", s(requested_model)),
        ("fallback_model", s(fallback_model)),
        ("hashed_api_key", s(&k.hashed_api_key)),
        ("api_key_alias", s(&k.api_key_alias)),
        ("team", s(&k.team)),
        ("team_alias", s(&k.team_alias)),
        ("exception_status", s(exception_status)),
        ("exception_class", s(exception_class)),
        ("model_id", s(model_id)),
    ]
}

/// LiteLLM's exception class for an HTTP status: `Bedrock.RateLimitError` when Bedrock answered
/// (LiteLLM prefixes the provider), the bare class when the gateway refused the request itself.
pub fn exception_class(status: u16, upstream: bool) -> &'static str {
    let (bare, bedrock) = match status {
        400 | 413 => ("BadRequestError", "Bedrock.BadRequestError"),
        401 => ("AuthenticationError", "Bedrock.AuthenticationError"),
        403 => ("PermissionDeniedError", "Bedrock.PermissionDeniedError"),
        404 => ("NotFoundError", "Bedrock.NotFoundError"),
        408 | 504 => ("Timeout", "Bedrock.Timeout"),
        422 => (
            "UnprocessableEntityError",
            "Bedrock.UnprocessableEntityError",
        ),
        429 => ("RateLimitError", "Bedrock.RateLimitError"),
        500 => ("InternalServerError", "Bedrock.InternalServerError"),
        502 => ("APIConnectionError", "Bedrock.APIConnectionError"),
        503 => ("ServiceUnavailableError", "Bedrock.ServiceUnavailableError"),
        _ => ("APIError", "Bedrock.APIError"),
    };
    if upstream {
        bedrock
    } else {
        bare
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_interned_and_bounded() {
        let routes = Routes::default();
        let a = routes.get("/v1/chat/completions");
        let b = routes.get("/v1/chat/completions");
        assert!(Arc::ptr_eq(&a, &b), "one allocation per route");
        for i in 0..MAX_ROUTES + 10 {
            let _ = routes.get(&format!("/test/{i}"));
        }
        assert_eq!(&*routes.get("/never/seen/before"), "other");
        assert!(Arc::ptr_eq(&a, &routes.get("/v1/chat/completions")));
        assert!(Arc::ptr_eq(
            &route("/v1/embeddings"),
            &route("/v1/embeddings")
        ));
    }

    #[test]
    fn exception_classes_follow_litellm() {
        assert_eq!(exception_class(429, true), "Bedrock.RateLimitError");
        assert_eq!(exception_class(400, false), "BadRequestError");
        assert_eq!(exception_class(599, true), "Bedrock.APIError");
    }
}
