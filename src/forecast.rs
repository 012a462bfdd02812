//! Month-end spend forecast from the daily spend so far this calendar month (UTC's, or a time
//! zone's: [`forecast_in`]).
//!
//! Projected total = spent so far + mean daily spend × days remaining, where the mean is the
//! month's spend over the days elapsed (today counted by the fraction gone, at least one day).
//! The interval treats the remaining days as independent draws with the spread of the month's
//! days so far: ±z · sd · √(days remaining), z = 1.96 for about 95%, and never below what is
//! already spent. The sd is the standard deviation of the daily totals from the 1st, today
//! counted as the full day its pace so far would make, weighted by the share of it gone
//! (reliability weights): a day just begun says little, so the band no longer swings with the
//! hour, and a month whose spend all came today still shows its uncertainty. Until a quarter of
//! today has gone ([`TODAY_FLOOR`]) today counts as a quarter day, its spend so far plus the rest
//! of the quarter at the mean of the complete days: a pace over the first few minutes would move
//! with every second (two reads of one forecast a second apart just after midnight would
//! disagree) and be wild. Before [`MIN_DAYS_FOR_SPREAD`] complete days there is no spread
//! worth measuring; the sd is then assumed equal to the mean (`spread: "assumed"`), a deliberately
//! wide band.
//!
//! Money here is integer nanodollars, as in the rollups; the arithmetic is in f64 and rounded
//! back to nanodollars.

use crate::budget::Window;
use crate::routing::local_time::{day_start, local_day, Zone};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.96;
/// The least share of a day today counts for in the spread (see the module's doc).
pub const TODAY_FLOOR: f64 = 0.25;
/// Complete days before the spread is measured rather than assumed: one or two days say little
/// of it (a steady first day would make a "95%" band of zero width).
pub const MIN_DAYS_FOR_SPREAD: i64 = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub month_start: i64,
    pub month_end: i64,
    pub days_in_month: i64,
    /// Days since the month began, fractional (today counts by the share of it gone).
    pub elapsed_days: f64,
    pub remaining_days: f64,
    /// Days of this month that have ended.
    pub complete_days: i64,
    pub spent_nanos: i64,
    pub mean_daily_nanos: f64,
    pub sd_daily_nanos: f64,
    /// `observed` (the days so far, today weighted by its share gone, at least a quarter) or
    /// `assumed` (the first day of the month: sd = mean).
    pub spread: &'static str,
    pub projected_nanos: i64,
    pub low_nanos: i64,
    pub high_nanos: i64,
    /// Every day of the month up to today: (day start, spend), zeros included.
    pub daily: Vec<(i64, i64)>,
}

/// The calendar month (UTC) holding `now`: start inclusive, end exclusive.
pub fn month_bounds(now: i64) -> (i64, i64) {
    month_bounds_in(now, None)
}

/// The calendar month holding `now`, its days counted in `zone` (UTC when none): start
/// inclusive, end exclusive.
pub fn month_bounds_in(now: i64, zone: Option<&Zone>) -> (i64, i64) {
    Window::Monthly.bounds_in(now, 1, zone)
}

/// `rows`: (bucket start, spend in nanodollars), e.g. daily rollups; rows outside the month of
/// `now`, or in the future, are ignored, and several rows on one day add up.
pub fn forecast(rows: &[(i64, i64)], now: i64) -> Forecast {
    forecast_in(rows, now, None)
}

