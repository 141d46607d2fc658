//! `POST /embeddings`: parse, find the deployment, plan the model-native InvokeModel calls
//! (`shale_translate::embeddings`), issue them concurrently with a bound (answers kept in plan
//! order), and assemble one OpenAI `list` response with summed usage.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::response::json_response;
use crate::routing::{self, Hints};
use crate::state::{AppState, Deployment};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use shale_bedrock::Operation;
use shale_translate::embeddings::{
    assemble_embeddings, parse_embedding_response, plan_embeddings, EmbeddingFamily,
    EmbeddingsRequest, ParsedEmbeddings,
};
use std::sync::Arc;
use std::time::Instant;

/// Most Bedrock calls of one request in flight at once.
pub const MAX_CONCURRENT_CALLS: usize = 8;

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    request: JsonBody<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    let (request, started) = request.into_parts();
    let (state, request) = (&*state, &request);
    routing::run(state, &Hints::model(&request.model), |deployment| async move {
        embeddings_once(state, &deployment, request.clone(), started).await
    })
    .await
}

/// One attempt against one deployment (the router retries and falls back around it).
async fn embeddings_once(
    state: &AppState,
    deployment: &Deployment,
    request: EmbeddingsRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let family = family_for(deployment, EmbeddingFamily::from_model_id, "an embedding")?;
    let model_name = request.model.clone();
    let plan = plan_embeddings(request, family, deployment.default_params())?;

    let upstream_started = Instant::now();
    let no_headers = HeaderMap::new();
    let (plan_ref, no_headers) = (&plan, &no_headers);
    // By index rather than `iter()`: a closure over `&Value` arguments is not `Send` for every
    // lifetime, which axum handlers need. Bodies are serialised only when their call starts.
    let calls = (0..plan.calls.len()).map(|i| async move {
        let body = Bytes::from(serde_json::to_vec(&plan_ref.calls[i]).expect("body serialises"));
        let answer = state
            .bedrock
            .call(&deployment.target, Operation::Invoke, body, no_headers)
            .await?;
        let header_tokens = answer.input_token_count();
        Ok::<ParsedEmbeddings, ApiError>(parse_embedding_response(
            family,
            &answer.body,
            header_tokens,
        )?)
    });
    let parts: Vec<ParsedEmbeddings> = futures::stream::iter(calls)
        .buffered(MAX_CONCURRENT_CALLS)
        .try_collect()
        .await?;
    let upstream_time = upstream_started.elapsed();

    let response = assemble_embeddings(&plan, parts, &model_name)?;
    crate::report::input_tokens(response.usage.prompt_tokens);
    let json = serde_json::to_vec(&response).expect("JSON serialises");
    Ok(json_response(json, started, upstream_time))
}

/// The model family of a deployment that must be called over InvokeModel: looked up by the
/// route's base model, then the Bedrock model id (`model_id` may be an ARN saying nothing), then
/// `model_info.base_model`. `what` names the expected kind for the error ("an embedding").
pub fn family_for<F>(
    deployment: &Deployment,
    detect: fn(&str) -> Option<F>,
    what: &str,
) -> Result<F, ApiError> {
    deployment.require_bedrock(&format!("{what} model"))?;
    let info_base = deployment
        .entry
        .model_info
        .get("base_model")
        .and_then(|v| v.as_str());
    [
        Some(deployment.entry.route.base_model.as_str()),
        Some(deployment.target.model_id()),
        info_base,
    ]
    .into_iter()
    .flatten()
    .find_map(detect)
    .ok_or_else(|| {
        ApiError::invalid(
            Some("model"),
            format!(
                "Model `{}` ({}) is not {what} model this gateway knows.",
                deployment.entry.model_name, deployment.entry.route.model_id
            ),
        )
    })
}

/// Test support: gateway state from a YAML config (targets resolved, no network).
#[cfg(test)]
pub(crate) async fn test_state(yaml: &str) -> AppState {
    let config = shale_config::Config::from_yaml_str(yaml, &|_| None).expect("test config");
    AppState::build(config, Some("sk-test"), 1)
        .await
        .expect("test state")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shale_translate::images::ImageFamily;

    const KEYS: &str =
        "aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret, aws_region_name: us-east-1";

    #[tokio::test]
    async fn family_is_found_by_route_model_id_or_model_info() {
        let yaml = format!(
            "model_list:
  - model_name: by-route
    litellm_params: {{model: bedrock/amazon.titan-embed-text-v2:0, model_id: 'arn:aws:bedrock:us-east-1:1:application-inference-profile/p1', {KEYS}}}
  - model_name: by-info
    litellm_params: {{model: 'bedrock/arn:aws:bedrock:us-east-1:1:application-inference-profile/p2', {KEYS}}}
    model_info: {{base_model: cohere.embed-v4:0}}
  - model_name: chat
    litellm_params: {{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, {KEYS}}}
  - model_name: proxy
    litellm_params: {{model: bedrock/converse_like/amazon.titan-embed-text-v2:0, api_base: 'https://proxy.example/v1', api_key: k}}
"
        );
        let state = test_state(&yaml).await;
        let d = |name: &str| state.deployment(name).unwrap();
        let embed =
            |name: &str| family_for(&d(name), EmbeddingFamily::from_model_id, "an embedding");
        assert_eq!(embed("by-route").unwrap(), EmbeddingFamily::TitanTextV2);
        assert_eq!(embed("by-info").unwrap(), EmbeddingFamily::CohereV4);
        for name in ["chat", "proxy"] {
            let err = embed(name).unwrap_err();
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST, "{name}");
            assert_eq!(err.to_openai().param.as_deref(), Some("model"), "{name}");
        }
        let err = family_for(
            &d("by-route"),
            ImageFamily::from_model_id,
            "an image generation",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("not an image generation model"),
            "{err}"
        );
    }
}
