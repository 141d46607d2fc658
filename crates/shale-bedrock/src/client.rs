//! The Bedrock client: the calls (runtime, stream, rerank, raw pass-through), each attempt built,
//! signed and sent through the worker's pooled transport (`transport.rs`) and retried by one retry
//! loop. Targets are resolved in `target.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method};
use tracing::Instrument;
use url::Url;

use crate::attempt;
use crate::credentials::DefaultChains;
use crate::error::{classify_response, request_id, BedrockError};
use crate::eventstream::{decode_stream, error_chain, EventStream, StreamContext};
use crate::retry::{parse_retry_after, RetryPolicy};
use crate::sign::sign_request;
use crate::spec::ClientOptions;
use crate::target::{Endpoint, Target};
use crate::transport::{self, Transport, TransportError, UpstreamResponse};
use shale_core::worker::PerWorker;

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

    pub(crate) fn index(self) -> usize {
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

/// The Bedrock client shared by all deployments. Cheap to clone.
#[derive(Clone)]
pub struct BedrockClient {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    /// One pool per serving worker: a connection is driven by the runtime that opened it.
    pub(crate) http: PerWorker<Transport>,
    pub(crate) options: ClientOptions,
    pub(crate) default_chains: DefaultChains,
}

impl std::fmt::Debug for BedrockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockClient")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// How a streamed answer is framed.
#[derive(Clone, Copy)]
pub(crate) enum Framing {
    /// `application/vnd.amazon.eventstream` (ConverseStream, InvokeModelWithResponseStream).
    EventStream,
    /// `text/event-stream` (bedrock-mantle, bedrock-runtime's `/openai/v1`).
    Sse,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum AuthMode {
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
    /// Builds the pooled transports, one per serving worker (rustls, `TCP_NODELAY`, no
    /// redirects).
    pub fn new(options: ClientOptions) -> Result<Self, BedrockError> {
        // The idle-connection budget is the gateway's, split across the workers' pools.
        let idle_per_worker = options
            .pool_max_idle_per_host
            .div_ceil(options.workers.max(1));
        let http = PerWorker::try_new(options.workers, |_| {
            Transport::new(&options, idle_per_worker)
        })?;
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
        let headers = Headers {
            extra: extra_headers,
            fixed: None,
            accept_json: true,
        };
        let request = Outgoing::post(target.endpoint(op), headers, body);
        self.send_buffered(target, request).await
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
        let headers = Headers {
            extra: extra_headers,
            fixed: None,
            accept_json: false,
        };
        let request = Outgoing::post(target.endpoint(op), headers, body);
        self.open_stream(target, request, Framing::EventStream)
            .await
    }

    /// A streaming call: retried only until the response headers arrive; then the body is
    /// decoded as `framing` says, frame by frame, never buffered whole.
    pub(crate) async fn open_stream(
        &self,
        target: &Target,
        request: Outgoing<'_>,
        framing: Framing,
    ) -> Result<EventStream, BedrockError> {
        self.with_retries(target, &request.url.url, |_| async {
            let response = self
                .response_head(target, request.clone(), target.0.stream_timeout)
                .await
                .map_err(|e| (e, None))?;
            if !response.status().is_success() {
                return Err(Self::error_from(response, target.0.stream_timeout).await);
            }
            let ctx = StreamContext {
                deployment: target.0.deployment.clone(),
                request_id: request_id(response.headers()).map(Arc::from),
                idle_timeout: target.0.stream_timeout,
                max_frame: self.inner.options.max_frame_size,
            };
            let body = response.into_body().into_stream();
            Ok(match framing {
                Framing::EventStream => decode_stream(body, ctx),
                Framing::Sse => crate::sse::decode_sse(body, ctx),
            })
        })
        .await
    }

    /// bedrock-agent-runtime `POST /rerank` (SigV4 only). A deployment that has only a bearer
    /// key and no AWS credentials anywhere gets [`BedrockError::BearerNotSupported`].
    pub async fn rerank(
        &self,
        target: &Target,
        body: Bytes,
    ) -> Result<BedrockResponse, BedrockError> {
        self.send_json(
            target,
            &target.0.rerank_url,
            body,
            AuthMode::SigV4Only("rerank"),
        )
        .await
    }

    /// A buffered JSON POST to `url` with the target's timeout and retries, authenticated per
    /// `auth`: the calls that are not a model operation (rerank; ApplyGuardrail, `guardrail.rs`).
    pub(crate) async fn send_json(
        &self,
        target: &Target,
        url: &Endpoint,
        body: Bytes,
        auth: AuthMode,
    ) -> Result<BedrockResponse, BedrockError> {
        let no_headers = HeaderMap::new();
        let headers = Headers {
            extra: &no_headers,
            fixed: None,
            accept_json: true,
        };
        let request = Outgoing {
            auth,
            ..Outgoing::post(url, headers, body)
        };
        self.send_buffered(target, request).await
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
    ) -> Result<UpstreamResponse, BedrockError> {
        if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
            return Err(BedrockError::Config(format!(
                "pass-through path must start with a single '/': {path_and_query:?}"
            )));
        }
        let base = match service {
            Service::Runtime => target.runtime_endpoint(),
            Service::AgentRuntime => target.agent_runtime_endpoint(),
        };
        let invalid = |e: &dyn std::fmt::Display| {
            BedrockError::Config(format!("invalid pass-through path {path_and_query:?}: {e}"))
        };
        let url = Url::parse(&format!("{base}{path_and_query}")).map_err(|e| invalid(&e))?;
        let url = Endpoint::new(url).map_err(|e| invalid(&e))?;
        let request = Outgoing {
            method,
            url: &url,
            headers: Headers {
                extra: headers,
                fixed: None,
                accept_json: false,
            },
            body,
            auth: AuthMode::SigV4Only("pass-through"),
        };
        let streaming = url.url.path().ends_with("-stream");
        let timeout = if streaming {
            target.0.stream_timeout
        } else {
            target.0.timeout
        };
        let max_retries = target.0.retry.max_retries;
        self.with_retries(target, &url.url, |retry| {
            let request = request.clone();
            async move {
                let response = self
                    .response_head(target, request, timeout)
                    .await
                    .map_err(|e| (e, None))?;
                let status = response.status().as_u16();
                let retryable_status = status == 429 || status >= 500;
                // Relayed byte for byte, error answers included, once retries are exhausted.
                if !retryable_status || retry >= max_retries {
                    return Ok(response);
                }
                Err(Self::error_from(response, timeout).await)
            }
        })
        .await
    }

    /// Sends and reads the whole body, with retries; the timeout covers send + body.
    pub(crate) async fn send_buffered(
        &self,
        target: &Target,
        outgoing: Outgoing<'_>,
    ) -> Result<BedrockResponse, BedrockError> {
        let (timeout, url) = (target.0.timeout, outgoing.url);
        let started = Instant::now();
        self.with_retries(target, &url.url, |_| async {
            let before_attempt = started.elapsed();
            let attempt = async {
                let request = self
                    .build_request(target, outgoing.clone())
                    .await
                    .map_err(|e| (e, None))?;
                let wire_started = Instant::now();
                let response = self
                    .inner
                    .http
                    .get()
                    .send(request)
                    .await
                    .map_err(|e| (transport_error(target, &url.url, &e), None))?;
                let status = response.status().as_u16();
                attempt::status(&tracing::Span::current(), status);
                let (head, body) = response.into_parts();
                let response_headers = head.headers;
                let bytes = body
                    .bytes()
                    .await
                    .map_err(|e| (transport_error(target, &url.url, &e), None))?;
                if !(200..300).contains(&status) {
                    return Err((
                        classify_response(status, &response_headers, &bytes),
                        parse_retry_after(&response_headers),
                    ));
                }
                Ok(BedrockResponse {
                    status,
                    headers: response_headers,
                    body: bytes,
                    upstream_time: before_attempt + wire_started.elapsed(),
                })
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(result) => result,
                Err(_) => Err((
                    BedrockError::Timeout {
                        deployment: target.deployment().to_owned(),
                        after: timeout,
                    },
                    None,
                )),
            }
        })
        .await
    }

    /// The one retry loop: runs `attempt` (given the retry number, 0 first) until it succeeds,
    /// fails with an error that must not be retried, or the target's retries are used up; waits
    /// the policy's backoff (or Bedrock's `Retry-After`) between attempts.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        target: &Target,
        url: &Url,
        mut attempt: F,
    ) -> Result<T, BedrockError>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Result<T, (BedrockError, Option<Duration>)>>,
    {
        let policy = target.0.retry;
        let on_attempt = self.inner.options.on_attempt;
        let mut retry = 0;
        loop {
            if let Some(on_attempt) = on_attempt {
                on_attempt();
            }
            // One trace span per attempt; it ends with the attempt, not after the backoff.
            let hooks = self.inner.options.attempt_spans.as_ref();
            let span = attempt::span(target, url, hooks);
            let result = attempt(retry).instrument(span.clone()).await;
            match &result {
                Err((error, _)) => attempt::failed(&span, error),
                Ok(_) => attempt::answered(&span, hooks),
            }
            drop(span);
            match result {
                Ok(value) => return Ok(value),
                Err(failure) => retry = self.before_retry(target, failure, retry, &policy).await?,
            }
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
            return Err(error.with_backoff_hint(policy.delay(retry, retry_after)));
        }
        let delay = policy.delay(retry, retry_after);
        tracing::warn!(deployment = %target.deployment(), retry = retry + 1, of = policy.max_retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying Bedrock call");
        tokio::time::sleep(delay).await;
        Ok(retry + 1)
    }

    /// Reads an error answer's body (bounded by `timeout`) and classifies it; with the answer's
    /// `Retry-After`, the pair the retry loop takes.
    pub(crate) async fn error_from(
        response: UpstreamResponse,
        timeout: Duration,
    ) -> (BedrockError, Option<Duration>) {
        let (head, body) = response.into_parts();
        let (status, headers) = (head.status.as_u16(), head.headers);
        let error = match tokio::time::timeout(timeout, body.bytes()).await {
            Ok(Ok(body)) => classify_response(status, &headers, &body),
            Ok(Err(_)) | Err(_) => classify_response(status, &headers, b""),
        };
        (error, parse_retry_after(&headers))
    }

    /// One attempt up to the response headers, bounded by `timeout`.
    pub(crate) async fn response_head(
        &self,
        target: &Target,
        outgoing: Outgoing<'_>,
        timeout: Duration,
    ) -> Result<UpstreamResponse, BedrockError> {
        let url = outgoing.url;
        let request = self.build_request(target, outgoing).await?;
        match tokio::time::timeout(timeout, self.inner.http.get().send(request)).await {
            Ok(Ok(response)) => {
                attempt::status(&tracing::Span::current(), response.status().as_u16());
                Ok(response)
            }
            Ok(Err(e)) => Err(transport_error(target, &url.url, &e)),
            Err(_) => Err(BedrockError::Timeout {
                deployment: target.deployment().to_owned(),
                after: timeout,
            }),
        }
    }

    async fn build_request(
        &self,
        target: &Target,
        outgoing: Outgoing<'_>,
    ) -> Result<http::Request<Bytes>, BedrockError> {
        let Outgoing {
            method,
            url,
            headers,
            body,
            auth,
        } = outgoing;
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = url.uri.clone();
        *request.headers_mut() = headers.build();
        // Unsigned, and a pass-through caller's own user-agent is kept.
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert(transport::USER_AGENT);
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
            &target.0.signer,
            &url.canonical,
            &credentials,
            SystemTime::now(),
        )?;
        Ok(request)
    }
}

