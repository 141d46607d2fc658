//! Plain inputs of the client: per-deployment [`TargetSpec`] and process-wide [`ClientOptions`].
//! Decoupled from the config crate; the server maps LiteLLM `litellm_params` into them at load time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shale_core::surface::{ApiSet, Host, OpenAiBase};
use shale_core::Secret;

/// What one deployment needs to reach Bedrock. Every field is optional except `deployment` and
/// `model_id`; see `docs/credentials.md` for how they combine.
#[derive(Clone, Debug, Default)]
pub struct TargetSpec {
    /// Name for error messages, e.g. `model_list[2] (claude)`.
    pub deployment: String,
    /// Bedrock model id / inference profile id / ARN used in the URL (already the `model_id`
    /// override if any; NOT percent-encoded).
    pub model_id: String,
    /// Explicit `aws_region_name` (or the region path segment of `bedrock/<region>/<model>`).
    pub region: Option<String>,
    /// `api_base`: bedrock-runtime endpoint (also serves rerank); for `converse_like`, the full URL.
    pub api_base: Option<String>,
    /// `aws_bedrock_runtime_endpoint`.
    pub runtime_endpoint: Option<String>,
    /// `aws_bedrock_agent_runtime_endpoint` (rerank, agent-runtime pass-through).
    pub agent_runtime_endpoint: Option<String>,
    /// `api_key`: Bedrock API key, sent as `Authorization: Bearer`.
    pub api_key: Option<Secret>,
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<Secret>,
    /// `aws_session_token`.
    pub session_token: Option<Secret>,
    /// `aws_profile_name`.
    pub profile_name: Option<String>,
    /// `aws_role_name`: ARN of the role to assume.
    pub role_name: Option<String>,
    /// `aws_session_name`: role session name.
    pub session_name: Option<String>,
    /// `aws_external_id`.
    pub external_id: Option<String>,
    /// `aws_web_identity_token`: the OIDC token itself, or an absolute path to a file holding it
    /// (re-read at every refresh, as Kubernetes rotates it).
    pub web_identity_token: Option<Secret>,
    /// `aws_sts_endpoint`: STS endpoint URL for AssumeRole / AssumeRoleWithWebIdentity.
    pub sts_endpoint: Option<String>,
    /// `aws_session_tags`.
    pub session_tags: Vec<(String, String)>,
    /// Requested lifetime of assumed-role sessions (STS default: 1 hour).
    pub role_session_duration: Option<Duration>,
    /// `timeout`: whole-request timeout of non-streaming calls.
    pub timeout: Option<Duration>,
    /// `stream_timeout`: for streams, time to the response headers and maximum silence between
    /// two chunks (falls back to `timeout`).
    pub stream_timeout: Option<Duration>,
    /// `num_retries` / `max_retries` of the deployment.
    pub num_retries: Option<u32>,
    /// `bedrock/converse_like/...`: POST the Converse body to `api_base` verbatim with
    /// `Authorization: Bearer <api_key>`, no SigV4.
    pub converse_like: bool,
    /// A deployment on bedrock-mantle or bedrock-runtime's `/openai/v1` (OpenAI chat, Responses,
    /// Anthropic Messages over HTTP + SSE) instead of Converse / InvokeModel.
    pub surface: Option<SurfaceSpec>,
}

/// Where a surface deployment is called: the host, the APIs it is called with and their OpenAI
/// path prefix (from the model table), and the bedrock-mantle project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurfaceSpec {
    /// bedrock-mantle (SigV4 service `bedrock-mantle`) or bedrock-runtime (`bedrock`).
    pub host: Host,
    /// The APIs whose URLs are prepared.
    pub apis: ApiSet,
    /// `/v1` or `/openai/v1`; an `api_base` ending in one of them wins.
    pub openai_base: OpenAiBase,
    /// `aws_bedrock_project_id`: sent as `OpenAI-Project` (OpenAI APIs) and as
    /// `anthropic-workspace` / `anthropic-workspace-id` (Messages) on bedrock-mantle.
    pub project_id: Option<String>,
}

/// Where environment variables are read from.
#[derive(Clone, Debug, Default)]
pub enum EnvSource {
    /// The process environment.
    #[default]
    Process,
    /// Only this map (hermetic tests).
    Map(Arc<HashMap<String, String>>),
}

impl EnvSource {
    /// A hermetic environment made of these pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::Map(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// The variable's value; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// Process-wide settings of the [`crate::BedrockClient`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Retries when a deployment sets none (`litellm_settings.num_retries`; default 2).
    pub num_retries: u32,
    /// Request timeout when a deployment sets none (`litellm_settings.request_timeout`; default 600 s).
    pub timeout: Duration,
    /// Stream timeout when a deployment sets none (default: `timeout`).
    pub stream_timeout: Option<Duration>,
    /// TCP + TLS connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// First retry delay before jitter (default 500 ms); doubles each attempt.
    pub retry_base_delay: Duration,
    /// Cap on one retry delay, also on an honoured `Retry-After` (default 20 s).
    pub retry_max_delay: Duration,
    /// Largest event-stream frame accepted (default 16 MiB).
    pub max_frame_size: usize,
    /// Timeout of one credential fetch (STS, SSO, process, IMDS; default 30 s).
    pub credentials_timeout: Duration,
    /// Idle pooled connections kept per host (default 64), in all: each worker's pool keeps its
    /// share (`pool_max_idle_per_host / workers`, rounded up).
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept (default 90 s).
    pub pool_idle_timeout: Duration,
    /// Serving workers (threads with their own runtime): each gets its own connection pool, so
    /// a request only uses connections its own thread drives (default 1).
    pub workers: usize,
    /// Environment used for region / endpoint / bearer-token variables (default: the process).
    pub env: EnvSource,
    /// Shared config file (default: `AWS_CONFIG_FILE` or `~/.aws/config`).
    pub aws_config_file: Option<PathBuf>,
    /// Shared credentials file (default: `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`).
    pub aws_credentials_file: Option<PathBuf>,
    /// Called as each attempt starts, on the task that makes it (the gateway counts a request's
    /// attempts with it). A plain function: no span or allocation per attempt.
    pub on_attempt: Option<fn()>,
    /// Hooks of the attempt spans, called on the attempt's task and only while traces are
    /// exported (a disabled span calls neither).
    pub attempt_spans: Option<AttemptSpanHooks>,
}

/// What the caller adds to the `bedrock.attempt` spans (see `attempt.rs`).
#[derive(Clone, Copy, Debug)]
pub struct AttemptSpanHooks {
    /// The GenAI operation (`chat`, `embeddings`, …) of the request the attempt belongs to, for
    /// the span's `gen_ai.operation.name` and its name `{operation} {model}`; `None` falls back
    /// to the one the Bedrock operation implies.
    pub operation: fn() -> Option<&'static str>,
    /// Given the span of an attempt Bedrock answered with success: the caller may keep it (it
    /// stays open while a handle lives) to record the answer's usage on it when that is known.
    pub answered: fn(&tracing::Span),
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            num_retries: 2,
            timeout: Duration::from_secs(600),
            stream_timeout: None,
            connect_timeout: Duration::from_secs(10),
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(20),
            max_frame_size: 16 * 1024 * 1024,
            credentials_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 64,
            pool_idle_timeout: Duration::from_secs(90),
            workers: 1,
            env: EnvSource::Process,
            aws_config_file: None,
            aws_credentials_file: None,
            on_attempt: None,
            attempt_spans: None,
        }
    }
}
