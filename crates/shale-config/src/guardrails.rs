//! The top-level `guardrails:` list (LiteLLM's gateway guardrails, issue #29): each entry's
//! `guardrail_name`, `litellm_params` (`guardrail: bedrock`, `mode`, `guardrailIdentifier`,
//! `guardrailVersion`, `default_on`, the masking and blocking switches, the AWS credential and
//! endpoint keys, shale's streaming-window and fail-open settings) and `guardrail_info`, typed and
//! validated with the field path (the loader adds line and column).
//!
//! Only parsing, defaults and findings live here: when and how a guardrail runs is the
//! `shale-guardrails` crate. Must not: do I/O, or print a secret ([`GuardrailConfig::describe`]
//! masks them).

use crate::fields::Fields;
use crate::{json_kind, ConfigError, Finding, Secret};
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// When a guardrail runs (LiteLLM's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuardrailMode {
    /// Checks the input before the model is called (can block or mask).
    PreCall,
    /// Checks the input while the model runs; the answer is held until it passes.
    DuringCall,
    /// Checks the answer before it reaches the client (streams in windows).
    PostCall,
}

impl GuardrailMode {
    /// LiteLLM's spelling (`pre_call` …), also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailMode::PreCall => "pre_call",
            GuardrailMode::DuringCall => "during_call",
            GuardrailMode::PostCall => "post_call",
        }
    }
}

impl fmt::Display for GuardrailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// LiteLLM modes shale accepts but never runs a guardrail in (reported as findings).
const UNSUPPORTED_MODES: &[&str] = &["logging_only", "pre_mcp_call", "during_mcp_call"];

/// Where and how to call ApplyGuardrail: the same keys a Bedrock deployment takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardrailAws {
    pub aws_region_name: Option<String>,
    /// `aws_bedrock_runtime_endpoint` (or `api_base`).
    pub aws_bedrock_runtime_endpoint: Option<String>,
    /// A Bedrock API key, sent as `Authorization: Bearer` (else `AWS_BEARER_TOKEN_BEDROCK`, else SigV4).
    pub api_key: Option<Secret>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_profile_name: Option<String>,
    pub aws_role_name: Option<String>,
    pub aws_session_name: Option<String>,
    pub aws_external_id: Option<String>,
    pub aws_web_identity_token: Option<Secret>,
    pub aws_sts_endpoint: Option<String>,
}

/// Defaults of the streaming post_call windows (bytes of UTF-8 text).
pub const DEFAULT_STREAM_FIRST_WINDOW: usize = 160;
/// See [`DEFAULT_STREAM_FIRST_WINDOW`].
pub const DEFAULT_STREAM_WINDOW: usize = 900;
/// See [`DEFAULT_STREAM_FIRST_WINDOW`].
pub const DEFAULT_STREAM_OVERLAP: usize = 100;
/// Default time limit of one ApplyGuardrail call.
pub const DEFAULT_GUARDRAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// One entry of `guardrails:`.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailConfig {
    /// Position in `guardrails`, for messages.
    pub index: usize,
    pub guardrail_name: String,
    /// When it runs (at least one mode; `mode` may be a string or a list).
    pub modes: Vec<GuardrailMode>,
    pub guardrail_identifier: String,
    /// `[1-9][0-9]{0,7}` or `DRAFT`.
    pub guardrail_version: String,
    /// Runs on every request (else only when a request, key or team asks for it).
    pub default_on: bool,
    /// `None` = not set: Bedrock's anonymized text replaces the input. `Some(false)`: input is
    /// never rewritten, so an anonymizing guardrail blocks instead.
    pub mask_request_content: Option<bool>,
    /// Same as `mask_request_content`, for the answer.
    pub mask_response_content: Option<bool>,
    /// A block answers 200 with the guardrail's message (`finish_reason: content_filter`).
    pub disable_exception_on_block: bool,
    /// Only the newest user message is checked (`experimental_use_latest_role_message_only`).
    pub latest_message_only: bool,
    /// System / developer messages are not sent to the guardrail.
    pub skip_system_message: bool,
    /// Tool results are not sent to the guardrail.
    pub skip_tool_message: bool,
    /// shale: a failing ApplyGuardrail call lets the request through (default false: fail closed).
    pub fail_open: bool,
    /// Time limit of one ApplyGuardrail call (`timeout`, seconds; default 10).
    pub timeout: Duration,
    /// Retries of a throttled / failed ApplyGuardrail call (`num_retries`, default 0).
    pub num_retries: u32,
    /// shale: streaming post_call, unchecked text that triggers the first check.
    pub stream_first_window_bytes: usize,
    /// shale: unchecked text that triggers each later check (0 = check once, at the end).
    pub stream_window_bytes: usize,
    /// shale: already-checked text held back and checked again with the next window.
    pub stream_overlap_bytes: usize,
    pub aws: GuardrailAws,
    /// Free-form, shown by `GET /guardrails/list`.
    pub guardrail_info: Map<String, Value>,
}

