//! A usage report's or forecast's days, weeks and months, counted in UTC or in a time zone
//! (`time_zone=` on `/v1/usage` and `/v1/forecast`), as a budget with a `time_zone` counts its
//! windows.
//!
//! The rollups are UTC hours. A report's day holds the hours that begin in it: the SQL numbers
//! each rollup hour by its local date, the offset at the hour's start written into the query as
//! a `CASE` over the offset changes in the report's range ([`day_number_sql`]); a week is
//! numbered by its Monday, a month by its first day ([`Buckets`]), and each row is then dated by
//! that day's local midnight ([`day_start`]). For a zone whose midnights fall on
//! whole UTC hours (most) that is exact. Where an offset has a half or a quarter hour
//! (Asia/Kolkata's midnight is 18:30 UTC) the hour a midnight falls in is counted in the day it
//! begins in; the report's bounds are rounded up to whole hours so that its first and last days
//! hold whole days of hours, not a stray hour of the days beside them ([`round_bounds`]).

use crate::budget::Window;
use crate::calendar::days_from_civil;
use crate::rollup::Granularity;
use crate::routing::local_time::{day_start, local_day, Zone};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// How a report groups the rollup hours: the SQL of each row's `start` key
/// (`crate::rollup::query`), and how a key becomes the bucket's start.
#[derive(Debug)]
pub struct Buckets<'z> {
    pub sql: String,
    zone: Option<&'z Zone>,
    /// Whether the key is a local day number (days, weeks and months), to be dated by its
    /// midnight; else it is the start itself (hours, the whole range).
    numbers_days: bool,
}

