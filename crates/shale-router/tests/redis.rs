//! The Redis state against a real `redis-server` started on a free port: two routers (two
//! replicas) share one rpm limit and one cooldown; when Redis dies both keep serving from local
//! state and report it; when it comes back they share again. Skipped, with the reason printed,
//! only when `redis-server` is not installed (a failure under `CI=true`, where it is installed).

mod common;

use common::*;
use shale_router::{FailureClass, RedisState, RouteError, Router, SharedState};
use shale_testkit::RedisServer;
use std::sync::Arc;
use std::time::Duration;

fn replica(
    cfg: &shale_config::Config,
    clock: &Arc<shale_router::ManualClock>,
    url: &str,
    prefix: &str,
) -> Router {
    let state = RedisState::new(url, prefix).expect("redis url");
    Router::new(
        cfg,
        SharedState::Redis(Box::new(state)),
        Arc::clone(clock) as Arc<dyn shale_router::Clock>,
    )
}

/// Two routers sharing one Redis under a key prefix of this test's own.
fn two_replicas(
    cfg: &shale_config::Config,
    clock: &Arc<shale_router::ManualClock>,
    redis: &RedisServer,
    name: &str,
) -> (Router, Router) {
    let p = prefix(name);
    let url = redis.url();
    (replica(cfg, clock, &url, &p), replica(cfg, clock, &url, &p))
}

fn prefix(name: &str) -> String {
    format!("shale-test-{}-{name}", std::process::id())
}

async fn ok(router: &Router) -> Result<usize, String> {
    route(router, &req("m"), &[])
        .await
        .map(|r| r.value)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn two_replicas_share_one_rpm_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let cfg = config(
        &[("m", ", rpm: 4", "id: a"), ("m", ", rpm: 3", "id: b")],
        "",
    );
    let clock = clock();
    let (one, two) = two_replicas(&cfg, &clock, &redis, "rpm");
    let mut served = 0;
    let mut refused = 0;
    for i in 0..20 {
        let r = if i % 2 == 0 { &one } else { &two };
        match route(r, &req("m"), &[]).await {
            Ok(_) => served += 1,
            Err(RouteError::LimitReached { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((served, refused), (7, 13), "one global limit of 4 + 3");
    assert!(one.redis_status().unwrap().healthy);
}

#[tokio::test]
async fn cooldowns_are_shared() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let cfg = config(
        &[("m", "", "id: a"), ("m", "", "id: b")],
        "router_settings: {allowed_fails: 0, cooldown_time: 30, num_retries: 0}\n",
    );
    let clock = clock();
    let (one, two) = two_replicas(&cfg, &clock, &redis, "cd");
    while one.health().await[0].cooling_for_ms.is_none() {
        let _ = route(&one, &req("m"), &[(0, FailureClass::InternalServer)]).await;
    }
    let seen_by_two = two.health().await;
    assert!(
        seen_by_two[0].cooling_for_ms.unwrap() > 25_000,
        "{seen_by_two:?}"
    );
    for _ in 0..20 {
        assert_eq!(
            ok(&two).await.unwrap(),
            1,
            "the other replica avoids it too"
        );
    }
}

#[tokio::test]
async fn redis_down_keeps_serving_and_reconnects() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let port = redis.port();
    let cfg = config(&[("m", ", rpm: 1000", "id: a")], "");
    let clock = clock();
    let (one, two) = two_replicas(&cfg, &clock, &redis, "down");
    ok(&one).await.unwrap();
    ok(&two).await.unwrap();
    redis.kill();
    for _ in 0..10 {
        ok(&one).await.expect("serves without Redis");
        ok(&two).await.expect("serves without Redis");
    }
    let status = one.redis_status().unwrap();
    assert!(!status.healthy);
    assert!(status.local_fallbacks > 0);
    assert_eq!(status.outages, 1, "one outage, however many calls failed");
    // Redis is back on the same port: after the retry pause both share state again, and a
    // probe alone (no traffic, as on a metrics scrape) sees it.
    let _redis = RedisServer::start_on(port).expect("restart");
    let mut healthy = false;
    for _ in 0..50 {
        clock.advance(1_100);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if two.probe_redis().await.unwrap().healthy {
            healthy = true;
            break;
        }
    }
    assert!(healthy, "a probe sees Redis back");
    healthy = false;
    for _ in 0..50 {
        clock.advance(1_100);
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok(&one).await.unwrap();
        if one.redis_status().unwrap().healthy {
            healthy = true;
            break;
        }
    }
    assert!(healthy, "reconnected by itself");
    assert_eq!(one.redis_status().unwrap().outages, 1);
}
