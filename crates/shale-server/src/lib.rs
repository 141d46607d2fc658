//! `shale-server`: the HTTP face of the gateway — routes, authentication, errors, request ids,
//! tracing and graceful shutdown. It owns no translation rules (see `shale-translate`) and no
//! Bedrock protocol (see `shale-bedrock`); handlers glue the two together.

#![forbid(unsafe_code)]

pub mod anthropic_error;
pub mod app;
pub mod auth;
pub mod body;
pub mod connections;
pub mod error;
pub mod media;
pub mod observe;
pub mod panic;
pub mod response;
pub mod responses_store;
pub mod routes;
pub mod routing;
pub mod sse;
pub mod state;

pub use app::build_app;
pub use error::ApiError;
pub use state::AppState;

pub use connections::serve;