impl GuardrailConfig {
    /// `guardrails[3] (pii-guard)`.
    pub fn label(&self) -> String {
        format!("guardrails[{}] ({})", self.index, self.guardrail_name)
    }

    /// Whether it runs in `mode`.
    pub fn runs_in(&self, mode: GuardrailMode) -> bool {
        self.modes.contains(&mode)
    }

    /// One line for `shale check` (secrets shown as `***`).
    pub fn describe(&self) -> String {
        let modes: Vec<&str> = self.modes.iter().map(|m| m.as_str()).collect();
        let mut parts = vec![
            format!(
                "bedrock {} version {}",
                self.guardrail_identifier, self.guardrail_version
            ),
            format!("mode [{}]", modes.join(", ")),
            if self.default_on {
                "default_on".to_string()
            } else {
                "on request / key / team".to_string()
            },
        ];
        let a = &self.aws;
        if let Some(r) = &a.aws_region_name {
            parts.push(format!("region {r}"));
        }
        if let Some(e) = &a.aws_bedrock_runtime_endpoint {
            parts.push(format!("endpoint {e}"));
        }
        let secret = |name: &str, s: &Option<Secret>| s.as_ref().map(|s| format!("{name}: {s}"));
        let auth: Vec<String> = [
            secret("api_key", &a.api_key),
            a.aws_access_key_id
                .as_ref()
                .map(|k| format!("aws_access_key_id: {k}")),
            secret("aws_secret_access_key", &a.aws_secret_access_key),
            secret("aws_session_token", &a.aws_session_token),
            a.aws_profile_name
                .as_ref()
                .map(|p| format!("aws_profile_name: {p}")),
            a.aws_role_name
                .as_ref()
                .map(|r| format!("aws_role_name: {r}")),
            secret("aws_web_identity_token", &a.aws_web_identity_token),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.push(if auth.is_empty() {
            "credentials: default AWS chain".to_string()
        } else {
            format!("credentials: {}", auth.join(", "))
        });
        if self.mask_request_content == Some(false) || self.mask_response_content == Some(false) {
            parts.push("no masking (anonymized text blocks)".into());
        }
        if self.disable_exception_on_block {
            parts.push("block answers 200 content_filter".into());
        }
        if self.latest_message_only {
            parts.push("latest user message only".into());
        }
        parts.push(if self.fail_open {
            "FAILS OPEN".into()
        } else {
            "fails closed".into()
        });
        parts.push(format!("timeout {} s", self.timeout.as_secs_f64()));
        if self.runs_in(GuardrailMode::PostCall) {
            parts.push(if self.stream_window_bytes == 0 {
                "streams checked once at the end".to_string()
            } else {
                format!(
                    "streams checked every {} B (first {} B, overlap {} B)",
                    self.stream_window_bytes,
                    self.stream_first_window_bytes,
                    self.stream_overlap_bytes
                )
            });
        }
        format!("{} → {}", self.guardrail_name, parts.join(", "))
    }
}

/// Parses `guardrails:` (absent or null = none).
pub(crate) fn parse(
    value: Option<Value>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<GuardrailConfig>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ConfigError::Invalid {
                path: "guardrails".into(),
                message: format!("expected a list, found {}", json_kind(&other)),
            })
        }
    };
    let mut out: Vec<GuardrailConfig> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let g = parse_one(index, item, findings)?;
        if let Some(first) = out.iter().find(|o| o.guardrail_name == g.guardrail_name) {
            return Err(ConfigError::Invalid {
                path: format!("guardrails[{index}].guardrail_name"),
                message: format!(
                    "`{}` is already the name of guardrails[{}]",
                    g.guardrail_name, first.index
                ),
            });
        }
        out.push(g);
    }
    Ok(out)
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn parse_one(
    index: usize,
    item: Value,
    findings: &mut Vec<Finding>,
) -> Result<GuardrailConfig, ConfigError> {
    let path = format!("guardrails[{index}]");
    let Value::Object(map) = item else {
        return Err(invalid(
            &path,
            format!("expected a mapping, found {}", json_kind(&item)),
        ));
    };
    let mut top = Fields::new(map, &path);
    let guardrail_name = top.string("guardrail_name")?.ok_or_else(|| {
        invalid(
            format!("{path}.guardrail_name"),
            "is required (the name requests, keys and teams use)",
        )
    })?;
    if guardrail_name.contains(',') || guardrail_name.chars().any(char::is_control) {
        return Err(invalid(
            format!("{path}.guardrail_name"),
            "must not contain commas or control characters (it is sent in a header)",
        ));
    }
    let guardrail_info = match top.raw("guardrail_info") {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid(
                format!("{path}.guardrail_info"),
                format!("expected a mapping, found {}", json_kind(&other)),
            ))
        }
    };
    let params = match top.raw("litellm_params") {
        Some(Value::Object(m)) => m,
        None => {
            return Err(invalid(
                format!("{path}.litellm_params"),
                "is required (guardrail: bedrock, mode, guardrailIdentifier, guardrailVersion)",
            ))
        }
        Some(other) => {
            return Err(invalid(
                format!("{path}.litellm_params"),
                format!("expected a mapping, found {}", json_kind(&other)),
            ))
        }
    };
    for key in top.into_rest().keys() {
        findings.push(Finding::ignored(
            format!("{path}.{key}"),
            "unknown guardrails key",
        ));
    }
    let ppath = format!("{path}.litellm_params");
    let mut f = Fields::new(params, &ppath);
    match f.string("guardrail")?.as_deref() {
        Some(p) if p.eq_ignore_ascii_case("bedrock") => {}
        Some(other) => {
            return Err(invalid(
                format!("{ppath}.guardrail"),
                format!("`{other}` guardrails are not supported by shale (only `bedrock`): remove this entry or run it elsewhere"),
            ))
        }
        None => return Err(invalid(format!("{ppath}.guardrail"), "is required (`bedrock`)")),
    }
    if f.raw("checks").is_some() {
        return Err(invalid(
            format!("{ppath}.checks"),
            "InvokeGuardrailChecks (`checks`) is not supported: configure a guardrail with guardrailIdentifier and guardrailVersion",
        ));
    }
    let modes = parse_modes(f.raw("mode"), &format!("{ppath}.mode"), findings)?;
    let mut required = |key: &str, what: &str, valid: fn(&str) -> bool, expected: &str| {
        let path = format!("{ppath}.{key}");
        let value = f
            .string(key)?
            .ok_or_else(|| invalid(&path, format!("is required ({what})")))?;
        let value = value.trim().to_string();
        if !valid(&value) {
            return Err(invalid(
                &path,
                format!("`{value}` is not {what}: expected {expected}"),
            ));
        }
        Ok(value)
    };
    let guardrail_identifier = required(
        "guardrailIdentifier",
        "a guardrail id or ARN",
        valid_identifier,
        "[a-z0-9]+ or arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID",
    )?;
    let guardrail_version = required(
        "guardrailVersion",
        "a guardrail version",
        valid_version,
        "1 to 99999999 or DRAFT",
    )?;
    let aws = GuardrailAws {
        aws_region_name: f.string("aws_region_name")?,
        aws_bedrock_runtime_endpoint: match (
            f.string("aws_bedrock_runtime_endpoint")?,
            f.string("api_base")?,
        ) {
            (Some(e), _) | (None, Some(e)) => Some(e),
            (None, None) => None,
        },
        api_key: f.secret("api_key")?,
        aws_access_key_id: f.string("aws_access_key_id")?,
        aws_secret_access_key: f.secret("aws_secret_access_key")?,
        aws_session_token: f.secret("aws_session_token")?,
        aws_profile_name: f.string("aws_profile_name")?,
        aws_role_name: f.string("aws_role_name")?,
        aws_session_name: f.string("aws_session_name")?,
        aws_external_id: f.string("aws_external_id")?,
        aws_web_identity_token: f.secret("aws_web_identity_token")?,
        aws_sts_endpoint: f.string("aws_sts_endpoint")?,
    };
    let default_on = f.flag("default_on")?;
    let mask_request_content = f.bool("mask_request_content")?;
    let mask_response_content = f.bool("mask_response_content")?;
    let disable_exception_on_block = f.flag("disable_exception_on_block")?;
    let latest_message_only = f.flag("experimental_use_latest_role_message_only")?;
    let skip_system_message = f.flag("skip_system_message_in_guardrail")?;
    let skip_tool_message = f.flag("skip_tool_message_in_guardrail")?;
    let fail_open = f.flag("fail_open")?;
    let timeout = f.seconds("timeout")?.unwrap_or(DEFAULT_GUARDRAIL_TIMEOUT);
    let num_retries = f.u32("num_retries")?.unwrap_or(0);
    let usize_of = |v: Option<u64>, d: usize| v.map_or(d, |v| v as usize);
    let stream_first_window_bytes = usize_of(
        f.u64("stream_first_window_bytes")?,
        DEFAULT_STREAM_FIRST_WINDOW,
    );
    let stream_window_bytes = usize_of(f.u64("stream_window_bytes")?, DEFAULT_STREAM_WINDOW);
    let stream_overlap_bytes = usize_of(f.u64("stream_overlap_bytes")?, DEFAULT_STREAM_OVERLAP);
    if stream_window_bytes != 0 {
        for (key, v) in [
            ("stream_first_window_bytes", stream_first_window_bytes),
            ("stream_window_bytes", stream_window_bytes),
        ] {
            if v <= stream_overlap_bytes {
                return Err(invalid(
                    format!("{ppath}.{key}"),
                    format!("must be larger than stream_overlap_bytes ({stream_overlap_bytes}): a window that only re-checks held text releases nothing"),
                ));
            }
        }
    }
    for key in f.into_rest().keys() {
        findings.push(Finding::ignored(
            format!("{ppath}.{key}"),
            "unknown guardrail parameter",
        ));
    }
    if fail_open {
        findings.push(Finding::warning(
            format!("{ppath}.fail_open"),
            "when ApplyGuardrail fails, requests pass UNCHECKED (default: fail closed)",
        ));
    }
    if modes.contains(&GuardrailMode::DuringCall) && mask_request_content == Some(true) {
        findings.push(Finding::warning(
            format!("{ppath}.mask_request_content"),
            "during_call cannot mask (the model already has the text): use pre_call to mask input",
        ));
    }
    if modes.is_empty() {
        findings.push(Finding::warning(
            format!("{ppath}.mode"),
            "no mode shale runs (pre_call, during_call, post_call): this guardrail never runs",
        ));
    }
    Ok(GuardrailConfig {
        index,
        guardrail_name,
        modes,
        guardrail_identifier,
        guardrail_version,
        default_on,
        mask_request_content,
        mask_response_content,
        disable_exception_on_block,
        latest_message_only,
        skip_system_message,
        skip_tool_message,
        fail_open,
        timeout,
        num_retries,
        stream_first_window_bytes,
        stream_window_bytes,
        stream_overlap_bytes,
        aws,
        guardrail_info,
    })
}

