//! Label sets of the LiteLLM-compatible metrics, spelled as LiteLLM spells them
//! (`litellm/types/integrations/prometheus.py`, `PrometheusMetricLabels`), and the exception
//! class names LiteLLM reports (`Bedrock.RateLimitError` …).
//!
//! Each set is written as its list of label names, in LiteLLM's order; one mapping (`Values`)
//! says where every name's value comes from (the deployment, the key, or the call).
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

/// Where each label's value comes from: the one place that maps a LiteLLM label name to
/// shale's data. The label sets below are lists of names, in LiteLLM's order.
struct Values<'a> {
    d: &'a DeploymentInfo,
    k: &'a KeyLabels,
    /// Values known only per call (`status_code`, `exception_class` …); they take precedence.
    call: &'a [(&'static str, &'a str)],
}

impl<'a> Values<'a> {
    fn new(d: &'a DeploymentInfo, k: &'a KeyLabels, call: &'a [(&'static str, &'a str)]) -> Self {
        Values { d, k, call }
    }

    fn value(&self, name: &str) -> &str {
        if let Some((_, v)) = self.call.iter().find(|(n, _)| *n == name) {
            return v;
        }
        let (d, k) = (self.d, self.k);
        match name {
            "hashed_api_key" => &k.hashed_api_key,
            "api_key_alias" => &k.api_key_alias,
            "team" => &k.team,
            "team_alias" => &k.team_alias,
            "user" => &k.user,
            "user_email" => &k.user_email,
            "requested_model" | "model_group" => &d.model_name,
            "model" | "litellm_model_name" => &d.model,
            "model_id" => &d.model_id,
            "api_base" => &d.api_base,
            "api_provider" => API_PROVIDER,
            // shale has no end users (LiteLLM's `user` request field is not tracked).
            _ => {
                debug_assert_eq!(name, "end_user", "a label without a source");
                ""
            }
        }
    }

    /// The label set of `names` (space-separated, exactly `N` of them).
    fn set<const N: usize>(&self, names: &'static str) -> Labels<N> {
        let mut names = names.split_ascii_whitespace();
        let set = std::array::from_fn(|_| {
            let name = names.next().unwrap_or_default();
            (name, self.value(name).to_string())
        });
        debug_assert!(names.next().is_none(), "more label names than {N}");
        set
    }
}

/// `litellm_proxy_total_requests_metric` (with `user_email` and `route`, as LiteLLM has them).
pub fn proxy_total(d: &DeploymentInfo, k: &KeyLabels, status: &str, route: &str) -> Labels<11> {
    Values::new(d, k, &[("status_code", status), ("route", route)]).set(
        "end_user hashed_api_key api_key_alias requested_model team team_alias user status_code \
         user_email route model_id",
    )
}

/// `litellm_proxy_failed_requests_metric` (with `user_email` and `route`).
pub fn proxy_failed(
    d: &DeploymentInfo,
    k: &KeyLabels,
    exception_status: &str,
    exception_class: &str,
    route: &str,
) -> Labels<12> {
    let call = [
        ("exception_status", exception_status),
        ("exception_class", exception_class),
        ("route", route),
    ];
    Values::new(d, k, &call).set(
        "end_user hashed_api_key api_key_alias requested_model team team_alias user user_email \
         exception_status exception_class route model_id",
    )
}

/// `litellm_request_total_latency_metric`, `litellm_llm_api_latency_metric`,
/// `litellm_llm_api_time_to_first_token_metric` (same names, LiteLLM orders them differently,
/// which the text format does not care about).
pub fn request(d: &DeploymentInfo, k: &KeyLabels) -> Labels<9> {
    Values::new(d, k, &[]).set(
        "end_user hashed_api_key api_key_alias requested_model team team_alias user model model_id",
    )
}

/// `litellm_input_tokens_metric`, `litellm_output_tokens_metric`, `litellm_total_tokens_metric`:
/// the request labels and `user_email`.
pub fn tokens(d: &DeploymentInfo, k: &KeyLabels) -> Labels<10> {
    Values::new(d, k, &[]).set(
        "end_user hashed_api_key api_key_alias requested_model team team_alias user user_email \
         model model_id",
    )
}

/// `litellm_spend_metric`.
pub fn spend(d: &DeploymentInfo, k: &KeyLabels) -> Labels<10> {
    Values::new(d, k, &[]).set(
        "end_user hashed_api_key api_key_alias model team team_alias user user_email model_id \
         api_provider",
    )
}

/// `litellm_cache_hits_metric`, `litellm_cache_misses_metric`, `litellm_cached_tokens_metric`
/// (`model` is the model group the client asked for).
pub fn cache(model: &str, k: &KeyLabels) -> Labels<7> {
    Values::new(&DeploymentInfo::default(), k, &[("model", model)])
        .set("end_user hashed_api_key api_key_alias model team team_alias user")
}

