//! HTTP handlers, one module per API area. Handlers stay thin: parse, look up the deployment,
//! call the translator and the Bedrock client, return.

pub mod answer;
pub mod cache;
pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod fallback;
pub mod guardrails;
pub mod health;
pub mod images;
pub mod keys;
pub mod messages;
pub mod messages_stream;
pub mod metrics;
pub mod model_admin;
pub mod models;
pub mod openai_surface;
pub mod passthrough;
pub mod passthrough_usage;
pub mod rerank;
pub mod responses;
pub mod router_health;
pub mod spend;
pub mod teams;
