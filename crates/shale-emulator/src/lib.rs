//! `shale-emulator`: a faithful Amazon Bedrock emulator for tests and benchmarks.
//!
//! It speaks the Bedrock wire protocol (bedrock-runtime Converse/Invoke/streams/count-tokens,
//! bedrock-agent-runtime rerank, the STS `AssumeRole*` calls, and the OpenAI-compatible and
//! Anthropic surfaces of bedrock-mantle and bedrock-runtime's `/openai/v1`: `mantle.rs`), verifies SigV4 signatures and
//! bearer API keys like AWS, validates requests like Bedrock, answers deterministically per model
//! family, and can be scripted over HTTP (`/_emulator/*`) to return errors, custom bodies or broken
//! streams. It owns no gateway logic and must never reach the network beyond its own listener.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = shale_emulator::spawn(Default::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("Bedrock at {}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod answer;
mod anthropic;
mod app;
mod auth;
pub mod betas;
mod config;
mod converse;
mod embeddings;
mod error;
pub mod eventstream;
pub mod guardrail;
mod images;
mod invoke;
mod mantle;
mod model;
mod record;
mod rerank;
mod script;
mod server;
pub mod sigv4;
mod state;
mod stream;
mod sts;
mod text;
mod tracking;
mod validate;

pub use config::{
    EmulatorConfig, DEFAULT_ACCESS_KEY_ID, DEFAULT_API_KEY, DEFAULT_SECRET_ACCESS_KEY,
};
pub use error::BedrockException;
pub use server::{spawn, RunningEmulator};

/// Builds the whole emulator application as an axum router (use [`spawn`] to also get a
/// listener, connection dropping and in-process inspection helpers).
pub fn router(config: EmulatorConfig) -> axum::Router {
    app::build(std::sync::Arc::new(state::AppState::new(config)))
}
