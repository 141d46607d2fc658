//! Spend this replica settled that the shared Redis counters do not have yet, and the batches
//! that carry it there exactly once.
//!
//! Every settled request's spend (key, team, model budget) is added here at once (no I/O); the
//! background sharer (`service.rs`) takes it out as one numbered batch, sends it with one Redis
//! script (`redis_link::SHARE_LUA`) and forgets it when Redis answered. While Redis is down the
//! batch is kept — with its number and its amounts unchanged — and sent again when Redis is back,
//! while new spend keeps accumulating for the next batch. Redis remembers the last batch number it
//! applied for this replica, so a batch whose first attempt landed but whose answer was lost is
//! not added twice. Nothing is lost, nothing is counted twice.
//!
//! The amounts not yet shared are also what admission adds to the shared spend it reads, so this
//! replica's own unshared spend still counts against budgets.

use crate::error::Scope;
use crate::limits::{slot, SCOPES};
use std::collections::HashMap;
use std::sync::Mutex;

/// Spend per budget period then id, per scope. Looked up without allocating.
type Amounts = [HashMap<Option<i64>, HashMap<String, f64>>; SCOPES];

fn empty() -> Amounts {
    Default::default()
}

fn amount(a: &Amounts, scope: Scope, id: &str, period: Option<i64>) -> f64 {
    a[slot(scope)]
        .get(&period)
        .and_then(|ids| ids.get(id))
        .copied()
        .unwrap_or(0.0)
}

fn is_empty(a: &Amounts) -> bool {
    a.iter()
        .all(|periods| periods.values().all(HashMap::is_empty))
}

/// A batch on its way to Redis (or waiting to be sent again).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Batch {
    /// Increasing per replica; Redis skips a number it has applied.
    pub seq: u64,
    /// (scope, id, period, spend).
    pub items: Vec<(Scope, String, Option<i64>, f64)>,
}

#[derive(Debug, Default)]
struct State {
    /// Settled since the current batch was taken.
    open: Amounts,
    /// The batch being sent, or waiting to be sent again: its number and amounts never change.
    sending: Option<(u64, Amounts)>,
    last_seq: u64,
}

/// Spend not in Redis yet.
#[derive(Debug, Default)]
pub(crate) struct Unshared {
    state: Mutex<State>,
}

impl Unshared {
    pub(crate) fn new() -> Unshared {
        Unshared {
            state: Mutex::new(State {
                open: empty(),
                sending: None,
                last_seq: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spend settled here for a scope's period, to be shared.
    pub(crate) fn add(&self, scope: Scope, id: &str, period: Option<i64>, spend: f64) {
        if spend == 0.0 || !spend.is_finite() {
            return;
        }
        let mut st = self.lock();
        let ids = st.open[slot(scope)].entry(period).or_default();
        match ids.get_mut(id) {
            Some(v) => *v += spend,
            None => {
                ids.insert(id.to_string(), spend);
            }
        }
    }

    /// What this replica settled for the scope's period that Redis does not have (as far as it
    /// knows): pending and in the batch under way.
    pub(crate) fn total(&self, scope: Scope, id: &str, period: Option<i64>) -> f64 {
        let st = self.lock();
        let sending = st
            .sending
            .as_ref()
            .map_or(0.0, |(_, a)| amount(a, scope, id, period));
        amount(&st.open, scope, id, period) + sending
    }

    /// All spend not shared yet, in USD (for a metric).
    pub(crate) fn sum(&self) -> f64 {
        let st = self.lock();
        let sum = |a: &Amounts| -> f64 {
            a.iter()
                .flat_map(|periods| periods.values())
                .flat_map(|ids| ids.values())
                .sum()
        };
        sum(&st.open) + st.sending.as_ref().map_or(0.0, |(_, a)| sum(a))
    }

    /// The batch to send: the one under way (again, unchanged), else everything pending as a new
    /// batch; `None` when there is nothing to share.
    pub(crate) fn batch(&self) -> Option<Batch> {
        let mut st = self.lock();
        if st.sending.is_none() {
            if is_empty(&st.open) {
                return None;
            }
            st.last_seq += 1;
            let open = std::mem::replace(&mut st.open, empty());
            st.sending = Some((st.last_seq, open));
        }
        let (seq, amounts) = st.sending.as_ref()?;
        let scopes = [Scope::Key, Scope::Team, Scope::Model];
        let items = scopes
            .iter()
            .flat_map(|&scope| {
                amounts[slot(scope)].iter().flat_map(move |(period, ids)| {
                    ids.iter()
                        .map(move |(id, spend)| (scope, id.clone(), *period, *spend))
                })
            })
            .collect();
        Some(Batch { seq: *seq, items })
    }

    /// Redis answered for batch `seq`: it is shared.
    pub(crate) fn shared(&self, seq: u64) {
        let mut st = self.lock();
        if st.sending.as_ref().is_some_and(|(s, _)| *s == seq) {
            st.sending = None;
        }
    }

    /// An admin set the spend by hand (or the key is gone): what was not shared of it is moot.
    pub(crate) fn forget(&self, scope: Scope, id: &str) {
        let mut st = self.lock();
        let State { open, sending, .. } = &mut *st;
        for ids in open[slot(scope)].values_mut() {
            ids.remove(id);
        }
        if let Some((_, amounts)) = sending {
            for ids in amounts[slot(scope)].values_mut() {
                ids.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_resent_unchanged_until_shared_and_new_spend_waits_for_the_next() {
        let u = Unshared::new();
        assert!(u.batch().is_none(), "nothing to share");
        u.add(Scope::Key, "k", Some(10), 0.5);
        u.add(Scope::Key, "k", Some(10), 0.25);
        u.add(Scope::Team, "t", None, 1.0);
        let first = u.batch().unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.items.len(), 2);
        // Redis is down: more spend arrives, the same batch goes out again.
        u.add(Scope::Key, "k", Some(10), 2.0);
        assert_eq!(u.batch().unwrap(), first);
        assert_eq!(u.total(Scope::Key, "k", Some(10)), 2.75);
        assert_eq!(u.sum(), 3.75);
        // An answer for another batch changes nothing; the right one clears it.
        u.shared(7);
        assert_eq!(u.batch().unwrap(), first);
        u.shared(1);
        let second = u.batch().unwrap();
        assert_eq!(second.seq, 2);
        assert_eq!(
            second.items,
            vec![(Scope::Key, "k".to_string(), Some(10), 2.0)]
        );
        u.shared(2);
        assert!(u.batch().is_none(), "nothing left");
        assert_eq!(u.sum(), 0.0);
    }

    #[test]
    fn totals_are_per_period_and_forget_drops_a_scope() {
        let u = Unshared::new();
        u.add(Scope::Key, "k", Some(1), 1.0);
        u.add(Scope::Key, "k", Some(2), 2.0);
        u.add(Scope::Model, "k/m", Some(1), 4.0);
        u.add(Scope::Key, "k", Some(1), f64::NAN);
        assert_eq!(u.total(Scope::Key, "k", Some(1)), 1.0);
        assert_eq!(u.total(Scope::Key, "k", Some(2)), 2.0);
        assert_eq!(u.total(Scope::Team, "k", Some(1)), 0.0);
        let _ = u.batch();
        u.forget(Scope::Key, "k");
        assert_eq!(u.total(Scope::Key, "k", Some(1)), 0.0);
        assert_eq!(u.total(Scope::Model, "k/m", Some(1)), 4.0);
    }
}
