//! Router state in this process: per-deployment minute windows (rpm/tpm), in-flight counts,
//! failure counts, cooldowns and prompt-cache affinity. One short mutex section per operation, no
//! await while holding it. Used alone without Redis, and as the stand-in while Redis is down.

use super::{AcquireRequest, Acquired, CooldownRule};
use crate::clock::minute_of;
use crate::strategy::View;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default, Clone)]
struct Slot {
    minute: u64,
    rpm: u64,
    tpm: u64,
    in_flight: u64,
    fail_minute: u64,
    fails: u32,
    /// Cooling down until this time (ms), after failing at `failed_at`.
    cooling_until: u64,
    failed_at: u64,
}

impl Slot {
    fn roll(&mut self, minute: u64) {
        if self.minute != minute {
            self.minute = minute;
            self.rpm = 0;
            self.tpm = 0;
        }
    }

    fn cooling(&self, now_ms: u64) -> bool {
        self.cooling_until > now_ms
    }

    fn view(&self, now_ms: u64) -> View {
        let current = self.minute == minute_of(now_ms);
        View {
            in_flight: self.in_flight,
            rpm_used: if current { self.rpm } else { 0 },
            tpm_used: if current { self.tpm } else { 0 },
            cooling: self.cooling(now_ms),
        }
    }
}

/// Has room for one more request of `est` tokens under the limits.
pub(crate) fn has_room(
    rpm_used: u64,
    tpm_used: u64,
    rpm: Option<u64>,
    tpm: Option<u64>,
    est: u64,
) -> bool {
    rpm.is_none_or(|l| rpm_used < l) && tpm.is_none_or(|l| tpm_used + est <= l)
}

#[derive(Debug, Default)]
pub struct LocalState {
    /// Keyed by deployment id (from the config, never from a client): foldhash, not SipHash.
    slots: Mutex<foldhash::HashMap<String, Slot>>,
    /// Prompt-prefix key → (deployment id, expires at ms).
    affinity: Mutex<HashMap<String, (String, u64)>>,
}

impl LocalState {
    pub fn new() -> LocalState {
        LocalState::default()
    }

    pub fn acquire(&self, req: &AcquireRequest<'_>) -> (Acquired, Vec<View>) {
        let now = req.now_ms;
        let minute = minute_of(now);
        let preferred = req.affinity_key.and_then(|k| {
            let map = self.affinity.lock().unwrap_or_else(|e| e.into_inner());
            map.get(k)
                .filter(|(_, exp)| *exp > now)
                .map(|(id, _)| id.clone())
        });
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for s in &req.slots {
            // No key allocated per request: a deployment's slot is inserted once.
            match slots.get_mut(s.id) {
                Some(slot) => slot.roll(minute),
                None => {
                    let mut slot = Slot::default();
                    slot.roll(minute);
                    slots.insert(s.id.to_owned(), slot);
                }
            }
        }
        let eligible = |slots: &foldhash::HashMap<String, Slot>, i: usize| {
            let s = &req.slots[i];
            let st = &slots[s.id];
            !st.cooling(now) && has_room(st.rpm, st.tpm, s.rpm, s.tpm, req.est_tokens)
        };
        let mut chosen = preferred
            .and_then(|p| req.slots.iter().position(|s| s.id == p))
            .filter(|&i| eligible(&slots, i));
        if chosen.is_none() {
            chosen = (0..req.slots.len()).find(|&i| eligible(&slots, i));
        }
        let mut was_cooling = false;
        if chosen.is_none() {
            // Everything is cooling down or full: the least recently failed one with room.
            chosen = (0..req.slots.len())
                .filter(|&i| {
                    let s = &req.slots[i];
                    let st = &slots[s.id];
                    st.cooling(now) && has_room(st.rpm, st.tpm, s.rpm, s.tpm, req.est_tokens)
                })
                .min_by_key(|&i| slots[req.slots[i].id].failed_at);
            was_cooling = chosen.is_some();
        }
        if let Some(i) = chosen {
            let st = slots.get_mut(req.slots[i].id).expect("rolled above");
            st.rpm += 1;
            st.tpm += req.est_tokens;
            st.in_flight += 1;
        }
        let views = req.slots.iter().map(|s| slots[s.id].view(now)).collect();
        let acquired = match chosen {
            Some(pos) => Acquired::Chosen { pos, was_cooling },
            None => Acquired::Full,
        };
        (acquired, views)
    }

    pub fn peek(&self, ids: &[&str], now_ms: u64) -> Vec<View> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| slots.get(*id).map(|s| s.view(now_ms)).unwrap_or_default())
            .collect()
    }

    pub fn release(&self, id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(id) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }

    /// Corrects the tokens counted for `minute` (actual − estimate).
    pub fn add_tokens(&self, id: &str, minute: u64, delta: i64) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(id) {
            if s.minute == minute {
                s.tpm = s.tpm.saturating_add_signed(delta);
            }
        }
    }

    /// Counts a failure; cools the deployment down when this minute's failures exceed the
    /// rule's `allowed_fails`. Returns whether it is now cooling down.
    pub fn record_failure(&self, id: &str, rule: CooldownRule, now_ms: u64) -> bool {
        let CooldownRule {
            allowed_fails,
            cooldown_ms,
        } = rule;
        let minute = minute_of(now_ms);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let s = slots.entry(id.to_string()).or_default();
        if s.fail_minute != minute {
            s.fail_minute = minute;
            s.fails = 0;
        }
        s.fails += 1;
        if s.fails > allowed_fails && cooldown_ms > 0 {
            s.cooling_until = now_ms + cooldown_ms;
            s.failed_at = now_ms;
            s.fails = 0;
            return true;
        }
        false
    }

    /// Drops a deployment's cooldown and failure count (it changed: it starts afresh).
    pub fn forget_failures(&self, id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(id) {
            s.cooling_until = 0;
            s.failed_at = 0;
            s.fails = 0;
        }
    }

    /// Cools `id` down for `cooldown_ms` from now (a failed health probe), whatever its failure
    /// count.
    pub fn set_cooldown(&self, id: &str, cooldown_ms: u64, now_ms: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let s = slots.entry(id.to_string()).or_default();
        s.cooling_until = now_ms + cooldown_ms;
        s.failed_at = now_ms;
        s.fails = 0;
    }

    /// Ends `id`'s cooldown (a passing health probe).
    pub fn clear_cooldown(&self, id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(id) {
            s.cooling_until = 0;
        }
    }

    /// Remaining cooldown per id (ms), `None` when not cooling.
    pub fn cooldowns(&self, ids: &[&str], now_ms: u64) -> Vec<Option<u64>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|id| {
                slots
                    .get(*id)
                    .filter(|s| s.cooling(now_ms))
                    .map(|s| s.cooling_until - now_ms)
            })
            .collect()
    }

    pub fn set_affinity(&self, key: &str, id: &str, now_ms: u64, ttl_ms: u64) {
        let mut map = self.affinity.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, exp)| *exp > now_ms);
        }
        map.insert(key.to_string(), (id.to_string(), now_ms + ttl_ms));
    }
}
