//! shale-translate: pure translation between the OpenAI chat API and Amazon Bedrock.
//!
//! Owns: OpenAI wire types ([`openai`], [`completion`]), model capabilities ([`caps`]), the
//! provider-neutral message normalisation reused by every Bedrock route ([`normalize`]), and the
//! Converse translators ([`converse`]): request → body, response body → `chat.completion`, and a
//! stream state machine for ConverseStream events → `chat.completion.chunk`s.
//!
//! Must not: do I/O (network, files), spawn tasks, or log. http(s) media is downloaded by the
//! server beforehand ([`remote_media_urls`] → [`FetchedMedia`]).

pub mod caps;
pub mod chat;
pub mod completion;
pub mod context;
pub mod converse;
pub mod embeddings;
pub mod error;
pub mod images;
pub mod invoke;
pub mod media;
pub mod names;
pub mod normalize;
pub mod openai;
pub mod rerank;
pub mod schema;
pub mod text_completion;
pub mod think;

pub use caps::{ModelCaps, ModelFamily};
pub use chat::{
    translate_chat, translate_chat_response, ChatApi, ChatCall, ChatStreamTranslator,
    EventTranslator,
};
pub use completion::{ChatChunk, ChatCompletion, Usage};
pub use context::{new_completion_id, ChatContext, JsonMode, ResponseContext};
pub use converse::{chat_to_converse, converse_to_chat, ConverseStreamTranslator};
pub use error::TranslateError;
pub use media::{remote_media_urls, FetchedMedia};
pub use names::ToolNameMap;
pub use openai::{ChatMessage, ChatRequest};
