//! The OpenAI Responses API (`/v1/responses`) as a thin layer over the chat translation: a
//! Responses request (plus the stored conversation of `previous_response_id`) becomes a
//! [`ChatRequest`](crate::ChatRequest), so every Bedrock route — Converse and the invoke families —
//! is reused unchanged; a [`ChatCompletion`](crate::ChatCompletion) becomes a `response` object;
//! and [`ResponsesStream`] turns chat chunks into the typed Responses SSE events with
//! `sequence_number`s.
//!
//! Must not: do I/O, keep state between requests (the server's store holds stored responses),
//! or know anything Bedrock-specific (that is the chat translators' job).

mod items;
mod request;
mod response;
mod stream;
mod types;

pub use request::{
    input_items, responses_to_chat, ResponsesOptions, Translated, RESPONSES_ONLY_PARAMS,
};
pub use response::{chat_to_response, ResponseMeta};
pub use stream::{ResponsesStream, StreamEvent};
pub use types::{ReasoningParam, ResponsesRequest, TextParam};

/// A new response id: `resp_` and 32 hex digits.
pub fn new_response_id() -> String {
    format!("resp_{}", uuid::Uuid::new_v4().simple())
}
