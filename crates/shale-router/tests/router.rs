//! The router with its in-process state and a hand-moved clock: retries around a dead deployment,
//! cooldowns and their end, rpm/tpm limits, fallbacks of each kind, strategies, affinity, aliases.

mod common;

use common::*;
use shale_router::{FailureClass, RouteError, RouteRequest};
use std::sync::Arc;

#[tokio::test(start_paused = true)]
async fn retries_route_around_a_dead_deployment() {
    let (router, _clock) = local(
        &[("m", "", "id: dead"), ("m", "", "id: live")],
        "router_settings: {disable_cooldowns: true}\n",
    );
    let calls = Calls::default();
    for _ in 0..50 {
        let routed = calls
            .route(&router, &req("m"), &[(0, FailureClass::InternalServer)])
            .await
            .expect("no request fails");
        assert_eq!(routed.value, 1);
        assert_eq!(&*routed.attempts.model_id.unwrap(), "live");
        assert!(routed.attempts.retries <= 1);
    }
    assert!(calls.to(0) > 5, "the dead one was tried");
}

#[tokio::test(start_paused = true)]
async fn cooldown_takes_a_deployment_out_and_lets_it_back() {
    let (router, clock) = local(
        &[("m", "", "id: flaky"), ("m", "", "id: ok")],
        "router_settings: {allowed_fails: 1, cooldown_time: 5}\n",
    );
    let calls = Calls::default();
    let run = |fail: bool| {
        let (router, calls) = (&router, &calls);
        let script: &'static [_] = if fail {
            &[(0, FailureClass::RateLimit)]
        } else {
            &[]
        };
        async move {
            calls
                .route(router, &req("m"), script)
                .await
                .expect("served")
        }
    };
    // Until the flaky one has failed twice (allowed_fails 1), it keeps being chosen sometimes.
    while calls.to(0) < 2 {
        run(true).await;
    }
    let health = router.health().await;
    assert!(health[0].cooling_for_ms.is_some(), "{health:?}");
    assert_eq!(health[0].last_error.as_ref().unwrap().class, "rate_limit");
    // Cooling: 40 requests, none reaches it.
    let before = calls.to(0);
    for _ in 0..40 {
        run(false).await;
    }
    assert_eq!(calls.to(0), before);
    // After cooldown_time it is back in rotation.
    clock.advance(5_001);
    for _ in 0..40 {
        run(false).await;
    }
    assert!(calls.to(0) > before);
    assert!(router.health().await[0].cooling_for_ms.is_none());
}

#[tokio::test(start_paused = true)]
async fn all_cooling_tries_the_least_recently_failed() {
    let (router, clock) = local(
        &[("m", "", "id: first"), ("m", "", "id: second")],
        "router_settings: {allowed_fails: 0, cooldown_time: 60, num_retries: 0}\n",
    );
    // Make "first" fail, then "second", one second later.
    for failing in [0usize, 1] {
        while router.health().await[failing].cooling_for_ms.is_none() {
            let script = [
                (failing, FailureClass::Timeout),
                (1 - failing, FailureClass::BadRequest),
            ];
            let _ = route(&router, &req("m"), &script).await;
        }
        clock.advance(1000);
    }
    let health = router.health().await;
    assert!(
        health.iter().all(|h| h.cooling_for_ms.is_some()),
        "{health:?}"
    );
    let routed = route(&router, &req("m"), &[]).await.expect("still served");
    assert_eq!(routed.value, 0, "the one that failed first");
}

#[tokio::test(start_paused = true)]
async fn callers_own_errors_are_not_retried_or_counted() {
    let (router, _clock) = local(
        &[("m", "", ""), ("m", "", "")],
        "router_settings: {allowed_fails: 0}\n",
    );
    let calls = Calls::default();
    let script = [(0, FailureClass::BadRequest), (1, FailureClass::BadRequest)];
    let err = calls.route(&router, &req("m"), &script).await.unwrap_err();
    assert!(matches!(err, RouteError::Failed { .. }));
    assert_eq!(calls.total(), 1);
    assert!(router
        .health()
        .await
        .iter()
        .all(|h| h.cooling_for_ms.is_none()));
}