/// `litellm_overhead_latency_metric`, `litellm_remaining_requests_metric`,
/// `litellm_remaining_tokens_metric`.
pub fn deployment_key(d: &DeploymentInfo, k: &KeyLabels) -> Labels<7> {
    Values::new(d, k, &[]).set(
        "model_group api_provider api_base litellm_model_name hashed_api_key api_key_alias model_id",
    )
}

/// `litellm_deployment_state`.
pub fn deployment(d: &DeploymentInfo) -> Labels<4> {
    Values::new(d, &KeyLabels::default(), &[])
        .set("litellm_model_name model_id api_base api_provider")
}

/// `litellm_deployment_cooled_down`.
pub fn cooled_down(d: &DeploymentInfo, exception_status: &str) -> Labels<5> {
    Values::new(
        d,
        &KeyLabels::default(),
        &[("exception_status", exception_status)],
    )
    .set("litellm_model_name model_id api_base api_provider exception_status")
}

/// `litellm_deployment_success_responses`, `litellm_deployment_total_requests`.
pub fn deployment_requests(d: &DeploymentInfo, k: &KeyLabels) -> Labels<9> {
    Values::new(d, k, &[]).set(
        "requested_model litellm_model_name model_id api_base api_provider hashed_api_key \
         api_key_alias team team_alias",
    )
}

/// `litellm_deployment_failure_responses`.
pub fn deployment_failure(
    d: &DeploymentInfo,
    k: &KeyLabels,
    exception_status: &str,
    exception_class: &str,
) -> Labels<11> {
    let call = [
        ("exception_status", exception_status),
        ("exception_class", exception_class),
    ];
    Values::new(d, k, &call).set(
        "requested_model litellm_model_name model_id api_base api_provider exception_status \
         exception_class hashed_api_key api_key_alias team team_alias",
    )
}

/// `litellm_deployment_latency_per_output_token`.
pub fn latency_per_token(d: &DeploymentInfo, k: &KeyLabels) -> Labels<8> {
    Values::new(d, k, &[]).set(
        "litellm_model_name model_id api_base api_provider hashed_api_key api_key_alias team \
         team_alias",
    )
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
    let call = [
        ("requested_model", requested_model),
        ("fallback_model", fallback_model),
        ("model_id", model_id),
        ("exception_status", exception_status),
        ("exception_class", exception_class),
    ];
    Values::new(&DeploymentInfo::default(), k, &call).set(
        "requested_model fallback_model hashed_api_key api_key_alias team team_alias \
         exception_status exception_class model_id",
    )
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

    /// Every label of every set has its source: given non-empty inputs, only `end_user` is empty,
    /// and each set names as many labels as its type says.
    #[test]
    fn every_label_has_a_value() {
        let d = DeploymentInfo {
            model_name: "group".into(),
            model_id: "id".into(),
            model: "bedrock-model".into(),
            api_base: "https://bedrock".into(),
            rpm: None,
            tpm: None,
        };
        let k = KeyLabels {
            hashed_api_key: "hash".into(),
            api_key_alias: "alias".into(),
            team: "team".into(),
            team_alias: "team-alias".into(),
            user: "user".into(),
            user_email: "owner@example.com".into(),
        };
        let sets: Vec<Vec<(&str, String)>> = vec![
            proxy_total(&d, &k, "200", "/v1/chat/completions").to_vec(),
            proxy_failed(&d, &k, "429", "RateLimitError", "/v1/chat/completions").to_vec(),
            request(&d, &k).to_vec(),
            tokens(&d, &k).to_vec(),
            spend(&d, &k).to_vec(),
            cache("group", &k).to_vec(),
            deployment_key(&d, &k).to_vec(),
            deployment(&d).to_vec(),
            cooled_down(&d, "429").to_vec(),
            deployment_requests(&d, &k).to_vec(),
            deployment_failure(&d, &k, "500", "InternalServerError").to_vec(),
            latency_per_token(&d, &k).to_vec(),
            fallback("group", "other", "id", &k, "429", "RateLimitError").to_vec(),
        ];
        for set in sets {
            for (name, value) in &set {
                assert!(
                    !name.is_empty(),
                    "a set has fewer names than its size: {set:?}"
                );
                assert_eq!(value.is_empty(), *name == "end_user", "{name} in {set:?}");
            }
        }
        let failed = deployment_failure(&d, &k, "500", "InternalServerError");
        assert_eq!(failed[0], ("requested_model", "group".to_string()));
        assert_eq!(
            failed[1],
            ("litellm_model_name", "bedrock-model".to_string())
        );
        assert_eq!(
            failed[6],
            ("exception_class", "InternalServerError".to_string())
        );
        let fb = fallback("group", "other", "fallback-id", &k, "", "");
        assert_eq!(fb[1], ("fallback_model", "other".to_string()));
        assert_eq!(fb[8], ("model_id", "fallback-id".to_string()));
    }

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
