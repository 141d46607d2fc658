//! SigV4 verification: parses the `Authorization` header, finds the secret, and recomputes the
//! signature with `aws-sigv4` (double-encoded canonical path, body hash, session token) to compare
//! it in constant time. Pure: the caller supplies the key lookup and the current time.
//!
//! [`aws_sign`] is that reference signer on its own (`aws-sigv4`, as the AWS SDKs sign): the
//! verifier recomputes signatures with it, and tests and benchmarks sign requests with it.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq as _;

/// Maximum accepted clock skew between `x-amz-date` and now.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a signed request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The `Authorization` header is not a well-formed SigV4 header.
    #[error("malformed authorization header: {0}")]
    Malformed(String),
    /// The access key (or its session token) is unknown.
    #[error("unknown access key or session token")]
    UnknownKey,
    /// The temporary credentials have expired.
    #[error("the security token has expired")]
    ExpiredToken,
    /// The credential scope names another service.
    #[error("credential scoped to the wrong service (expected {expected})")]
    WrongService {
        /// The service the endpoint expects.
        expected: String,
    },
    /// `x-amz-date` is missing or malformed.
    #[error("missing or malformed x-amz-date")]
    MissingDate,
    /// `x-amz-date` is more than 15 minutes away from now (AWS's message).
    #[error("{0}")]
    Expired(String),
    /// The recomputed signature differs.
    #[error("signature mismatch")]
    Mismatch,
}

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// Access key id from the credential scope.
    pub access_key_id: &'a str,
    /// `yyyymmdd` from the credential scope.
    pub date: &'a str,
    /// Region from the credential scope.
    pub region: &'a str,
    /// Service from the credential scope.
    pub service: &'a str,
    /// Lowercase signed header names.
    pub signed_headers: Vec<&'a str>,
    /// Hex signature.
    pub signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<Authorization<'_>, SigV4Error> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256")
        .ok_or_else(|| SigV4Error::Malformed("unsupported algorithm".into()))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| {
        SigV4Error::Malformed(format!("Authorization header requires '{what}' parameter."))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped to a valid region, not '{credential}'."
        )));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').filter(|h| !h.is_empty()).collect(),
        signature,
    })
}

/// The secret material behind an access key id.
#[derive(Clone)]
pub struct KeyMaterial {
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token the request must carry (temporary credentials only).
    pub session_token: Option<String>,
    /// When temporary credentials stop being valid.
    pub expires: Option<SystemTime>,
}

/// The request parts SigV4 covers.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query exactly as received (already percent-encoded).
    pub path_and_query: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Who signed a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Access key id.
    pub access_key_id: String,
    /// Region of the scope.
    pub region: String,
    /// Service of the scope.
    pub service: String,
}

/// Who signs with [`aws_sign`], and for what scope and time.
pub struct SigningKey<'a> {
    /// The access key, secret and session token.
    pub credentials: Credentials,
    /// Region of the scope.
    pub region: &'a str,
    /// Service of the scope (`bedrock`, `sts`).
    pub service: &'a str,
    /// The signing time (`x-amz-date`).
    pub time: SystemTime,
    /// `aws-sigv4`'s settings (which headers are signed, how the session token is).
    pub settings: SigningSettings,
}

impl<'a> SigningKey<'a> {
    /// Default signing settings (as the AWS SDKs sign).
    pub fn new(
        credentials: Credentials,
        region: &'a str,
        service: &'a str,
        time: SystemTime,
    ) -> Self {
        SigningKey {
            credentials,
            region,
            service,
            time,
            settings: SigningSettings::default(),
        }
    }
}

/// What [`aws_sign`] makes of a request: the headers to add (`authorization`, `x-amz-date`,
/// `x-amz-security-token`, … in the signer's order) and the signature.
pub struct AwsSigned {
    /// The headers to add, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The hex signature.
    pub signature: String,
}

impl AwsSigned {
    /// The value of one added header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Signs `method url` with `headers` and `body` by `aws-sigv4`, the reference signer.
pub fn aws_sign<'a>(
    key: SigningKey<'_>,
    method: &'a str,
    url: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &'a [u8],
) -> Result<AwsSigned, SigV4Error> {
    let malformed = |e: &dyn std::fmt::Display| SigV4Error::Malformed(e.to_string());
    let identity = key.credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(key.region)
        .name(key.service)
        .time(key.time)
        .settings(key.settings)
        .build()
        .map_err(|e| malformed(&e))?
        .into();
    let signable = SignableRequest::new(method, url, headers, SignableBody::Bytes(body))
        .map_err(|e| malformed(&e))?;
    let output = sign(signable, &params).map_err(|e| malformed(&e))?;
    let signature = output.signature().to_owned();
    let (instructions, _) = output.into_parts();
    let headers = instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Ok(AwsSigned { headers, signature })
}

