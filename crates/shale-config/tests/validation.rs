//! Impossible numbers in a config are refused at load time with the field path and its line and
//! column — never accepted to fail (or panic) later, on a request.

use shale_config::{Config, ConfigError};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(text, &|name| (name == "W").then(|| "inf".to_string()))
}

fn entry(params: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/us.amazon.nova-lite-v1:0\n      {params}\n")
}

fn located(err: &ConfigError) -> (usize, usize, String) {
    match err {
        ConfigError::Located {
            line,
            column,
            source,
        } => (*line, *column, source.to_string()),
        other => panic!("expected a located error, got {other:?}"),
    }
}

#[test]
fn non_finite_and_negative_weights_are_refused_with_line_and_column() {
    for (value, why) in [
        (".inf", "numbers must be finite"),
        ("-.inf", "numbers must be finite"),
        (".nan", "numbers must be finite"),
        ("1e999", "finite number"),
        ("\"inf\"", "expected a finite number"),
        ("\"NaN\"", "expected a finite number"),
        ("-1", "must be a finite number from 0 to 1e15"),
        ("-0.5", "must be a finite number from 0 to 1e15"),
        ("1e308", "must be a finite number from 0 to 1e15"),
        ("os.environ/W", "expected a finite number"),
    ] {
        let err = load(&entry(&format!("weight: {value}"))).unwrap_err();
        let (line, column, message) = located(&err);
        assert_eq!((line, column), (5, 15), "weight: {value}: {err}");
        assert!(
            message.starts_with("model_list[0].litellm_params.weight: "),
            "{message}"
        );
        assert!(message.contains(why), "weight: {value}: {message}");
    }
}

#[test]
fn usable_weights_load() {
    for value in ["0", "0.25", "3", "\"2.5\""] {
        let cfg = load(&entry(&format!("weight: {value}"))).unwrap();
        let w = cfg.model_list[0].params.weight.unwrap();
        assert!(w.is_finite() && w >= 0.0);
    }
}

#[test]
fn impossible_counts_timeouts_and_sizes_are_refused() {
    let cases = [
        (
            entry("rpm: -5"),
            "litellm_params.rpm",
            "non-negative whole number",
        ),
        (
            entry("tpm: 1.5"),
            "litellm_params.tpm",
            "non-negative whole number",
        ),
        (
            entry("num_retries: -1"),
            "litellm_params.num_retries",
            "non-negative whole number",
        ),
        (
            entry("num_retries: 1e12"),
            "litellm_params.num_retries",
            "too large",
        ),
        (
            entry("timeout: -3"),
            "litellm_params.timeout",
            "positive number of seconds",
        ),
        (
            entry("timeout: 0"),
            "litellm_params.timeout",
            "positive number of seconds",
        ),
        (
            entry("stream_timeout: 1e300"),
            "litellm_params.stream_timeout",
            "too large",
        ),
        (
            "general_settings:\n  max_request_body_bytes: 0\n".to_string(),
            "general_settings.max_request_body_bytes",
            "at least 1 byte",
        ),
        (
            "general_settings:\n  max_request_size_mb: -1\n".to_string(),
            "general_settings.max_request_size_mb",
            "must be positive",
        ),
        (
            "general_settings:\n  media_fetch: {max_bytes: 0}\n".to_string(),
            "general_settings.media_fetch.max_bytes",
            "greater than zero",
        ),
        (
            "general_settings:\n  shutdown_grace_seconds: -1\n".to_string(),
            "general_settings.shutdown_grace_seconds",
            "positive number of seconds",
        ),
        (
            "router_settings:\n  timeout: \"nan\"\n".to_string(),
            "router_settings.timeout",
            "finite number",
        ),
        (
            "litellm_settings:\n  request_timeout: 1e20\n".to_string(),
            "litellm_settings.request_timeout",
            "too large",
        ),
    ];
    for (text, field, why) in cases {
        let err = load(&text).unwrap_err();
        let (line, column, message) = located(&err);
        assert!(line >= 2 && column >= 3, "{text}: {err}");
        assert!(message.contains(field), "{text}: {message}");
        assert!(message.contains(why), "{text}: {message}");
        // The same check runs for `shale check`.
        let err = Config::check_yaml_str(&text, &|_| None).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
}
