//! Spend in memory: per key and team, the spend of the current budget period as this replica
//! knows it (seeded from Postgres, plus what it settled since), budget roll-over on schedule, and
//! the bounded buffer of what the background writer still has to put into Postgres (increments,
//! resets, spend-log rows). Never does I/O; the writer in `service.rs` drains it.

use crate::duration::next_reset;
use crate::error::Scope;
use crate::limits::{slot, SCOPES};
use crate::principal::ScopeRules;
use crate::store::spend::{Delta, LogRow, Reset};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use time::OffsetDateTime;

/// One scope's spend in its current budget period.
#[derive(Debug, Clone, Default)]
struct Meter {
    spend: f64,
    /// End of the current period (`budget_reset_at`); `None` = no budget period.
    period: Option<OffsetDateTime>,
    /// Settled here but not yet written to Postgres (this period).
    unflushed: f64,
}

type DeltaKey = (Scope, String, Option<OffsetDateTime>);

/// The meter of `id` in `scope`, created empty (with `period`) if absent; no allocation on a hit.
fn meter<'m>(
    meters: &'m mut [HashMap<String, Meter>; SCOPES],
    scope: Scope,
    id: &str,
    period: Option<OffsetDateTime>,
) -> &'m mut Meter {
    let map = &mut meters[slot(scope)];
    if !map.contains_key(id) {
        map.insert(
            id.to_string(),
            Meter {
                period,
                ..Meter::default()
            },
        );
    }
    map.get_mut(id).expect("inserted above")
}

/// What the writer takes out in one go.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub resets: Vec<Reset>,
    pub deltas: Vec<Delta>,
    pub rows: Vec<LogRow>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.resets.is_empty() && self.deltas.is_empty() && self.rows.is_empty()
    }
}

#[derive(Debug, Default)]
struct Pending {
    resets: Vec<Reset>,
    deltas: HashMap<DeltaKey, f64>,
    rows: VecDeque<LogRow>,
}

/// Meters and the pending writes.
#[derive(Debug)]
pub(crate) struct SpendBook {
    /// Per scope (key, team, model budget), by id.
    meters: Mutex<[HashMap<String, Meter>; SCOPES]>,
    pending: Mutex<Pending>,
    max_rows: usize,
    dropped_rows: AtomicU64,
}

impl SpendBook {
    pub(crate) fn new(max_rows: usize) -> SpendBook {
        SpendBook {
            meters: Mutex::new(Default::default()),
            pending: Mutex::new(Pending::default()),
            max_rows: max_rows.max(1),
            dropped_rows: AtomicU64::new(0),
        }
    }

    /// Spend-log rows dropped because the buffer was full (Postgres down too long).
    pub(crate) fn dropped_rows(&self) -> u64 {
        self.dropped_rows.load(Ordering::Relaxed)
    }

    /// Rows waiting for the writer.
    pub(crate) fn buffered_rows(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rows
            .len()
    }

    /// Postgres said `spend` for this period: it plus what is not written yet is the spend now,
    /// unless this replica already rolled the budget over to a later period.
    pub(crate) fn seed(
        &self,
        scope: Scope,
        id: &str,
        db_spend: f64,
        db_period: Option<OffsetDateTime>,
    ) {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        let m = meter(&mut meters, scope, id, db_period);
        let ahead = matches!((m.period, db_period), (Some(mine), Some(theirs)) if mine > theirs);
        if ahead {
            return;
        }
        if m.period != db_period {
            m.unflushed = 0.0;
        }
        m.period = db_period;
        m.spend = db_spend + m.unflushed;
    }

    /// The spend of the current period at `now` and the period's end; rolls the budget over
    /// (spend 0, next reset queued for Postgres) when its reset time has passed.
    pub(crate) fn current(
        &self,
        scope: Scope,
        rules: &ScopeRules,
        now: OffsetDateTime,
    ) -> (f64, Option<OffsetDateTime>) {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        let m = meter(&mut meters, scope, &rules.id, rules.budget_reset_at);
        if let (Some(end), Some(len)) = (m.period, rules.budget_period) {
            if now >= end {
                let new = next_reset(end, len, now);
                m.spend = 0.0;
                m.unflushed = 0.0;
                m.period = Some(new);
                drop(meters);
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                p.resets.push(Reset {
                    scope,
                    id: rules.id.clone(),
                    old: end,
                    new,
                });
                return (0.0, Some(new));
            }
        }
        (m.spend, m.period)
    }

