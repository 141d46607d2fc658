//! `tools`, `tool_choice` and `response_format` → Converse `toolConfig` / `outputConfig`,
//! including JSON mode through the forced `json_tool_call` tool.

use serde_json::{json, Map, Value};

use crate::caps::ModelCaps;
use crate::context::JsonMode;
use crate::error::TranslateError;
use crate::names::ToolNameMap;
use crate::openai::{ResponseFormat, Tool};
use crate::schema::{inline_refs, object_schema};

/// Name of the tool that carries JSON-mode answers.
pub const JSON_TOOL_NAME: &str = "json_tool_call";

/// Name of the tool added when the history holds tool blocks but the request offers no tools
/// (Bedrock requires a `toolConfig` then).
pub const PLACEHOLDER_TOOL_NAME: &str = "placeholder_tool";

/// The outcome of tool translation.
#[derive(Debug, Default)]
pub(crate) struct ToolSetup {
    pub tool_config: Option<Value>,
    pub output_config: Option<Value>,
    pub json_mode: JsonMode,
    /// Whether the client's own tools are offered (for `parallel_tool_calls`).
    pub has_client_tools: bool,
    /// The Anthropic `tool_choice` equivalent of the final `toolChoice` (`auto` when unset),
    /// the base for `disable_parallel_tool_use`.
    pub anthropic_tool_choice: Value,
    /// JSON mode uses the `json_tool_call` tool but cannot force it (thinking is on, the model
    /// cannot force tools, or client tools compete): a system instruction asks for it instead.
    pub json_instruction: bool,
    /// Anthropic server-defined tools (`computer_*`, `bash_*`, `text_editor_*`), passed as given in
    /// `additionalModelRequestFields.tools` (Converse has no shape for them).
    pub anthropic_builtin_tools: Vec<Value>,
    /// The `anthropic_beta` flags those tools need.
    pub anthropic_betas: Vec<&'static str>,
}

/// Anthropic's server-defined tool types and the beta flag each needs on Bedrock.
const ANTHROPIC_BUILTIN_TOOLS: &[(&str, &str)] = &[
    ("computer_20241022", "computer-use-2024-10-22"),
    ("bash_20241022", "computer-use-2024-10-22"),
    ("text_editor_20241022", "computer-use-2024-10-22"),
    ("computer_20250124", "computer-use-2025-01-24"),
    ("bash_20250124", "computer-use-2025-01-24"),
    ("text_editor_20250124", "computer-use-2025-01-24"),
    ("text_editor_20250429", "computer-use-2025-01-24"),
    ("text_editor_20250728", "computer-use-2025-01-24"),
];

/// The beta flag of an Anthropic server-defined tool type, if it is one.
pub(crate) fn anthropic_builtin_beta(kind: &str) -> Option<&'static str> {
    ANTHROPIC_BUILTIN_TOOLS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, beta)| *beta)
}

/// The system instruction added when the JSON tool cannot be forced.
pub const JSON_TOOL_INSTRUCTION: &str =
    "Give your final answer by calling the json_tool_call tool; do not answer in plain text.";

/// Inputs of [`build`].
pub(crate) struct ToolInputs {
    pub tools: Option<Vec<Tool>>,
    pub tool_choice: Option<Value>,
    pub response_format: Option<ResponseFormat>,
    pub thinking_on: bool,
    pub history_has_tools: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Choice {
    Auto,
    Any,
    None,
    Tool(String),
}

pub(crate) fn parse_choice(v: Option<&Value>) -> Result<Option<Choice>, TranslateError> {
    let bad = || {
        TranslateError::invalid(
            "tool_choice",
            "tool_choice must be \"auto\", \"required\", \"none\" or {\"type\":\"function\",\"function\":{\"name\":...}}",
        )
    };
    Ok(Some(match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Choice::Auto,
            "required" | "any" => Choice::Any,
            "none" => Choice::None,
            _ => return Err(bad()),
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function") | Some("tool") | None, Some(n)) => Choice::Tool(n.to_owned()),
                (Some("auto"), _) => Choice::Auto,
                (Some("any") | Some("required"), _) => Choice::Any,
                (Some("none"), _) => Choice::None,
                _ => return Err(bad()),
            }
        }
        Some(_) => return Err(bad()),
    }))
}

/// A choice naming one tool must name a declared one; the name becomes its sanitized form.
pub(crate) fn named_choice(
    choice: Option<Choice>,
    declared: &[String],
    names: &mut ToolNameMap,
) -> Result<Option<Choice>, TranslateError> {
    match choice {
        Some(Choice::Tool(n)) => {
            if !declared.contains(&n) {
                return Err(TranslateError::invalid_code(
                    "tool_choice",
                    "invalid_tool_choice",
                    format!("tool_choice names the tool '{n}', which is not in tools"),
                ));
            }
            Ok(Some(Choice::Tool(names.sanitize(&n))))
        }
        other => Ok(other),
    }
}

fn tool_spec(name: &str, description: &str, schema: Value, strict: bool) -> Value {
    let mut spec = Map::new();
    spec.insert("name".into(), name.into());
    spec.insert("description".into(), description.into());
    spec.insert("inputSchema".into(), json!({ "json": schema }));
    if strict {
        spec.insert("strict".into(), true.into());
    }
    json!({ "toolSpec": spec })
}

