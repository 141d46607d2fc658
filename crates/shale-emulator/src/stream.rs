//! Event-stream HTTP bodies: frames sent one by one (optionally spaced by the stream delay) with
//! chunked transfer, plus the scripted failure modes (exception frame, bad CRC, cut mid-frame).

use crate::error::stream_exception_name;
use crate::eventstream;
use crate::script::StreamScript;
use crate::tracking::{track, StreamStats};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// How a stream ends after its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Normal end of body.
    Clean,
    /// The body is aborted (connection closed mid-message).
    Abort,
}

/// Applies a script's failure modes to a list of frames.
pub fn apply_script(mut frames: Vec<Bytes>, script: &StreamScript) -> (Vec<Bytes>, Ending) {
    if let Some(n) = script.exception_after {
        frames.truncate(n);
        let (kind, message) = script.exception.clone().unwrap_or_else(|| {
            (
                "modelStreamErrorException".to_owned(),
                "Scripted stream exception from the shale emulator.".to_owned(),
            )
        });
        let payload = serde_json::to_vec(&serde_json::json!({ "message": message }))
            .expect("JSON object serializes");
        frames.push(eventstream::encode_exception(
            &stream_exception_name(&kind),
            &payload,
        ));
    }
    if let Some(i) = script.bad_crc_at {
        if let Some(frame) = frames.get_mut(i) {
            *frame = eventstream::corrupt_crc(frame);
        }
    }
    if let Some(n) = script.cut_after {
        if n < frames.len() {
            let partial = frames[n].slice(..frames[n].len() / 2);
            frames.truncate(n);
            frames.push(partial);
        }
        return (frames, Ending::Abort);
    }
    (frames, Ending::Clean)
}

/// How frames are spaced: `delay` between any two, plus one `pause` of the given length before
/// frame number `.0`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub delay: Duration,
    pub pause: Option<(usize, Duration)>,
}

impl Pacing {
    /// The emulator's frame delay plus a script's pause.
    pub fn new(delay: Duration, script: Option<&StreamScript>) -> Self {
        let pause = script.and_then(|s| {
            Some((
                s.pause_after?,
                Duration::from_millis(s.pause_ms.unwrap_or(0)),
            ))
        });
        Pacing { delay, pause }
    }
}

/// An `application/vnd.amazon.eventstream` response streaming `frames`, counted in `stats`.
pub fn response(
    frames: Vec<Bytes>,
    ending: Ending,
    pacing: Pacing,
    extra_headers: &[(&'static str, String)],
    stats: &Arc<StreamStats>,
) -> Response {
    let body = body(frames, ending, pacing, stats);
    let mut builder = Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, eventstream::CONTENT_TYPE)
        .header("x-amzn-RequestId", crate::error::request_id());
    for (name, value) in extra_headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(body).expect("valid stream response")
}

/// The body of a stream of `frames` (event-stream frames or server-sent events), paced, ended
/// as scripted, counted in `stats`.
pub fn body(frames: Vec<Bytes>, ending: Ending, pacing: Pacing, stats: &Arc<StreamStats>) -> Body {
    let Pacing { delay, pause } = pacing;
    if delay.is_zero() && pause.is_none() && ending == Ending::Clean {
        Body::from_stream(track(
            futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>)),
            Arc::clone(stats),
        ))
    } else {
        let state = (frames.into_iter().enumerate(), true, ending);
        Body::from_stream(track(
            Box::pin(futures::stream::unfold(
                state,
                move |(mut iter, first, ending)| async move {
                    match iter.next() {
                        Some((i, frame)) => {
                            if !first && !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            if let Some((_, silence)) = pause.filter(|(at, _)| *at == i) {
                                tokio::time::sleep(silence).await;
                            }
                            Some((Ok(frame), (iter, false, ending)))
                        }
                        None if ending == Ending::Abort => {
                            // Let hyper flush what was sent before the connection is cut.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Some((
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::ConnectionAborted,
                                    "scripted stream cut",
                                )),
                                (iter, false, Ending::Clean),
                            ))
                        }
                        None => None,
                    }
                },
            )),
            Arc::clone(stats),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Bytes> {
        (0..4)
            .map(|i| {
                eventstream::padded_event("contentBlockDelta", format!("{{\"i\":{i}}}").as_bytes())
            })
            .collect()
    }

    #[test]
    fn exception_after_truncates_and_appends_an_exception() {
        let script = StreamScript {
            exception_after: Some(2),
            exception: Some(("ThrottlingException".into(), "m".into())),
            ..Default::default()
        };
        let (out, ending) = apply_script(frames(), &script);
        assert_eq!(out.len(), 3);
        assert_eq!(ending, Ending::Clean);
        let msg = aws_smithy_eventstream::frame::read_message_from(&out[2][..]).unwrap();
        assert!(msg
            .headers()
            .iter()
            .any(|h| h.name().as_str() == ":exception-type"
                && h.value().as_string().unwrap().as_str() == "throttlingException"));
    }

    #[test]
    fn cut_after_keeps_half_a_frame_and_aborts() {
        let original = frames();
        let script = StreamScript {
            cut_after: Some(1),
            ..Default::default()
        };
        let (out, ending) = apply_script(original.clone(), &script);
        assert_eq!(ending, Ending::Abort);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].len(), original[1].len() / 2);
    }

    #[test]
    fn bad_crc_corrupts_one_frame() {
        let original = frames();
        let script = StreamScript {
            bad_crc_at: Some(1),
            ..Default::default()
        };
        let (out, _) = apply_script(original.clone(), &script);
        assert_eq!(out[0], original[0]);
        assert_ne!(out[1], original[1]);
        assert!(aws_smithy_eventstream::frame::read_message_from(&out[1][..]).is_err());
    }
}
