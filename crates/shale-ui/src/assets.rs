//! The UI's static files, embedded in the binary at build time (`assets/`): the one script, the
//! stylesheet and the icon. Served with an `ETag` and `Cache-Control: no-cache`, so a browser
//! revalidates (304) and an upgraded gateway's files are picked up at once.
//!
//! Must not: serve anything that is not in [`FILES`] (no file system access at run time).

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Name, content type, bytes.
pub(crate) const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../assets/favicon.svg"),
    ),
];

/// Each file's ETag (a quoted prefix of its SHA-256), computed once.
fn etags() -> &'static [String; 3] {
    static ETAGS: OnceLock<[String; 3]> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES.map(|(_, _, bytes)| format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..20]))
    })
}

/// `GET /ui/assets/{file}`.
pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|(n, _, _)| *n == name) else {
        return crate::pages::not_found().await;
    };
    let (_, content_type, bytes) = FILES[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}
