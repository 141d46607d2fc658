//! Helpers shared by the golden-fixture test binaries: reading fixtures, comparing (or, with
//! `SHALE_BLESS=1`, rewriting) expected JSON, and inspecting errors.
//!
//! Blessing (`SHALE_BLESS`, `SHALE_BLESS_CORPUS`) refuses to run under `CI=true`: a CI run that
//! rewrote its own expected files would pass whatever the code does.

#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use shale_translate::error::TranslateError;
use shale_translate::BedrockBody;
use std::fs;
use std::path::{Path, PathBuf};

/// The fixed `id` and `created` the fixtures are written with.
pub const ID: &str = "chatcmpl-test";
pub const CREATED: u64 = 1_700_000_000;

/// The JSON of a chat call's body as the server sends it (its bytes, parsed in order).
pub fn sent(body: &BedrockBody) -> Value {
    serde_json::from_slice(&body.to_vec()).expect("the body is JSON")
}

/// A fixture file's JSON, or `None` when the file does not exist.
pub fn read_json(p: &Path) -> Option<Value> {
    let s = fs::read_to_string(p).ok()?;
    Some(serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// A fixture file's JSON; the file must exist.
pub fn read(dir: &Path, name: &str) -> Value {
    let path = dir.join(name);
    read_json(&path).unwrap_or_else(|| panic!("{}: missing", path.display()))
}

/// Whether the blessing variable `var` asks to rewrite expected files (`var=1`). Panics under
/// `CI=true` when it is set at all: CI compares, it never rewrites.
pub fn bless_var(var: &str) -> bool {
    let set = std::env::var_os(var).is_some();
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true" | "1"));
    assert!(
        !(set && ci),
        "{var} is set under CI=true: blessing rewrites the expected files, so CI would pass \
         whatever the code does (bless locally, review the diff, commit it)"
    );
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// `SHALE_BLESS=1`: rewrite the golden files (never under CI).
pub fn bless() -> bool {
    bless_var("SHALE_BLESS")
}

/// `SHALE_BLESS_CORPUS=1`: regenerate a differential corpus (never under CI).
pub fn bless_corpus() -> bool {
    bless_var("SHALE_BLESS_CORPUS")
}

/// Compare with (or, when blessing, write) an expected file; returns a failure message.
pub fn check(dir: &Path, file: &str, actual: &Value) -> Option<String> {
    let path = dir.join(file);
    if bless() {
        let mut s = serde_json::to_string_pretty(actual).unwrap();
        s.push('\n');
        fs::write(&path, s).unwrap();
        return None;
    }
    match read_json(&path) {
        None => Some(format!(
            "{}: missing (run with SHALE_BLESS=1)\nactual:\n{}",
            path.display(),
            serde_json::to_string_pretty(actual).unwrap()
        )),
        // Key order too: the expected files were written from the serialised output, and the
        // server's bytes must not change (clients cannot see order, but goldens pin the bytes).
        Some(expected)
            if &expected != actual
                || serde_json::to_string(&expected).unwrap()
                    != serde_json::to_string(actual).unwrap() =>
        {
            Some(format!(
                "{}: mismatch\nexpected:\n{}\nactual:\n{}",
                path.display(),
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(actual).unwrap()
            ))
        }
        Some(_) => None,
    }
}

pub fn assert_json_eq(case: &str, what: &str, got: &Value, want: &Value) {
    assert!(
        got == want,
        "{case}: {what} differs\n--- got\n{}\n--- want\n{}",
        serde_json::to_string_pretty(got).unwrap(),
        serde_json::to_string_pretty(want).unwrap()
    );
}

/// The `param` of an invalid-request error.
pub fn invalid_param(err: &TranslateError) -> Option<&str> {
    match err {
        TranslateError::InvalidRequest { param, .. } => param.as_deref(),
        TranslateError::InvalidUpstream(_) => None,
    }
}

/// The case directories of `tests/fixtures/<area>`, sorted.
pub fn case_dirs(area: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(area);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// `{"status", "body"}` of the answer the server sends for a translation error — the same
/// `TranslateError::to_openai` → `OpenAiError::to_json` path the server runs.
pub fn error_answer(err: &TranslateError) -> Value {
    let answer = err.to_openai();
    serde_json::json!({"status": answer.status, "body": answer.to_value()})
}

/// The `data:` error event the server writes when Bedrock sends an exception frame mid-stream:
/// the frame becomes a `BedrockError` exactly as the event-stream decoder builds it, then the
/// client's error JSON.
pub fn stream_exception_event(exception_type: &str, message: &str) -> Value {
    shale_bedrock::eventstream::stream_exception(exception_type, message.to_owned(), None)
        .to_openai()
        .to_value()
}

/// The invoke family of a fixture: its route `spec` (as the config's `bedrock/<spec>/…` prefix
/// names it, mapped like the server maps `InvokeSpec`) wins over the model id.
pub fn invoke_family(
    spec: Option<&str>,
    base_model: &str,
) -> Option<shale_translate::invoke::InvokeFamily> {
    use shale_translate::invoke::InvokeFamily;
    match spec {
        Some("llama") => Some(InvokeFamily::Llama3),
        Some("deepseek_r1") => Some(InvokeFamily::DeepSeekR1),
        Some("qwen2" | "qwen3") => Some(InvokeFamily::Qwen),
        Some("openai" | "moonshot") => Some(InvokeFamily::OpenAiFormat),
        _ => InvokeFamily::detect(base_model),
    }
}

/// Runs `run_case` over every case of `tests/fixtures/<area>` and fails once with all the
/// mismatches. There must be at least `min_cases` cases, and each must hold one of `inputs`
/// (no check when `inputs` is empty).
pub fn run_golden(
    area: &str,
    min_cases: usize,
    inputs: &[&str],
    run_case: impl Fn(&Path) -> Vec<String>,
) {
    let dirs = case_dirs(area);
    assert!(
        dirs.len() >= min_cases,
        "expected the full fixture set, found {}",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        if !inputs.is_empty() {
            let has_input = inputs.iter().any(|f| dir.join(f).exists());
            assert!(has_input, "{}: no input file", dir.display());
        }
        failures.extend(run_case(dir));
    }
    assert!(
        failures.is_empty(),
        "{} fixture failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A chat context with no defaults, no `modify_params`, no continue message and no beta
/// header: what a plain request to `caps`'s model gets.
pub fn plain_chat_context<'a>(
    caps: &'a shale_translate::ModelCaps,
    defaults: &'a serde_json::Map<String, Value>,
    fetched: &'a shale_translate::FetchedMedia,
) -> shale_translate::ChatContext<'a> {
    shale_translate::ChatContext {
        caps,
        default_params: defaults,
        modify_params: false,
        user_continue_message: None,
        anthropic_beta: None,
        fetched_media: fetched,
    }
}
