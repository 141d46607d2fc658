//! bedrock-runtime `ApplyGuardrail`: `POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply`
//! (SigV4 service `bedrock`, or a Bedrock API key as `Authorization: Bearer`). A
//! [`GuardrailTarget`] is resolved once at config load like a deployment's [`Target`] — region,
//! endpoint, every credential source, its own timeout and retries — plus the precomputed apply
//! URL; [`BedrockClient::apply_guardrail`] sends one call through the client's retry loop.
//!
//! Must not: know the request or response body (that is `shale-guardrails`), or decide what a
//! failure means for the gateway's request (fail closed or open is the caller's policy).

use bytes::Bytes;
use url::Url;

use crate::client::{AuthMode, BedrockClient};
use crate::error::BedrockError;
use crate::resolve::encode_model_id;
use crate::spec::TargetSpec;
use crate::target::{Endpoint, Target};

/// One guardrail's resolved target: where and how to call ApplyGuardrail. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GuardrailTarget {
    pub(crate) target: Target,
    pub(crate) url: Endpoint,
}

impl GuardrailTarget {
    /// The ApplyGuardrail URL (identifier percent-encoded as one path segment).
    pub fn url(&self) -> &Url {
        &self.url.url
    }

    /// The resolved target (region, endpoint, credentials, timeout).
    pub fn target(&self) -> &Target {
        &self.target
    }
}

impl BedrockClient {
    /// Resolves a guardrail at config load. `spec.deployment` names it in errors (e.g.
    /// `guardrails[0] (pii-guard)`); its `model_id` is ignored (the identifier takes its place, so
    /// a guardrail ARN also gives the region); `timeout` and `num_retries` are the guardrail's.
    pub async fn guardrail_target(
        &self,
        spec: TargetSpec,
        identifier: &str,
        version: &str,
    ) -> Result<GuardrailTarget, BedrockError> {
        let identifier = identifier.trim();
        let version = version.trim();
        if identifier.is_empty() || version.is_empty() {
            return Err(BedrockError::Config(format!(
                "guardrail {}: guardrailIdentifier and guardrailVersion are required",
                spec.deployment
            )));
        }
        let target = self
            .target(TargetSpec {
                model_id: identifier.to_owned(),
                converse_like: false,
                ..spec
            })
            .await?;
        let raw = format!(
            "{}/guardrail/{}/version/{}/apply",
            target.runtime_endpoint(),
            encode_model_id(identifier),
            encode_model_id(version),
        );
        let invalid = |e: &dyn std::fmt::Display| {
            BedrockError::Config(format!(
                "guardrail {}: invalid URL {raw}: {e}",
                target.deployment()
            ))
        };
        let url = Url::parse(&raw).map_err(|e| invalid(&e))?;
        let url = Endpoint::new(url).map_err(|e| invalid(&e))?;
        Ok(GuardrailTarget { target, url })
    }

    /// One ApplyGuardrail call (the JSON body as given), retried per the guardrail's
    /// `num_retries`; the guardrail's timeout covers each attempt. Returns the 2xx answer or the
    /// classified error (throttling, 5xx, unreachable, timeout, access denied …).
    pub async fn apply_guardrail(
        &self,
        guardrail: &GuardrailTarget,
        body: Bytes,
    ) -> Result<crate::BedrockResponse, BedrockError> {
        self.send_json(&guardrail.target, &guardrail.url, body, AuthMode::Target)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ClientOptions, EnvSource};
    use std::time::Duration;

    fn client() -> BedrockClient {
        let dir = std::env::temp_dir();
        BedrockClient::new(ClientOptions {
            env: EnvSource::from_pairs::<&str, &str>([]),
            aws_config_file: Some(dir.join("shale-bedrock-no-such-config")),
            aws_credentials_file: Some(dir.join("shale-bedrock-no-such-credentials")),
            ..ClientOptions::default()
        })
        .unwrap()
    }

    fn spec() -> TargetSpec {
        TargetSpec {
            deployment: "guardrails[0] (pii)".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            timeout: Some(Duration::from_secs(3)),
            num_retries: Some(1),
            ..TargetSpec::default()
        }
    }

    #[tokio::test]
    async fn url_and_region_come_from_the_identifier() {
        let g = client()
            .guardrail_target(
                spec(),
                "arn:aws:bedrock:eu-west-1:123456789012:guardrail/ab12cd",
                "DRAFT",
            )
            .await
            .unwrap();
        assert_eq!(
            g.url().as_str(),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/guardrail/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Aguardrail%2Fab12cd/version/DRAFT/apply"
        );
        assert_eq!(g.target().region(), "eu-west-1");
        assert_eq!(g.target().timeout(), Duration::from_secs(3));
        assert_eq!(g.target().num_retries(), 1);
    }

    #[tokio::test]
    async fn endpoint_override_and_plain_ids() {
        let g = client()
            .guardrail_target(
                TargetSpec {
                    region: Some("us-east-1".into()),
                    runtime_endpoint: Some("http://127.0.0.1:4010".into()),
                    ..spec()
                },
                "ff6ujrregl1q",
                "3",
            )
            .await
            .unwrap();
        assert_eq!(
            g.url().as_str(),
            "http://127.0.0.1:4010/guardrail/ff6ujrregl1q/version/3/apply"
        );
        let err = client()
            .guardrail_target(spec(), " ", "1")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("guardrails[0] (pii)"), "{err}");
    }
}
