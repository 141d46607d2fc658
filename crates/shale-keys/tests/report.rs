//! The read-only reports against a real PostgreSQL: `/team/list`, `/global/spend/report` (day and
//! hour buckets, teams, the key/model breakdown, the date range) and `/spend/logs/ui` (filters,
//! pages, totals).

mod support;

use shale_keys::*;
use std::time::{Duration, SystemTime};
use support::*;

/// A key in team `t1` and one without a team, with spend on two models (one failed request).
async fn seeded(svc: &KeyService) -> (GenerateKeyResponse, GenerateKeyResponse) {
    svc.new_team(NewTeamRequest {
        team_id: Some("t1".into()),
        team_alias: Some("Search".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let in_team = svc
        .generate_key(GenerateKeyRequest {
            key_alias: Some("search-app".into()),
            team_id: Some("t1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let solo = svc
        .generate_key(GenerateKeyRequest {
            key_alias: Some("batch-job".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let p = svc.authenticate(&in_team.key).await.unwrap();
    for (i, (model, spend, status)) in [
        ("claude", 0.5, 200),
        ("titan", 0.25, 200),
        ("claude", 0.0, 502),
    ]
    .into_iter()
    .enumerate()
    {
        let adm = svc.admit(&p, model, 1).await.unwrap();
        let mut e = spend_event(&format!("team-req-{i}"), spend, 10, 5);
        e.requested_model = model.into();
        e.status = status;
        svc.settle(adm, e);
    }
    let p = svc.authenticate(&solo.key).await.unwrap();
    let adm = svc.admit(&p, "claude", 1).await.unwrap();
    let mut e = spend_event("solo-req", 1.0, 100, 50);
    e.requested_model = "claude".into();
    e.start = SystemTime::now() - Duration::from_millis(300);
    svc.settle(adm, e);
    svc.flush().await;
    (in_team, solo)
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

#[tokio::test]
async fn team_list_spend_report_and_log_pages() {
    let Some(pg) = PgServer::start() else { return };
    let svc = service(&pg).await;
    let (in_team, solo) = seeded(&svc).await;

    // /team/list
    let teams = svc.list_teams().await.unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].team_alias.as_deref(), Some("Search"));
    assert!((teams[0].spend - 0.75).abs() < 1e-9);

    // /global/spend/report, day buckets: one day, two teams (t1, none).
    let report = svc
        .spend_report(SpendReportQuery {
            start_date: Some(today()),
            end_date: Some(today()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.len(), 1, "{report:?}");
    let day = &report[0];
    assert!(day.group_by_day.is_some() && day.group_by_hour.is_none());
    let team = day
        .teams
        .iter()
        .find(|t| t.team_id.as_deref() == Some("t1"))
        .unwrap();
    assert_eq!(team.team_name, "Search");
    assert!((team.total_spend - 0.75).abs() < 1e-9);
    assert_eq!(team.metadata.len(), 2, "claude and titan for one key");
    let claude = team.metadata.iter().find(|m| m.model == "claude").unwrap();
    assert_eq!(claude.requests, 2);
    assert_eq!(claude.total_tokens, 30);
    assert_eq!(claude.api_key, in_team.token_id);
    assert_eq!(claude.key_alias.as_deref(), Some("search-app"));
    let none = day.teams.iter().find(|t| t.team_id.is_none()).unwrap();
    assert_eq!(none.team_name, "Unassigned Team");
    assert_eq!(none.metadata[0].api_key, solo.token_id);
    assert!((none.total_spend - 1.0).abs() < 1e-9);

    // Hour buckets cover the same spend.
    let hourly = svc
        .spend_report(SpendReportQuery {
            start_date: Some(today()),
            end_date: Some(today()),
            bucket: Bucket::Hour,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(hourly
        .iter()
        .all(|b| b.group_by_hour.is_some() && b.group_by_day.is_none()));
    let total: f64 = hourly
        .iter()
        .flat_map(|b| &b.teams)
        .map(|t| t.total_spend)
        .sum();
    assert!((total - 1.75).abs() < 1e-9);

    // A range without spend, and the checks on the range.
    let empty = svc
        .spend_report(SpendReportQuery {
            start_date: Some("2020-01-01".into()),
            end_date: Some("2020-01-31".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(empty.is_empty());
    for bad in [
        SpendReportQuery::default(),
        SpendReportQuery {
            start_date: Some("2026-02-01".into()),
            end_date: Some("2026-01-01".into()),
            ..Default::default()
        },
        SpendReportQuery {
            start_date: Some("2025-01-01".into()),
            end_date: Some("2026-01-01".into()),
            bucket: Bucket::Hour,
            ..Default::default()
        },
        SpendReportQuery {
            start_date: Some(today()),
            end_date: Some(today()),
            group_by: Some("customer".into()),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            svc.spend_report(bad).await,
            Err(KeyError::InvalidRequest(_))
        ));
    }

    // /spend/logs/ui: everything, then pages, then each filter.
    let all = svc
        .spend_logs_page(SpendLogsPageQuery::default())
        .await
        .unwrap();
    assert_eq!(
        (all.total, all.page, all.page_size, all.total_pages),
        (4, 1, 50, 1)
    );
    assert_eq!(all.data.len(), 4);
    let page2 = svc
        .spend_logs_page(SpendLogsPageQuery {
            page: Some(2),
            page_size: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (page2.total, page2.total_pages, page2.data.len()),
        (4, 2, 1)
    );
    assert_eq!(
        page2.data[0].request_id, all.data[3].request_id,
        "newest first, paged"
    );
    let by = |q: SpendLogsPageQuery| {
        let svc = &svc;
        async move { svc.spend_logs_page(q).await.unwrap() }
    };
    let alias = by(SpendLogsPageQuery {
        key_alias: Some("search".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(alias.total, 3, "alias contains 'search'");
    let failed = by(SpendLogsPageQuery {
        status_filter: Some("failure".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(failed.total, 1);
    assert_eq!(failed.data[0].status_code, 502);
    let titan = by(SpendLogsPageQuery {
        model: Some("titan".into()),
        team_id: Some("t1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(titan.total, 1);
    let by_key = by(SpendLogsPageQuery {
        api_key: Some(solo.key.clone()),
        start_date: Some(format!("{} 00:00:00", today())),
        end_date: Some(today()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_key.total, 1);
    assert_eq!(by_key.data[0].request_id, "solo-req");
    let spendy = by(SpendLogsPageQuery {
        min_spend: Some(0.3),
        max_spend: Some(0.9),
        ..Default::default()
    })
    .await;
    assert_eq!(spendy.total, 1);
    assert!(matches!(
        svc.spend_logs_page(SpendLogsPageQuery {
            status_filter: Some("maybe".into()),
            ..Default::default()
        })
        .await,
        Err(KeyError::InvalidRequest(_))
    ));
}
