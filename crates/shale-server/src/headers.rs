//! The gateway's own HTTP header names, one spelling each, shared by the modules that set them and
//! those that read them (so a later stage need not import an earlier one for a name).
//!
//! Must not: hold anything but names.

use axum::http::HeaderName;

/// The request id: kept from the caller or minted by the front door (`front_door.rs`), read by
/// `observe.rs` and echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The built-in tools the gateway dropped from the request (comma-separated tool types), on the
/// answer (`report::dropped_tools`).
pub const DROPPED_TOOLS: HeaderName = HeaderName::from_static("x-shale-dropped-tools");

/// The guardrails that ran (LiteLLM's name; comma-separated), on every answer of a request that
/// ran any (`observe.rs`, from the request's record).
pub const APPLIED_GUARDRAILS: HeaderName = HeaderName::from_static("x-litellm-applied-guardrails");
