//! The error type of configuration loading: every variant names where the problem is.

use thiserror::Error;

/// Why a configuration could not be loaded. Messages name the field path (e.g.
/// `model_list[3].litellm_params.aws_secret_access_key`) or the line and column of a syntax error.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid YAML at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid YAML: {message}")]
    SyntaxNoLocation { message: String },
    #[error("environment variable {variable} is not set (referenced by {path})")]
    MissingEnv { variable: String, path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("model_list[{index}] (model_name: {model_name}): {message}")]
    Model {
        index: usize,
        model_name: String,
        message: String,
    },
    /// Any of the errors above that names a field, with where that field is in the file.
    #[error("{source} (line {line}, column {column})")]
    Located {
        line: usize,
        column: usize,
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    pub(crate) fn from_yaml(err: serde_yaml::Error) -> ConfigError {
        let message = err.to_string();
        match err.location() {
            Some(loc) => ConfigError::Syntax {
                line: loc.line(),
                column: loc.column(),
                message: strip_location_suffix(&message),
            },
            None => ConfigError::SyntaxNoLocation { message },
        }
    }
}

/// serde_yaml appends " at line L column C" to its messages; we report the location ourselves.
fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_string(),
        None => message.to_string(),
    }
}
