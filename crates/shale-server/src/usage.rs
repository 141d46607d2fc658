//! Token usage read from answers the gateway relays rather than translates, for telemetry (tokens,
//! cost, the router's tpm window): one reader per answer shape —
//! - [`converse_json`]: a Converse answer, or a ConverseStream `metadata` event (both carry
//!   `usage: {inputTokens, outputTokens, cacheReadInputTokens, cacheWriteInputTokens}`);
//! - [`invoke_headers`]: InvokeModel's `X-Amzn-Bedrock-*-Token-Count` headers;
//! - [`invocation_metrics`]: the `amazon-bedrock-invocationMetrics` an InvokeModelWithResponseStream
//!   `chunk` event carries on the last event;
//! - [`AnthropicUsage`]: Anthropic Messages usage, from a message body or its `message_start` /
//!   `message_delta` stream events.
//!
//! Pure functions over bytes and headers: no I/O, nothing written to the client, and a malformed
//! answer simply yields no usage (it is the client's answer, not ours to judge).

use axum::http::HeaderMap;
use base64::Engine as _;
use serde::Deserialize;
use shale_telemetry::TokenUsage;
use shale_translate::converse::BedrockUsage;
use shale_translate::invoke::InvocationMetrics;

fn from_bedrock(u: &BedrockUsage) -> TokenUsage {
    TokenUsage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
    }
}

/// The `usage` of a Converse answer or of a ConverseStream `metadata` event payload.
pub fn converse_json(body: &[u8]) -> Option<TokenUsage> {
    #[derive(Deserialize)]
    struct WithUsage {
        usage: Option<BedrockUsage>,
    }
    let parsed: WithUsage = serde_json::from_slice(body).ok()?;
    parsed.usage.as_ref().map(from_bedrock)
}

/// InvokeModel's token-count headers (input and output required; cache counts when present).
pub fn invoke_headers(headers: &HeaderMap) -> Option<TokenUsage> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    Some(TokenUsage {
        input: number("x-amzn-bedrock-input-token-count")?,
        output: number("x-amzn-bedrock-output-token-count")?,
        cache_read: number("x-amzn-bedrock-cache-read-input-token-count").unwrap_or(0),
        cache_write: number("x-amzn-bedrock-cache-write-input-token-count").unwrap_or(0),
    })
}

const METRICS_KEY: &[u8] = b"amazon-bedrock-invocationMetrics";

/// The invocation metrics of an InvokeModelWithResponseStream `chunk` event payload
/// (`{"bytes": "<base64 JSON>"}`), when this chunk carries them.
pub fn invocation_metrics(payload: &[u8]) -> Option<TokenUsage> {
    #[derive(Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow)]
        bytes: std::borrow::Cow<'a, str>,
    }
    #[derive(Deserialize)]
    struct Event {
        #[serde(rename = "amazon-bedrock-invocationMetrics")]
        metrics: Option<InvocationMetrics>,
    }
    let chunk: Chunk = serde_json::from_slice(payload).ok()?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(chunk.bytes.as_bytes())
        .ok()?;
    if !json.windows(METRICS_KEY.len()).any(|w| w == METRICS_KEY) {
        return None;
    }
    let m = serde_json::from_slice::<Event>(&json).ok()?.metrics?;
    Some(from_bedrock(&m.into()))
}

/// Anthropic Messages usage, gathered from a message or from its stream events: each field seen
/// replaces the earlier figure (`message_start` brings the input and cache counts, every
/// `message_delta` the output so far — and, from Converse, the final input counts too).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicUsage {
    usage: TokenUsage,
    seen: bool,
}

#[derive(Deserialize)]
struct AnthropicCounts {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    fn take(&mut self, c: &AnthropicCounts) {
        let u = &mut self.usage;
        for (field, value) in [
            (&mut u.input, c.input_tokens),
            (&mut u.output, c.output_tokens),
            (&mut u.cache_read, c.cache_read_input_tokens),
            (&mut u.cache_write, c.cache_creation_input_tokens),
        ] {
            if let Some(v) = value {
                *field = v;
                self.seen = true;
            }
        }
    }