/// [`forecast`] of the month and days of `zone` (UTC when none): a day is then from one of its
/// midnights to the next, 23 or 25 hours on the days its clocks change, and today's share gone
/// is of its own length.
pub fn forecast_in(rows: &[(i64, i64)], now: i64, zone: Option<&Zone>) -> Forecast {
    let (month_start, month_end) = month_bounds_in(now, zone);
    let local_day = |t: i64| local_day(zone, t);
    let first_day = local_day(month_start);
    let days_in_month = local_day(month_end) - first_day;
    // Every midnight of the month, its end's included.
    let midnights: Vec<i64> = (0..=days_in_month).map(|d| day_start(zone, first_day + d)).collect();
    let today = (local_day(now) - first_day).clamp(0, days_in_month - 1); // index of today, 0-based
    let mut daily: Vec<(i64, i64)> = midnights[..=today as usize].iter().map(|start| (*start, 0)).collect();
    for &(start, nanos) in rows {
        if start < month_start || start > now {
            continue;
        }
        let idx = midnights.partition_point(|m| *m <= start) - 1;
        if let Some(slot) = daily.get_mut(idx) {
            slot.1 = slot.1.saturating_add(nanos);
        }
    }
    let spent_nanos: i64 = daily.iter().map(|d| d.1).sum();
    let (today_start, today_end) = (midnights[today as usize], midnights[today as usize + 1]);
    let today_gone = (now - today_start) as f64 / (today_end - today_start) as f64;
    let elapsed_days = (today as f64 + today_gone).clamp(0.0, days_in_month as f64);
    let remaining_days = days_in_month as f64 - elapsed_days;
    let mean = spent_nanos as f64 / elapsed_days.max(1.0);
    let mut days: Vec<(f64, f64)> = daily[..today as usize].iter().map(|d| (d.1 as f64, 1.0)).collect();
    days.push(today_as_a_day(daily[today as usize].1 as f64, elapsed_days - today as f64, &days));
    let (sd, spread) = match weighted_sd(&days).filter(|_| today >= MIN_DAYS_FOR_SPREAD) {
        Some(sd) => (sd, "observed"),
        None => (mean, "assumed"),
    };
    let projected = spent_nanos as f64 + mean * remaining_days;
    let margin = Z95 * sd * remaining_days.sqrt();
    Forecast {
        month_start,
        month_end,
        days_in_month,
        elapsed_days,
        remaining_days,
        complete_days: today,
        spent_nanos,
        mean_daily_nanos: mean,
        sd_daily_nanos: sd,
        spread,
        projected_nanos: projected.round() as i64,
        low_nanos: (projected - margin).max(spent_nanos as f64).round() as i64,
        high_nanos: (projected + margin).round() as i64,
        daily,
    }
}

/// Today as a (full day, weight) for the spread, `share` of it gone: the day its pace would make,
/// weighing the share gone. Until [`TODAY_FLOOR`] has gone, it weighs that floor, and the part of
/// the floor still to come is taken at the mean of the complete days: a steady spend shows no
/// spread at any hour, and the value moves only with spend, not with the clock.
fn today_as_a_day(spent: f64, share: f64, complete_days: &[(f64, f64)]) -> (f64, f64) {
    if share >= TODAY_FLOOR {
        return (spent / share, share);
    }
    let mean = match complete_days.len() {
        0 => 0.0,
        n => complete_days.iter().map(|d| d.0).sum::<f64>() / n as f64,
    };
    ((spent + mean * (TODAY_FLOOR - share)) / TODAY_FLOOR, TODAY_FLOOR)
}

/// Sample standard deviation (n − 1); `None` below two values.
pub fn sample_sd(xs: &[f64]) -> Option<f64> {
    let weighted: Vec<(f64, f64)> = xs.iter().map(|x| (*x, 1.0)).collect();
    weighted_sd(&weighted)
}

