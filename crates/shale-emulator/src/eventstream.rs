//! `application/vnd.amazon.eventstream` frame encoding (built on `aws-smithy-eventstream`), the
//! random `"p"` padding Bedrock adds to every payload, and frame corruption helpers for scripts.
//!
//! Other crates use these helpers to build stream fixtures byte-for-byte like Bedrock's.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use rand::Rng as _;

/// MIME type of Bedrock event streams.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

const PAD_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn string_header(name: &'static str, value: impl Into<String>) -> Header {
    Header::new(name, HeaderValue::String(value.into().into()))
}

fn encode(message: &Message) -> Bytes {
    let mut buf = BytesMut::with_capacity(message.payload().len() + 128);
    write_message_to(message, &mut buf).expect("event-stream headers are within limits");
    buf.freeze()
}

/// One event frame: `:event-type`, `:content-type: application/json`, `:message-type: event`,
/// with `payload_json` as given (no padding added; see [`pad_json`]).
pub fn encode_event(event_type: &str, payload_json: &[u8]) -> Bytes {
    let message = Message::new(Bytes::copy_from_slice(payload_json))
        .add_header(string_header(":event-type", event_type))
        .add_header(string_header(":content-type", "application/json"))
        .add_header(string_header(":message-type", "event"));
    encode(&message)
}

/// One exception frame: `:exception-type` (camelCase, e.g. `throttlingException`),
/// `:content-type: application/json`, `:message-type: exception`.
pub fn encode_exception(exception_type: &str, payload_json: &[u8]) -> Bytes {
    let message = Message::new(Bytes::copy_from_slice(payload_json))
        .add_header(string_header(":exception-type", exception_type))
        .add_header(string_header(":content-type", "application/json"))
        .add_header(string_header(":message-type", "exception"));
    encode(&message)
}

/// An InvokeModelWithResponseStream `chunk` event carrying one model-native JSON event
/// (base64 in `bytes`), padded like Bedrock's.
pub fn encode_chunk(native_json: &[u8]) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(native_json);
    let mut payload = Vec::with_capacity(b64.len() + 48);
    payload.extend_from_slice(b"{\"bytes\":\"");
    payload.extend_from_slice(b64.as_bytes());
    payload.extend_from_slice(b"\"}");
    encode_event("chunk", &pad_json(&payload))
}

/// Random padding text like Bedrock's `"p"` field (1 to 32 alphanumerics).
pub fn random_padding() -> String {
    let mut rng = rand::thread_rng();
    let len = rng.gen_range(1..=32);
    (0..len)
        .map(|_| PAD_ALPHABET[rng.gen_range(0..PAD_ALPHABET.len())] as char)
        .collect()
}

/// Adds a random `"p"` field to a serialized JSON object (`{...}` → `{...,"p":"xyz"}`).
/// Anything that is not an object is returned unchanged.
pub fn pad_json(object_json: &[u8]) -> Vec<u8> {
    let trimmed = object_json.trim_ascii_end();
    if trimmed.first() != Some(&b'{') || trimmed.last() != Some(&b'}') {
        return object_json.to_vec();
    }
    let body = &trimmed[..trimmed.len() - 1];
    let empty = body[1..].trim_ascii().is_empty();
    let pad = random_padding();
    let mut out = Vec::with_capacity(trimmed.len() + pad.len() + 8);
    out.extend_from_slice(body);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(b"\"p\":\"");
    out.extend_from_slice(pad.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// A padded event frame (what the emulator sends for every default or scripted event).
pub fn padded_event(event_type: &str, payload_json: &[u8]) -> Bytes {
    encode_event(event_type, &pad_json(payload_json))
}

/// The same frame with its message CRC flipped, so decoders must reject it.
pub fn corrupt_crc(frame: &Bytes) -> Bytes {
    let mut bytes = BytesMut::from(&frame[..]);
    if let Some(last) = bytes.last_mut() {
        *last ^= 0xff;
    }
    bytes.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};

    /// The worked 159-byte vector of the wire-protocol notes (§4).
    #[test]
    fn reproduces_the_worked_vector_exactly() {
        let payload = br#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#;
        let frame = encode_event("contentBlockDelta", payload);
        assert_eq!(frame.len(), 159);
        assert_eq!(
            &frame[..12],
            &[0x00, 0x00, 0x00, 0x9f, 0x00, 0x00, 0x00, 0x57, 0xc3, 0x7b, 0xab, 0xff]
        );
        assert_eq!(&frame[155..], &[0xf2, 0xac, 0xe5, 0xff]);
        assert_eq!(&frame[12 + 0x57..155], payload);
    }

    #[test]
    fn frames_decode_with_headers_and_payload() {
        let frame = padded_event("messageStart", br#"{"role":"assistant"}"#);
        let mut decoder = MessageFrameDecoder::new();
        let mut buf = &frame[..];
        let DecodedFrame::Complete(msg) = decoder.decode_frame(&mut buf).unwrap() else {
            panic!("incomplete frame");
        };
        let header = |n: &str| {
            msg.headers()
                .iter()
                .find(|h| h.name().as_str() == n)
                .map(|h| h.value().as_string().unwrap().as_str().to_owned())
        };
        assert_eq!(header(":event-type").as_deref(), Some("messageStart"));
        assert_eq!(header(":message-type").as_deref(), Some("event"));
        let v: serde_json::Value = serde_json::from_slice(msg.payload()).unwrap();
        assert_eq!(v["role"], "assistant");
        assert!(!v["p"].as_str().unwrap().is_empty());
    }

    #[test]
    fn exception_frames_are_marked() {
        let frame = encode_exception("throttlingException", br#"{"message":"slow"}"#);
        let msg = aws_smithy_eventstream::frame::read_message_from(&frame[..]).unwrap();
        let names: Vec<_> = msg
            .headers()
            .iter()
            .map(|h| {
                (
                    h.name().as_str().to_owned(),
                    h.value().as_string().unwrap().as_str().to_owned(),
                )
            })
            .collect();
        assert!(names.contains(&(":message-type".into(), "exception".into())));
        assert!(names.contains(&(":exception-type".into(), "throttlingException".into())));
    }

    #[test]
    fn chunk_events_carry_base64_native_json() {
        let frame = encode_chunk(br#"{"type":"message_stop"}"#);
        let msg = aws_smithy_eventstream::frame::read_message_from(&frame[..]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(msg.payload()).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["bytes"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, br#"{"type":"message_stop"}"#);
        assert!(v.get("p").is_some());
    }

    #[test]
    fn corrupted_crc_is_rejected_by_the_decoder() {
        let frame = corrupt_crc(&encode_event(
            "messageStop",
            br#"{"stopReason":"end_turn"}"#,
        ));
        let mut decoder = MessageFrameDecoder::new();
        assert!(decoder.decode_frame(&mut &frame[..]).is_err());
    }

    #[test]
    fn padding_handles_empty_and_non_objects() {
        let v: serde_json::Value = serde_json::from_slice(&pad_json(b"{}")).unwrap();
        assert!(v["p"].is_string());
        assert_eq!(pad_json(b"[1]"), b"[1]");
    }
}