    /// A complete message (`{"usage": {...}, ...}`).
    pub fn from_message(body: &[u8]) -> Option<TokenUsage> {
        #[derive(Deserialize)]
        struct Message {
            usage: Option<AnthropicCounts>,
        }
        let mut acc = AnthropicUsage::default();
        acc.take(&serde_json::from_slice::<Message>(body).ok()?.usage?);
        acc.usage()
    }

    /// One stream event; only `message_start` and `message_delta` are read. Returns whether the
    /// usage changed.
    pub fn on_event(&mut self, event: &str, data: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Start {
            message: StartMessage,
        }
        #[derive(Deserialize)]
        struct StartMessage {
            usage: Option<AnthropicCounts>,
        }
        #[derive(Deserialize)]
        struct Delta {
            usage: Option<AnthropicCounts>,
        }
        let counts = match event {
            "message_start" => serde_json::from_slice::<Start>(data)
                .ok()
                .and_then(|s| s.message.usage),
            "message_delta" => serde_json::from_slice::<Delta>(data)
                .ok()
                .and_then(|d| d.usage),
            _ => None,
        };
        match counts {
            Some(c) => {
                self.take(&c);
                true
            }
            None => false,
        }
    }

    /// The usage so far, once any count was seen.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.seen.then_some(self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn converse_answers_and_metadata_events() {
        let body = br#"{"output":{},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":7,"totalTokens":19,"cacheReadInputTokens":100,"cacheWriteInputTokens":3}}"#;
        let u = converse_json(body).unwrap();
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (12, 7, 100, 3)
        );
        assert_eq!(u.total_tokens(), 122);
        let meta = br#"{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":9}}"#;
        assert_eq!(converse_json(meta).unwrap().total_tokens(), 7);
        assert!(converse_json(b"{\"messageStop\":{}}").is_none());
        assert!(converse_json(b"not json").is_none());
    }

    #[test]
    fn invoke_headers_need_both_counts() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-bedrock-input-token-count",
            HeaderValue::from_static("30"),
        );
        assert!(invoke_headers(&h).is_none());
        h.insert(
            "x-amzn-bedrock-output-token-count",
            HeaderValue::from_static(" 4"),
        );
        h.insert(
            "x-amzn-bedrock-cache-read-input-token-count",
            HeaderValue::from_static("60"),
        );
        let u = invoke_headers(&h).unwrap();
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (30, 4, 60, 0)
        );
    }

    #[test]
    fn invocation_metrics_ride_on_the_last_chunk() {
        let encode = |v: serde_json::Value| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(v.to_string());
            serde_json::json!({"bytes": b64}).to_string().into_bytes()
        };
        let plain = encode(serde_json::json!({"type": "content_block_delta"}));
        assert!(invocation_metrics(&plain).is_none());
        let last = encode(serde_json::json!({"type": "message_stop",
            "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9, "outputTokenCount": 3,
                "cacheReadInputTokenCount": 2, "invocationLatency": 40}}));
        let u = invocation_metrics(&last).unwrap();
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (9, 3, 2, 0)
        );
        assert!(invocation_metrics(b"{\"bytes\":\"!!\"}").is_none());
    }

    #[test]
    fn anthropic_messages_and_stream_events() {
        let message = br#"{"id":"msg_1","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":20,"cache_creation_input_tokens":1}}"#;
        let u = AnthropicUsage::from_message(message).unwrap();
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (10, 5, 20, 1)
        );
        let mut acc = AnthropicUsage::default();
        assert!(acc.usage().is_none());
        assert!(acc.on_event(
            "message_start",
            br#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":20}}}"#
        ));
        assert!(!acc.on_event("content_block_delta", br#"{"delta":{"text":"hi"}}"#));
        assert!(acc.on_event(
            "message_delta",
            br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}"#
        ));
        let u = acc.usage().unwrap();
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (10, 42, 20, 0)
        );
    }
}
