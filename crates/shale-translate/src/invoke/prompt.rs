//! Request bodies of the prompt-string families: the chat templates (Llama 2, Llama 3 / 4,
//! Mistral, Titan-style plain text, DeepSeek R1, ChatML) and each family's native parameters,
//! plus Cohere Command R (`message` + `chat_history`) and TwelveLabs Pegasus
//! (`inputPrompt` + `mediaSource`).

use serde_json::{json, Map, Value};

use super::common::{
    self, json_instruction, json_request, max_tokens, pass_through, put, stop_sequences,
    system_text, turn_text, Choice, Prepared,
};
use super::InvokeFamily;
use crate::caps::ModelCaps;
use crate::error::TranslateError;
use crate::media::MediaKind;
use crate::normalize::{Block, MediaSource, TurnRole};
use crate::openai::JsonMap;

/// A conversation reduced to plain text.
struct Dialog {
    system: Option<String>,
    turns: Vec<(TurnRole, String)>,
}

impl Dialog {
    /// Whether the conversation ends with an assistant prefill to continue.
    fn ends_with_prefill(&self) -> bool {
        matches!(self.turns.last(), Some((TurnRole::Assistant, _)))
    }
}

fn reject_tools(p: &Prepared, what: &str) -> Result<(), TranslateError> {
    let has_tools = p.req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let none = matches!(
        common::parse_choice(p.req.tool_choice.as_ref())?,
        Some(Choice::None)
    );
    if has_tools && !none {
        return Err(TranslateError::invalid(
            "tools",
            format!("tools are not supported by {what} on the invoke route; use the Converse route (bedrock/converse/<model>) for tool use"),
        ));
    }
    Ok(())
}

fn dialog(p: &mut Prepared, what: &str) -> Result<Dialog, TranslateError> {
    let mut system = system_text(&p.conv.system);
    if let Some(schema) = json_request(p.req.response_format.take())? {
        let instr = json_instruction(schema.as_ref());
        system = Some(match system {
            Some(s) => format!("{s}\n\n{instr}"),
            None => instr,
        });
    }
    let mut turns = Vec::with_capacity(p.conv.turns.len());
    for t in std::mem::take(&mut p.conv.turns) {
        turns.push((t.role, turn_text(t.blocks, what)?));
    }
    if turns.is_empty() {
        return Err(TranslateError::invalid(
            "messages",
            "messages must contain at least one user or assistant message with content",
        ));
    }
    Ok(Dialog { system, turns })
}

/// `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n…<|eot_id|>…` (Llama 3), or
/// the Llama 4 header tokens when `llama4` is set.
fn llama3_prompt(d: &Dialog, llama4: bool) -> String {
    let (hs, he, eot) = if llama4 {
        ("<|header_start|>", "<|header_end|>", "<|eot|>")
    } else {
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
    };
    let open = |role: &str| format!("{hs}{role}{he}\n\n");
    header_template(d, "<|begin_of_text|>", open, eot)
}

/// A role-header template: `start`, then the system text and every turn as
/// `open(role)` + text + `close` — except that a final assistant prefill stays open — and
/// `open("assistant")` for the answer unless the dialog ends with a prefill.
fn header_template(d: &Dialog, start: &str, open: impl Fn(&str) -> String, close: &str) -> String {
    let mut s = String::from(start);
    if let Some(sys) = &d.system {
        s.push_str(&format!("{}{sys}{close}", open("system")));
    }
    let n = d.turns.len();
    for (i, (role, text)) in d.turns.iter().enumerate() {
        let r = if *role == TurnRole::User {
            "user"
        } else {
            "assistant"
        };
        s.push_str(&open(r));
        s.push_str(text);
        if !(i + 1 == n && *role == TurnRole::Assistant) {
            s.push_str(close);
        }
    }
    if !d.ends_with_prefill() {
        s.push_str(&open("assistant"));
    }
    s
}

