//! OpenAI's built-in tools, as the Responses API (and some chat clients) send them: which ones
//! are *hosted* — run on OpenAI's servers (web search, file search over OpenAI vector stores,
//! the code interpreter, image generation, remote MCP, computer use, hosted tool search), which
//! Bedrock has nothing to run — and which are *client-executed* built-ins (`local_shell`,
//! `shell`, `apply_patch`, `custom`) that a model only uses in OpenAI's own shapes.
//!
//! The gateway drops hosted tools by default (Codex CLI sends `web_search` on every turn; the
//! model answers without it) and reports what it dropped; with
//! `general_settings.drop_hosted_tools: false` it refuses them with [`builtin_tool_error`].
//! Client-executed built-ins are refused unless the caller asked for `drop_params`.
//!
//! Every name reported comes from [`KNOWN`] (or is `other`), so the set of header values and
//! metric labels is bounded whatever the client sends. Must not: allocate per tool on the path
//! where nothing is dropped, or decide policy (the server passes the switches in).

use crate::error::TranslateError;
use crate::openai::Tool;

/// A built-in tool type, and whether OpenAI's servers run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTool {
    /// The `type` the client sends, and the name reported for it.
    pub name: &'static str,
    /// Run by OpenAI (true): nothing on Bedrock can run it. Run by the client (false): a tool in
    /// OpenAI's own shape that the gateway does not translate.
    pub hosted: bool,
}

const fn hosted(name: &'static str) -> BuiltinTool {
    BuiltinTool { name, hosted: true }
}

const fn client(name: &'static str) -> BuiltinTool {
    BuiltinTool {
        name,
        hosted: false,
    }
}

/// The Responses API's built-in tool types (from the OpenAI API's `Tool` union), function and
/// namespace tools aside.
pub const KNOWN: &[BuiltinTool] = &[
    hosted("web_search"),
    hosted("web_search_2025_08_26"),
    hosted("web_search_preview"),
    hosted("web_search_preview_2025_03_11"),
    hosted("file_search"),
    hosted("code_interpreter"),
    hosted("image_generation"),
    hosted("mcp"),
    hosted("computer_use_preview"),
    hosted("computer"),
    hosted("tool_search"),
    hosted("programmatic_tool_calling"),
    client("local_shell"),
    client("shell"),
    client("apply_patch"),
    client("custom"),
];

/// The reported name of a tool type nothing in [`KNOWN`] names.
pub const OTHER: &str = "other";

/// The built-in tool a `type` names. A dated `web_search…` version not listed yet is still web
/// search (reported as `web_search`).
pub fn builtin(kind: &str) -> Option<BuiltinTool> {
    KNOWN
        .iter()
        .find(|t| t.name == kind)
        .copied()
        .or_else(|| kind.starts_with("web_search_").then_some(KNOWN[0]))
}

/// True for a tool type OpenAI's servers run (see [`KNOWN`]).
pub fn is_hosted(kind: &str) -> bool {
    builtin(kind).is_some_and(|t| t.hosted)
}

/// The bounded name a dropped or refused tool type is reported under.
pub fn report_name(kind: &str) -> &'static str {
    builtin(kind).map_or(OTHER, |t| t.name)
}

/// The 400 for a built-in tool the gateway does not drop: names the tool and the way out.
pub fn builtin_tool_error(param: String, kind: &str) -> TranslateError {
    let why = if is_hosted(kind) {
        "it runs on OpenAI's servers and Bedrock has nothing to run it; this gateway refuses such tools instead of dropping them (general_settings.drop_hosted_tools: false): remove the tool, e.g. Codex CLI: web_search = \"disabled\""
    } else {
        "only function tools are supported: remove the tool, or send drop_params: true (or set litellm_settings.drop_params: true) to drop it"
    };
    TranslateError::invalid_code(
        param,
        "unsupported_tool",
        format!("built-in tool '{kind}' is not available for Bedrock models: {why}"),
    )
}

/// Removes hosted tools from a chat request's `tools` (an empty list becomes none) and returns
/// the names of those removed, in order, each once.
pub fn drop_hosted(tools: &mut Option<Vec<Tool>>) -> Vec<&'static str> {
    let mut dropped = Vec::new();
    let Some(list) = tools else {
        return dropped;
    };
    if list.iter().all(|t| t.kind == "function") {
        return dropped;
    }
    list.retain(|t| {
        let hosted = is_hosted(&t.kind);
        if hosted {
            note(&mut dropped, report_name(&t.kind));
        }
        !hosted
    });
    if list.is_empty() {
        *tools = None;
    }
    dropped
}

/// Adds `name` to `dropped` unless it is there already.
pub fn note(dropped: &mut Vec<&'static str>, name: &'static str) {
    if !dropped.contains(&name) {
        dropped.push(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(v: serde_json::Value) -> Option<Vec<Tool>> {
        Some(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn hosted_and_client_tools_are_told_apart() {
        for kind in [
            "web_search",
            "web_search_preview",
            "web_search_2099_01_01",
            "file_search",
            "code_interpreter",
            "image_generation",
            "mcp",
            "computer_use_preview",
        ] {
            assert!(is_hosted(kind), "{kind}");
        }
        for kind in [
            "function",
            "local_shell",
            "custom",
            "apply_patch",
            "bash_20250124",
            "",
        ] {
            assert!(!is_hosted(kind), "{kind}");
        }
        assert_eq!(report_name("web_search_2099_01_01"), "web_search");
        assert_eq!(report_name("file_search"), "file_search");
        assert_eq!(report_name("x\r\nevil"), OTHER);
    }

    #[test]
    fn chat_tools_lose_only_hosted_ones() {
        let mut t = tools(json!([
            {"type": "web_search_preview"},
            {"type": "function", "function": {"name": "f"}},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "web_search_preview"},
            {"type": "computer_20250124", "display_width_px": 1}
        ]));
        assert_eq!(drop_hosted(&mut t), ["web_search_preview", "file_search"]);
        let kinds: Vec<_> = t.unwrap().into_iter().map(|t| t.kind).collect();
        assert_eq!(kinds, ["function", "computer_20250124"]);

        let mut only = tools(json!([{"type": "code_interpreter", "container": {"type": "auto"}}]));
        assert_eq!(drop_hosted(&mut only), ["code_interpreter"]);
        assert!(only.is_none(), "an emptied list is no tools");

        let mut plain = tools(json!([{"type": "function", "function": {"name": "f"}}]));
        assert!(drop_hosted(&mut plain).is_empty());
        assert_eq!(plain.unwrap().len(), 1);
        assert!(drop_hosted(&mut None).is_empty());
    }

    #[test]
    fn the_refusal_names_the_tool_and_the_way_out() {
        let e = builtin_tool_error("tools[0].type".into(), "web_search").to_openai();
        assert_eq!(e.status, 400);
        assert_eq!(e.code.as_deref(), Some("unsupported_tool"));
        assert!(e.message.contains("'web_search'"), "{}", e.message);
        assert!(e.message.contains("drop_hosted_tools"), "{}", e.message);
        let e = builtin_tool_error("tools[1].type".into(), "local_shell").to_openai();
        assert!(e.message.contains("drop_params"), "{}", e.message);
    }
}