#[tokio::test(start_paused = true)]
async fn rpm_limits_are_never_exceeded_and_429_when_all_full() {
    let (router, clock) = local(
        &[("m", ", rpm: 3", "id: a"), ("m", ", rpm: 2", "id: b")],
        "",
    );
    let mut per = [0usize; 2];
    for _ in 0..5 {
        let r = route(&router, &req("m"), &[]).await.expect("room left");
        per[r.value] += 1;
    }
    assert_eq!(per, [3, 2]);
    let calls = Calls::default();
    let err = calls.route(&router, &req("m"), &[]).await.unwrap_err();
    match err {
        RouteError::LimitReached { retry_after, .. } => {
            assert!(retry_after <= ms(60_000) && retry_after > ms(0))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.total(), 0, "nothing was sent");
    clock.advance(60_000);
    route(&router, &req("m"), &[])
        .await
        .expect("a new minute has room");
}

#[tokio::test(start_paused = true)]
async fn tpm_counts_reported_tokens_and_prechecks_the_estimate() {
    let (router, _clock) = local(&[("m", ", tpm: 100", "")], "");
    let ask = |est: u64, used: u64| {
        let router = &router;
        async move {
            router
                .run(
                    &RouteRequest {
                        model: "m",
                        est_tokens: est,
                        ..Default::default()
                    },
                    |_pick| async move {
                        Ok::<_, TestError>(shale_router::Answer::new(0usize, Some(used)))
                    },
                )
                .await
        }
    };
    // Reported 60 tokens (estimate 10): 40 left.
    ask(10, 60).await.expect("fits");
    ask(30, 30).await.expect("30 + 60 <= 100");
    assert!(matches!(
        ask(20, 20).await.unwrap_err(),
        RouteError::LimitReached { .. }
    ));
    ask(10, 10).await.expect("exactly 100");
}

#[tokio::test(start_paused = true)]
async fn fallbacks_of_each_kind_and_per_request() {
    let (router, _clock) = local(
        &[
            ("a", "", "id: a"),
            ("b", "", "id: b"),
            ("long", "", "id: long"),
            ("lenient", "", "id: lenient"),
            ("mine", "", "id: mine"),
        ],
        "router_settings:\n  num_retries: 0\n  fallbacks: [{a: [b]}]\n  context_window_fallbacks: [{a: [long]}]\n  content_policy_fallbacks: [{a: [lenient]}]\n",
    );
    let via = |class: FailureClass, own: Option<Vec<String>>, disable: bool| {
        let router = &router;
        async move {
            let request = RouteRequest {
                model: "a",
                fallbacks: own.as_deref(),
                disable_fallbacks: disable,
                ..Default::default()
            };
            route(router, &request, &[(0, class)]).await
        }
    };
    let r = via(FailureClass::InternalServer, None, false)
        .await
        .unwrap();
    assert_eq!(
        (&*r.attempts.group.unwrap(), r.attempts.fallbacks),
        ("b", 1)
    );
    let r = via(FailureClass::ContextWindow, None, false).await.unwrap();
    assert_eq!(&*r.attempts.group.unwrap(), "long");
    let r = via(FailureClass::ContentPolicy, None, false).await.unwrap();
    assert_eq!(&*r.attempts.group.unwrap(), "lenient");
    let r = via(FailureClass::RateLimit, Some(vec!["mine".into()]), false)
        .await
        .unwrap();
    assert_eq!(&*r.attempts.model_id.unwrap(), "mine");
    assert!(matches!(
        via(FailureClass::InternalServer, None, true)
            .await
            .unwrap_err(),
        RouteError::Failed { .. }
    ));
    assert!(matches!(
        via(FailureClass::BadRequest, None, false)
            .await
            .unwrap_err(),
        RouteError::Failed { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn least_busy_avoids_the_deployment_with_requests_in_flight() {
    let (router, _clock) = local(
        &[("m", "", "id: a"), ("m", "", "id: b")],
        "router_settings: {routing_strategy: least-busy}\n",
    );
    let router = Arc::new(router);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    // One request parks on whichever deployment it gets.
    let parked = {
        let router = Arc::clone(&router);
        let rx = Arc::clone(&rx);
        tokio::spawn(async move {
            router
                .run(&req("m"), move |pick| {
                    let rx = Arc::clone(&rx);
                    async move {
                        let rx = rx.lock().await.take().expect("one wait");
                        let _ = rx.await;
                        answer(&pick, &[]).await
                    }
                })
                .await
                .unwrap()
                .value
        })
    };
    tokio::time::sleep(ms(10)).await;
    let mut others = std::collections::HashSet::new();
    for _ in 0..10 {
        let r = route(&router, &req("m"), &[]).await.unwrap();
        others.insert(r.value);
    }
    tx.send(()).unwrap();
    let busy = parked.await.unwrap();
    assert_eq!(others.len(), 1);
    assert!(!others.contains(&busy), "never the busy one");
}

#[tokio::test(start_paused = true)]
async fn usage_based_prefers_the_least_used_this_minute() {
    let (router, _clock) = local(
        &[("m", ", tpm: 1000", "id: a"), ("m", ", tpm: 1000", "id: b")],
        "router_settings: {routing_strategy: usage-based-routing-v2}\n",
    );
    // Each answer reports 100 tokens: the router alternates to keep usage even.
    let mut per = [0usize; 2];
    for _ in 0..8 {
        let r = router
            .run(&req("m"), |pick| async move {
                Ok::<_, TestError>(shale_router::Answer::new(pick.index, Some(100)))
            })
            .await
            .unwrap();
        per[r.value] += 1;
    }
    assert_eq!(per, [4, 4]);
}

#[tokio::test(start_paused = true)]
async fn latency_based_prefers_the_faster_deployment() {
    let (router, _clock) = local(
        &[("m", "", "id: slow"), ("m", "", "id: fast")],
        "router_settings: {routing_strategy: latency-based-routing}\n",
    );
    let call = |pick: shale_router::Pick| async move {
        tokio::time::sleep(ms(if pick.index == 0 { 300 } else { 20 })).await;
        answer(&pick, &[]).await
    };
    // Both get measured first, then the fast one wins every time.
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(router.run(&req("m"), call).await.unwrap().value);
    }
    assert!(seen[..2].contains(&0) && seen[..2].contains(&1), "{seen:?}");
    assert!(seen[2..].iter().all(|&v| v == 1), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn prompt_cache_affinity_sticks_to_the_deployment_that_cached() {
    let (router, clock) = local(
        &[("m", "", "id: a"), ("m", "", "id: b"), ("m", "", "id: c")],
        "router_settings: {optional_pre_call_checks: [prompt_caching]}\n",
    );
    let with_key = |key: &'static str| {
        let router = &router;
        async move {
            let request = RouteRequest {
                model: "m",
                affinity_key: Some(key),
                ..Default::default()
            };
            route(router, &request, &[]).await.unwrap().value
        }
    };
    let first = with_key("prefix-1").await;
    for _ in 0..20 {
        assert_eq!(with_key("prefix-1").await, first);
    }
    // After 5 minutes the binding is gone (random again over 30 tries).
    clock.advance(5 * 60 * 1000 + 1);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..30 {
        seen.insert(with_key("prefix-2-").await);
        clock.advance(5 * 60 * 1000 + 1);
    }
    assert!(seen.len() > 1);
}

#[tokio::test(start_paused = true)]
async fn aliases_resolve_and_unknown_models_are_refused() {
    let (router, _clock) = local(
        &[("real", "", "id: r")],
        "router_settings: {model_group_alias: {nick: real}}\n",
    );
    let r = route(&router, &req("nick"), &[]).await.unwrap();
    assert_eq!(&*r.attempts.group.unwrap(), "real");
    assert!(matches!(
        route(&router, &req("nope"), &[]).await.unwrap_err(),
        RouteError::UnknownModel
    ));
}

#[tokio::test(start_paused = true)]
async fn auth_errors_are_retried_only_on_another_deployment() {
    let (router, _clock) = local(
        &[("m", "", "id: a"), ("m", "", "id: b")],
        "router_settings: {num_retries: 5}\n",
    );
    let calls = Calls::default();
    let script = [
        (0, FailureClass::Authentication),
        (1, FailureClass::Authentication),
    ];
    let err = calls.route(&router, &req("m"), &script).await.unwrap_err();
    assert!(matches!(err, RouteError::Failed { .. }));
    assert_eq!(calls.total(), 2, "each account once, no repeats");
}
