//! The script API: `POST /_emulator/script {"responses":[...]}` queues answers that the next
//! matching Bedrock requests consume (errors, custom bodies, custom or broken streams, delays,
//! dropped connections). This module parses and checks the items.

use serde_json::Value;
use std::time::Duration;

/// One queued answer.
#[derive(Debug, Clone)]
pub struct ScriptItem {
    /// Only requests of this operation consume the item (`converse`, `invoke`, `sts`, …).
    pub operation: Option<String>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// What to answer.
    pub action: ScriptAction,
}

/// What a script item answers.
#[derive(Debug, Clone)]
pub enum ScriptAction {
    /// The normal default answer (used with `delay_ms` alone).
    Default,
    /// Close the connection without any response.
    Drop,
    /// A Bedrock exception.
    Error(ScriptError),
    /// A custom body.
    Body(ScriptBody),
    /// An event stream (custom events or the default ones, possibly broken).
    Stream(StreamScript),
}

/// A scripted exception.
#[derive(Debug, Clone)]
pub struct ScriptError {
    /// Exception name (any case).
    pub kind: String,
    /// Message.
    pub message: String,
    /// Status override.
    pub status: Option<u16>,
}

impl ScriptError {
    /// The status it is answered with: the script's, else the exception table's for its kind.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| {
            crate::error::status_for(&crate::error::normalize_exception_name(&self.kind)).as_u16()
        })
    }

    /// The Bedrock exception it stands for.
    pub fn exception(self) -> crate::error::BedrockException {
        let status = http::StatusCode::from_u16(self.status());
        let exception = crate::error::BedrockException::new(&self.kind, self.message);
        match status {
            Ok(status) => exception.with_status(status),
            Err(_) => exception,
        }
    }
}

/// A scripted body (JSON value, or a string sent verbatim).
#[derive(Debug, Clone)]
pub struct ScriptBody {
    /// The body.
    pub body: Value,
    /// Status (default 200).
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl ScriptBody {
    /// The bytes sent: a string verbatim, any other value as JSON.
    pub fn bytes(&self) -> Vec<u8> {
        match &self.body {
            Value::String(s) => s.clone().into_bytes(),
            other => serde_json::to_vec(other).expect("JSON serializes"),
        }
    }
}

/// A scripted event stream.
#[derive(Debug, Clone, Default)]
pub struct StreamScript {
    /// Custom frames; `None` keeps the default events for the request.
    pub frames: Option<Vec<ScriptFrame>>,
    /// Send this many events, then an exception frame.
    pub exception_after: Option<usize>,
    /// The exception for `exception_after` (type, message).
    pub exception: Option<(String, String)>,
    /// Send this many full frames, then half of the next, then abort the body.
    pub cut_after: Option<usize>,
    /// Corrupt the message CRC of this frame (0-based).
    pub bad_crc_at: Option<usize>,
    /// Fall silent for `pause_ms` before sending frame `pause_after` (0-based): a slow body.
    pub pause_after: Option<usize>,
    /// Length of that silence, in milliseconds.
    pub pause_ms: Option<u64>,
}

/// One scripted frame.
#[derive(Debug, Clone)]
pub enum ScriptFrame {
    /// An event with its type and JSON payload (padded when sent).
    Event {
        /// `:event-type`.
        event_type: String,
        /// Payload.
        payload: Value,
    },
    /// A model-native JSON object sent as an InvokeModelWithResponseStream `chunk`.
    Chunk(Value),
}

/// Parses `{"responses":[...]}`.
pub fn parse_script(body: &Value) -> Result<Vec<ScriptItem>, String> {
    let items = body
        .get("responses")
        .and_then(Value::as_array)
        .ok_or("expected {\"responses\": [...]}")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item(item).map_err(|e| format!("responses[{i}]: {e}")))
        .collect()
}

fn opt_usize(item: &Value, key: &str) -> Result<Option<usize>, String> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
    }
}

