//! Findings: things a LiteLLM config may contain that shale accepts but ignores or warns about.
//! `shale check` prints them; they never stop the gateway from starting.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A key LiteLLM understands that shale does not act on.
    Ignored,
    /// Something that works but is probably not what the user wants.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Field path, e.g. `litellm_settings.callbacks`.
    pub path: String,
    pub message: String,
}

impl Finding {
    pub fn ignored(path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Ignored,
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Ignored => "ignored",
            Severity::Warning => "warning",
        };
        write!(f, "{label}: {}: {}", self.path, self.message)
    }
}
