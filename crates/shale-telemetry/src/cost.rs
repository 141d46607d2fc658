//! Cost per request: the Bedrock price table (`data/bedrock_prices.json`, with its source and
//! date), per-deployment overrides with LiteLLM's keys, and the pure [`cost`] function.
//!
//! Prices are resolved once per deployment at load ([`Prices::for_deployment`]); the request path
//! only multiplies four numbers. This module does no I/O (the table is compiled in) and knows
//! nothing of HTTP or of the config format beyond the LiteLLM key names.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The compiled-in price table.
const TABLE_JSON: &str = include_str!("../data/bedrock_prices.json");

/// Tokens of one request, split the way they are billed. `input` excludes cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Uncached input tokens.
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
}

impl TokenUsage {
    /// From OpenAI-style counts, where `prompt_tokens` includes cache reads and writes.
    pub fn from_openai(prompt: u64, completion: u64, cache_read: u64, cache_write: u64) -> Self {
        TokenUsage {
            input: prompt.saturating_sub(cache_read + cache_write),
            output: completion,
            cache_read,
            cache_write,
        }
    }

    /// All input tokens (uncached + cache read + cache write): LiteLLM's `prompt_tokens`.
    pub fn prompt_tokens(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }

    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens() + self.output
    }
}

/// USD per token for one deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

/// The price of `usage` at `prices`, in USD. Cache reads and writes fall back to the input price
/// when the model has no separate cache price (0 in the table means "not listed").
pub fn cost(usage: &TokenUsage, prices: &Prices) -> f64 {
    let cache_read = if prices.cache_read > 0.0 {
        prices.cache_read
    } else {
        prices.input
    };
    let cache_write = if prices.cache_write > 0.0 {
        prices.cache_write
    } else {
        prices.input
    };
    usage.input as f64 * prices.input
        + usage.output as f64 * prices.output
        + usage.cache_read as f64 * cache_read
        + usage.cache_write as f64 * cache_write
}

/// Which price tier an inference profile prefix selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The base model id, called in its own region.
    InRegion,
    /// `us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`, `us-gov.` profiles.
    Geo,
    /// `global.` profiles.
    Global,
}

impl Tier {
    /// From the cross-region prefix of a model id (`None`: in-region).
    pub fn from_prefix(prefix: Option<&str>) -> Tier {
        match prefix {
            None => Tier::InRegion,
            Some("global") => Tier::Global,
            Some(_) => Tier::Geo,
        }
    }
}

#[derive(Deserialize)]
struct Table {
    models: HashMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    default: PerMillion,
    #[serde(default)]
    geo: Option<PerMillion>,
    #[serde(default)]
    global: Option<PerMillion>,
}

#[derive(Deserialize, Clone, Copy)]
struct PerMillion {
    input: f64,
    output: f64,
    #[serde(default)]
    cache_read: f64,
    #[serde(default)]
    cache_write: f64,
}

impl PerMillion {
    fn per_token(self) -> Prices {
        Prices {
            input: self.input / 1e6,
            output: self.output / 1e6,
            cache_read: self.cache_read / 1e6,
            cache_write: self.cache_write / 1e6,
        }
    }
}

fn table() -> &'static HashMap<String, Entry> {
    static TABLE: OnceLock<HashMap<String, Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str::<Table>(TABLE_JSON)
            .expect("data/bedrock_prices.json is valid (checked by a unit test)")
            .models
    })
}

/// Table prices for a base model id (no cross-region prefix) in a tier. Tries the id as given,
/// then without a trailing `:N` version suffix (`…-v1:0` ↔ `…-v1`).
pub fn table_prices(base_model: &str, tier: Tier) -> Option<Prices> {
    let models = table();
    let entry = models
        .get(base_model)
        .or_else(|| match base_model.rsplit_once(':') {
            Some((stem, _)) => models.get(stem),
            None => models.get(&format!("{base_model}:0")),
        })?;
    let chosen = match tier {
        Tier::InRegion => entry.default,
        Tier::Geo => entry.geo.unwrap_or(entry.default),
        Tier::Global => entry.global.unwrap_or(entry.default),
    };
    Some(chosen.per_token())
}

/// LiteLLM's per-token price keys, as they appear in `model_info` or `litellm_params`.
pub const INPUT_KEY: &str = "input_cost_per_token";
pub const OUTPUT_KEY: &str = "output_cost_per_token";
pub const CACHE_READ_KEY: &str = "cache_read_input_token_cost";
pub const CACHE_WRITE_KEY: &str = "cache_creation_input_token_cost";

