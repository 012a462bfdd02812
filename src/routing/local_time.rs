//! The local time in a named time zone, for policies that route by a tenant's working hours.
//!
//! A zone is its current rule as a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3": standard time
//! one hour east of UTC, summer time from the last Sunday of March at 02:00 to the last Sunday
//! of October at 03:00), read from `time_zones/zones.tsv`, which `scripts/gen-time-zones.py`
//! takes from the footers of the tz database's files. A rule is judged at the moment a request
//! arrives, so the database's history is not needed, and the whole table is 21 KB where the
//! database would not fit beside the bundle. What the current rule cannot say (Morocco's
//! Ramadan hour, written into the database year by year) is listed in `zones.tsv` as explicit
//! changes after the rule (see [`Zone`]).

use std::fmt;

use crate::calendar::{civil_from_days, days_from_civil, is_leap, iso_weekday};

const ZONES: &str = include_str!("time_zones/zones.tsv");

/// A named zone: its POSIX rule, and the changes of offset the rule does not describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    rule: Rule,
    /// `(from unix time, offset in seconds east of UTC)`, ascending: where one applies, it holds
    /// until the next one's time; after the last the rule applies again (it is the rule's own
    /// offset by then, as the database's last change returns to it).
    exceptions: Vec<(i64, i32)>,
}

/// The date and hour somewhere, as a condition reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday ... 6 = Sunday.
    pub weekday: u8,
    pub hour: u8,
    pub minute: u8,
    /// Seconds east of UTC at that moment.
    pub offset: i32,
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Zone {
    /// The zone named `name` (as the tz database spells it, e.g. `America/New_York`; `UTC`), or
    /// an error that says why not and suggests a name when the case or a part is off.
    pub fn named(name: &str) -> Result<Zone, String> {
        let line = ZONES.lines().filter(|l| !l.starts_with('#')).find(|l| l.split('\t').next() == Some(name));
        let Some(line) = line else {
            let hint = ZONES
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split('\t').next())
                .find(|known| known.eq_ignore_ascii_case(name) || known.rsplit('/').next().is_some_and(|city| city.eq_ignore_ascii_case(name.rsplit('/').next().unwrap_or(name))))
                .map(|known| format!(" (did you mean '{known}'?)"))
                .unwrap_or_default();
            return Err(format!("'{name}' is no time zone of the tz database{hint}; name one as 'Area/City', such as 'Europe/Berlin' or 'America/New_York', or 'UTC'"));
        };
        let mut fields = line.split('\t').skip(1);
        let rule_text = fields.next().unwrap_or_default();
        let rule = Rule::parse(rule_text).map_err(|e| format!("time zone '{name}': its rule '{rule_text}' could not be read: {e}"))?;
        let mut exceptions = Vec::new();
        for change in fields {
            let parsed = change.split_once(':').and_then(|(t, o)| Some((t.parse::<i64>().ok()?, o.parse::<i32>().ok()?)));
            exceptions.push(parsed.ok_or_else(|| format!("time zone '{name}': a change '{change}' is not unix-time:offset"))?);
        }
        Ok(Zone { name: name.to_string(), rule, exceptions })
    }

    /// Seconds east of UTC at `unix`.
    pub fn offset_at(&self, unix: i64) -> i32 {
        match self.exceptions.iter().rposition(|(from, _)| *from <= unix) {
            Some(i) if i + 1 < self.exceptions.len() => self.exceptions[i].1,
            _ => self.rule.offset_at(unix),
        }
    }

    /// The first instant whose local time is `local` (seconds since 1970 on the local clock) or
    /// later: a local midnight, as a UTC instant. Where the clock goes back over it, its first
    /// occurrence; where the clock jumps over it (Santiago's spring change at 24:00), the jump.
    pub fn first_instant_at(&self, local: i64) -> i64 {
        // The offsets two days either side: no zone changes its offset twice in four days.
        let offsets = [self.offset_at(local - 2 * 86_400), self.offset_at(local + 2 * 86_400)];
        let exact = offsets.iter().map(|o| local - i64::from(*o)).filter(|t| t + i64::from(self.offset_at(*t)) == local).min();
        if let Some(t) = exact {
            return t;
        }
        // Skipped by the clock: the change itself, the first instant past it on the clock.
        let (mut before, mut after) = (local - i64::from(*offsets.iter().max().expect("two")), local - i64::from(*offsets.iter().min().expect("two")));
        while after - before > 1 {
            let mid = before + (after - before) / 2;
            if mid + i64::from(self.offset_at(mid)) >= local {
                after = mid;
            } else {
                before = mid;
            }
        }
        after
    }

    pub fn local(&self, unix: i64) -> LocalTime {
        let offset = self.offset_at(unix);
        let local = unix + i64::from(offset);
        let secs = local.rem_euclid(86_400);
        LocalTime { weekday: (iso_weekday(local.div_euclid(86_400)) - 1) as u8, hour: (secs / 3600) as u8, minute: (secs % 3600 / 60) as u8, offset }
    }
}

