//! LiteLLM's duration strings (`30s`, `5m`, `1h`, `30d`, `2w`, `1mo`) and budget periods: when a
//! budget resets next. Pure functions, no clock of their own (callers pass `now`).

use crate::KeyError;
use std::time::Duration;
use time::OffsetDateTime;

/// Parses `<n><unit>` with unit `s`, `m`, `h`, `d`, `w` or `mo` (30 days); `n` a positive integer.
pub fn parse_duration(text: &str) -> Result<Duration, KeyError> {
    let t = text.trim();
    let bad = || {
        KeyError::InvalidRequest(format!(
            "invalid duration {t:?}: expected a number and a unit, e.g. 30s, 5m, 1h, 30d, 2w, 1mo"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "mo" => 30 * 86_400,
        _ => return Err(bad()),
    };
    // At most ~100 years: anything longer is a typo, and it keeps date arithmetic in range.
    match n.checked_mul(unit_secs) {
        Some(secs) if secs > 0 && secs <= 100 * 365 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(bad()),
    }
}

/// `now + d`, truncated to whole seconds (so every replica and Postgres agree on the value).
pub(crate) fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    let t = now + d;
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The first reset time after `now` on the schedule `reset_at + k·period` (k ≥ 1): deterministic,
/// so replicas that roll a budget over independently compute the same next reset.
pub(crate) fn next_reset(
    reset_at: OffsetDateTime,
    period: Duration,
    now: OffsetDateTime,
) -> OffsetDateTime {
    let p = period.as_secs().max(1) as i64;
    let behind = (now - reset_at).whole_seconds().max(0);
    let k = behind / p + 1;
    reset_at + time::Duration::seconds(k.saturating_mul(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_litellm_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(
            parse_duration("1mo").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "s",
            "10",
            "0s",
            "-1h",
            "1.5h",
            "1y",
            "99999999999999d",
            "1 h",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(matches!(err, KeyError::InvalidRequest(_)), "{bad}");
        }
    }

    #[test]
    fn next_reset_is_on_schedule() {
        let start = datetime!(2026-01-01 00:00:00 UTC);
        let hour = Duration::from_secs(3600);
        // Exactly at the reset: the next one is one period later.
        assert_eq!(
            next_reset(start, hour, start),
            datetime!(2026-01-01 01:00:00 UTC)
        );
        // Several periods behind: jumps to the first future slot of the same schedule.
        assert_eq!(
            next_reset(start, hour, datetime!(2026-01-01 05:30:00 UTC)),
            datetime!(2026-01-01 06:00:00 UTC)
        );
        assert_eq!(
            after(datetime!(2026-01-01 00:00:00.7 UTC), hour),
            datetime!(2026-01-01 01:00:00 UTC)
        );
    }
}
