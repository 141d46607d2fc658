//! Media inputs: data-URL parsing with base64 validation (without decoding a copy), MIME and
//! extension → Bedrock format tables, and the http(s) media the server downloads beforehand.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;

use crate::openai::{ChatRequest, MessageContent};

/// Media kinds Bedrock accepts in a content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Document,
    Video,
}

/// A classified media type: which block it becomes and the Bedrock `format` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaFormat {
    pub kind: MediaKind,
    /// e.g. `png`, `pdf`, `mp4`, `three_gp`.
    pub format: &'static str,
}

const MIME_TABLE: &[(&str, MediaKind, &str)] = &[
    ("image/png", MediaKind::Image, "png"),
    ("image/jpeg", MediaKind::Image, "jpeg"),
    ("image/jpg", MediaKind::Image, "jpeg"),
    ("image/pjpeg", MediaKind::Image, "jpeg"),
    ("image/gif", MediaKind::Image, "gif"),
    ("image/webp", MediaKind::Image, "webp"),
    ("application/pdf", MediaKind::Document, "pdf"),
    ("text/csv", MediaKind::Document, "csv"),
    ("application/csv", MediaKind::Document, "csv"),
    ("application/msword", MediaKind::Document, "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaKind::Document,
        "docx",
    ),
    ("application/vnd.ms-excel", MediaKind::Document, "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaKind::Document,
        "xlsx",
    ),
    ("text/html", MediaKind::Document, "html"),
    ("text/plain", MediaKind::Document, "txt"),
    ("text/markdown", MediaKind::Document, "md"),
    ("text/x-markdown", MediaKind::Document, "md"),
    ("video/mp4", MediaKind::Video, "mp4"),
    ("video/quicktime", MediaKind::Video, "mov"),
    ("video/x-matroska", MediaKind::Video, "mkv"),
    ("video/webm", MediaKind::Video, "webm"),
    ("video/x-flv", MediaKind::Video, "flv"),
    ("video/mpeg", MediaKind::Video, "mpeg"),
    ("video/mpg", MediaKind::Video, "mpg"),
    ("video/x-ms-wmv", MediaKind::Video, "wmv"),
    ("video/3gpp", MediaKind::Video, "three_gp"),
];

const EXT_TABLE: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("pdf", "application/pdf"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("mp4", "video/mp4"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("webm", "video/webm"),
    ("flv", "video/x-flv"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpg"),
    ("wmv", "video/x-ms-wmv"),
    ("3gp", "video/3gpp"),
];

/// The Bedrock block and format for a MIME type (parameters like `; charset=` ignored).
pub fn classify_mime(mime: &str) -> Option<MediaFormat> {
    let mime = mime.split(';').next().unwrap_or("").trim();
    MIME_TABLE
        .iter()
        .find(|(m, _, _)| m.eq_ignore_ascii_case(mime))
        .map(|&(_, kind, format)| MediaFormat { kind, format })
}

/// A MIME type guessed from a file name or URL path extension.
pub fn mime_from_path(path: &str) -> Option<&'static str> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let ext = path.rsplit_once('.')?.1;
    EXT_TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map(|&(_, m)| m)
}

/// A MIME type sniffed from the first bytes of the content (used when the declared type is
/// missing or `application/octet-stream`).
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    let table: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
    ];
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(if &head[8..11] == b"3gp" {
            "video/3gpp"
        } else if &head[8..10] == b"qt" {
            "video/quicktime"
        } else {
            "video/mp4"
        });
    }
    table
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|&(_, m)| m)
}

/// Sniff the MIME type of base64 text by decoding only its first 16 characters.
pub fn sniff_base64(b64: &str) -> Option<&'static str> {
    let head = b64.get(..16.min(b64.len() / 4 * 4))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(head)
        .ok()?;
    sniff_mime(&bytes)
}

/// A parsed `data:` URL whose payload stays inside the original string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The declared MIME type, lower-cased (may be empty).
    pub mime: String,
    /// Whether the payload is base64 (`;base64`).
    pub base64: bool,
    /// Byte offset of the payload in the URL string.
    pub payload_start: usize,
}

/// Why a data URL is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataUrlError {
    NotDataUrl,
    NoComma,
    InvalidBase64,
}