/// The local day (days since 1970-01-01 on the clock of `zone`, UTC's when none) holding `unix`.
pub fn local_day(zone: Option<&Zone>, unix: i64) -> i64 {
    zone.map_or(unix, |z| unix + i64::from(z.offset_at(unix))).div_euclid(86_400)
}

/// The instant local day `day` begins in `zone` (UTC's when none): its midnight, or where the
/// clock jumps over midnight, the jump ([`Zone::first_instant_at`]).
pub fn day_start(zone: Option<&Zone>, day: i64) -> i64 {
    zone.map_or(day * 86_400, |z| z.first_instant_at(day * 86_400))
}

/// A zone kept by its name, as a stored budget keeps it: read back even when the table no longer
/// knows the name (a later tzdata that dropped it), then judged as UTC, so that a stored value
/// always loads; a new one is checked where it is set ([`Zone::named`]).
#[derive(Debug, Clone)]
pub struct ZoneName {
    pub name: String,
    pub zone: Option<Zone>,
}

impl PartialEq for ZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl serde::Serialize for ZoneName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for ZoneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let zone = Zone::named(&name).ok();
        Ok(ZoneName { name, zone })
    }
}

/// A zone is written as its name (a price table's off-peak block shows it so).
impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:02}:{:02}", WEEKDAYS[usize::from(self.weekday)], self.hour, self.minute)
    }
}