/// Standard deviation of `(value, weight)` pairs with reliability weights (the unbiased form:
/// Σw(x − m)² / (V1 − V2/V1), V1 = Σw, V2 = Σw²; with every weight 1, the sample sd). `None`
/// below two values.
pub fn weighted_sd(xs: &[(f64, f64)]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let v1: f64 = xs.iter().map(|(_, w)| w).sum();
    let v2: f64 = xs.iter().map(|(_, w)| w * w).sum();
    let m = xs.iter().map(|(x, w)| x * w).sum::<f64>() / v1;
    Some((xs.iter().map(|(x, w)| w * (x - m) * (x - m)).sum::<f64>() / (v1 - v2 / v1)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    // 2026-11-01T00:00:00Z
    const NOV1: i64 = 1_793_491_200;
    const B: i64 = 1_000_000_000; // one dollar in nanodollars

    #[test]
    fn month_bounds_are_calendar_months() {
        assert_eq!(month_bounds(NOV1 + 5), (NOV1, NOV1 + 30 * DAY));
        // December has 31 days; February 2027 has 28.
        let (s, e) = month_bounds(NOV1 + 30 * DAY + 1);
        assert_eq!((s, (e - s) / DAY), (NOV1 + 30 * DAY, 31));
        let feb = NOV1 + (30 + 31 + 31) * DAY;
        assert_eq!(month_bounds(feb + 3600), (feb, feb + 28 * DAY));
    }

    #[test]
    fn steady_spend_projects_linearly_with_a_band_from_the_spread() {
        // Ten complete days of $1, $3, $1, $3, ... and now exactly midnight of day 11.
        let rows: Vec<(i64, i64)> = (0..10).map(|d| (NOV1 + d * DAY, if d % 2 == 0 { B } else { 3 * B })).collect();
        let now = NOV1 + 10 * DAY;
        let f = forecast(&rows, now);
        assert_eq!(f.spent_nanos, 20 * B);
        assert_eq!(f.complete_days, 10);
        assert!((f.elapsed_days - 10.0).abs() < 1e-9);
        assert!((f.remaining_days - 20.0).abs() < 1e-9);
        assert!((f.mean_daily_nanos - 2.0 * B as f64).abs() < 1.0);
        assert_eq!(f.projected_nanos, 60 * B);
        // Five 1s, five 3s and today (none of it gone) as a quarter day at the complete days' mean,
        // $2: weighted mean 2, every complete day 1 away from it, V1 10.25, V2 10.0625.
        let sd = (10.0 / (10.25 - 10.0625 / 10.25f64)).sqrt() * B as f64;
        assert!((sample_sd(&[1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0]).unwrap() - (10.0f64 / 9.0).sqrt()).abs() < 1e-12);
        assert!((f.sd_daily_nanos - sd).abs() < 1.0, "{}", f.sd_daily_nanos);
        assert_eq!(f.spread, "observed");
        let margin = 1.96 * sd * 20f64.sqrt();
        assert_eq!(f.high_nanos, (60.0 * B as f64 + margin).round() as i64);
        assert_eq!(f.low_nanos, (60.0 * B as f64 - margin).round() as i64);
        assert_eq!(f.daily.len(), 11); // ten complete days and today (nothing yet)
    }

    #[test]
    fn constant_spend_has_no_spread() {
        // Five days of $4 and it is noon on the 6th, with $2 spent today: every day so far (today
        // by its pace) is $4 (no spread), the mean is $22 / 5.5 days.
        let mut rows: Vec<(i64, i64)> = (0..5).map(|d| (NOV1 + d * DAY, 4 * B)).collect();
        rows.push((NOV1 + 5 * DAY, 2 * B));
        let f = forecast(&rows, NOV1 + 5 * DAY + DAY / 2);
        assert!(f.sd_daily_nanos.abs() < 1.0, "{}", f.sd_daily_nanos);
        assert_eq!(f.projected_nanos, 22 * B + 4 * B * 49 / 2);
        assert_eq!((f.low_nanos, f.high_nanos), (f.projected_nanos, f.projected_nanos));
    }

    #[test]
    fn the_band_does_not_swing_with_the_hour_for_steady_spend() {
        // $4 a day for ten days, and today at that pace: at every hour the spread is none, where
        // counting today's partial total as a day made it ±$10 at 01:00 and ±$0.4 at 23:00.
        let mut rows: Vec<(i64, i64)> = (0..10).map(|d| (NOV1 + d * DAY, 4 * B)).collect();
        let mut margins = vec![];
        for hour in [0, 1, 5, 6, 12, 23] {
            rows.truncate(10);
            rows.push((NOV1 + 10 * DAY, 4 * B * hour / 24));
            let f = forecast(&rows, NOV1 + 10 * DAY + hour * 3600);
            margins.push((f.high_nanos - f.projected_nanos) as f64 / B as f64);
        }
        assert!(margins.iter().all(|m| m.abs() < 1e-6), "{margins:?}");
        let old_rule = 1.96 * sample_sd(&[4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0 / 24.0]).unwrap() * (20.0 - 1.0 / 24.0f64).sqrt();
        assert!(old_rule > 9.0, "{old_rule}");
    }

    #[test]
    fn just_after_midnight_the_band_does_not_move_with_the_clock() {
        // All of the month's spend came in the first minutes of today (the 5th): reads a few
        // seconds apart give the same band (they moved by about 2% a second under a pace
        // over the share of the day gone).
        let rows = [(NOV1 + 4 * DAY, 3 * B)];
        let a = forecast(&rows, NOV1 + 4 * DAY + 20);
        let b = forecast(&rows, NOV1 + 4 * DAY + 25);
        assert!(a.sd_daily_nanos > 0.0);
        assert_eq!(a.sd_daily_nanos, b.sd_daily_nanos);
        let drift = (a.high_nanos - b.high_nanos).abs() as f64 / a.high_nanos as f64;
        assert!(drift < 1e-4, "{drift}");
    }

    #[test]
    fn partial_today_counts_by_its_share_and_the_low_end_never_drops_below_spent() {
        // Day 1 only, half gone, $6 spent: mean is over at least one day, spread assumed = mean.
        let f = forecast(&[(NOV1, 6 * B)], NOV1 + DAY / 2);
        assert_eq!(f.complete_days, 0);
        assert_eq!(f.spread, "assumed");
        assert!((f.mean_daily_nanos - 6.0 * B as f64).abs() < 1.0);
        assert!((f.remaining_days - 29.5).abs() < 1e-9);
        assert_eq!(f.projected_nanos, (6.0 * B as f64 + 6.0 * B as f64 * 29.5).round() as i64);
        let margin = 1.96 * 6.0 * B as f64 * 29.5f64.sqrt();
        assert_eq!(f.low_nanos, (183.0 * B as f64 - margin).round() as i64);
        // Nine quiet days, one of $30 and today with nothing yet: the band is wide, but its low
        // end stays at what is already spent (90 - 1.96 * 9.05 * sqrt(20) would be about 10.7).
        let g = forecast(&[(NOV1 + 9 * DAY, 30 * B)], NOV1 + 10 * DAY);
        assert_eq!(g.spread, "observed");
        assert_eq!(g.projected_nanos, 90 * B);
        assert_eq!(g.low_nanos, 30 * B);
        assert!(g.high_nanos > 150 * B);
        // All of the month's spend came today: the band still shows the uncertainty.
        let h = forecast(&[(NOV1 + 20 * DAY, 3 * B)], NOV1 + 20 * DAY + DAY / 2);
        assert!(h.sd_daily_nanos > 0.0 && h.high_nanos > h.projected_nanos, "{h:?}");
        assert!(f.high_nanos > f.projected_nanos);
    }

    #[test]
    fn rows_outside_the_month_are_ignored_and_hours_add_up() {
        let now = NOV1 + 3 * DAY + 3600;
        let rows = [(NOV1 - 3600, 99 * B), (NOV1 + 3600, B), (NOV1 + 7200, B), (NOV1 + DAY, 2 * B), (NOV1 + 2 * DAY, 2 * B), (now + DAY, 50 * B)];
        let f = forecast(&rows, now);
        assert_eq!(f.daily, vec![(NOV1, 2 * B), (NOV1 + DAY, 2 * B), (NOV1 + 2 * DAY, 2 * B), (NOV1 + 3 * DAY, 0)]);
        assert_eq!(f.spent_nanos, 6 * B);
        // Today, an hour in with nothing spent, is a quarter day: nothing for its first hour and
        // the complete days' mean ($2) for the other five, $1.67 as a day.
        let today = 2.0 * (0.25 - 1.0 / 24.0) / 0.25;
        assert!((f.sd_daily_nanos - weighted_sd(&[(2.0, 1.0), (2.0, 1.0), (2.0, 1.0), (today, 0.25)]).unwrap() * B as f64).abs() < 1.0);
        assert_eq!(f.spread, "observed");
        // Two complete days of the same spend say nothing of its spread: assumed, not zero.
        let early = forecast(&[(NOV1, 2 * B), (NOV1 + DAY, 2 * B)], NOV1 + 2 * DAY + 3 * 3600);
        assert_eq!((early.spread, early.sd_daily_nanos > 0.0), ("assumed", true));
        assert!(early.high_nanos > early.projected_nanos);
    }

    #[test]
    fn a_zones_month_has_its_own_days() {
        use crate::routing::local_time::tests_support::unix;
        let la = Zone::named("America/Los_Angeles").unwrap();
        // November 2027 in Los Angeles: from its midnight (07:00 UTC, summer time) to December's
        // (08:00 UTC); the 7th, when the clocks go back, is 25 hours long.
        let (start, end) = month_bounds_in(unix(2027, 11, 15, 0, 0), Some(&la));
        assert_eq!((start, end), (unix(2027, 11, 1, 7, 0), unix(2027, 12, 1, 8, 0)));
        // 12:30 on the 7th there is 20:30 UTC: six whole days gone and 13.5 of today's 25 hours.
        let now = unix(2027, 11, 7, 20, 30);
        let rows = [
            (unix(2027, 11, 1, 6, 0), 99 * B), // 23:00 on October 31st there: last month
            (unix(2027, 11, 1, 7, 0), B),
            (unix(2027, 11, 2, 6, 0), B),   // 23:00 on the 1st there
            (unix(2027, 11, 2, 7, 0), 2 * B), // the 2nd's midnight
            (unix(2027, 11, 7, 7, 0), 3 * B), // today's midnight, in summer time
        ];
        let f = forecast_in(&rows, now, Some(&la));
        assert_eq!((f.month_start, f.month_end, f.days_in_month, f.complete_days), (start, end, 30, 6));
        assert!((f.elapsed_days - (6.0 + 13.5 / 25.0)).abs() < 1e-9, "{}", f.elapsed_days);
        assert_eq!(f.daily.len(), 7);
        assert_eq!(f.daily[0], (unix(2027, 11, 1, 7, 0), 2 * B));
        assert_eq!(f.daily[1], (unix(2027, 11, 2, 7, 0), 2 * B));
        assert_eq!(f.daily[6], (unix(2027, 11, 7, 7, 0), 3 * B));
        assert_eq!(f.spent_nanos, 7 * B);
        // The day after the change starts an hour later in UTC.
        let g = forecast_in(&[], unix(2027, 11, 8, 9, 0), Some(&la));
        assert_eq!(g.daily.last().unwrap().0, unix(2027, 11, 8, 8, 0));
        assert!((g.elapsed_days - (7.0 + 1.0 / 24.0)).abs() < 1e-9, "{}", g.elapsed_days);
        // Counted in UTC, the row of 06:00 on the 1st is November's and the 2nd holds both of its
        // rows.
        let utc = forecast(&rows, now);
        assert_eq!((utc.daily[0].1, utc.daily[1].1, utc.spent_nanos), (100 * B, 3 * B, 106 * B));
    }

    #[test]
    fn a_row_dated_now_counts_and_one_after_it_does_not_yet() {
        // Now is the 3rd's midnight: the 3rd's row is today's; an hour's row later today cannot
        // have been filed yet, and is not counted if one comes.
        let now = NOV1 + 2 * DAY;
        let f = forecast(&[(now, B), (now + 3600, 5 * B)], now);
        assert_eq!((f.spent_nanos, f.daily[2]), (B, (now, B)));
    }

    #[test]
    fn empty_month_forecasts_zero() {
        let f = forecast(&[], NOV1 + 3 * DAY);
        assert_eq!((f.spent_nanos, f.projected_nanos, f.low_nanos, f.high_nanos), (0, 0, 0, 0));
    }
}
