//! InvokeModel / InvokeModelWithResponseStream: picks the model family (from the id, or from
//! the body for opaque ARNs), validates the native body, and renders the family's native
//! response or stream events. Embeddings, images and rerank live in their own modules.

use crate::answer::{compose, Answer, PromptInfo, StopReason, ToolChoice, ToolDef};
use crate::converse::{self, text_chars};
use crate::error::BedrockException;
use crate::model::{family_from_body, family_of, Family};
use crate::state::AppState;
use crate::validate::required_key;
use crate::{anthropic, embeddings, images, rerank, text};
use base64::Engine as _;
use serde_json::{json, Value};

/// A rendered native answer.
#[derive(Debug)]
pub enum Rendered {
    /// Non-streaming body.
    Body(Value),
    /// Native stream events (each becomes one `chunk`).
    Chunks(Vec<Value>),
}

/// What an invoke produced, with the token counts Bedrock reports in headers/metrics.
#[derive(Debug)]
pub struct InvokeOutcome {
    /// The answer.
    pub rendered: Rendered,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

fn outcome(rendered: Rendered, answer: &Answer) -> InvokeOutcome {
    InvokeOutcome {
        rendered,
        input_tokens: answer.usage.input
            + answer.usage.cache_read.unwrap_or(0)
            + answer.usage.cache_write.unwrap_or(0),
        output_tokens: answer.usage.output,
    }
}

fn no_stream() -> BedrockException {
    BedrockException::validation("The model is unsupported for streaming")
}

fn str_field<'a>(body: &'a Value, key: &str) -> Result<&'a str, BedrockException> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| required_key(key))
}

fn messages_of(body: &Value) -> Result<&Vec<Value>, BedrockException> {
    body.get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| required_key("messages"))
}

fn u64_at(body: &Value, pointer: &str) -> Option<u64> {
    body.pointer(pointer).and_then(Value::as_u64)
}

fn strings_at(body: &Value, pointer: &str) -> Vec<String> {
    match body.pointer(pointer) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// One InvokeModel call, as the family handlers below read it.
#[derive(Clone, Copy)]
struct Call<'a> {
    state: &'a AppState,
    model_id: &'a str,
    family: Family,
    body: &'a Value,
    stream: bool,
}

/// Answers an InvokeModel request body for `model_id`.
pub fn invoke(
    state: &AppState,
    model_id: &str,
    body: &Value,
    stream: bool,
) -> Result<InvokeOutcome, BedrockException> {
    let mut family = family_of(model_id)?;
    if family == Family::Opaque {
        family = family_from_body(body);
    }
    if !body.is_object() {
        return Err(BedrockException::validation("Malformed input request: #: expected type: JSONObject, please reformat your input and try again."));
    }
    let call = Call {
        state,
        model_id,
        family,
        body,
        stream,
    };
    match family {
        Family::Anthropic => claude(call),
        Family::TitanEmbedV1
        | Family::TitanEmbedV2
        | Family::TitanEmbedImage
        | Family::NovaEmbed
        | Family::CohereEmbedV3
        | Family::CohereEmbedV4 => {
            if stream {
                return Err(no_stream());
            }
            let (body, tokens) = embeddings::respond(family, body)?;
            Ok(InvokeOutcome {
                rendered: Rendered::Body(body),
                input_tokens: tokens,
                output_tokens: 0,
            })
        }
        Family::TitanImage | Family::Stability | Family::StabilitySdxl => {
            if stream {
                return Err(no_stream());
            }
            let body = images::respond(family, body)?;
            Ok(InvokeOutcome {
                rendered: Rendered::Body(body),
                input_tokens: 0,
                output_tokens: 0,
            })
        }
        Family::Rerank => {
            if stream {
                return Err(no_stream());
            }
            let (body, tokens) = rerank::invoke_body(body)?;
            Ok(InvokeOutcome {
                rendered: Rendered::Body(body),
                input_tokens: tokens,
                output_tokens: 0,
            })
        }
        Family::Nova => nova(call),
        Family::Ai21J2 if stream => Err(no_stream()),
        Family::Mistral | Family::Qwen | Family::OtherChat | Family::Ai21Jamba | Family::OpenAi
            if body.get("messages").is_some()
                || matches!(
                    family,
                    Family::OpenAi | Family::Ai21Jamba | Family::OtherChat
                ) =>
        {
            openai_chat(call)
        }
        _ => prompt_family(call),
    }
}