fn parse_item(item: &Value) -> Result<ScriptItem, String> {
    let obj = item.as_object().ok_or("each response must be an object")?;
    let operation = match obj.get("operation") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("operation must be a string".into()),
    };
    let delay = opt_usize(item, "delay_ms")?.map(|ms| Duration::from_millis(ms as u64));
    let action = if obj.get("drop").and_then(Value::as_bool) == Some(true) {
        ScriptAction::Drop
    } else if let Some(err) = obj.get("error") {
        let kind = err
            .get("type")
            .and_then(Value::as_str)
            .ok_or("error.type is required")?
            .to_owned();
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Scripted {kind} from the shale emulator."));
        let status = match err.get("status") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|s| (100..600).contains(s))
                    .ok_or("error.status must be an HTTP status")? as u16,
            ),
        };
        ScriptAction::Error(ScriptError {
            kind,
            message,
            status,
        })
    } else if let Some(body) = obj.get("body") {
        let status = opt_usize(item, "status")?.unwrap_or(200);
        if !(100..600).contains(&status) {
            return Err("status must be an HTTP status".into());
        }
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), v)
                })
                .collect(),
            Some(_) => return Err("headers must be an object".into()),
        };
        ScriptAction::Body(ScriptBody {
            body: body.clone(),
            status: status as u16,
            headers,
        })
    } else if [
        "events",
        "chunks",
        "exception_after",
        "cut_after",
        "bad_crc_at",
        "pause_after",
    ]
    .iter()
    .any(|k| obj.contains_key(*k))
    {
        ScriptAction::Stream(parse_stream(item)?)
    } else if delay.is_some() {
        ScriptAction::Default
    } else {
        return Err(
            "expected one of error, body, events, chunks, exception_after, cut_after, bad_crc_at, drop, delay_ms".into(),
        );
    };
    Ok(ScriptItem {
        operation,
        delay,
        action,
    })
}

fn parse_stream(item: &Value) -> Result<StreamScript, String> {
    let mut frames: Option<Vec<ScriptFrame>> = None;
    if let Some(events) = item.get("events") {
        let events = events.as_array().ok_or("events must be an array")?;
        let mut out = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let event_type = ev
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("events[{i}].type is required"))?;
            let payload = ev
                .get("payload")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            if event_type == "chunk" && !payload.get("bytes").is_some_and(Value::is_string) {
                out.push(ScriptFrame::Chunk(payload));
            } else {
                out.push(ScriptFrame::Event {
                    event_type: event_type.to_owned(),
                    payload,
                });
            }
        }
        frames = Some(out);
    }
    if let Some(chunks) = item.get("chunks") {
        let chunks = chunks.as_array().ok_or("chunks must be an array")?;
        frames
            .get_or_insert_with(Vec::new)
            .extend(chunks.iter().cloned().map(ScriptFrame::Chunk));
    }
    let exception = match item.get("exception") {
        None | Some(Value::Null) => None,
        Some(e) => Some((
            e.get("type")
                .and_then(Value::as_str)
                .unwrap_or("modelStreamErrorException")
                .to_owned(),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("Scripted stream exception from the shale emulator.")
                .to_owned(),
        )),
    };
    let mut exception_after = opt_usize(item, "exception_after")?;
    if exception.is_some() && exception_after.is_none() {
        exception_after = Some(usize::MAX);
    }
    Ok(StreamScript {
        frames,
        exception_after,
        exception,
        cut_after: opt_usize(item, "cut_after")?,
        bad_crc_at: opt_usize(item, "bad_crc_at")?,
        pause_after: opt_usize(item, "pause_after")?,
        pause_ms: opt_usize(item, "pause_ms")?.map(|ms| ms as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_kind() {
        let items = parse_script(&json!({"responses":[
            {"error":{"type":"ThrottlingException"}},
            {"body":{"x":1},"status":201,"headers":{"a":"b"},"operation":"invoke"},
            {"events":[{"type":"messageStart","payload":{"role":"assistant"}}],"exception_after":1,
             "exception":{"type":"throttlingException","message":"m"}},
            {"chunks":[{"type":"message_stop"}],"cut_after":0},
            {"bad_crc_at":2},
            {"delay_ms":5},
            {"drop":true}
        ]}))
        .unwrap();
        assert_eq!(items.len(), 7);
        assert!(
            matches!(items[0].action, ScriptAction::Error(ref e) if e.kind == "ThrottlingException")
        );
        assert_eq!(items[1].operation.as_deref(), Some("invoke"));
        let ScriptAction::Stream(s) = &items[2].action else {
            panic!()
        };
        assert_eq!(s.exception_after, Some(1));
        let ScriptAction::Stream(s) = &items[3].action else {
            panic!()
        };
        assert!(matches!(s.frames.as_deref(), Some([ScriptFrame::Chunk(_)])));
        assert!(matches!(items[5].action, ScriptAction::Default));
        assert!(matches!(items[6].action, ScriptAction::Drop));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_script(&json!({"responses":[{"what":1}]})).is_err());
        assert!(parse_script(&json!({"responses":[{"error":{}}]})).is_err());
        assert!(parse_script(&json!([1])).is_err());
    }
}
