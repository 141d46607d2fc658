//! The STS endpoint (`POST /`, form-encoded): `AssumeRole` (SigV4 `sts`),
//! `AssumeRoleWithWebIdentity` (unsigned) and `GetCallerIdentity`, issuing temporary
//! credentials that the emulator then accepts with their session token. XML like AWS.

use crate::state::{AppState, TempCredential};
use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use rand::Rng as _;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Account id the emulator pretends to be.
pub const ACCOUNT_ID: &str = "123456789012";

/// Parses a form body.
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Escapes text for XML.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// An STS XML response.
pub fn xml_response(status: u16, xml: String) -> Response {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/xml")
        .header("x-amzn-RequestId", crate::error::request_id())
        .body(Body::from(xml))
        .expect("valid response")
}

/// An STS error (`<ErrorResponse>`).
pub fn error_response(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let xml = format!(
        "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        xml_escape(code),
        xml_escape(message),
        uuid::Uuid::new_v4()
    );
    xml_response(status, xml)
}

fn missing(param: &str) -> Response {
    error_response(
        400,
        "ValidationError",
        &format!("1 validation error detected: Value null at '{param}' failed to satisfy constraint: Member must not be null"),
    )
}

fn iso8601(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether an action needs a SigV4 signature.
pub fn needs_signature(action: &str) -> bool {
    action != "AssumeRoleWithWebIdentity"
}

/// Answers an STS action. `caller` is the access key id that signed the request, if any.
pub fn handle(state: &AppState, form: &HashMap<String, String>, caller: Option<&str>) -> Response {
    let action = form.get("Action").map(String::as_str).unwrap_or("");
    match action {
        "AssumeRole" | "AssumeRoleWithWebIdentity" => assume(state, action, form),
        "GetCallerIdentity" => {
            let xml = format!(
                "<GetCallerIdentityResponse xmlns=\"{NS}\">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:iam::{ACCOUNT_ID}:user/shale-emulator</Arn>\n    <UserId>{}</UserId>\n    <Account>{ACCOUNT_ID}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                xml_escape(caller.unwrap_or("")),
                uuid::Uuid::new_v4()
            );
            xml_response(200, xml)
        }
        "" => error_response(400, "MissingAction", "Missing Action"),
        other => error_response(
            400,
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15"),
        ),
    }
}

fn assume(state: &AppState, action: &str, form: &HashMap<String, String>) -> Response {
    let Some(role_arn) = form.get("RoleArn").filter(|r| !r.is_empty()) else {
        return missing("roleArn");
    };
    let Some(session) = form.get("RoleSessionName").filter(|r| !r.is_empty()) else {
        return missing("roleSessionName");
    };
    let web = action == "AssumeRoleWithWebIdentity";
    if web && form.get("WebIdentityToken").is_none_or(|t| t.is_empty()) {
        return missing("webIdentityToken");
    }
    let duration = match form.get("DurationSeconds") {
        None => 3600,
        Some(d) => match d.parse::<u64>() {
            Ok(d) if (1..=43_200).contains(&d) => d,
            _ => {
                return error_response(
                    400,
                    "ValidationError",
                    &format!("1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"),
                )
            }
        },
    };
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let access_key_id = format!("ASIA{}", random_string(UPPER, 16));
    let secret = random_string(SECRET, 40);
    let mut token_bytes = [0u8; 96];
    rand::thread_rng().fill(&mut token_bytes[..]);
    let token = format!(
        "FwoGZXIvYXdzE{}",
        base64::engine::general_purpose::STANDARD.encode(token_bytes)
    );
    let expires = SystemTime::now() + Duration::from_secs(duration);
    state.add_temp_credential(
        access_key_id.clone(),
        TempCredential {
            secret_access_key: secret.clone(),
            session_token: token.clone(),
            expires,
        },
    );
    let role_name = role_arn.rsplit('/').next().unwrap_or("role");
    let role_id = format!("AROA{}", random_string(UPPER, 17));
    let extra = if web {
        format!(
            "    <SubjectFromWebIdentityToken>shale-emulator-subject</SubjectFromWebIdentityToken>\n    <Audience>sts.amazonaws.com</Audience>\n    <Provider>{}</Provider>\n",
            xml_escape(form.get("ProviderId").map(String::as_str).unwrap_or("shale-emulator"))
        )
    } else {
        String::new()
    };
    let xml = format!(
        "<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n{extra}    <AssumedRoleUser>\n      <AssumedRoleId>{role_id}:{session}</AssumedRoleId>\n      <Arn>arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{access_key_id}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n    <PackedPolicySize>0</PackedPolicySize>\n  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n",
        session = xml_escape(session),
        role = xml_escape(role_name),
        expiration = iso8601(expires),
        request_id = uuid::Uuid::new_v4(),
    );
    xml_response(200, xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    #[test]
    fn assume_role_issues_usable_credentials() {
        let state = AppState::new(EmulatorConfig::default());
        let form = parse_form(b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&DurationSeconds=900");
        let resp = handle(&state, &form, Some("AKIDEXAMPLE"));
        assert_eq!(resp.status(), 200);
        let body =
            futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)).unwrap();
        let xml = String::from_utf8(body.to_vec()).unwrap();
        assert!(xml.contains("<AssumeRoleResponse"));
        let ak = xml
            .split("<AccessKeyId>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        assert!(ak.starts_with("ASIA"));
        let token = xml
            .split("<SessionToken>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let material = state.key_material(ak).unwrap();
        assert_eq!(material.session_token.as_deref(), Some(token));
        assert!(xml.contains("assumed-role/r/s"));
    }

    #[test]
    fn web_identity_requires_a_token() {
        let state = AppState::new(EmulatorConfig::default());
        let form = parse_form(
            b"Action=AssumeRoleWithWebIdentity&RoleArn=arn&RoleSessionName=s&WebIdentityToken=",
        );
        assert_eq!(handle(&state, &form, None).status(), 400);
        let form = parse_form(b"Action=Nope");
        assert_eq!(handle(&state, &form, None).status(), 400);
    }
}
