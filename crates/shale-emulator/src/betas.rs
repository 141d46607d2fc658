//! The `anthropic_beta` flags the emulated Bedrock accepts, from the emulator's own sources — not
//! from the gateway's table (`shale-translate` `messages/betas.rs`), so that a wrong entry on
//! either side shows up when the gateway is tested against the emulator
//! (`crates/shale/tests/betas_e2e.rs`).
//!
//! Sources:
//! - [`AWS_DOCUMENTED`]: the Amazon Bedrock user guide, "Anthropic Claude Messages API" → "Request
//!   and Response", parameter `anthropic_beta`, table "Available beta headers include the
//!   following" (flag, feature, and the "Compatible with" note, kept as base model id prefixes);
//!   plus `computer-use-2024-10-22`, the value of `anthropic_beta` in the same page's request
//!   syntax.
//! - [`OBSERVED`]: flags the Claude Code release pinned in `tests/claude-code` sends to Bedrock in
//!   its Bedrock mode (`CLAUDE_CODE_USE_BEDROCK=1`) that the guide does not list; Claude Code's
//!   Bedrock mode works against Bedrock with them, so Bedrock accepts them.
//!
//! Any other flag is refused with Bedrock's `invalid beta flag`. Acceptance is per flag: the
//! guide's "Compatible with" notes say which models a feature works with, not that Bedrock
//! refuses the flag elsewhere, so they are data for tests (a gateway must forward a documented
//! flag to the models it is documented for), not a refusal rule.

/// Claude 4 and later (the guide's "Claude 4+"), as base model id prefixes.
const CLAUDE_4_PLUS: &[&str] = &[
    "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4",
    "anthropic.claude-haiku-4",
];
const CLAUDE_3_7_SONNET: &str = "anthropic.claude-3-7-sonnet";
const CLAUDE_SONNET_4: &str = "anthropic.claude-sonnet-4-20250514";
const CLAUDE_SONNET_4_5: &str = "anthropic.claude-sonnet-4-5";
const CLAUDE_HAIKU_4_5: &str = "anthropic.claude-haiku-4-5";
const CLAUDE_OPUS_4_5: &str = "anthropic.claude-opus-4-5";

/// One row of the user guide's beta-header table.
#[derive(Debug, Clone, Copy)]
pub struct DocumentedBeta {
    /// The beta header value, as `anthropic_beta` carries it.
    pub flag: &'static str,
    /// The guide's "Beta feature" column.
    pub feature: &'static str,
    /// The guide's "Compatible with" note, as base model id prefixes (a model id without its
    /// geography prefix starts with one of them); empty when the guide names no model.
    pub compatible: &'static [&'static str],
}

impl DocumentedBeta {
    /// Whether the guide documents this flag for `base_model_id` (e.g.
    /// `anthropic.claude-opus-4-5-20251101-v1:0`).
    pub fn documented_for(&self, base_model_id: &str) -> bool {
        self.compatible
            .iter()
            .any(|prefix| base_model_id.starts_with(prefix))
    }
}

/// The beta headers of the Amazon Bedrock user guide (see the module docs).
pub const AWS_DOCUMENTED: &[DocumentedBeta] = &[
    DocumentedBeta {
        flag: "computer-use-2024-10-22",
        feature: "Computer use (the request syntax's anthropic_beta example)",
        compatible: &[],
    },
    DocumentedBeta {
        flag: "computer-use-2025-01-24",
        feature: "Computer use",
        compatible: &[CLAUDE_3_7_SONNET],
    },
    DocumentedBeta {
        flag: "token-efficient-tools-2025-02-19",
        feature: "Tool use",
        compatible: &[
            CLAUDE_3_7_SONNET,
            "anthropic.claude-sonnet-4",
            "anthropic.claude-opus-4",
            "anthropic.claude-haiku-4",
        ],
    },
    DocumentedBeta {
        flag: "interleaved-thinking-2025-05-14",
        feature: "Interleaved thinking",
        compatible: CLAUDE_4_PLUS,
    },
    DocumentedBeta {
        flag: "output-128k-2025-02-19",
        feature: "Enables output tokens up to 128K",
        compatible: &[CLAUDE_3_7_SONNET],
    },
    DocumentedBeta {
        flag: "dev-full-thinking-2025-05-14",
        feature: "Developer mode for raw thinking on Claude 4+ models",
        compatible: CLAUDE_4_PLUS,
    },
    DocumentedBeta {
        flag: "context-1m-2025-08-07",
        feature: "1 million tokens",
        compatible: &[CLAUDE_SONNET_4],
    },
    DocumentedBeta {
        flag: "context-management-2025-06-27",
        feature: "Context management",
        compatible: &[CLAUDE_SONNET_4_5, CLAUDE_HAIKU_4_5],
    },
    DocumentedBeta {
        flag: "effort-2025-11-24",
        feature: "Effort",
        compatible: &[CLAUDE_OPUS_4_5],
    },
    DocumentedBeta {
        flag: "tool-search-tool-2025-10-19",
        feature: "Tool search tool",
        compatible: &[CLAUDE_OPUS_4_5],
    },
    DocumentedBeta {
        flag: "tool-examples-2025-10-29",
        feature: "Tool use examples",
        compatible: &[CLAUDE_OPUS_4_5],
    },
];

/// Flags Bedrock accepts that the guide does not list (see the module docs).
pub const OBSERVED: &[&str] = &["thinking-token-count-2026-05-13"];

/// Whether the emulated Bedrock accepts `flag` in `anthropic_beta`.
pub fn accepts(flag: &str) -> bool {
    AWS_DOCUMENTED.iter().any(|b| b.flag == flag) || OBSERVED.contains(&flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_and_observed_flags_are_accepted_and_nothing_else() {
        for b in AWS_DOCUMENTED {
            assert!(accepts(b.flag), "{}", b.flag);
        }
        assert!(accepts("thinking-token-count-2026-05-13"));
        // Anthropic-API-only flags Claude Code sends to api.anthropic.com.
        for flag in [
            "claude-code-20250219",
            "oauth-2025-04-20",
            "files-api-2025-04-14",
            "",
        ] {
            assert!(!accepts(flag), "{flag}");
        }
    }

    #[test]
    fn compatibility_notes_name_models_by_base_id() {
        let effort = AWS_DOCUMENTED
            .iter()
            .find(|b| b.flag == "effort-2025-11-24")
            .unwrap();
        assert!(effort.documented_for("anthropic.claude-opus-4-5-20251101-v1:0"));
        assert!(!effort.documented_for("anthropic.claude-sonnet-4-5-20250929-v1:0"));
        let one_m = AWS_DOCUMENTED
            .iter()
            .find(|b| b.flag == "context-1m-2025-08-07")
            .unwrap();
        assert!(one_m.documented_for("anthropic.claude-sonnet-4-20250514-v1:0"));
        assert!(!one_m.documented_for("anthropic.claude-sonnet-4-5-20250929-v1:0"));
    }
}