    /// The spend of a scope whose period is computed by the caller (a model budget): the meter
    /// starts again from zero when `period` is not its period.
    pub(crate) fn in_period(&self, scope: Scope, id: &str, period: OffsetDateTime) -> f64 {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        let m = meter(&mut meters, scope, id, Some(period));
        if m.period != Some(period) {
            *m = Meter {
                period: Some(period),
                ..Meter::default()
            };
        }
        m.spend
    }

    /// Redis answered the spend of the scope's period `period` (the shared counter plus what
    /// this replica has not shared yet); ignored when the meter has moved to another period.
    pub(crate) fn set_shared(
        &self,
        scope: Scope,
        id: &str,
        period: Option<OffsetDateTime>,
        spend: f64,
    ) {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = meters[slot(scope)].get_mut(id) {
            if m.period == period {
                m.spend = spend;
            }
        }
    }

    /// The spend this replica knows of for the scope's period ending at `period` (unix seconds),
    /// if its meter is in that period.
    pub(crate) fn spend_in(&self, scope: Scope, id: &str, period: Option<i64>) -> Option<f64> {
        let meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        meters[slot(scope)]
            .get(id)
            .filter(|m| m.period.map(|t| t.unix_timestamp()) == period)
            .map(|m| m.spend)
    }

    /// A request of period `period` cost `spend`: counted now, written later.
    pub(crate) fn add(&self, scope: Scope, id: &str, period: Option<OffsetDateTime>, spend: f64) {
        if spend == 0.0 || !spend.is_finite() {
            return;
        }
        {
            let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
            let m = meter(&mut meters, scope, id, period);
            if m.period == period {
                m.spend += spend;
                m.unflushed += spend;
            }
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p.deltas.entry((scope, id.to_string(), period)).or_default() += spend;
    }

    /// Queues a spend-log row; returns true when the buffer is half full (flush early).
    pub(crate) fn push_row(&self, row: LogRow) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while p.rows.len() >= self.max_rows {
            p.rows.pop_front();
            self.dropped_rows.fetch_add(1, Ordering::Relaxed);
        }
        p.rows.push_back(row);
        p.rows.len() * 2 >= self.max_rows
    }

    /// An admin set the spend by hand: it is the spend now, pending increments are dropped.
    pub(crate) fn admin_set(&self, scope: Scope, id: &str, spend: f64) {
        {
            let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = meters[slot(scope)].get_mut(id) {
                m.spend = spend;
                m.unflushed = 0.0;
            }
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.deltas.retain(|(s, i, _), _| !(*s == scope && i == id));
    }

    /// A key or team is gone (or its budget settings changed): forget its meter.
    pub(crate) fn forget(&self, scope: Scope, id: &str) {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        meters[slot(scope)].remove(id);
    }

    /// Everything pending, for one write.
    pub(crate) fn take(&self) -> Batch {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let deltas = std::mem::take(&mut p.deltas)
            .into_iter()
            .map(|((scope, id, period), spend)| Delta {
                scope,
                id,
                period,
                spend,
            })
            .collect();
        Batch {
            resets: std::mem::take(&mut p.resets),
            deltas,
            rows: std::mem::take(&mut p.rows).into(),
        }
    }

    /// The write failed: put the batch back in front of what came since (oldest rows dropped
    /// beyond the bound).
    pub(crate) fn restore(&self, batch: Batch) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut resets = batch.resets;
        resets.append(&mut p.resets);
        p.resets = resets;
        for d in batch.deltas {
            *p.deltas.entry((d.scope, d.id, d.period)).or_default() += d.spend;
        }
        let mut rows: VecDeque<LogRow> = batch.rows.into();
        rows.append(&mut p.rows);
        while rows.len() > self.max_rows {
            rows.pop_front();
            self.dropped_rows.fetch_add(1, Ordering::Relaxed);
        }
        p.rows = rows;
    }

