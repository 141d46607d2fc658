//! `POST /rerank` (Cohere format): parse, find the deployment, then either bedrock-agent-runtime
//! `Rerank` (SigV4 only, the default) or `cohere.rerank-v3-5:0` over InvokeModel (deployments
//! routed with an explicit `bedrock/invoke/` prefix), and answer `{id, results, meta}`.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::response::json_response;
use crate::routing::{self, Hints};
use crate::state::{AppState, Deployment};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_config::Api;
use shale_translate::rerank::{
    foundation_model_arn, rerank_to_agent_runtime, rerank_to_invoke, scores_to_rerank,
    RerankRequest,
};
use std::sync::Arc;
use std::time::Instant;

/// Which Bedrock API serves a deployment's rerank calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerankApi {
    /// bedrock-agent-runtime `POST /rerank` with the model's ARN.
    AgentRuntime,
    /// bedrock-runtime InvokeModel with the Cohere rerank body.
    Invoke,
}

/// InvokeModel only when the deployment asked for it with `bedrock/invoke/<id>`; everything else
/// (including `bedrock/cohere.rerank-v3-5:0`, which LiteLLM's route table calls "invoke") goes
/// to agent-runtime, as LiteLLM's rerank does.
pub fn rerank_api(deployment: &Deployment) -> RerankApi {
    let route = &deployment.entry.route;
    if route.api == Api::Invoke && route.explicit && route.spec.is_none() {
        RerankApi::Invoke
    } else {
        RerankApi::AgentRuntime
    }
}

pub async fn rerank(
    State(state): State<Arc<AppState>>,
    request: JsonBody<RerankRequest>,
) -> Result<Response, ApiError> {
    let (request, started) = request.into_parts();
    let (state, request) = (&*state, &request);
    routing::run(
        state,
        &Hints::model(&request.model),
        |deployment| async move { rerank_once(state, &deployment, request, started).await },
    )
    .await
}

/// One attempt against one deployment (the router retries and falls back around it).
async fn rerank_once(
    state: &AppState,
    deployment: &Deployment,
    request: &RerankRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    deployment.require_bedrock("rerank")?;
    let target = &deployment.target;
    let id = uuid::Uuid::new_v4().to_string();
    let answer = match rerank_api(deployment) {
        RerankApi::AgentRuntime => {
            let arn = foundation_model_arn(target.region(), target.model_id());
            let body = Bytes::from(rerank_to_agent_runtime(request, &arn)?);
            state.bedrock.rerank(target, body).await?
        }
        RerankApi::Invoke => {
            let body = Bytes::from(rerank_to_invoke(request)?);
            state
                .bedrock
                .call(target, Operation::Invoke, body, &HeaderMap::new())
                .await?
        }
    };
    let response = scores_to_rerank(&answer.body, request, id)?;
    let json = serde_json::to_vec(&response).expect("JSON serialises");
    Ok(json_response(json, started, answer.upstream_time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::embeddings::test_state;

    #[tokio::test]
    async fn invoke_only_with_an_explicit_invoke_prefix() {
        let keys = "aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret, aws_region_name: us-east-1";
        let yaml = format!(
            "model_list:
  - model_name: plain
    litellm_params: {{model: bedrock/cohere.rerank-v3-5:0, {keys}}}
  - model_name: invoke
    litellm_params: {{model: bedrock/invoke/cohere.rerank-v3-5:0, {keys}}}
  - model_name: converse
    litellm_params: {{model: bedrock/converse/cohere.rerank-v3-5:0, {keys}}}
  - model_name: amazon
    litellm_params: {{model: bedrock/us-west-2/amazon.rerank-v1:0, {keys}}}
"
        );
        let state = test_state(&yaml).await;
        let api = |name: &str| rerank_api(&state.deployment(name).unwrap());
        assert_eq!(api("plain"), RerankApi::AgentRuntime);
        assert_eq!(api("invoke"), RerankApi::Invoke);
        assert_eq!(api("converse"), RerankApi::AgentRuntime);
        assert_eq!(api("amazon"), RerankApi::AgentRuntime);
    }
}
