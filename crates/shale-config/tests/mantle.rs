//! Deployments on Bedrock's OpenAI-compatible and Anthropic surfaces: the routes, the model table
//! as the config sees it, `litellm_params.api`, the project id, and what `shale check` reports
//! (a Region without Mantle is an error; ids Mantle refuses and unknown models are findings).

use shale_config::{Api, ApiSet, Config, Host, PlanSource, WireApi};

fn load(text: &str) -> Result<Config, shale_config::ConfigError> {
    Config::from_yaml_str(text, &|_| None)
}

fn one(params: &str) -> Result<Config, shale_config::ConfigError> {
    load(&format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n{params}"
    ))
}

#[test]
fn mantle_deployment_with_region_project_and_table_plan() {
    let cfg = one(
        "      model: bedrock_mantle/openai.gpt-oss-120b\n      aws_region_name: us-east-2\n      aws_bedrock_project_id: proj_abc123\n",
    )
    .unwrap();
    let m = &cfg.model_list[0];
    assert_eq!(m.route.api, Api::Surface);
    let plan = m.route.surface.unwrap();
    assert_eq!(plan.host, Host::Mantle);
    assert_eq!(plan.apis, ApiSet::of(&[WireApi::Chat, WireApi::Responses]));
    assert!(matches!(plan.source, PlanSource::Table(_)));
    assert_eq!(
        m.params.aws_bedrock_project_id.as_deref(),
        Some("proj_abc123")
    );
    // Neither key is sent to the model as a default parameter.
    assert!(m.params.default_request_params.is_empty());
    assert!(cfg.findings.is_empty(), "{:?}", cfg.findings);
}

#[test]
fn a_region_without_mantle_is_an_error_unless_an_endpoint_is_given() {
    let err = one("      model: bedrock_mantle/us-west-1/openai.gpt-oss-120b\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("us-west-1 has no bedrock-mantle endpoint"),
        "{err}"
    );
    assert!(err.contains("us-east-1"), "{err}");
    let err = one(
        "      model: bedrock_mantle/openai.gpt-oss-120b\n      aws_region_name: ca-central-1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ca-central-1"), "{err}");
    one("      model: bedrock_mantle/openai.gpt-oss-120b\n      aws_region_name: ca-central-1\n      api_base: https://vpce-1.bedrock-mantle.ca-central-1.vpce.amazonaws.com\n").unwrap();
}

#[test]
fn api_override_is_checked_and_shown() {
    let cfg =
        one("      model: bedrock_mantle/openai.gpt-oss-120b\n      api: responses\n").unwrap();
    let plan = cfg.model_list[0].route.surface.unwrap();
    assert_eq!(plan.apis, ApiSet::of(&[WireApi::Responses]));
    assert_eq!(plan.source, PlanSource::Override);
    assert_eq!(plan.path(WireApi::Responses), "/v1/responses");
    assert!(
        plan.describe().contains("responses /v1/responses"),
        "{}",
        plan.describe()
    );

    // bedrock/<id> with api: responses → bedrock-runtime /openai/v1.
    let cfg = one("      model: bedrock/openai.gpt-oss-20b-1:0\n      api: openai\n").unwrap();
    let plan = cfg.model_list[0].route.surface.unwrap();
    assert_eq!(plan.host, Host::Runtime);
    assert_eq!(plan.path(WireApi::Chat), "/openai/v1/chat/completions");

    // api: converse sends a runtime /openai/v1 model back to Converse.
    let cfg = one("      model: bedrock/us.openai.gpt-5.5\n      api: converse\n").unwrap();
    assert_eq!(cfg.model_list[0].route.api, Api::Converse);
    assert!(cfg.model_list[0].route.surface.is_none());

    for (params, needle) in [
        ("      model: bedrock_mantle/openai.gpt-oss-120b\n      api: converse\n", "bedrock-runtime API"),
        ("      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0\n      api: messages\n", "bedrock-mantle only"),
        ("      model: bedrock/converse/anthropic.claude-3-haiku-20240307-v1:0\n      api: invoke\n", "contradicts"),
        ("      model: bedrock_mantle/openai.gpt-oss-120b\n      api: grpc\n", "unknown API `grpc`"),
    ] {
        let err = one(params).unwrap_err().to_string();
        assert!(err.contains(needle), "{params}: {err}");
    }
}

#[test]
fn findings_for_ids_mantle_refuses_unknown_models_and_runtime_projects() {
    let cfg = load(
        "model_list:
  - model_name: a
    litellm_params: {model: bedrock_mantle/us.anthropic.claude-opus-4-8}
  - model_name: b
    litellm_params: {model: bedrock_mantle/openai.gpt-oss-120b-1:0}
  - model_name: c
    litellm_params: {model: bedrock_mantle/acme.brand-new}
  - model_name: d
    litellm_params: {model: bedrock/openai.gpt-5.5, aws_bedrock_project_id: proj_x}
  - model_name: e
    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_bedrock_project_id: proj_y}
",
    )
    .unwrap();
    let text: Vec<String> = cfg.findings.iter().map(ToString::to_string).collect();
    let has = |path: &str, needle: &str| {
        assert!(
            text.iter().any(|f| f.contains(path) && f.contains(needle)),
            "no finding {path} / {needle} in {text:#?}"
        )
    };
    has("model_list[0].litellm_params.model", "bare model ids");
    has("model_list[1].litellm_params.model", "version suffix");
    has(
        "model_list[2].litellm_params.model",
        "not in shale's model table",
    );
    has("model_list[2].litellm_params.model", "/v1/chat/completions");
    has(
        "model_list[3].litellm_params.aws_bedrock_project_id",
        "default project",
    );
    has("model_list[3].litellm_params.model", "inference profile");
    has(
        "model_list[4].litellm_params.aws_bedrock_project_id",
        "only bedrock-mantle",
    );
}

#[test]
fn litellm_spellings_of_claude_on_mantle() {
    let cfg = load(
        "model_list:
  - model_name: a
    litellm_params: {model: bedrock/mantle/anthropic.claude-opus-4-8, aws_region_name: us-east-1}
  - model_name: b
    litellm_params: {model: bedrock_mantle/us-east-1/anthropic.claude-opus-4-8}
",
    )
    .unwrap();
    for m in &cfg.model_list {
        let plan = m.route.surface.unwrap();
        assert_eq!(plan.preferred, WireApi::Messages, "{}", m.model_name);
        assert_eq!(m.route.model_id, "anthropic.claude-opus-4-8");
    }
}

/// docs/mantle.md prints the model table: it must be the one the code uses, row for row.
#[test]
fn the_documented_model_table_is_the_model_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/mantle.md"))
        .unwrap();
    let start = doc
        .find("<!-- model-table -->")
        .expect("table start marker");
    let end = doc.find("<!-- /model-table -->").expect("table end marker");
    let rows: Vec<Vec<String>> = doc[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('`', ""))
                .collect()
        })
        .collect();
    let table: Vec<Vec<String>> = shale_config::model_table()
        .into_iter()
        .map(|(prefix, family, mantle, runtime)| {
            vec![prefix.to_owned(), family.to_owned(), mantle, runtime]
        })
        .collect();
    assert_eq!(rows, table);
}
