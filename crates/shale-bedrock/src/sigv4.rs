//! The gateway's own SigV4 signer (header signing, `AWS4-HMAC-SHA256`), built for its fixed
//! request shape: the canonical URI, query and host of every deployment URL are computed once
//! ([`CanonicalUrl`], at config load), and the derived signing key is cached per
//! (access key id, secret, UTC date, region, service) in the [`Signer`] of each target, so a
//! request costs two SHA-256 passes over small strings, one over the body and one HMAC.
//!
//! It produces exactly what `aws-sigv4` produces with its default settings (double-encoded,
//! normalised path; headers `authorization`, `user-agent`, `x-amzn-trace-id` and
//! `transfer-encoding` unsigned; session token signed): `aws-sigv4` is kept as a dev-dependency
//! and the differential property test in `tests/sigv4_differential.rs` compares the two on
//! thousands of random requests, beside the AWS SigV4 test-suite vectors.
//!
//! It must not: log or format credentials, panic on any input (malformed header values are
//! [`BedrockError::Signing`]), or hold its lock while hashing.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::error::BedrockError;

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Headers never signed (`aws-sigv4`'s default exclusions: computed by signing, or changed by
/// proxies on the way).
const UNSIGNED: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// SHA-256 of the empty string, hex (the payload hash of a request without a body).
const EMPTY_SHA256: Hex32 =
    Hex32(*b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

/// The canonical form of a request URL, computed once per deployment URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalUrl {
    host: Box<str>,
    uri: Box<str>,
    query: Box<str>,
}

impl CanonicalUrl {
    /// From the parts of the URL as it goes on the wire: `host` (with `:port` when the port is
    /// not the scheme's default), the percent-encoded `path`, and the raw `query` if any.
    pub fn new(host: &str, path: &str, query: Option<&str>) -> Self {
        Self {
            host: host.into(),
            uri: canonical_uri(path).into(),
            query: canonical_query(query.unwrap_or("")).into(),
        }
    }

    /// From a parsed URL (the `url` crate already drops default ports).
    pub fn from_url(url: &url::Url) -> Self {
        let host = url.host_str().unwrap_or("");
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Self::new(&host, url.path(), url.query())
    }

    /// The `host` header value that is signed.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The canonical URI (normalised, every octet but unreserved characters and `/` encoded —
    /// so an already encoded path is encoded twice, as Bedrock expects).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The canonical query string (decoded, re-encoded, sorted).
    pub fn query(&self) -> &str {
        &self.query
    }
}

/// The headers signing adds to a request. `authorization` and `x-amz-security-token` are
/// marked sensitive.
#[derive(Debug)]
pub struct SignatureHeaders {
    /// `x-amz-date`, e.g. `20240501T120000Z`.
    pub date: HeaderValue,
    /// `authorization`.
    pub authorization: HeaderValue,
    /// `x-amz-security-token`, for temporary credentials.
    pub security_token: Option<HeaderValue>,
    /// `x-amz-content-sha256`, when the signer was asked to send it.
    pub content_sha256: Option<HeaderValue>,
}

/// One request to sign.
#[derive(Clone, Copy, Debug)]
pub struct SignableParts<'a> {
    /// `POST`, `GET`, ...
    pub method: &'a str,
    /// Where it goes.
    pub url: &'a CanonicalUrl,
    /// The headers it carries (every one is signed but the unsigned four; `host`, when
    /// present, replaces the URL's).
    pub headers: &'a HeaderMap,
    /// The body, whole.
    pub body: &'a [u8],
}

/// A derived signing key for one (credentials, day, region, service).
struct DerivedKey {
    access_key_id: Box<str>,
    secret: Box<str>,
    day: u64,
    /// HMAC-SHA256 keyed with the signing key (its inner and outer pads already absorbed):
    /// cloned per request, so signing the string to sign hashes only the string.
    mac: Hmac<Sha256>,
    /// `yyyymmdd/region/service/aws4_request`
    scope: Box<str>,
}

/// Signs requests for one region and service, caching the derived signing key. Shared by all
/// requests of a target; rotation-safe (a new access key id or secret derives a new key).
pub struct Signer {
    region: Box<str>,
    service: Box<str>,
    content_sha256_header: bool,
    cache: Mutex<Option<Arc<DerivedKey>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `region` and `service` (`bedrock` for Bedrock runtime and agent runtime).
    pub fn new(region: &str, service: &str) -> Self {
        Self {
            region: region.into(),
            service: service.into(),
            content_sha256_header: false,
            cache: Mutex::new(None),
        }
    }

