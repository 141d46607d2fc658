//! Property tests for the config loader: arbitrary text, real configs with random edits, and
//! generated configs whose values are hostile YAML scalars (`.inf`, `.nan`, `1e999`, anchors,
//! tags, nested lists where numbers belong…). Loading never panics; it returns a config whose
//! numbers are usable (finite, non-negative weights; positive limits) or a typed `ConfigError`.
//! Case count: `PROPTEST_CASES` (default 256 per property).

use proptest::prelude::*;
use shale_config::{Config, ConfigError};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "SET" => Some("1".into()),
        "INF" => Some("inf".into()),
        "NEG" => Some("-3".into()),
        _ => None,
    }
}

/// What a successful load must guarantee to the server.
fn check_loaded(cfg: &Config) {
    for m in &cfg.model_list {
        if let Some(w) = m.params.weight {
            assert!(w.is_finite() && (0.0..=1e15).contains(&w), "weight {w}");
        }
        assert!(!m.params.model.trim().is_empty());
    }
    assert!(cfg.general_settings.max_request_body_bytes > 0);
    assert!(cfg.general_settings.media_fetch.max_bytes > 0);
}

fn load(text: &str) {
    match Config::from_yaml_str(text, &env) {
        Ok(cfg) => check_loaded(&cfg),
        Err(e) => {
            // Every error renders (this is what `shale check` prints), and says something.
            assert!(!e.to_string().trim().is_empty(), "{e:?} renders as nothing");
            if let ConfigError::Located { line, column, .. } = e {
                assert!(line >= 1 && column >= 1);
            }
        }
    }
    match Config::check_yaml_str(text, &env) {
        Ok(cfg) => check_loaded(&cfg),
        Err(e) => {
            assert!(!e.to_string().trim().is_empty(), "{e:?} renders as nothing");
        }
    }
}

const SCALARS: &[&str] = &[
    "1",
    "0",
    "-1",
    "2.5",
    "-0.0",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "-1e999",
    "1e308",
    "18446744073709551616",
    "99999999999999999999999",
    "~",
    "null",
    "true",
    "maybe",
    "''",
    "\"\"",
    "é",
    "\"inf\"",
    "\"NaN\"",
    "os.environ/SET",
    "os.environ/INF",
    "os.environ/NEG",
    "os.environ/UNSET",
    "[1]",
    "[]",
    "{}",
    "{a: 1}",
    "!!binary aGk=",
    "!custom 3",
    "&a 5",
    "*a",
    "bedrock/us.amazon.nova-lite-v1:0",
    "bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0",
    "bedrock/converse/é",
    "bedrock/",
    "openai/gpt-4o",
    "'bedrock/llama/arn:aws:bedrock:x'",
];

const PARAM_KEYS: &[&str] = &[
    "model",
    "weight",
    "rpm",
    "tpm",
    "timeout",
    "stream_timeout",
    "num_retries",
    "max_retries",
    "aws_region_name",
    "api_base",
    "aws_session_tags",
    "user_continue_message",
    "modify_params",
    "drop_params",
    "model_id",
    "api_key",
    "temperature",
    "stream",
];

const SETTING_KEYS: &[(&str, &str)] = &[
    ("general_settings", "max_request_size_mb"),
    ("general_settings", "max_request_body_bytes"),
    ("general_settings", "shutdown_grace_seconds"),
    ("general_settings", "allow_unauthenticated"),
    ("general_settings", "master_key"),
    ("general_settings", "media_fetch"),
    ("litellm_settings", "num_retries"),
    ("litellm_settings", "request_timeout"),
    ("litellm_settings", "drop_params"),
    ("router_settings", "timeout"),
    ("router_settings", "num_retries"),
    ("router_settings", "routing_strategy"),
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(SCALARS).prop_map(str::to_owned),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
    ]
}

/// A generated config: model entries with random params, settings with random values.
fn generated() -> impl Strategy<Value = String> {
    let entry = (
        prop::sample::select(&["a", "b", "1", "é"][..]),
        prop::collection::vec((prop::sample::select(PARAM_KEYS), scalar()), 0..6),
        any::<bool>(),
    );
    let settings = prop::collection::vec((prop::sample::select(SETTING_KEYS), scalar()), 0..4);
    (prop::collection::vec(entry, 0..4), settings).prop_map(|(entries, settings)| {
        let mut text = String::new();
        for ((section, key), value) in settings {
            text.push_str(&format!("{section}:\n  {key}: {value}\n"));
        }
        text.push_str("model_list:\n");
        for (name, params, with_model) in entries {
            text.push_str(&format!("  - model_name: {name}\n    litellm_params:\n"));
            if with_model {
                text.push_str("      model: bedrock/us.amazon.nova-lite-v1:0\n");
            }
            for (k, v) in params {
                text.push_str(&format!("      {k}: {v}\n"));
            }
        }
        text
    })
}

fn fixtures() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<String> = std::fs::read_dir(root.join("tests/fixtures"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for extra in ["../../config/example.yaml", "../../config/demo.yaml"] {
        if let Ok(text) = std::fs::read_to_string(root.join(extra)) {
            out.push(text);
        }
    }
    out
}

/// A real config with random character-level edits (insert, delete, replace a span).
fn edited() -> impl Strategy<Value = String> {
    let texts = fixtures();
    let n = texts.len();
    let edit = (any::<usize>(), 0usize..8, prop::sample::select(SCALARS));
    (0..n, prop::collection::vec(edit, 1..5)).prop_map(move |(i, edits)| {
        let mut text = texts[i].clone();
        for (at, del, insert) in edits {
            let chars: Vec<char> = text.chars().collect();
            let at = at % (chars.len() + 1);
            let end = (at + del).min(chars.len());
            text = chars[..at]
                .iter()
                .chain(insert.chars().collect::<Vec<_>>().iter())
                .chain(chars[end..].iter())
                .collect();
        }
        text
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        load(&text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(
        lines in prop::collection::vec(
            (0usize..4, prop::sample::select(&["model_list:", "- ", "model_name: x", "litellm_params:", "weight: ", "general_settings:", "  ", "? ", ": ", "&a ", "*a", "<<: *a", "---", "..."][..]), scalar()),
            0..12,
        ),
    ) {
        let text: String = lines
            .into_iter()
            .map(|(indent, a, b)| format!("{}{a}{b}\n", "  ".repeat(indent)))
            .collect();
        load(&text);
    }

    #[test]
    fn generated_configs_load_usable_or_fail_typed(text in generated()) {
        load(&text);
    }

    #[test]
    fn edited_real_configs_load_usable_or_fail_typed(text in edited()) {
        load(&text);
    }
}
