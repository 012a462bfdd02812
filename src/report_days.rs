//! A usage report's or forecast's days counted in a time zone (`time_zone=` on `/v1/usage` and
//! `/v1/forecast`), as a budget with a `time_zone` counts its windows, rather than in UTC.
//!
//! The rollups are UTC hours. A report's day in a zone holds the hours that begin in it: the
//! SQL numbers each rollup hour by its local date, the offset at the hour's start written into
//! the query as a `CASE` over the offset changes in the report's range ([`day_number_sql`]), and
//! each day's row is then dated by its local midnight ([`Zone::first_instant_at`]). For a zone
//! whose midnights fall on whole UTC hours (most) that is exact. Where an offset has a half or a
//! quarter hour (Asia/Kolkata's midnight is 18:30 UTC) the hour a midnight falls in is counted in
//! the day it begins in; the report's bounds are rounded up to whole hours so that its first and
//! last days hold whole days of hours, not a stray hour of the days beside them
//! ([`round_bounds`]).

use crate::calendar::days_from_civil;
use crate::routing::local_time::Zone;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// The SQL expression numbering the local day (days since 1970-01-01 on the zone's clock) of
/// the rollup column `hour`, for hours in `[from, to)`. Only integers are written into it.
pub fn day_number_sql(zone: &Zone, from: i64, to: i64) -> String {
    let (first, changes) = offset_changes(zone, from, to);
    let offset = if changes.is_empty() {
        first.to_string()
    } else {
        let arms: String = changes
            .iter()
            .scan(first, |before, (at, after)| {
                let arm = format!(" WHEN hour < {at} THEN {before}");
                *before = *after;
                Some(arm)
            })
            .collect();
        format!("CASE{arms} ELSE {} END", changes.last().map_or(first, |c| c.1))
    };
    format!("((hour + ({offset})) / {DAY})")
}

/// The local midnight of local day `day` as a UTC instant (where the clock jumps over
/// midnight, the jump).
pub fn midnight(zone: &Zone, day: i64) -> i64 {
    zone.first_instant_at(day * DAY)
}

/// The offset at `from`, and each change of offset in `(from, to)`: its instant and the offset
/// from it on. Probed two days apart and bisected to the second: no zone changes its offset
/// twice in four days (as `Zone::first_instant_at` also takes).
fn offset_changes(zone: &Zone, from: i64, to: i64) -> (i32, Vec<(i64, i32)>) {
    let first = zone.offset_at(from);
    let (mut changes, mut at, mut offset) = (Vec::new(), from, first);
    while at < to {
        let next = (at + 2 * DAY).min(to);
        let probed = zone.offset_at(next);
        if probed != offset {
            // offset_at(before) is the old offset, offset_at(after) the new.
            let (mut before, mut after) = (at, next);
            while after - before > 1 {
                let mid = before + (after - before) / 2;
                if zone.offset_at(mid) == offset {
                    before = mid;
                } else {
                    after = mid;
                }
            }
            if after < to {
                changes.push((after, probed));
            }
            offset = probed;
        }
        at = next;
    }
    (first, changes)
}

/// A report's `[from, to)` as whole rollup hours, counted in a zone: the hours that begin within
/// it (both bounds rounded up), so that a range from one local midnight to another holds exactly
/// those days' hours; a range inside one hour is that hour.
pub fn round_bounds(from: i64, to: i64) -> (i64, i64) {
    let up = |t: i64| t + (HOUR - t.rem_euclid(HOUR)) % HOUR;
    let (from, to) = (up(from), up(to));
    (from.min(to - HOUR), to)
}