    /// Also send (and sign) `x-amz-content-sha256` (S3-style services; Bedrock does not need it).
    pub fn with_content_sha256_header(mut self, on: bool) -> Self {
        self.content_sha256_header = on;
        self
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Signs `request` at `time` with `credentials`.
    pub fn sign(
        &self,
        credentials: &Credentials,
        time: SystemTime,
        request: SignableParts<'_>,
    ) -> Result<SignatureHeaders, BedrockError> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| BedrockError::Signing("signing time is before 1970".into()))?
            .as_secs();
        let amz_date = amz_date(secs);
        let key = self.key(credentials, secs / 86_400, &amz_date[..8]);
        let token = credentials.session_token();
        let security_token = token
            .map(|t| {
                let mut v = HeaderValue::from_str(t).map_err(|_| {
                    BedrockError::Signing("session token is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                Ok::<_, BedrockError>(v)
            })
            .transpose()?;

        let payload_hash = if request.body.is_empty() {
            EMPTY_SHA256
        } else {
            Hex32::of(&Sha256::digest(request.body))
        };

        // Headers to sign: the request's (minus the unsigned ones and the ones signing sets),
        // then host (unless given), x-amz-date, the token and the payload hash header.
        let mut entries: Vec<(&str, Header<'_>)> = Vec::with_capacity(request.headers.len() + 4);
        let mut has_host = false;
        for (name, value) in request.headers {
            let name = name.as_str();
            if UNSIGNED.contains(&name)
                || name == "x-amz-date"
                || (token.is_some() && name == "x-amz-security-token")
                || (self.content_sha256_header && name == "x-amz-content-sha256")
            {
                continue;
            }
            has_host |= name == "host";
            let value = value.to_str().map_err(|_| {
                BedrockError::Signing(format!("header {name} is not visible ASCII"))
            })?;
            entries.push((name, Header::Given(value)));
        }
        if !has_host {
            entries.push(("host", Header::Exact(request.url.host())));
        }
        entries.push(("x-amz-date", Header::Exact(&amz_date)));
        if let Some(token) = token {
            entries.push(("x-amz-security-token", Header::Exact(token)));
        }
        if self.content_sha256_header {
            entries.push(("x-amz-content-sha256", Header::Exact(payload_hash.as_str())));
        }
        entries.sort_by(|a, b| a.0.cmp(b.0)); // stable: values of one name keep their order

        let mut creq = String::with_capacity(
            256 + request.url.uri().len()
                + request.url.query().len()
                + entries
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 2)
                    .sum::<usize>()
                    * 2,
        );
        creq.push_str(request.method);
        creq.push('\n');
        creq.push_str(request.url.uri());
        creq.push('\n');
        creq.push_str(request.url.query());
        creq.push('\n');
        let mut previous: Option<&str> = None;
        for (name, value) in &entries {
            if previous == Some(name) {
                creq.push(',');
            } else {
                if previous.is_some() {
                    creq.push('\n');
                }
                creq.push_str(name);
                creq.push(':');
            }
            value.write_to(&mut creq);
            previous = Some(name);
        }
        creq.push_str("\n\n");
        let signed_start = creq.len();
        let mut previous: Option<&str> = None;
        for (name, _) in &entries {
            if previous == Some(name) {
                continue;
            }
            if previous.is_some() {
                creq.push(';');
            }
            creq.push_str(name);
            previous = Some(name);
        }
        let signed_end = creq.len();
        creq.push('\n');
        creq.push_str(payload_hash.as_str());

        // The string to sign goes straight into the HMAC, piece by piece: the same bytes as
        // `ALGORITHM \n amz_date \n scope \n hex(sha256(creq))`, without building it.
        let creq_hash = Hex32::of(&Sha256::digest(creq.as_bytes()));
        let mut mac = key.mac.clone();
        for piece in [
            ALGORITHM,
            "\n",
            &amz_date,
            "\n",
            &key.scope,
            "\n",
            creq_hash.as_str(),
        ] {
            mac.update(piece.as_bytes());
        }
        let signature = Hex32::of(&mac.finalize().into_bytes());

        let signed_headers = &creq[signed_start..signed_end];
        let mut authorization = String::with_capacity(
            ALGORITHM.len()
                + key.access_key_id.len()
                + key.scope.len()
                + signed_headers.len()
                + 64
                + 40,
        );
        authorization.push_str(ALGORITHM);
        authorization.push_str(" Credential=");
        authorization.push_str(&key.access_key_id);
        authorization.push('/');
        authorization.push_str(&key.scope);
        authorization.push_str(", SignedHeaders=");
        authorization.push_str(signed_headers);
        authorization.push_str(", Signature=");
        authorization.push_str(signature.as_str());

        let mut authorization = HeaderValue::try_from(authorization)
            .map_err(|_| BedrockError::Signing("access key id is not a valid header".into()))?;
        authorization.set_sensitive(true);
        let content_sha256 = if self.content_sha256_header {
            Some(HeaderValue::from_str(payload_hash.as_str()).expect("hex is a valid header value"))
        } else {
            None
        };
        Ok(SignatureHeaders {
            date: HeaderValue::try_from(amz_date).expect("digits are a valid header value"),
            authorization,
            security_token,
            content_sha256,
        })
    }

    /// The cached key when it matches, else a freshly derived one (stored for the next request).
    fn key(&self, credentials: &Credentials, day: u64, yyyymmdd: &str) -> Arc<DerivedKey> {
        let akid = credentials.access_key_id();
        let secret = credentials.secret_access_key();
        {
            let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(key) = cached.as_ref() {
                if key.day == day && *key.access_key_id == *akid && *key.secret == *secret {
                    return Arc::clone(key);
                }
            }
        }
        let key = Arc::new(DerivedKey {
            access_key_id: akid.into(),
            secret: secret.into(),
            day,
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(&derive_key(
                secret,
                yyyymmdd,
                &self.region,
                &self.service,
            ))
            .expect("HMAC takes any key"),
            scope: format!("{yyyymmdd}/{}/{}/aws4_request", self.region, self.service).into(),
        });
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&key));
        key
    }
}

