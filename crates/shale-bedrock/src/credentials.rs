//! Per-deployment credentials: which source applies (bearer key, web identity, AssumeRole,
//! profile, static keys, default chain), the `aws-config` providers behind them, and a
//! single-flight cache that refreshes temporary credentials before they expire.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// The `ProfileFiles` aliases are what the aws-config builders take; their replacement type lives
// in `aws-runtime`, which this crate does not depend on.
#[allow(deprecated)]
use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::error::BedrockError;
use crate::spec::{ClientOptions, EnvSource, TargetSpec};
use shale_core::Secret;

/// How a deployment authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthChoice {
    /// `Authorization: Bearer`; `sigv4` serves the operations that need SigV4 (rerank, raw).
    Bearer {
        /// The Bedrock API key.
        token: Secret,
        /// SigV4 source for rerank / pass-through.
        sigv4: SigV4Choice,
    },
    /// SigV4 with credentials from this source.
    SigV4(SigV4Choice),
}

/// Where SigV4 credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigV4Choice {
    /// STS AssumeRoleWithWebIdentity with `aws_web_identity_token` + `aws_role_name`.
    WebIdentity {
        /// OIDC token, or an absolute path to a file holding it.
        token: Secret,
        /// Role ARN.
        role_arn: String,
    },
    /// STS AssumeRole of `aws_role_name`, authorised by `source`.
    AssumeRole {
        /// Role ARN.
        role_arn: String,
        /// The credentials that call STS.
        source: Box<SigV4Choice>,
    },
    /// A named profile of the shared config/credentials files.
    Profile(String),
    /// Given access key, secret key and optional session token.
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: Secret,
        /// Session token of temporary keys.
        session_token: Option<Secret>,
    },
    /// The `aws-config` default chain (env, profile, web identity env, ECS, IMDS).
    DefaultChain,
}

impl SigV4Choice {
    /// Short description for logs and errors (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Self::WebIdentity { role_arn, .. } => format!("web identity role {role_arn}"),
            Self::AssumeRole { role_arn, source } => {
                format!("role {role_arn} assumed with {}", source.describe())
            }
            Self::Profile(name) => format!("profile {name:?}"),
            Self::Static { .. } => "static access keys".to_owned(),
            Self::DefaultChain => "the default AWS credential chain".to_owned(),
        }
    }
}

/// Picks the credential source of a deployment, first that applies: `api_key` /
/// `AWS_BEARER_TOKEN_BEDROCK` → bearer; web identity token + role → web identity; role →
/// AssumeRole (from the given keys, else the profile, else the default chain); profile; keys;
/// default chain.
pub fn choose(spec: &TargetSpec, env: &EnvSource) -> Result<AuthChoice, BedrockError> {
    let sigv4 = choose_sigv4(spec)?;
    let bearer = non_empty_secret(spec.api_key.as_ref())
        .cloned()
        .or_else(|| env.get("AWS_BEARER_TOKEN_BEDROCK").map(Secret::from));
    Ok(match bearer {
        Some(token) => AuthChoice::Bearer { token, sigv4 },
        None => AuthChoice::SigV4(sigv4),
    })
}

fn choose_sigv4(spec: &TargetSpec) -> Result<SigV4Choice, BedrockError> {
    let keys = static_keys(spec)?;
    let role = non_empty(spec.role_name.as_deref());
    let profile = non_empty(spec.profile_name.as_deref());
    let web_token = non_empty_secret(spec.web_identity_token.as_ref());
    if let Some(token) = web_token {
        let role_arn = role.ok_or_else(|| {
            BedrockError::Config(format!(
                "deployment {}: aws_web_identity_token needs aws_role_name (the role ARN to assume)",
                spec.deployment
            ))
        })?;
        return Ok(SigV4Choice::WebIdentity {
            token: token.clone(),
            role_arn: role_arn.to_owned(),
        });
    }
    if let Some(role_arn) = role {
        let source = match (keys, profile) {
            (Some(keys), _) => keys,
            (None, Some(profile)) => SigV4Choice::Profile(profile.to_owned()),
            (None, None) => SigV4Choice::DefaultChain,
        };
        return Ok(SigV4Choice::AssumeRole {
            role_arn: role_arn.to_owned(),
            source: Box::new(source),
        });
    }
    if let Some(profile) = profile {
        return Ok(SigV4Choice::Profile(profile.to_owned()));
    }
    Ok(keys.unwrap_or(SigV4Choice::DefaultChain))
}

