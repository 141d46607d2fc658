//! OpenAI chat ⇄ Bedrock Converse: request body, response body and stream events.
//!
//! Request rules ([`chat_to_converse`]), following LiteLLM's Bedrock provider and fixing its
//! known gaps:
//! - Leading `system`/`developer` messages → `system` blocks; later ones become user content.
//!   Same-role neighbours merge; `tool` results merge into one user turn; with `modify_params` or
//!   `user_continue_message` a conversation that does not start with a user turn gets one. A
//!   final assistant message is a prefill (trailing whitespace trimmed for Claude).
//! - Parts: text, `guarded_text` (→ `guardContent`), images / documents / videos from data URLs,
//!   pre-fetched http(s) URLs or `s3://` URIs; document names are content hashes, unique per
//!   request; a user turn with documents but no text gets a `"."` text block. `cache_control`
//!   anywhere → a following `cachePoint` (only for models with prompt caching).
//! - Tools: names sanitised (originals restored in responses), ids sanitised deterministically,
//!   `$ref`s inlined, `tool_choice` auto/required/none/named (unknown name → 400), forced choices
//!   become `auto` with thinking and are dropped for models that cannot force tools; history
//!   with tool blocks but no tools gets a placeholder tool. `parallel_tool_calls: false` →
//!   Anthropic `tool_choice.disable_parallel_tool_use`.
//! - `response_format`: json_schema → native `outputConfig` where [`crate::ModelCaps`] allows,
//!   else the `json_tool_call` tool (forced when possible, otherwise requested by a system
//!   instruction); `json_object` uses the same tool with a free-form object schema.
//! - Reasoning: `reasoning_effort` / `thinking` → Anthropic `thinking` budgets (1024/1024/2048/
//!   4096, minimum 1024, `maxTokens = budget + 4096` when unset, incompatible `temperature`,
//!   `top_p`, `top_k` dropped), `reasoning_effort` for gpt-oss / DeepSeek v3, `reasoningConfig`
//!   for Nova 2, nothing for other families. Signed `thinking_blocks` round-trip.
//! - `max_completion_tokens` (else `max_tokens`) → `maxTokens`; `temperature`, `top_p` → `topP`,
//!   `stop` → `stopSequences`; `top_k` → `additionalModelRequestFields.top_k` (Nova:
//!   `.inferenceConfig.topK`); `service_tier` → `serviceTier` (`auto` → `default`); the
//!   `anthropic-beta` header → `anthropic_beta` (Claude). `guardrailConfig`,
//!   `performanceConfig`, `serviceTier`, `requestMetadata`, `outputConfig`, `promptVariables`
//!   stay top level; other unknown fields go to `additionalModelRequestFields`; OpenAI fields
//!   Bedrock cannot honour are dropped ([`crate::openai::DROPPED_PARAMS`]). Deployment
//!   defaults fill unset fields.
//! - `n` > 1 → 400; `stream_options` is never forwarded.
//!
//! Responses ([`converse_to_chat`], [`ConverseStreamTranslator`]): text, `tool_calls`,
//! `reasoning_content` + `thinking_blocks` (and `<think>` tags split out), the finish-reason table
//! of [`finish_reason`], usage with cache read/write and reasoning tokens, `service_tier`, the
//! guardrail `trace`; streams number tool calls by a running count and end with a `choices: []`
//! usage chunk when `stream_options.include_usage` is set.

mod body;
mod common;
mod params;
mod request;
mod response;
mod stream;
mod tools;

pub use body::{ContentBlock, ConverseBody, InferenceConfig, Message, SystemContent};
pub use common::{finish_reason, usage_from_bedrock, BedrockUsage};
pub(crate) use params::clamp_thinking_budget;
pub use params::{apply_defaults, prepare_request, MIN_THINKING_BUDGET, TOP_LEVEL_FIELDS};
pub use request::chat_to_converse;
pub(crate) use request::unique_document_name;
pub use response::converse_to_chat;
pub use stream::ConverseStreamTranslator;
pub(crate) use tools::{named_choice, parse_choice, Choice};
pub use tools::{JSON_TOOL_INSTRUCTION, JSON_TOOL_NAME, PLACEHOLDER_TOOL_NAME};
