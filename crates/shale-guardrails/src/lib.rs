//! `shale-guardrails`: gateway guardrails on Bedrock `ApplyGuardrail` (LiteLLM's top-level
//! `guardrails:`, issue #29).
//!
//! What it owns:
//! - the runtime model of a guardrail ([`model`]: hooks, sources, outcomes) built from
//!   `shale_config::GuardrailConfig`, and which guardrails run for a request ([`select`]:
//!   `default_on`, the request's `guardrails`, its key's and team's);
//! - the ApplyGuardrail mapping ([`wire`]: request body, answer, pass / mask / block, redacted
//!   assessments) and the text a guardrail sees and where masks go back ([`text`]) — pure;
//! - the streaming post_call window ([`window`], with the chunk kinds in [`chunks`]) — a pure
//!   state machine that never releases unchecked text and never holds the whole answer;
//! - the errors and their client form ([`error`]) and the fail-closed policy with the calls
//!   themselves ([`engine`], through `shale-bedrock`).
//!
//! What it must not do: know HTTP routes, response writers or headers (the server's
//! `guardrail_hooks` module glues this crate into the pipelines), log or return checked text,
//! or let a request through when a guardrail could not decide (unless that guardrail says
//! `fail_open: true`).

#![forbid(unsafe_code)]

pub mod chunks;
pub mod engine;
pub mod error;
pub mod model;
pub mod select;
pub mod text;
pub mod window;
pub mod wire;

pub use engine::{
    anthropic_slots, chat_slots, BuildError, Engine, InputVerdict, Observer, SlotsOf, Unobserved,
    Verdict,
};
pub use error::{Blocked, GuardrailError};
pub use model::{Guardrail, Hook, Outcome, Source};
pub use select::{plan, take_requested, unknown, Plan, Requested, Step};
pub use window::{Window, WindowChunk, WindowSizes};

impl Guardrail {
    /// The streaming post_call window sizes of this guardrail.
    pub fn window_sizes(&self) -> WindowSizes {
        WindowSizes {
            first: self.config.stream_first_window_bytes,
            window: self.config.stream_window_bytes,
            overlap: self.config.stream_overlap_bytes,
        }
    }

    /// Which input text it is sent.
    pub fn input_rules(&self) -> text::InputRules {
        text::InputRules {
            latest_user_only: self.config.latest_message_only,
            skip_system: self.config.skip_system_message,
            skip_tool: self.config.skip_tool_message,
        }
    }
}
