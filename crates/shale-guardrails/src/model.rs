//! The runtime model of a guardrail: [`Guardrail`] (its configuration, resolved once at load,
//! with its ApplyGuardrail target), the [`Hook`] it runs at, the [`Source`] it checks and the
//! [`Outcome`] of one check. Plain data: no I/O here.

use shale_bedrock::GuardrailTarget;
use shale_config::{GuardrailConfig, GuardrailMode};
use std::fmt;
use std::sync::Arc;

/// Where in a request a check runs (LiteLLM's modes, plus the admin endpoint's direct call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    PreCall,
    DuringCall,
    PostCall,
    /// `POST /guardrails/apply_guardrail`.
    Apply,
}

impl Hook {
    /// The metric label and the spelling in errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::PreCall => "pre_call",
            Hook::DuringCall => "during_call",
            Hook::PostCall => "post_call",
            Hook::Apply => "apply_guardrail",
        }
    }

    /// What the hook checks: the answer after the call, the input otherwise.
    pub fn source(self) -> Source {
        match self {
            Hook::PostCall => Source::Output,
            _ => Source::Input,
        }
    }
}

impl From<GuardrailMode> for Hook {
    fn from(mode: GuardrailMode) -> Hook {
        match mode {
            GuardrailMode::PreCall => Hook::PreCall,
            GuardrailMode::DuringCall => Hook::DuringCall,
            GuardrailMode::PostCall => Hook::PostCall,
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ApplyGuardrail's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Input,
    Output,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Input => "INPUT",
            Source::Output => "OUTPUT",
        }
    }
}

/// What one check did (the metric's `status` label; never any text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Passed,
    Masked,
    /// ApplyGuardrail failed (unreachable, timeout, 5xx, throttled, refused, bad answer).
    Error,
    Blocked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Masked => "masked",
            Outcome::Error => "error",
            Outcome::Blocked => "blocked",
        }
    }
}

/// One configured guardrail, resolved at load.
#[derive(Debug)]
pub struct Guardrail {
    /// `guardrail_name`, shared with every label and record that names it.
    pub name: Arc<str>,
    pub config: GuardrailConfig,
    pub(crate) target: GuardrailTarget,
}

impl Guardrail {
    /// Whether it runs at `hook` (the direct call runs any guardrail).
    pub fn runs_at(&self, hook: Hook) -> bool {
        match hook {
            Hook::PreCall => self.config.runs_in(GuardrailMode::PreCall),
            Hook::DuringCall => self.config.runs_in(GuardrailMode::DuringCall),
            Hook::PostCall => self.config.runs_in(GuardrailMode::PostCall),
            Hook::Apply => true,
        }
    }

    /// Whether Bedrock's anonymized text may replace the checked text for `source` (unset means
    /// yes; `false` makes an anonymizing verdict a block).
    pub fn may_mask(&self, source: Source) -> bool {
        match source {
            Source::Input => self.config.mask_request_content != Some(false),
            Source::Output => self.config.mask_response_content != Some(false),
        }
    }

    /// The ApplyGuardrail URL it calls (for `/guardrails/list`).
    pub fn url(&self) -> &str {
        self.target.url().as_str()
    }

    /// How it authenticates (no secrets).
    pub fn auth_description(&self) -> String {
        self.target.target().auth_description()
    }
}
