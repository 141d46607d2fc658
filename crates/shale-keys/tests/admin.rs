//! The admin operations against a real PostgreSQL: keys (generate, info, update, list, delete,
//! regenerate, block), teams, spend logs, and that no clear key is stored anywhere in the
//! database. Every change must be visible to `authenticate` at once.

mod support;

use shale_keys::*;
use std::time::{Duration, SystemTime};
use support::*;

fn event(request_id: &str, spend: f64) -> SpendEvent {
    SpendEvent {
        requested_model: "claude".into(),
        deployment_id: "claude-us-east-1".into(),
        cache_read_tokens: 2,
        cache_write_tokens: 1,
        start: SystemTime::now() - Duration::from_millis(200),
        ..spend_event(request_id, spend, 10, 5)
    }
}

#[tokio::test]
async fn generate_info_update_list_and_hashing() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let made = svc
        .generate_key(GenerateKeyRequest {
            key_alias: Some("app-1".into()),
            models: Some(vec!["claude".into()]),
            max_budget: Some(5.0),
            rpm_limit: Some(10),
            metadata: Some(
                serde_json::json!({"owner": "me"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(made.key.starts_with("sk-") && made.key.len() >= 35);
    assert_eq!(made.token_id, hash_key(&made.key));
    assert_eq!(made.info.token, made.token_id);
    assert_eq!(
        made.info.key_name,
        format!("sk-...{}", &made.key[made.key.len() - 4..])
    );
    assert_eq!(made.info.rpm_limit, Some(10));

    // info by clear key and by hash; never the clear key in the answer.
    let by_key = svc.key_info(&made.key).await.unwrap();
    let by_hash = svc.key_info(&made.token_id).await.unwrap();
    assert_eq!(by_key.info, by_hash.info);
    assert!(!serde_json::to_string(&by_key).unwrap().contains(&made.key));
    assert!(matches!(
        svc.key_info("sk-unknown").await,
        Err(KeyError::NotFound(_))
    ));

    // The key works; an update takes effect at once (cached principal invalidated).
    let p = svc.authenticate(&made.key).await.unwrap();
    assert_eq!(p.key_alias.as_deref(), Some("app-1"));
    assert!(svc.admit(&p, "claude", 1).await.is_ok());
    let updated = svc
        .update_key(UpdateKeyRequest {
            key: made.key.clone(),
            models: Some(vec!["other".into()]),
            rpm_limit: Some(None),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.info.rpm_limit, None);
    assert_eq!(updated.info.max_budget, Some(5.0), "untouched field kept");
    let p = svc.authenticate(&made.key).await.unwrap();
    assert!(matches!(
        svc.admit(&p, "claude", 1).await,
        Err(KeyError::ModelNotAllowed { model }) if model == "claude"
    ));

    // Alias uniqueness and bad input are the caller's errors.
    let dup = svc
        .generate_key(GenerateKeyRequest {
            key_alias: Some("app-1".into()),
            ..Default::default()
        })
        .await;
    assert!(matches!(dup, Err(KeyError::InvalidRequest(m)) if m.contains("key_alias")));
    for bad in [
        GenerateKeyRequest {
            duration: Some("soon".into()),
            ..Default::default()
        },
        GenerateKeyRequest {
            max_budget: Some(-1.0),
            ..Default::default()
        },
        GenerateKeyRequest {
            team_id: Some("no-such-team".into()),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            svc.generate_key(bad).await,
            Err(KeyError::InvalidRequest(_))
        ));
    }

    // list: hashes by default, full objects on request, paging.
    for i in 0..3 {
        svc.generate_key(GenerateKeyRequest {
            key_alias: Some(format!("more-{i}")),
            user_id: Some("u1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let page = svc
        .list_keys(ListKeysQuery {
            size: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (page.total_count, page.total_pages, page.keys.len()),
        (4, 2, 2)
    );
    assert!(matches!(&page.keys[0], ListedKey::Token(t) if *t == made.token_id));
    let mine = svc
        .list_keys(ListKeysQuery {
            user_id: Some("u1".into()),
            return_full_object: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.total_count, 3);
    assert!(matches!(&mine.keys[0], ListedKey::Full(k) if k.user_id.as_deref() == Some("u1")));

    // Spend, then scan every table's text for any clear key.
    let p = svc.authenticate(&made.key).await.unwrap();
    let a = svc.admit(&p, "other", 10).await.unwrap();
    svc.settle(a, event("req-1", 0.5));
    svc.flush().await;
    let db = connect(&pg).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(tables.len() >= 3, "{tables:?}");
    let mut seen_hash = false;
    for t in &tables {
        let texts: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
            .fetch_all(&db)
            .await
            .unwrap();
        for text in texts {
            assert!(!text.contains(&made.key), "clear key stored in {t}");
            assert!(!text.contains(&made.key[3..]), "key material stored in {t}");
            seen_hash |= text.contains(&made.token_id);
        }
    }
    assert!(seen_hash, "the hash is what is stored");
}

#[tokio::test]
async fn delete_regenerate_and_block_take_effect_at_once() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let gen = |alias: &str| GenerateKeyRequest {
        key_alias: Some(alias.into()),
        ..Default::default()
    };
    let a = svc.generate_key(gen("a")).await.unwrap();
    let b = svc.generate_key(gen("b")).await.unwrap();
    let c = svc.generate_key(gen("c")).await.unwrap();
    for k in [&a, &b, &c] {
        svc.authenticate(&k.key).await.unwrap();
    }

    // block / unblock
    let blocked = svc.set_blocked(&a.key, true).await.unwrap();
    assert!(blocked.info.blocked);
    assert!(matches!(
        svc.authenticate(&a.key).await,
        Err(KeyError::Blocked)
    ));
    svc.set_blocked(&a.token_id, false).await.unwrap();
    svc.authenticate(&a.key).await.unwrap();

    // regenerate: spend and settings kept, old secret dead, new one works.
    let p = svc.authenticate(&b.key).await.unwrap();
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, event("r-b", 0.75));
    let fresh = svc
        .regenerate_key(RegenerateKeyRequest {
            key: b.key.clone(),
            duration: None,
        })
        .await
        .unwrap();
    assert_ne!(fresh.key, b.key);
    assert_eq!(fresh.info.key_alias.as_deref(), Some("b"));
    assert!(
        (fresh.info.spend - 0.75).abs() < 1e-9,
        "{}",
        fresh.info.spend
    );
    assert!(matches!(
        svc.authenticate(&b.key).await,
        Err(KeyError::InvalidKey)
    ));
    svc.authenticate(&fresh.key).await.unwrap();

    // delete by key and by alias
    let gone = svc
        .delete_keys(DeleteKeysRequest {
            keys: Some(vec![a.key.clone()]),
            key_aliases: Some(vec!["c".into()]),
        })
        .await
        .unwrap();
    let mut deleted = gone.deleted_keys.clone();
    deleted.sort();
    let mut expected = vec![a.token_id.clone(), c.token_id.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    for k in [&a, &c] {
        assert!(matches!(
            svc.authenticate(&k.key).await,
            Err(KeyError::InvalidKey)
        ));
    }
    assert!(matches!(
        svc.delete_keys(DeleteKeysRequest {
            keys: Some(vec![a.key.clone()]),
            key_aliases: None
        })
        .await,
        Err(KeyError::NotFound(_))
    ));
    assert!(matches!(
        svc.delete_keys(DeleteKeysRequest::default()).await,
        Err(KeyError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn teams_and_spend_logs() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let team = svc
        .new_team(NewTeamRequest {
            team_id: Some("t1".into()),
            team_alias: Some("Team One".into()),
            models: Some(vec!["claude".into(), "titan".into()]),
            max_budget: Some(10.0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(team.team_id, "t1");
    let generated = svc.new_team(NewTeamRequest::default()).await.unwrap();
    assert_eq!(generated.team_id.len(), 36, "a UUID");
    assert!(matches!(
        svc.new_team(NewTeamRequest {
            team_id: Some("t1".into()),
            ..Default::default()
        })
        .await,
        Err(KeyError::InvalidRequest(_))
    ));

    let (k, p) = issue(
        &svc,
        GenerateKeyRequest {
            key_alias: Some("team-key".into()),
            team_id: Some("t1".into()),
            user_id: Some("alice".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(p.team_alias.as_deref(), Some("Team One"));
    for (i, model) in ["claude", "titan"].into_iter().enumerate() {
        let adm = svc.admit(&p, model, 5).await.unwrap();
        let mut e = event(&format!("req-{i}"), 0.25);
        e.requested_model = model.into();
        svc.settle(adm, e);
    }
    svc.flush().await;

    let info = svc.team_info("t1").await.unwrap();
    assert_eq!(info.keys.len(), 1);
    assert!((info.team_info.spend - 0.5).abs() < 1e-9);
    assert!((info.keys[0].spend - 0.5).abs() < 1e-9);

    // Team update reaches its keys at once.
    svc.update_team(UpdateTeamRequest {
        team_id: "t1".into(),
        models: Some(vec!["titan".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let p = svc.authenticate(&k.key).await.unwrap();
    assert!(matches!(
        svc.admit(&p, "claude", 1).await,
        Err(KeyError::ModelNotAllowed { .. })
    ));

    // A blocked team blocks its keys, at once.
    svc.update_team(UpdateTeamRequest {
        team_id: "t1".into(),
        blocked: Some(true),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        svc.authenticate(&k.key).await,
        Err(KeyError::Blocked)
    ));
    svc.update_team(UpdateTeamRequest {
        team_id: "t1".into(),
        blocked: Some(false),
        ..Default::default()
    })
    .await
    .unwrap();
    svc.authenticate(&k.key).await.unwrap();

    // Spend logs: complete rows, filters by key and date.
    let logs = svc
        .spend_logs(SpendLogsQuery {
            api_key: Some(k.key.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    let row = logs.iter().find(|r| r.request_id == "req-0").unwrap();
    assert_eq!(row.api_key, k.token_id);
    assert_eq!(row.key_alias.as_deref(), Some("team-key"));
    assert_eq!(row.team_id.as_deref(), Some("t1"));
    assert_eq!(row.user.as_deref(), Some("alice"));
    assert_eq!(
        (row.model.as_str(), row.model_id.as_str()),
        ("claude", "claude-us-east-1")
    );
    assert_eq!(row.call_type, "chat_completions");
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens, row.total_tokens),
        (10, 5, 15)
    );
    assert_eq!(
        (row.cache_read_input_tokens, row.cache_creation_input_tokens),
        (2, 1)
    );
    assert_eq!((row.status_code, row.status.as_str()), (200, "success"));
    assert!(row.end_time > row.start_time);
    let today = time::OffsetDateTime::now_utc().date();
    let by_date = svc
        .spend_logs(SpendLogsQuery {
            start_date: Some(today.to_string()),
            end_date: Some(today.to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_date.len(), 2);
    let none = svc
        .spend_logs(SpendLogsQuery {
            end_date: Some((today - time::Duration::days(1)).to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());

    // Deleting the team deletes its keys.
    let del = svc
        .delete_teams(DeleteTeamsRequest {
            team_ids: vec!["t1".into()],
        })
        .await
        .unwrap();
    assert_eq!(del.deleted_teams, vec!["t1".to_string()]);
    assert_eq!(del.deleted_keys, vec![k.token_id.clone()]);
    assert!(matches!(
        svc.authenticate(&k.key).await,
        Err(KeyError::InvalidKey)
    ));
    assert!(matches!(
        svc.team_info("t1").await,
        Err(KeyError::NotFound(_))
    ));
}

#[tokio::test]
async fn disable_spend_logs_keeps_spend_but_writes_no_rows() {
    let Some(pg) = PgServer::start() else { return };
    let mut cfg = config(&pg);
    cfg.disable_spend_logs = true;
    let svc = KeyService::start(&cfg, None).await.unwrap();
    let (k, p) = issue(&svc, GenerateKeyRequest::default()).await;
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, event("r", 0.1));
    svc.flush().await;
    assert!(svc
        .spend_logs(SpendLogsQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!((svc.key_info(&k.key).await.unwrap().info.spend - 0.1).abs() < 1e-9);
}

#[tokio::test]
async fn no_database_and_unreachable_database() {
    let cfg = shale_config::KeysConfig::default();
    if std::env::var("DATABASE_URL").is_err() {
        assert!(matches!(
            KeyService::start(&cfg, None).await,
            Err(KeyError::NoDatabase)
        ));
    }
    // Nothing listens on this port: a clear refusal, unless degraded start is allowed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = shale_config::KeysConfig {
        database_url: Some(shale_config::Secret::new(format!(
            "postgresql://u:secret-pw@127.0.0.1:{port}/db"
        ))),
        ..Default::default()
    };
    let err = KeyService::start(&cfg, None).await.unwrap_err();
    assert!(matches!(err, KeyError::Unavailable(_)));
    let text = err.to_string();
    assert!(text.contains("allow_requests_on_db_unavailable"), "{text}");
    assert!(!text.contains("secret-pw"), "{text}");
    cfg.allow_requests_on_db_unavailable = true;
    let svc = KeyService::start(&cfg, None).await.unwrap();
    assert!(!svc.database_up());
    assert!(matches!(
        svc.authenticate("sk-anything").await,
        Err(KeyError::Unavailable(_))
    ));
}

#[tokio::test]
async fn key_and_team_guardrails_reach_the_principal_and_spend_logs_keep_their_outcome() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    svc.new_team(NewTeamRequest {
        team_id: Some("guarded".into()),
        guardrails: Some(vec!["topic-guard".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let k = svc
        .generate_key(GenerateKeyRequest {
            team_id: Some("guarded".into()),
            guardrails: Some(vec!["pii-guard".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(k.info.guardrails, vec!["pii-guard".to_string()]);
    let p = svc.authenticate(&k.key).await.unwrap();
    assert_eq!(p.guardrails, vec!["pii-guard".to_string()]);
    assert_eq!(p.team_guardrails, vec!["topic-guard".to_string()]);
    assert!(svc
        .generate_key(GenerateKeyRequest {
            guardrails: Some(vec!["bad\nname".into()]),
            ..Default::default()
        })
        .await
        .is_err());

    // Updates replace the list and reach the hot path at once.
    svc.update_key(UpdateKeyRequest {
        key: k.key.clone(),
        guardrails: Some(vec![]),
        ..Default::default()
    })
    .await
    .unwrap();
    let team = svc
        .update_team(UpdateTeamRequest {
            team_id: "guarded".into(),
            guardrails: Some(vec!["a".into(), "b".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(team.guardrails, vec!["a".to_string(), "b".to_string()]);
    let p = svc.authenticate(&k.key).await.unwrap();
    assert!(p.guardrails.is_empty());
    assert_eq!(p.team_guardrails.len(), 2);
    assert_eq!(
        svc.team_info("guarded")
            .await
            .unwrap()
            .team_info
            .guardrails
            .len(),
        2
    );

    let adm = svc.admit(&p, "m", 1).await.unwrap();
    let mut e = event("guarded-1", 0.0);
    e.status = 400;
    e.guardrails = vec![GuardrailInfo {
        guardrail_name: "a".into(),
        guardrail_mode: "pre_call".into(),
        guardrail_status: "blocked".into(),
        duration_ms: 12.5,
    }];
    svc.settle(adm, e);
    svc.flush().await;
    let logs = svc
        .spend_logs(SpendLogsQuery {
            request_id: Some("guarded-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, "failure");
    assert_eq!(logs[0].guardrail_information[0].guardrail_status, "blocked");
    assert_eq!(logs[0].guardrail_information[0].duration_ms, 12.5);
}
