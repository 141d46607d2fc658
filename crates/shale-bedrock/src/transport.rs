//! The HTTP transport to Bedrock: one pooled connection set per serving worker.
//!
//! Requests go through hyper-util's pooled client directly (rustls with the webpki roots, HTTP/1.1
//! or HTTP/2 by ALPN, `TCP_NODELAY`, keep-alive, connect timeout), with the request already built
//! and signed by `client.rs`: no URL parsing, no redirect policy, no per-request client layer. An
//! endpoint that the environment's proxy settings (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`, read once at start) send through a proxy goes through a `reqwest` client instead,
//! which speaks the proxy protocols (CONNECT tunnels, proxy credentials) — the same decision, with
//! the same matcher, that reqwest made for every request before.
//!
//! It must not: sign, retry, time out or classify answers (that is `client.rs`), follow redirects,
//! or log anything of a request (headers carry credentials).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::BedrockError;
use crate::spec::ClientOptions;

/// The `user-agent` every Bedrock request carries (unsigned, like the SDKs').
pub(crate) const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("shale/", env!("CARGO_PKG_VERSION")));

/// Bedrock's answer: status, headers and a body read as it arrives.
pub type UpstreamResponse = http::Response<UpstreamBody>;

type DirectClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One worker's connections to Bedrock.
pub(crate) struct Transport {
    direct: DirectClient,
    /// Set only when a proxy variable is set in the environment.
    proxied: Option<Proxied>,
}

struct Proxied {
    matcher: Matcher,
    client: reqwest::Client,
}

impl Transport {
    /// A transport keeping at most `max_idle` idle connections per host.
    pub(crate) fn new(options: &ClientOptions, max_idle: usize) -> Result<Self, BedrockError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(Some(options.connect_timeout));
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(&e))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let direct = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(max_idle)
            .build(connector);
        let proxied = if proxy_configured() {
            Some(Proxied {
                matcher: Matcher::from_env(),
                client: proxied_client(options, max_idle)?,
            })
        } else {
            None
        };
        Ok(Self { direct, proxied })
    }

    /// Sends one request and returns the answer once its head has arrived.
    pub(crate) async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<UpstreamResponse, TransportError> {
        if let Some(proxied) = &self.proxied {
            if proxied.matcher.intercept(request.uri()).is_some() {
                let request =
                    reqwest::Request::try_from(request).map_err(TransportError::Proxied)?;
                let response = proxied
                    .client
                    .execute(request)
                    .await
                    .map_err(TransportError::Proxied)?;
                return Ok(http::Response::from(response).map(UpstreamBody::Proxied));
            }
        }
        let response = self
            .direct
            .request(request.map(Full::new))
            .await
            .map_err(TransportError::Request)?;
        Ok(response.map(UpstreamBody::Direct))
    }
}

/// True when any proxy variable reqwest (and hyper-util's matcher) reads is set.
fn proxy_configured() -> bool {
    [
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The reqwest client for proxied endpoints: the settings of the direct one.
fn proxied_client(
    options: &ClientOptions,
    max_idle: usize,
) -> Result<reqwest::Client, BedrockError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(60))
        .connect_timeout(options.connect_timeout)
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(max_idle)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| config_error(&e))
}

fn config_error(e: &dyn std::fmt::Display) -> BedrockError {
    BedrockError::Config(format!("cannot build the HTTP client: {e}"))
}

/// Why a request got no answer, or its body broke off.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Sending, or waiting for the answer's head, failed.
    #[error(transparent)]
    Request(hyper_util::client::legacy::Error),
    /// The answer's body broke off.
    #[error(transparent)]
    Body(hyper::Error),
    /// Either, through a proxy.
    #[error(transparent)]
    Proxied(reqwest::Error),
}

impl TransportError {
    /// True when no connection could be made.
    pub fn is_connect(&self) -> bool {
        match self {
            Self::Request(e) => e.is_connect(),
            Self::Body(_) => false,
            Self::Proxied(e) => e.is_connect(),
        }
    }

    /// True when a timeout of the transport itself (the connect timeout) ended it.
    pub fn is_timeout(&self) -> bool {
        if let Self::Proxied(e) = self {
            return e.is_timeout();
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = source {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                return true;
            }
            source = e.source();
        }
        false
    }
}

/// The body of Bedrock's answer, read frame by frame.
#[derive(Debug)]
pub enum UpstreamBody {
    /// From a direct connection.
    Direct(hyper::body::Incoming),
    /// Through a proxy.
    Proxied(reqwest::Body),
}

impl UpstreamBody {
    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, TransportError> {
        Ok(self.collect().await?.to_bytes())
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> http_body_util::BodyDataStream<Self> {
        http_body_util::BodyDataStream::new(self)
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        match self.get_mut() {
            Self::Direct(body) => Pin::new(body).poll_frame(cx).map_err(TransportError::Body),
            Self::Proxied(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(TransportError::Proxied),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Direct(body) => body.is_end_stream(),
            Self::Proxied(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Direct(body) => body.size_hint(),
            Self::Proxied(body) => body.size_hint(),
        }
    }
}
