//! The OpenAI Responses API: `POST /responses` (streaming or not) served by the chat pipeline
//! with a Responses-shaped output, and the stored responses: `GET` / `DELETE /responses/{id}`,
//! `GET /responses/{id}/input_items`. Stored responses are scoped to the hash of the caller's
//! key; another key gets 404.

use crate::auth::presented_key;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::response::{json_response, unix_now};
use crate::responses_store::{Owner, ResponseStore, StoreError, StoredResponse};
use crate::routes::answer::{ResponsesClient, SaveResponse, Shape};
use crate::routes::chat::run_chat;
use crate::sse::{write_event, StreamShape};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{json, Value};
use shale_translate::responses::{
    chat_to_response, new_response_id, responses_to_chat, ResponseMeta, ResponsesOptions,
    ResponsesRequest, ResponsesStream, StreamEvent,
};
use shale_translate::{ChatChunk, ChatCompletion};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `POST /v1/responses`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: JsonBody<ResponsesRequest>,
) -> Result<Response, ApiError> {
    let (mut request, started) = request.into_parts();
    state.deployment(&request.model)?;
    crate::guardrail_hooks::responses_metadata(&mut request.metadata, &mut request.extra);
    let owner = Owner::of_key(presented_key(&headers));
    let history = match request.previous_response_id.as_deref() {
        Some(prev) => {
            let found = state
                .responses
                .get(owner, prev)
                .await
                .map_err(store_error)?;
            let record = found.ok_or_else(|| ApiError::ObjectNotFound {
                message: format!("Previous response with id '{prev}' not found."),
                param: Some("previous_response_id"),
            })?;
            Arc::clone(&record.conversation)
        }
        None => Arc::new(Vec::new()),
    };
    // Kept for a deployment on a surface that speaks Responses itself (relayed, not translated).
    let relay = crate::routes::openai_surface::serves(
        &state,
        &request.model,
        shale_config::WireApi::Responses,
    )
    .then(|| Arc::new(request.clone()));
    let opts = ResponsesOptions {
        // A relay keeps the built-in tools its surface serves; the chat translation (for the
        // group's other deployments) drops them.
        drop_builtin_tools: state.config.litellm_settings.drop_params
            || request.extra.get("drop_params") == Some(&Value::Bool(true))
            || relay.is_some(),
        drop_hosted_tools: state.config.general_settings.drop_hosted_tools,
    };
    let keep = request.store() && state.responses.enabled();
    let translated = responses_to_chat(request, &history, new_response_id(), unix_now(), &opts)?;
    let dropped = crate::report::dropped_tools(&state.telemetry, &translated.dropped_tools);
    let saver = Saver {
        store: keep.then(|| Arc::clone(&state.responses)),
        owner,
        history,
        input_items: translated.input_items,
    };
    let shape = ResponsesShape {
        meta: translated.meta,
        saver,
        relay,
    };
    let answer = run_chat(&state, &headers, translated.chat, shape, started).await;
    crate::response::with_dropped_tools(answer, dropped)
}

/// `GET /v1/responses/{id}`.
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let record = find(&state, &headers, &id).await?;
    let json = serde_json::to_vec(&record.response).expect("JSON serialises");
    Ok(json_response(json, started, Duration::ZERO))
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let owner = Owner::of_key(presented_key(&headers));
    if !state
        .responses
        .delete(owner, &id)
        .await
        .map_err(store_error)?
    {
        return Err(not_found(&id));
    }
    let json = serde_json::to_vec(&json!({"id": id, "object": "response", "deleted": true}))
        .expect("JSON serialises");
    Ok(json_response(json, started, Duration::ZERO))
}

/// Paging of `GET …/input_items`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// 1–100, default 20.
    limit: Option<usize>,
    /// `asc` or `desc` (default, newest first).
    order: Option<String>,
    /// Start after this item id.
    after: Option<String>,
}

