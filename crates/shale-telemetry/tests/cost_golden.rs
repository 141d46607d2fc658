//! Cost goldens per model family (Claude with cache reads and writes in each price tier, Nova,
//! Llama, Mistral, Titan and Cohere embeddings, DeepSeek, gpt-oss, Qwen, overrides, inference
//! profiles): each case is a deployment as written in a LiteLLM config, parsed with the config
//! crate, priced with the function the gateway uses at load, and costed as the gateway does.

use serde_json::{Map, Value};
use shale_config::Config;
use shale_telemetry::{cost, Prices, TokenUsage};

fn usage(v: &Value) -> TokenUsage {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    TokenUsage {
        input: n("input"),
        output: n("output"),
        cache_read: n("cache_read"),
        cache_write: n("cache_write"),
    }
}

#[test]
fn cost_goldens() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cost_cases.json"),
    )
    .expect("fixture");
    let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut entry = Map::new();
        entry.insert("model_name".into(), Value::String(name.into()));
        entry.insert("litellm_params".into(), case["litellm_params"].clone());
        if let Some(info) = case.get("model_info") {
            entry.insert("model_info".into(), info.clone());
        }
        let yaml = serde_json::to_string(&serde_json::json!({"model_list": [entry]})).unwrap();
        let config = Config::from_yaml_str(&yaml, &|_| None).expect(name);
        let e = &config.model_list[0];
        assert!(
            !e.params
                .default_request_params
                .keys()
                .any(|k| k.contains("cost")),
            "{name}: price keys must never become request parameters"
        );
        let prices = Prices::resolve(
            &e.route.base_model,
            e.route.cross_region_prefix.as_deref(),
            &e.params.price_overrides,
            &e.model_info,
        );
        let got = prices.map(|p| cost(&usage(&case["usage"]), &p));
        match case["usd"].as_f64() {
            None => assert_eq!(got, None, "{name}"),
            Some(want) => {
                let got = got.unwrap_or_else(|| panic!("{name}: no price"));
                assert!(
                    (got - want).abs() <= want.abs() * 1e-9,
                    "{name}: got {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn openai_usage_splits_cached_tokens_out_of_prompt_tokens() {
    let u = TokenUsage::from_openai(3300, 500, 2000, 300);
    assert_eq!(u.input, 1000);
    assert_eq!(u.prompt_tokens(), 3300);
    assert_eq!(u.total_tokens(), 3800);
}