fn static_keys(spec: &TargetSpec) -> Result<Option<SigV4Choice>, BedrockError> {
    let id = non_empty(spec.access_key_id.as_deref());
    let secret = non_empty_secret(spec.secret_access_key.as_ref());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some(SigV4Choice::Static {
            access_key_id: id.to_owned(),
            secret_access_key: secret.clone(),
            session_token: non_empty_secret(spec.session_token.as_ref()).cloned(),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(BedrockError::Config(format!(
            "deployment {}: aws_access_key_id is set but aws_secret_access_key is missing",
            spec.deployment
        ))),
        (None, Some(_)) => Err(BedrockError::Config(format!(
            "deployment {}: aws_secret_access_key is set but aws_access_key_id is missing",
            spec.deployment
        ))),
    }
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn non_empty_secret(v: Option<&Secret>) -> Option<&Secret> {
    v.filter(|s| !s.expose().trim().is_empty())
}

/// The parts of a deployment, other than its choice, that shape its providers.
pub(crate) struct BuildContext<'a> {
    pub region: &'a str,
    pub sts_endpoint: Option<&'a str>,
    pub session_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub session_tags: &'a [(String, String)],
    pub session_duration: Option<Duration>,
    pub options: &'a ClientOptions,
}

/// Shared profile files from the client options (None: the aws-config defaults).
#[allow(deprecated)]
pub(crate) fn profile_files(options: &ClientOptions) -> Option<ProfileFiles> {
    if options.aws_config_file.is_none() && options.aws_credentials_file.is_none() {
        return None;
    }
    let mut builder = ProfileFiles::builder();
    for (path, kind) in [
        (&options.aws_config_file, ProfileFileKind::Config),
        (&options.aws_credentials_file, ProfileFileKind::Credentials),
    ] {
        builder = match path {
            // A missing file counts as empty, as the default locations do.
            Some(path) if !path.exists() => builder.with_contents(kind, ""),
            Some(path) => builder.with_file(kind, path),
            None if matches!(kind, ProfileFileKind::Config) => {
                builder.include_default_config_file(true)
            }
            None => builder.include_default_credentials_file(true),
        };
    }
    Some(builder.build())
}

/// An `SdkConfig` for the STS / SSO calls of one region (and STS endpoint override).
async fn sdk_config(
    ctx: &BuildContext<'_>,
    credentials: Option<SharedCredentialsProvider>,
    no_credentials: bool,
) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(ctx.region.to_owned()));
    if let Some(files) = profile_files(ctx.options) {
        loader = loader.profile_files(files);
    }
    if let Some(endpoint) = ctx.sts_endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(provider) = credentials {
        loader = loader.credentials_provider(provider);
    } else if no_credentials {
        loader = loader.no_credentials();
    }
    loader.load().await
}

fn default_session_name() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("shale-{secs}")
}

/// Builds the `aws-config` provider for a SigV4 source (nothing is fetched yet).
pub(crate) async fn build_provider(
    choice: &SigV4Choice,
    ctx: &BuildContext<'_>,
) -> SharedCredentialsProvider {
    match choice {
        SigV4Choice::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => SharedCredentialsProvider::new(Credentials::new(
            access_key_id.clone(),
            secret_access_key.expose().to_owned(),
            session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "shale-static",
        )),
        SigV4Choice::Profile(name) => {
            let config = ProviderConfig::without_region()
                .with_region(Some(Region::new(ctx.region.to_owned())));
            let mut builder = ProfileFileCredentialsProvider::builder()
                .configure(&config)
                .profile_name(name);
            if let Some(files) = profile_files(ctx.options) {
                builder = builder.profile_files(files);
            }
            SharedCredentialsProvider::new(builder.build())
        }
        SigV4Choice::DefaultChain => sdk_config(ctx, None, false)
            .await
            .credentials_provider()
            .unwrap_or_else(|| SharedCredentialsProvider::new(NoCredentials)),
        SigV4Choice::AssumeRole { role_arn, source } => {
            let mut builder = AssumeRoleProvider::builder(role_arn.clone()).session_name(
                ctx.session_name
                    .map(str::to_owned)
                    .unwrap_or_else(default_session_name),
            );
            if let Some(id) = ctx.external_id {
                builder = builder.external_id(id);
            }
            if !ctx.session_tags.is_empty() {
                builder = builder.tags(ctx.session_tags.iter().cloned());
            }
            if let Some(d) = ctx.session_duration {
                builder = builder.session_length(d);
            }
            let source_provider = match source.as_ref() {
                SigV4Choice::DefaultChain => None,
                other => Some(Box::pin(build_provider(other, ctx)).await),
            };
            let conf = sdk_config(ctx, source_provider, false).await;
            SharedCredentialsProvider::new(builder.configure(&conf).build().await)
        }
        SigV4Choice::WebIdentity { token, role_arn } => {
            let conf = sdk_config(ctx, None, true).await;
            SharedCredentialsProvider::new(WebIdentityProvider {
                sts: aws_sdk_sts::Client::new(&conf),
                role_arn: role_arn.clone(),
                session_name: ctx
                    .session_name
                    .map(str::to_owned)
                    .unwrap_or_else(default_session_name),
                token: token.clone(),
                duration: ctx.session_duration,
            })
        }
    }
}

