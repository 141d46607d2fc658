//! Media inputs: content parts (`image_url`, `file`, `document`, …) → [`Block`]s, data-URL
//! parsing with base64 validation (without decoding a copy), MIME and extension → Bedrock format
//! tables, and the http(s) media the server downloads beforehand.

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;

use serde_json::Value;

use crate::error::TranslateError;
use crate::normalize::{Block, Media, MediaSource};
use crate::openai::{ChatRequest, ContentPart, MessageContent};

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

/// One content part → a block (`None` for parts that carry nothing, e.g. empty text).
pub fn part_block(
    p: ContentPart,
    path: &str,
    fetched: &FetchedMedia,
) -> Result<Option<Block>, TranslateError> {
    match p.kind.as_str() {
        "text" | "input_text" | "output_text" => {
            let t = p.text.unwrap_or_default();
            Ok((!t.trim().is_empty()).then_some(Block::Text(t)))
        }
        "guarded_text" => {
            let t = p.text.unwrap_or_default();
            Ok((!t.trim().is_empty()).then_some(Block::GuardedText(t)))
        }
        "image_url" => {
            let Some(u) = p.image_url else {
                return Err(TranslateError::invalid(
                    format!("{path}.image_url"),
                    "image_url part without image_url",
                ));
            };
            let (url, format) = u.into_parts();
            media_from_url(url, format, None, &format!("{path}.image_url.url"), fetched).map(Some)
        }
        "video_url" => {
            let Some(u) = p.video_url else {
                return Err(TranslateError::invalid(
                    format!("{path}.video_url"),
                    "video_url part without video_url",
                ));
            };
            let (url, format) = u.into_parts();
            media_from_url(url, format, None, &format!("{path}.video_url.url"), fetched).map(Some)
        }
        "file" => {
            let f = p.file.unwrap_or_default();
            let (url, field) = match (f.file_data, f.file_id) {
                (Some(d), _) => (d, "file_data"),
                (None, Some(id)) => (id, "file_id"),
                (None, None) => {
                    return Err(TranslateError::invalid(
                        format!("{path}.file"),
                        "file part needs file.file_data (a data URL) or file.file_id (an s3:// or http(s) URL)",
                    ))
                }
            };
            let param = format!("{path}.file.{field}");
            if field == "file_id" && !url.contains("://") {
                return Err(TranslateError::invalid(
                    param,
                    "OpenAI file ids are not supported; send the file as file_data (a data URL)",
                ));
            }
            media_from_url(url, f.format, f.filename, &param, fetched).map(Some)
        }
        "document" => {
            let Some(src) = p.source else {
                return Err(TranslateError::invalid(
                    format!("{path}.source"),
                    "document part without source",
                ));
            };
            let param = format!("{path}.source");
            match src.kind.as_str() {
                "text" => Ok(Some(Block::Media(Media {
                    kind: MediaKind::Document,
                    format: "txt",
                    mime: "text/plain".to_owned(),
                    source: MediaSource::Text(src.data),
                    filename: None,
                }))),
                "base64" => {
                    if !is_valid_base64(&src.data) {
                        return Err(TranslateError::invalid(
                            format!("{param}.data"),
                            "document data is not valid base64",
                        ));
                    }
                    let mime = src.media_type.unwrap_or_default();
                    let mf = classify(&mime, &src.data, &format!("{param}.media_type"))?;
                    Ok(Some(Block::Media(Media {
                        kind: mf.kind,
                        format: mf.format,
                        mime,
                        source: MediaSource::Base64(src.data),
                        filename: None,
                    })))
                }
                other => Err(TranslateError::invalid(
                    format!("{param}.type"),
                    format!("unsupported document source type '{other}' (use base64 or text)"),
                )),
            }
        }
        "thinking" => Ok(Some(Block::Reasoning {
            text: p
                .extra
                .get("thinking")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            signature: p
                .extra
                .get("signature")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })),
        "redacted_thinking" => Ok(p
            .extra
            .get("data")
            .and_then(Value::as_str)
            .map(|d| Block::RedactedReasoning(d.to_owned()))),
        "refusal" => Ok(p
            .extra
            .get("refusal")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(|s| Block::Text(s.to_owned()))),
        "input_audio" => Err(TranslateError::invalid(
            format!("{path}.type"),
            "audio input is not supported by Bedrock Converse",
        )),
        other => Err(TranslateError::invalid(
            format!("{path}.type"),
            format!("unsupported content part type '{other}'"),
        )),
    }
}

/// Classify a declared MIME type, sniffing the base64 head when it is missing or generic.
fn classify(mime: &str, b64: &str, param: &str) -> Result<MediaFormat, TranslateError> {
    let generic = mime.is_empty() || mime.eq_ignore_ascii_case("application/octet-stream");
    let effective = if generic {
        sniff_base64(b64).unwrap_or(mime)
    } else {
        mime
    };
    classify_mime(effective).ok_or_else(|| unsupported_format(effective, param))
}

