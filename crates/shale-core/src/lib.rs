//! `shale-core`: the small vocabulary every other shale crate shares, so that no two crates spell
//! it differently.
//!
//! Owns: the OpenAI error shape that clients receive ([`error`]: the only place OpenAI's error
//! `type` strings are written), the redacting [`Secret`] string ([`secret`]), which serving
//! worker a thread is ([`worker`]), the names of Bedrock's OpenAI-compatible and Anthropic
//! surfaces ([`surface`]) and how settings are listed as JSON ([`json`]).
//!
//! Must not: depend on any other shale crate, do I/O, or grow domain logic (translation rules,
//! Bedrock protocol, HTTP routing belong to their own crates).

#![forbid(unsafe_code)]

pub mod error;
pub mod json;
pub mod secret;
pub mod surface;
pub mod worker;

pub use error::{ErrorType, OpenAiError};
pub use secret::Secret;
