//! The tenants an isolate recently saw with no budgets and no per-minute limits, whose requests
//! then skip the ledger round trip (`edge::spend`). Plain Rust: the clock is passed in.

use std::collections::HashMap;

/// How long a tenant seen uncontrolled is taken to stay so: budgets or limits set on another
/// isolate take effect here within it.
pub const UNCONTROLLED_TTL_MS: f64 = 5_000.0;
/// Past this many tenants the map starts afresh (a miss costs one ledger round trip).
const MOST_TENANTS: usize = 10_000;

#[derive(Debug, Default)]
pub struct UncontrolledTenants {
    seen_at_ms: HashMap<String, f64>,
    /// Counts the changes of controls this isolate made (`forget`). An `/admit` answer saying
    /// "uncontrolled" that was asked before a change may describe the tenant before its new
    /// budget: it is not noted, or the isolate that set the budget would skip it for 5 s.
    changes: u64,
}

impl UncontrolledTenants {
    pub fn known(&self, tenant: &str, now_ms: f64) -> bool {
        self.seen_at_ms.get(tenant).is_some_and(|at| now_ms - at < UNCONTROLLED_TTL_MS)
    }

    /// What `note` needs to be told about the time an `/admit` was asked.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// What an `/admit` answer asked when `changes()` was `asked_at` says of the tenant.
    pub fn note(&mut self, tenant: &str, controlled: bool, asked_at: u64, now_ms: f64) {
        if controlled {
            self.seen_at_ms.remove(tenant);
        } else if asked_at == self.changes {
            if self.seen_at_ms.len() > MOST_TENANTS {
                self.seen_at_ms.clear();
            }
            self.seen_at_ms.insert(tenant.to_string(), now_ms);
        }
    }

    /// The tenant's budgets or limits just changed on this isolate.
    pub fn forget(&mut self, tenant: &str) {
        self.seen_at_ms.remove(tenant);
        self.changes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_seen_uncontrolled_skips_the_ledger_for_a_while() {
        let mut t = UncontrolledTenants::default();
        let asked = t.changes();
        t.note("acme", false, asked, 1_000.0);
        assert!(t.known("acme", 1_000.0 + UNCONTROLLED_TTL_MS - 1.0));
        assert!(!t.known("acme", 1_000.0 + UNCONTROLLED_TTL_MS));
        assert!(!t.known("globex", 1_000.0));
        t.note("acme", true, asked, 2_000.0);
        assert!(!t.known("acme", 2_000.0), "a controlled answer drops it");
    }

    #[test]
    fn an_answer_asked_before_a_budget_was_set_here_is_not_noted() {
        let mut t = UncontrolledTenants::default();
        // An /admit is in flight when an admin sets the tenant's first budget on this isolate.
        let asked = t.changes();
        t.forget("acme");
        t.note("acme", false, asked, 1_000.0);
        assert!(!t.known("acme", 1_000.0), "the answer described the tenant before its budget");
        // One asked after the change is noted.
        let asked = t.changes();
        t.note("acme", false, asked, 1_500.0);
        assert!(t.known("acme", 1_500.0));
        t.forget("acme");
        assert!(!t.known("acme", 1_500.0));
    }

    #[test]
    fn the_map_starts_afresh_past_its_bound() {
        let mut t = UncontrolledTenants::default();
        for i in 0..=MOST_TENANTS + 1 {
            t.note(&format!("t{i}"), false, 0, 0.0);
        }
        assert!(t.seen_at_ms.len() <= MOST_TENANTS + 1);
        assert!(t.known(&format!("t{}", MOST_TENANTS + 1), 0.0));
    }
}
