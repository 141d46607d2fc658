//! `shale-bedrock`: the layer every Bedrock call goes through.
//!
//! It owns per-deployment client state ([`Target`], resolved once at config load), credentials
//! (bearer keys, STS AssumeRole / web identity, profiles, static keys, the default chain, with a
//! single-flight refreshing cache), SigV4 signing (its own signer with a cached signing key, `sigv4.rs`,
//! checked against `aws-sigv4` in tests), event-stream decoding
//! (`aws-smithy-eventstream`), error classification and the OpenAI status mapping, and retries;
//! and the same for Bedrock's HTTP surfaces (bedrock-mantle, bedrock-runtime's `/openai/v1`:
//! `surface.rs`, server-sent events in `sse.rs`). It also sends ApplyGuardrail calls
//! (`guardrail.rs`: the same credentials, signing and retries).
//! It does no translation of request or response bodies and knows nothing of the config format.
//!
//! # Usage
//! ```no_run
//! # async fn demo() -> Result<(), shale_bedrock::BedrockError> {
//! use shale_bedrock::{BedrockClient, ClientOptions, Operation, TargetSpec};
//! let client = BedrockClient::new(ClientOptions::default())?;
//! let target = client
//!     .target(TargetSpec {
//!         deployment: "model_list[0] (claude)".into(),
//!         model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
//!         region: Some("us-east-1".into()),
//!         ..TargetSpec::default()
//!     })
//!     .await?;
//! let body = bytes::Bytes::from_static(br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#);
//! let answer = client.call(&target, Operation::Converse, body, &http::HeaderMap::new()).await?;
//! # let _ = answer; Ok(()) }
//! ```
//!
//! # Contract notes
//! - [`BedrockClient::call`] retries throttling, 5xx, timeouts and connection errors
//!   (`num_retries`, jittered exponential backoff honouring `Retry-After`) in one retry loop; the
//!   timeout covers the whole request. The gateway sets `num_retries` to 0 and lets
//!   `shale-router` retry on another deployment instead.
//! - [`BedrockClient::call_stream`] retries only until the response headers arrive; the
//!   `stream_timeout` bounds the wait for headers and every silence between two chunks.
//!   In-stream exception frames arrive as [`BedrockError::Upstream`] items, after which the
//!   stream ends. Errors inside a stream are never retried (bytes may already be with the
//!   client), whatever [`BedrockError::is_retryable`] says.
//! - [`BedrockClient::rerank`] and [`BedrockClient::raw`] always sign with SigV4; a bearer-only
//!   deployment falls back to the default AWS credential chain, else gets
//!   [`BedrockError::BearerNotSupported`].
//! - Credentials are resolved per deployment as documented in `docs/credentials.md`; a failure
//!   is [`BedrockError::Credentials`] naming the deployment and never affects other targets.
//! - Errors map to the client's answer with [`BedrockError::to_openai`] (status, OpenAI type,
//!   code).

mod attempt;
pub mod client;
pub mod credentials;
pub mod error;
pub mod eventstream;
pub mod guardrail;
pub mod idle;
pub mod resolve;
pub mod retry;
pub mod sign;
pub mod sigv4;
pub mod spec;
pub mod sse;
pub mod surface;
pub mod target;
pub mod transport;

pub use client::{BedrockClient, BedrockResponse, Operation, Service};
pub use error::{BedrockError, ErrorKind, StreamDecodeError};
pub use eventstream::{EventStream, StreamEvent};
pub use guardrail::GuardrailTarget;
pub use shale_core::Secret;
pub use spec::{AttemptSpanHooks, ClientOptions, EnvSource, SurfaceSpec, TargetSpec};
pub use surface::SurfaceOp;
pub use target::Target;
pub use transport::{TransportError, UpstreamBody, UpstreamResponse};
