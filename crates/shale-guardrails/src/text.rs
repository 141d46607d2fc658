//! Which text of a request or an answer a guardrail sees, and where masked text goes back: a
//! [`Slot`] is the path of one string inside the JSON of an OpenAI chat `messages` list, an
//! Anthropic Messages body or an Anthropic message answer; [`texts`] reads the slots in order
//! (one ApplyGuardrail content block each) and [`write_back`] puts Bedrock's masked `outputs`
//! back by position. Chat completions are read and masked on their typed form
//! ([`completion_texts`], [`mask_completion`]).
//!
//! What is sent (LiteLLM's rules, minus its leaks): every role's text — system/developer, user,
//! assistant, tool results — unless `skip_system_message_in_guardrail` /
//! `skip_tool_message_in_guardrail` say otherwise; with
//! `experimental_use_latest_role_message_only` only the newest user message (never tool or
//! assistant text, LiteLLM #23476). Tool *definitions* and tool-call arguments are never sent as
//! input (LiteLLM PR #39281); images are not sent. Empty strings are skipped.
//!
//! Must not: do I/O, or change anything but the slots' strings.

use serde_json::{Map, Value};
use shale_translate::ChatCompletion;

/// Which input text is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputRules {
    pub latest_user_only: bool,
    pub skip_system: bool,
    pub skip_tool: bool,
}

/// One step of a slot's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(&'static str),
    Index(usize),
}

/// The path of one string in a JSON tree.
pub type Slot = Vec<Step>;

/// The text slots of an OpenAI chat `messages` array.
pub fn chat_input_slots(messages: &Value, rules: InputRules) -> Vec<Slot> {
    let Some(list) = messages.as_array() else {
        return Vec::new();
    };
    let latest_user = list.iter().rposition(|m| role(m) == Some("user"));
    let mut slots = Vec::new();
    for (i, m) in list.iter().enumerate() {
        if rules.latest_user_only && Some(i) != latest_user {
            continue;
        }
        match role(m) {
            Some("system" | "developer") if rules.skip_system => continue,
            Some("tool" | "function") if rules.skip_tool => continue,
            _ => {}
        }
        content_slots(
            m.get("content"),
            vec![Step::Index(i), Step::Key("content")],
            &mut slots,
        );
    }
    slots
}

/// The text slots of an Anthropic Messages body (`system`, then `messages`).
pub fn anthropic_input_slots(body: &Map<String, Value>, rules: InputRules) -> Vec<Slot> {
    let mut slots = Vec::new();
    if !rules.skip_system && !rules.latest_user_only {
        content_slots(body.get("system"), vec![Step::Key("system")], &mut slots);
    }
    let Some(list) = body.get("messages").and_then(Value::as_array) else {
        return slots;
    };
    let latest_user = list.iter().rposition(|m| role(m) == Some("user"));
    for (i, m) in list.iter().enumerate() {
        if rules.latest_user_only && Some(i) != latest_user {
            continue;
        }
        let base = vec![Step::Key("messages"), Step::Index(i), Step::Key("content")];
        match m.get("content") {
            Some(Value::Array(blocks)) => {
                for (j, b) in blocks.iter().enumerate() {
                    let mut at = base.clone();
                    at.push(Step::Index(j));
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => push_text(b.get("text"), at, Step::Key("text"), &mut slots),
                        Some("tool_result") if !rules.skip_tool => {
                            at.push(Step::Key("content"));
                            content_slots(b.get("content"), at, &mut slots);
                        }
                        _ => {}
                    }
                }
            }
            other => content_slots(other, base, &mut slots),
        }
    }
    slots
}

/// The text slots of an Anthropic message answer (`content[].text` of text blocks).
pub fn anthropic_output_slots(message: &Value) -> Vec<Slot> {
    let mut slots = Vec::new();
    content_slots(
        message.get("content"),
        vec![Step::Key("content")],
        &mut slots,
    );
    slots
}

fn role(m: &Value) -> Option<&str> {
    m.get("role").and_then(Value::as_str)
}

/// A content value: a string, or a list of parts / blocks whose `text` parts count.
fn content_slots(content: Option<&Value>, at: Slot, slots: &mut Vec<Slot>) {
    match content {
        Some(Value::String(s)) if !s.is_empty() => slots.push(at),
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                if p.get("type").and_then(Value::as_str) == Some("text") {
                    let mut here = at.clone();
                    here.push(Step::Index(j));
                    push_text(p.get("text"), here, Step::Key("text"), slots);
                }
            }
        }
        _ => {}
    }
}

