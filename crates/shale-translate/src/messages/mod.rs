//! The Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`) in front of Bedrock.
//!
//! Two routes, chosen by the server per deployment:
//! - Claude models go **native** ([`native`]): the Messages body becomes the InvokeModel body
//!   almost as is, answers pass through, and stream chunks are re-emitted as Anthropic events
//!   ([`native_stream`]). Beta flags are filtered by [`betas`].
//! - Other models go through **Converse**: [`to_converse`] translates the request,
//!   [`from_converse`] the answer and [`stream`] the ConverseStream events.
//!
//! CountTokens inputs for both routes are built here too. Everything is pure: no I/O, no
//! logging (dropped flags and removed keys are returned for the caller to log).

pub mod betas;
mod defaults;
mod events;
pub mod from_converse;
pub mod native;
pub mod native_stream;
pub mod stream;
pub mod to_converse;
mod types;

pub use betas::{filter_betas, known_bedrock_betas, BetaPolicy};
pub use events::MessagesStream;
pub use from_converse::{converse_to_messages, MessagesResponseContext};
pub use native::{
    count_tokens_answer, count_tokens_invoke_input, messages_to_invoke, InvokeMessages,
    REJECTED_KEYS,
};
pub use native_stream::NativeStreamRelay;
pub use stream::MessagesStreamTranslator;
pub use to_converse::{count_tokens_converse_input, messages_to_converse, MessagesConverseCall};
pub use types::{new_message_id, MessagesContext, MessagesRequest, SseEvent};
