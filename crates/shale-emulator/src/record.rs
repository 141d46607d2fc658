//! Recorded requests: captured cheaply on the hot path (header map and body are cloned by
//! reference count) and rendered to JSON only when `GET /_emulator/requests` asks.

use crate::auth::{AuthInfo, AuthKind};
use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Map, Value};

/// One request as the emulator saw it.
pub struct Recorded {
    /// HTTP method.
    pub method: http::Method,
    /// Raw path (and query).
    pub path: String,
    /// Percent-decoded model id, when the path has one.
    pub model_id: Option<String>,
    /// Operation name (`converse`, `invoke`, `rerank`, `sts`, …).
    pub operation: &'static str,
    /// All headers, including authorization (this is a test tool).
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
    /// How the request authenticated.
    pub auth: AuthInfo,
}

impl Recorded {
    /// The JSON object `GET /_emulator/requests` returns for this request.
    pub fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.get_mut(name.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&value);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(value));
                }
            }
        }
        let mut out = json!({
            "method": self.method.as_str(),
            "path": self.path,
            "model_id": self.model_id,
            "operation": self.operation,
            "headers": headers,
        });
        let obj = out.as_object_mut().expect("object literal");
        let is_form = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| {
                v.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
        let body = if self.body.is_empty() {
            Value::Null
        } else if is_form {
            let form: Map<String, Value> = url::form_urlencoded::parse(&self.body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Value::Object(form)
        } else {
            match serde_json::from_slice::<Value>(&self.body) {
                Ok(v) => v,
                Err(_) => {
                    obj.insert(
                        "raw_body_base64".into(),
                        Value::String(base64::engine::general_purpose::STANDARD.encode(&self.body)),
                    );
                    Value::Null
                }
            }
        };
        obj.insert("body".into(), body);
        let auth = match self.auth.kind {
            AuthKind::SigV4 => "sigv4",
            AuthKind::Bearer => "bearer",
            AuthKind::None => "none",
        };
        obj.insert("auth".into(), Value::String(auth.into()));
        for (key, value) in [
            ("access_key_id", &self.auth.access_key_id),
            ("region", &self.auth.region),
            ("service", &self.auth.service),
        ] {
            if let Some(v) = value {
                obj.insert(key.into(), Value::String(v.clone()));
            }
        }
        out
    }
}
