//! The hot path against a real PostgreSQL: model scope (key ∩ team), expiry, budgets (key and
//! team) and their reset on schedule, rpm/tpm/parallel limits (the tighter of key and team),
//! persistence across a restart, and Postgres stopping mid-run (cached keys keep working, spend is
//! buffered and written once it is back).

mod support;

use shale_keys::*;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn model_scope_and_expiry() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    svc.new_team(NewTeamRequest {
        team_id: Some("t".into()),
        models: Some(vec!["a".into(), "b".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let (k, p) = issue(
        &svc,
        GenerateKeyRequest {
            models: Some(vec!["b".into(), "c".into()]),
            team_id: Some("t".into()),
            duration: Some("4s".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(svc.admit(&p, "b", 1).await.is_ok());
    for outside in ["a", "c", "d"] {
        match svc.admit(&p, outside, 1).await {
            Err(KeyError::ModelNotAllowed { model }) => assert_eq!(model, outside),
            other => panic!("{outside}: {other:?}"),
        }
    }
    let (_, pa) = issue(
        &svc,
        GenerateKeyRequest {
            models: Some(vec![ALL_PROXY_MODELS.into()]),
            ..Default::default()
        },
    )
    .await;
    assert!(svc.admit(&pa, "anything", 1).await.is_ok());

    // Expiry (at most 4 s after creation) applies even to a cached principal.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert!(matches!(
        svc.authenticate(&k.key).await,
        Err(KeyError::Expired)
    ));
    assert!(matches!(
        svc.authenticate("sk-never-issued").await,
        Err(KeyError::InvalidKey)
    ));
}

#[tokio::test]
async fn key_and_team_budgets_and_reset() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let (k, p) = issue(
        &svc,
        GenerateKeyRequest {
            max_budget: Some(1.0),
            budget_duration: Some("5s".into()),
            ..Default::default()
        },
    )
    .await;
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, spend_event("r1", 0.6, 1, 1));
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, spend_event("r2", 0.6, 1, 1));
    match svc.admit(&p, "m", 1).await {
        Err(KeyError::BudgetExceeded {
            scope: Scope::Key,
            spend,
            max_budget,
        }) => {
            assert!((spend - 1.2).abs() < 1e-9 && max_budget == 1.0);
        }
        other => panic!("{other:?}"),
    }
    svc.flush().await;
    let before = svc.key_info(&k.key).await.unwrap().info;
    assert!((before.spend - 1.2).abs() < 1e-9);
    let reset_at = before.budget_reset_at.expect("a reset time");

    // After the period the budget is fresh, and the reset is persisted by the writer.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let p = svc.authenticate(&k.key).await.unwrap();
    let adm = svc.admit(&p, "m", 1).await.expect("budget was reset");
    svc.settle(adm, spend_event("r3", 0.1, 1, 1));
    svc.flush().await;
    let after = svc.key_info(&k.key).await.unwrap().info;
    assert!((after.spend - 0.1).abs() < 1e-9, "{}", after.spend);
    assert!(after.budget_reset_at.unwrap() > reset_at);

    // Team budget binds every key of the team.
    svc.new_team(NewTeamRequest {
        team_id: Some("t".into()),
        max_budget: Some(0.5),
        ..Default::default()
    })
    .await
    .unwrap();
    let gen = || GenerateKeyRequest {
        team_id: Some("t".into()),
        max_budget: Some(100.0),
        ..Default::default()
    };
    let k1 = svc.generate_key(gen()).await.unwrap();
    let k2 = svc.generate_key(gen()).await.unwrap();
    let p1 = svc.authenticate(&k1.key).await.unwrap();
    let p2 = svc.authenticate(&k2.key).await.unwrap();
    let adm = svc.admit(&p1, "m", 1).await.unwrap();
    svc.settle(adm, spend_event("t1", 0.7, 1, 1));
    assert!(matches!(
        svc.admit(&p2, "m", 1).await,
        Err(KeyError::BudgetExceeded {
            scope: Scope::Team,
            ..
        })
    ));

    // An admin can reset spend by hand.
    svc.update_team(UpdateTeamRequest {
        team_id: "t".into(),
        spend: Some(0.0),
        ..Default::default()
    })
    .await
    .unwrap();
    let p2 = svc.authenticate(&k2.key).await.unwrap();
    assert!(svc.admit(&p2, "m", 1).await.is_ok());
}

#[tokio::test]
async fn rpm_tpm_and_parallel_limits_tighter_wins() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    away_from_minute_edge().await;

    // rpm: the team's 2 is tighter than the key's 5.
    svc.new_team(NewTeamRequest {
        team_id: Some("t".into()),
        rpm_limit: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, p) = issue(
        &svc,
        GenerateKeyRequest {
            team_id: Some("t".into()),
            rpm_limit: Some(5),
            ..Default::default()
        },
    )
    .await;
    drop(svc.admit(&p, "m", 1).await.unwrap());
    drop(svc.admit(&p, "m", 1).await.unwrap());
    let (scope, retry_after_secs) =
        assert_rate_limited(svc.admit(&p, "m", 1).await, LimitKind::Rpm);
    assert_eq!(scope, Scope::Team);
    assert!((1..=60).contains(&retry_after_secs));

    // tpm: the estimate is reserved, the real count replaces it at settle.
    let (_, p) = issue(
        &svc,
        GenerateKeyRequest {
            tpm_limit: Some(100),
            ..Default::default()
        },
    )
    .await;
    let adm = svc.admit(&p, "m", 10).await.unwrap();
    svc.settle(adm, spend_event("t", 0.0, 120, 30));
    let (scope, _) = assert_rate_limited(svc.admit(&p, "m", 1).await, LimitKind::Tpm);
    assert_eq!(scope, Scope::Key);

    // parallel: the slot is held until the admission is settled or dropped.
    let (_, p) = issue(
        &svc,
        GenerateKeyRequest {
            max_parallel_requests: Some(1),
            ..Default::default()
        },
    )
    .await;
    let first = svc.admit(&p, "m", 1).await.unwrap();
    let (_, retry_after_secs) =
        assert_rate_limited(svc.admit(&p, "m", 1).await, LimitKind::Parallel);
    assert_eq!(retry_after_secs, 1);
    svc.settle(first, spend_event("p1", 0.0, 1, 1));
    let second = svc.admit(&p, "m", 1).await.unwrap();
    drop(second);
    assert!(svc.admit(&p, "m", 1).await.is_ok());
}

#[tokio::test]
async fn keys_and_spend_survive_a_restart() {
    let Some(pg) = PgServer::start() else { return };
    let key = {
        let svc = service(&pg).await;
        let (k, p) = issue(
            &svc,
            GenerateKeyRequest {
                key_alias: Some("persist".into()),
                max_budget: Some(1.0),
                ..Default::default()
            },
        )
        .await;
        let adm = svc.admit(&p, "m", 1).await.unwrap();
        svc.settle(adm, spend_event("before-restart", 0.4, 3, 4));
        svc.flush().await;
        k.key
    };
    let svc = service(&pg).await;
    let p = svc.authenticate(&key).await.unwrap();
    assert_eq!(p.key_alias.as_deref(), Some("persist"));
    assert!((svc.key_info(&key).await.unwrap().info.spend - 0.4).abs() < 1e-9);
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, spend_event("after-restart", 0.7, 1, 1));
    // The restarted service counts the spend from before: 1.1 >= 1.0.
    assert!(matches!(
        svc.admit(&p, "m", 1).await,
        Err(KeyError::BudgetExceeded { .. })
    ));
    let logs = svc
        .spend_logs(SpendLogsQuery {
            api_key: Some(key),
            ..Default::default()
        })
        .await
        .unwrap();
    // Newest first: the row from before the restart is still there.
    let ids: Vec<&str> = logs.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["after-restart", "before-restart"]);
}

