//! Builds the response cache of the gateway state from the config (`litellm_settings.cache`,
//! issue #30): the local or Redis store, sharing the router's Redis connection when both name the
//! same server. The request-path side is `cache_hooks`.
//!
//! Must not: import the gateway state (the state imports this module) or anything of the
//! request path.

use shale_cache::{CacheBackend, ResponseCache};
use std::sync::Arc;

/// Starts the cache of `config`, if it is on. A `type: redis` cache shares the router's
/// connection when both use the same Redis (`router_redis` is the router's URL); one that names
/// no Redis at all is a start-up error, never a silent switch to memory.
pub async fn start(
    config: &shale_config::Config,
    router_redis: Option<&str>,
    router: &shale_router::Router,
) -> Result<Option<Arc<ResponseCache>>, String> {
    let Some(settings) = config.litellm_settings.cache.clone() else {
        return Ok(None);
    };
    let env = |name: &str| std::env::var(name).ok();
    let described = shale_cache::describe(&settings, &env);
    let cache = match &settings.backend {
        CacheBackend::Local { .. } => ResponseCache::local(settings),
        CacheBackend::Redis(target) => {
            let endpoint = shale_cache::resolve_redis(target, &env)
                .map_err(|why| shale_cache::CacheError::BadRedis(why).to_string())?
                .ok_or_else(|| shale_cache::CacheError::NoRedis.to_string())?;
            let conn = match router.redis_connection() {
                Some(conn) if router_redis == Some(endpoint.url.as_str()) => conn,
                _ => {
                    shale_router::state::gate::connect(&endpoint.url).map_err(|e| e.to_string())?
                }
            };
            ResponseCache::redis(settings, conn, &endpoint.shown)
        }
    };
    tracing::info!("response cache {described}");
    // Connect now (a bounded wait): an unreachable Redis is said at once, in one warning.
    cache.warm_up().await;
    Ok(Some(Arc::new(cache)))
}

/// The router's Redis URL, made the cache's when both name the same server: `cache_params` may
/// say more than the router reads from it (TLS, `ssl_cert_reqs`, a username, the database), and
/// the two then share one connection.
pub fn router_redis(config: &shale_config::Config, router: Option<String>) -> Option<String> {
    let cache = match config.litellm_settings.cache.as_ref().map(|c| &c.backend) {
        Some(CacheBackend::Redis(target)) => target,
        _ => return router,
    };
    let router_url = router?;
    let env = |name: &str| std::env::var(name).ok();
    let Ok(Some(endpoint)) = shale_cache::resolve_redis(cache, &env) else {
        return Some(router_url);
    };
    let server = |u: &str| {
        url::Url::parse(u)
            .ok()
            .map(|u| (u.host_str().map(str::to_owned), u.port_or_known_default()))
    };
    if server(&router_url).is_some() && server(&router_url) == server(&endpoint.url) {
        Some(endpoint.url)
    } else {
        Some(router_url)
    }
}
