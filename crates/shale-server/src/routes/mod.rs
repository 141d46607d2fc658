//! HTTP handlers, one module per API area. Handlers stay thin: parse, look up the deployment,
//! call the translator and the Bedrock client, return.

pub mod chat;
pub mod fallback;
pub mod health;
pub mod models;