impl<'z> Buckets<'z> {
    /// The buckets of `granularity` over the hours in `[from, to)`, counted in `zone` (UTC when
    /// none). Only integers are written into the SQL.
    pub fn new(granularity: Granularity, zone: Option<&'z Zone>, from: i64, to: i64) -> Buckets<'z> {
        let day = || zone.map_or_else(|| format!("(hour / {DAY})"), |z| day_number_sql(z, from, to));
        let (sql, numbers_days) = match granularity {
            Granularity::Hour => ("hour".to_string(), false),
            Granularity::Total => ("0".to_string(), false),
            Granularity::Day => (day(), true),
            // Day 0, 1970-01-01, was a Thursday (ISO weekday 4): (day + 4 - starts_on) % 7 is 0
            // on the weeks' first day (on Mondays, (day + 3) % 7).
            Granularity::Week { starts_on } => (format!("({d} - (({d} + {k}) % 7))", d = day(), k = (4 - i64::from(starts_on)).rem_euclid(7)), true),
            Granularity::Month => (month_start_sql(zone, from, to), true),
        };
        Buckets { sql, zone, numbers_days }
    }

    /// The start (unix seconds) of the bucket whose key the query gave.
    pub fn start(&self, key: i64) -> i64 {
        if self.numbers_days {
            day_start(self.zone, key)
        } else {
            key
        }
    }
}

/// The local day number of the first day of the month holding each rollup hour in `[from, to)`:
/// a `CASE` over the months' first midnights, the latest first (the ledger writes it over the
/// span rows can be in, `crate::rollup::filed_span`, so a row meets its month within a few arms).
fn month_start_sql(zone: Option<&Zone>, from: i64, to: i64) -> String {
    let (first, mut end) = Window::Monthly.bounds_in(from, 1, zone);
    let mut later = Vec::new();
    while end < to {
        later.push(end);
        end = Window::Monthly.bounds_in(end, 1, zone).1;
    }
    let arms: String = later.iter().rev().map(|s| format!(" WHEN hour >= {s} THEN {}", local_day(zone, *s))).collect();
    if arms.is_empty() {
        return local_day(zone, first).to_string();
    }
    format!("(CASE{arms} ELSE {} END)", local_day(zone, first))
}

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

/// The instant an ISO 8601 date-time with a `Z` or a UTC offset names: `2026-11-01T09:30Z`,
/// `2026-11-01T09:30:00.5+05:30`, `-0800` or `+09` (V8's parser refuses the last two forms), the
/// part before it as [`parse_local_date_time`] reads it. `None` for anything else.
pub fn parse_date_time_with_offset(text: &str) -> Option<i64> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return parse_local_date_time(local).filter(|_| local.len() > 10);
    }
    // The sign is past the date's own hyphens: in the time, from byte 11 on.
    let sign_at = text.get(11..)?.rfind(['+', '-'])? + 11;
    let (local, offset) = (&text[..sign_at], &text.as_bytes()[sign_at + 1..]);
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0i64, |v, c| v * 10 + i64::from(c - b'0')));
    let (hours, minutes) = match offset.len() {
        2 => (digits(offset)?, 0),
        4 => (digits(&offset[..2])?, digits(&offset[2..])?),
        5 if offset[2] == b':' => (digits(&offset[..2])?, digits(&offset[3..])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 || local.len() <= 10 {
        return None;
    }
    let east = (hours * HOUR + minutes * 60) * if text.as_bytes()[sign_at] == b'-' { -1 } else { 1 };
    Some(parse_local_date_time(local)? - east)
}

/// The local clock's seconds since 1970 for a date or date-time that names no zone or offset:
/// `2026-11-01`, `2026-11-01T09:30`, `2026-11-01T09:30:15`, `2026-11-01T09:30:15.123456` (a
/// fraction of a second is dropped; a space or `t` may stand for the `T`). `None` for anything
/// else (a `Z` or an offset, another form, a day its month lacks, an hour past 23).
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
    // A fraction of a second (1-9 digits, as Python's isoformat writes microseconds) is dropped.
    let whole = match text.get(19..).and_then(|f| f.strip_prefix('.')) {
        Some(fraction) if (1..=9).contains(&fraction.len()) && fraction.bytes().all(|c| c.is_ascii_digit()) => 19,
        _ => b.len(),
    };
    let clock = match whole {
        10 => 0,
        16 | 19 if matches!(b[10], b'T' | b't' | b' ') && b[13] == b':' => {
            let (hour, minute) = (digits(11, 2)?, digits(14, 2)?);
            let second = if whole == 19 {
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

    /// `WHEN hour < 123 THEN 4` (or `>=`) arms and an `ELSE`, read back as (bound, value) pairs.
    fn arms(case: &str, comparison: &str) -> (Vec<(i64, i64)>, i64) {
        let (arms, otherwise) = case.rsplit_once(" ELSE ").unwrap();
        let when = format!(" WHEN hour {comparison} ");
        let arms = arms.split(&when).skip(1).map(|arm| arm.split_once(" THEN ").map(|(at, then)| (at.parse().unwrap(), then.parse().unwrap())).unwrap());
        (arms.collect(), otherwise.trim_end_matches(" END)").trim_end_matches(" END").parse().unwrap())
    }

    /// What SQLite makes of a bucket's SQL for an `hour`, read back from the text in the shapes
    /// [`day_number_sql`] and [`Buckets`] write (integer division of positive numbers).
    fn compile(sql: &str) -> Box<dyn Fn(i64) -> i64> {
        if sql == "(hour / 86400)" {
            return Box::new(|hour| hour / DAY);
        }
        if let Ok(day) = sql.parse::<i64>() {
            return Box::new(move |_| day);
        }
        if let Some(case) = sql.strip_prefix("(CASE") {
            let (arms, otherwise) = arms(case, ">=");
            return Box::new(move |hour| arms.iter().find(|(at, _)| hour >= *at).map_or(otherwise, |(_, then)| *then));
        }
        if let Some(k) = sql.strip_suffix(") % 7))").and_then(|s| s.rsplit_once(" + ")).and_then(|(_, k)| k.parse::<i64>().ok()) {
            let day = compile(sql[1..].split_once(" - ((").unwrap().0);
            return Box::new(move |hour| day(hour) - (day(hour) + k) % 7);
        }
        let inner = sql.strip_prefix("((hour + (").and_then(|s| s.strip_suffix(&format!(")) / {DAY})"))).expect("the expression's shape");
        match inner.strip_prefix("CASE") {
            None => {
                let offset: i64 = inner.parse().unwrap();
                Box::new(move |hour| (hour + offset) / DAY)
            }
            Some(case) => {
                let (arms, otherwise) = arms(case, "<");
                Box::new(move |hour| (hour + arms.iter().find(|(at, _)| hour < *at).map_or(otherwise, |(_, then)| *then)) / DAY)
            }
        }
    }

    #[test]
    fn each_hour_is_numbered_by_its_local_date_across_clock_changes() {
        // Two years of every hour in three zones: the local date the zone's clock shows at the
        // hour's start, through every change of 2027 and 2028 (Casablanca's listed ones too).
        let (from, to) = (unix(2027, 1, 1, 0, 0), unix(2029, 1, 1, 0, 0));
        for name in ["America/Los_Angeles", "Asia/Kolkata", "Africa/Casablanca", "Australia/Lord_Howe", "UTC"] {
            let z = zone(name);
            let sql = day_number_sql(&z, from, to);
            let day = compile(&sql);
            for hour in (from..to).step_by(HOUR as usize) {
                let local = hour + i64::from(z.offset_at(hour));
                assert_eq!(day(hour), local.div_euclid(DAY), "{name} at {hour}: {sql}");
            }
        }
        // Los Angeles changes four times in two years; UTC never.
        assert_eq!(day_number_sql(&zone("America/Los_Angeles"), from, to).matches(" WHEN ").count(), 4);
        assert_eq!(day_number_sql(&zone("UTC"), from, to), "((hour + (0)) / 86400)");
    }

    #[test]
    fn days_weeks_and_months_start_at_the_zones_midnights() {
        // Every hour of 2027 and 2028: the bucket is the local day, its Monday, or its month's
        // first day, on the zone's clock at the hour's start, dated by that day's midnight.
        let (from, to) = (unix(2027, 1, 1, 0, 0) + 1800, unix(2029, 1, 1, 0, 0));
        let zones = [None, Some(zone("America/Los_Angeles")), Some(zone("Asia/Kolkata")), Some(zone("America/Santiago")), Some(zone("Australia/Lord_Howe"))];
        for z in &zones {
            let weeks = (1..=7).map(|starts_on| Granularity::Week { starts_on });
            for granularity in [Granularity::Day, Granularity::Month].into_iter().chain(weeks) {
                let buckets = Buckets::new(granularity, z.as_ref(), from, to);
                let bucket = compile(&buckets.sql);
                for hour in (from - 1800 + HOUR..to).step_by(HOUR as usize) {
                    let local = (hour + z.as_ref().map_or(0, |z| i64::from(z.offset_at(hour)))).div_euclid(DAY);
                    let (y, m, _) = crate::calendar::civil_from_days(local);
                    let want = match granularity {
                        Granularity::Day => local,
                        Granularity::Week { starts_on } => local - (crate::calendar::iso_weekday(local) - i64::from(starts_on)).rem_euclid(7),
                        _ => days_from_civil(y, m, 1),
                    };
                    let key = bucket(hour);
                    assert_eq!(key, want, "{:?} {granularity:?} at {hour}: {}", z.as_ref().map(|z| &z.name), buckets.sql);
                    let start = buckets.start(key);
                    assert_eq!(start, z.as_ref().map_or(want * DAY, |z| z.first_instant_at(want * DAY)));
                    assert!(start < hour + HOUR, "the hour begins in its bucket, or the bucket's midnight falls inside it");
                }
            }
        }
        // Hours and the whole range are their own keys.
        assert_eq!((Buckets::new(Granularity::Hour, None, from, to).sql.as_str(), Buckets::new(Granularity::Hour, None, from, to).start(7200)), ("hour", 7200));
        assert_eq!(Buckets::new(Granularity::Total, zones[1].as_ref(), from, to).sql, "0");
        // A month report from 2000 to 2100 (the widest range a report may name) stays well
        // within a Durable Object's 100 KB statement, its newest month the first arm.
        let la = zone("America/Los_Angeles");
        let widest = Buckets::new(Granularity::Month, Some(&la), unix(2000, 1, 1, 0, 0), unix(2100, 1, 1, 0, 0)).sql;
        // December 1999 there (00:00 UTC on New Year's Day is still its 31st) to December 2099.
        assert_eq!(widest.matches(" WHEN ").count(), 1_200);
        assert!(widest.len() < 64_000, "{}", widest.len());
        assert!(widest.starts_with(&format!("(CASE WHEN hour >= {} THEN {}", la.first_instant_at(days_from_civil(2099, 12, 1) * DAY), days_from_civil(2099, 12, 1))));
        let week = Buckets::new(Granularity::Week { starts_on: 7 }, Some(&la), unix(2000, 1, 1, 0, 0), unix(2100, 1, 1, 0, 0)).sql;
        assert!(week.len() < 64_000, "{}", week.len());
        // Inside one month: no CASE at all.
        assert_eq!(Buckets::new(Granularity::Month, None, unix(2027, 3, 2, 0, 0), unix(2027, 3, 9, 0, 0)).sql, days_from_civil(2027, 3, 1).to_string());
        // Nor up to the next month's midnight: that month holds no hour of the range, so no arm.
        assert_eq!(Buckets::new(Granularity::Month, None, unix(2027, 3, 2, 0, 0), unix(2027, 4, 1, 0, 0)).sql, days_from_civil(2027, 3, 1).to_string());
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
        assert_eq!(day_start(Some(&la), day), unix(2027, 3, 14, 8, 0));
        assert_eq!(day_start(Some(&la), day + 1) - day_start(Some(&la), day), 23 * HOUR);
        assert_eq!(day_start(Some(&zone("Asia/Kolkata")), day), unix(2027, 3, 13, 18, 30));
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
    fn an_offset_or_z_says_its_own_instant() {
        let at = |h: i64, m: i64| days_from_civil(2026, 11, 1) * DAY + h * HOUR + m * 60;
        for (text, instant) in [
            ("2026-11-01T09:30Z", at(9, 30)),
            ("2026-11-01t09:30:00.5z", at(9, 30)),
            ("2026-11-01T09:30:00+02:00", at(7, 30)),
            ("2026-11-01T09:30:00.123-08:00", at(17, 30)),
            ("2026-11-01T09:30-0530", at(15, 0)),
            ("2026-11-01 09:30+09", at(0, 30)),
            ("2026-11-01T09:30:00-08", at(17, 30)),
            // The widest offset read: 23 hours and 59 minutes.
            ("2026-11-01T09:30+23:59", at(9 - 23, 30 - 59)),
        ] {
            assert_eq!(parse_date_time_with_offset(text), Some(instant), "{text}");
        }
        // No offset, or none this reads: a date alone with one (V8 refuses it too), a bare or
        // malformed offset, the runtime's other forms, a leading space or sign before the year.
        for other in [
            "2026-11-01",
            "2026-11-01Z",
            "2026-11-01+02:00",
            "2026-11",
            "2026-11-01T09:30",
            "2026-11-01T09:30:00.123",
            "2026-11-01T09:30+2",
            "2026-11-01T09:30+02:0",
            "2026-11-01T09:30+24:00",
            "2026-11-01T09:30+02:60",
            "2026-11-01T09:30+02.00",
            "2026-11-01T09:30:00,5+01:00",
            "Sun, 01 Nov 2026 09:30:00 GMT",
            " 2026-11-01",
            "+002026-11-01T09:30Z",
            "2026-11-01T09:30:00é+01",
        ] {
            assert_eq!(parse_date_time_with_offset(other), None, "{other}");
        }
    }

    #[test]
    fn local_dates_and_times_without_a_zone_are_read() {
        let day = days_from_civil(2026, 11, 1) * DAY;
        assert_eq!(parse_local_date_time("2026-11-01"), Some(day));
        assert_eq!(parse_local_date_time("2026-11-01T09:30"), Some(day + 9 * HOUR + 1800));
        assert_eq!(parse_local_date_time("2026-11-01 09:30:15"), Some(day + 9 * HOUR + 1815));
        assert_eq!(parse_local_date_time("2028-02-29T23:59:59"), Some(days_from_civil(2028, 2, 29) * DAY + DAY - 1));
        // Python's isoformat with microseconds, and RFC 3339's lower-case t.
        assert_eq!(parse_local_date_time("2026-11-01T09:30:15.123456"), Some(day + 9 * HOUR + 1815));
        assert_eq!(parse_local_date_time("2026-11-01t09:30:15.5"), Some(day + 9 * HOUR + 1815));
        for other in [
            "2026-11-01Z",
            "2026-11-01T09:30Z",
            "2026-11-01T09:30:00+02:00",
            "2026-11-01T09:30:00.5Z",
            "2026-11-01T09:30:00.",
            "2026-11-01T09:30:00.1234567890",
            "2026-11-01T09:30.5",
            "2026-11",
            "2026-02-30",
            "2026-13-01",
            "2026-11-01T24:00",
            "2026-11-01T09:60",
            "2026-11-01T09:30:60",
            "2026-11-01X09:30",
            "2026-11-01T09-30",
            "2026-11-01T09:30-15",
            "2026/11/01",
            "2026-11/01",
            "1793491200",
            "",
        ] {
            assert_eq!(parse_local_date_time(other), None, "{other}");
        }
    }
}
