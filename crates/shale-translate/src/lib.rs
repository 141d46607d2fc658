//! shale-translate: pure translation between the OpenAI API and Amazon Bedrock.
//!
//! Owns, each as request → body, answer → OpenAI JSON and (where Bedrock streams) a stream state
//! machine, all without I/O:
//! - chat: [`chat`] is the set the server drives (`translate_chat`, `translate_chat_response`,
//!   `ChatStreamTranslator`), dispatching to the Converse rules ([`converse`]) or the model-native
//!   invoke bodies of each family ([`invoke`]); both share message normalisation
//!   ([`normalize`]), content-part/media parsing ([`media`]), the per-request [`context`],
//!   tool-name and JSON-schema helpers ([`names`], [`schema`]) and `<think>` splitting ([`think`]);
//! - legacy text completions on top of chat ([`text_completion`]);
//! - embeddings per family ([`embeddings`]), image generation ([`images`]), rerank ([`rerank`]);
//! - the Anthropic Messages API ([`messages`]): native InvokeModel bodies for Claude, Converse
//!   both ways for other models, and the Anthropic stream events of either;
//! - the OpenAI wire types ([`openai`], [`completion`]) and model capabilities ([`caps`]);
//! - Bedrock's OpenAI-compatible and Anthropic surfaces (bedrock-mantle, bedrock-runtime's
//!   `/openai/v1`) from every client API: relays when the APIs match, translations when not
//!   ([`surface`]).
//!
//! Errors are [`TranslateError`]s whose client-facing form is `TranslateError::to_openai`.
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
pub mod hosted_tools;
pub mod images;
pub mod invoke;
pub mod media;
pub mod messages;
pub mod names;
pub mod normalize;
pub mod openai;
pub mod rerank;
pub mod responses;
pub mod schema;
pub mod surface;
pub mod text_completion;
pub mod think;

pub use caps::{ModelCaps, ModelFamily};
pub use chat::{
    translate_chat, translate_chat_response, BedrockBody, ChatApi, ChatCall, ChatStreamTranslator,
    EventTranslator,
};
pub use completion::{ChatChunk, ChatCompletion, Usage};
pub use context::{new_completion_id, ChatContext, JsonMode, ResponseContext};
pub use converse::{chat_to_converse, converse_to_chat, ConverseStreamTranslator};
pub use error::TranslateError;
pub use media::{remote_media_urls, FetchedMedia};
pub use names::ToolNameMap;
pub use openai::{ChatMessage, ChatRequest};