/// Parses `20150830T123600Z`.
pub fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(|t| t.assume_utc().into())
}

/// Formats a time like `x-amz-date`.
pub fn format_amz_date(t: SystemTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t)
        .format(format)
        .unwrap_or_default()
}

/// Verifies a SigV4-signed request for `expected_service`.
pub fn verify(
    request: &SignedRequest<'_>,
    authorization: &str,
    expected_service: &str,
    lookup: impl FnOnce(&str) -> Option<KeyMaterial>,
    now: SystemTime,
) -> Result<Verified, SigV4Error> {
    let auth = parse_authorization(authorization)?;
    if auth.service != expected_service {
        return Err(SigV4Error::WrongService {
            expected: expected_service.to_owned(),
        });
    }
    let key = lookup(auth.access_key_id).ok_or(SigV4Error::UnknownKey)?;
    let sent_token = request
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    match (&key.session_token, sent_token) {
        (Some(expected), Some(sent)) if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) => {}
        (None, None) => {}
        _ => return Err(SigV4Error::UnknownKey),
    }
    if key.expires.is_some_and(|e| e <= now) {
        return Err(SigV4Error::ExpiredToken);
    }
    let date_text = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(SigV4Error::MissingDate)?;
    let signing_time = parse_amz_date(date_text).ok_or(SigV4Error::MissingDate)?;
    if signing_time + MAX_SKEW < now {
        return Err(SigV4Error::Expired(format!(
            "Signature expired: {date_text} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_SKEW),
            format_amz_date(now)
        )));
    }
    if signing_time > now + MAX_SKEW {
        return Err(SigV4Error::Expired(format!(
            "Signature not yet current: {date_text} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_SKEW),
            format_amz_date(now)
        )));
    }

    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        for value in request.headers.get_all(*name) {
            if let Ok(v) = value.to_str() {
                headers.push((name, v));
            }
        }
    }
    let token_signed = auth.signed_headers.contains(&"x-amz-security-token");
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    settings.session_token_mode = if token_signed {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let credentials = Credentials::new(
        auth.access_key_id,
        key.secret_access_key,
        key.session_token,
        None,
        "shale-emulator",
    );
    let key = SigningKey {
        settings,
        ..SigningKey::new(credentials, auth.region, auth.service, signing_time)
    };
    let uri = format!("http://signed.invalid{}", request.path_and_query);
    let expected = aws_sign(key, request.method, &uri, headers.into_iter(), request.body)?;
    if bool::from(
        expected
            .signature
            .as_bytes()
            .ct_eq(auth.signature.as_bytes()),
    ) {
        Ok(Verified {
            access_key_id: auth.access_key_id.to_owned(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
        })
    } else {
        Err(SigV4Error::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const AK: &str = "AKIDEXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn key(token: Option<&str>) -> impl FnOnce(&str) -> Option<KeyMaterial> + '_ {
        move |ak| {
            (ak == AK).then(|| KeyMaterial {
                secret_access_key: SK.into(),
                session_token: token.map(str::to_owned),
                expires: None,
            })
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn vector_time() -> SystemTime {
        parse_amz_date("20150830T123600Z").unwrap()
    }

    /// One request of the AWS SigV4 test suite, signed for `service` in us-east-1.
    struct Vector {
        name: &'static str,
        method: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: &'static [u8],
        authorization: &'static str,
        /// The session token the key was issued with.
        token: Option<&'static str>,
    }

    const SESSION_TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";

    const VECTORS: [Vector; 3] = [
        Vector {
            name: "get-vanilla",
            method: "GET",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            body: b"",
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            token: None,
        },
        // The body hash and extra signed headers.
        Vector {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("Content-Length", "13"),
                ("X-Amz-Date", "20150830T123600Z"),
                (
                    "x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                ),
            ],
            body: b"Param1=value1",
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            token: None,
        },
        Vector {
            name: "get-vanilla-with-session-token",
            method: "GET",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Security-Token", SESSION_TOKEN),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            body: b"",
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            token: Some(SESSION_TOKEN),
        },
    ];

    /// Each vector verifies; a changed signature, a changed body or a key of another session
    /// does not.
    #[test]
    fn accepts_the_aws_test_suite_vectors_and_nothing_else() {
        for v in &VECTORS {
            let h = headers(v.headers);
            let req = SignedRequest {
                method: v.method,
                path_and_query: "/",
                headers: &h,
                body: v.body,
            };
            let check = |req: &SignedRequest<'_>, auth: &str, token: Option<&str>| {
                verify(req, auth, "service", key(token), vector_time())
            };
            let verified = check(&req, v.authorization, v.token);
            assert_eq!(
                verified.map(|v| v.region).as_deref(),
                Ok("us-east-1"),
                "{}",
                v.name
            );
            let mut changed = v.authorization.to_owned();
            let last = changed.pop().expect("a signature");
            changed.push(if last == '0' { '1' } else { '0' });
            let tampered = SignedRequest {
                body: b"Param1=value2",
                ..req
            };
            assert_eq!(
                check(&req, &changed, v.token),
                Err(SigV4Error::Mismatch),
                "{}: signature changed",
                v.name
            );
            assert_eq!(
                check(&tampered, v.authorization, v.token),
                Err(SigV4Error::Mismatch),
                "{}: body changed",
                v.name
            );
            assert_eq!(
                check(&req, v.authorization, Some("other")),
                Err(SigV4Error::UnknownKey),
                "{}: a key of another session",
                v.name
            );
        }
    }

    /// Signs a Bedrock request with aws-sigv4 (as the gateway does) and checks the verifier
    /// accepts it, double-encoding the ARN path, and rejects a one-byte change.
    #[test]
    fn round_trips_a_bedrock_request_signed_with_aws_sigv4() {
        let path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse";
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        let time = parse_amz_date("20260101T000000Z").unwrap();
        let credentials = Credentials::new(AK, SK, None, None, "test");
        let key_for = SigningKey::new(credentials, "us-east-1", "bedrock", time);
        let sent = [
            ("content-type", "application/json"),
            ("host", "localhost:9000"),
        ];
        let uri = format!("http://localhost:9000{path}");
        let signed = aws_sign(key_for, "POST", &uri, sent.into_iter(), body).unwrap();
        let mut h = headers(&sent);
        let mut authorization = String::new();
        for (name, value) in &signed.headers {
            if name == "authorization" {
                authorization = value.clone();
            } else {
                h.insert(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
        }
        let req = SignedRequest {
            method: "POST",
            path_and_query: path,
            headers: &h,
            body,
        };
        let v = verify(&req, &authorization, "bedrock", key(None), time).unwrap();
        assert_eq!(v.service, "bedrock");
        // One byte of the body changed.
        let mut changed = body.to_vec();
        changed[20] ^= 1;
        let req2 = SignedRequest {
            body: &changed,
            ..req
        };
        assert_eq!(
            verify(&req2, &authorization, "bedrock", key(None), time),
            Err(SigV4Error::Mismatch)
        );
        // Wrong service, unknown key, skewed clock.
        let req3 = SignedRequest { body, ..req2 };
        assert!(matches!(
            verify(&req3, &authorization, "sts", key(None), time),
            Err(SigV4Error::WrongService { .. })
        ));
        assert_eq!(
            verify(&req3, &authorization, "bedrock", |_| None, time),
            Err(SigV4Error::UnknownKey)
        );
        let later = time + Duration::from_secs(16 * 60);
        let Err(SigV4Error::Expired(message)) =
            verify(&req3, &authorization, "bedrock", key(None), later)
        else {
            panic!("expected an expired signature");
        };
        assert_eq!(
            message,
            "Signature expired: 20260101T000000Z is now earlier than 20260101T000100Z (20260101T001600Z - 15 min.)"
        );
        let earlier = time - Duration::from_secs(16 * 60);
        assert!(matches!(
            verify(&req3, &authorization, "bedrock", key(None), earlier),
            Err(SigV4Error::Expired(m)) if m.starts_with("Signature not yet current")
        ));
        // A single-encoded path does not verify (the canonical URI must be double-encoded).
        let single = SignedRequest {
            path_and_query: "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fabc/converse",
            ..req3
        };
        assert_eq!(
            verify(&single, &authorization, "bedrock", key(None), time),
            Err(SigV4Error::Mismatch)
        );
    }

    #[test]
    fn parses_the_authorization_header() {
        let a = parse_authorization("AWS4-HMAC-SHA256 Credential=AK/20200101/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab").unwrap();
        assert_eq!(a.access_key_id, "AK");
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
        assert!(parse_authorization("Bearer x").is_err());
        assert!(parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature=a"
        )
        .is_err());
    }
}