/// `<s>[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] … </s>` (Llama 2) or, without the system
/// wrapper, `<s>[INST] … [/INST]` (Mistral).
fn inst_prompt(d: &Dialog, llama2: bool) -> String {
    let mut s = String::new();
    let mut system = d.system.as_deref();
    let open_inst = |s: &mut String, text: &str, system: &mut Option<&str>| {
        s.push_str(if llama2 || s.is_empty() {
            "<s>[INST] "
        } else {
            "[INST] "
        });
        if let Some(sys) = system.take() {
            if llama2 {
                s.push_str(&format!("<<SYS>>\n{sys}\n<</SYS>>\n\n"));
            } else {
                s.push_str(&format!("{sys}\n\n"));
            }
        }
        s.push_str(text);
        s.push_str(" [/INST]");
    };
    let n = d.turns.len();
    for (i, (role, text)) in d.turns.iter().enumerate() {
        match role {
            TurnRole::User => open_inst(&mut s, text, &mut system),
            TurnRole::Assistant => {
                if s.is_empty() {
                    open_inst(&mut s, "", &mut system);
                }
                s.push(' ');
                s.push_str(text);
                if i + 1 < n {
                    s.push_str(if llama2 { " </s>" } else { "</s>" });
                }
            }
        }
    }
    s
}

/// `{system}\n\nUser: …\n\nBot: …\n\nBot: ` (Titan text, Cohere Command, AI21 J2).
fn plain_prompt(d: &Dialog) -> String {
    let mut s = d.system.clone().unwrap_or_default();
    for (role, text) in &d.turns {
        s.push_str(if *role == TurnRole::User {
            "\n\nUser: "
        } else {
            "\n\nBot: "
        });
        s.push_str(text);
    }
    if !d.ends_with_prefill() {
        s.push_str("\n\nBot: ");
    }
    s
}

/// DeepSeek R1: `<｜begin▁of▁sentence｜>{system}<｜User｜>…<｜Assistant｜><think>\n`.
fn deepseek_r1_prompt(d: &Dialog) -> String {
    let mut s = String::from("<｜begin▁of▁sentence｜>");
    if let Some(sys) = &d.system {
        s.push_str(sys);
    }
    let n = d.turns.len();
    for (i, (role, text)) in d.turns.iter().enumerate() {
        match role {
            TurnRole::User => {
                s.push_str("<｜User｜>");
                s.push_str(text);
            }
            TurnRole::Assistant => {
                s.push_str("<｜Assistant｜>");
                s.push_str(text);
                if i + 1 < n {
                    s.push_str("<｜end▁of▁sentence｜>");
                }
            }
        }
    }
    if !d.ends_with_prefill() {
        s.push_str("<｜Assistant｜><think>\n");
    }
    s
}

/// ChatML (Qwen 2 / Qwen 3): `<|im_start|>role\n…<|im_end|>\n…<|im_start|>assistant\n`.
fn chatml_prompt(d: &Dialog) -> String {
    let open = |role: &str| format!("<|im_start|>{role}\n");
    header_template(d, "", open, "<|im_end|>\n")
}