/// `GET /v1/responses/{id}/input_items`.
pub async fn input_items(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let record = find(&state, &headers, &id).await?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            Some("limit"),
            "limit must be between 1 and 100",
        ));
    }
    let mut items: Vec<&Value> = record.input_items.iter().collect();
    match params.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => {
            return Err(ApiError::invalid(
                Some("order"),
                "order must be asc or desc",
            ))
        }
    }
    if let Some(after) = &params.after {
        match items.iter().position(|i| i["id"].as_str() == Some(after)) {
            Some(pos) => {
                items.drain(..=pos);
            }
            None => {
                return Err(ApiError::invalid(
                    Some("after"),
                    "no input item has this id",
                ))
            }
        }
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let body = json!({
        "object": "list",
        "data": items,
        "first_id": items.first().map(|i| &i["id"]),
        "last_id": items.last().map(|i| &i["id"]),
        "has_more": has_more,
    });
    let json = serde_json::to_vec(&body).expect("JSON serialises");
    Ok(json_response(json, started, Duration::ZERO))
}

async fn find(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Arc<StoredResponse>, ApiError> {
    let owner = Owner::of_key(presented_key(headers));
    state
        .responses
        .get(owner, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::ObjectNotFound {
        message: format!("Response with id '{id}' not found."),
        param: None,
    }
}

fn store_error(err: StoreError) -> ApiError {
    ApiError::Store(err)
}

/// Keeps a finished response (when `store` is on): its input and the conversation so far.
#[derive(Clone)]
struct Saver {
    store: Option<Arc<dyn ResponseStore>>,
    owner: Owner,
    history: Arc<Vec<Value>>,
    input_items: Vec<Value>,
}

impl Saver {
    fn save(&mut self, response: &Value) {
        let Some(store) = self.store.take() else {
            return;
        };
        let output = response["output"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut conversation =
            Vec::with_capacity(self.history.len() + self.input_items.len() + output.len());
        conversation.extend(self.history.iter().cloned());
        conversation.extend(self.input_items.iter().cloned());
        conversation.extend(output.iter().cloned());
        store.put(StoredResponse {
            owner: self.owner,
            response: response.clone(),
            input_items: std::mem::take(&mut self.input_items),
            conversation: Arc::new(conversation),
        });
    }
}

/// The Responses output of the chat pipeline (cloned per routing attempt).
#[derive(Clone)]
struct ResponsesShape {
    meta: ResponseMeta,
    saver: Saver,
    /// The client's request, when a deployment of the model speaks Responses natively.
    relay: Option<Arc<ResponsesRequest>>,
}

impl Shape for ResponsesShape {
    type Stream = ResponsesEvents;

    fn complete(mut self, completion: ChatCompletion) -> Vec<u8> {
        let response = chat_to_response(completion, &self.meta);
        self.saver.save(&response);
        serde_json::to_vec(&response).unwrap_or_default()
    }

    fn stream(self) -> ResponsesEvents {
        ResponsesEvents {
            stream: ResponsesStream::new(self.meta),
            saver: self.saver,
        }
    }

    fn take_responses(&mut self) -> Option<ResponsesClient> {
        let request = self.relay.take()?;
        let saver = self.saver.clone();
        Some(ResponsesClient {
            request,
            history: Arc::clone(&saver.history),
            input_items: saver.input_items.clone(),
            save: saver.store.is_some().then(|| {
                let mut saver = saver;
                Box::new(move |response: &Value| saver.save(response)) as SaveResponse
            }),
        })
    }
}

/// Writes `event: response.…` / `data: {…}` pairs and stores the final response.
struct ResponsesEvents {
    stream: ResponsesStream,
    saver: Saver,
}

fn write_all(out: &mut BytesMut, events: Vec<StreamEvent>) {
    for e in events {
        write_event(out, e.name, &e.data);
    }
}

impl StreamShape for ResponsesEvents {
    fn begin(&mut self, out: &mut BytesMut) {
        write_all(out, self.stream.start());
    }

    fn on_chunk(&mut self, chunk: ChatChunk, out: &mut BytesMut) {
        write_all(out, self.stream.on_chunk(chunk));
    }

    fn finish(&mut self, out: &mut BytesMut) {
        write_all(out, self.stream.finish());
        if let Some(response) = self.stream.final_response() {
            self.saver.save(response);
        }
    }

    fn fail(&mut self, err: &ApiError, out: &mut BytesMut) {
        let error = err.to_openai();
        let code = error.code.as_deref().unwrap_or(error.error_type.as_str());
        write_all(out, self.stream.fail(code, &error.message));
    }
}
