//! `shale-core`: the small vocabulary every other shale crate shares, so that no two crates spell
//! it differently.
//!
//! Owns: the OpenAI error shape that clients receive ([`error`]: the only place OpenAI's error
//! `type` strings are written) and the redacting [`Secret`] string ([`secret`]).
//!
//! Must not: depend on any other shale crate, do I/O, or grow domain logic (translation rules,
//! Bedrock protocol, HTTP routing belong to their own crates).

#![forbid(unsafe_code)]

pub mod error;
pub mod secret;

pub use error::{ErrorType, OpenAiError};
pub use secret::Secret;
