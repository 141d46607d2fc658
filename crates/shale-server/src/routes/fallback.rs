//! Answers for requests no route serves: unknown paths (404) and wrong methods (405), as
//! OpenAI-shaped errors.

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