fn claude(call: Call<'_>) -> Result<InvokeOutcome, BedrockException> {
    anthropic::validate(call.body)?;
    if anthropic::is_legacy(call.body) {
        let prompt = str_field(call.body, "prompt")?;
        let mut info = PromptInfo::text_only(
            call.model_id,
            text::last_user_from_prompt(prompt),
            text::approx_tokens(prompt),
        );
        info.max_tokens = u64_at(call.body, "/max_tokens_to_sample");
        let answer = compose(&info, call.state);
        let reply = answer.text.clone().unwrap_or_default();
        let rendered = if call.stream {
            Rendered::Chunks(anthropic::legacy_events(&reply))
        } else {
            Rendered::Body(anthropic::legacy_body(&reply))
        };
        return Ok(outcome(rendered, &answer));
    }
    let info = anthropic::prompt_info(call.model_id, call.body);
    let answer = compose(&info, call.state);
    let rendered = if call.stream {
        Rendered::Chunks(anthropic::stream_events(&answer, call.model_id))
    } else {
        Rendered::Body(anthropic::response_body(&answer, call.model_id))
    };
    Ok(outcome(rendered, &answer))
}

fn nova(call: Call<'_>) -> Result<InvokeOutcome, BedrockException> {
    let messages = messages_of(call.body)?;
    if messages.is_empty() || messages[0].get("role").and_then(Value::as_str) != Some("user") {
        return Err(BedrockException::validation("A conversation must start with a user message. Try again with a conversation that starts with a user message."));
    }
    let mut info = converse::prompt_info(call.model_id, Family::Nova, call.body);
    info.max_tokens = u64_at(call.body, "/inferenceConfig/max_new_tokens").or(info.max_tokens);
    info.thinking = converse::thinking_requested(Some(call.body));
    let answer = compose(&info, call.state);
    let rendered = if call.stream {
        let mut events = vec![json!({"messageStart":{"role":"assistant"}})];
        let mut index = 0;
        if let Some(t) = &answer.text {
            for piece in text::split_for_stream(t, 3) {
                events.push(
                    json!({"contentBlockDelta":{"delta":{"text":piece},"contentBlockIndex":index}}),
                );
            }
            events.push(json!({"contentBlockStop":{"contentBlockIndex":index}}));
            index += 1;
        }
        if let Some(t) = &answer.tool_use {
            events.push(json!({"contentBlockStart":{"start":{"toolUse":{"toolUseId":format!("tooluse_{}", t.id_suffix),"name":t.name}},"contentBlockIndex":index}}));
            events.push(json!({"contentBlockDelta":{"delta":{"toolUse":{"input":t.input.to_string()}},"contentBlockIndex":index}}));
            events.push(json!({"contentBlockStop":{"contentBlockIndex":index}}));
        }
        events.push(json!({"messageStop":{"stopReason":answer.stop_reason.as_str()}}));
        events.push(json!({"metadata":{"usage":{"inputTokens":answer.usage.input,"outputTokens":answer.usage.output}}}));
        Rendered::Chunks(events)
    } else {
        let mut content = Vec::new();
        if let Some(t) = &answer.text {
            content.push(json!({"text":t}));
        }
        if let Some(t) = &answer.tool_use {
            content.push(json!({"toolUse":{"toolUseId":format!("tooluse_{}", t.id_suffix),"name":t.name,"input":t.input}}));
        }
        Rendered::Body(json!({
            "output":{"message":{"role":"assistant","content":content}},
            "stopReason":answer.stop_reason.as_str(),
            "usage":{"inputTokens":answer.usage.input,"outputTokens":answer.usage.output,"totalTokens":answer.usage.total()}
        }))
    };
    Ok(outcome(rendered, &answer))
}

