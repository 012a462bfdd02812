//! Exact token counts of the long texts a tenant has sent before, kept by the isolate.
//!
//! A chat resends its system prompt and its whole history on every turn, and tiktoken's BPE over
//! them is most of the router's own CPU on a long conversation (`bench/route`: about 420 µs for
//! 4,000 tokens of English, 3 ms for 32,000), paid again on each turn for text it has counted.
//! A text seen before costs a hash and a comparison instead.
//!
//! Keyed by tenant as well as by text: a quicker answer for a text another tenant sent would tell
//! that tenant's prompt apart (the timing side channel of prompt caches shared between
//! customers). An entry holds its text and is used only for the same bytes, so a hash collision
//! costs a count, never a wrong one.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};

use super::Encoding;

/// Shorter texts count in about the time a lookup takes.
pub const MIN_TEXT_BYTES: usize = 256;
/// A longer text is counted every time rather than crowd out the rest.
pub const MAX_TEXT_BYTES: usize = 512 * 1024;
/// The most text held, across tenants; the oldest entries go first.
pub const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;
/// What an entry costs beside its text and tenant id (map slot, order slot, boxes).
const ENTRY_OVERHEAD_BYTES: usize = 96;

struct Entry {
    tenant: Box<str>,
    encoding: Encoding,
    text: Box<str>,
    count: u64,
}

impl Entry {
    fn held_bytes(&self) -> usize {
        self.text.len() + self.tenant.len() + ENTRY_OVERHEAD_BYTES
    }
}

#[derive(Default)]
pub struct SeenCounts {
    entries: HashMap<u64, Entry>,
    /// Keys in the order they were stored; a key whose entry was replaced may be here twice (its
    /// entry then goes at the first, a little early).
    order: VecDeque<u64>,
    held_bytes: usize,
}

impl SeenCounts {
    /// The count of `text` for `tenant`: the one stored if this tenant sent these bytes before
    /// under this encoding, else `count()`, stored when the text is long enough to be worth it.
    pub fn count_or(&mut self, tenant: &str, encoding: Encoding, text: &str, count: impl FnOnce() -> u64) -> u64 {
        if !(MIN_TEXT_BYTES..=MAX_TEXT_BYTES).contains(&text.len()) {
            return count();
        }
        let key = key_of(tenant, encoding, text);
        if let Some(e) = self.entries.get(&key) {
            if e.encoding == encoding && *e.tenant == *tenant && *e.text == *text {
                return e.count;
            }
        }
        let n = count();
        let entry = Entry { tenant: tenant.into(), encoding, text: text.into(), count: n };
        self.held_bytes += entry.held_bytes();
        if let Some(replaced) = self.entries.insert(key, entry) {
            self.held_bytes -= replaced.held_bytes();
        }
        self.order.push_back(key);
        while self.held_bytes > MAX_HELD_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(gone) = self.entries.remove(&oldest) {
                self.held_bytes -= gone.held_bytes();
            }
        }
        n
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// foldhash (already linked through serde_json): several times quicker than std's SipHash over
/// long texts, and a collision costs only a count (the entry holds its text).
fn key_of(tenant: &str, encoding: Encoding, text: &str) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x636f_7374_726f_7574).build_hasher();
    tenant.hash(&mut h);
    encoding.hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn long(seed: &str) -> String {
        seed.repeat(MIN_TEXT_BYTES / seed.len() + 1)
    }

    #[test]
    fn a_text_a_tenant_sent_before_is_not_counted_again() {
        let mut seen = SeenCounts::default();
        let counted = Cell::new(0);
        let count = |n: u64| {
            counted.set(counted.get() + 1);
            n
        };
        let prompt = long("You are a helpful assistant. ");
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &prompt, || count(60)), 60);
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &prompt, || count(99)), 60, "stored");
        assert_eq!(counted.get(), 1);
        // Another tenant, another encoding, other bytes: counted, never read from acme's entry.
        assert_eq!(seen.count_or("globex", Encoding::O200kBase, &prompt, || count(61)), 61);
        assert_eq!(seen.count_or("acme", Encoding::Cl100kBase, &prompt, || count(62)), 62);
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &format!("{prompt}!"), || count(63)), 63);
        assert_eq!(counted.get(), 4);
        // Short texts are counted every time and not kept.
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, "hi", || count(1)), 1);
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, "hi", || count(1)), 1);
        assert_eq!((counted.get(), seen.len()), (6, 4));
    }

    #[test]
    fn what_it_holds_stays_under_its_bound_oldest_first() {
        let mut seen = SeenCounts::default();
        let text = |i: usize| format!("{i:08}{}", "x".repeat(64 * 1024));
        for i in 0..100 {
            seen.count_or("acme", Encoding::O200kBase, &text(i), || i as u64);
            assert!(seen.held_bytes() <= MAX_HELD_BYTES, "{}", seen.held_bytes());
        }
        assert!(seen.len() < 100 && seen.len() >= MAX_HELD_BYTES / (64 * 1024 + 200), "{}", seen.len());
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &text(99), || 0), 99, "the newest kept");
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &text(0), || 1000), 1000, "the oldest gone");
        // Longer than an entry may be: counted, not kept.
        let huge = "y".repeat(MAX_TEXT_BYTES + 1);
        let before = seen.len();
        seen.count_or("acme", Encoding::O200kBase, &huge, || 5);
        assert_eq!(seen.count_or("acme", Encoding::O200kBase, &huge, || 6), 6);
        assert_eq!(seen.len(), before);
    }
}
