//! Differential test of the gateway's SigV4 signer (`shale_bedrock::sigv4`) against `aws-sigv4`
//! (the oracle, default settings as the gateway used them before; driven through the emulator's
//! `aws_sign`, the reference signer its verifier uses too): thousands of random requests
//! — model ids and ARNs with colons and slashes, pass-through paths with dot segments and
//! queries, random header sets with duplicates and runs of spaces, bodies, session tokens
//! present or absent — each signed as a short sequence of requests on one `Signer` whose
//! credentials rotate and whose clock crosses midnight UTC, so cache hits, misses and
//! invalidations are all compared. Every `Authorization`, `x-amz-date` and
//! `x-amz-security-token` must be identical.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use shale_bedrock::resolve::encode_model_id;
use shale_bedrock::sigv4::{CanonicalUrl, SignableParts, Signer};
use shale_emulator::sigv4::{aws_sign, SigningKey};

/// (authorization, x-amz-date, x-amz-security-token) from aws-sigv4.
fn oracle(
    url: &str,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    time: SystemTime,
) -> (String, String, Option<String>) {
    let key = SigningKey::new(creds.clone(), region, "bedrock", time);
    let pairs = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()));
    let signed = aws_sign(key, method, url, pairs, body).unwrap();
    let get = |name: &str| signed.header(name).map(str::to_owned);
    (
        get("authorization").unwrap(),
        get("x-amz-date").unwrap(),
        get("x-amz-security-token"),
    )
}

fn model_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned()),
        Just("amazon.titan-embed-text-v2:0".to_owned()),
        "[a-z]{2}\\.[a-z]{3,10}\\.[a-z0-9-]{3,20}-v[0-9]:[0-9]",
        (
            "(us|eu|ap)-(east|west|central)-[1-3]",
            "[0-9]{12}",
            "(application-inference-profile|inference-profile|provisioned-model|custom-model)",
            "[a-z0-9.:/-]{1,24}",
        )
            .prop_map(|(r, acct, kind, id)| format!("arn:aws:bedrock:{r}:{acct}:{kind}/{id}")),
        "[ -~]{1,30}",
        "\\PC{1,8}",
    ]
}

