//! A Durable Object's alarm used to sweep what it stores as it expires (the semantic cache's
//! entries, the ledger's rollup rows): set for the earliest expiry, never sooner than a gap after
//! the last sweep (things expire one after another, and an alarm each would wake the object for
//! one row at a time), and remembered, so that a store asks storage only when it must.

use std::cell::Cell;

use worker::{ScheduledTime, Storage};

pub struct SweepAlarm {
    /// When the alarm is set for (unix seconds), as far as this instance knows; `None`: not
    /// known yet, or none set.
    set_for: Cell<Option<i64>>,
    /// When the last sweep ran (unix seconds; 0: not in this instance's life).
    swept_at: Cell<i64>,
    gap_secs: i64,
    /// Whether this instance has made sure the alarm is set for what it already stores (rows from
    /// before alarms were set, or whose alarm was lost): see [`SweepAlarm::first_call`].
    checked: Cell<bool>,
}

impl SweepAlarm {
    pub fn new(gap_secs: i64) -> SweepAlarm {
        SweepAlarm { set_for: Cell::new(None), swept_at: Cell::new(0), gap_secs, checked: Cell::new(false) }
    }

    /// True on the instance's first call only: the object then makes sure the alarm is set for
    /// the earliest expiry it stores ([`SweepAlarm::no_later_than`]).
    pub fn first_call(&self) -> bool {
        !self.checked.replace(true)
    }

    /// Makes sure the alarm goes off for what expires at `expires_at` (unix seconds; `None`:
    /// nothing): soon after it, but not sooner than the gap after the last sweep.
    pub async fn no_later_than(&self, storage: &Storage, expires_at: Option<i64>) -> worker::Result<()> {
        let Some(expires_at) = expires_at else { return Ok(()) };
        let at = expires_at.max(self.swept_at.get() + self.gap_secs);
        if self.set_for.get().is_none() {
            // A restarted instance does not know the alarm its previous life set.
            self.set_for.set(storage.get_alarm().await?.map(|ms| ms.div_euclid(1000)));
        }
        if self.set_for.get().is_some_and(|set| set <= at) {
            return Ok(());
        }
        self.set(storage, at).await
    }

    /// Called as the alarm goes off, at `now`: no alarm is set any more.
    pub fn sweeping(&self, now: i64) {
        self.set_for.set(None);
        self.swept_at.set(now);
    }

    /// From the alarm, after its sweep at `now`: the next for `earliest`, what expires first of
    /// what is left (`None`: nothing), a gap later at the soonest. Set directly, not through
    /// [`SweepAlarm::no_later_than`]: while the alarm runs, storage may still report it as set.
    pub async fn after_sweep(&self, storage: &Storage, earliest: Option<i64>, now: i64) -> worker::Result<()> {
        match earliest {
            Some(at) => self.set(storage, at.max(now + self.gap_secs)).await,
            None => Ok(()),
        }
    }

    /// The earliest `expires_at` in `table` (`None`: nothing stored), what the alarm is for.
    pub fn earliest_expiry(sql: &worker::SqlStorage, table: &str) -> worker::Result<Option<i64>> {
        #[derive(serde::Deserialize)]
        struct Earliest {
            at: Option<i64>,
        }
        let earliest: Vec<Earliest> = sql.exec(&format!("SELECT MIN(expires_at) AS at FROM {table}"), None)?.to_array()?;
        Ok(earliest.first().and_then(|e| e.at))
    }

    /// Sets the alarm for `at` (unix seconds), whatever was set before.
    pub async fn set(&self, storage: &Storage, at: i64) -> worker::Result<()> {
        storage.set_alarm(ScheduledTime::new(js_sys::Date::new(&((at * 1000) as f64).into()))).await?;
        self.set_for.set(Some(at));
        Ok(())
    }
}
