//! The Bedrock client: one pooled `reqwest` client, per-deployment [`Target`]s resolved once at
//! config load, and the calls (runtime, stream, rerank, raw pass-through) with retries.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;
use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use reqwest::Url;

use crate::credentials::{
    self, AuthChoice, BuildContext, CredentialCache, DefaultChains, SigV4Choice,
};
use crate::error::{classify_response, request_id, BedrockError};
use crate::eventstream::{decode_stream, error_chain, EventStream, StreamContext};
use crate::resolve;
use crate::retry::{parse_retry_after, RetryPolicy};
use crate::sign::{sign_request, SIGNING_NAME};
use crate::spec::{ClientOptions, TargetSpec};

/// A bedrock-runtime model operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /model/{id}/converse`
    Converse,
    /// `POST /model/{id}/converse-stream`
    ConverseStream,
    /// `POST /model/{id}/invoke`
    Invoke,
    /// `POST /model/{id}/invoke-with-response-stream`
    InvokeStream,
    /// `POST /model/{id}/count-tokens`
    CountTokens,
}

impl Operation {
    /// Every operation, in URL-table order.
    pub const ALL: [Operation; 5] = [
        Self::Converse,
        Self::ConverseStream,
        Self::Invoke,
        Self::InvokeStream,
        Self::CountTokens,
    ];

    /// The last path segment, e.g. `converse-stream`.
    pub fn path_suffix(self) -> &'static str {
        match self {
            Self::Converse => "converse",
            Self::ConverseStream => "converse-stream",
            Self::Invoke => "invoke",
            Self::InvokeStream => "invoke-with-response-stream",
            Self::CountTokens => "count-tokens",
        }
    }

    /// True for the event-stream operations (use [`BedrockClient::call_stream`]).
    pub fn is_stream(self) -> bool {
        matches!(self, Self::ConverseStream | Self::InvokeStream)
    }

    fn index(self) -> usize {
        match self {
            Self::Converse => 0,
            Self::ConverseStream => 1,
            Self::Invoke => 2,
            Self::InvokeStream => 3,
            Self::CountTokens => 4,
        }
    }
}

/// Which Bedrock service a raw pass-through request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// bedrock-runtime (the target's runtime endpoint).
    Runtime,
    /// bedrock-agent-runtime (the target's agent-runtime endpoint).
    AgentRuntime,
}

/// A successful (2xx) non-streaming answer.
#[derive(Clone, Debug)]
pub struct BedrockResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers (`x-amzn-RequestId`, token-count headers of InvokeModel, ...).
    pub headers: HeaderMap,
    /// The body, whole.
    pub body: Bytes,
    /// Time spent waiting on Bedrock: on the wire for the answering attempt (from sending the
    /// request to the last body byte), plus everything before it (failed attempts, backoff).
    /// Signing and request building of the answering attempt are not included, so callers can
    /// report the gateway's own overhead as total time minus this.
    pub upstream_time: Duration,
}

impl BedrockResponse {
    /// `X-Amzn-Bedrock-Input-Token-Count` (InvokeModel answers).
    pub fn input_token_count(&self) -> Option<u64> {
        self.header_number("x-amzn-bedrock-input-token-count")
    }

    /// `X-Amzn-Bedrock-Output-Token-Count` (InvokeModel answers).
    pub fn output_token_count(&self) -> Option<u64> {
        self.header_number("x-amzn-bedrock-output-token-count")
    }

    /// (input, output) token counts from the headers, when both are present.
    pub fn header_usage(&self) -> Option<(u64, u64)> {
        Some((self.input_token_count()?, self.output_token_count()?))
    }

    fn header_number(&self, name: &str) -> Option<u64> {
        self.headers.get(name)?.to_str().ok()?.trim().parse().ok()
    }
}

/// One deployment, resolved: region, endpoints, precomputed URLs and its credential cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Target(Arc<TargetInner>);