/// OpenAI chat-completions bodies (gpt-oss, Jamba, Mistral chat, Qwen/Kimi/DeepSeek v3, imported).
fn openai_chat(call: Call<'_>) -> Result<InvokeOutcome, BedrockException> {
    let (info, id) = openai_prompt(call.model_id, call.body)?;
    let answer = compose(&info, call.state);
    let rendered = if call.stream {
        Rendered::Chunks(openai_chunks(&answer, &id, call.model_id))
    } else {
        Rendered::Body(openai_completion(
            &answer,
            &id,
            call.model_id,
            call.family == Family::Mistral,
        ))
    };
    Ok(outcome(rendered, &answer))
}

/// What an OpenAI chat-completions body asks (and the completion id it gets).
pub(crate) fn openai_prompt(
    model_id: &str,
    body: &Value,
) -> Result<(PromptInfo, String), BedrockException> {
    let messages = messages_of(body)?;
    if messages.is_empty() {
        return Err(BedrockException::validation(
            "messages: at least one message is required",
        ));
    }
    let last_user_text = text::last_user_text(messages);
    let mut info = PromptInfo::text_only(
        model_id,
        &last_user_text,
        text_chars(&Value::Array(messages.clone())).div_ceil(4),
    );
    info.max_tokens =
        u64_at(body, "/max_completion_tokens").or_else(|| u64_at(body, "/max_tokens"));
    info.stop_sequences = strings_at(body, "/stop");
    (info.tools, info.tool_choice) = openai_tools(body, true);
    info.tool_results = match messages.last() {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("tool") => messages
            .iter()
            .rev()
            .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
            .count(),
        _ => 0,
    };
    info.json_schema = body.pointer("/response_format/json_schema/schema").cloned();
    let id = format!(
        "chatcmpl-{}",
        text::stable_id(text::stable_hash(last_user_text.as_bytes()), 24)
    );
    Ok((info, id))
}

/// The function tools and tool choice of an OpenAI body: chat's (`{"type": "function",
/// "function": {name, parameters}}`, `nested`) or the Responses API's (flat `{type, name,
/// parameters}`).
pub(crate) fn openai_tools(body: &Value, nested: bool) -> (Vec<ToolDef>, ToolChoice) {
    let function = |t: &'_ Value| -> Option<Value> {
        if nested {
            t.get("function").cloned()
        } else {
            (t.get("type").and_then(Value::as_str) == Some("function")).then(|| t.clone())
        }
    };
    let name_of = |f: &Value| {
        f.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(function)
        .map(|f| ToolDef {
            name: name_of(&f),
            schema: f.get("parameters").cloned().unwrap_or(Value::Null),
        })
        .collect();
    let choice = match body.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::Object(o)) if nested => {
            ToolChoice::Tool(o.get("function").map(name_of).unwrap_or_default())
        }
        Some(o @ Value::Object(_)) => ToolChoice::Tool(name_of(o)),
        _ => ToolChoice::Auto,
    };
    (tools, choice)
}

fn openai_tool_calls(answer: &Answer) -> Option<Value> {
    answer.tool_use.as_ref().map(|t| {
        json!([{"id":format!("call_{}", t.id_suffix),"type":"function",
            "function":{"name":t.name,"arguments":t.input.to_string()}}])
    })
}

/// The `usage` of an OpenAI chat answer.
pub(crate) fn openai_usage(answer: &Answer) -> Value {
    json!({"prompt_tokens":answer.usage.input,"completion_tokens":answer.usage.output,
        "total_tokens":answer.usage.input + answer.usage.output})
}

