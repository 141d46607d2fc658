//! Signs an outgoing `http::Request` with the target's [`Signer`] (service `bedrock`,
//! double-encoded canonical path, payload hash of the body, no `x-amz-content-sha256`): adds
//! `x-amz-date`, `authorization` and, for temporary credentials, `x-amz-security-token`.
//! The signing itself lives in `sigv4.rs`; this file only moves headers in and out of the request.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION};

use crate::error::BedrockError;
use crate::sigv4::{CanonicalUrl, SignableParts, Signer};

/// SigV4 signing name of bedrock-runtime and bedrock-agent-runtime.
pub const SIGNING_NAME: &str = "bedrock";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// Adds the signature headers to `request`, signing its method, `url` (the canonical form of
/// the request's URL), current headers and body.
pub fn sign_request(
    request: &mut http::Request<Bytes>,
    signer: &Signer,
    url: &CanonicalUrl,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<(), BedrockError> {
    let body: &[u8] = request.body();
    let signed = signer.sign(
        credentials,
        time,
        SignableParts {
            method: request.method().as_str(),
            url,
            headers: request.headers(),
            body,
        },
    )?;
    let headers = request.headers_mut();
    headers.insert(X_AMZ_DATE, signed.date);
    headers.insert(AUTHORIZATION, signed.authorization);
    if let Some(token) = signed.security_token {
        headers.insert(X_AMZ_SECURITY_TOKEN, token);
    }
    if let Some(hash) = signed.content_sha256 {
        headers.insert(X_AMZ_CONTENT_SHA256, hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn sign(req: &mut http::Request<Bytes>, creds: &Credentials, time: std::time::SystemTime) {
        let url = CanonicalUrl::from_url(&url::Url::parse(&req.uri().to_string()).unwrap());
        let signer = Signer::new("us-east-1", SIGNING_NAME);
        sign_request(req, &signer, &url, creds, time).unwrap();
    }

    fn request(url: &str, body: &'static [u8]) -> http::Request<Bytes> {
        http::Request::post(url)
            .header("content-type", "application/json")
            .body(Bytes::from_static(body))
            .unwrap()
    }

    // Expected values computed independently with botocore (installed system-wide):
    //
    // python3 - <<'PY'
    // from botocore.auth import SigV4Auth
    // from botocore.awsrequest import AWSRequest
    // from botocore.credentials import Credentials
    // import datetime, unittest.mock as m
    // creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", TOKEN)
    // url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/" \
    //       "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse"
    // req = AWSRequest("POST", url, data=b'{"messages":[]}', headers={"Content-Type": "application/json"})
    // with m.patch("botocore.auth.get_current_datetime",
    //              return_value=datetime.datetime(2024, 5, 1, 12, 0, 0)):
    //     SigV4Auth(creds, "bedrock", "us-east-1").add_auth(req)
    // print(req.headers["Authorization"])
    // PY
    // (botocore 1.43; TOKEN = None for the first vector, "session-token-EXAMPLE" for the second.)
    const URL: &str = "https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse";
    const TIME_SECS: u64 = 1_714_564_800; // 2024-05-01T12:00:00Z
    const EXPECTED_STATIC: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=006e87a4726a186bfdd5e28702dd9ea5a09a2cfe47ec22510d4870b17e33f397";
    const EXPECTED_SESSION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=eb02cb74070b6f88a935652d1265133b61a4792849d12611e63450573d9fe7f0";

    #[test]
    fn golden_signature_static_keys() {
        let mut req = request(URL, br#"{"messages":[]}"#);
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let time = UNIX_EPOCH + Duration::from_secs(TIME_SECS);
        sign(&mut req, &creds, time);
        assert_eq!(req.headers()["x-amz-date"], "20240501T120000Z");
        assert_eq!(req.headers()["authorization"], EXPECTED_STATIC);
        assert!(req.headers().get("x-amz-security-token").is_none());
        assert!(req.headers()["authorization"].is_sensitive());
    }

    #[test]
    fn golden_signature_session_token() {
        let mut req = request(URL, br#"{"messages":[]}"#);
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-EXAMPLE".into()),
            None,
            "test",
        );
        let time = UNIX_EPOCH + Duration::from_secs(TIME_SECS);
        sign(&mut req, &creds, time);
        assert_eq!(
            req.headers()["x-amz-security-token"],
            "session-token-EXAMPLE"
        );
        assert_eq!(req.headers()["authorization"], EXPECTED_SESSION);
    }

    /// The cross-SDK fixture of openai-go's `bedrock/testdata/sigv4.json` (bedrock-mantle,
    /// service `bedrock-mantle`, payload hash header signed, `content-length` not signed): the
    /// signer with a Mantle target's settings must produce exactly its signature.
    #[test]
    fn golden_signature_bedrock_mantle_openai_go_fixture() {
        let mut req = request(
            "https://bedrock-mantle.us-east-1.api.aws/v1/responses",
            br#"{"model":"gpt-4o","input":"hello"}"#,
        );
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("fixture-session-token".into()),
            None,
            "test",
        );
        let url = CanonicalUrl::from_url(&url::Url::parse(&req.uri().to_string()).unwrap());
        let signer = Signer::new(
            "us-east-1",
            shale_core::surface::Host::Mantle.signing_name(),
        )
        .with_content_sha256_header(true);
        let time = UNIX_EPOCH + Duration::from_secs(1_735_787_045); // 2025-01-02T03:04:05Z
        sign_request(&mut req, &signer, &url, &creds, time).unwrap();
        assert_eq!(req.headers()["x-amz-date"], "20250102T030405Z");
        assert_eq!(
            req.headers()["x-amz-content-sha256"],
            "50329e51ad520f21b77bad0b01999930ff556cd1bf18434701251ba6c9f877bc"
        );
        assert_eq!(
            req.headers()["x-amz-security-token"],
            "fixture-session-token"
        );
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/us-east-1/bedrock-mantle/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=b81279dd7a01b9681012a7cf068f8ab7f663b85f0742741b509315ad22e32175"
        );
    }
}
