//! [`Router::rebuild`]: a changed model table keeps the router state of the deployments that did
//! not change (cooldowns, last errors, in-flight counts — even when they moved in the list), drops
//! it for a deployment whose entry changed, and knows the added and removed ones.

mod common;

use common::*;
use shale_router::FailureClass;

async fn fail_until_cooling(router: &shale_router::Router, index: usize) {
    for _ in 0..10 {
        let _ = route(router, &req("m"), &[(index, FailureClass::InternalServer)]).await;
        if router.health().await[index].cooling_for_ms.is_some() {
            return;
        }
    }
    panic!("deployment {index} never cooled down");
}

#[tokio::test(start_paused = true)]
async fn unchanged_deployments_keep_their_state_changed_ones_start_afresh() {
    let settings = "router_settings: {allowed_fails: 0, cooldown_time: 60, num_retries: 0}\n";
    let before = config(
        &[("m", "", "id: a"), ("m", "", "id: b"), ("m", "", "id: c")],
        settings,
    );
    let clock = clock();
    let router = local_router(&before, &clock);
    fail_until_cooling(&router, 0).await;
    fail_until_cooling(&router, 1).await;

    // `a` is unchanged but moves to the end; `b` changes (a new rpm); `c` is removed; `d` is new.
    let after = config(
        &[
            ("m", ", rpm: 100", "id: b"),
            ("m", "", "id: d"),
            ("m", "", "id: a"),
        ],
        settings,
    );
    let next = router.rebuild(&before, &after);
    let health = next.health().await;
    let by_id = |id: &str| health.iter().find(|h| &*h.id == id).unwrap();
    assert!(by_id("a").cooling_for_ms.is_some(), "{health:?}");
    assert_eq!(
        by_id("a").last_error.as_ref().map(|e| e.class),
        Some("internal_server")
    );
    assert_eq!(by_id("a").index, 2);
    assert!(by_id("b").cooling_for_ms.is_none(), "changed: afresh");
    assert!(by_id("b").last_error.is_none());
    assert!(by_id("d").cooling_for_ms.is_none());
    assert_eq!(health.len(), 3);
    // Requests now go only where nothing is cooling.
    for _ in 0..20 {
        let routed = route(&next, &req("m"), &[]).await.expect("served");
        assert_ne!(&*routed.attempts.model_id.unwrap(), "a");
    }
}
