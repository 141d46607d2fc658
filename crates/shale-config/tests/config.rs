//! Config parser tests: LiteLLM's own example configs parse, and every error names what is wrong.

use shale_config::{Api, Config, ConfigError};
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(text, &env(&[]))
}

#[test]
fn litellm_doc_proxy_config_parses_with_env() {
    let cfg = Config::from_yaml_str(
        &fixture("litellm_doc_proxy.yaml"),
        &env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret-value"),
            ("AWS_REGION_NAME", "us-east-1"),
        ]),
    )
    .unwrap();
    let m = &cfg.model_list[0];
    assert_eq!(m.model_name, "bedrock-claude-3-5-sonnet");
    assert_eq!(m.params.aws_access_key_id.as_deref(), Some("AKIDEXAMPLE"));
    assert_eq!(
        m.params.aws_secret_access_key.as_ref().unwrap().expose(),
        "secret-value"
    );
    assert_eq!(m.params.aws_region_name.as_deref(), Some("us-east-1"));
    assert_eq!(m.route.api, Api::Converse);
    assert_eq!(
        m.route.model_id,
        "anthropic.claude-3-5-sonnet-20240620-v1:0"
    );
    // Secrets never show in Debug output.
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("secret-value"), "{debug}");
}

#[test]
fn missing_env_names_variable_and_field() {
    let err = Config::from_yaml_str(
        &fixture("litellm_doc_proxy.yaml"),
        &env(&[("AWS_ACCESS_KEY_ID", "x"), ("AWS_REGION_NAME", "us-east-1")]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable AWS_SECRET_ACCESS_KEY is not set (referenced by model_list[0].litellm_params.aws_secret_access_key) (line 7, column 30)"
    );
}

#[test]
fn env_refs_resolve_anywhere() {
    let cfg = Config::from_yaml_str(
        "general_settings:\n  master_key: os.environ/KEY\nmodel_list:\n  - model_name: m\n    litellm_params:\n      model: os.environ/MODEL\n",
        &env(&[("KEY", "sk-abc"), ("MODEL", "bedrock/us.amazon.nova-lite-v1:0")]),
    )
    .unwrap();
    assert_eq!(cfg.general_settings.master_key.unwrap().expose(), "sk-abc");
    assert_eq!(cfg.model_list[0].route.model_id, "us.amazon.nova-lite-v1:0");
}

#[test]
fn user_continue_message_and_modify_params() {
    let cfg = load(&fixture("litellm_doc_user_continue.yaml")).unwrap();
    assert!(cfg.litellm_settings.modify_params);
    let m = &cfg.model_list[0];
    assert_eq!(
        m.params.user_continue_message.as_ref().unwrap()["content"],
        "Please continue"
    );
    assert_eq!(
        m.route.api,
        Api::Invoke,
        "claude-instant is an invoke model"
    );
    assert!(m.params.default_request_params.is_empty());
}

#[test]
fn all_documented_features_parse() {
    let cfg = load(&fixture("litellm_doc_all_features.yaml")).unwrap();
    let by_name = |n: &str| cfg.model_list.iter().find(|m| m.model_name == n).unwrap();

    let guarded = by_name("claude-guarded");
    assert_eq!(
        guarded.params.default_request_params["guardrailConfig"]["guardrailIdentifier"],
        "ff6ujrregl1q"
    );
    assert_eq!(
        by_name("claude-latency").params.default_request_params["performanceConfig"]["latency"],
        "optimized"
    );
    assert_eq!(by_name("claude-invoke").route.api, Api::Invoke);
    let internal = by_name("internal");
    assert_eq!(internal.route.api, Api::ConverseLike);
    assert_eq!(
        internal.params.api_key.as_ref().unwrap().expose(),
        "sk-1234"
    );
    assert_eq!(
        by_name("app-profile").params.model_id.as_deref(),
        Some(
            "arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0a0a0a0a0a0"
        )
    );
    let sts = by_name("sts");
    assert_eq!(
        sts.params.aws_session_name.as_deref(),
        Some("my-test-session")
    );
    assert_eq!(sts.params.default_request_params["max_tokens"], 10);
    assert_eq!(by_name("titan-embed").mode(), Some("embedding"));
    assert_eq!(
        by_name("cohere-rerank").route.base_model,
        "cohere.rerank-v3-5:0"
    );
    // Empty strings mean "not set", as in LiteLLM.
    let custom = by_name("custom-endpoint");
    assert!(custom.params.aws_secret_access_key.is_none());
    assert_eq!(
        custom.params.aws_bedrock_runtime_endpoint.as_deref(),
        Some("https://my-fake-endpoint.com")
    );

    assert!(cfg.litellm_settings.drop_params);
    assert_eq!(cfg.litellm_settings.num_retries, Some(3));
    assert_eq!(
        cfg.general_settings.master_key.as_ref().unwrap().expose(),
        "sk-1234"
    );

    // Keys LiteLLM accepts but shale ignores are findings, not errors.
    let paths: Vec<&str> = cfg.findings.iter().map(|f| f.path.as_str()).collect();
    // `callbacks: ["prometheus"]` is implemented (issue #14): it turns `/metrics` on.
    assert!(cfg.telemetry.prometheus);
    assert!(!paths.contains(&"litellm_settings.callbacks"));
    // Models in Postgres are understood now (issue #31): a setting, not a finding.
    assert!(!paths.contains(&"general_settings.store_model_in_db"));
    assert!(cfg.general_settings.fleet.store_model_in_db);
    // Virtual keys are understood now (issue #15): `database_url` is a setting, not a finding.
    assert!(
        !paths.contains(&"general_settings.database_url"),
        "{paths:?}"
    );
    assert_eq!(
        cfg.general_settings
            .keys
            .database_url
            .as_ref()
            .map(|s| s.expose()),
        Some("postgres://x")
    );
    // Router keys are understood now: no finding for them.
    for understood in [
        "router_settings.routing_strategy",
        "router_settings.redis_host",
    ] {
        assert!(!paths.contains(&understood), "{understood} in {paths:?}");
    }
    assert_eq!(
        cfg.routing.strategy,
        shale_config::RoutingStrategy::LeastBusy
    );
    assert!(matches!(
        &cfg.routing.redis,
        Some(shale_config::RedisSettings::Host { host, port: 6379, .. }) if host == "localhost"
    ));
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = load("model_list:\n  - model_name: a\n    litellm_params: [unclosed\n").unwrap_err();
    match &err {
        ConfigError::Syntax { line, column, .. } => {
            assert!(*line >= 3, "line {line}");
            assert!(*column >= 1);
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with("invalid YAML at line "),
        "{err}"
    );
}

#[test]
fn entry_without_model_names_index_and_model_name() {
    let err = load("model_list:\n  - model_name: ok\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0}\n  - model_name: broken\n    litellm_params: {api_key: x}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "model_list[1] (model_name: broken): `litellm_params.model` is required (line 4, column 5)"
    );
}

#[test]
fn non_bedrock_model_is_reported() {
    let err =
        load("model_list:\n  - model_name: gpt\n    litellm_params: {model: openai/gpt-4o}\n")
            .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("model_list[0] (model_name: gpt): "),
        "{msg}"
    );
    assert!(msg.contains("must start with `bedrock/`"), "{msg}");
    assert!(msg.contains("openai/gpt-4o"), "{msg}");
}

#[test]
fn missing_model_name_is_reported() {
    let err = load("model_list:\n  - litellm_params: {model: bedrock/x.y}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "model_list[0].model_name: is required (the name clients send as `model`)"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let err = load(
        "model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y, timeout: [1]}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model_list[0].litellm_params.timeout: expected a number, found a list (line 3, column 51)"
    );
    let err = load("model_list: {a: 1}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "model_list: expected a list, found a mapping (line 1, column 13)"
    );
    let err = load("general_settings:\n  allow_unauthenticated: maybe\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "general_settings.allow_unauthenticated: expected true or false, found a string (line 2, column 26)"
    );
    let err = load("general_settings:\n  media_fetch: {allow_ftp: true}\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("general_settings.media_fetch.allow_ftp: unknown key"),
        "{err}"
    );
}

#[test]
fn settings_defaults_and_overrides() {
    let cfg = load("general_settings:\n  max_request_size_mb: 1\n  pass_through_unknown_models: true\n  media_fetch: {allow_http: true, max_bytes: 1000}\n").unwrap();
    assert_eq!(cfg.general_settings.max_request_body_bytes, 1024 * 1024);
    assert!(cfg.general_settings.pass_through_unknown_models);
    assert!(cfg.general_settings.media_fetch.allow_http);
    assert!(!cfg.general_settings.media_fetch.allow_private_networks);
    assert_eq!(cfg.general_settings.media_fetch.max_bytes, 1000);
    let cfg = load("").unwrap();
    assert_eq!(
        cfg.general_settings.max_request_body_bytes,
        32 * 1024 * 1024
    );
    assert!(cfg.findings.iter().any(|f| f.path == "model_list"));
}

#[test]
fn model_names_are_distinct_in_order() {
    let cfg = load("model_list:\n  - {model_name: b, litellm_params: {model: bedrock/x.y}}\n  - {model_name: a, litellm_params: {model: bedrock/x.z}}\n  - {model_name: b, litellm_params: {model: bedrock/x.w, weight: 2}}\n").unwrap();
    assert_eq!(cfg.model_names(), vec!["b", "a"]);
    assert_eq!(cfg.model_list[2].params.weight, Some(2.0));
}

#[test]
fn timeouts_and_retries() {
    let cfg = load("model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y, timeout: 1.5, stream_timeout: 30, max_retries: 4}\n").unwrap();
    let p = &cfg.model_list[0].params;
    assert_eq!(p.timeout, Some(std::time::Duration::from_millis(1500)));
    assert_eq!(p.stream_timeout, Some(std::time::Duration::from_secs(30)));
    assert_eq!(p.num_retries, Some(4));
}

#[test]
fn check_mode_reports_unset_env_as_warning() {
    let cfg = Config::check_yaml_str(&fixture("litellm_doc_proxy.yaml"), &env(&[])).unwrap();
    let w: Vec<String> = cfg.findings.iter().map(|f| f.to_string()).collect();
    assert!(w.iter().any(|f| f == "warning: model_list[0].litellm_params.aws_secret_access_key: environment variable AWS_SECRET_ACCESS_KEY is not set: the gateway will refuse to start until it is"), "{w:?}");
    assert!(cfg.model_list[0].params.aws_secret_access_key.is_none());
}

#[test]
fn every_config_in_repo_config_dir_checks() {
    let dir = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
            Config::load_for_check(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 2, "config/ holds the example configs");
}
