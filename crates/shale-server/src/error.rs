//! The one place where every failure becomes an HTTP answer: [`ApiError`] → status + OpenAI error
//! JSON `{"error":{"message","type","param","code"}}` (built by `shale_core::OpenAiError`, the
//! only spelling of OpenAI's error types). Bedrock and translation failures arrive already
//! classified by their crates (`BedrockError::to_openai`, `TranslateError::to_openai`); the
//! gateway's own failures are classified here, in [`ApiError::to_openai`].

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use shale_core::{ErrorType, OpenAiError};

/// Every error a handler can return. Variants are grouped by who is at fault: the caller (4xx),
/// Bedrock or the translation (already classified), or the gateway (5xx).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<String>,
    },
    #[error("The model `{0}` does not exist or is not configured on this gateway. Call GET /v1/models to list the available models.")]
    UnknownModel(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The caller is known but may not do this (a virtual key on the admin API).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Virtual keys: refused by authentication or admission, or an admin API failure.
    #[error(transparent)]
    Key(#[from] shale_keys::KeyError),
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    #[error("Method {method} is not allowed on {path}.")]
    MethodNotAllowed { method: String, path: String },
    #[error("No route for {path}.")]
    NotFound { path: String },
    /// A stored object (e.g. a response) that does not exist for the caller's key.
    #[error("{message}")]
    ObjectNotFound {
        message: String,
        param: Option<&'static str>,
    },
    /// A failure whose client form was decided by the crate that understands it: an error Bedrock
    /// answered (or failing to reach it), or a request/answer the translation refused.
    #[error("{}", error.message)]
    Classified {
        error: OpenAiError,
        /// `Retry-After` for the caller (throttling).
        retry_after: Option<HeaderValue>,
    },
    #[error("{0}")]
    Internal(String),
    /// The model API (`/model/*`) and its store.
    #[error(transparent)]
    Model(#[from] shale_models::ModelError),
    /// The shared Responses store is down and the record is not in this replica's cache.
    #[error(transparent)]
    Store(#[from] shale_fleet::responses::StoreError),
    /// A guardrail blocked the request or its answer, or could not be applied (fail closed).
    #[error(transparent)]
    Guardrail(#[from] shale_guardrails::GuardrailError),
    /// A response-cache control the caller may not use (403) or sent wrong (400).
    #[error(transparent)]
    CacheControl(#[from] shale_cache::ControlError),
    /// The response cache is off, or its store failed an admin operation (503).
    #[error("{0}")]
    CacheUnavailable(String),
}

impl ApiError {
    /// A 400 `invalid_request_error`, naming the request field at fault when there is one
    /// (same argument order as `TranslateError::invalid`).
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_string),
            code: None,
        }
    }

    /// The client-facing form of this error.
    pub fn to_openai(&self) -> OpenAiError {
        let (status, error_type, param, code): (u16, ErrorType, Option<&str>, Option<&str>) =
            match self {
                ApiError::Classified { error, .. } => return error.clone(),
                ApiError::Guardrail(err) => return err.to_openai(),
                ApiError::InvalidRequest { param, code, .. } => (
                    400,
                    ErrorType::InvalidRequest,
                    param.as_deref(),
                    code.as_deref(),
                ),
                ApiError::UnknownModel(_) => (
                    400,
                    ErrorType::InvalidRequest,
                    Some("model"),
                    Some("model_not_found"),
                ),
                ApiError::Unauthorized(_) => (
                    401,
                    ErrorType::Authentication,
                    None,
                    Some("invalid_api_key"),
                ),
                ApiError::Forbidden(_) => (403, ErrorType::Permission, None, None),
                ApiError::Key(err) => key_error_class(err),
                ApiError::PayloadTooLarge { .. } => (
                    413,
                    ErrorType::InvalidRequest,
                    None,
                    Some("request_too_large"),
                ),
                ApiError::MethodNotAllowed { .. } => (
                    405,
                    ErrorType::InvalidRequest,
                    None,
                    Some("method_not_allowed"),
                ),
                ApiError::NotFound { .. } => {
                    (404, ErrorType::InvalidRequest, None, Some("not_found"))
                }
                ApiError::ObjectNotFound { param, .. } => {
                    (404, ErrorType::InvalidRequest, *param, None)
                }
                ApiError::Internal(_) => (500, ErrorType::Api, None, None),
                ApiError::Model(err) => model_error_class(err),
                ApiError::Store(_) => (
                    503,
                    ErrorType::ServiceUnavailable,
                    None,
                    Some("response_store_unavailable"),
                ),
                ApiError::CacheControl(shale_cache::ControlError::NotAllowed(_)) => {
                    (403, ErrorType::Permission, None, None)
                }
                ApiError::CacheControl(shale_cache::ControlError::Invalid { param, .. }) => {
                    (400, ErrorType::InvalidRequest, Some(param.as_str()), None)
                }
                ApiError::CacheUnavailable(_) => (503, ErrorType::ServiceUnavailable, None, None),
            };
        OpenAiError::new(status, error_type, self.to_string())
            .with_param(param)
            .with_code(code)
    }

    pub fn status(&self) -> StatusCode {
        let status = match self {
            ApiError::Classified { error, .. } => error.status,
            other => other.to_openai().status,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `Retry-After` for the caller: Bedrock's throttling, or a virtual key's rate limit.
    pub fn retry_after_header(&self) -> Option<HeaderValue> {
        match self {
            ApiError::Classified { retry_after, .. } => retry_after.clone(),
            ApiError::Key(shale_keys::KeyError::RateLimited {
                retry_after_secs, ..
            }) => Some(HeaderValue::from((*retry_after_secs).max(1))),
            ApiError::Store(_) => Some(HeaderValue::from(1)),
            ApiError::Guardrail(err) => err
                .retry_after()
                .map(|d| HeaderValue::from(d.as_secs_f64().ceil().max(1.0) as u64)),
            _ => None,
        }
    }

    /// OpenAI's `code` field.
    pub fn code(&self) -> Option<String> {
        self.to_openai().code
    }

    /// The error JSON as bytes (also used for the `data: {"error":…}` event of a failed stream).
    /// A guardrail error also carries LiteLLM's `provider_specific_fields` (which guardrail, its
    /// blocked message, Bedrock's redacted assessments).
    pub fn to_json(&self) -> Bytes {
        let error = self.to_openai();
        match self.guardrail_details() {
            None => error.to_json(),
            Some(details) => {
                let mut v = error.to_value();
                v["error"]["provider_specific_fields"] = details;
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            }
        }
    }

    /// The details a guardrail error adds to the client's error object.
    pub fn guardrail_details(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::Guardrail(err) => err.details(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self, "request refused");
        }
        let mut response = (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(),
        )
            .into_response();
        if let Some(v) = self.retry_after_header() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Status, type, param and code of a virtual-key failure (its message is the `KeyError`'s, which
/// never contains a key).
fn key_error_class(
    err: &shale_keys::KeyError,
) -> (u16, ErrorType, Option<&'static str>, Option<&'static str>) {
    use shale_keys::KeyError as K;
    match err {
        K::NoDatabase => (400, ErrorType::InvalidRequest, None, Some("no_database")),
        K::InvalidKey | K::Expired | K::Blocked => (
            401,
            ErrorType::Authentication,
            None,
            Some("invalid_api_key"),
        ),
        K::ModelNotAllowed { .. } => (
            401,
            ErrorType::Authentication,
            Some("model"),
            Some("model_not_allowed"),
        ),
        K::BudgetExceeded { .. } | K::ModelBudgetExceeded { .. } => (
            400,
            ErrorType::InvalidRequest,
            None,
            Some("budget_exceeded"),
        ),
        K::RateLimited { .. } => (429, ErrorType::RateLimit, None, Some("rate_limit_exceeded")),
        K::InvalidRequest(_) => (400, ErrorType::InvalidRequest, None, None),
        K::NotFound(_) => (404, ErrorType::InvalidRequest, None, Some("not_found")),
        K::Unavailable(_) => (503, ErrorType::ServiceUnavailable, None, None),
    }
}

/// Status, type, param and code of a model API failure.
fn model_error_class(
    err: &shale_models::ModelError,
) -> (u16, ErrorType, Option<&str>, Option<&'static str>) {
    use shale_models::ModelError as M;
    match err {
        M::NotEnabled => (
            400,
            ErrorType::InvalidRequest,
            None,
            Some("store_model_in_db_off"),
        ),
        M::Invalid { param, .. } => (400, ErrorType::InvalidRequest, param.as_deref(), None),
        M::ReadOnly(_) => (
            400,
            ErrorType::InvalidRequest,
            Some("model_info.id"),
            Some("config_model_read_only"),
        ),
        M::NotFound(_) => (
            404,
            ErrorType::InvalidRequest,
            Some("model_info.id"),
            Some("not_found"),
        ),
        M::Duplicate(_) => (
            400,
            ErrorType::InvalidRequest,
            Some("model_info.id"),
            Some("duplicate_model_id"),
        ),
        M::NoSaltKey(_) => (
            400,
            ErrorType::InvalidRequest,
            Some("litellm_params"),
            Some("no_salt_key"),
        ),
        M::Seal => (500, ErrorType::Api, None, None),
        M::Unavailable(_) => (503, ErrorType::ServiceUnavailable, None, None),
    }
}

impl From<shale_translate::TranslateError> for ApiError {
    fn from(err: shale_translate::TranslateError) -> Self {
        ApiError::Classified {
            error: err.to_openai(),
            retry_after: None,
        }
    }
}

impl From<shale_bedrock::BedrockError> for ApiError {
    fn from(err: shale_bedrock::BedrockError) -> Self {
        match &err {
            // The gateway's AWS setup failed (503 aws_credentials_error), not Bedrock.
            shale_bedrock::BedrockError::Credentials { source_kind, .. } => {
                crate::report::credential_failure(source_kind)
            }
            _ => crate::report::upstream_error(),
        }
        let error = err.to_openai();
        // A final 429 tells the caller when to come back: whole seconds, at least 1.
        let retry_after = (error.status == StatusCode::TOO_MANY_REQUESTS.as_u16())
            .then(|| err.retry_after())
            .flatten()
            .map(|d| HeaderValue::from(d.as_secs_f64().ceil().max(1.0) as u64));
        ApiError::Classified { error, retry_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = ApiError::invalid(Some("messages"), "`messages` is required");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"`messages` is required","type":"invalid_request_error","param":"messages","code":null}})
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn unknown_model_points_at_models() {
        let e = ApiError::UnknownModel("gpt-9".into());
        assert!(e.to_string().contains("`gpt-9`"));
        assert!(e.to_string().contains("/v1/models"));
        assert_eq!(e.code().as_deref(), Some("model_not_found"));
    }

    #[test]
    fn key_errors_map_to_statuses_and_retry_after() {
        use shale_keys::{KeyError, LimitKind, Scope};
        let status = |e: KeyError| ApiError::from(e).status().as_u16();
        assert_eq!(status(KeyError::NoDatabase), 400);
        assert_eq!(status(KeyError::InvalidKey), 401);
        assert_eq!(status(KeyError::Expired), 401);
        assert_eq!(status(KeyError::Blocked), 401);
        assert_eq!(status(KeyError::InvalidRequest("bad".into())), 400);
        assert_eq!(status(KeyError::NotFound("no".into())), 404);
        assert_eq!(status(KeyError::Unavailable("down".into())), 503);

        let scope = ApiError::from(KeyError::ModelNotAllowed {
            model: "claude".into(),
        });
        assert_eq!(scope.status(), StatusCode::UNAUTHORIZED);
        assert!(scope.to_string().contains("claude"));
        assert_eq!(scope.code().as_deref(), Some("model_not_allowed"));

        let budget = ApiError::from(KeyError::BudgetExceeded {
            scope: Scope::Key,
            spend: 2.0,
            max_budget: 1.0,
        });
        let v: serde_json::Value = serde_json::from_slice(&budget.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "budget_exceeded");
        assert!(v["error"]["message"].as_str().unwrap().contains("Budget"));

        let limited = ApiError::from(KeyError::RateLimited {
            limit: LimitKind::Rpm,
            scope: Scope::Team,
            retry_after_secs: 7,
        });
        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");

        let refused = ApiError::from(KeyError::InvalidKey).into_response();
        assert_eq!(refused.headers()["www-authenticate"], "Bearer");
        let forbidden = ApiError::Forbidden("admin only");
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn an_unreachable_response_store_is_a_503_to_retry() {
        let err = ApiError::from(shale_fleet::responses::StoreError::Unavailable(
            "Postgres down".into(),
        ));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code().as_deref(), Some("response_store_unavailable"));
        let response = err.into_response();
        assert_eq!(response.headers()["retry-after"], "1");
    }

    #[test]
    fn guardrail_errors_carry_litellms_details_and_retry_after() {
        use shale_guardrails::{Blocked, GuardrailError, Hook};
        let blocked = ApiError::from(GuardrailError::Blocked(Box::new(Blocked {
            guardrail_name: "pii".into(),
            hook: Hook::PostCall,
            guardrail_identifier: "gr1".into(),
            guardrail_version: "1".into(),
            message: "Withheld.".into(),
            action_reason: None,
            assessments: serde_json::json!([]),
        })));
        assert_eq!(blocked.status(), StatusCode::BAD_REQUEST);
        let v: serde_json::Value = serde_json::from_slice(&blocked.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "guardrail_violation");
        assert_eq!(
            v["error"]["provider_specific_fields"]["guardrail_mode"],
            "post_call"
        );
        assert_eq!(
            v["error"]["provider_specific_fields"]["bedrock_guardrail_response"],
            "Withheld."
        );
        let throttled = ApiError::from(GuardrailError::Unavailable {
            guardrail: "pii".into(),
            hook: Hook::PreCall,
            status: 503,
            message: "ThrottlingException: slow down".into(),
            retry_after: Some(std::time::Duration::from_millis(1500)),
        });
        let response = throttled.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "2");
        // Other errors keep OpenAI's four members only.
        let plain: serde_json::Value =
            serde_json::from_slice(&ApiError::invalid(None, "x").to_json()).unwrap();
        assert!(plain["error"].get("provider_specific_fields").is_none());
    }

    #[test]
    fn classified_errors_keep_their_crate_form() {
        let err = shale_translate::TranslateError::InvalidUpstream("not JSON".into());
        let api = ApiError::from(err.clone());
        assert_eq!(api.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(api.to_json(), err.to_openai().to_json());
    }
}