/// A POSIX TZ rule: `std offset [dst [offset] [,start[/time],end[/time]]]` (POSIX.1-2017 8.3,
/// with RFC 8536's extension of transition hours to -167..167).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Standard time's offset, seconds east of UTC (POSIX writes it west: `EST5` is -18000).
    std_offset: i32,
    summer: Option<Summer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Summer {
    offset: i32,
    /// In standard local time.
    start: Transition,
    /// In summer local time.
    end: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transition {
    day: Day,
    /// Seconds after the day's local midnight (may be negative or past a day).
    time: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    /// `Jn`: 1..=365, February 29 never counted.
    JulianNoLeap(u16),
    /// `n`: 0..=365, February 29 counted.
    Julian(u16),
    /// `Mm.w.d`: month 1..=12, week 1..=5 (5 = the last), weekday 0 = Sunday.
    MonthWeek { month: u8, week: u8, weekday: u8 },
}

impl Rule {
    fn parse(s: &str) -> Result<Rule, String> {
        let mut p = Cursor { s: s.as_bytes(), at: 0 };
        p.name()?;
        let std_offset = -p.offset()?;
        if p.done() {
            return Ok(Rule { std_offset, summer: None });
        }
        p.name()?;
        let summer_offset = if p.peek().is_some_and(|c| c != b',') { -p.offset()? } else { std_offset + 3600 };
        // A summer time without dates: POSIX leaves the default to the implementation, and the
        // database never writes one.
        p.expect(b',')?;
        let start = p.transition()?;
        p.expect(b',')?;
        let end = p.transition()?;
        if !p.done() {
            return Err(format!("unexpected '{}' after the rule", &s[p.at..]));
        }
        Ok(Rule { std_offset, summer: Some(Summer { offset: summer_offset, start, end }) })
    }

    fn offset_at(&self, unix: i64) -> i32 {
        let Some(summer) = &self.summer else { return self.std_offset };
        let year = civil_from_days((unix + i64::from(self.std_offset)).div_euclid(86_400)).0;
        // Judged in the local year, with the transitions of that year and the ones next to it, so
        // that a change near New Year (or a time of day past 24:00) falls where it belongs.
        let mut changes: Vec<(i64, bool)> = Vec::with_capacity(6);
        for y in [year - 1, year, year + 1] {
            changes.push((summer.start.at(y) - i64::from(self.std_offset), true));
            changes.push((summer.end.at(y) - i64::from(summer.offset), false));
        }
        changes.sort_by_key(|(t, _)| *t);
        match changes.iter().rev().find(|(t, _)| *t <= unix) {
            Some((_, true)) => summer.offset,
            _ => self.std_offset,
        }
    }
}

impl Transition {
    /// The transition in `year`, as seconds since 1970-01-01 in the local time it is given in.
    fn at(&self, year: i64) -> i64 {
        let day = match self.day {
            Day::JulianNoLeap(n) => {
                // Day n of a 365-day year: from March on, a leap year's February 29 is skipped.
                let skip = i64::from(is_leap(year) && n >= 60);
                days_from_civil(year, 1, 1) + i64::from(n) - 1 + skip
            }
            Day::Julian(n) => days_from_civil(year, 1, 1) + i64::from(n),
            Day::MonthWeek { month, week, weekday } => {
                let first = days_from_civil(year, u32::from(month), 1);
                // POSIX counts weekdays from Sunday, 0.
                let first_weekday = iso_weekday(first) % 7;
                let mut day = first + (i64::from(weekday) - first_weekday).rem_euclid(7) + 7 * (i64::from(week) - 1);
                if week == 5 {
                    let next_month = if month == 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, u32::from(month) + 1, 1) };
                    while day >= next_month {
                        day -= 7;
                    }
                }
                day
            }
        };
        day * 86_400 + i64::from(self.time)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }
    fn done(&self) -> bool {
        self.at >= self.s.len()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at position {}", c as char, self.at + 1))
        }
    }
    /// A zone abbreviation: three or more letters, or anything between `<` and `>`.
    fn name(&mut self) -> Result<(), String> {
        let start = self.at;
        if self.peek() == Some(b'<') {
            while self.peek().is_some_and(|c| c != b'>') {
                self.at += 1;
            }
            return self.expect(b'>');
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        if self.at - start < 3 {
            return Err(format!("expected a zone abbreviation at position {}", start + 1));
        }
        Ok(())
    }
    fn number(&mut self, most: u32) -> Result<u32, String> {
        let start = self.at;
        let mut n: u32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            n = n.saturating_mul(10).saturating_add(u32::from(c - b'0'));
            self.at += 1;
        }
        if self.at == start {
            return Err(format!("expected a number at position {}", start + 1));
        }
        if n > most {
            return Err(format!("{n} at position {} is over {most}", start + 1));
        }
        Ok(n)
    }
    /// `[+-]hh[:mm[:ss]]` as seconds, POSIX's sign (west positive) kept.
    fn offset(&mut self) -> Result<i32, String> {
        self.clock(24)
    }
    fn clock(&mut self, most_hours: u32) -> Result<i32, String> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.at += 1;
                -1
            }
            Some(b'+') => {
                self.at += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.number(most_hours)? as i32 * 3600;
        for unit in [60, 1] {
            if self.peek() != Some(b':') {
                break;
            }
            self.at += 1;
            secs += self.number(59)? as i32 * unit;
        }
        Ok(sign * secs)
    }
    fn transition(&mut self) -> Result<Transition, String> {
        let day = match self.peek() {
            Some(b'J') => {
                self.at += 1;
                let n = self.number(365)?;
                if n == 0 {
                    return Err("a Jn day counts from 1".into());
                }
                Day::JulianNoLeap(n as u16)
            }
            Some(b'M') => {
                self.at += 1;
                let month = self.number(12)?;
                self.expect(b'.')?;
                let week = self.number(5)?;
                self.expect(b'.')?;
                let weekday = self.number(6)?;
                if month == 0 || week == 0 {
                    return Err("an Mm.w.d date counts months and weeks from 1".into());
                }
                Day::MonthWeek { month: month as u8, week: week as u8, weekday: weekday as u8 }
            }
            _ => Day::Julian(self.number(365)? as u16),
        };
        let time = if self.peek() == Some(b'/') {
            self.at += 1;
            self.clock(167)?
        } else {
            2 * 3600
        };
        Ok(Transition { day, time })
    }
}

