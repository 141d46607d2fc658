//! `POST /images/generations`: parse, find the deployment, translate to the model-native
//! InvokeModel body (`shale_translate::images`), call Bedrock, translate the answer back. A
//! content-filtered result is a 400 `content_policy_violation`.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::response::{json_response, unix_now};
use crate::routes::embeddings::family_for;
use crate::routing::{self, Hints};
use crate::state::{AppState, Deployment};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_translate::images::{
    bedrock_to_image_response, image_request_to_bedrock, ImageFamily, ImagesRequest,
};
use std::sync::Arc;
use std::time::Instant;

pub async fn generations(
    State(state): State<Arc<AppState>>,
    request: JsonBody<ImagesRequest>,
) -> Result<Response, ApiError> {
    let (request, started) = request.into_parts();
    let model = request
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                Some("model"),
                "`model` is required: name one of the image models in GET /v1/models.",
            )
        })?;
    let (state, request) = (&*state, &request);
    routing::run(state, &Hints::model(model), |deployment| async move {
        generations_once(state, &deployment, request.clone(), started).await
    })
    .await
}

/// One attempt against one deployment (the router retries and falls back around it).
async fn generations_once(
    state: &AppState,
    deployment: &Deployment,
    request: ImagesRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let family = family_for(
        deployment,
        ImageFamily::from_model_id,
        "an image generation",
    )?;
    let invocation = image_request_to_bedrock(request, family, deployment.default_params())?;
    let body = Bytes::from(serde_json::to_vec(&invocation.body).expect("body serialises"));

    let answer = state
        .bedrock
        .call(
            &deployment.target,
            Operation::Invoke,
            body,
            &HeaderMap::new(),
        )
        .await?;
    let upstream_time = answer.upstream_time;

    let response =
        bedrock_to_image_response(family, &answer.body, unix_now(), invocation.response_format)?;
    let json = serde_json::to_vec(&response).expect("JSON serialises");
    Ok(json_response(json, started, upstream_time))
}
