//! Emulator configuration: the accepted credentials, the artificial delays and the guardrails
//! added to the built-in ones.

use std::time::Duration;

/// The AWS documentation example access key id, accepted by default.
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// The AWS documentation example secret access key, accepted by default.
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The Bedrock API key (bearer token) accepted by default.
pub const DEFAULT_API_KEY: &str = "bedrock-api-key-EXAMPLE";

/// What the emulator accepts and how slow it pretends to be.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Long-term access key id accepted for SigV4.
    pub access_key_id: String,
    /// Secret for [`EmulatorConfig::access_key_id`].
    pub secret_access_key: String,
    /// Bedrock API key accepted as `Authorization: Bearer <key>` on bedrock-runtime.
    pub api_key: String,
    /// Delay before answering every Bedrock request (time to first byte).
    pub latency: Duration,
    /// Delay between two event-stream frames.
    pub stream_delay: Duration,
    /// Guardrails served besides the built-in `shaledemo` and `shalefail` (`--guardrails FILE`).
    pub guardrails: Vec<crate::guardrail::Policy>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            access_key_id: DEFAULT_ACCESS_KEY_ID.to_owned(),
            secret_access_key: DEFAULT_SECRET_ACCESS_KEY.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            latency: Duration::ZERO,
            stream_delay: Duration::ZERO,
            guardrails: Vec::new(),
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("api_key", &"** redacted **")
            .field("latency", &self.latency)
            .field("stream_delay", &self.stream_delay)
            .field("guardrails", &self.guardrails.len())
            .finish()
    }
}
