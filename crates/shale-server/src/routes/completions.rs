//! `POST /completions`: legacy text completions, served by the chat pipeline — the prompt becomes
//! user messages, the answer is re-shaped as `text_completion` (and its chunks when streaming).

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::routes::chat::{run_chat, OutputShape};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use shale_translate::text_completion::{
    chat_to_text_completion, chunk_to_text_completion, completion_to_chat, CompletionRequest,
};
use std::sync::Arc;

const TEXT_SHAPE: OutputShape = OutputShape {
    complete: |c| serde_json::to_vec(&chat_to_text_completion(c)).unwrap_or_default(),
    chunk: Some(chunk_to_text_completion),
};

pub async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: JsonBody<CompletionRequest>,
) -> Result<Response, ApiError> {
    let (request, started) = request.into_parts();
    state.deployment(&request.model)?;
    let chat = completion_to_chat(request)?;
    run_chat(&state, &headers, chat, TEXT_SHAPE, started).await
}