    /// The batch is in Postgres: its increments are no longer "unflushed".
    pub(crate) fn committed(&self, batch: &Batch) {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        for d in &batch.deltas {
            if let Some(m) = meters[slot(d.scope)].get_mut(&d.id) {
                if m.period == d.period {
                    m.unflushed = (m.unflushed - d.spend).max(0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    fn rules(period: Option<Duration>, reset_at: Option<OffsetDateTime>) -> ScopeRules {
        ScopeRules {
            max_budget: Some(1.0),
            budget_period: period,
            budget_reset_at: reset_at,
            ..ScopeRules::open("k", &[])
        }
    }

    #[test]
    fn spend_accumulates_and_survives_a_reload_until_written() {
        let b = SpendBook::new(10);
        let r = rules(None, None);
        b.seed(Scope::Key, "k", 1.0, None);
        b.add(Scope::Key, "k", None, 0.5);
        let now = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(b.current(Scope::Key, &r, now).0, 1.5);
        // A reload before the write still counts the unwritten 0.5 once.
        b.seed(Scope::Key, "k", 1.0, None);
        assert_eq!(b.current(Scope::Key, &r, now).0, 1.5);
        let batch = b.take();
        assert_eq!(batch.deltas.len(), 1);
        b.committed(&batch);
        b.seed(Scope::Key, "k", 1.5, None);
        assert_eq!(b.current(Scope::Key, &r, now).0, 1.5);
    }

    #[test]
    fn budget_rolls_over_on_schedule() {
        let b = SpendBook::new(10);
        let end = datetime!(2026-01-01 01:00 UTC);
        let r = rules(Some(Duration::from_secs(3600)), Some(end));
        b.seed(Scope::Key, "k", 5.0, Some(end));
        assert_eq!(
            b.current(Scope::Key, &r, datetime!(2026-01-01 00:30 UTC)),
            (5.0, Some(end))
        );
        let (spend, period) = b.current(Scope::Key, &r, datetime!(2026-01-01 01:10 UTC));
        assert_eq!(
            (spend, period),
            (0.0, Some(datetime!(2026-01-01 02:00 UTC)))
        );
        // A stale reload from Postgres (not reset yet) does not undo the roll-over.
        b.seed(Scope::Key, "k", 5.0, Some(end));
        assert_eq!(
            b.current(Scope::Key, &r, datetime!(2026-01-01 01:11 UTC)).0,
            0.0
        );
        let batch = b.take();
        assert_eq!(batch.resets.len(), 1);
        assert_eq!(batch.resets[0].new, datetime!(2026-01-01 02:00 UTC));
    }

    #[test]
    fn a_computed_period_starts_from_zero_and_ignores_older_seeds() {
        let b = SpendBook::new(10);
        let p1 = datetime!(2026-01-02 00:00 UTC);
        let p2 = datetime!(2026-01-03 00:00 UTC);
        b.seed(Scope::Model, "k/m", 0.7, Some(p1));
        assert_eq!(b.in_period(Scope::Model, "k/m", p1), 0.7);
        b.add(Scope::Model, "k/m", Some(p1), 0.1);
        assert!((b.in_period(Scope::Model, "k/m", p1) - 0.8).abs() < 1e-12);
        assert_eq!(b.in_period(Scope::Model, "k/m", p2), 0.0, "the next period");
        b.seed(Scope::Model, "k/m", 0.7, Some(p1));
        assert_eq!(
            b.in_period(Scope::Model, "k/m", p2),
            0.0,
            "a stale row is ignored"
        );
        assert_eq!(
            b.spend_in(Scope::Model, "k/m", Some(p2.unix_timestamp())),
            Some(0.0)
        );
        assert_eq!(
            b.spend_in(Scope::Model, "k/m", Some(p1.unix_timestamp())),
            None
        );
    }

    #[test]
    fn rows_are_bounded_and_restored_in_order() {
        let b = SpendBook::new(3);
        let row = |id: &str| LogRow {
            request_id: id.into(),
            api_key: "k".into(),
            key_alias: None,
            team_id: None,
            user_id: None,
            model: "m".into(),
            model_id: "d".into(),
            call_type: "chat_completions",
            prompt_tokens: 1,
            completion_tokens: 1,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            spend: 0.1,
            start_time: OffsetDateTime::UNIX_EPOCH,
            end_time: OffsetDateTime::UNIX_EPOCH,
            status_code: 200,
            guardrail_information: vec![],
            cache_hit: false,
            cache_key: None,
            request_tags: vec![],
        };
        b.push_row(row("1"));
        b.push_row(row("2"));
        let batch = b.take();
        b.push_row(row("3"));
        b.push_row(row("4"));
        b.restore(batch);
        assert_eq!(b.dropped_rows(), 1);
        let ids: Vec<String> = b.take().rows.into_iter().map(|r| r.request_id).collect();
        assert_eq!(ids, ["2", "3", "4"]);
    }
}
