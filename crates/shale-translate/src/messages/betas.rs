//! `anthropic-beta` flags: which ones Bedrock accepts for which Claude model, and the policy that
//! filters a request's flags (the built-in table, plus the operator's `allow` / `deny` lists, or
//! `passthrough`). Bedrock answers "invalid beta flag" for a flag it does not know, which would end
//! a Claude Code session, so unknown flags are dropped (the caller may log them) instead of sent.
//!
//! Must not: log or fail a request because of a flag — the worst outcome of a flag is being dropped.

use crate::caps::{ModelCaps, ModelFamily};

/// Which Claude models a flag is accepted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Models {
    /// Every Claude model.
    AnyClaude,
    /// Claude models with extended thinking (Claude 3.7 Sonnet, every Claude 4+).
    Thinking,
    /// Claude Sonnet 4 and later Sonnets.
    Sonnet4,
}

/// A beta flag Bedrock accepts, the models it applies to, and where that fact comes from.
struct BetaEntry {
    flag: &'static str,
    models: Models,
    #[allow(dead_code)] // documentation: kept next to each entry on purpose
    source: &'static str,
}

const AWS_DOC: &str = "AWS Bedrock user guide, Anthropic Claude Messages API, anthropic_beta (listed in LiteLLM's Bedrock provider doc, shared/reference/litellm-bedrock-provider-doc.md)";
const CLAUDE_CODE_BEDROCK: &str = "sent by Claude Code in its Bedrock mode (CLAUDE_CODE_USE_BEDROCK=1) and accepted by Bedrock (shared/reference/gateway-features.md)";
const CLAUDE_CODE_2_1: &str = "sent to Bedrock by Claude Code 2.1.332 in its Bedrock mode (observed through shale's /bedrock pass-through), so Bedrock accepts it";

/// The flags Bedrock accepts. Everything else is dropped unless allowed by configuration.
const BEDROCK_BETAS: &[BetaEntry] = &[
    BetaEntry {
        flag: "computer-use-2024-10-22",
        models: Models::AnyClaude,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "computer-use-2025-01-24",
        models: Models::AnyClaude,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "token-efficient-tools-2025-02-19",
        models: Models::AnyClaude,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "output-128k-2025-02-19",
        models: Models::Thinking,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "interleaved-thinking-2025-05-14",
        models: Models::Thinking,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "dev-full-thinking-2025-05-14",
        models: Models::Thinking,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "context-1m-2025-08-07",
        models: Models::Sonnet4,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "context-management-2025-06-27",
        models: Models::Thinking,
        source: CLAUDE_CODE_BEDROCK,
    },
    BetaEntry {
        flag: "effort-2025-11-24",
        models: Models::Thinking,
        source: CLAUDE_CODE_BEDROCK,
    },
    BetaEntry {
        flag: "tool-examples-2025-10-29",
        models: Models::Thinking,
        source: AWS_DOC,
    },
    BetaEntry {
        flag: "tool-search-tool-2025-10-19",
        models: Models::Thinking,
        source: CLAUDE_CODE_2_1,
    },
    BetaEntry {
        flag: "thinking-token-count-2026-05-13",
        models: Models::Thinking,
        source: CLAUDE_CODE_2_1,
    },
];

/// The flags of the built-in table (for documentation and `shale check`).
pub fn known_bedrock_betas() -> impl Iterator<Item = &'static str> {
    BEDROCK_BETAS.iter().map(|e| e.flag)
}

fn table_accepts(flag: &str, caps: &ModelCaps) -> bool {
    if caps.family != ModelFamily::Anthropic {
        return false;
    }
    BEDROCK_BETAS
        .iter()
        .find(|e| e.flag == flag)
        .is_some_and(|e| match e.models {
            Models::AnyClaude => true,
            Models::Thinking => caps.supports_thinking,
            Models::Sonnet4 => caps.base_id.contains("claude-sonnet-4"),
        })
}

/// The operator's beta-flag policy (`general_settings.anthropic_beta`), borrowed from the
/// loaded config (building one per request costs nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BetaPolicy<'a> {
    /// Forward every flag (except `deny`) without consulting the table.
    pub passthrough: bool,
    /// Flags forwarded in addition to the table.
    pub allow: &'a [String],
    /// Flags never forwarded.
    pub deny: &'a [String],
}

impl BetaPolicy<'_> {
    /// Whether `flag` goes to Bedrock for a model with `caps`.
    pub fn accepts(&self, flag: &str, caps: &ModelCaps) -> bool {
        if self.deny.iter().any(|d| d == flag) {
            return false;
        }
        self.passthrough || self.allow.iter().any(|a| a == flag) || table_accepts(flag, caps)
    }
}

/// The flags of a request, filtered: `(kept, dropped)`, each without duplicates and in order of
/// appearance. `sources` are comma-separated lists (the `anthropic-beta` header) or single flags.
pub fn filter_betas<'a>(
    sources: impl IntoIterator<Item = &'a str>,
    policy: &BetaPolicy<'_>,
    caps: &ModelCaps,
) -> (Vec<String>, Vec<String>) {
    let mut kept: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for flag in sources
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        if kept.iter().chain(dropped.iter()).any(|k| k == flag) {
            continue;
        }
        if policy.accepts(flag, caps) {
            kept.push(flag.to_owned());
        } else {
            dropped.push(flag.to_owned());
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_per_model() {
        let sonnet45 = ModelCaps::for_model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        let haiku3 = ModelCaps::for_model_id("anthropic.claude-3-haiku-20240307-v1:0");
        let nova = ModelCaps::for_model_id("amazon.nova-pro-v1:0");
        let p = BetaPolicy::default();
        assert!(p.accepts("interleaved-thinking-2025-05-14", &sonnet45));
        assert!(p.accepts("context-1m-2025-08-07", &sonnet45));
        assert!(!p.accepts("interleaved-thinking-2025-05-14", &haiku3));
        assert!(p.accepts("computer-use-2024-10-22", &haiku3));
        assert!(!p.accepts("claude-code-20250219", &sonnet45));
        assert!(!p.accepts("computer-use-2024-10-22", &nova));
    }

    #[test]
    fn policy_allow_deny_passthrough() {
        let caps = ModelCaps::for_model_id("anthropic.claude-sonnet-4-20250514-v1:0");
        let allow = vec!["new-flag-2027-01-01".to_owned()];
        let deny = vec!["context-1m-2025-08-07".to_owned()];
        let p = BetaPolicy {
            passthrough: false,
            allow: &allow,
            deny: &deny,
        };
        assert!(p.accepts("new-flag-2027-01-01", &caps));
        assert!(!p.accepts("context-1m-2025-08-07", &caps));
        let x = vec!["x".to_owned()];
        let all = BetaPolicy {
            passthrough: true,
            deny: &x,
            ..BetaPolicy::default()
        };
        assert!(all.accepts("anything-goes", &caps) && !all.accepts("x", &caps));
    }

    #[test]
    fn filter_splits_dedups_and_reports() {
        let caps = ModelCaps::for_model_id("anthropic.claude-sonnet-4-20250514-v1:0");
        let (kept, dropped) = filter_betas(
            [
                "claude-code-20250219, interleaved-thinking-2025-05-14",
                "interleaved-thinking-2025-05-14",
                "fine-grained-tool-streaming-2025-05-14,,",
            ],
            &BetaPolicy::default(),
            &caps,
        );
        assert_eq!(kept, vec!["interleaved-thinking-2025-05-14"]);
        assert_eq!(
            dropped,
            vec![
                "claude-code-20250219",
                "fine-grained-tool-streaming-2025-05-14"
            ]
        );
    }
}
