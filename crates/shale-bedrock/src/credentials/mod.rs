//! Per-deployment credentials: which source applies (bearer key, web identity, AssumeRole,
//! profile, static keys, default chain) — here —, the `aws-config` providers behind them
//! ([`providers`]), and a single-flight cache that refreshes temporary credentials before they
//! expire ([`cache`]).

mod cache;
mod providers;

pub use cache::CredentialCache;
pub(crate) use cache::DefaultChains;
pub(crate) use providers::{build_provider, profile_files, BuildContext};

use crate::error::BedrockError;
use crate::spec::{EnvSource, TargetSpec};
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
    /// The kind of source, a fixed name (metric label, client error): `web_identity`,
    /// `assume_role`, `profile` (a `credential_process` included), `static` or `default_chain`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WebIdentity { .. } => "web_identity",
            Self::AssumeRole { .. } => "assume_role",
            Self::Profile(_) => "profile",
            Self::Static { .. } => "static",
            Self::DefaultChain => "default_chain",
        }
    }

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
/// (`BEDROCK_MANTLE_API_KEY` on bedrock-mantle) / `AWS_BEARER_TOKEN_BEDROCK` → bearer; web identity token + role → web identity; role →
/// AssumeRole (from the given keys, else the profile, else the default chain); profile; keys;
/// default chain.
pub fn choose(spec: &TargetSpec, env: &EnvSource) -> Result<AuthChoice, BedrockError> {
    let sigv4 = choose_sigv4(spec)?;
    let mantle = spec
        .surface
        .as_ref()
        .is_some_and(|s| s.host == shale_core::surface::Host::Mantle);
    let bearer = non_empty_secret(spec.api_key.as_ref())
        .cloned()
        .or_else(|| {
            mantle
                .then(|| env.get("BEDROCK_MANTLE_API_KEY"))
                .flatten()
                .map(Secret::from)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
