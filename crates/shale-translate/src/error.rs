//! Errors returned by the translators: bad client input (→ HTTP 400) or an upstream body that
//! does not parse (→ HTTP 502).

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

    /// The HTTP status the server should answer with.
    pub fn status(&self) -> u16 {
        match self {
            TranslateError::InvalidRequest { .. } => 400,
            TranslateError::InvalidUpstream(_) => 502,
        }
    }

    /// The OpenAI error body `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_json(&self) -> serde_json::Value {
        match self {
            TranslateError::InvalidRequest {
                message,
                param,
                code,
            } => serde_json::json!({"error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }}),
            TranslateError::InvalidUpstream(m) => serde_json::json!({"error": {
                "message": format!("invalid response from Bedrock: {m}"),
                "type": "api_error",
                "param": null,
                "code": "bad_gateway",
            }}),
        }
    }
}
