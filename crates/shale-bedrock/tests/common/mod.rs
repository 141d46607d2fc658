//! A tiny scripted HTTP upstream for the client tests: answers queued responses in order and
//! records every request it receives; the hermetic client [`options`] and [`connect`], a client
//! with its target.

#![allow(dead_code)]

pub mod emulator;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt;
use shale_bedrock::{BedrockClient, ClientOptions, EnvSource, Target, TargetSpec};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Send the body in chunks of this size, pausing `chunk_pause` between them.
    pub chunk: Option<usize>,
    pub chunk_pause: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            chunk: None,
            chunk_pause: Duration::ZERO,
        }
    }

    pub fn bedrock_error(status: u16, kind: &str, message: &str) -> Self {
        let mut r = Self::json(status, &format!(r#"{{"message":"{message}"}}"#));
        r.headers.push((
            "x-amzn-ErrorType".into(),
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        ));
        r.headers
            .push(("x-amzn-RequestId".into(), "req-mock".into()));
        r
    }

    pub fn stream(frames: Vec<u8>, chunk: usize) -> Self {
        Self {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/vnd.amazon.eventstream".into(),
            )],
            body: frames,
            delay: Duration::ZERO,
            chunk: Some(chunk),
            chunk_pause: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the upstream saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running mock upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Upstream {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    shared.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    });
    let reply = shared
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| {
            Reply::json(
                500,
                r#"{"message":"mock upstream: no scripted reply left"}"#,
            )
        });
    tokio::time::sleep(reply.delay).await;
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name, value);
    }
    let body = match reply.chunk {
        None => Body::from(reply.body),
        Some(size) => {
            let pause = reply.chunk_pause;
            let chunks: Vec<Bytes> = reply
                .body
                .chunks(size)
                .map(Bytes::copy_from_slice)
                .collect();
            Body::from_stream(futures::stream::iter(chunks).then(move |c| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::io::Error>(c)
            }))
        }
    };
    builder.body(body).unwrap()
}

/// Client options for tests: hermetic env, no shared profile files, fast retries.
pub fn options() -> ClientOptions {
    let dir = std::env::temp_dir();
    ClientOptions {
        env: EnvSource::from_pairs::<&str, &str>([]),
        aws_config_file: Some(dir.join("shale-bedrock-tests-no-config")),
        aws_credentials_file: Some(dir.join("shale-bedrock-tests-no-credentials")),
        retry_base_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(500),
        credentials_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

/// A client with the test [`options`] and its target for `spec`.
pub async fn connect(spec: TargetSpec) -> (BedrockClient, Target) {
    connect_with(options(), spec).await
}

/// A client with these options and its target for `spec`.
pub async fn connect_with(options: ClientOptions, spec: TargetSpec) -> (BedrockClient, Target) {
    let client = BedrockClient::new(options).expect("client");
    let target = client.target(spec).await.expect("target");
    (client, target)
}

/// An event-stream frame built with aws-smithy-eventstream.
pub fn frame(message_type: &str, type_header: (&str, &str), payload: &str) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let message = Message::new(Bytes::copy_from_slice(payload.as_bytes()))
        .add_header(Header::new(
            type_header.0.to_owned(),
            HeaderValue::String(type_header.1.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".to_owned().into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.to_owned().into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).unwrap();
    out
}

pub fn event(event_type: &str, payload: &str) -> Vec<u8> {
    frame("event", (":event-type", event_type), payload)
}