fn push_text(text: Option<&Value>, mut at: Slot, key: Step, slots: &mut Vec<Slot>) {
    if matches!(text, Some(Value::String(s)) if !s.is_empty()) {
        at.push(key);
        slots.push(at);
    }
}

fn get<'a>(root: &'a Value, slot: &[Step]) -> Option<&'a Value> {
    slot.iter().try_fold(root, |v, step| match step {
        Step::Key(k) => v.get(*k),
        Step::Index(i) => v.get(*i),
    })
}

fn get_mut<'a>(root: &'a mut Value, slot: &[Step]) -> Option<&'a mut Value> {
    slot.iter().try_fold(root, |v, step| match step {
        Step::Key(k) => v.get_mut(*k),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// The strings at `slots`, in order.
pub fn texts<'a>(root: &'a Value, slots: &[Slot]) -> Vec<&'a str> {
    slots
        .iter()
        .filter_map(|s| get(root, s).and_then(Value::as_str))
        .collect()
}

/// Puts `masked[i]` at `slots[i]`. The caller checked that the counts match.
pub fn write_back(root: &mut Value, slots: &[Slot], masked: Vec<String>) {
    for (slot, text) in slots.iter().zip(masked) {
        if let Some(v) = get_mut(root, slot) {
            *v = Value::String(text);
        }
    }
}

/// The answer text of a chat completion: `(choice position, content)` of each non-empty content.
pub fn completion_texts(c: &ChatCompletion) -> Vec<(usize, &str)> {
    c.choices
        .iter()
        .enumerate()
        .filter_map(|(i, ch)| {
            ch.message
                .content
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| (i, t))
        })
        .collect()
}

/// Puts masked texts back into the choices [`completion_texts`] named.
pub fn mask_completion(c: &mut ChatCompletion, positions: &[usize], masked: Vec<String>) {
    for (&i, text) in positions.iter().zip(masked) {
        if let Some(ch) = c.choices.get_mut(i) {
            ch.message.content = Some(text);
        }
    }
}

/// Replaces a blocked answer with the guardrail's message (`disable_exception_on_block`):
/// `finish_reason: content_filter`, no tool calls or reasoning; usage is kept.
pub fn refuse_completion(c: &mut ChatCompletion, message: &str) {
    for ch in &mut c.choices {
        ch.message.content = Some(message.to_owned());
        ch.message.tool_calls = None;
        ch.message.reasoning_content = None;
        ch.message.thinking_blocks = None;
        ch.finish_reason = Some("content_filter".into());
    }
}

/// A whole answer made of the guardrail's message, for a request a guardrail with
/// `disable_exception_on_block` refused before (or while) the model ran: no usage.
pub fn refusal_completion(id: String, created: u64, model: &str, message: &str) -> ChatCompletion {
    serde_json::from_value(serde_json::json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": message},
            "finish_reason": "content_filter", "logprobs": null}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    }))
    .expect("a refusal is a chat completion")
}

/// The Anthropic message of a refused request (`stop_reason: refusal`, no usage).
pub fn refusal_message(id: &str, model: &str, message: &str) -> Value {
    serde_json::json!({
        "id": id, "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": message}],
        "stop_reason": "refusal", "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0}
    })
}

