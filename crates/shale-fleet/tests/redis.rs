//! The fleet's Redis parts against a real `redis-server` on a free port: two replicas' leases
//! never both win a deployment's slot (and always one does), results published by one are read
//! by the other, and the Redis Responses store keeps records key-scoped and within its bounds.
//! Without `redis-server` the tests fail under `CI=true` and are skipped (with the reason printed)
//! elsewhere.

use serde_json::json;
use shale_config::{ResponsesBackend, ResponsesStoreSettings};
use shale_fleet::health::{Coordination, ProbeResult};
use shale_fleet::responses::{self, Owner, StoredResponse};
use shale_testkit::RedisServer;
use std::sync::Arc;
use std::time::Duration;

fn result(id: &str, healthy: bool, by: &str) -> ProbeResult {
    ProbeResult {
        model_id: id.into(),
        model_name: "m".into(),
        model: "bedrock/x".into(),
        api_base: "http://e".into(),
        probe: "chat".into(),
        healthy,
        error: None,
        exception_status: None,
        checked_at_ms: shale_fleet::now_ms(),
        latency_ms: 3,
        checked_by: by.into(),
        cooled_down: false,
    }
}

#[tokio::test]
async fn one_replica_wins_each_deployment_slot_and_both_read_the_results() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        Coordination::redis(&redis.url()).unwrap(),
        Coordination::redis(&redis.url()).unwrap(),
    );
    let ids = ["d1", "d2", "d3"];
    let interval = Duration::from_secs(30);
    for slot in [100u64, 101, 102] {
        let (won_a, won_b) = tokio::join!(
            a.claim(&ids, slot, interval, "a"),
            b.claim(&ids, slot, interval, "b")
        );
        for i in 0..ids.len() {
            assert!(
                won_a[i] != won_b[i],
                "slot {slot}, {}: {won_a:?} {won_b:?}",
                ids[i]
            );
        }
        // Claiming the same slot again wins nothing: the lease is held.
        assert_eq!(a.claim(&ids, slot, interval, "a").await, [false; 3]);
    }
    a.publish(
        &[result("d1", false, "a"), result("d2", true, "a")],
        interval,
    )
    .await;
    let seen = b.fetch(&["d1", "d2", "d3"]).await.unwrap();
    assert!(!seen[0].as_ref().unwrap().healthy);
    assert_eq!(seen[1].as_ref().unwrap().checked_by, "a");
    assert!(seen[2].is_none());
    assert_eq!(b.redis_up(), Some(true));
}

#[tokio::test]
async fn without_redis_every_lease_is_won() {
    let local = Coordination::Local;
    assert_eq!(
        local
            .claim(&["x", "y"], 1, Duration::from_secs(1), "r")
            .await,
        [true, true]
    );
    let down = Coordination::redis("redis://127.0.0.1:1/").unwrap();
    assert_eq!(
        down.claim(&["x"], 1, Duration::from_secs(1), "r").await,
        [true],
        "Redis down: probe rather than skip"
    );
    assert!(down.fetch(&["x"]).await.is_none());
}

fn record(owner: Owner, id: &str) -> StoredResponse {
    StoredResponse {
        owner,
        response: json!({"id": id, "object": "response", "output": []}),
        input_items: vec![json!({"id": format!("msg_{id}"), "type": "message"})],
        conversation: Arc::new(vec![json!({"role": "user", "content": id})]),
    }
}

#[tokio::test]
async fn the_redis_store_is_key_scoped_and_bounded() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let settings = ResponsesStoreSettings {
        backend: ResponsesBackend::Redis,
        max_responses: 3,
        ..ResponsesStoreSettings::default()
    };
    let a = responses::open(&settings, None, Some(&redis.url())).unwrap();
    let b = responses::open(&settings, None, Some(&redis.url())).unwrap();
    assert_eq!(a.backend(), "redis");
    let (me, other) = (
        Owner::of_key(Some("sk-me")),
        Owner::of_key(Some("sk-other")),
    );
    for i in 1..=5 {
        a.put(record(me, &format!("resp_{i}")));
        // Distinct creation times, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert!(a.flush(Duration::from_secs(5)).await);
    for i in 3..=5 {
        let got = b.get(me, &format!("resp_{i}")).await.unwrap().unwrap();
        assert_eq!(*got, record(me, &format!("resp_{i}")));
        assert!(b.get(other, &format!("resp_{i}")).await.unwrap().is_none());
    }
    for i in 1..=2 {
        assert!(
            b.get(me, &format!("resp_{i}")).await.unwrap().is_none(),
            "the oldest beyond max_responses are gone"
        );
        assert!(
            a.get(me, &format!("resp_{i}")).await.unwrap().is_none(),
            "the writer's cache does not bring them back"
        );
    }
    assert!(!b.delete(other, "resp_5").await.unwrap());
    assert!(b.delete(me, "resp_5").await.unwrap());
    assert!(a.get(me, "resp_5").await.unwrap().is_none());
}
