//! Queries on `shale_teams`: insert, read, change and delete teams (with their keys).

use super::{insert_row, update_row, NewRules, RuleChanges, TeamRow};
use crate::KeyError;
use sqlx::query_builder::Separated;
use sqlx::{PgPool, Postgres};

/// A team to insert (validated by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewTeam {
    pub team_id: String,
    pub team_alias: Option<String>,
    /// The columns keys and teams share.
    pub rules: NewRules,
}

/// Changes to a team: `None` keeps a column, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamChanges {
    pub team_alias: Option<Option<String>>,
    /// The columns keys and teams share.
    pub rules: RuleChanges,
}

pub(crate) async fn insert(pool: &PgPool, t: NewTeam) -> Result<TeamRow, KeyError> {
    let own = |values: &mut Separated<'_, '_, Postgres, &'static str>| {
        values.push_bind(t.team_id).push_bind(t.team_alias);
    };
    insert_row(pool, "shale_teams", "team_id, team_alias", own, t.rules).await
}

pub(crate) async fn get(pool: &PgPool, team_id: &str) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query_as::<_, TeamRow>("SELECT * FROM shale_teams WHERE team_id = $1")
        .bind(team_id)
        .fetch_optional(pool)
        .await
}

pub(crate) async fn update(
    pool: &PgPool,
    team_id: &str,
    c: TeamChanges,
) -> Result<Option<TeamRow>, KeyError> {
    update_row(pool, "shale_teams", "team_id", team_id, |q| {
        if let Some(v) = c.team_alias {
            q.push(", team_alias = ").push_bind(v);
        }
        c.rules.push_sets(q);
    })
    .await
}

/// Deletes teams and their keys in one transaction; returns (deleted team ids, deleted key hashes).
pub(crate) async fn delete(
    pool: &PgPool,
    team_ids: &[String],
) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let keys: Vec<String> =
        sqlx::query_scalar("DELETE FROM shale_keys WHERE team_id = ANY($1) RETURNING token")
            .bind(team_ids)
            .fetch_all(&mut *tx)
            .await?;
    let teams: Vec<String> =
        sqlx::query_scalar("DELETE FROM shale_teams WHERE team_id = ANY($1) RETURNING team_id")
            .bind(team_ids)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok((teams, keys))
}
