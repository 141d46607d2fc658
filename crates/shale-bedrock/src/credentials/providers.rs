//! The `aws-config` credential providers behind each source: profiles (static, role, SSO,
//! `credential_process`), AssumeRole, web identity (a token from config or a file), static keys
//! and the default chain — built once per deployment, never fetched here.
//!
//! Must not: cache or refresh credentials (see `cache.rs`) or decide which source applies
//! (see `mod.rs`).

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

use super::SigV4Choice;
use crate::spec::ClientOptions;
use shale_core::Secret;

/// The parts of a deployment, other than its choice, that shape its providers.
#[derive(Clone)]
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
