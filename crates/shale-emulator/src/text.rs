//! Deterministic text helpers: token estimates, the default reply, prompt-template stripping,
//! the last user turn of OpenAI-style messages, stable hashes and sample JSON values generated
//! from a JSON schema.

use serde_json::{Map, Value};

/// Rough token count: one token per 4 characters, at least 1 for non-empty text.
pub fn approx_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    chars.div_ceil(4)
}

/// Tokens of a generated reply: one per whitespace-separated word.
pub fn word_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of the last `user` message (or Responses input item) of OpenAI-style `messages`: its
/// string content, or its parts' texts joined with spaces; empty when there is none.
pub fn last_user_text(messages: &[Value]) -> String {
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    match last_user.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// FNV-1a 64-bit hash: stable across runs and platforms.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A deterministic identifier of `len` base62 characters derived from `seed`.
pub fn stable_id(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state = xorshift(state);
            ALPHABET[(state % 62) as usize] as char
        })
        .collect()
}

/// One step of xorshift64 (deterministic pseudo-random numbers).
pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The first `n` words of `text`.
pub fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The default reply: names the model and echoes the first words of the last user text.
pub fn reply_text(model_id: &str, last_user_text: &str) -> String {
    let echo = first_words(last_user_text, 8);
    if echo.is_empty() {
        format!("Hello from the shale emulator (model {model_id}).")
    } else {
        format!("Hello from the shale emulator (model {model_id}). You said: {echo}")
    }
}

/// Splits text into `parts` pieces on word boundaries; concatenating them gives `text` back.
pub fn split_for_stream(text: &str, parts: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    if words.len() <= 1 || parts <= 1 {
        return vec![text.to_owned()];
    }
    let per = words.len().div_ceil(parts);
    words.chunks(per).map(|c| c.concat()).collect()
}

/// Splits a string into `parts` pieces by characters (used for tool input JSON fragments).
pub fn split_chars(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return vec![text.to_owned(), String::new()];
    }
    let per = chars.len().div_ceil(parts.max(2));
    chars.chunks(per).map(|c| c.iter().collect()).collect()
}

/// Extracts the last user turn from a templated prompt (Llama 3, Llama 2/Mistral `[INST]`,
/// ChatML, DeepSeek, Titan `User:`, Claude legacy `Human:`), else returns the prompt.
pub fn last_user_from_prompt(prompt: &str) -> &str {
    const MARKERS: &[(&str, &[&str])] = &[
        ("<|start_header_id|>user<|end_header_id|>", &["<|eot_id|>"]),
        ("<|im_start|>user", &["<|im_end|>"]),
        ("<｜User｜>", &["<｜Assistant｜>"]),
        ("[INST]", &["[/INST]"]),
        ("Human:", &["\n\nAssistant:", "Assistant:"]),
        ("User:", &["\n\nBot:", "Bot:"]),
    ];
    for (start, ends) in MARKERS {
        if let Some(pos) = prompt.rfind(start) {
            let rest = &prompt[pos + start.len()..];
            let end = ends
                .iter()
                .filter_map(|e| rest.find(e))
                .min()
                .unwrap_or(rest.len());
            let segment = rest[..end].trim();
            return segment
                .strip_prefix("<<SYS>>")
                .and_then(|s| s.split("<</SYS>>").nth(1))
                .map(str::trim)
                .unwrap_or(segment);
        }
    }
    prompt.trim()
}

/// A sample value that satisfies a (simple) JSON schema: used for default tool inputs and for
/// structured-output answers.
pub fn sample_from_schema(schema: &Value) -> Value {
    sample_depth(schema, 0)
}

fn sample_depth(schema: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first.clone();
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    if let Some(any) = obj
        .get("anyOf")
        .or_else(|| obj.get("oneOf"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return sample_depth(any, depth + 1);
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ => "object",
    };
    match ty {
        "string" => Value::String("example".into()),
        "integer" => Value::from(1),
        "number" => Value::from(1.5),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        "array" => match obj.get("items") {
            Some(items) => Value::Array(vec![sample_depth(items, depth + 1)]),
            None => Value::Array(Vec::new()),
        },
        _ => {
            let mut out = Map::new();
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    out.insert(name.clone(), sample_depth(prop, depth + 1));
                }
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reply_echoes_the_user() {
        assert_eq!(
            reply_text("m", "what is the capital of France please tell me now"),
            "Hello from the shale emulator (model m). You said: what is the capital of France please tell"
        );
        assert_eq!(
            reply_text("m", "  "),
            "Hello from the shale emulator (model m)."
        );
    }

    #[test]
    fn stream_split_round_trips() {
        let t = "one two three four five six seven";
        let parts = split_for_stream(t, 3);
        assert!(parts.len() >= 2);
        assert_eq!(parts.concat(), t);
        let j = r#"{"city":"example"}"#;
        let frags = split_chars(j, 2);
        assert_eq!(frags.len(), 2);
        assert_eq!(frags.concat(), j);
    }

    #[test]
    fn templates_are_stripped() {
        let llama = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
        assert_eq!(last_user_from_prompt(llama), "Hi there");
        assert_eq!(
            last_user_from_prompt("<s>[INST] Bonjour [/INST]"),
            "Bonjour"
        );
        assert_eq!(last_user_from_prompt("\n\nUser: Hey\n\nBot: "), "Hey");
        assert_eq!(last_user_from_prompt("plain"), "plain");
    }

    #[test]
    fn schema_samples_follow_types() {
        let s = json!({"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"},
            "unit":{"enum":["c","f"]},"tags":{"type":"array","items":{"type":"string"}}}});
        assert_eq!(
            sample_from_schema(&s),
            json!({"city":"example","n":1,"unit":"c","tags":["example"]})
        );
    }

    #[test]
    fn hashes_and_ids_are_stable() {
        // FNV-1a 64 reference values: the hash must not change between runs or releases.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"abc"), 0xe71f_a219_0541_574b);
        assert_ne!(stable_hash(b"abc"), stable_hash(b"abd"));
        assert_eq!(stable_id(42, 10), "tS3P5EmDJD");
        assert_eq!(approx_tokens("abcdefgh"), 2);
        assert_eq!(approx_tokens(""), 0);
    }
}