/// A header value: as given (trimmed, inner runs of spaces collapsed) or set by the signer.
enum Header<'a> {
    Given(&'a str),
    Exact(&'a str),
}

impl Header<'_> {
    fn len(&self) -> usize {
        match self {
            Header::Given(v) | Header::Exact(v) => v.len(),
        }
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Header::Exact(v) => out.push_str(v),
            Header::Given(v) => {
                let v = v.trim_matches(' ');
                if !v.contains("  ") {
                    out.push_str(v);
                    return;
                }
                let mut last_space = false;
                for c in v.chars() {
                    if c == ' ' && last_space {
                        continue;
                    }
                    last_space = c == ' ';
                    out.push(c);
                }
            }
        }
    }
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn derive_key(secret: &str, yyyymmdd: &str, region: &str, service: &str) -> [u8; 32] {
    let mut seed = Vec::with_capacity(4 + secret.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret.as_bytes());
    let k_date = hmac(&seed, yyyymmdd.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex of a 32-byte digest, on the stack (no allocation per signature).
struct Hex32([u8; 64]);

impl Hex32 {
    fn of(digest: &[u8]) -> Hex32 {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(digest) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        Hex32(out)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// `yyyymmddThhmmssZ` for seconds since the epoch (UTC, proleptic Gregorian calendar). Digits are
/// written directly: this runs for every signed request, and `format!` cost ~2,000 instructions.
fn amz_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        // Beyond four digits (never, in practice): the general formatter.
        return format!(
            "{y}{m:02}{d:02}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        );
    }
    let mut out = String::with_capacity(16);
    push_digits(&mut out, y, 4);
    push_digits(&mut out, m, 2);
    push_digits(&mut out, d, 2);
    out.push('T');
    push_digits(&mut out, rem / 3600, 2);
    push_digits(&mut out, rem % 3600 / 60, 2);
    push_digits(&mut out, rem % 60, 2);
    out.push('Z');
    out
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u64.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Unreserved characters (RFC 3986): never encoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `s` percent-encoded: every octet but unreserved ones (and `/` when `keep_slash`).
fn encode_into(out: &mut String, s: &str, keep_slash: bool) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 0xf)] as char);
        }
    }
}

/// The canonical URI of a (percent-encoded) request path: dot segments and empty segments
/// removed (RFC 3986 §5.2.4), then encoded once more.
pub fn canonical_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + path.len() / 2 + 1);
    if path.is_empty() {
        out.push('/');
        return out;
    }
    let path: std::borrow::Cow<'_, str> = if path.starts_with('/') {
        path.into()
    } else {
        format!("/{path}").into()
    };
    if !(path.contains('.') || path.contains("//")) {
        encode_into(&mut out, &path, true);
        return out;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalised = String::with_capacity(path.len() + 1);
    for s in &segments {
        normalised.push('/');
        normalised.push_str(s);
    }
    if normalised.is_empty() {
        normalised.push('/');
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    if trailing && !normalised.ends_with('/') {
        normalised.push('/');
    }
    encode_into(&mut out, &normalised, true);
    out
}

/// The canonical query string: `application/x-www-form-urlencoded` pairs decoded, each name and
/// value encoded (unreserved characters kept), sorted, joined as `k=v&k=v`.
pub fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            encode_into(&mut ek, &k, false);
            let mut ev = String::with_capacity(v.len());
            encode_into(&mut ev, &v, false);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_across_epoch_leap_years_and_midnight() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_399), "20000228T235959Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        // Every field at its widest, and the general formatter past year 9999.
        assert_eq!(amz_date(253_402_300_799), "99991231T235959Z");
        assert_eq!(amz_date(253_402_300_800), "100000101T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn canonical_uri_normalises_and_double_encodes() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("/./example"), "/example");
        assert_eq!(
            canonical_uri("/model/us.anthropic.claude-v1%3A0/converse"),
            "/model/us.anthropic.claude-v1%253A0/converse"
        );
    }

    #[test]
    fn canonical_query_sorts_encoded_pairs() {
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(canonical_query("b&a=1+2"), "a=1%202&b=");
    }

    #[test]
    fn header_values_are_trimmed_and_runs_of_spaces_collapsed() {
        let mut out = String::new();
        Header::Given("  \"a   b   c\" ").write_to(&mut out);
        assert_eq!(out, "\"a b c\"");
    }
}