/// A provider that never has credentials (the default chain could not be built).
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no credential provider is configured",
        )))
    }
}

/// STS AssumeRoleWithWebIdentity with a token given in the config (or read from a file).
#[derive(Debug)]
struct WebIdentityProvider {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_name: String,
    token: Secret,
    duration: Option<Duration>,
}

impl WebIdentityProvider {
    async fn token(&self) -> Result<String, CredentialsError> {
        let raw = self.token.expose().trim();
        if !raw.starts_with('/') {
            return Ok(raw.to_owned());
        }
        let text = tokio::fs::read_to_string(raw).await.map_err(|e| {
            CredentialsError::provider_error(format!(
                "cannot read the web identity token file {raw}: {e}"
            ))
        })?;
        Ok(text.trim().to_owned())
    }

    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let token = self.token().await?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(token)
            .set_duration_seconds(
                self.duration
                    .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
            )
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(format!(
                    "STS AssumeRoleWithWebIdentity for {} failed: {}",
                    self.role_arn,
                    DisplayErrorContext(&e)
                ))
            })?;
        let creds = out.credentials().ok_or_else(|| {
            CredentialsError::provider_error(
                "STS AssumeRoleWithWebIdentity returned no credentials",
            )
        })?;
        Ok(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            SystemTime::try_from(*creds.expiration()).ok(),
            "WebIdentityToken",
        ))
    }
}

impl ProvideCredentials for WebIdentityProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
    }
}

#[derive(Clone)]
struct Cached {
    creds: Credentials,
    /// From this time on, a refresh is started (credentials still usable).
    refresh_at: Option<SystemTime>,
    /// From this time on, the credentials are not used any more.
    unusable_at: Option<SystemTime>,
}

/// Single-flight cache over a credentials provider.
///
/// Fresh credentials are returned from a read lock. When they are due for refresh but still
/// valid, one background task refreshes them and callers keep using the current ones. When they
/// have expired (or were never fetched), callers queue on one mutex and a single fetch serves all.
pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    state: RwLock<Option<Cached>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
    timeout: Duration,
    source: String,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Longest margin before expiry at which a refresh starts.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Longest margin before expiry at which credentials stop being used.
const MAX_EXPIRY_SKEW: Duration = Duration::from_secs(10);

impl CredentialCache {
    /// A cache over `provider`; `source` describes it in errors and logs.
    pub fn new(provider: SharedCredentialsProvider, timeout: Duration, source: String) -> Self {
        Self {
            provider,
            state: RwLock::new(None),
            refresh: Arc::new(tokio::sync::Mutex::new(())),
            timeout,
            source,
        }
    }

