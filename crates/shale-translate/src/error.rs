//! Errors returned by the translators: bad client input (→ HTTP 400) or an upstream body that
//! does not parse (→ HTTP 502), and their client-facing form ([`TranslateError::to_openai`]).

use shale_core::{ErrorType, OpenAiError};

/// What went wrong while translating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request cannot be translated; the server answers 400 with an OpenAI error whose
    /// `param` names the offending field (e.g. `messages[2].content[1].image_url.url`).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// Bedrock answered with something that is not the documented shape.
    #[error("invalid response from Bedrock: {0}")]
    InvalidUpstream(String),
}

impl TranslateError {
    /// An [`TranslateError::InvalidRequest`] naming `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        TranslateError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }

    /// Like [`TranslateError::invalid`] with an OpenAI error `code`.
    pub fn invalid_code(
        param: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        TranslateError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: Some(code),
        }
    }

    /// The error the client receives (HTTP status, OpenAI type, param, code) — the server answers
    /// exactly this, and the golden fixtures check it.
    pub fn to_openai(&self) -> OpenAiError {
        match self {
            TranslateError::InvalidRequest {
                message,
                param,
                code,
            } => OpenAiError::new(400, ErrorType::InvalidRequest, message.as_str())
                .with_param(param.as_deref())
                .with_code(*code),
            TranslateError::InvalidUpstream(message) => OpenAiError::new(
                502,
                ErrorType::Api,
                format!("Bedrock answered with an unexpected body: {message}"),
            )
            .with_code(Some("invalid_upstream_response")),
        }
    }
}