struct TargetInner {
    deployment: Arc<str>,
    model_id: String,
    region: String,
    runtime_endpoint: String,
    agent_runtime_endpoint: String,
    op_urls: [Url; 5],
    rerank_url: Url,
    converse_like_url: Option<Url>,
    bearer: Option<HeaderValue>,
    sigv4: Arc<CredentialCache>,
    /// False when the SigV4 source is only the default-chain fallback of a bearer deployment.
    sigv4_explicit: bool,
    timeout: Duration,
    stream_timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("deployment", &self.0.deployment)
            .field("model_id", &self.0.model_id)
            .field("region", &self.0.region)
            .field("runtime_endpoint", &self.0.runtime_endpoint)
            .field("auth", &self.auth_description())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The deployment's name (as given in the spec).
    pub fn deployment(&self) -> &str {
        &self.0.deployment
    }
    /// The Bedrock model id / ARN (not encoded).
    pub fn model_id(&self) -> &str {
        &self.0.model_id
    }
    /// The resolved region (also the SigV4 signing region).
    pub fn region(&self) -> &str {
        &self.0.region
    }
    /// bedrock-runtime base URL (no trailing slash).
    pub fn runtime_endpoint(&self) -> &str {
        &self.0.runtime_endpoint
    }
    /// bedrock-agent-runtime base URL (no trailing slash).
    pub fn agent_runtime_endpoint(&self) -> &str {
        &self.0.agent_runtime_endpoint
    }
    /// The URL `call` / `call_stream` POST to for `op`.
    pub fn url(&self, op: Operation) -> &Url {
        self.0
            .converse_like_url
            .as_ref()
            .unwrap_or(&self.0.op_urls[op.index()])
    }
    /// The rerank URL (`{agent-runtime endpoint}/rerank`).
    pub fn rerank_url(&self) -> &Url {
        &self.0.rerank_url
    }
    /// True when runtime calls send `Authorization: Bearer` rather than SigV4.
    pub fn uses_bearer(&self) -> bool {
        self.0.bearer.is_some()
    }
    /// True for `converse_like` targets.
    pub fn is_converse_like(&self) -> bool {
        self.0.converse_like_url.is_some()
    }
    /// How the deployment authenticates, for logs and `check` output (no secrets).
    pub fn auth_description(&self) -> String {
        match (&self.0.bearer, self.0.converse_like_url.is_some()) {
            (Some(_), _) => format!(
                "Bedrock API key (bearer); SigV4 operations use {}",
                self.0.sigv4.source()
            ),
            (None, true) => "no authentication (converse_like without api_key)".to_owned(),
            (None, false) => format!("SigV4 with {}", self.0.sigv4.source()),
        }
    }
    /// Whole-request timeout of non-streaming calls.
    pub fn timeout(&self) -> Duration {
        self.0.timeout
    }
    /// Stream timeout: to the response headers, and between two chunks.
    pub fn stream_timeout(&self) -> Duration {
        self.0.stream_timeout
    }
    /// Retries after the first attempt.
    pub fn num_retries(&self) -> u32 {
        self.0.retry.max_retries
    }
}

/// The Bedrock client shared by all deployments. Cheap to clone.
#[derive(Clone)]
pub struct BedrockClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    options: ClientOptions,
    default_chains: DefaultChains,
}

impl std::fmt::Debug for BedrockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockClient")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum AuthMode {
    /// The target's own: bearer when it has a key (or converse_like), else SigV4.
    Target,
    /// SigV4 whatever the target has (rerank, pass-through).
    SigV4Only(&'static str),
}

/// Request headers never forwarded by `raw` or taken from `extra_headers`: hop-by-hop,
/// computed by the client, or authentication.
const DROPPED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "accept-encoding",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-api-key",
];

fn is_dropped(name: &HeaderName) -> bool {
    DROPPED_HEADERS.contains(&name.as_str())
}

