//! LiteLLM's `/key/generate` options beyond limits, against a real PostgreSQL: a caller-chosen
//! `key` (checked, stored hashed, duplicates refused), `model_max_budget` (a budget per model,
//! kept across a restart, its own period) and `tags` (in `metadata.tags`, on `/key/info` and on
//! every spend-log row); and the tokens a `tpm_limit` reserves for requests admitted together.

mod support;

use serde_json::{json, Map, Value};
use shale_keys::*;
use std::sync::Arc;
use support::*;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A new key with these `model_max_budget` entries.
async fn key_with_model_budgets(svc: &KeyService, budgets: Value) -> GenerateKeyResponse {
    svc.generate_key(GenerateKeyRequest {
        model_max_budget: Some(object(budgets)),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn event_for(model: &str, spend: f64) -> SpendEvent {
    SpendEvent {
        requested_model: model.into(),
        ..spend_event("r", spend, 10, 10)
    }
}

#[tokio::test]
async fn a_chosen_key_is_checked_stored_hashed_and_unique() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let chosen = "sk-migrated-from-litellm-0001";
    let k = svc
        .generate_key(GenerateKeyRequest {
            key: Some(chosen.into()),
            key_alias: Some("migrated".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(k.key, chosen, "the chosen key is the key");
    assert_eq!(k.token_id, hash_key(chosen));
    assert_eq!(k.info.key_name, "sk-...0001");
    assert!(svc.authenticate(chosen).await.is_ok());
    // Only its hash is stored.
    let pool = connect(&pg).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT token FROM shale_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored, [hash_key(chosen)]);

    // The same key again: refused, and the first one is untouched.
    match svc
        .generate_key(GenerateKeyRequest {
            key: Some(chosen.into()),
            ..Default::default()
        })
        .await
    {
        Err(KeyError::InvalidRequest(m)) => {
            assert!(m.contains("already exists"), "{m}");
            assert!(!m.contains(chosen), "the key is not echoed: {m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        svc.key_info(chosen)
            .await
            .unwrap()
            .info
            .key_alias
            .as_deref(),
        Some("migrated")
    );
    // Not an `sk-` key: LiteLLM's message, the key masked.
    match svc
        .generate_key(GenerateKeyRequest {
            key: Some("pk-0123456789abcdef".into()),
            ..Default::default()
        })
        .await
    {
        Err(KeyError::InvalidRequest(m)) => {
            assert!(m.starts_with("Invalid key format."), "{m}");
            assert!(m.contains("pk-0****cdef"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn model_max_budget_binds_one_model_and_survives_a_restart() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let k = key_with_model_budgets(
        &svc,
        json!({
            "claude": {"budget_limit": 1.0, "time_period": "1d"},
            "nova": {"max_budget": "5", "budget_duration": "30d"},
        }),
    )
    .await;
    assert_eq!(
        Value::Object(k.info.model_max_budget.clone()),
        json!({
            "claude": {"budget_limit": 1.0, "time_period": "1d"},
            "nova": {"budget_limit": 5.0, "time_period": "30d"},
        })
    );
    let p = svc.authenticate(&k.key).await.unwrap();
    let adm = svc.admit(&p, "claude", 1).await.unwrap();
    svc.settle(adm, event_for("claude", 0.7));
    let adm = svc.admit(&p, "claude", 1).await.unwrap();
    svc.settle(adm, event_for("claude", 0.4));
    match svc.admit(&p, "claude", 1).await {
        Err(KeyError::ModelBudgetExceeded {
            model,
            spend,
            max_budget,
        }) => {
            assert_eq!(model, "claude");
            assert!((spend - 1.1).abs() < 1e-9, "{spend}");
            assert_eq!(max_budget, 1.0);
        }
        other => panic!("{other:?}"),
    }
    // Also under the provider-prefixed name, as LiteLLM looks it up.
    assert!(matches!(
        svc.admit(&p, "bedrock/claude", 1).await,
        Err(KeyError::ModelBudgetExceeded { .. })
    ));
    // Other models are not bound by it; the key's own spend counts all of it.
    assert!(svc.admit(&p, "nova", 1).await.is_ok());
    assert!(svc.admit(&p, "titan", 1).await.is_ok());

    // Written to Postgres and read back by a new replica (a restart).
    svc.flush().await;
    assert!((svc.key_info(&k.key).await.unwrap().info.spend - 1.1).abs() < 1e-9);
    let pool = connect(&pg).await;
    let (model, spend): (String, f64) =
        sqlx::query_as("SELECT model, spend FROM shale_key_model_spend")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(model, "claude");
    assert!((spend - 1.1).abs() < 1e-9, "{spend}");
    drop(svc);
    let again = service(&pg).await;
    let p = again.authenticate(&k.key).await.unwrap();
    assert!(matches!(
        again.admit(&p, "claude", 1).await,
        Err(KeyError::ModelBudgetExceeded { .. })
    ));

    // Raising it lets the model through again; `{}` removes every model budget.
    again
        .update_key(UpdateKeyRequest {
            key: k.key.clone(),
            model_max_budget: Some(object(
                json!({"claude": {"budget_limit": 2, "time_period": "1d"}}),
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let p = again.authenticate(&k.key).await.unwrap();
    assert!(again.admit(&p, "claude", 1).await.is_ok());
    let cleared = again
        .update_key(UpdateKeyRequest {
            key: k.key.clone(),
            model_max_budget: Some(Map::new()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(cleared.info.model_max_budget.is_empty());

    // Malformed entries are refused with the model named.
    match again
        .generate_key(GenerateKeyRequest {
            model_max_budget: Some(object(json!({"claude": {"budget_limit": 1}}))),
            ..Default::default()
        })
        .await
    {
        Err(KeyError::InvalidRequest(m)) => assert!(m.contains("model_max_budget.claude"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_model_budget_period_starts_from_zero() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let k = key_with_model_budgets(
        &svc,
        json!({"claude": {"budget_limit": 0.5, "time_period": "3s"}}),
    )
    .await;
    let p = svc.authenticate(&k.key).await.unwrap();
    let adm = svc.admit(&p, "claude", 1).await.unwrap();
    svc.settle(adm, event_for("claude", 0.6));
    assert!(svc.admit(&p, "claude", 1).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert!(
        svc.admit(&p, "claude", 1).await.is_ok(),
        "a new period of the model budget"
    );
}

#[tokio::test]
async fn tags_are_kept_in_metadata_shown_and_logged() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let k = svc
        .generate_key(GenerateKeyRequest {
            tags: Some(vec!["prod".into(), "team-search".into()]),
            metadata: Some(object(
                json!({"owner": "search", "user_email": "dev@example.com"}),
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let info = svc.key_info(&k.key).await.unwrap().info;
    assert_eq!(info.tags, ["prod", "team-search"]);
    assert_eq!(info.metadata["tags"], json!(["prod", "team-search"]));
    assert_eq!(info.metadata["owner"], "search");
    let p = svc.authenticate(&k.key).await.unwrap();
    assert_eq!(p.tags, ["prod", "team-search"]);
    assert_eq!(p.user_email.as_deref(), Some("dev@example.com"));
    let adm = svc.admit(&p, "m", 1).await.unwrap();
    svc.settle(adm, spend_event("tagged", 0.1, 1, 1));
    svc.flush().await;
    let rows = svc
        .spend_logs(SpendLogsQuery {
            request_id: Some("tagged".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows[0].request_tags, ["prod", "team-search"]);

    // Tags alone replace the stored ones and keep the rest of the metadata; `[]` removes them.
    let updated = svc
        .update_key(UpdateKeyRequest {
            key: k.key.clone(),
            tags: Some(vec!["staging".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.info.tags, ["staging"]);
    assert_eq!(updated.info.metadata["owner"], "search");
    let updated = svc
        .update_key(UpdateKeyRequest {
            key: k.key.clone(),
            tags: Some(vec![]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(updated.info.tags.is_empty());
    assert!(updated.info.metadata.get("tags").is_none());
    // A user_email that is not an address is refused (it becomes a metric label).
    assert!(matches!(
        svc.generate_key(GenerateKeyRequest {
            metadata: Some(object(json!({"user_email": "not an email"}))),
            ..Default::default()
        })
        .await,
        Err(KeyError::InvalidRequest(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_admitted_together_share_the_tpm_window() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    away_from_minute_edge().await;
    let (_, p) = issue(
        &svc,
        GenerateKeyRequest {
            tpm_limit: Some(1000),
            ..Default::default()
        },
    )
    .await;
    // Ten requests of ~300 tokens at once: only what the window holds is admitted, before any
    // of them has reported its usage.
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (svc, p) = (Arc::clone(&svc), Arc::clone(&p));
            tokio::spawn(async move { svc.admit(&p, "m", 300).await })
        })
        .collect();
    let mut admitted = Vec::new();
    for a in attempts {
        if let Ok(adm) = a.await.unwrap() {
            admitted.push(adm);
        }
    }
    assert_eq!(admitted.len(), 3, "3 × 300 fit in 1000, a fourth does not");
    // Settled with what they really used (100 each): room for more.
    for adm in admitted {
        svc.settle(adm, spend_event("t", 0.0, 50, 50));
    }
    let adm = svc.admit(&p, "m", 300).await.unwrap();
    let adm2 = svc.admit(&p, "m", 300).await.unwrap();
    assert!(
        svc.admit(&p, "m", 300).await.is_err(),
        "300 + 600 + 300 > 1000"
    );
    // Dropped without settling (the client went away): the reservation comes back.
    drop(adm);
    drop(adm2);
    assert!(svc.admit(&p, "m", 300).await.is_ok());
}