/// Dates as unix times, for tests elsewhere in the crate.
#[cfg(test)]
pub mod tests_support {
    /// Seconds since 1970 of a UTC date and time.
    pub fn unix(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        crate::calendar::days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every zone of the table against Python's zoneinfo, which reads the whole database: its
    /// offset at the start of 2027 and every change through 2028, to the second (one second
    /// before each change, the old offset; at it, the new; halfway to the next, the new).
    #[test]
    fn every_zone_changes_when_the_database_says() {
        let expected = include_str!("time_zones/offsets-2027-2028.tsv");
        let start = days_from_civil(2027, 1, 1) * 86_400;
        let end = days_from_civil(2029, 1, 1) * 86_400;
        let mut zones = 0;
        let mut wrong = Vec::new();
        for line in expected.lines().filter(|l| !l.starts_with('#')) {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap();
            let zone = Zone::named(name).unwrap_or_else(|e| panic!("{e}"));
            let first: i32 = fields.next().unwrap().parse().unwrap();
            let changes: Vec<(i64, i32)> = fields.map(|c| c.split_once(':').map(|(t, o)| (t.parse().unwrap(), o.parse().unwrap())).unwrap()).collect();
            let mut checks = vec![(start, first)];
            let mut last = (start, first);
            for &(t, offset) in &changes {
                checks.push(((last.0 + t) / 2, last.1));
                checks.push((t - 1, last.1));
                checks.push((t, offset));
                last = (t, offset);
            }
            checks.push(((last.0 + end) / 2, last.1));
            if let Some((t, want)) = checks.iter().find(|(t, want)| zone.offset_at(*t) != *want) {
                wrong.push(format!("{name} at {t}: {} where the database says {want}", zone.offset_at(*t)));
            }
            zones += 1;
        }
        assert!(zones > 590, "{zones}");
        assert!(wrong.is_empty(), "{} zones off:\n{}", wrong.len(), wrong.join("\n"));
    }

    #[test]
    fn local_time_in_a_zone() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        // 2026-12-07 (a Monday) 08:30 UTC is 09:30 in Berlin (winter, UTC+1).
        let monday = days_from_civil(2026, 12, 7) * 86_400 + 8 * 3600 + 30 * 60;
        assert_eq!(berlin.local(monday), LocalTime { weekday: 0, hour: 9, minute: 30, offset: 3600 });
        assert_eq!(berlin.local(monday).to_string(), "mon 09:30");
        // 2027-07-04 (a Sunday) 23:15 UTC is Monday 01:15 in Berlin (summer, UTC+2).
        let july = days_from_civil(2027, 7, 4) * 86_400 + 23 * 3600 + 15 * 60;
        assert_eq!(berlin.local(july), LocalTime { weekday: 0, hour: 1, minute: 15, offset: 7200 });
        let kolkata = Zone::named("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.local(monday).to_string(), "mon 14:00");
        let utc = Zone::named("UTC").unwrap();
        assert_eq!(utc.local(0), LocalTime { weekday: 3, hour: 0, minute: 0, offset: 0 }, "1970-01-01 was a Thursday");
        assert_eq!(utc.local(-1).to_string(), "wed 23:59", "before 1970 too");
    }

    #[test]
    fn listed_changes_give_way_to_the_rule_after_the_last() {
        // Gaza's changes are listed through 2049; in 2051 its rule's summer time applies again.
        let gaza = Zone::named("Asia/Gaza").unwrap();
        let at = |y, m, d| tests_support::unix(y, m, d, 0, 0);
        assert_eq!((gaza.offset_at(at(2051, 7, 1)), gaza.offset_at(at(2051, 1, 15))), (10_800, 7200));
        // Before the first listed change, the rule; at it, the listed offset.
        let casablanca = Zone::named("Africa/Casablanca").unwrap();
        assert_eq!((casablanca.offset_at(at(2025, 6, 1)), casablanca.offset_at(at(2026, 1, 1))), (3600, 3600));
    }

    #[test]
    fn a_local_midnight_is_found_on_either_side_of_a_change() {
        let at = |y, m, d, h, min| tests_support::unix(y, m, d, h, min);
        let midnight = |y, m, d| days_from_civil(y, m, d) * 86_400;
        // Auckland goes back from +13 to +12 at 03:00 on Sunday 2027-04-04 (14:00 UTC the day
        // before): that Sunday's midnight is still +13, 11:00 UTC on Saturday.
        let auckland = Zone::named("Pacific/Auckland").unwrap();
        assert_eq!(auckland.first_instant_at(midnight(2027, 4, 4)), at(2027, 4, 3, 11, 0));
        assert_eq!(auckland.first_instant_at(midnight(2027, 4, 5)), at(2027, 4, 4, 12, 0));
        // A clock that jumps from 23:30 to 00:30 (no zone does today): the day starts at the
        // jump, 23:30 of standard time, not half an hour into the new day.
        let jumpy = Zone { name: "test".into(), rule: Rule::parse("XST0XDT,M3.5.0/23:30,M10.5.0/3").unwrap(), exceptions: vec![] };
        assert_eq!(jumpy.first_instant_at(midnight(2027, 3, 29)), at(2027, 3, 28, 23, 30));
        assert_eq!(jumpy.local(at(2027, 3, 28, 23, 30)).to_string(), "mon 00:30");
        assert_eq!(jumpy.first_instant_at(midnight(2027, 3, 30)), at(2027, 3, 29, 23, 0));
    }

    #[test]
    fn unknown_zones_are_refused_with_a_hint() {
        let e = Zone::named("europe/berlin").unwrap_err();
        assert!(e.contains("'europe/berlin' is no time zone") && e.contains("did you mean 'Europe/Berlin'?"), "{e}");
        let e = Zone::named("Berlin").unwrap_err();
        assert!(e.contains("did you mean 'Europe/Berlin'?"), "{e}");
        let e = Zone::named("Mars/Olympus").unwrap_err();
        assert!(!e.contains("did you mean") && e.contains("'Area/City'"), "{e}");
        assert!(Zone::named("").is_err());
        // Names in the database's folder that are no place: the generating machine's own zone.
        for not_a_place in ["localtime", "posixrules", "Factory"] {
            assert!(Zone::named(not_a_place).is_err(), "{not_a_place}");
        }
    }

    #[test]
    fn posix_rules_the_database_does_not_use_are_read_too() {
        // Julian days with and without February 29, a default summer offset and time, hours
        // past a day (RFC 8536), and rules that do not parse.
        let rule = Rule::parse("XST3XDT,J60/-1,300/25").unwrap();
        assert_eq!(rule.std_offset, -3 * 3600);
        let summer = rule.summer.clone().unwrap();
        assert_eq!(summer.offset, -2 * 3600, "an hour ahead of standard time when not given");
        // J60 is March 1 in every year; in 2028 (a leap year) day 60 counted from 0 is March 1 too.
        assert_eq!(summer.start.at(2028), days_from_civil(2028, 3, 1) * 86_400 - 3600);
        assert_eq!(Transition { day: Day::JulianNoLeap(60), time: 0 }.at(2027), days_from_civil(2027, 3, 1) * 86_400);
        assert_eq!(Transition { day: Day::Julian(59), time: 0 }.at(2028), days_from_civil(2028, 2, 29) * 86_400);
        assert_eq!(summer.end.at(2027), days_from_civil(2027, 10, 28) * 86_400 + 25 * 3600, "day 300 from 0 is October 28 in 2027");
        assert_eq!(Rule::parse("XST3XDT,M3.2.0,M11.1.0").unwrap().summer.unwrap().start.time, 7200, "02:00 when no time is given");
        // The last week of December ends at the next year's January.
        let last_sunday = Transition { day: Day::MonthWeek { month: 12, week: 5, weekday: 0 }, time: 0 };
        assert_eq!(last_sunday.at(2027), days_from_civil(2027, 12, 26) * 86_400);
        // Leap years by the Gregorian rule, centuries included (J60 is March 1 in every year).
        for (year, leap) in [(2027, false), (2028, true), (2000, true), (2100, false), (2400, true)] {
            assert_eq!(is_leap(year), leap, "{year}");
        }
        for bad in ["", "X5", "EST", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.0.0,M11.1.0", "EST5EDT,J0,J100", "EST5EDT,M3.2.0,M11.1.0x", "<+05", "EST25"] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_summer_abbreviation_needs_three_letters_too() {
        // Counted from where the summer name starts, not from the start of the rule.
        for bad in ["EST5ED,M3.2.0,M11.1.0", "EST5E,M3.2.0,M11.1.0"] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
        assert!(Rule::parse("EST5EDT,M3.2.0,M11.1.0").is_ok());
    }

    #[test]
    fn an_offset_or_a_time_may_be_signed_plus() {
        // POSIX allows '+' before an offset and RFC 8536 before a time; the database's footers
        // write neither, so only this reads them.
        let rule = Rule::parse("XST+3XDT+2,M3.2.0/+1,M11.1.0/+1:30").unwrap();
        assert_eq!(rule.std_offset, -3 * 3600);
        let summer = rule.summer.unwrap();
        assert_eq!((summer.offset, summer.start.time, summer.end.time), (-2 * 3600, 3600, 5400));
    }
}
