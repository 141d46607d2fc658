//! Bedrock's HTTP surfaces beside Converse / InvokeModel — bedrock-mantle (OpenAI chat and
//! Responses under `/v1` or `/openai/v1`, Anthropic Messages under `/anthropic/v1`) and
//! bedrock-runtime's `/openai/v1` — as targets and calls: the operation URLs and fixed headers
//! of a surface deployment ([`SurfaceTarget`], resolved once at load with the rest of the
//! [`Target`]), and [`BedrockClient::call_surface`] / [`BedrockClient::call_surface_stream`],
//! which sign (SigV4 service `bedrock-mantle` on Mantle, `bedrock` on runtime, through the
//! target's cached signer) or send the Bedrock API key, retry like every other call, and decode
//! server-sent events (`sse.rs`).
//!
//! Must not: look into request or answer bodies (translation is `shale-translate`'s).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use shale_core::surface::{Host, WireApi, ANTHROPIC_VERSION_HEADER};

use crate::client::{BedrockClient, BedrockResponse, Framing, Headers, Outgoing};
use crate::error::BedrockError;
use crate::eventstream::EventStream;
use crate::resolve::SurfaceBase;
use crate::spec::SurfaceSpec;
use crate::target::{Endpoint, Target};

/// One operation of a surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SurfaceOp {
    /// `POST …/chat/completions`
    Chat,
    /// `POST …/responses`
    Responses,
    /// `POST /anthropic/v1/messages`
    Messages,
    /// `POST /anthropic/v1/messages/count_tokens`
    CountTokens,
}

impl SurfaceOp {
    /// The operation that carries `api`.
    pub fn of(api: WireApi) -> SurfaceOp {
        match api {
            WireApi::Chat => SurfaceOp::Chat,
            WireApi::Responses => SurfaceOp::Responses,
            WireApi::Messages => SurfaceOp::Messages,
        }
    }

    fn index(self) -> usize {
        match self {
            SurfaceOp::Chat => 0,
            SurfaceOp::Responses => 1,
            SurfaceOp::Messages => 2,
            SurfaceOp::CountTokens => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SurfaceOp::Chat => "chat completions",
            SurfaceOp::Responses => "responses",
            SurfaceOp::Messages => "messages",
            SurfaceOp::CountTokens => "count_tokens",
        }
    }

    fn is_anthropic(self) -> bool {
        matches!(self, SurfaceOp::Messages | SurfaceOp::CountTokens)
    }
}

/// A surface deployment, resolved: the host, the URL of each operation it is called with, and
/// the headers every call of an API family carries.
#[derive(Debug)]
pub(crate) struct SurfaceTarget {
    pub(crate) host: Host,
    urls: [Option<Endpoint>; 4],
    /// Per API family (OpenAI, Anthropic) and mode (buffered, streaming): the OpenAI family's
    /// `OpenAI-Project` when a project is configured; the Anthropic family's `anthropic-version`
    /// and workspace headers; the streaming ones' `accept: text/event-stream`.
    fixed: [HeaderMap; 4],
}

impl SurfaceTarget {
    /// The URLs of `spec.apis` under `base` (Messages brings count_tokens along).
    pub(crate) fn new(
        spec: &SurfaceSpec,
        base: &SurfaceBase,
        parse: impl Fn(String) -> Result<Endpoint, BedrockError>,
    ) -> Result<SurfaceTarget, BedrockError> {
        let mut urls: [Option<Endpoint>; 4] = Default::default();
        for api in spec.apis.iter() {
            match api {
                WireApi::Chat => {
                    urls[0] = Some(parse(
                        base.openai_url(spec.openai_base, "/chat/completions"),
                    )?)
                }
                WireApi::Responses => {
                    urls[1] = Some(parse(base.openai_url(spec.openai_base, "/responses"))?)
                }
                WireApi::Messages => {
                    urls[2] = Some(parse(format!("{}/anthropic/v1/messages", base.root))?);
                    urls[3] = Some(parse(format!(
                        "{}/anthropic/v1/messages/count_tokens",
                        base.root
                    ))?);
                }
            }
        }
        let project = spec
            .project_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty() && spec.host == Host::Mantle)
            .map(|p| {
                HeaderValue::from_str(p).map_err(|_| {
                    BedrockError::Config(format!(
                        "aws_bedrock_project_id {p:?} is not a valid header value"
                    ))
                })
            })
            .transpose()?;
        let mut openai_headers = HeaderMap::new();
        let mut anthropic_headers = HeaderMap::new();
        anthropic_headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION_HEADER),
        );
        if let Some(project) = project {
            openai_headers.insert(HeaderName::from_static("openai-project"), project.clone());
            // The sources disagree on the Anthropic surface's header name: send both.
            anthropic_headers.insert(
                HeaderName::from_static("anthropic-workspace"),
                project.clone(),
            );
            anthropic_headers.insert(HeaderName::from_static("anthropic-workspace-id"), project);
        }
        let streaming = |map: &HeaderMap| {
            let mut map = map.clone();
            map.insert(http::header::ACCEPT, EVENT_STREAM);
            map
        };
        Ok(SurfaceTarget {
            host: spec.host,
            urls,
            fixed: [
                streaming(&openai_headers),
                streaming(&anthropic_headers),
                openai_headers,
                anthropic_headers,
            ],
        })
    }

    fn endpoint(&self, op: SurfaceOp) -> Option<&Endpoint> {
        self.urls[op.index()].as_ref()
    }

    fn fixed(&self, op: SurfaceOp, stream: bool) -> &HeaderMap {
        &self.fixed[usize::from(op.is_anthropic()) + if stream { 0 } else { 2 }]
    }
}

