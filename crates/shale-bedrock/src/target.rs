//! Per-deployment Bedrock targets, resolved once at config load: region, endpoints, the
//! precomputed operation URLs (with their SigV4 canonical form), the signer with its cached
//! signing key, and the credential cache ([`Target`], [`BedrockClient::target`]).
//!
//! Must not: send requests to Bedrock (that is `client.rs`); credentials are only *built* here,
//! fetched on first use.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;
use http::HeaderValue;
use url::Url;

use crate::client::{BedrockClient, Operation};
use crate::credentials::{self, AuthChoice, BuildContext, CredentialCache, SigV4Choice};
use crate::error::BedrockError;
use crate::resolve;
use crate::retry::RetryPolicy;
use crate::sign::SIGNING_NAME;
use crate::sigv4::{CanonicalUrl, Signer};
use crate::spec::TargetSpec;
use crate::surface::SurfaceTarget;
use shale_core::surface::{is_mantle_region, Host};

/// A URL the client sends to, with its request URI and SigV4 canonical form computed once.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) url: Url,
    /// The same URL as the request carries it (cloning shares its bytes).
    pub(crate) uri: http::Uri,
    pub(crate) canonical: CanonicalUrl,
}

impl Endpoint {
    /// Fails only for a URL `http::Uri` refuses (the `url` crate's serialisation always parses).
    pub(crate) fn new(url: Url) -> Result<Self, http::uri::InvalidUri> {
        let uri = http::Uri::try_from(url.as_str())?;
        let canonical = CanonicalUrl::from_url(&url);
        Ok(Self {
            url,
            uri,
            canonical,
        })
    }
}

/// One deployment, resolved: region, endpoints, precomputed URLs and its credential cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Target(pub(crate) Arc<TargetInner>);

pub(crate) struct TargetInner {
    pub(crate) deployment: Arc<str>,
    pub(crate) model_id: String,
    pub(crate) region: String,
    pub(crate) runtime_endpoint: String,
    pub(crate) agent_runtime_endpoint: String,
    pub(crate) op_urls: [Endpoint; 5],
    pub(crate) rerank_url: Endpoint,
    pub(crate) converse_like_url: Option<Endpoint>,
    /// For deployments on bedrock-mantle or bedrock-runtime's `/openai/v1`.
    pub(crate) surface: Option<SurfaceTarget>,
    pub(crate) signer: Signer,
    pub(crate) bearer: Option<HeaderValue>,
    pub(crate) sigv4: Arc<CredentialCache>,
    /// False when the SigV4 source is only the default-chain fallback of a bearer deployment.
    pub(crate) sigv4_explicit: bool,
    pub(crate) timeout: Duration,
    pub(crate) stream_timeout: Duration,
    pub(crate) retry: RetryPolicy,
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
        &self.endpoint(op).url
    }
    pub(crate) fn endpoint(&self, op: Operation) -> &Endpoint {
        self.0
            .converse_like_url
            .as_ref()
            .unwrap_or(&self.0.op_urls[op.index()])
    }
    /// The rerank URL (`{agent-runtime endpoint}/rerank`).
    pub fn rerank_url(&self) -> &Url {
        &self.0.rerank_url.url
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

impl BedrockClient {
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
        let mantle = spec
            .surface
            .as_ref()
            .is_some_and(|s| s.host == Host::Mantle);
        let (explicit_region, fallback) = if mantle {
            (
                resolve::mantle_region_before_profile(&spec, env),
                resolve::MANTLE_FALLBACK_REGION,
            )
        } else {
            (
                resolve::region_before_profile(&spec, env),
                resolve::FALLBACK_REGION,
            )
        };
        let region = match explicit_region {
            Some(region) => region,
            None => self
                .profile_region(spec.profile_name.as_deref())
                .await
                .unwrap_or_else(|| fallback.to_owned()),
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
        let surface_base = spec
            .surface
            .as_ref()
            .map(|surface| resolve::surface_base(&spec, surface, env, &region))
            .transpose()
            .map_err(|e| config_err(e.to_string()))?;
        if let Some(base) = surface_base.as_ref().filter(|b| mantle && !b.explicit) {
            if !is_mantle_region(&region) {
                return Err(config_err(format!(
                    "Region {region} has no bedrock-mantle endpoint ({} would not resolve): choose another Region or set api_base",
                    base.root
                )));
            }
        }
        // A surface deployment's base stands in for the runtime endpoint in logs and metrics.
        let runtime = match &surface_base {
            Some(base) => base.root.clone(),
            None => resolve::runtime_endpoint(&endpoints_spec, env, &region)
                .map_err(|e| config_err(e.to_string()))?,
        };
        let agent = resolve::agent_runtime_endpoint(&endpoints_spec, env, &region)
            .map_err(|e| config_err(e.to_string()))?;
        let encoded = resolve::encode_model_id(spec.model_id.trim());
        let parse = |url: String| {
            let parsed =
                Url::parse(&url).map_err(|e| config_err(format!("invalid URL {url}: {e}")))?;
            Endpoint::new(parsed).map_err(|e| config_err(format!("invalid URL {url}: {e}")))
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

        let surface = match (&spec.surface, &surface_base) {
            (Some(surface), Some(base)) => Some(SurfaceTarget::new(surface, base, parse)?),
            _ => None,
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
                other,
            )),
        };

        let timeout = spec.timeout.unwrap_or(options.timeout);
        let stream_timeout = spec
            .stream_timeout
            .or(options.stream_timeout)
            .or(spec.timeout)
            .unwrap_or(options.timeout);
        // bedrock-mantle verifies the payload hash header (openai-go's SigV4 fixture signs it).
        let signer = match surface.as_ref().map(|s| s.host) {
            Some(host) => Signer::new(&region, host.signing_name())
                .with_content_sha256_header(host == Host::Mantle),
            None => Signer::new(&region, SIGNING_NAME),
        };
        let target = Target(Arc::new(TargetInner {
            deployment: Arc::from(spec.deployment.as_str()),
            model_id: spec.model_id.trim().to_owned(),
            region,
            runtime_endpoint: runtime,
            agent_runtime_endpoint: agent,
            op_urls,
            rerank_url,
            converse_like_url,
            surface,
            signer,
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
        tracing::debug!(deployment = %target.deployment(), region = %target.region(), endpoint = %target.runtime_endpoint(), surface = ?target.surface_host(), auth = %target.auth_description(), "resolved Bedrock target");
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ClientOptions, EnvSource};

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
}
