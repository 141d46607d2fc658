//! Answers for requests no route serves: unknown paths (404), wrong methods (405), and API areas
//! not implemented yet (501) — all as OpenAI-shaped errors.

use crate::error::ApiError;
use axum::http::{Method, Uri};

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        path: uri.path().to_string(),
    }
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

pub async fn not_implemented(uri: Uri) -> ApiError {
    ApiError::NotImplemented(format!(
        "{} is not implemented by this version of shale yet.",
        uri.path()
    ))
}

/// The first steps every model route shares — read the body under the limit, parse JSON, find the
/// deployment — then 501 for API areas not implemented yet.
pub async fn model_route_not_implemented(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<axum::response::Response, ApiError> {
    #[derive(serde::Deserialize)]
    struct ModelOnly {
        model: String,
    }
    let bytes = crate::body::read_limited(&headers, body, state.max_body_bytes).await?;
    let req: ModelOnly = crate::body::parse_json(&bytes)?;
    state.deployment(&req.model)?;
    Err(not_implemented(uri).await)
}