fn unsupported_format(mime: &str, param: &str) -> TranslateError {
    let what = if mime.starts_with("image/") {
        "image format"
    } else {
        "media type"
    };
    TranslateError::invalid_code(
        param,
        "invalid_image_format",
        format!(
            "unsupported {what} '{mime}'; Bedrock accepts images (png, jpeg, gif, webp), documents (pdf, csv, doc, docx, xls, xlsx, html, txt, md) and videos (mp4, mov, mkv, webm, flv, mpeg, mpg, wmv, 3gp)"
        ),
    )
}

/// A media block from a data URL, an already-fetched http(s) URL or an `s3://` URI.
fn media_from_url(
    url: String,
    format: Option<String>,
    filename: Option<String>,
    param: &str,
    fetched: &FetchedMedia,
) -> Result<Block, TranslateError> {
    if has_scheme(&url, "data:") {
        let parsed = parse_data_url(&url).map_err(|e| {
            let why = match e {
                DataUrlError::NoComma => "missing ',' before the data",
                DataUrlError::InvalidBase64 => "the data is not valid base64",
                DataUrlError::NotDataUrl => "not a data URL",
            };
            TranslateError::invalid_code(
                param,
                "invalid_data_url",
                format!("invalid data URL: {why}"),
            )
        })?;
        let declared = match format {
            Some(f) => f.to_ascii_lowercase(),
            None if parsed.mime.is_empty() || parsed.mime == "application/octet-stream" => filename
                .as_deref()
                .and_then(mime_from_path)
                .map(str::to_owned)
                .unwrap_or_else(|| parsed.mime.clone()),
            None => parsed.mime.clone(),
        };
        if parsed.base64 {
            let payload = take_payload(url, &parsed);
            let mf = classify(&declared, &payload, param)?;
            return Ok(Block::Media(Media {
                kind: mf.kind,
                format: mf.format,
                mime: declared,
                source: MediaSource::Base64(payload),
                filename,
            }));
        }
        // percent-encoded payload: encode it as base64
        let payload = url.get(parsed.payload_start..).unwrap_or_default();
        let raw: Vec<u8> = percent_encoding::percent_decode_str(payload).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let mf = classify_mime(&declared).ok_or_else(|| unsupported_format(&declared, param))?;
        return Ok(Block::Media(Media {
            kind: mf.kind,
            format: mf.format,
            mime: declared,
            source: MediaSource::Base64(b64),
            filename,
        }));
    }
    if is_remote_url(&url) {
        let Some((mime, bytes)) = fetched.get(&url) else {
            return Err(TranslateError::invalid(
                param,
                format!("media URL {url} was not fetched"),
            ));
        };
        let mime = format
            .map(|f| f.to_ascii_lowercase())
            .or_else(|| {
                let m = mime.split(';').next().unwrap_or("").trim();
                (!m.is_empty() && m != "application/octet-stream" && m != "binary/octet-stream")
                    .then(|| m.to_ascii_lowercase())
            })
            .or_else(|| sniff_mime(bytes).map(str::to_owned))
            .or_else(|| mime_from_path(&url).map(str::to_owned))
            .unwrap_or_default();
        let mf = classify_mime(&mime).ok_or_else(|| unsupported_format(&mime, param))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        return Ok(Block::Media(Media {
            kind: mf.kind,
            format: mf.format,
            mime,
            source: MediaSource::Base64(b64),
            filename,
        }));
    }
    if has_scheme(&url, "s3://") {
        let mime = format
            .map(|f| f.to_ascii_lowercase())
            .or_else(|| mime_from_path(&url).map(str::to_owned))
            .unwrap_or_default();
        let mf = classify_mime(&mime).ok_or_else(|| unsupported_format(&mime, param))?;
        return Ok(Block::Media(Media {
            kind: mf.kind,
            format: mf.format,
            mime,
            source: MediaSource::S3 { uri: url },
            filename,
        }));
    }
    Err(TranslateError::invalid_code(
        param,
        "invalid_url",
        "media URLs must be data URLs, http(s) URLs or s3:// URIs",
    ))
}

/// Whether `url` starts with `scheme` (ASCII case-insensitive), without slicing inside a
/// multi-byte character.
fn has_scheme(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
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

    #[test]
    fn percent_encoded_data_urls_become_base64() {
        let f = FetchedMedia::new();
        let block = media_from_url("data:text/plain,a%20b%2".into(), None, None, "p", &f).unwrap();
        let Block::Media(m) = block else {
            panic!("not media: {block:?}")
        };
        assert_eq!(m.source, MediaSource::Base64("YSBiJTI=".into()));
    }

    #[test]
    fn non_ascii_urls_are_refused_not_sliced() {
        let f = FetchedMedia::new();
        for url in ["abcdé", "é", "daté:", "s3:/é"] {
            let err = media_from_url(url.into(), None, None, "p", &f).unwrap_err();
            assert_eq!(
                err.to_openai().code.as_deref(),
                Some("invalid_url"),
                "{url}"
            );
        }
    }
}