    /// Description of the source (no secrets).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn current(&self) -> Option<Cached> {
        self.state.read().ok().and_then(|s| s.clone())
    }

    /// Credentials for one request of `deployment`.
    pub async fn get(self: &Arc<Self>, deployment: &str) -> Result<Credentials, BedrockError> {
        let now = SystemTime::now();
        if let Some(cached) = self.current() {
            let usable = cached.unusable_at.is_none_or(|t| now < t);
            let due = cached.refresh_at.is_some_and(|t| now >= t);
            if usable && !due {
                return Ok(cached.creds);
            }
            if usable {
                if let Ok(guard) = self.refresh.clone().try_lock_owned() {
                    let this = Arc::clone(self);
                    let deployment = deployment.to_owned();
                    tokio::spawn(async move {
                        let _guard = guard;
                        if let Err(e) = this.fetch(&deployment).await {
                            tracing::warn!(deployment = %deployment, error = %e, "background credential refresh failed; using the current credentials until they expire");
                        }
                    });
                }
                return Ok(cached.creds);
            }
        }
        let _guard = self.refresh.lock().await;
        if let Some(cached) = self.current() {
            if cached.unusable_at.is_none_or(|t| SystemTime::now() < t) {
                return Ok(cached.creds);
            }
        }
        self.fetch(deployment).await
    }

    async fn fetch(&self, deployment: &str) -> Result<Credentials, BedrockError> {
        let started = SystemTime::now();
        let result = tokio::time::timeout(self.timeout, self.provider.provide_credentials()).await;
        let creds = match result {
            Ok(Ok(creds)) => creds,
            Ok(Err(e)) => {
                return Err(BedrockError::Credentials {
                    deployment: deployment.to_owned(),
                    message: format!("{}: {}", self.source, DisplayErrorContext(&e)),
                })
            }
            Err(_) => {
                return Err(BedrockError::Credentials {
                    deployment: deployment.to_owned(),
                    message: format!("{}: no answer within {:?}", self.source, self.timeout),
                })
            }
        };
        let (refresh_at, unusable_at) = match creds.expiry() {
            None => (None, None),
            Some(expiry) => {
                let lifetime = expiry.duration_since(started).unwrap_or_default();
                let margin = (lifetime / 2).min(MAX_REFRESH_MARGIN);
                let skew = (lifetime / 10).min(MAX_EXPIRY_SKEW);
                (Some(expiry - margin), Some(expiry - skew))
            }
        };
        tracing::debug!(deployment = %deployment, source = %self.source, expires = ?creds.expiry(), "fetched AWS credentials");
        if let Ok(mut state) = self.state.write() {
            *state = Some(Cached {
                creds: creds.clone(),
                refresh_at,
                unusable_at,
            });
        }
        Ok(creds)
    }
}

/// Region and STS endpoint override: what distinguishes two default chains.
type ChainKey = (String, Option<String>);

/// Default-chain caches shared by all deployments of a region (and STS endpoint override).
#[derive(Default)]
pub(crate) struct DefaultChains {
    by_region: tokio::sync::Mutex<HashMap<ChainKey, Arc<CredentialCache>>>,
}