/// The native body of a prompt-string family (tools are rejected; `reasoning_effort`,
/// `thinking` and `parallel_tool_calls` have no equivalent and are dropped).
pub(super) fn build(
    family: InvokeFamily,
    p: &mut Prepared,
    caps: &ModelCaps,
) -> Result<JsonMap, TranslateError> {
    let what = family.display_name();
    reject_tools(p, what)?;
    if family == InvokeFamily::Pegasus {
        return pegasus(p);
    }
    if family == InvokeFamily::CohereCommandR {
        return command_r(p, what);
    }
    let d = dialog(p, what)?;
    let req = &mut p.req;
    let max = max_tokens(req);
    let stop = stop_sequences(req);
    let mut b = Map::new();
    match family {
        InvokeFamily::Llama2 | InvokeFamily::Llama3 => {
            let prompt = if family == InvokeFamily::Llama2 {
                inst_prompt(&d, true)
            } else {
                llama3_prompt(&d, caps.base_id.contains("llama4"))
            };
            b.insert("prompt".into(), prompt.into());
            put(&mut b, "max_gen_len", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "top_p", req.top_p);
        }
        InvokeFamily::Mistral => {
            b.insert("prompt".into(), inst_prompt(&d, false).into());
            put(&mut b, "max_tokens", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "top_p", req.top_p);
            put(&mut b, "top_k", req.top_k);
            put(&mut b, "stop", stop);
        }
        InvokeFamily::TitanText => {
            b.insert("inputText".into(), plain_prompt(&d).into());
            let mut cfg = Map::new();
            put(&mut cfg, "maxTokenCount", max);
            put(&mut cfg, "stopSequences", stop);
            put(&mut cfg, "temperature", req.temperature);
            put(&mut cfg, "topP", req.top_p);
            b.insert("textGenerationConfig".into(), Value::Object(cfg));
        }
        InvokeFamily::CohereCommand => {
            b.insert("prompt".into(), plain_prompt(&d).into());
            put(&mut b, "max_tokens", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "p", req.top_p);
            put(&mut b, "k", req.top_k);
            put(&mut b, "stop_sequences", stop);
        }
        InvokeFamily::Ai21J2 => {
            b.insert("prompt".into(), plain_prompt(&d).into());
            put(&mut b, "maxTokens", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "topP", req.top_p);
            put(&mut b, "stopSequences", stop);
        }
        InvokeFamily::DeepSeekR1 => {
            b.insert("prompt".into(), deepseek_r1_prompt(&d).into());
            put(&mut b, "max_tokens", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "top_p", req.top_p);
            put(&mut b, "stop", stop);
        }
        _ => {
            // Qwen (ChatML)
            b.insert("prompt".into(), chatml_prompt(&d).into());
            put(&mut b, "max_gen_len", max);
            put(&mut b, "temperature", req.temperature);
            put(&mut b, "top_p", req.top_p);
            put(&mut b, "top_k", req.top_k);
            put(&mut b, "stop", stop);
        }
    }
    pass_through(std::mem::take(&mut req.extra), &mut b);
    Ok(b)
}

/// Cohere Command R / R+: `{message, chat_history, preamble, …}`.
fn command_r(p: &mut Prepared, what: &str) -> Result<JsonMap, TranslateError> {
    let mut d = dialog(p, what)?;
    let Some((TurnRole::User, message)) = d.turns.pop() else {
        return Err(TranslateError::invalid(
            "messages",
            "the last message must be a user message for Cohere Command R",
        ));
    };
    let history: Vec<Value> = d
        .turns
        .into_iter()
        .map(|(role, text)| {
            let r = if role == TurnRole::User {
                "USER"
            } else {
                "CHATBOT"
            };
            json!({"role": r, "message": text})
        })
        .collect();
    let req = &mut p.req;
    let mut b = Map::new();
    b.insert("message".into(), message.into());
    if !history.is_empty() {
        b.insert("chat_history".into(), Value::Array(history));
    }
    put(&mut b, "preamble", d.system);
    put(&mut b, "max_tokens", max_tokens(req));
    put(&mut b, "temperature", req.temperature);
    put(&mut b, "p", req.top_p);
    put(&mut b, "k", req.top_k);
    put(&mut b, "stop_sequences", stop_sequences(req));
    pass_through(std::mem::take(&mut req.extra), &mut b);
    Ok(b)
}

