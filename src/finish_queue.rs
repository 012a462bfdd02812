//! An isolate's queue of finished requests on their way to their tenant's ledger (group commit,
//! `edge::spend::finish`), kept apart from the sending so that what happens when a sender is
//! cancelled can be tested natively.
//!
//! Every finished request joins its tenant's open batch; the request that opened it sends it a
//! moment later. Workerd may cancel that sender's `waitUntil` at any await (its 30 s after the
//! response are up) without resuming it, so nothing here relies on a sender coming back:
//! - an open batch older than [`STALE_OPEN_MS`] is taken over by the next request to finish;
//! - a batch being sent stays in the queue until its sender reports it delivered: one whose
//!   sender never reports within [`ORPHANED_AFTER_MS`] (or that reports a failure) is sent again
//!   by a later sender, stamped with its first send time, for up to
//!   [`RESEND_WITHIN_SECS`]. The ledger skips requests it has already applied, so a batch sent
//!   twice is counted once.

use std::collections::HashMap;
use std::rc::Rc;

/// An open batch this much older than the group-commit pause has lost its sender.
pub const STALE_OPEN_MS: f64 = 2_000.0;
/// A batch in flight this long without a report has lost its sender (whose own retries take
/// about 15 s).
pub const ORPHANED_AFTER_MS: f64 = 60_000.0;
/// The longest a batch is kept for another try: well inside the hour the ledger remembers which
/// requests it applied, so a batch applied but not acknowledged is still recognised.
pub const RESEND_WITHIN_SECS: i64 = 1_800;
/// Most finished requests kept per tenant awaiting delivery; the oldest batches go first.
pub const KEPT_PER_TENANT: usize = 10_000;

struct OpenBatch {
    items: Vec<String>,
    opened_at_ms: f64,
}

struct Outgoing {
    id: u64,
    /// The unix second it was first sent at, which every send of it carries.
    at: i64,
    body: Rc<str>,
    count: usize,
    /// When another sender may send it (in flight until then).
    free_at_ms: f64,
}

/// One `/finish` call to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub id: u64,
    pub at: i64,
    pub body: Rc<str>,
    pub count: usize,
}

#[derive(Default)]
pub struct FinishQueue {
    open: HashMap<String, OpenBatch>,
    outgoing: HashMap<String, Vec<Outgoing>>,
    next_id: u64,
}

impl FinishQueue {
    /// Adds a finished request (already the JSON the ledger reads). `true`: the caller opened
    /// the tenant's batch (or took over one whose sender is gone) and must call
    /// [`FinishQueue::take_open`] after the group-commit pause.
    pub fn add(&mut self, tenant: &str, item: String, now_ms: f64) -> bool {
        match self.open.get_mut(tenant) {
            Some(batch) if now_ms - batch.opened_at_ms <= STALE_OPEN_MS => {
                batch.items.push(item);
                false
            }
            Some(stale) => {
                stale.items.push(item);
                stale.opened_at_ms = now_ms;
                true
            }
            None => {
                self.open.insert(tenant.to_string(), OpenBatch { items: vec![item], opened_at_ms: now_ms });
                true
            }
        }
    }

    /// Closes the tenant's open batch and returns it to send, stamped `now` (nothing if another
    /// sender took it). It stays in the queue, in flight, until [`FinishQueue::report`].
    pub fn take_open(&mut self, tenant: &str, now: i64, now_ms: f64) -> Option<Send> {
        let batch = self.open.remove(tenant)?;
        if batch.items.is_empty() {
            return None;
        }
        self.next_id += 1;
        let out = Outgoing { id: self.next_id, at: now, body: finish_body(&batch.items, now).into(), count: batch.items.len(), free_at_ms: now_ms + ORPHANED_AFTER_MS };
        let send = Send { id: out.id, at: out.at, body: out.body.clone(), count: out.count };
        let queue = self.outgoing.entry(tenant.to_string()).or_default();
        queue.push(out);
        // The newest are kept: the oldest are closest to being dropped anyway.
        while queue.iter().map(|o| o.count).sum::<usize>() > KEPT_PER_TENANT && queue.len() > 1 {
            queue.remove(0);
        }
        Some(send)
    }

    /// Batches due for another send (their send failed, or their sender is gone), now in flight
    /// for the caller; and how many finished requests were dropped as too old to send again.
    pub fn due(&mut self, tenant: &str, now: i64, now_ms: f64) -> (Vec<Send>, usize) {
        let Some(queue) = self.outgoing.get_mut(tenant) else { return (Vec::new(), 0) };
        let before: usize = queue.iter().map(|o| o.count).sum();
        queue.retain(|o| now - o.at <= RESEND_WITHIN_SECS);
        let dropped = before - queue.iter().map(|o| o.count).sum::<usize>();
        let mut sends = Vec::new();
        for o in queue.iter_mut().filter(|o| o.free_at_ms <= now_ms) {
            o.free_at_ms = now_ms + ORPHANED_AFTER_MS;
            sends.push(Send { id: o.id, at: o.at, body: o.body.clone(), count: o.count });
        }
        if queue.is_empty() {
            self.outgoing.remove(tenant);
        }
        (sends, dropped)
    }