/// The local clock's seconds since 1970 for a date or date-time that names no zone or offset:
/// `2026-11-01`, `2026-11-01T09:30`, `2026-11-01T09:30:15` (or a space for the `T`). `None` for
/// anything else (a `Z` or an offset, another form, a day its month lacks, an hour past 23).
pub fn parse_local_date_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |at: usize, n: usize| -> Option<i64> {
        let d = b.get(at..at + n)?;
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0i64, |v, c| v * 10 + i64::from(c - b'0')))
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !crate::rollup::calendar_date_valid(&text[..10]) {
        return None;
    }
    let date = days_from_civil(year, month as u32, day as u32) * DAY;
    let clock = match b.len() {
        10 => 0,
        16 | 19 if matches!(b[10], b'T' | b' ') && b[13] == b':' => {
            let (hour, minute) = (digits(11, 2)?, digits(14, 2)?);
            let second = if b.len() == 19 {
                if b[16] != b':' {
                    return None;
                }
                digits(17, 2)?
            } else {
                0
            };
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            hour * HOUR + minute * 60 + second
        }
        _ => return None,
    };
    Some(date + clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::local_time::tests_support::unix;

    fn zone(name: &str) -> Zone {
        Zone::named(name).unwrap()
    }

    /// What SQLite makes of [`day_number_sql`] for one `hour`: the same arithmetic, read back
    /// from the text (integer division of positive numbers).
    fn evaluate(sql: &str, hour: i64) -> i64 {
        let inner = sql.strip_prefix("((hour + (").and_then(|s| s.strip_suffix(&format!(")) / {DAY})"))).expect("the expression's shape");
        let offset: i64 = match inner.strip_prefix("CASE") {
            None => inner.parse().unwrap(),
            Some(arms) => {
                let (arms, otherwise) = arms.rsplit_once(" ELSE ").unwrap();
                let otherwise: i64 = otherwise.strip_suffix(" END").unwrap().parse().unwrap();
                arms.split(" WHEN hour < ")
                    .skip(1)
                    .map(|arm| {
                        let (at, then) = arm.split_once(" THEN ").unwrap();
                        (at.parse::<i64>().unwrap(), then.parse::<i64>().unwrap())
                    })
                    .find(|(at, _)| hour < *at)
                    .map_or(otherwise, |(_, then)| then)
            }
        };
        (hour + offset) / DAY
    }

    #[test]
    fn each_hour_is_numbered_by_its_local_date_across_clock_changes() {
        // Two years of every hour in three zones: the local date the zone's clock shows at the
        // hour's start, through every change of 2027 and 2028 (Casablanca's listed ones too).
        let (from, to) = (unix(2027, 1, 1, 0, 0), unix(2029, 1, 1, 0, 0));
        for name in ["America/Los_Angeles", "Asia/Kolkata", "Africa/Casablanca", "Australia/Lord_Howe", "UTC"] {
            let z = zone(name);
            let sql = day_number_sql(&z, from, to);
            for hour in (from..to).step_by(HOUR as usize) {
                let local = hour + i64::from(z.offset_at(hour));
                assert_eq!(evaluate(&sql, hour), local.div_euclid(DAY), "{name} at {hour}: {sql}");
            }
        }
        // Los Angeles changes four times in two years; UTC never.
        assert_eq!(day_number_sql(&zone("America/Los_Angeles"), from, to).matches(" WHEN ").count(), 4);
        assert_eq!(day_number_sql(&zone("UTC"), from, to), "((hour + (0)) / 86400)");
    }

    #[test]
    fn a_change_exactly_at_a_bound_is_not_an_arm() {
        // Los Angeles springs forward at 2027-03-14 10:00 UTC: a range ending there has no
        // change in it, one starting there starts at the new offset.
        let la = zone("America/Los_Angeles");
        let change = unix(2027, 3, 14, 10, 0);
        assert_eq!(day_number_sql(&la, change - 30 * DAY, change), "((hour + (-28800)) / 86400)");
        assert_eq!(day_number_sql(&la, change, change + 30 * DAY), "((hour + (-25200)) / 86400)");
        let across = day_number_sql(&la, change - DAY, change + DAY);
        assert_eq!(across, format!("((hour + (CASE WHEN hour < {change} THEN -28800 ELSE -25200 END)) / 86400)"));
    }

    #[test]
    fn midnights_are_the_zones_own() {
        let la = zone("America/Los_Angeles");
        // 2027-03-14, the day Los Angeles springs forward: 23 hours from its midnight (08:00 UTC).
        let day = days_from_civil(2027, 3, 14);
        assert_eq!(midnight(&la, day), unix(2027, 3, 14, 8, 0));
        assert_eq!(midnight(&la, day + 1) - midnight(&la, day), 23 * HOUR);
        assert_eq!(midnight(&zone("Asia/Kolkata"), day), unix(2027, 3, 13, 18, 30));
    }

    #[test]
    fn bounds_round_up_to_the_hours_that_begin_in_them() {
        let kolkata_midnight = unix(2027, 3, 13, 18, 30);
        assert_eq!(round_bounds(kolkata_midnight, kolkata_midnight + DAY), (kolkata_midnight + 1800, kolkata_midnight + DAY + 1800));
        let whole = unix(2027, 3, 14, 8, 0);
        assert_eq!(round_bounds(whole, whole + DAY), (whole, whole + DAY));
        // Inside one hour: that hour.
        assert_eq!(round_bounds(whole + 60, whole + 120), (whole, whole + HOUR));
        assert_eq!(round_bounds(whole - 60, whole + 60), (whole, whole + HOUR));
    }

    #[test]
    fn local_dates_and_times_without_a_zone_are_read() {
        let day = days_from_civil(2026, 11, 1) * DAY;
        assert_eq!(parse_local_date_time("2026-11-01"), Some(day));
        assert_eq!(parse_local_date_time("2026-11-01T09:30"), Some(day + 9 * HOUR + 1800));
        assert_eq!(parse_local_date_time("2026-11-01 09:30:15"), Some(day + 9 * HOUR + 1815));
        assert_eq!(parse_local_date_time("2028-02-29T23:59:59"), Some(days_from_civil(2028, 2, 29) * DAY + DAY - 1));
        for other in [
            "2026-11-01Z",
            "2026-11-01T09:30Z",
            "2026-11-01T09:30:00+02:00",
            "2026-11-01T09:30:00.5",
            "2026-02-30",
            "2026-13-01",
            "2026-11-01T24:00",
            "2026-11-01T09:60",
            "2026-11-01T09:30:60",
            "2026-11-01X09:30",
            "2026-11-01T09-30",
            "2026-11-01T09:30-15",
            "2026/11/01",
            "1793491200",
            "",
        ] {
            assert_eq!(parse_local_date_time(other), None, "{other}");
        }
    }
}
