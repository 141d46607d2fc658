//! The AWS SigV4 test-suite vectors that apply to the gateway's signer (header signing,
//! normalised paths, session token signed): request, credentials and time of each case, and the
//! signature the suite expects (`aws-signing-test-suite/v4/<case>/header-signed-request.txt`,
//! as shipped with `aws-sigv4` 1.6). Cases that need settings the gateway never uses
//! (unnormalised paths, the token left out of the signature, multi-line header values) are not
//! listed.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use http::{HeaderMap, HeaderName, HeaderValue};
use shale_bedrock::sigv4::{canonical_uri, CanonicalUrl, SignableParts, Signer};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TIME: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z
const HOST: &str = "example.amazonaws.com";
const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    token: Option<&'static str>,
    content_sha256: bool,
    signed_headers: &'static str,
    signature: &'static str,
}

const fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    signed_headers: &'static str,
    signature: &'static str,
) -> Case {
    Case {
        name,
        method,
        path,
        query,
        headers: &[],
        body: "",
        token: None,
        content_sha256: false,
        signed_headers,
        signature,
    }
}

const HD: &str = "host;x-amz-date";

fn cases() -> Vec<Case> {
    vec![
        case("get-vanilla", "GET", "/", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("get-vanilla-query", "GET", "/", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("post-vanilla", "POST", "/", None, HD, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        case("post-header-key-case", "POST", "/", None, HD, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        case("post-vanilla-query", "POST", "/", Some("Param1=value1"), HD, "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        case("post-vanilla-empty-query-value", "POST", "/", Some("Param1=value1"), HD, "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
        case("get-vanilla-empty-query-key", "GET", "/", Some("Param1=value1"), HD, "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
        case("get-vanilla-query-order-key-case", "GET", "/", Some("Param2=value2&Param1=value1"), HD, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        case("get-vanilla-query-order-encoded", "GET", "/", Some("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"), HD, "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
        case("get-vanilla-query-unreserved", "GET", "/", Some("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), HD, "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        case("get-vanilla-utf8-query", "GET", "/", Some("\u{1234}=bar"), HD, "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        case("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", None, HD, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        case("get-utf8", "GET", "/\u{1234}", None, HD, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        case("get-space-normalized", "GET", "/example space/", None, HD, "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        case("get-relative-normalized", "GET", "/example/..", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("get-relative-relative-normalized", "GET", "/example1/example2/../..", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("get-slash-dot-slash-normalized", "GET", "/./", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("get-slash-normalized", "GET", "//", None, HD, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        case("get-slash-pointless-dot-normalized", "GET", "/./example", None, HD, "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
        case("get-slashes-normalized", "GET", "//example//", None, HD, "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
        Case {
            headers: &[("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
            ..case("get-header-key-duplicate", "GET", "/", None, "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")
        },
        Case {
            headers: &[("my-header1", "value4"), ("my-header1", "value1"), ("my-header1", "value3"), ("my-header1", "value2")],
            ..case("get-header-value-order", "GET", "/", None, "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01")
        },
        Case {
            headers: &[("my-header1", " value1"), ("my-header2", " \"a   b   c\"")],
            ..case("get-header-value-trim", "GET", "/", None, "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
        },
        Case {
            headers: &[("my-header1", "value1")],
            ..case("post-header-key-sort", "POST", "/", None, "host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c")
        },
        Case {
            headers: &[("my-header1", "VALUE1")],
            ..case("post-header-value-case", "POST", "/", None, "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")
        },
        Case {
            token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            ..case("get-vanilla-with-session-token", "GET", "/", None, "host;x-amz-date;x-amz-security-token", "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
        },
        Case {
            token: Some(STS_TOKEN),
            ..case("post-sts-header-before", "POST", "/", None, "host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")
        },
        Case {
            headers: &[("content-type", "application/x-www-form-urlencoded"), ("content-length", "13")],
            body: "Param1=value1",
            content_sha256: true,
            ..case("post-x-www-form-urlencoded", "POST", "/", None, "content-length;content-type;host;x-amz-content-sha256;x-amz-date", "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")
        },
        Case {
            headers: &[("content-type", "application/x-www-form-urlencoded; charset=utf-8"), ("content-length", "13")],
            body: "Param1=value1",
            content_sha256: true,
            ..case("post-x-www-form-urlencoded-parameters", "POST", "/", None, "content-length;content-type;host;x-amz-content-sha256;x-amz-date", "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422")
        },
    ]
}

#[test]
fn aws_test_suite_v4_header_signatures() {
    let mut failures = Vec::new();
    for case in cases() {
        let credentials =
            Credentials::new(AKID, SECRET, case.token.map(str::to_owned), None, "test");
        let signer =
            Signer::new("us-east-1", "service").with_content_sha256_header(case.content_sha256);
        let url = CanonicalUrl::new(HOST, case.path, case.query);
        let mut headers = HeaderMap::new();
        for (name, value) in case.headers {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let signed = signer
            .sign(
                &credentials,
                UNIX_EPOCH + Duration::from_secs(TIME),
                SignableParts {
                    method: case.method,
                    url: &url,
                    headers: &headers,
                    body: case.body.as_bytes(),
                },
            )
            .unwrap();
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
            case.signed_headers, case.signature
        );
        assert_eq!(signed.date, "20150830T123600Z");
        if signed.authorization.to_str().unwrap() != expected {
            failures.push(format!("{}: {:?}", case.name, signed.authorization));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `double-url-encode`: an ARN in the path (Lambda, the same shape as a Bedrock model ARN) is
/// percent-encoded on the wire and encoded once more in the canonical request.
#[test]
fn aws_test_suite_double_url_encode() {
    let signer = Signer::new("us-east-2", "lambda");
    let url = CanonicalUrl::new(
        "lambda.us-east-2.amazonaws.com",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
        None,
    );
    assert_eq!(
        url.uri(),
        "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations"
    );
    let signed = signer
        .sign(
            &Credentials::new(AKID, SECRET, None, None, "test"),
            UNIX_EPOCH + Duration::from_secs(1_620_747_645), // 2021-05-11T15:40:45Z
            SignableParts {
                method: "POST",
                url: &url,
                headers: &HeaderMap::new(),
                body: b"",
            },
        )
        .unwrap();
    assert_eq!(signed.date, "20210511T154045Z");
    assert_eq!(
        signed.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20210511/us-east-2/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=4b93abbcc68be32bd64c18e2c71150660ab4c29bbd6c32a383a7517a88fc1804"
    );
}

/// `double-encode-path`: the canonical request of the suite (its signature uses credentials the
/// suite does not publish).
#[test]
fn aws_test_suite_double_encode_path() {
    assert_eq!(
        canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
        "/test/%40connections/JBDvjfGEIAMCERw%253D"
    );
}