impl BedrockClient {
    /// Builds the pooled HTTP client (rustls, `TCP_NODELAY`, no redirects).
    pub fn new(options: ClientOptions) -> Result<Self, BedrockError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("shale/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BedrockError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                http,
                options,
                default_chains: DefaultChains::default(),
            }),
        })
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Resolves a deployment once, at config load: region, endpoints, URLs, credential provider
    /// (built, not fetched). Errors are configuration errors naming the deployment.
    pub async fn target(&self, spec: TargetSpec) -> Result<Target, BedrockError> {
        let options = &self.inner.options;
        let env = &options.env;
        let name = spec.deployment.as_str();
        let config_err = |msg: String| BedrockError::Config(format!("deployment {name}: {msg}"));
        if spec.model_id.trim().is_empty() && !spec.converse_like {
            return Err(config_err("no Bedrock model id".into()));
        }
        let region = match resolve::region_before_profile(&spec, env) {
            Some(region) => region,
            None => self
                .profile_region(spec.profile_name.as_deref())
                .await
                .unwrap_or_else(|| resolve::FALLBACK_REGION.to_owned()),
        };
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(config_err(format!("invalid AWS region {region:?}")));
        }
        // For converse_like, api_base is the full URL of the proxy, not a Bedrock endpoint.
        let endpoints_spec = if spec.converse_like {
            Cow::Owned(TargetSpec {
                api_base: None,
                ..spec.clone()
            })
        } else {
            Cow::Borrowed(&spec)
        };
        let runtime = resolve::runtime_endpoint(&endpoints_spec, env, &region)
            .map_err(|e| config_err(e.to_string()))?;
        let agent = resolve::agent_runtime_endpoint(&endpoints_spec, env, &region)
            .map_err(|e| config_err(e.to_string()))?;
        let encoded = resolve::encode_model_id(spec.model_id.trim());
        let parse = |url: String| {
            Url::parse(&url).map_err(|e| config_err(format!("invalid URL {url}: {e}")))
        };
        let op_urls = [
            parse(format!("{runtime}/model/{encoded}/converse"))?,
            parse(format!("{runtime}/model/{encoded}/converse-stream"))?,
            parse(format!("{runtime}/model/{encoded}/invoke"))?,
            parse(format!(
                "{runtime}/model/{encoded}/invoke-with-response-stream"
            ))?,
            parse(format!("{runtime}/model/{encoded}/count-tokens"))?,
        ];
        let rerank_url = parse(format!("{agent}/rerank"))?;
        let converse_like_url = if spec.converse_like {
            let base = spec
                .api_base
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    config_err("converse_like needs api_base (the URL to POST to)".into())
                })?;
            Some(parse(base.to_owned())?)
        } else {
            None
        };

        let choice = credentials::choose(&spec, env)?;
        let (bearer, sigv4_choice) = match choice {
            AuthChoice::Bearer { token, sigv4 } => (Some(token), sigv4),
            AuthChoice::SigV4(sigv4) => (None, sigv4),
        };
        let bearer = bearer
            .map(|token| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        config_err(
                            "api_key contains characters not allowed in an HTTP header".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Ok::<_, BedrockError>(value)
            })
            .transpose()?;
        let sigv4_explicit = bearer.is_none() || sigv4_choice != SigV4Choice::DefaultChain;
        let ctx = BuildContext {
            region: &region,
            sts_endpoint: spec
                .sts_endpoint
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            session_name: spec
                .session_name
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            external_id: spec
                .external_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            session_tags: &spec.session_tags,
            session_duration: spec.role_session_duration,
            options,
        };
        let sigv4 = match &sigv4_choice {
            SigV4Choice::DefaultChain => self.inner.default_chains.get(&ctx).await,
            other => Arc::new(CredentialCache::new(
                credentials::build_provider(other, &ctx).await,
                options.credentials_timeout,
                other.describe(),
            )),
        };

        let timeout = spec.timeout.unwrap_or(options.timeout);
        let stream_timeout = spec
            .stream_timeout
            .or(options.stream_timeout)
            .or(spec.timeout)
            .unwrap_or(options.timeout);
        let target = Target(Arc::new(TargetInner {
            deployment: Arc::from(spec.deployment.as_str()),
            model_id: spec.model_id.trim().to_owned(),
            region,
            runtime_endpoint: runtime,
            agent_runtime_endpoint: agent,
            op_urls,
            rerank_url,
            converse_like_url,
            bearer,
            sigv4,
            sigv4_explicit,
            timeout,
            stream_timeout,
            retry: RetryPolicy {
                max_retries: spec.num_retries.unwrap_or(options.num_retries),
                base_delay: options.retry_base_delay,
                max_delay: options.retry_max_delay,
            },
        }));
        tracing::debug!(deployment = %target.deployment(), region = %target.region(), endpoint = %target.runtime_endpoint(), auth = %target.auth_description(), "resolved Bedrock target");
        Ok(target)
    }

    async fn profile_region(&self, profile: Option<&str>) -> Option<String> {
        let mut builder = ProfileFileRegionProvider::builder();
        if let Some(name) = profile.map(str::trim).filter(|s| !s.is_empty()) {
            builder = builder.profile_name(name);
        }
        if let Some(files) = credentials::profile_files(&self.inner.options) {
            builder = builder.profile_files(files);
        }
        builder
            .build()
            .region()
            .await
            .map(|r| r.as_ref().to_owned())
    }

    /// Fetches (or reuses) the target's SigV4 credentials without calling Bedrock: a startup /
    /// readiness check. Bearer targets check their SigV4 fallback.
    pub async fn check_credentials(&self, target: &Target) -> Result<(), BedrockError> {
        target.0.sigv4.get(&target.0.deployment).await.map(|_| ())
    }

    /// Non-streaming runtime call: `POST {endpoint}/model/{encoded id}/{op}`, retried per the
    /// target's policy. Returns the 2xx answer, or a classified error.
    pub async fn call(
        &self,
        target: &Target,
        op: Operation,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<BedrockResponse, BedrockError> {
        if op.is_stream() {
            return Err(BedrockError::Config(format!(
                "{} is a streaming operation: use call_stream",
                op.path_suffix()
            )));
        }
        let headers = request_headers(extra_headers, true);
        self.send_buffered(target, target.url(op), &headers, body, AuthMode::Target)
            .await
    }

    /// Streaming runtime call (`converse-stream` / `invoke-with-response-stream`): retried only
    /// until response headers arrive; the body is decoded frame by frame, never buffered whole.
    pub async fn call_stream(
        &self,
        target: &Target,
        op: Operation,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<EventStream, BedrockError> {
        if !op.is_stream() {
            return Err(BedrockError::Config(format!(
                "{} is not a streaming operation: use call",
                op.path_suffix()
            )));
        }
        let headers = request_headers(extra_headers, false);
        let url = target.url(op);
        let policy = target.0.retry;
        let mut retry = 0;
        loop {
            let result = self
                .response_head(
                    target,
                    Method::POST,
                    url,
                    &headers,
                    body.clone(),
                    AuthMode::Target,
                    target.0.stream_timeout,
                )
                .await;
            let error = match result {
                Ok(response) if response.status().is_success() => {
                    let ctx = StreamContext {
                        deployment: target.0.deployment.clone(),
                        request_id: request_id(response.headers()).map(Arc::from),
                        idle_timeout: target.0.stream_timeout,
                        max_frame: self.inner.options.max_frame_size,
                    };
                    return Ok(decode_stream(response.bytes_stream(), ctx));
                }
                Ok(response) => {
                    let retry_after = parse_retry_after(response.headers());
                    let error = Self::error_from(response, target.0.stream_timeout).await;
                    (error, retry_after)
                }
                Err(error) => (error, None),
            };
            retry = self.before_retry(target, error, retry, &policy).await?;
        }
    }

    /// bedrock-agent-runtime `POST /rerank` (SigV4 only). A deployment that has only a bearer
    /// key and no AWS credentials anywhere gets [`BedrockError::BearerNotSupported`].
    pub async fn rerank(
        &self,
        target: &Target,
        body: Bytes,
    ) -> Result<BedrockResponse, BedrockError> {
        let headers = request_headers(&HeaderMap::new(), true);
        self.send_buffered(
            target,
            target.rerank_url(),
            &headers,
            body,
            AuthMode::SigV4Only("rerank"),
        )
        .await
    }

    /// Raw pass-through: sends `method {endpoint}{path_and_query}` re-signed with SigV4, and
    /// returns the response untouched for byte-for-byte relay (error answers included, once
    /// retries are exhausted). Hop-by-hop and auth headers of `headers` are dropped.
    #[allow(clippy::too_many_arguments)]
    pub async fn raw(
        &self,
        target: &Target,
        service: Service,
        method: Method,
        path_and_query: &str,
        body: Bytes,
        headers: &HeaderMap,
    ) -> Result<reqwest::Response, BedrockError> {
        if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
            return Err(BedrockError::Config(format!(
                "pass-through path must start with a single '/': {path_and_query:?}"
            )));
        }
        let base = match service {
            Service::Runtime => target.runtime_endpoint(),
            Service::AgentRuntime => target.agent_runtime_endpoint(),
        };
        let url = Url::parse(&format!("{base}{path_and_query}")).map_err(|e| {
            BedrockError::Config(format!("invalid pass-through path {path_and_query:?}: {e}"))
        })?;
        let forwarded = request_headers(headers, false);
        let streaming = url.path().ends_with("-stream");
        let timeout = if streaming {
            target.0.stream_timeout
        } else {
            target.0.timeout
        };
        let policy = target.0.retry;
        let mut retry = 0;
        loop {
            let result = self
                .response_head(
                    target,
                    method.clone(),
                    &url,
                    &forwarded,
                    body.clone(),
                    AuthMode::SigV4Only("pass-through"),
                    timeout,
                )
                .await;
            let error = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retryable_status = status == 429 || status >= 500;
                    if !retryable_status || retry >= policy.max_retries {
                        return Ok(response);
                    }
                    let retry_after = parse_retry_after(response.headers());
                    (Self::error_from(response, timeout).await, retry_after)
                }
                Err(error) => (error, None),
            };
            retry = self.before_retry(target, error, retry, &policy).await?;
        }
    }

    /// Sends and reads the whole body, with retries; the timeout covers send + body.
    async fn send_buffered(
        &self,
        target: &Target,
        url: &Url,
        headers: &HeaderMap,
        body: Bytes,
        auth: AuthMode,
    ) -> Result<BedrockResponse, BedrockError> {
        let policy = target.0.retry;
        let timeout = target.0.timeout;
        let mut retry = 0;
        let started = Instant::now();
        loop {
            let attempt = async {
                let before_attempt = started.elapsed();
                let request = self
                    .build_request(target, Method::POST, url, headers, body.clone(), auth)
                    .await
                    .map_err(|e| (e, None))?;
                let wire_started = Instant::now();
                let response = self
                    .inner
                    .http
                    .execute(request)
                    .await
                    .map_err(|e| (self.transport_error(target, &e), None))?;
                let status = response.status().as_u16();
                let response_headers = response.headers().clone();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| (self.transport_error(target, &e), None))?;
                if (200..300).contains(&status) {
                    Ok(BedrockResponse {
                        status,
                        headers: response_headers,
                        body: bytes,
                        upstream_time: before_attempt + wire_started.elapsed(),
                    })
                } else {
                    Err((
                        classify_response(status, &response_headers, &bytes),
                        parse_retry_after(&response_headers),
                    ))
                }
            };
            let error = match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(pair)) => pair,
                Err(_) => (
                    BedrockError::Timeout {
                        deployment: target.deployment().to_owned(),
                        after: timeout,
                    },
                    None,
                ),
            };
            retry = self.before_retry(target, error, retry, &policy).await?;
        }
    }

    /// Returns the error when it must not be retried; otherwise sleeps and returns the next
    /// retry number.
    async fn before_retry(
        &self,
        target: &Target,
        (error, retry_after): (BedrockError, Option<Duration>),
        retry: u32,
        policy: &RetryPolicy,
    ) -> Result<u32, BedrockError> {
        if !error.is_retryable() || retry >= policy.max_retries {
            return Err(error);
        }
        let delay = policy.delay(retry, retry_after);
        tracing::warn!(deployment = %target.deployment(), retry = retry + 1, of = policy.max_retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying Bedrock call");
        tokio::time::sleep(delay).await;
        Ok(retry + 1)
    }

    /// Reads an error answer's body (bounded by `timeout`) and classifies it.
    async fn error_from(response: reqwest::Response, timeout: Duration) -> BedrockError {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        match tokio::time::timeout(timeout, response.bytes()).await {
            Ok(Ok(body)) => classify_response(status, &headers, &body),
            Ok(Err(_)) | Err(_) => classify_response(status, &headers, b""),
        }
    }

    /// One attempt up to the response headers, bounded by `timeout`.
    #[allow(clippy::too_many_arguments)]
    async fn response_head(
        &self,
        target: &Target,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Bytes,
        auth: AuthMode,
        timeout: Duration,
    ) -> Result<reqwest::Response, BedrockError> {
        let request = self
            .build_request(target, method, url, headers, body, auth)
            .await?;
        match tokio::time::timeout(timeout, self.inner.http.execute(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.transport_error(target, &e)),
            Err(_) => Err(BedrockError::Timeout {
                deployment: target.deployment().to_owned(),
                after: timeout,
            }),
        }
    }

    async fn build_request(
        &self,
        target: &Target,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Bytes,
        auth: AuthMode,
    ) -> Result<reqwest::Request, BedrockError> {
        let mut request = reqwest::Request::new(method, url.clone());
        *request.headers_mut() = headers.clone();
        *request.body_mut() = Some(reqwest::Body::from(body));
        let use_bearer = matches!(auth, AuthMode::Target)
            && (target.0.bearer.is_some() || target.0.converse_like_url.is_some());
        if use_bearer {
            if let Some(value) = &target.0.bearer {
                request.headers_mut().insert(AUTHORIZATION, value.clone());
            }
            return Ok(request);
        }
        let credentials = match target.0.sigv4.get(&target.0.deployment).await {
            Ok(c) => c,
            Err(BedrockError::Credentials { message, .. }) if !target.0.sigv4_explicit => {
                let operation = match auth {
                    AuthMode::SigV4Only(op) => op,
                    AuthMode::Target => "this operation",
                };
                return Err(BedrockError::BearerNotSupported {
                    deployment: target.deployment().to_owned(),
                    operation,
                    message,
                });
            }
            Err(e) => return Err(e),
        };
        sign_request(
            &mut request,
            &credentials,
            target.region(),
            SIGNING_NAME,
            SystemTime::now(),
        )?;
        Ok(request)
    }

    fn transport_error(&self, target: &Target, error: &reqwest::Error) -> BedrockError {
        if error.is_timeout() {
            return BedrockError::Timeout {
                deployment: target.deployment().to_owned(),
                after: target.0.timeout,
            };
        }
        let what = if error.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let host = error
            .url()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_default();
        BedrockError::Connect {
            deployment: target.deployment().to_owned(),
            message: format!("{what} ({host}): {}", error_chain(error)),
        }
    }
}