/// Build `toolConfig` and `outputConfig`.
pub(crate) fn build(
    input: ToolInputs,
    caps: &ModelCaps,
    names: &mut ToolNameMap,
) -> Result<ToolSetup, TranslateError> {
    let mut setup = ToolSetup::default();
    let mut specs: Vec<Value> = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    for (t, mut tool) in input.tools.into_iter().flatten().enumerate() {
        if let Some(beta) = anthropic_builtin_beta(&tool.kind).filter(|_| caps.anthropic_fields) {
            let mut raw = tool.extra;
            raw.insert("type".into(), Value::String(tool.kind));
            if let Some(cc) = tool.cache_control {
                raw.insert("cache_control".into(), cc);
            }
            setup.anthropic_builtin_tools.push(Value::Object(raw));
            if !setup.anthropic_betas.contains(&beta) {
                setup.anthropic_betas.push(beta);
            }
            continue;
        }
        let cache_control = tool.cache_control.take();
        let f = tool.into_function(t)?;
        let name = names.sanitize(&f.name);
        let description = f
            .description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| f.name.clone());
        let strict = f.strict == Some(true) && caps.native_structured_output;
        specs.push(tool_spec(
            &name,
            &description,
            object_schema(f.parameters),
            strict,
        ));
        if cache_control.is_some() && caps.supports_cache_point {
            specs.push(json!({"cachePoint": {"type": "default"}}));
        }
        declared.push(f.name);
    }
    setup.has_client_tools = !specs.is_empty();

    let mut choice = named_choice(parse_choice(input.tool_choice.as_ref())?, &declared, names)?;
    if choice == Some(Choice::None) {
        specs.clear();
        setup.has_client_tools = false;
        choice = None;
    }

    // response_format
    if let Some(rf) = input.response_format {
        match rf.kind.as_str() {
            "text" => {}
            "json_schema" | "json_object" => {
                let js = rf.json_schema.filter(|_| rf.kind == "json_schema");
                let (schema, name, description) = match js {
                    Some(js) if js.schema.is_some() => (js.schema, js.name, js.description),
                    _ => (None, String::new(), None),
                };
                if schema.is_some() && caps.native_structured_output {
                    let schema = inline_refs(schema.unwrap_or(Value::Null));
                    let mut js = Map::new();
                    js.insert("schema".into(), Value::String(schema.to_string()));
                    let name = if name.is_empty() {
                        "response".to_owned()
                    } else {
                        crate::names::sanitize_tool_name(&name)
                    };
                    js.insert("name".into(), name.into());
                    if let Some(d) = description.filter(|d| !d.is_empty()) {
                        js.insert("description".into(), d.into());
                    }
                    setup.output_config = Some(json!({"textFormat": {
                        "type": "json_schema",
                        "structure": {"jsonSchema": js}
                    }}));
                } else {
                    let schema = match schema {
                        Some(s) => object_schema(Some(s)),
                        None => json!({"type": "object"}),
                    };
                    let desc = description.filter(|d| !d.is_empty()).unwrap_or_else(|| {
                        "Give the final answer as a JSON object through this tool.".to_owned()
                    });
                    specs.push(tool_spec(JSON_TOOL_NAME, &desc, schema, false));
                    setup.json_mode = JsonMode::ToolCall;
                    if !setup.has_client_tools {
                        choice = Some(Choice::Tool(JSON_TOOL_NAME.to_owned()));
                    }
                }
            }
            other => {
                return Err(TranslateError::invalid(
                    "response_format.type",
                    format!("unsupported response_format type '{other}'"),
                ))
            }
        }
    }

    if specs.is_empty() {
        if !input.history_has_tools {
            return Ok(setup);
        }
        specs.push(tool_spec(
            PLACEHOLDER_TOOL_NAME,
            "Placeholder: earlier turns used tools that are not offered now. Do not call it.",
            json!({"type": "object", "properties": {}}),
            false,
        ));
        choice = None;
    }

    // forced choices are not allowed with thinking, nor on some models
    if matches!(choice, Some(Choice::Any) | Some(Choice::Tool(_)))
        && (input.thinking_on || !caps.supports_forced_tool_choice)
    {
        choice = if input.thinking_on {
            Some(Choice::Auto)
        } else {
            None
        };
    }
    setup.json_instruction = setup.json_mode == JsonMode::ToolCall
        && choice != Some(Choice::Tool(JSON_TOOL_NAME.to_owned()));
    let mut tc = Map::new();
    tc.insert("tools".into(), Value::Array(specs));
    setup.anthropic_tool_choice = json!({"type": "auto"});
    match choice {
        Some(Choice::Auto) => {
            tc.insert("toolChoice".into(), json!({"auto": {}}));
        }
        Some(Choice::Any) => {
            tc.insert("toolChoice".into(), json!({"any": {}}));
            setup.anthropic_tool_choice = json!({"type": "any"});
        }
        Some(Choice::Tool(n)) => {
            setup.anthropic_tool_choice = json!({"type": "tool", "name": n});
            tc.insert("toolChoice".into(), json!({"tool": {"name": n}}));
        }
        Some(Choice::None) | None => {}
    }
    setup.tool_config = Some(Value::Object(tc));
    Ok(setup)
}