    /// What became of a send: `delivered` removes the batch; otherwise any later sender may try
    /// it again at once.
    pub fn report(&mut self, tenant: &str, id: u64, delivered: bool) {
        let Some(queue) = self.outgoing.get_mut(tenant) else { return };
        if delivered {
            queue.retain(|o| o.id != id);
            if queue.is_empty() {
                self.outgoing.remove(tenant);
            }
        } else if let Some(o) = queue.iter_mut().find(|o| o.id == id) {
            o.free_at_ms = f64::NEG_INFINITY;
        }
    }
}

/// The `/finish` body: `{"items": [...], "now": ...}` from items already serialized.
fn finish_body(items: &[String], now: i64) -> String {
    let mut body = String::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 32);
    body.push_str("{\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("],\"now\":");
    body.push_str(&now.to_string());
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(send: &Send) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&send.body).unwrap()["items"].clone()
    }

    #[test]
    fn requests_finishing_together_go_in_one_batch_sent_by_its_opener() {
        let mut q = FinishQueue::default();
        assert!(q.add("acme", "1".into(), 0.0), "the first opens the batch");
        assert!(!q.add("acme", "2".into(), 50.0));
        assert!(q.add("globex", "3".into(), 50.0), "tenants batch apart");
        let send = q.take_open("acme", 100, 100.0).unwrap();
        assert_eq!(items(&send), serde_json::json!([1, 2]));
        assert!(serde_json::from_str::<serde_json::Value>(&send.body).unwrap()["now"] == 100);
        q.report("acme", send.id, true);
        assert_eq!(q.due("acme", 200, 1e9).0, vec![], "delivered: nothing left");
        assert!(q.add("acme", "4".into(), 200.0), "a new batch opens after the last was taken");
    }

    #[test]
    fn an_open_batch_whose_sender_was_cancelled_is_taken_over() {
        let mut q = FinishQueue::default();
        assert!(q.add("acme", "1".into(), 0.0));
        // Its sender never wakes from the group-commit pause.
        assert!(!q.add("acme", "2".into(), 1_000.0));
        assert!(q.add("acme", "3".into(), 2_500.0), "past STALE_OPEN_MS the next request sends it");
        let send = q.take_open("acme", 3, 2_600.0).unwrap();
        assert_eq!(items(&send), serde_json::json!([1, 2, 3]));
        // The old sender waking late finds nothing to send twice.
        assert_eq!(q.take_open("acme", 3, 2_700.0), None);
    }

    #[test]
    fn a_batch_whose_sender_is_gone_or_failed_is_sent_again_with_its_first_time() {
        let mut q = FinishQueue::default();
        q.add("acme", "1".into(), 0.0);
        let lost = q.take_open("acme", 10, 100.0).unwrap();
        // Its sender is cancelled mid-retry: no report. A later sender does not take it while
        // it may still be in flight...
        q.add("acme", "2".into(), 5_000.0);
        let fresh = q.take_open("acme", 15, 5_100.0).unwrap();
        assert_eq!(q.due("acme", 15, 5_100.0).0, vec![]);
        q.report("acme", fresh.id, true);
        // ...and does once it is orphaned, stamped with the time it was first sent.
        let (again, dropped) = q.due("acme", 80, 100.0 + ORPHANED_AFTER_MS);
        assert_eq!((again.len(), dropped), (1, 0));
        assert_eq!((again[0].id, again[0].at, items(&again[0])), (lost.id, 10, serde_json::json!([1])));
        // A failed send is free for the next sender at once.
        q.report("acme", lost.id, false);
        let (retry, _) = q.due("acme", 81, 100.0 + ORPHANED_AFTER_MS + 1.0);
        assert_eq!(retry.len(), 1);
        q.report("acme", lost.id, true);
        assert_eq!(q.due("acme", 82, 1e12).0, vec![]);
    }

    #[test]
    fn undelivered_batches_are_dropped_after_the_resend_window_and_past_the_per_tenant_limit() {
        let mut q = FinishQueue::default();
        q.add("acme", "1".into(), 0.0);
        let old = q.take_open("acme", 0, 0.0).unwrap();
        q.report("acme", old.id, false);
        assert_eq!(q.due("acme", RESEND_WITHIN_SECS + 1, 1e9), (vec![], 1));
        for n in 0..=KEPT_PER_TENANT / 1_000 {
            for i in 0..1_000 {
                q.add("acme", format!("{}", n * 1_000 + i), n as f64 * 1e6);
            }
            let send = q.take_open("acme", 1, n as f64 * 1e6).unwrap();
            q.report("acme", send.id, false);
        }
        let (sends, _) = q.due("acme", 2, 1e12);
        assert_eq!(sends.iter().map(|s| s.count).sum::<usize>(), KEPT_PER_TENANT);
        assert_eq!(items(&sends[0])[0], 1_000, "the oldest batch went");
    }
}
