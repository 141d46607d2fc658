//! The response cache's metrics, with LiteLLM's names: `litellm_cache_hits_metric`,
//! `litellm_cache_misses_metric`, `litellm_cached_tokens_metric` (labels: the model group and
//! the caller's key labels), and — for an answer served wholly from the cache, which reached no
//! deployment — `litellm_proxy_total_requests_metric` with status 200 (it is a request).
//!
//! Series are resolved once per (key, model) and kept; recording a hit then touches atomics only.
//! Must not: decide what is a hit (the server's cache hooks fill [`CacheOutcome`]).

use crate::labels::{self, DeploymentInfo, KeyLabels};
use crate::metrics::{Metrics, RouteCounters};
use crate::record::{CacheOutcome, RequestRecord};
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One (key, model) pair's counters.
pub(crate) struct CacheSeries {
    requests_ok: RouteCounters,
    hits: Counter,
    misses: Counter,
    cached_tokens: Counter,
}

/// Series by key labels, then model group.
#[derive(Default)]
pub(crate) struct CacheSeriesMap(RwLock<HashMap<KeyLabels, HashMap<String, Arc<CacheSeries>>>>);

impl Metrics {
    fn cache_series(&self, model: &str, key: &KeyLabels) -> Arc<CacheSeries> {
        let map = &self.cache.0;
        if let Some(s) = map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .and_then(|m| m.get(model))
        {
            return Arc::clone(s);
        }
        let f = &self.families;
        let l = labels::cache(model, key);
        let series = Arc::new(CacheSeries {
            requests_ok: RouteCounters::default(),
            hits: f.cache_hits.get_or_create_owned(&l),
            misses: f.cache_misses.get_or_create_owned(&l),
            cached_tokens: f.cached_tokens.get_or_create_owned(&l),
        });
        let mut w = map.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            w.entry(key.clone())
                .or_default()
                .entry(model.to_string())
                .or_insert(series),
        )
    }

    /// Counts what the cache did for a finished request.
    pub(crate) fn record_cache(&self, record: &RequestRecord, cache: &CacheOutcome) {
        if cache.hits == 0 && cache.misses == 0 {
            return;
        }
        let model = record.requested_model.as_deref().unwrap_or("");
        let key = record.key.as_ref().unwrap_or(&self.default_key);
        let s = self.cache_series(model, key);
        s.hits.inc_by(u64::from(cache.hits));
        s.misses.inc_by(u64::from(cache.misses));
        s.cached_tokens.inc_by(cache.cached_usage.total_tokens());
        if cache.hit && record.deployment.is_none() && (200..300).contains(&record.status) {
            let route = record.route.as_ref().unwrap_or(&self.no_route);
            s.requests_ok.inc(&self.families.proxy_total, route, || {
                let info = DeploymentInfo {
                    model_name: model.to_string(),
                    ..DeploymentInfo::default()
                };
                labels::proxy_total(&info, key, "200", route)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cost::TokenUsage;
    use crate::record::{CacheOutcome, RequestRecord};
    use crate::{KeyLabels, Switches, Telemetry};
    use std::time::Duration;

    #[test]
    fn hits_misses_and_cached_tokens_are_counted() {
        let t = Telemetry::new(
            Switches {
                prometheus: true,
                ..Switches::default()
            },
            Vec::new(),
            KeyLabels::default(),
        );
        let hit = RequestRecord {
            requested_model: Some("g".into()),
            status: 200,
            cache: Some(CacheOutcome {
                hits: 1,
                hit: true,
                cached_usage: TokenUsage::from_openai(10, 5, 0, 0),
                ..CacheOutcome::default()
            }),
            ..RequestRecord::default()
        };
        let miss = RequestRecord {
            cache: Some(CacheOutcome {
                misses: 1,
                ..CacheOutcome::default()
            }),
            ..hit.clone()
        };
        t.finish(&hit, Duration::from_millis(1));
        t.finish(&hit, Duration::from_millis(1));
        t.finish(&miss, Duration::from_millis(1));
        let text = t.metrics().unwrap().encode();
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l.contains("model=\"g\""))
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(line("litellm_cache_hits_metric_total"), "2");
        assert_eq!(line("litellm_cache_misses_metric_total"), "1");
        assert_eq!(line("litellm_cached_tokens_metric_total"), "30");
        let requests = text
            .lines()
            .find(|l| {
                l.starts_with("litellm_proxy_total_requests_metric_total")
                    && l.contains("requested_model=\"g\"")
            })
            .unwrap();
        assert!(requests.ends_with(" 2"), "{requests}");
    }
}
