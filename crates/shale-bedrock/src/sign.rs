//! SigV4 signing of an outgoing `reqwest::Request` with `aws-sigv4` (service `bedrock`,
//! double-encoded canonical path, payload hash of the body, no `x-amz-content-sha256`).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderName, HeaderValue};

use crate::error::BedrockError;

/// SigV4 signing name of bedrock-runtime and bedrock-agent-runtime.
pub const SIGNING_NAME: &str = "bedrock";

/// Adds `x-amz-date`, `authorization` and (temporary credentials) `x-amz-security-token` to
/// `request`, signing its method, URL, current headers and body.
pub fn sign_request(
    request: &mut reqwest::Request,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), BedrockError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| BedrockError::Signing(e.to_string()))?
        .into();
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|_| BedrockError::Signing(format!("header {name} is not visible ASCII")))?;
        headers.push((name.as_str(), value));
    }
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(SignableBody::Bytes)
        .unwrap_or(SignableBody::Bytes(&[]));
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.into_iter(),
        body,
    )
    .map_err(|e| BedrockError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| BedrockError::Signing(e.to_string()))?
        .into_parts();
    let (new_headers, _params) = instructions.into_parts();
    for header in new_headers {
        let mut value = HeaderValue::from_str(header.value())
            .map_err(|e| BedrockError::Signing(e.to_string()))?;
        value.set_sensitive(header.sensitive() || header.name() == "authorization");
        request
            .headers_mut()
            .insert(HeaderName::from_static(header.name()), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn request(url: &str, body: &'static [u8]) -> reqwest::Request {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .build()
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
        sign_request(&mut req, &creds, "us-east-1", SIGNING_NAME, time).unwrap();
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
        sign_request(&mut req, &creds, "us-east-1", SIGNING_NAME, time).unwrap();
        assert_eq!(
            req.headers()["x-amz-security-token"],
            "session-token-EXAMPLE"
        );
        assert_eq!(req.headers()["authorization"], EXPECTED_SESSION);
    }
}