/// Replaces a blocked Anthropic message answer with the guardrail's message
/// (`stop_reason: refusal`); usage is kept.
pub fn refuse_anthropic(message_json: &mut Value, message: &str) {
    if let Some(m) = message_json.as_object_mut() {
        m.insert(
            "content".into(),
            serde_json::json!([{"type": "text", "text": message}]),
        );
        m.insert("stop_reason".into(), Value::from("refusal"));
        m.insert("stop_sequence".into(), Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn chat() -> Value {
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "mail a@b.co"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "and 555-0100"}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"secret\":1}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "tool says hi"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "last question"}
        ])
    }

    #[test]
    fn chat_slots_cover_every_role_in_order() {
        let m = chat();
        let slots = chat_input_slots(&m, InputRules::default());
        assert_eq!(
            texts(&m, &slots),
            vec![
                "You are terse.",
                "mail a@b.co",
                "and 555-0100",
                "tool says hi",
                "last question"
            ]
        );
        assert_eq!(
            slots[2],
            vec![
                Step::Index(1),
                Step::Key("content"),
                Step::Index(2),
                Step::Key("text")
            ]
        );
    }

    #[test]
    fn chat_rules_skip_and_latest_only() {
        let m = chat();
        let skip = InputRules {
            skip_system: true,
            skip_tool: true,
            ..InputRules::default()
        };
        assert_eq!(
            texts(&m, &chat_input_slots(&m, skip)),
            vec!["mail a@b.co", "and 555-0100", "last question"]
        );
        let latest = InputRules {
            latest_user_only: true,
            ..InputRules::default()
        };
        assert_eq!(
            texts(&m, &chat_input_slots(&m, latest)),
            vec!["last question"]
        );
    }

    #[test]
    fn masking_positions_golden() {
        let mut m = chat();
        let slots = chat_input_slots(&m, InputRules::default());
        let masked = vec![
            "You are terse.".to_string(),
            "mail {EMAIL}".into(),
            "and {PHONE}".into(),
            "tool says hi".into(),
            "last question".into(),
        ];
        write_back(&mut m, &slots, masked);
        assert_eq!(m[1]["content"][0]["text"], "mail {EMAIL}");
        assert_eq!(
            m[1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(m[1]["content"][2]["text"], "and {PHONE}");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            "{\"secret\":1}"
        );
        assert_eq!(m[5]["content"], "last question");
    }

    #[test]
    fn anthropic_slots() {
        let body: Map<String, Value> = serde_json::from_value(json!({
            "system": [{"type": "text", "text": "sys"}],
            "tools": [{"name": "t", "description": "never sent", "input_schema": {}}],
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "text", "text": "answer"}, {"type": "tool_use", "id": "x", "name": "t", "input": {"q": "no"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "x", "content": [{"type": "text", "text": "result"}]},
                    {"type": "text", "text": "and now"}
                ]}
            ]
        }))
        .unwrap();
        let root = Value::Object(body.clone());
        let all = anthropic_input_slots(&body, InputRules::default());
        assert_eq!(
            texts(&root, &all),
            vec!["sys", "first", "answer", "result", "and now"]
        );
        let latest = anthropic_input_slots(
            &body,
            InputRules {
                latest_user_only: true,
                skip_tool: true,
                ..InputRules::default()
            },
        );
        assert_eq!(texts(&root, &latest), vec!["and now"]);
        let mut root = root;
        write_back(
            &mut root,
            &all,
            vec!["S".into(), "F".into(), "A".into(), "R".into(), "N".into()],
        );
        assert_eq!(root["system"][0]["text"], "S");
        assert_eq!(root["messages"][2]["content"][0]["content"][0]["text"], "R");
        assert_eq!(root["messages"][1]["content"][1]["input"]["q"], "no");
    }

    #[test]
    fn completion_mask_and_refusal() {
        let mut c: ChatCompletion = serde_json::from_value(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "call 555-0100", "reasoning_content": "hmm"},
                "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .unwrap();
        let found = completion_texts(&c);
        assert_eq!(found, vec![(0, "call 555-0100")]);
        mask_completion(&mut c, &[0], vec!["call {PHONE}".into()]);
        assert_eq!(
            c.choices[0].message.content.as_deref(),
            Some("call {PHONE}")
        );
        refuse_completion(&mut c, "Blocked.");
        assert_eq!(c.choices[0].message.content.as_deref(), Some("Blocked."));
        assert_eq!(
            c.choices[0].finish_reason.as_deref(),
            Some("content_filter")
        );
        assert!(c.choices[0].message.reasoning_content.is_none());
        assert_eq!(c.usage.as_ref().map(|u| u.total_tokens), Some(7));
        let mut msg = json!({"id": "m", "type": "message", "content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn", "usage": {"output_tokens": 2}});
        assert_eq!(texts(&msg, &anthropic_output_slots(&msg)), vec!["x"]);
        refuse_anthropic(&mut msg, "Blocked.");
        let r = refusal_completion("id".into(), 9, "m", "No.");
        assert_eq!(
            r.choices[0].finish_reason.as_deref(),
            Some("content_filter")
        );
        assert_eq!(r.choices[0].message.content.as_deref(), Some("No."));
        assert_eq!(refusal_message("msg", "m", "No.")["stop_reason"], "refusal");
        assert_eq!(msg["content"][0]["text"], "Blocked.");
        assert_eq!(msg["stop_reason"], "refusal");
        assert_eq!(msg["usage"]["output_tokens"], 2);
    }
}
