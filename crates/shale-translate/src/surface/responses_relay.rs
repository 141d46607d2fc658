//! The Responses API relayed to a surface that speaks it (bedrock-mantle `/v1/responses` or
//! `/openai/v1/responses`, bedrock-runtime `/openai/v1/responses`).
//!
//! The request keeps everything the client sent except: `model` (the deployment's id); the
//! conversation of `previous_response_id`, which the gateway stores (the surface is asked not to:
//! `store: false`), sent as input items before this request's (item ids and reasoning items of
//! earlier turns left out — they name nothing upstream); `background` (the gateway answers
//! synchronously); the gateway's own members; and on bedrock-runtime, which refuses hosted tools,
//! every tool but the types it accepts (`function`, `mcp`, `custom`, `apply_patch`, `namespace`,
//! `tool_search`, `computer`).
//!
//! The answer and every stream event reach the client as the surface wrote them but for the
//! `model` of response objects (the client's model name); the usage and the final response are
//! read on the way.
//!
//! Must not: translate to or from chat (that is [`super::to_responses`], [`super::from_responses`]).

use serde_json::{Map, Value};

use super::from_responses::usage_of;
use super::is_gateway_param;
use super::json::{json_string, Edit, TopLevel};
use crate::completion::Usage;
use crate::error::TranslateError;
use crate::responses::ResponsesRequest;

/// Tool types bedrock-runtime's `/openai/v1/responses` accepts (its own validation message).
pub const RUNTIME_TOOL_TYPES: &[&str] = &[
    "function",
    "mcp",
    "custom",
    "apply_patch",
    "namespace",
    "tool_search",
    "computer",
];

/// The Responses body for the surface. `history` is the stored conversation of
/// `previous_response_id` and `input_items` this request's input as items (both from the
/// gateway's store and `crate::responses::input_items`); `runtime`: the surface is bedrock-runtime.
pub fn responses_body(
    req: &ResponsesRequest,
    history: &[Value],
    input_items: &[Value],
    model_id: &str,
    runtime: bool,
) -> Result<Vec<u8>, TranslateError> {
    let Ok(Value::Object(mut body)) = serde_json::to_value(req) else {
        return Err(TranslateError::invalid(
            "input",
            "the request is not an object",
        ));
    };
    body.retain(|k, _| !is_gateway_param(k) && k != "background");
    body.insert("model".into(), model_id.into());
    if body.remove("previous_response_id").is_some() {
        let input: Vec<Value> = history
            .iter()
            .chain(input_items)
            .filter(|item| item.get("type").and_then(Value::as_str) != Some("reasoning"))
            .map(|item| match item {
                Value::Object(o) => {
                    let mut o: Map<String, Value> = o.clone();
                    o.remove("id");
                    Value::Object(o)
                }
                other => other.clone(),
            })
            .collect();
        body.insert("input".into(), Value::Array(input));
    }
    body.insert("store".into(), false.into());
    if runtime {
        if let Some(Value::Array(tools)) = body.get_mut("tools") {
            tools.retain(|t| {
                t.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|k| RUNTIME_TOOL_TYPES.contains(&k))
            });
            if tools.is_empty() {
                body.remove("tools");
                body.remove("tool_choice");
            }
        }
    }
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

fn upstream(e: impl std::fmt::Display) -> TranslateError {
    TranslateError::InvalidUpstream(format!("Responses answer: {e}"))
}

/// A relayed `response`: the client's bytes, its usage, and (when asked) the response as JSON
/// for the gateway's store.
#[derive(Debug, Clone)]
pub struct RelayedResponse {
    pub body: Vec<u8>,
    pub usage: Option<Usage>,
    pub response: Option<Value>,
}

/// A `response` object from the surface, relayed with `model` set to the client's model name;
/// `keep`: also return it as JSON (to store it).
pub fn relay_response(
    body: &[u8],
    model_name: &str,
    keep: bool,
) -> Result<RelayedResponse, TranslateError> {
    let top = TopLevel::parse(body).map_err(upstream)?;
    let usage = top
        .parse_member::<super::from_responses::ResponsesUsage>("usage")
        .map(|u| u.to_chat());
    let name = json_string(model_name);
    let out = top.to_vec(&[Edit::Set("model", &name)]);
    let response = if keep {
        Some(serde_json::from_slice(&out).map_err(upstream)?)
    } else {
        None
    };
    Ok(RelayedResponse {
        body: out,
        usage,
        response,
    })
}

/// A Responses stream relayed event by event.
#[derive(Debug)]
pub struct ResponsesEventRelay {
    model: Vec<u8>,
    keep: bool,
    usage: Option<Usage>,
    last: Option<Value>,
}

/// Events whose data carries the whole `response` object.
const RESPONSE_EVENTS: &[&str] = &[
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.completed",
    "response.incomplete",
    "response.failed",
];

impl ResponsesEventRelay {
    /// `keep`: hold the final response as JSON (to store it).
    pub fn new(model_name: &str, keep: bool) -> Self {
        ResponsesEventRelay {
            model: json_string(model_name),
            keep,
            usage: None,
            last: None,
        }
    }

    /// Writes `event: <name>\ndata: <json>\n\n` for one upstream event into `out`.
    pub fn on_event(
        &mut self,
        event: &str,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        if !RESPONSE_EVENTS.contains(&event) {
            out.extend_from_slice(data);
            out.extend_from_slice(b"\n\n");
            return Ok(());
        }
        let top = TopLevel::parse(data).map_err(upstream)?;
        let Some(response) = top.get("response") else {
            out.extend_from_slice(data);
            out.extend_from_slice(b"\n\n");
            return Ok(());
        };
        let inner = TopLevel::parse(response.get().as_bytes()).map_err(upstream)?;
        let rewritten = inner.to_vec(&[Edit::Set("model", &self.model)]);
        let terminal = matches!(
            event,
            "response.completed" | "response.incomplete" | "response.failed"
        );
        if terminal {
            let value: Value = serde_json::from_slice(&rewritten).map_err(upstream)?;
            self.usage = usage_of(&value);
            if self.keep {
                self.last = Some(value);
            }
        }
        top.write(&[Edit::Set("response", &rewritten)], out);
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// The stream's usage, once its final response went by.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The final response (when kept).
    pub fn final_response(&self) -> Option<&Value> {
        self.last.as_ref()
    }
}