/// `mode`: one name or a list of names (duplicates kept once).
fn parse_modes(
    value: Option<Value>,
    path: &str,
    findings: &mut Vec<Finding>,
) -> Result<Vec<GuardrailMode>, ConfigError> {
    let names: Vec<String> = match value {
        None => {
            return Err(invalid(
                path,
                "is required (pre_call, during_call, post_call or a list of them)",
            ))
        }
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(invalid(
                    path,
                    format!("expected mode names, found {}", json_kind(&other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(_)) => {
            return Err(invalid(
                path,
                "tag-based modes are not supported: give a mode name or a list of them",
            ))
        }
        Some(other) => {
            return Err(invalid(
                path,
                format!(
                    "expected a mode name or a list, found {}",
                    json_kind(&other)
                ),
            ))
        }
    };
    let mut modes = Vec::new();
    for name in names {
        let mode = match name.trim() {
            "pre_call" => GuardrailMode::PreCall,
            "during_call" => GuardrailMode::DuringCall,
            "post_call" => GuardrailMode::PostCall,
            other if UNSUPPORTED_MODES.contains(&other) => {
                findings.push(Finding::ignored(
                    format!("{path}: {other}"),
                    "mode not implemented by shale (pre_call, during_call and post_call are)",
                ));
                continue;
            }
            other => {
                return Err(invalid(
                    path,
                    format!("unknown mode `{other}` (expected pre_call, during_call or post_call)"),
                ))
            }
        };
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

/// A guardrail id (`[a-z0-9]+`) or its ARN (`arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID`).
fn valid_identifier(id: &str) -> bool {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return id.len() <= 2048
            && parts.len() == 5
            && parts[1] == "bedrock"
            && parts[4].strip_prefix("guardrail/").is_some_and(plain);
    }
    plain(id)
}

/// `[1-9][0-9]{0,7}` or `DRAFT`.
fn valid_version(v: &str) -> bool {
    v == "DRAFT"
        || (!v.is_empty()
            && v.len() <= 8
            && v.bytes().all(|b| b.is_ascii_digit())
            && !v.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const BASE: &str = "guardrails:\n  - guardrail_name: pii-guard\n    litellm_params:\n      guardrail: bedrock\n      mode: [pre_call, post_call]\n      guardrailIdentifier: ff6ujrregl1q\n      guardrailVersion: \"DRAFT\"\n      aws_region_name: us-east-1\n      aws_secret_access_key: os.environ/SECRET\n      aws_access_key_id: AKIDEXAMPLE\n      default_on: true\n    guardrail_info:\n      owner: security\n";

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, &|name| {
            (name == "SECRET").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string())
        })
    }

    #[test]
    fn litellm_example_parses() {
        let c = load(BASE).unwrap();
        assert_eq!(c.guardrails.len(), 1);
        let g = &c.guardrails[0];
        assert_eq!(g.guardrail_name, "pii-guard");
        assert_eq!(
            g.modes,
            vec![GuardrailMode::PreCall, GuardrailMode::PostCall]
        );
        assert_eq!(g.guardrail_identifier, "ff6ujrregl1q");
        assert_eq!(g.guardrail_version, "DRAFT");
        assert!(g.default_on && !g.fail_open);
        assert_eq!(g.timeout, DEFAULT_GUARDRAIL_TIMEOUT);
        assert_eq!(g.guardrail_info["owner"], "security");
        assert_eq!(g.aws.aws_region_name.as_deref(), Some("us-east-1"));
        let described = g.describe();
        assert!(
            described.contains("aws_secret_access_key: ***"),
            "{described}"
        );
        assert!(!described.contains("EXAMPLEKEY"), "{described}");
        assert!(
            c.findings.iter().all(|f| !f.path.starts_with("guardrails")),
            "{:?}",
            c.findings
        );
    }

    #[test]
    fn single_mode_string_and_numbers_as_versions() {
        let c = load(
            &BASE
                .replace("[pre_call, post_call]", "during_call")
                .replace("\"DRAFT\"", "3"),
        )
        .unwrap();
        assert_eq!(c.guardrails[0].modes, vec![GuardrailMode::DuringCall]);
        assert_eq!(c.guardrails[0].guardrail_version, "3");
    }

    #[test]
    fn errors_name_the_field_with_its_line() {
        let cases = [
            (
                BASE.replace("bedrock\n", "aporia\n"),
                "litellm_params.guardrail",
                4,
            ),
            (
                BASE.replace("[pre_call, post_call]", "[pre_call, sometimes]"),
                "litellm_params.mode",
                5,
            ),
            (BASE.replace("\"DRAFT\"", "\"07\""), "guardrailVersion", 7),
            (
                BASE.replace("ff6ujrregl1q", "Not_An_Id"),
                "guardrailIdentifier",
                6,
            ),
            (
                BASE.replace("default_on: true", "default_on: maybe"),
                "litellm_params.default_on",
                11,
            ),
        ];
        for (yaml, field, line) in cases {
            let err = load(&yaml).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
            assert!(
                err.contains(&format!("line {line},")),
                "{field} line {line}: {err}"
            );
        }
    }

    #[test]
    fn duplicate_names_and_missing_keys_are_refused() {
        let twice = format!("{BASE}{}", &BASE["guardrails:\n".len()..]);
        let err = load(&twice).unwrap_err().to_string();
        assert!(err.contains("guardrails[1].guardrail_name"), "{err}");
        let err = load("guardrails:\n  - guardrail_name: x\n    litellm_params: {guardrail: bedrock, mode: pre_call}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("guardrailIdentifier"), "{err}");
        let err = load("guardrails:\n  - litellm_params: {guardrail: bedrock}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("guardrail_name"), "{err}");
    }

    #[test]
    fn arns_and_stream_windows() {
        let yaml = BASE
            .replace(
                "ff6ujrregl1q",
                "arn:aws:bedrock:us-east-1:123456789012:guardrail/ff6ujrregl1q",
            )
            .replace(
                "default_on: true",
                "default_on: true\n      stream_window_bytes: 0\n      timeout: 2.5\n      fail_open: true",
            );
        let c = load(&yaml).unwrap();
        let g = &c.guardrails[0];
        assert!(g.guardrail_identifier.starts_with("arn:aws:bedrock:"));
        assert_eq!(g.stream_window_bytes, 0);
        assert_eq!(g.timeout, Duration::from_millis(2500));
        assert!(g.describe().contains("FAILS OPEN"));
        assert!(c.findings.iter().any(|f| f.path.ends_with("fail_open")));
        let err = load(&BASE.replace(
            "default_on: true",
            "stream_window_bytes: 50\n      stream_overlap_bytes: 50",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("stream_window_bytes"), "{err}");
    }

    #[test]
    fn unsupported_modes_and_unknown_keys_are_findings() {
        let c = load(
            &BASE
                .replace("[pre_call, post_call]", "[logging_only]")
                .replace(
                    "default_on: true",
                    "default_on: true\n      pii_entities_config: {}",
                ),
        )
        .unwrap();
        let paths: Vec<&str> = c.findings.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.iter().any(|p| p.contains("logging_only")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.ends_with("pii_entities_config")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.ends_with(".mode")),
            "never runs: {paths:?}"
        );
    }
}