impl Target {
    /// The surface host, for a deployment on bedrock-mantle or bedrock-runtime's `/openai/v1`.
    pub fn surface_host(&self) -> Option<Host> {
        self.0.surface.as_ref().map(|s| s.host)
    }

    /// The URL of a surface operation, when the deployment is called with it.
    pub fn surface_url(&self, op: SurfaceOp) -> Option<&url::Url> {
        self.0
            .surface
            .as_ref()
            .and_then(|s| s.endpoint(op))
            .map(|e| &e.url)
    }

    fn surface_endpoint(
        &self,
        op: SurfaceOp,
        stream: bool,
    ) -> Result<(&Endpoint, &HeaderMap), BedrockError> {
        let surface = self.0.surface.as_ref();
        surface
            .and_then(|s| Some((s.endpoint(op)?, s.fixed(op, stream))))
            .ok_or_else(|| {
                BedrockError::Config(format!(
                    "deployment {} is not called with the {} API",
                    self.deployment(),
                    op.name()
                ))
            })
    }
}

const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

impl BedrockClient {
    /// A non-streaming surface call: `POST` the body to the operation's URL, retried per the
    /// target's policy. Returns the 2xx answer, or a classified error (`{"error": …}` and
    /// Anthropic error bodies included, `Retry-After` kept).
    pub async fn call_surface(
        &self,
        target: &Target,
        op: SurfaceOp,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<BedrockResponse, BedrockError> {
        let (url, fixed) = target.surface_endpoint(op, false)?;
        let headers = Headers {
            extra: extra_headers,
            fixed: Some(fixed),
            accept_json: true,
        };
        self.send_buffered(target, Outgoing::post(url, headers, body))
            .await
    }

    /// A streaming surface call (`accept: text/event-stream`; the body must ask for a stream):
    /// retried only until the response headers arrive; the server-sent events are decoded one at
    /// a time as they arrive (never buffered), the stream timeout bounding every silence.
    pub async fn call_surface_stream(
        &self,
        target: &Target,
        op: SurfaceOp,
        body: Bytes,
        extra_headers: &HeaderMap,
    ) -> Result<EventStream, BedrockError> {
        let (url, fixed) = target.surface_endpoint(op, true)?;
        let headers = Headers {
            extra: extra_headers,
            fixed: Some(fixed),
            accept_json: false,
        };
        self.open_stream(target, Outgoing::post(url, headers, body), Framing::Sse)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ClientOptions, EnvSource, TargetSpec};
    use shale_core::surface::{ApiSet, OpenAiBase};

    fn client(env: &[(&str, &str)]) -> BedrockClient {
        let dir = std::env::temp_dir();
        BedrockClient::new(ClientOptions {
            env: EnvSource::from_pairs(env.iter().copied()),
            aws_config_file: Some(dir.join("shale-bedrock-no-such-config")),
            aws_credentials_file: Some(dir.join("shale-bedrock-no-such-credentials")),
            ..ClientOptions::default()
        })
        .unwrap()
    }

    fn spec(host: Host, apis: &[WireApi], base: OpenAiBase) -> TargetSpec {
        TargetSpec {
            deployment: "model_list[0] (m)".into(),
            model_id: "openai.gpt-oss-120b".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            surface: Some(SurfaceSpec {
                host,
                apis: ApiSet::of(apis),
                openai_base: base,
                project_id: Some("proj_abc".into()),
            }),
            ..TargetSpec::default()
        }
    }

    #[tokio::test]
    async fn mantle_targets_have_their_urls_region_and_signer() {
        let c = client(&[]);
        let t = c
            .target(spec(
                Host::Mantle,
                &[WireApi::Chat, WireApi::Responses, WireApi::Messages],
                OpenAiBase::V1,
            ))
            .await
            .unwrap();
        // LiteLLM's Mantle default Region.
        assert_eq!(t.region(), "us-east-1");
        assert_eq!(t.surface_host(), Some(Host::Mantle));
        let url = |op| t.surface_url(op).map(|u: &url::Url| u.as_str().to_owned());
        assert_eq!(
            url(SurfaceOp::Chat).as_deref(),
            Some("https://bedrock-mantle.us-east-1.api.aws/v1/chat/completions")
        );
        assert_eq!(
            url(SurfaceOp::Responses).as_deref(),
            Some("https://bedrock-mantle.us-east-1.api.aws/v1/responses")
        );
        assert_eq!(
            url(SurfaceOp::CountTokens).as_deref(),
            Some("https://bedrock-mantle.us-east-1.api.aws/anthropic/v1/messages/count_tokens")
        );
        assert!(format!("{:?}", t.0.signer).contains("bedrock-mantle"));
        let s = t.0.surface.as_ref().unwrap();
        assert_eq!(
            s.fixed(SurfaceOp::Chat, false)["openai-project"],
            "proj_abc"
        );
        assert_eq!(
            s.fixed(SurfaceOp::Chat, true)["accept"],
            "text/event-stream"
        );
        assert_eq!(
            s.fixed(SurfaceOp::Messages, false)["anthropic-version"],
            "2023-06-01"
        );
        assert_eq!(
            s.fixed(SurfaceOp::Messages, false)["anthropic-workspace-id"],
            "proj_abc"
        );

        // An API the deployment is not called with is a configuration error, not a request.
        let only_responses = c
            .target(spec(
                Host::Mantle,
                &[WireApi::Responses],
                OpenAiBase::OpenAiV1,
            ))
            .await
            .unwrap();
        assert!(only_responses.surface_url(SurfaceOp::Chat).is_none());
        assert_eq!(
            only_responses
                .surface_url(SurfaceOp::Responses)
                .unwrap()
                .as_str(),
            "https://bedrock-mantle.us-east-1.api.aws/openai/v1/responses"
        );
    }

    #[tokio::test]
    async fn regions_without_mantle_need_an_endpoint() {
        let c = client(&[("AWS_REGION", "us-west-1")]);
        let err = c
            .target(spec(Host::Mantle, &[WireApi::Chat], OpenAiBase::V1))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("us-west-1 has no bedrock-mantle endpoint"),
            "{err}"
        );
        let mut with_base = spec(Host::Mantle, &[WireApi::Chat], OpenAiBase::V1);
        with_base.api_base = Some("http://127.0.0.1:9/v1".into());
        let t = c.target(with_base).await.unwrap();
        assert_eq!(
            t.surface_url(SurfaceOp::Chat).unwrap().as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
    }

    #[tokio::test]
    async fn runtime_openai_targets_sign_as_bedrock_and_take_mantle_keys_only_on_mantle() {
        let c = client(&[("BEDROCK_MANTLE_API_KEY", "mantle-key")]);
        let mut s = spec(
            Host::Runtime,
            &[WireApi::Chat, WireApi::Responses],
            OpenAiBase::OpenAiV1,
        );
        s.region = Some("us-west-2".into());
        s.access_key_id = None;
        s.secret_access_key = None;
        let t = c.target(s.clone()).await.unwrap();
        assert_eq!(
            t.surface_url(SurfaceOp::Chat).unwrap().as_str(),
            "https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1/chat/completions"
        );
        assert!(!format!("{:?}", t.0.signer).contains("bedrock-mantle"));
        assert!(!t.uses_bearer());
        s.surface.as_mut().unwrap().host = Host::Mantle;
        assert!(c.target(s).await.unwrap().uses_bearer());
    }
}