/// A request that got no answer (or whose answer broke off), as the client's error: a timeout
/// when the transport's own (connect) timeout ended it, else a connection error naming the host.
fn transport_error(target: &Target, url: &Url, error: &TransportError) -> BedrockError {
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
    let host = url.host_str().unwrap_or("");
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    BedrockError::Connect {
        deployment: target.deployment().to_owned(),
        message: format!("{what} ({host}): {}", error_chain(error)),
    }
}

/// One request as the client sends it, and sends again on a retry (the body is shared, not
/// copied): method, URL, headers, body, and how it authenticates.
#[derive(Clone)]
pub(crate) struct Outgoing<'a> {
    pub(crate) method: Method,
    pub(crate) url: &'a Endpoint,
    pub(crate) headers: Headers<'a>,
    pub(crate) body: Bytes,
    pub(crate) auth: AuthMode,
}

impl<'a> Outgoing<'a> {
    /// A `POST` of `body` to `url`, authenticated as the target is.
    pub(crate) fn post(url: &'a Endpoint, headers: Headers<'a>, body: Bytes) -> Self {
        Outgoing {
            method: Method::POST,
            url,
            headers,
            body,
            auth: AuthMode::Target,
        }
    }
}

/// The headers of a request, built afresh for each attempt (signing adds to them).
#[derive(Clone, Copy)]
pub(crate) struct Headers<'a> {
    /// The caller's (`extra_headers`, or a pass-through client's), minus the dropped ones.
    pub(crate) extra: &'a HeaderMap,
    /// The target's own (a surface's project and API-version headers), under the caller's.
    pub(crate) fixed: Option<&'a HeaderMap>,
    /// `accept: application/json` (buffered calls).
    pub(crate) accept_json: bool,
}

impl Headers<'_> {
    /// Default headers (`content-type`, and `accept` for buffered calls) overridden by the
    /// caller's, minus the dropped ones, with room for the user agent, host and signature headers.
    fn build(self) -> HeaderMap {
        let fixed = self.fixed.map_or(0, HeaderMap::len);
        let mut headers = HeaderMap::with_capacity(self.extra.len() + fixed + 8);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.accept_json {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        for (name, value) in self.fixed.into_iter().flatten() {
            headers.insert(name.clone(), value.clone());
        }
        for name in self.extra.keys() {
            if is_dropped(name) {
                continue;
            }
            headers.remove(name);
            for value in self.extra.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let h = Headers {
            extra: &extra,
            fixed: None,
            accept_json: true,
        }
        .build();
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert_eq!(h[ACCEPT], "*/*");
        assert_eq!(h["x-amzn-bedrock-guardrailidentifier"], "gr-1");
        assert!(h.get(AUTHORIZATION).is_none());
        assert!(h.get("host").is_none());
        let h = Headers {
            extra: &HeaderMap::new(),
            fixed: None,
            accept_json: false,
        }
        .build();
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
