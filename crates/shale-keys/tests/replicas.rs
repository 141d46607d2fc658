//! Two `KeyService`s (two gateway replicas) on one PostgreSQL and one real `redis-server`: they
//! share rpm and parallel limits and spend, an admin write on one reaches the other's cache within
//! moments (pub/sub, not the TTL), and with Redis gone both keep serving on their own counters.

mod support;

use shale_keys::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

async fn replicas(pg: &PgServer, redis: &RedisServer) -> (Arc<KeyService>, Arc<KeyService>) {
    let mut cfg = config(pg);
    cfg.user_api_key_cache_ttl = Duration::from_secs(600);
    let a = KeyService::start(&cfg, Some(&redis.url())).await.unwrap();
    let b = KeyService::start(&cfg, Some(&redis.url())).await.unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_limits_and_spend() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = replicas(&pg, &redis).await;
    away_from_minute_edge().await;

    let k = a
        .generate_key(GenerateKeyRequest {
            rpm_limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    let pa = a.authenticate(&k.key).await.unwrap();
    let pb = b.authenticate(&k.key).await.unwrap();
    drop(a.admit(&pa, "m", 1).await.unwrap());
    drop(a.admit(&pa, "m", 1).await.unwrap());
    drop(b.admit(&pb, "m", 1).await.unwrap());
    assert!(matches!(
        b.admit(&pb, "m", 1).await,
        Err(KeyError::RateLimited {
            limit: LimitKind::Rpm,
            ..
        })
    ));
    assert!(a.admit(&pa, "m", 1).await.is_err(), "replica a sees it too");

    // Parallel slots are shared and given back.
    let k = a
        .generate_key(GenerateKeyRequest {
            max_parallel_requests: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let pa = a.authenticate(&k.key).await.unwrap();
    let pb = b.authenticate(&k.key).await.unwrap();
    let held = a.admit(&pa, "m", 1).await.unwrap();
    assert!(matches!(
        b.admit(&pb, "m", 1).await,
        Err(KeyError::RateLimited {
            limit: LimitKind::Parallel,
            ..
        })
    ));
    a.settle(held, spend_event("held", 0.0, 1, 1));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match b.admit(&pb, "m", 1).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "slot not released: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Spend settled on a counts against the budget on b at once (before any Postgres write).
    let k = a
        .generate_key(GenerateKeyRequest {
            max_budget: Some(1.0),
            ..Default::default()
        })
        .await
        .unwrap();
    let pa = a.authenticate(&k.key).await.unwrap();
    let pb = b.authenticate(&k.key).await.unwrap();
    assert!(b.admit(&pb, "m", 1).await.is_ok(), "b has seen the key");
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("big", 1.5, 1, 1));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match b.admit(&pb, "m", 1).await {
            Err(KeyError::BudgetExceeded { spend, .. }) => {
                assert!((spend - 1.5).abs() < 1e-9, "{spend}");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "b did not see a's spend: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Written once, by the replica that settled it.
    a.flush().await;
    b.flush().await;
    let info = b.key_info(&k.key).await.unwrap().info;
    assert!((info.spend - 1.5).abs() < 1e-9, "{}", info.spend);
}

type Outcome = Result<Arc<Principal>, KeyError>;

/// Polls `replica` until `check` holds for the key (at most 2 s); returns how long it took.
async fn wait_for(
    replica: &KeyService,
    key: &str,
    what: &str,
    check: fn(&Outcome) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = replica.authenticate(key).await;
        if check(&r) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{what} did not reach the other replica: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_reaches_the_other_replica_quickly() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = replicas(&pg, &redis).await;
    let k = a.generate_key(GenerateKeyRequest::default()).await.unwrap();
    b.authenticate(&k.key).await.unwrap();

    a.set_blocked(&k.key, true).await.unwrap();
    let took = wait_for(&b, &k.key, "block", |r| matches!(r, Err(KeyError::Blocked))).await;
    eprintln!("block reached replica b in {took:?}");
    a.set_blocked(&k.key, false).await.unwrap();
    wait_for(&b, &k.key, "unblock", |r| r.is_ok()).await;
    a.delete_keys(DeleteKeysRequest {
        keys: Some(vec![k.key.clone()]),
        key_aliases: None,
    })
    .await
    .unwrap();
    let took = wait_for(&b, &k.key, "delete", |r| {
        matches!(r, Err(KeyError::InvalidKey))
    })
    .await;
    eprintln!("delete reached replica b in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_each_replica_keeps_serving() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, _b) = replicas(&pg, &redis).await;
    away_from_minute_edge().await;
    let k = a
        .generate_key(GenerateKeyRequest {
            rpm_limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let p = a.authenticate(&k.key).await.unwrap();
    drop(redis);
    // Local counters take over: the limit still holds on this replica, nothing fails.
    drop(a.admit(&p, "m", 1).await.unwrap());
    drop(a.admit(&p, "m", 1).await.unwrap());
    assert!(matches!(
        a.admit(&p, "m", 1).await,
        Err(KeyError::RateLimited { .. })
    ));
    assert!(a.redis_fallbacks().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start_does_not_hold_start_up() {
    let Some(pg) = PgServer::start() else { return };
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let svc = KeyService::start(&config(&pg), Some(&format!("redis://127.0.0.1:{closed}/")))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "start-up waited {:?} for Redis",
        started.elapsed()
    );
    let k = svc
        .generate_key(GenerateKeyRequest {
            max_parallel_requests: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let p = svc.authenticate(&k.key).await.unwrap();
    let held = svc.admit(&p, "m", 1).await.unwrap();
    assert!(svc.admit(&p, "m", 1).await.is_err(), "local limits apply");
    drop(held);
    assert!(svc.admit(&p, "m", 1).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_budget_resets_on_schedule() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = replicas(&pg, &redis).await;
    let k = a
        .generate_key(GenerateKeyRequest {
            max_budget: Some(1.0),
            budget_duration: Some("5s".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let pa = a.authenticate(&k.key).await.unwrap();
    let pb = b.authenticate(&k.key).await.unwrap();
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("over", 2.0, 1, 1));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !matches!(
        b.admit(&pb, "m", 1).await,
        Err(KeyError::BudgetExceeded { .. })
    ) {
        assert!(Instant::now() < deadline, "b never saw the spend");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next period starts from zero on both replicas.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert!(b.admit(&pb, "m", 1).await.is_ok());
    assert!(a.admit(&pa, "m", 1).await.is_ok());
    a.flush().await;
    b.flush().await;
    let info = a.key_info(&k.key).await.unwrap().info;
    assert_eq!(info.spend, 0.0);
}