/// Parse `data:<mime>[;param]*[;base64],<data>` and validate the base64 payload in place.
pub fn parse_data_url(url: &str) -> Result<DataUrl, DataUrlError> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &url[5..])
        .ok_or(DataUrlError::NotDataUrl)?;
    let comma = rest.find(',').ok_or(DataUrlError::NoComma)?;
    let header = &rest[..comma];
    let mut params = header.split(';');
    let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
    let base64 = params.any(|p| p.trim().eq_ignore_ascii_case("base64"));
    let payload_start = 5 + comma + 1;
    if base64 && !is_valid_base64(&url[payload_start..]) {
        return Err(DataUrlError::InvalidBase64);
    }
    Ok(DataUrl {
        mime,
        base64,
        payload_start,
    })
}

/// Whether `s` is canonical standard base64 (alphabet, length multiple of 4, `=` only as the last
/// one or two characters). Checks without decoding.
pub fn is_valid_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad]
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// Move the payload of a data URL out of its string without reallocating (the prefix is removed
/// in place).
pub fn take_payload(mut url: String, parsed: &DataUrl) -> String {
    url.replace_range(..parsed.payload_start, "");
    url
}

/// Whether a URL is an http(s) URL the server must download.
pub fn is_remote_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// http(s) media downloaded by the server (with SSRF protection and size/time limits) before
/// translation: URL → (MIME type from `Content-Type`, raw bytes).
#[derive(Debug, Clone, Default)]
pub struct FetchedMedia(pub HashMap<String, (String, Bytes)>);

impl FetchedMedia {
    /// No media.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a download.
    pub fn insert(&mut self, url: impl Into<String>, mime: impl Into<String>, bytes: Bytes) {
        self.0.insert(url.into(), (mime.into(), bytes));
    }

    /// The downloaded MIME type and bytes of `url`.
    pub fn get(&self, url: &str) -> Option<(&str, &Bytes)> {
        self.0.get(url).map(|(m, b)| (m.as_str(), b))
    }
}

/// The http(s) URLs in image, video and file parts that the server must fetch before calling
/// [`crate::chat_to_converse`] (deduplicated, in order of appearance).
pub fn remote_media_urls(req: &ChatRequest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |u: &str| {
        if is_remote_url(u) && !out.iter().any(|x| x == u) {
            out.push(u.to_owned());
        }
    };
    for m in &req.messages {
        let Some(MessageContent::Parts(parts)) = &m.content else {
            continue;
        };
        for p in parts {
            if let Some(u) = &p.image_url {
                push(u.url());
            }
            if let Some(u) = &p.video_url {
                push(u.url());
            }
            if let Some(f) = &p.file {
                if let Some(d) = &f.file_data {
                    push(d);
                }
                if let Some(d) = &f.file_id {
                    push(d);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_url_parsing() {
        let u = "data:image/png;base64,iVBORw0KGgo=";
        let p = parse_data_url(u).unwrap();
        assert_eq!(p.mime, "image/png");
        assert!(p.base64);
        assert_eq!(take_payload(u.to_owned(), &p), "iVBORw0KGgo=");
        assert_eq!(
            parse_data_url("data:image/png;base64,abc"),
            Err(DataUrlError::InvalidBase64)
        );
        assert_eq!(
            parse_data_url("data:image/png;base64,ab=c"),
            Err(DataUrlError::InvalidBase64)
        );
        assert_eq!(parse_data_url("data:image/png"), Err(DataUrlError::NoComma));
        assert_eq!(
            parse_data_url("http://x/y.png"),
            Err(DataUrlError::NotDataUrl)
        );
        let t = parse_data_url("data:text/plain,hello").unwrap();
        assert!(!t.base64);
    }

    #[test]
    fn classify_and_sniff() {
        assert_eq!(classify_mime("image/jpg").unwrap().format, "jpeg");
        assert_eq!(
            classify_mime("text/plain; charset=utf-8").unwrap().kind,
            MediaKind::Document
        );
        assert_eq!(classify_mime("video/3gpp").unwrap().format, "three_gp");
        assert!(classify_mime("image/bmp").is_none());
        assert_eq!(sniff_base64("iVBORw0KGgoAAAANSUhEUg=="), Some("image/png"));
        assert_eq!(sniff_base64("JVBERi0xLjQK"), Some("application/pdf"));
        assert_eq!(
            mime_from_path("s3://b/k/movie.MOV"),
            Some("video/quicktime")
        );
        assert_eq!(mime_from_path("https://x/a.png?x=1"), Some("image/png"));
    }
}
