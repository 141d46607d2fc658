//! Two `KeyService`s (two gateway replicas) on one PostgreSQL and one real `redis-server`: they
//! share rpm and parallel limits and spend, an admin write on one reaches the other's cache within
//! moments (pub/sub, not the TTL), with Redis gone both keep serving on their own counters, and
//! the spend they settled meanwhile reaches the shared counters exactly once when it is back.

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

    let (k, pa) = issue(
        &a,
        GenerateKeyRequest {
            rpm_limit: Some(3),
            ..Default::default()
        },
    )
    .await;
    let pb = b.authenticate(&k.key).await.unwrap();
    drop(a.admit(&pa, "m", 1).await.unwrap());
    drop(a.admit(&pa, "m", 1).await.unwrap());
    drop(b.admit(&pb, "m", 1).await.unwrap());
    assert_rate_limited(b.admit(&pb, "m", 1).await, LimitKind::Rpm);
    assert!(a.admit(&pa, "m", 1).await.is_err(), "replica a sees it too");

    // Parallel slots are shared and given back.
    let (k, pa) = issue(
        &a,
        GenerateKeyRequest {
            max_parallel_requests: Some(1),
            ..Default::default()
        },
    )
    .await;
    let pb = b.authenticate(&k.key).await.unwrap();
    let held = a.admit(&pa, "m", 1).await.unwrap();
    assert_rate_limited(b.admit(&pb, "m", 1).await, LimitKind::Parallel);
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
    let (k, pa) = issue(
        &a,
        GenerateKeyRequest {
            max_budget: Some(1.0),
            ..Default::default()
        },
    )
    .await;
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
    let (_, p) = issue(
        &a,
        GenerateKeyRequest {
            rpm_limit: Some(2),
            ..Default::default()
        },
    )
    .await;
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
    let (_, p) = issue(
        &svc,
        GenerateKeyRequest {
            max_parallel_requests: Some(1),
            ..Default::default()
        },
    )
    .await;
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
    let (k, pa) = issue(
        &a,
        GenerateKeyRequest {
            max_budget: Some(1.0),
            budget_duration: Some("5s".into()),
            ..Default::default()
        },
    )
    .await;
    let pb = b.authenticate(&k.key).await.unwrap();
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("over", 2.0, 1, 1));
    until_over_budget(&b, &pb).await;
    // The next period starts from zero on both replicas.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert!(b.admit(&pb, "m", 1).await.is_ok());
    assert!(a.admit(&pa, "m", 1).await.is_ok());
    a.flush().await;
    b.flush().await;
    let info = a.key_info(&k.key).await.unwrap().info;
    assert_eq!(info.spend, 0.0);
}

/// Admits on `replica` until the key's budget refuses it (at most 3 s): spend settled on another
/// replica has reached it.
async fn until_over_budget(replica: &KeyService, p: &Arc<Principal>) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !matches!(
        replica.admit(p, "m", 1).await,
        Err(KeyError::BudgetExceeded { .. })
    ) {
        assert!(
            Instant::now() < deadline,
            "the other replica's spend never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new key (on replica `svc`) with `max_budget`: its clear value.
async fn key_with_budget(svc: &KeyService, max_budget: f64) -> String {
    svc.generate_key(GenerateKeyRequest {
        max_budget: Some(max_budget),
        ..Default::default()
    })
    .await
    .unwrap()
    .key
}

/// Waits (at most 10 s) until the replicas have shared all the spend they settled.
async fn all_shared(replicas: &[&KeyService]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while replicas.iter().any(|r| r.unshared_spend() != Some(0.0)) {
        let left: Vec<_> = replicas.iter().map(|r| r.unshared_spend()).collect();
        assert!(Instant::now() < deadline, "still unshared: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shared spend counter of a key without budget period, read from Redis.
async fn shared_spend(redis: &RedisServer, key: &str) -> Option<f64> {
    let mut conn = redis_client(redis).await;
    let name = format!("shale:keys:spend:key:{}:-", hash_key(key));
    redis::cmd("GET")
        .arg(&name)
        .query_async::<Option<String>>(&mut conn)
        .await
        .unwrap()
        .map(|v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_settled_while_redis_is_down_reaches_it_once_when_it_is_back() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = replicas(&pg, &redis).await;
    let key = key_with_budget(&a, 10.0).await;
    let pa = a.authenticate(&key).await.unwrap();
    let pb = b.authenticate(&key).await.unwrap();
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("before", 1.0, 1, 1));
    all_shared(&[&a]).await;
    assert_eq!(shared_spend(&redis, &key).await, Some(1.0));

    // Redis freezes: both replicas keep serving on their own and keep what they settled.
    redis.pause();
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("during-a", 2.0, 1, 1));
    let adm = b.admit(&pb, "m", 1).await.unwrap();
    b.settle(adm, spend_event("during-b", 3.0, 1, 1));
    // Long enough for the sharers to send their batch into the frozen server (after the 1 s in
    // which a replica does not ask Redis again) and give up waiting for the answer.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(a.unshared_spend(), Some(2.0));
    assert_eq!(b.unshared_spend(), Some(3.0));

    // Back: each replica's batch is added once — even the attempt that Redis received while
    // frozen and ran on waking (its answer was lost, the same batch is sent again and skipped).
    redis.resume();
    all_shared(&[&a, &b]).await;
    assert_eq!(shared_spend(&redis, &key).await, Some(6.0));
    // Postgres got the same figure, by its own path.
    a.flush().await;
    b.flush().await;
    let info = a.key_info(&key).await.unwrap().info;
    assert!((info.spend - 6.0).abs() < 1e-9, "{}", info.spend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_first_used_while_redis_is_down_is_seeded_with_what_it_spent_before() {
    let Some(pg) = PgServer::start() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = replicas(&pg, &redis).await;
    let key = key_with_budget(&a, 1.0).await;
    // 0.5 already spent (in Postgres), none of it ever in Redis.
    a.update_key(UpdateKeyRequest {
        key: key.clone(),
        spend: Some(0.5),
        ..Default::default()
    })
    .await
    .unwrap();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut redis_client(&redis).await)
        .await
        .unwrap();
    redis.pause();
    let pa = a.authenticate(&key).await.unwrap();
    let adm = a.admit(&pa, "m", 1).await.unwrap();
    a.settle(adm, spend_event("during", 0.3, 1, 1));
    redis.resume();
    all_shared(&[&a]).await;
    let shared = shared_spend(&redis, &key).await.unwrap();
    assert!(
        (shared - 0.8).abs() < 1e-9,
        "seeded with 0.5, then 0.3 added: {shared}"
    );
    // The other replica sees 0.8 of 1.0: one more 0.3 request crosses the budget.
    let pb = b.authenticate(&key).await.unwrap();
    let adm = b.admit(&pb, "m", 1).await.unwrap();
    b.settle(adm, spend_event("after", 0.3, 1, 1));
    until_over_budget(&a, &pa).await;
}