#[tokio::test]
async fn postgres_down_mid_run() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let (k, p) = issue(&svc, GenerateKeyRequest::default()).await;
    assert!(svc.database_up());

    pg.stop();
    // Past the cache TTL: the stale entry serves while Postgres cannot answer.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let p2 = svc
        .authenticate(&k.key)
        .await
        .expect("cached key keeps working");
    assert_eq!(p2.key_hash, p.key_hash);
    assert!(
        !svc.database_up(),
        "the failed refresh marked Postgres down"
    );
    for i in 0..3 {
        let adm = svc.admit(&p2, "m", 1).await.unwrap();
        svc.settle(adm, spend_event(&format!("down-{i}"), 0.1, 1, 1));
    }
    svc.flush().await;
    assert_eq!(svc.buffered_spend_rows(), 3, "kept for later");
    let started = std::time::Instant::now();
    assert!(matches!(
        svc.authenticate("sk-not-cached").await,
        Err(KeyError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(500), "fails fast");

    pg.resume();
    // The writer retries on its own (1 s interval in tests).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while svc.buffered_spend_rows() > 0 || !svc.database_up() {
        assert!(
            std::time::Instant::now() < deadline,
            "spend not written after Postgres came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let info = svc.key_info(&k.key).await.unwrap().info;
    assert!((info.spend - 0.3).abs() < 1e-9, "{}", info.spend);
    let logs = svc.spend_logs(SpendLogsQuery::default()).await.unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(svc.dropped_spend_rows(), 0);
}

#[tokio::test]
async fn bounded_buffer_drops_oldest_while_down() {
    let Some(pg) = PgServer::start() else { return };
    let mut cfg = config(&pg);
    cfg.max_buffered_spend_rows = 2;
    let svc = KeyService::start(&cfg, None).await.unwrap();
    let (k, p) = issue(&svc, GenerateKeyRequest::default()).await;
    pg.stop();
    svc.flush().await;
    for i in 0..5 {
        let adm = svc.admit(&p, "m", 1).await.unwrap();
        svc.settle(adm, spend_event(&format!("r{i}"), 0.01, 1, 1));
    }
    assert_eq!(svc.buffered_spend_rows(), 2);
    assert_eq!(svc.dropped_spend_rows(), 3);
    pg.resume();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while svc.buffered_spend_rows() > 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ids: Vec<String> = svc
        .spend_logs(SpendLogsQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["r3", "r4"], "the newest rows are kept");
    // Spend totals are not rows: nothing of it is lost.
    let info = svc.key_info(&k.key).await.unwrap().info;
    assert!((info.spend - 0.05).abs() < 1e-9, "{}", info.spend);
}