/// TwelveLabs Pegasus: `inputPrompt` from the last user turn's text (after the system prompt),
/// `mediaSource` from the request's (or deployment's) `mediaSource` field, else from the last
/// video in the messages (data URL → `base64String`, `s3://` → `s3Location`).
fn pegasus(p: &mut Prepared) -> Result<JsonMap, TranslateError> {
    let mut video: Option<Value> = None;
    let mut prompt: Vec<String> = Vec::new();
    let last_user = p.conv.turns.iter().rposition(|t| t.role == TurnRole::User);
    for (i, t) in std::mem::take(&mut p.conv.turns).into_iter().enumerate() {
        for b in t.blocks {
            match b {
                Block::Media(m) if m.kind == MediaKind::Video => {
                    video = Some(match m.source {
                        MediaSource::Base64(b) => json!({ "base64String": b }),
                        MediaSource::S3 { uri } => json!({"s3Location": { "uri": uri }}),
                        MediaSource::Text(_) => continue,
                    });
                }
                Block::Media(m) => {
                    return Err(TranslateError::invalid(
                        "messages",
                        format!(
                            "TwelveLabs Pegasus accepts video input only, got {}",
                            m.format
                        ),
                    ))
                }
                Block::Text(s) | Block::GuardedText(s) if Some(i) == last_user => prompt.push(s),
                _ => {}
            }
        }
    }
    let req = &mut p.req;
    let media = match req.extra.remove("mediaSource").filter(|v| !v.is_null()) {
        Some(m) if m.is_object() => m,
        Some(_) => {
            return Err(TranslateError::invalid(
                "mediaSource",
                "mediaSource must be {\"base64String\": …} or {\"s3Location\": {\"uri\", \"bucketOwner\"}}",
            ))
        }
        None => video.ok_or_else(|| {
            TranslateError::invalid(
                "mediaSource",
                "TwelveLabs Pegasus needs a video: set mediaSource ({\"base64String\"} or {\"s3Location\"}) or send a video_url part",
            )
        })?,
    };
    let mut input = prompt.join("\n");
    if let Some(sys) = system_text(&p.conv.system) {
        input = if input.is_empty() {
            sys
        } else {
            format!("{sys}\n\n{input}")
        };
    }
    if input.trim().is_empty() {
        return Err(TranslateError::invalid(
            "messages",
            "TwelveLabs Pegasus needs a text prompt in the last user message",
        ));
    }
    let mut b = Map::new();
    b.insert("inputPrompt".into(), input.into());
    b.insert("mediaSource".into(), media);
    put(&mut b, "temperature", req.temperature);
    put(&mut b, "maxOutputTokens", max_tokens(req));
    if let Some(Some(schema)) = json_request(req.response_format.take())? {
        b.insert("responseFormat".into(), json!({ "jsonSchema": schema }));
    }
    pass_through(std::mem::take(&mut req.extra), &mut b);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(system: Option<&str>, turns: &[(TurnRole, &str)]) -> Dialog {
        Dialog {
            system: system.map(str::to_owned),
            turns: turns.iter().map(|(r, t)| (*r, (*t).to_owned())).collect(),
        }
    }

    const U: TurnRole = TurnRole::User;
    const A: TurnRole = TurnRole::Assistant;

    #[test]
    fn llama3_template() {
        let p = llama3_prompt(
            &d(Some("Be brief."), &[(U, "Hi"), (A, "Hello"), (U, "Bye")]),
            false,
        );
        assert_eq!(
            p,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        // a final assistant turn is a prefill: left open
        let p = llama3_prompt(&d(None, &[(U, "Hi"), (A, "Sure:")]), false);
        assert!(p.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\nSure:"));
        let p = llama3_prompt(&d(None, &[(U, "Hi")]), true);
        assert_eq!(
            p,
            "<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n"
        );
    }

    #[test]
    fn inst_templates() {
        let dl = d(Some("S"), &[(U, "a"), (A, "b"), (U, "c")]);
        assert_eq!(
            inst_prompt(&dl, true),
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\na [/INST] b </s><s>[INST] c [/INST]"
        );
        assert_eq!(
            inst_prompt(&dl, false),
            "<s>[INST] S\n\na [/INST] b</s>[INST] c [/INST]"
        );
    }

    #[test]
    fn other_templates() {
        let dl = d(Some("S"), &[(U, "a"), (A, "b"), (U, "c")]);
        assert_eq!(
            plain_prompt(&dl),
            "S\n\nUser: a\n\nBot: b\n\nUser: c\n\nBot: "
        );
        assert_eq!(
            deepseek_r1_prompt(&dl),
            "<｜begin▁of▁sentence｜>S<｜User｜>a<｜Assistant｜>b<｜end▁of▁sentence｜><｜User｜>c<｜Assistant｜><think>\n"
        );
        assert_eq!(
            chatml_prompt(&dl),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