/// Default headers (`content-type`, and `accept` for buffered calls) overridden by the caller's,
/// minus the dropped ones.
fn request_headers(extra: &HeaderMap, accept_json: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(extra.len() + 2);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if accept_json {
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    }
    for name in extra.keys() {
        if is_dropped(name) {
            continue;
        }
        headers.remove(name);
        for value in extra.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::EnvSource;

    fn options() -> ClientOptions {
        let dir = std::env::temp_dir();
        ClientOptions {
            env: EnvSource::from_pairs::<&str, &str>([]),
            aws_config_file: Some(dir.join("shale-bedrock-no-such-config")),
            aws_credentials_file: Some(dir.join("shale-bedrock-no-such-credentials")),
            ..ClientOptions::default()
        }
    }

    fn keys(spec: TargetSpec) -> TargetSpec {
        TargetSpec {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            ..spec
        }
    }

    #[tokio::test]
    async fn target_precomputes_urls() {
        let client = BedrockClient::new(options()).unwrap();
        let t = client
            .target(keys(TargetSpec {
                deployment: "d".into(),
                model_id:
                    "arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0a0"
                        .into(),
                ..TargetSpec::default()
            }))
            .await
            .unwrap();
        assert_eq!(t.region(), "eu-central-1");
        assert_eq!(
            t.url(Operation::ConverseStream).as_str(),
            "https://bedrock-runtime.eu-central-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A000000000000%3Aapplication-inference-profile%2Fa0a0/converse-stream"
        );
        assert_eq!(
            t.rerank_url().as_str(),
            "https://bedrock-agent-runtime.eu-central-1.amazonaws.com/rerank"
        );
        assert!(!t.uses_bearer());
        assert_eq!(t.auth_description(), "SigV4 with static access keys");
        assert_eq!(t.num_retries(), 2);
        assert_eq!(t.timeout(), Duration::from_secs(600));
    }

    #[tokio::test]
    async fn region_falls_back_to_the_profile_then_us_west_2() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile dev]\nregion = ap-northeast-1\n").unwrap();
        let client = BedrockClient::new(ClientOptions {
            aws_config_file: Some(config),
            ..options()
        })
        .unwrap();
        let spec = keys(TargetSpec {
            deployment: "d".into(),
            model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            profile_name: Some("dev".into()),
            ..TargetSpec::default()
        });
        let t = client.target(spec.clone()).await.unwrap();
        assert_eq!(t.region(), "ap-northeast-1");
        assert_eq!(
            t.url(Operation::Converse).as_str(),
            "https://bedrock-runtime.ap-northeast-1.amazonaws.com/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        let t = client
            .target(TargetSpec {
                profile_name: Some("other".into()),
                ..spec
            })
            .await
            .unwrap();
        assert_eq!(t.region(), "us-west-2");
    }

    #[tokio::test]
    async fn per_deployment_settings_override_defaults() {
        let client = BedrockClient::new(ClientOptions {
            num_retries: 5,
            ..options()
        })
        .unwrap();
        let t = client
            .target(keys(TargetSpec {
                deployment: "d".into(),
                model_id: "m".into(),
                region: Some("us-east-1".into()),
                timeout: Some(Duration::from_secs(30)),
                num_retries: Some(0),
                ..TargetSpec::default()
            }))
            .await
            .unwrap();
        assert_eq!(t.num_retries(), 0);
        assert_eq!(t.timeout(), Duration::from_secs(30));
        assert_eq!(t.stream_timeout(), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn bad_settings_name_the_deployment() {
        let client = BedrockClient::new(options()).unwrap();
        let err = client
            .target(TargetSpec {
                deployment: "model_list[4] (broken)".into(),
                model_id: "m".into(),
                region: Some("Not A Region".into()),
                ..TargetSpec::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("model_list[4] (broken)"), "{err}");
        let err = client
            .target(TargetSpec {
                deployment: "x".into(),
                model_id: "m".into(),
                api_base: Some("ftp://nope".into()),
                ..TargetSpec::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, BedrockError::Config(_)), "{err}");
        let err = client
            .target(TargetSpec {
                deployment: "x".into(),
                converse_like: true,
                ..TargetSpec::default()
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("api_base"), "{err}");
    }

    #[tokio::test]
    async fn converse_like_posts_to_api_base_verbatim() {
        let client = BedrockClient::new(options()).unwrap();
        let t = client
            .target(TargetSpec {
                deployment: "d".into(),
                model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
                api_base: Some("https://internal.example/bedrock/converse?x=1".into()),
                api_key: Some("k".into()),
                converse_like: true,
                ..TargetSpec::default()
            })
            .await
            .unwrap();
        assert_eq!(
            t.url(Operation::Converse).as_str(),
            "https://internal.example/bedrock/converse?x=1"
        );
        assert!(t.uses_bearer());
        assert!(t.is_converse_like());
    }

    #[test]
    fn caller_headers_override_defaults_and_unsafe_ones_are_dropped() {
        let mut extra = HeaderMap::new();
        extra.insert(ACCEPT, HeaderValue::from_static("*/*"));
        extra.insert(AUTHORIZATION, HeaderValue::from_static("Bearer client-key"));
        extra.insert("host", HeaderValue::from_static("evil.example"));
        extra.insert(
            "x-amzn-bedrock-guardrailidentifier",
            HeaderValue::from_static("gr-1"),
        );
        let h = request_headers(&extra, true);
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert_eq!(h[ACCEPT], "*/*");
        assert_eq!(h["x-amzn-bedrock-guardrailidentifier"], "gr-1");
        assert!(h.get(AUTHORIZATION).is_none());
        assert!(h.get("host").is_none());
        let h = request_headers(&HeaderMap::new(), false);
        assert!(h.get(ACCEPT).is_none());
    }

    #[test]
    fn token_count_headers_are_parsed() {
        let mut answer = BedrockResponse {
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            upstream_time: Duration::ZERO,
        };
        assert_eq!(answer.header_usage(), None);
        answer.headers.insert(
            "x-amzn-bedrock-input-token-count",
            HeaderValue::from_static(" 17 "),
        );
        assert_eq!(answer.input_token_count(), Some(17));
        assert_eq!(answer.header_usage(), None);
        answer.headers.insert(
            "x-amzn-bedrock-output-token-count",
            HeaderValue::from_static("5"),
        );
        assert_eq!(answer.header_usage(), Some((17, 5)));
        answer.headers.insert(
            "x-amzn-bedrock-output-token-count",
            HeaderValue::from_static("x"),
        );
        assert_eq!(answer.output_token_count(), None);
    }
}
