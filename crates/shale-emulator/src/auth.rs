//! Request authentication like AWS: SigV4 (service `bedrock`, `bedrock-mantle` on bedrock-mantle,
//! or `sts` on the STS endpoint) against the configured or STS-issued keys, and
//! `Authorization: Bearer <api key>` on bedrock-runtime and bedrock-mantle only. Failures carry the exact AWS exception names and messages.

use crate::error::BedrockException;
use crate::sigv4::{self, SigV4Error, SignedRequest};
use crate::state::AppState;
use http::request::Parts;
use std::time::SystemTime;
use subtle::ConstantTimeEq as _;

/// Which AWS endpoint a request hit (decides the signing name and whether bearer keys work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// bedrock-runtime: SigV4 `bedrock` or bearer API key.
    Runtime,
    /// bedrock-agent-runtime: SigV4 `bedrock` only.
    AgentRuntime,
    /// STS: SigV4 `sts`.
    Sts,
    /// bedrock-mantle: SigV4 `bedrock-mantle` or bearer API key.
    Mantle,
}

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// SigV4 signature.
    SigV4,
    /// Bedrock API key.
    Bearer,
    /// Not authenticated (failed or not required).
    None,
}

/// Authentication outcome, as recorded in the request log.
#[derive(Debug, Clone)]
pub struct AuthInfo {
    /// How.
    pub kind: AuthKind,
    /// SigV4 access key id.
    pub access_key_id: Option<String>,
    /// SigV4 scope region.
    pub region: Option<String>,
    /// SigV4 scope service.
    pub service: Option<String>,
}

impl AuthInfo {
    /// No authentication.
    pub fn none() -> Self {
        Self {
            kind: AuthKind::None,
            access_key_id: None,
            region: None,
            service: None,
        }
    }
}

/// Why authentication failed (mapped to AWS exception names per endpoint).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization` header.
    #[error("missing authentication token")]
    Missing,
    /// Bearer key on an endpoint that only accepts SigV4.
    #[error("bearer tokens are not accepted here")]
    BearerNotAllowed,
    /// Unknown API key.
    #[error("invalid API key")]
    BadApiKey,
    /// SigV4 failure.
    #[error(transparent)]
    SigV4(#[from] SigV4Error),
}

const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const BAD_TOKEN: &str = "The security token included in the request is invalid.";

impl AuthFailure {
    /// The Bedrock-style error for this failure.
    pub fn to_api_error(&self) -> BedrockException {
        let (code, message) = self.code_and_message(false);
        BedrockException::new(code, message)
    }

    /// The (code, message) pair; STS uses its own codes for the same failures.
    pub fn code_and_message(&self, sts: bool) -> (&'static str, String) {
        match self {
            AuthFailure::Missing => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".into(),
            ),
            AuthFailure::BearerNotAllowed => (
                if sts { "InvalidClientTokenId" } else { "UnrecognizedClientException" },
                "Authorization header is not a valid SigV4 signature: bearer API keys are not supported by this service.".into(),
            ),
            AuthFailure::BadApiKey => ("UnrecognizedClientException", BAD_TOKEN.into()),
            AuthFailure::SigV4(e) => match e {
                SigV4Error::Malformed(m) => ("IncompleteSignatureException", m.clone()),
                SigV4Error::UnknownKey => (
                    if sts { "InvalidClientTokenId" } else { "UnrecognizedClientException" },
                    BAD_TOKEN.into(),
                ),
                SigV4Error::ExpiredToken => (
                    "ExpiredTokenException",
                    "The security token included in the request is expired".into(),
                ),
                SigV4Error::WrongService { expected } => (
                    if sts { "SignatureDoesNotMatch" } else { "InvalidSignatureException" },
                    format!("Credential should be scoped to correct service: '{expected}'. "),
                ),
                SigV4Error::MissingDate => (
                    "IncompleteSignatureException",
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
                ),
                SigV4Error::Expired(message) => (
                    if sts { "SignatureDoesNotMatch" } else { "InvalidSignatureException" },
                    message.clone(),
                ),
                SigV4Error::Mismatch => (
                    if sts { "SignatureDoesNotMatch" } else { "InvalidSignatureException" },
                    BAD_SIGNATURE.into(),
                ),
            },
        }
    }
}

/// Authenticates a request for `surface`.
pub fn authenticate(
    state: &AppState,
    surface: Surface,
    parts: &Parts,
    body: &[u8],
) -> Result<AuthInfo, AuthFailure> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthFailure::Missing)?;
    if let Some(key) = value.strip_prefix("Bearer ") {
        if !matches!(surface, Surface::Runtime | Surface::Mantle) {
            return Err(AuthFailure::BearerNotAllowed);
        }
        let expected = state.config.api_key.as_bytes();
        if !expected.is_empty() && bool::from(expected.ct_eq(key.trim().as_bytes())) {
            return Ok(AuthInfo {
                kind: AuthKind::Bearer,
                ..AuthInfo::none()
            });
        }
        return Err(AuthFailure::BadApiKey);
    }
    let service = match surface {
        Surface::Sts => "sts",
        Surface::Mantle => "bedrock-mantle",
        Surface::Runtime | Surface::AgentRuntime => "bedrock",
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let request = SignedRequest {
        method: parts.method.as_str(),
        path_and_query,
        headers: &parts.headers,
        body,
    };
    let verified = sigv4::verify(
        &request,
        value,
        service,
        |ak| state.key_material(ak),
        SystemTime::now(),
    )?;
    Ok(AuthInfo {
        kind: AuthKind::SigV4,
        access_key_id: Some(verified.access_key_id),
        region: Some(verified.region),
        service: Some(verified.service),
    })
}
