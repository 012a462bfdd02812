//! Civil dates and weekdays from counts of days since 1970-01-01 (UTC, proleptic Gregorian):
//! budget windows, off-peak prices and policies' local times all count days this way.

/// Whether `y` is a leap year of the Gregorian calendar.
pub fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// The hour of the day (0-23, UTC) at `unix` seconds since 1970.
pub fn utc_hour(unix: i64) -> u8 {
    (unix.rem_euclid(86_400) / 3600) as u8
}

/// The ISO weekday, 1 (Monday) to 7 (Sunday), of the day `days` after 1970-01-01, a Thursday.
pub fn iso_weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7) + 1
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A calendar day, UTC, written `YYYY-MM-DD` in configuration (a deployment's `retires_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since 1970-01-01.
    pub days: i64,
}

impl Date {
    /// The day of `unix` seconds since 1970.
    pub fn of_unix(unix: i64) -> Date {
        Date { days: unix.div_euclid(86_400) }
    }

    /// `YYYY-MM-DD` and nothing else (a time would say an instant, which a day is not); `None`
    /// for any other form or a day its month lacks.
    pub fn parse(text: &str) -> Option<Date> {
        let midnight = crate::report_days::parse_local_date_time(text).filter(|_| text.len() == 10)?;
        Some(Date::of_unix(midnight))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("must be a date written YYYY-MM-DD (2027-01-14), not \"{text}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22 (a Sunday) 15:30:00 UTC.
    const NOW: i64 = 1_795_361_400;

    #[test]
    fn calendar_round_trips() {
        for z in [-1_000_000, -1, 0, 59, 60, 365, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(NOW / 86_400), (2026, 11, 22));
        // Every day for the next four centuries (the centuries' leap-year rules included: 2100
        // and 2200 are not leap years, 2400 is), one after another.
        let mut previous = civil_from_days(NOW / 86_400);
        for z in NOW / 86_400 + 1..NOW / 86_400 + 146_097 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            let next_day = (previous.0, previous.1, previous.2 + 1);
            let next_month = if previous.1 == 12 { (previous.0 + 1, 1, 1) } else { (previous.0, previous.1 + 1, 1) };
            assert!((y, m, d) == next_day || (y, m, d) == next_month, "{previous:?} then {:?}", (y, m, d));
            previous = (y, m, d);
        }
        assert_eq!(civil_from_days(days_from_civil(2100, 2, 28) + 1), (2100, 3, 1));
        assert_eq!(civil_from_days(days_from_civil(2400, 2, 28) + 1), (2400, 2, 29));
    }

    #[test]
    fn a_date_is_a_day_written_yyyy_mm_dd_and_nothing_else() {
        let d = Date::parse("2027-01-14").unwrap();
        assert_eq!(d.days, days_from_civil(2027, 1, 14));
        assert_eq!(d.to_string(), "2027-01-14");
        assert_eq!(Date::of_unix(NOW).to_string(), "2026-11-22");
        assert_eq!(Date::of_unix(days_from_civil(2027, 1, 14) * 86_400 - 1), Date::parse("2027-01-13").unwrap(), "the last second of the day before");
        for bad in ["2027-02-29", "2027-1-14", "2027-01-14T00:00", "2027-01-14 ", "14/01/2027", ""] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Date::parse("2028-02-29").map(|d| d.to_string()).as_deref(), Some("2028-02-29"));
        let err = serde_json::from_str::<Date>("\"2027-13-01\"").unwrap_err().to_string();
        assert!(err.contains("must be a date written YYYY-MM-DD (2027-01-14), not \"2027-13-01\""), "{err}");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2027-01-14\"");
    }
}