/// A `chat.completion` for `answer`.
pub(crate) fn openai_completion(answer: &Answer, id: &str, model_id: &str, mistral: bool) -> Value {
    let finish = answer.stop_reason.openai();
    let mut message = json!({"role":"assistant","content":answer.text});
    if let Some(calls) = openai_tool_calls(answer) {
        message["tool_calls"] = calls;
    }
    let mut choice = json!({"index":0,"message":message,"finish_reason":finish});
    if mistral {
        choice["stop_reason"] = json!(if answer.stop_reason == StopReason::MaxTokens {
            "length"
        } else {
            "stop"
        });
    }
    json!({"id":id,"object":"chat.completion","created":1_700_000_000,"model":model_id,
        "choices":[choice],"usage":openai_usage(answer)})
}

/// The `chat.completion.chunk`s of `answer`; the last (finish) chunk carries the usage.
pub(crate) fn openai_chunks(answer: &Answer, id: &str, model_id: &str) -> Vec<Value> {
    let finish = answer.stop_reason.openai();
    let chunk = |delta: Value, finish: Value| {
        json!({"id":id,"object":"chat.completion.chunk","created":1_700_000_000,"model":model_id,
            "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
    };
    let mut events = vec![chunk(json!({"role":"assistant","content":""}), Value::Null)];
    if let Some(t) = &answer.text {
        for piece in text::split_for_stream(t, 3) {
            events.push(chunk(json!({"content":piece}), Value::Null));
        }
    }
    if let Some(calls) = openai_tool_calls(answer) {
        let mut call = calls[0].clone();
        call["index"] = json!(0);
        events.push(chunk(json!({"tool_calls":[call]}), Value::Null));
    }
    let mut last = chunk(json!({}), json!(finish));
    last["usage"] = openai_usage(answer);
    events.push(last);
    events
}

/// Prompt-string families: Llama, Mistral (prompt), Titan text, Cohere command(-r), AI21 J2,
/// DeepSeek R1, Qwen (ChatML prompt), TwelveLabs Pegasus.
fn prompt_family(call: Call<'_>) -> Result<InvokeOutcome, BedrockException> {
    let (prompt_key, max_pointer, stop_pointer) = match call.family {
        Family::TitanText => (
            "inputText",
            "/textGenerationConfig/maxTokenCount",
            "/textGenerationConfig/stopSequences",
        ),
        Family::CohereCommandR => ("message", "/max_tokens", "/stop_sequences"),
        Family::CohereCommand => ("prompt", "/max_tokens", "/stop_sequences"),
        Family::Ai21J2 => ("prompt", "/maxTokens", "/stopSequences"),
        Family::Pegasus => ("inputPrompt", "/maxOutputTokens", "/stop"),
        Family::Mistral | Family::DeepSeekR1 => ("prompt", "/max_tokens", "/stop"),
        _ => ("prompt", "/max_gen_len", "/stop"),
    };
    let prompt = str_field(call.body, prompt_key)?;
    if call.family == Family::Pegasus && call.body.get("mediaSource").is_none() {
        return Err(required_key("mediaSource"));
    }
    let mut info = PromptInfo::text_only(
        call.model_id,
        text::last_user_from_prompt(prompt),
        text::approx_tokens(prompt).max(1),
    );
    info.max_tokens = u64_at(call.body, max_pointer);
    info.stop_sequences = strings_at(call.body, stop_pointer);
    let answer = compose(&info, call.state);
    let reply = answer.text.clone().unwrap_or_default();
    let length = answer.stop_reason == StopReason::MaxTokens;
    let (input, output) = (answer.usage.input, answer.usage.output);
    let pieces = text::split_for_stream(&reply, 3);
    let n = pieces.len();
    let id = uuid_like(&reply);
    let rendered = match call.family {
        Family::TitanText => {
            let reason = if length { "LENGTH" } else { "FINISH" };
            if call.stream {
                Rendered::Chunks(pieces.into_iter().enumerate().map(|(i, p)| {
                    let last = i + 1 == n;
                    json!({"outputText":p,"index":0,"totalOutputTextTokenCount": if last { json!(output) } else { Value::Null },
                        "completionReason": if last { json!(reason) } else { Value::Null },
                        "inputTextTokenCount": if i == 0 { json!(input) } else { Value::Null }})
                }).collect())
            } else {
                Rendered::Body(
                    json!({"inputTextTokenCount":input,"results":[{"tokenCount":output,"outputText":reply,"completionReason":reason}]}),
                )
            }
        }
        Family::Mistral => {
            let reason = if length { "length" } else { "stop" };
            if call.stream {
                Rendered::Chunks(pieces.into_iter().enumerate().map(|(i, p)| {
                    json!({"outputs":[{"text":p,"stop_reason": if i + 1 == n { json!(reason) } else { Value::Null }}]})
                }).collect())
            } else {
                Rendered::Body(json!({"outputs":[{"text":reply,"stop_reason":reason}]}))
            }
        }
        Family::CohereCommand => {
            let reason = if length { "MAX_TOKENS" } else { "COMPLETE" };
            let full = json!({"generations":[{"id":id,"text":reply,"finish_reason":reason}],"id":id,"prompt":prompt});
            if call.stream {
                let mut events: Vec<Value> = pieces
                    .into_iter()
                    .map(|p| json!({"text":p,"is_finished":false}))
                    .collect();
                events.push(json!({"is_finished":true,"finish_reason":reason,"response":full}));
                Rendered::Chunks(events)
            } else {
                Rendered::Body(full)
            }
        }
        Family::CohereCommandR => {
            let reason = if length { "MAX_TOKENS" } else { "COMPLETE" };
            let full = json!({"response_id":id,"text":reply,"generation_id":id,"finish_reason":reason,
                "chat_history":[{"role":"USER","message":prompt},{"role":"CHATBOT","message":reply}]});
            if call.stream {
                let mut events = vec![
                    json!({"event_type":"stream-start","generation_id":id,"is_finished":false}),
                ];
                events.extend(
                    pieces.into_iter().map(
                        |p| json!({"event_type":"text-generation","text":p,"is_finished":false}),
                    ),
                );
                events.push(json!({"event_type":"stream-end","finish_reason":reason,"is_finished":true,"response":full}));
                Rendered::Chunks(events)
            } else {
                Rendered::Body(full)
            }
        }
        Family::Ai21J2 => Rendered::Body(json!({"id":1234,"prompt":{"text":prompt,"tokens":[]},
            "completions":[{"data":{"text":reply,"tokens":[]},"finishReason":{"reason": if length { "length" } else { "endoftext" }}}]})),
        Family::DeepSeekR1 => {
            let full = format!(
                "<think>\nThe user wrote: {}.\n</think>\n\n{reply}",
                text::first_words(&info.last_user_text, 8)
            );
            let reason = if length { "length" } else { "stop" };
            if call.stream {
                let parts = text::split_for_stream(&full, 4);
                let m = parts.len();
                Rendered::Chunks(parts.into_iter().enumerate().map(|(i, p)| {
                    json!({"choices":[{"index":0,"text":p,"stop_reason": if i + 1 == m { json!(reason) } else { Value::Null }}]})
                }).collect())
            } else {
                Rendered::Body(json!({"choices":[{"index":0,"text":full,"stop_reason":reason}]}))
            }
        }
        Family::Pegasus => {
            let reason = if length { "length" } else { "stop" };
            if call.stream {
                let mut events: Vec<Value> =
                    pieces.into_iter().map(|p| json!({"message":p})).collect();
                events.push(json!({"finishReason":reason}));
                Rendered::Chunks(events)
            } else {
                Rendered::Body(json!({"message":reply,"finishReason":reason}))
            }
        }
        _ => {
            // Llama (and ChatML-prompt Qwen / imported models).
            let reason = if length { "length" } else { "stop" };
            if call.stream {
                let mut generated = 0;
                Rendered::Chunks(pieces.into_iter().enumerate().map(|(i, p)| {
                    generated += text::word_tokens(&p);
                    let last = i + 1 == n;
                    json!({"generation":p,"prompt_token_count": if i == 0 { json!(input) } else { Value::Null },
                        "generation_token_count": if last { output } else { generated },
                        "stop_reason": if last { json!(reason) } else { Value::Null }})
                }).collect())
            } else {
                Rendered::Body(
                    json!({"generation":reply,"prompt_token_count":input,"generation_token_count":output,"stop_reason":reason}),
                )
            }
        }
    };
    Ok(outcome(rendered, &answer))
}

fn uuid_like(seed: &str) -> String {
    let h = text::stable_hash(seed.as_bytes());
    let s = format!("{:016x}{:016x}", h, text::xorshift(h));
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// CountTokens: `{"input":{"converse":{...}}}` or `{"input":{"invokeModel":{"body":"<json>"}}}`.
pub fn count_tokens(model_id: &str, body: &Value) -> Result<Value, BedrockException> {
    if family_of(model_id)? != Family::Anthropic {
        return Err(BedrockException::validation(
            "The provided model doesn't support counting tokens.",
        ));
    }
    let input = body.get("input").ok_or_else(|| required_key("input"))?;
    let tokens = if let Some(conv) = input.get("converse") {
        crate::validate::converse(Family::Anthropic, conv)?;
        converse::prompt_info(model_id, Family::Anthropic, conv).input_tokens
    } else if let Some(inv) = input.get("invokeModel") {
        let raw = inv
            .get("body")
            .and_then(Value::as_str)
            .ok_or_else(|| required_key("body"))?;
        // A Smithy blob: the invoke body travels base64-encoded inside the JSON request.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|_| {
                BedrockException::validation(
                    "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must be valid base64",
                )
            })?;
        let native: Value = serde_json::from_slice(&bytes).map_err(|_| {
            BedrockException::validation(
                "Malformed input request: the invokeModel body is not valid JSON.",
            )
        })?;
        anthropic::validate(&native)?;
        anthropic::prompt_info(model_id, &native).input_tokens
    } else {
        return Err(BedrockException::validation(
            "The input must set exactly one of converse, invokeModel.",
        ));
    };
    Ok(json!({ "inputTokens": tokens.max(1) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    fn run(model: &str, body: Value, stream: bool) -> Result<InvokeOutcome, BedrockException> {
        invoke(
            &AppState::new(EmulatorConfig::default()),
            model,
            &body,
            stream,
        )
    }

    fn body(model: &str, b: Value) -> Value {
        match run(model, b, false).unwrap().rendered {
            Rendered::Body(v) => v,
            Rendered::Chunks(_) => panic!("expected a body"),
        }
    }

    /// Golden: Claude Messages invoke body.
    #[test]
    fn golden_anthropic_invoke() {
        let out = body(
            "anthropic.claude-3-haiku-20240307-v1:0",
            json!({"anthropic_version":"bedrock-2023-05-31",
            "max_tokens":100,"messages":[{"role":"user","content":"Say hi"}]}),
        );
        assert_eq!(out["type"], "message");
        assert_eq!(out["model"], "claude-3-haiku-20240307");
        assert_eq!(
            out["content"],
            json!([{"type":"text","text":"Hello from the shale emulator (model anthropic.claude-3-haiku-20240307-v1:0). You said: Say hi"}])
        );
        assert_eq!(out["stop_reason"], "end_turn");
        assert_eq!(out["usage"], json!({"input_tokens":3,"output_tokens":11}));
    }

    #[test]
    fn families_answer_natively() {
        let llama = body(
            "meta.llama3-8b-instruct-v1:0",
            json!({"prompt":"<|start_header_id|>user<|end_header_id|>\n\nhey<|eot_id|>","max_gen_len":50}),
        );
        assert!(llama["generation"]
            .as_str()
            .unwrap()
            .ends_with("You said: hey"));
        assert_eq!(llama["stop_reason"], "stop");
        let titan = body(
            "amazon.titan-text-express-v1",
            json!({"inputText":"User: yo\n\nBot:"}),
        );
        assert_eq!(titan["results"][0]["completionReason"], "FINISH");
        let mistral = body(
            "mistral.mistral-7b-instruct-v0:2",
            json!({"prompt":"<s>[INST] hi [/INST]","max_tokens":2}),
        );
        assert_eq!(mistral["outputs"][0]["stop_reason"], "length");
        let gpt = body(
            "openai.gpt-oss-20b-1:0",
            json!({"messages":[{"role":"user","content":"hi"}]}),
        );
        assert_eq!(gpt["object"], "chat.completion");
        assert_eq!(gpt["choices"][0]["finish_reason"], "stop");
        let r1 = body("us.deepseek.r1-v1:0", json!({"prompt":"why?"}));
        assert!(r1["choices"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("<think>"));
        let cohere = body("cohere.command-r-plus-v1:0", json!({"message":"hello"}));
        assert_eq!(cohere["finish_reason"], "COMPLETE");
        let pegasus = body(
            "twelvelabs.pegasus-1-2-v1:0",
            json!({"inputPrompt":"describe","mediaSource":{"base64String":"AAAA"}}),
        );
        assert_eq!(pegasus["finishReason"], "stop");
        let nova = body(
            "amazon.nova-lite-v1:0",
            json!({"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"hi"}]}]}),
        );
        assert_eq!(nova["stopReason"], "end_turn");
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(run(
            "meta.llama3-8b-instruct-v1:0",
            json!({"max_gen_len":5}),
            false
        )
        .unwrap_err()
        .message
        .contains("required key [prompt]"));
        assert!(run("acme.foo-v1", json!({"prompt":"x"}), false).is_err());
        assert!(run(
            "amazon.titan-embed-text-v2:0",
            json!({"inputText":"x"}),
            true
        )
        .is_err());
    }

    #[test]
    fn anthropic_stream_has_native_events() {
        let out = run("anthropic.claude-3-haiku-20240307-v1:0", json!({"anthropic_version":"bedrock-2023-05-31",
            "max_tokens":100,"messages":[{"role":"user","content":"hi"}],
            "tools":[{"name":"f","input_schema":{"type":"object","properties":{"a":{"type":"integer"}}}}]}), true).unwrap();
        let Rendered::Chunks(events) = out.rendered else {
            panic!()
        };
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types[0], "message_start");
        assert_eq!(*types.last().unwrap(), "message_stop");
        assert!(types.contains(&"message_delta"));
        let partial: String = events
            .iter()
            .filter_map(|e| e.pointer("/delta/partial_json").and_then(Value::as_str))
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&partial).unwrap(),
            json!({"a":1})
        );
    }

    #[test]
    fn counts_tokens_for_claude_only() {
        let conv = json!({"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hello world!"}]}]}}});
        assert_eq!(
            count_tokens("anthropic.claude-3-haiku-20240307-v1:0", &conv).unwrap(),
            json!({"inputTokens":4})
        );
        assert!(count_tokens("meta.llama3-8b-instruct-v1:0", &conv).is_err());
    }

    #[test]
    fn counts_invoke_bodies_with_tools() {
        let b64 = |v: Value| {
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&v).unwrap())
        };
        let plain = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":10,
            "messages":[{"role":"user","content":"hello world!"}]});
        let mut with_tools = plain.clone();
        with_tools["tools"] = json!([{"name":"get_weather","description":"Weather for a city",
            "input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]);
        let count = |v: Value| {
            count_tokens(
                "anthropic.claude-3-haiku-20240307-v1:0",
                &json!({"input":{"invokeModel":{"body": b64(v)}}}),
            )
        };
        let n = count(plain.clone()).unwrap()["inputTokens"]
            .as_u64()
            .unwrap();
        let m = count(with_tools).unwrap()["inputTokens"].as_u64().unwrap();
        assert!(m > n, "{m} > {n}");
        let raw = json!({"input":{"invokeModel":{"body": plain.to_string()}}});
        let e = count_tokens("anthropic.claude-3-haiku-20240307-v1:0", &raw).unwrap_err();
        assert!(e.message.contains("base64"));
        let mut meta = plain;
        meta["model"] = json!("claude");
        assert!(count(meta)
            .unwrap_err()
            .message
            .contains("extraneous key [model]"));
    }
}