impl DefaultChains {
    pub(crate) async fn get(&self, ctx: &BuildContext<'_>) -> Arc<CredentialCache> {
        let key = (ctx.region.to_owned(), ctx.sts_endpoint.map(str::to_owned));
        let mut map = self.by_region.lock().await;
        if let Some(cache) = map.get(&key) {
            return Arc::clone(cache);
        }
        let provider = build_provider(&SigV4Choice::DefaultChain, ctx).await;
        let cache = Arc::new(CredentialCache::new(
            provider,
            ctx.options.credentials_timeout,
            SigV4Choice::DefaultChain.describe(),
        ));
        map.insert(key, Arc::clone(&cache));
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn spec() -> TargetSpec {
        TargetSpec {
            deployment: "d".into(),
            model_id: "m".into(),
            ..TargetSpec::default()
        }
    }

    fn empty_env() -> EnvSource {
        EnvSource::from_pairs::<&str, &str>([])
    }

    #[test]
    fn bearer_wins_and_keeps_a_sigv4_fallback() {
        let mut s = spec();
        s.api_key = Some("bedrock-api-key-EXAMPLE".into());
        s.access_key_id = Some("AKID".into());
        s.secret_access_key = Some("SECRET".into());
        match choose(&s, &empty_env()).unwrap() {
            AuthChoice::Bearer { token, sigv4 } => {
                assert_eq!(token.expose(), "bedrock-api-key-EXAMPLE");
                assert!(matches!(sigv4, SigV4Choice::Static { .. }));
            }
            other => panic!("{other:?}"),
        }
        let env = EnvSource::from_pairs([("AWS_BEARER_TOKEN_BEDROCK", "ABSKenv")]);
        match choose(&spec(), &env).unwrap() {
            AuthChoice::Bearer { token, sigv4 } => {
                assert_eq!(token.expose(), "ABSKenv");
                assert_eq!(sigv4, SigV4Choice::DefaultChain);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sigv4_precedence() {
        let env = empty_env();
        let mut s = spec();
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::DefaultChain)
        );
        s.access_key_id = Some("AKID".into());
        s.secret_access_key = Some("SECRET".into());
        s.session_token = Some("TOKEN".into());
        let keys = SigV4Choice::Static {
            access_key_id: "AKID".into(),
            secret_access_key: "SECRET".into(),
            session_token: Some("TOKEN".into()),
        };
        assert_eq!(choose(&s, &env).unwrap(), AuthChoice::SigV4(keys.clone()));
        s.profile_name = Some("dev".into());
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::Profile("dev".into()))
        );
        s.role_name = Some("arn:aws:iam::1:role/r".into());
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::AssumeRole {
                role_arn: "arn:aws:iam::1:role/r".into(),
                source: Box::new(keys),
            })
        );
        s.access_key_id = None;
        s.secret_access_key = None;
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::AssumeRole {
                role_arn: "arn:aws:iam::1:role/r".into(),
                source: Box::new(SigV4Choice::Profile("dev".into())),
            })
        );
        s.profile_name = None;
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::AssumeRole {
                role_arn: "arn:aws:iam::1:role/r".into(),
                source: Box::new(SigV4Choice::DefaultChain),
            })
        );
        s.web_identity_token = Some("eyJ.jwt".into());
        assert_eq!(
            choose(&s, &env).unwrap(),
            AuthChoice::SigV4(SigV4Choice::WebIdentity {
                token: "eyJ.jwt".into(),
                role_arn: "arn:aws:iam::1:role/r".into(),
            })
        );
    }

    #[test]
    fn incomplete_settings_are_config_errors() {
        let env = empty_env();
        let mut s = spec();
        s.access_key_id = Some("AKID".into());
        assert!(matches!(choose(&s, &env), Err(BedrockError::Config(_))));
        let mut s = spec();
        s.secret_access_key = Some("x".into());
        assert!(matches!(choose(&s, &env), Err(BedrockError::Config(_))));
        let mut s = spec();
        s.web_identity_token = Some("jwt".into());
        let err = choose(&s, &env).unwrap_err();
        assert!(err.to_string().contains("aws_role_name"), "{err}");
    }

    #[test]
    fn empty_strings_count_as_unset() {
        let mut s = spec();
        s.api_key = Some("".into());
        s.access_key_id = Some(" ".into());
        s.role_name = Some("".into());
        assert_eq!(
            choose(&s, &empty_env()).unwrap(),
            AuthChoice::SigV4(SigV4Choice::DefaultChain)
        );
    }

    /// Counts fetches; each answer expires `lifetime` after it was made.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
        delay: Duration,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::new(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(self.delay).await;
                if self.fail {
                    return Err(CredentialsError::not_loaded("nothing here"));
                }
                Ok(Credentials::new(
                    format!("AKID{n}"),
                    "secret",
                    None,
                    self.lifetime.map(|l| SystemTime::now() + l),
                    "test",
                ))
            })
        }
    }

    fn cache(
        lifetime: Option<Duration>,
        delay: Duration,
        fail: bool,
    ) -> (Arc<CredentialCache>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            lifetime,
            delay,
            fail,
        });
        (
            Arc::new(CredentialCache::new(
                provider,
                Duration::from_secs(5),
                "test source".into(),
            )),
            calls,
        )
    }

    #[tokio::test]
    async fn many_waiters_share_one_fetch() {
        let (cache, calls) = cache(
            Some(Duration::from_secs(3600)),
            Duration::from_millis(50),
            false,
        );
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("d").await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().access_key_id(), "AKID1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn static_credentials_are_fetched_once() {
        let (cache, calls) = cache(None, Duration::ZERO, false);
        for _ in 0..5 {
            cache.get("d").await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_credentials_are_refreshed() {
        let (cache, calls) = cache(Some(Duration::from_millis(400)), Duration::ZERO, false);
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refresh_starts_before_expiry_in_the_background() {
        let (cache, calls) = cache(
            Some(Duration::from_secs(2)),
            Duration::from_millis(20),
            false,
        );
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        // Past the refresh point (half the lifetime), before expiry: still served, refresh starts.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_name_the_deployment() {
        let (cache, _) = cache(None, Duration::ZERO, true);
        let err = cache.get("model_list[3] (titan)").await.unwrap_err();
        match &err {
            BedrockError::Credentials {
                deployment,
                message,
            } => {
                assert_eq!(deployment, "model_list[3] (titan)");
                assert!(message.contains("test source"), "{message}");
                assert!(message.contains("nothing here"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn fetch_timeout_is_an_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls,
            lifetime: None,
            delay: Duration::from_secs(10),
            fail: false,
        });
        let cache = Arc::new(CredentialCache::new(
            provider,
            Duration::from_millis(50),
            "slow".into(),
        ));
        let err = cache.get("d").await.unwrap_err();
        assert!(err.to_string().contains("no answer within"), "{err}");
    }
}