/// Every price key shale reads (for `shale check` and the config crate).
pub const PRICE_KEYS: [&str; 4] = [INPUT_KEY, OUTPUT_KEY, CACHE_READ_KEY, CACHE_WRITE_KEY];

impl Prices {
    /// A deployment's prices: the table's for `base_model` in `tier`, each overridden by the
    /// LiteLLM keys found in `litellm_params` (first) or `model_info`. `None` when the model is not
    /// in the table and no override names an input or output price.
    pub fn for_deployment(
        base_model: &str,
        tier: Tier,
        litellm_params: &Map<String, Value>,
        model_info: &Map<String, Value>,
    ) -> Option<Prices> {
        let key = |name: &str| {
            litellm_params
                .get(name)
                .or_else(|| model_info.get(name))
                .and_then(number)
        };
        let base = table_prices(base_model, tier);
        let overridden = [INPUT_KEY, OUTPUT_KEY].iter().any(|k| key(k).is_some());
        if base.is_none() && !overridden {
            return None;
        }
        let base = base.unwrap_or_default();
        Some(Prices {
            input: key(INPUT_KEY).unwrap_or(base.input),
            output: key(OUTPUT_KEY).unwrap_or(base.output),
            cache_read: key(CACHE_READ_KEY).unwrap_or(base.cache_read),
            cache_write: key(CACHE_WRITE_KEY).unwrap_or(base.cache_write),
        })
    }
}

impl Prices {
    /// A deployment's prices as the gateway resolves them at load: the model id is the route's
    /// base model (cross-region prefix removed) unless `model_info.base_model` names one (needed
    /// for ARNs of application inference profiles, as in LiteLLM); the tier comes from the
    /// cross-region prefix; LiteLLM price keys override.
    pub fn resolve(
        route_base_model: &str,
        cross_region_prefix: Option<&str>,
        price_params: &Map<String, Value>,
        model_info: &Map<String, Value>,
    ) -> Option<Prices> {
        let base_model = model_info
            .get("base_model")
            .and_then(Value::as_str)
            .map(|b| b.trim_start_matches("bedrock/"))
            .map(strip_cross_region)
            .unwrap_or(route_base_model);
        Prices::for_deployment(
            base_model,
            Tier::from_prefix(cross_region_prefix),
            price_params,
            model_info,
        )
    }
}

/// `us.anthropic…` → `anthropic…` (a `base_model` may be written with its profile prefix).
fn strip_cross_region(id: &str) -> &str {
    const PREFIXES: [&str; 8] = [
        "global.", "us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.",
    ];
    PREFIXES
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id)
}

/// A number, or a numeric string (YAML users write `"3e-06"`).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite() && *f >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_every_entry_is_sane() {
        let models = table();
        assert!(models.len() > 50);
        for (id, e) in models {
            for p in [Some(e.default), e.geo, e.global].into_iter().flatten() {
                assert!(p.input >= 0.0 && p.output >= 0.0, "{id}");
                assert!(p.input < 100.0 && p.output < 200.0, "{id}: per million");
            }
        }
    }

    #[test]
    fn version_suffix_is_optional() {
        assert!(table_prices("amazon.titan-text-express-v1:0:8k", Tier::InRegion).is_none());
        assert_eq!(
            table_prices("anthropic.claude-v2:1", Tier::InRegion),
            table_prices("anthropic.claude-v2:1", Tier::Geo)
        );
        assert!(table_prices("meta.llama3-8b-instruct-v1", Tier::InRegion).is_some());
        assert!(table_prices("nobody.model-v1:0", Tier::InRegion).is_none());
    }

    #[test]
    fn bedrock_mantle_ids_are_priced() {
        let p = table_prices("openai.gpt-oss-120b", Tier::InRegion).unwrap();
        assert_eq!((p.input * 1e6, p.output * 1e6), (0.15, 0.6));
        assert!(table_prices("openai.gpt-oss-safeguard-20b", Tier::InRegion).is_some());
    }

    #[test]
    fn tiers() {
        assert_eq!(Tier::from_prefix(None), Tier::InRegion);
        assert_eq!(Tier::from_prefix(Some("global")), Tier::Global);
        assert_eq!(Tier::from_prefix(Some("eu")), Tier::Geo);
    }
}