/// A path as it would be on the wire: a model operation, or a pass-through path with dot
/// segments, double slashes and encoded characters.
fn path() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("converse"),
        Just("converse-stream"),
        Just("invoke"),
        Just("invoke-with-response-stream"),
        Just("count-tokens"),
    ];
    prop_oneof![
        3 => (model_id(), op).prop_map(|(m, op)| format!("/model/{}/{op}", encode_model_id(&m))),
        1 => proptest::collection::vec(
            prop_oneof![
                Just(".".to_owned()),
                Just("..".to_owned()),
                Just(String::new()),
                "[A-Za-z0-9._~-]{1,8}",
                "[A-Za-z0-9]{0,4}%[0-9A-F]{2}[a-z]{0,3}",
                "[a-z:@!$&'()*+,;=]{1,6}",
            ],
            0..6,
        )
        .prop_map(|segments| format!("/{}", segments.join("/"))),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => proptest::collection::vec(("[A-Za-z0-9%+._~-]{0,6}", "[A-Za-z0-9%+=._~-]{0,6}"), 0..4)
            .prop_map(|pairs| Some(
                pairs
                    .iter()
                    .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") })
                    .collect::<Vec<_>>()
                    .join("&"),
            )),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "(us|eu)-(east|west)-[12]"
            .prop_map(|r| format!("https://bedrock-runtime.{r}.amazonaws.com")),
        Just("https://bedrock-runtime.us-east-1.amazonaws.com:443".to_owned()),
        (1u16..65535).prop_map(|p| format!("http://127.0.0.1:{p}")),
        Just("http://localhost:80".to_owned()),
        Just("https://vpce-0a1b.bedrock-runtime.us-west-2.vpce.amazonaws.com:8443".to_owned()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let name = prop_oneof![
        Just("content-type"),
        Just("accept"),
        Just("x-amzn-bedrock-guardrailidentifier"),
        Just("x-amzn-bedrock-guardrailversion"),
        Just("x-amzn-bedrock-trace"),
        Just("x-amzn-bedrock-performanceconfig-latency"),
        Just("user-agent"),
        Just("x-amzn-trace-id"),
        Just("authorization"),
        Just("transfer-encoding"),
        Just("x-amz-date"),
        Just("x-amz-security-token"),
        Just("x-custom"),
        Just("host"),
    ];
    let value = prop_oneof![
        Just("application/json".to_owned()),
        Just("application/vnd.amazon.eventstream".to_owned()),
        "[ -~]{0,24}",
        "  [a-z]{1,3}   [a-z]{1,3} \t ".prop_map(|s| s.to_owned()),
    ];
    proptest::collection::vec((name, value), 0..7)
}

#[derive(Debug, Clone)]
struct Event {
    creds: usize,
    time: u64,
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    // A base time anywhere in 1970..2100, or just before a UTC midnight; later events move
    // forward by up to two minutes (crossing midnight when close to it) or a day.
    let base = prop_oneof![
        0u64..4_102_444_800,
        (0u64..47_000, 0u64..120).prop_map(|(day, before)| day * 86_400 - before.min(day * 86_400)),
    ];
    (
        base,
        proptest::collection::vec((0usize..4, prop_oneof![0u64..120, Just(86_400u64)]), 1..6),
    )
        .prop_map(|(base, steps)| {
            let mut t = base;
            steps
                .into_iter()
                .map(|(creds, step)| {
                    t += step;
                    Event { creds, time: t }
                })
                .collect()
        })
}

fn credentials() -> impl Strategy<Value = Vec<Credentials>> {
    // Four credential sets: rotation of the secret under one access key id, a new key id, and
    // session tokens present or absent.
    (
        "[A-Z0-9]{16,20}",
        "[A-Za-z0-9/+]{40}",
        "[A-Za-z0-9/+]{40}",
        proptest::option::of("[A-Za-z0-9/+=]{16,300}"),
        proptest::option::of("[A-Za-z0-9/+=]{16,300}"),
    )
        .prop_map(|(akid, s1, s2, t1, t2)| {
            vec![
                Credentials::new(&akid, &s1, None, None, "test"),
                Credentials::new(&akid, &s2, t1, None, "test"),
                Credentials::new(format!("ASIA{akid}"), &s1, t2, None, "test"),
                Credentials::new("AKIDEXAMPLE", &s2, None, None, "test"),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn signer_matches_aws_sigv4(
        host in host(),
        path in path(),
        query in query(),
        method in prop_oneof![Just("POST"), Just("GET"), Just("PUT")],
        header_list in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..600),
        creds in credentials(),
        events in events(),
        region in "(us|eu|ap)-(east|west|south)-[1-3]",
    ) {
        let raw = match &query {
            Some(q) => format!("{host}{path}?{q}"),
            None => format!("{host}{path}"),
        };
        // The client signs exactly what reqwest sends: the `url` crate's serialisation.
        let url = url::Url::parse(&raw).unwrap();
        let canonical = CanonicalUrl::from_url(&url);
        let mut headers = HeaderMap::new();
        for (name, value) in &header_list {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let signer = Signer::new(&region, "bedrock");
        for event in &events {
            let creds = &creds[event.creds];
            let time = UNIX_EPOCH + Duration::from_secs(event.time);
            let expected = oracle(url.as_str(), method, &headers, &body, creds, &region, time);
            let got = signer
                .sign(creds, time, SignableParts { method, url: &canonical, headers: &headers, body: &body })
                .unwrap();
            prop_assert_eq!(got.authorization.to_str().unwrap(), expected.0.as_str(), "url {}", url);
            prop_assert_eq!(got.date.to_str().unwrap(), expected.1.as_str());
            prop_assert_eq!(
                got.security_token.as_ref().map(|v| v.to_str().unwrap().to_owned()),
                expected.2
            );
            prop_assert!(got.authorization.is_sensitive());
        }
    }
}

/// One signer used from many threads at once, with credentials rotating underneath: every
/// signature still matches the oracle (the cache never hands out another key's signature).
#[test]
fn concurrent_signing_with_rotation_matches_the_oracle() {
    let signer = std::sync::Arc::new(Signer::new("us-east-1", "bedrock"));
    let url = url::Url::parse(
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
    )
    .unwrap();
    let canonical = std::sync::Arc::new(CanonicalUrl::from_url(&url));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (signer, canonical, url) = (signer.clone(), canonical.clone(), url.clone());
            std::thread::spawn(move || {
                let mut headers = HeaderMap::new();
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                for i in 0..200u64 {
                    let creds = Credentials::new(
                        "AKIDEXAMPLE",
                        format!("secret-{}", (i / 7 + t) % 3),
                        None,
                        None,
                        "test",
                    );
                    let time = UNIX_EPOCH + Duration::from_secs(1_714_607_990 + i * 3);
                    let body = format!("{{\"i\":{i}}}");
                    let got = signer
                        .sign(
                            &creds,
                            time,
                            SignableParts {
                                method: "POST",
                                url: &canonical,
                                headers: &headers,
                                body: body.as_bytes(),
                            },
                        )
                        .unwrap();
                    let expected = oracle(
                        url.as_str(),
                        "POST",
                        &headers,
                        body.as_bytes(),
                        &creds,
                        "us-east-1",
                        time,
                    );
                    assert_eq!(got.authorization.to_str().unwrap(), expected.0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Paths exactly as given (the `url` crate removes dot segments before signing ever sees
    /// them; `http::Uri` does not), so the signer's own path normalisation is compared too.
    #[test]
    fn raw_paths_match_aws_sigv4(
        (base, host) in prop_oneof![
            Just(("https://example.amazonaws.com", "example.amazonaws.com")),
            Just(("https://example.amazonaws.com:443", "example.amazonaws.com")),
            Just(("http://127.0.0.1:8080", "127.0.0.1:8080")),
            Just(("http://localhost:80", "localhost")),
        ],
        path in path(),
        query in query(),
        header_list in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        creds in credentials(),
        events in events(),
    ) {
        let raw = match &query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        };
        let canonical = CanonicalUrl::new(host, &path, query.as_deref());
        let mut headers = HeaderMap::new();
        for (name, value) in &header_list {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let signer = Signer::new("eu-west-3", "bedrock");
        for event in &events {
            let creds = &creds[event.creds];
            let time = UNIX_EPOCH + Duration::from_secs(event.time);
            let expected = oracle(&raw, "POST", &headers, &body, creds, "eu-west-3", time);
            let got = signer
                .sign(creds, time, SignableParts { method: "POST", url: &canonical, headers: &headers, body: &body })
                .unwrap();
            prop_assert_eq!(got.authorization.to_str().unwrap(), expected.0.as_str(), "url {}", raw);
        }
    }
}
