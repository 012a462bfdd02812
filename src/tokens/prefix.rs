//! The system prompt as a cacheable prefix: its size, and whether the same tenant sent the same
//! one shortly before — the part of the input a provider's prompt cache could discount.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::api::chat::{ChatRequest, Role};

/// The leading system and developer messages, joined: what providers cache as a prompt prefix.
pub fn system_prompt(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .take_while(|m| matches!(m.role, Role::System | Role::Developer))
        .filter_map(|m| m.content.as_ref().map(|c| c.text()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tokens of `text` for `model`: exact for OpenAI encodings, the chars/4 estimate otherwise.
pub fn text_tokens(model: &str, text: &str) -> u64 {
    match super::encoding_for_model(model) {
        Some(enc) => super::count_tokens(enc, text) as u64,
        None => (text.chars().count() as u64).div_ceil(4),
    }
}

/// Shortest prefix providers cache (OpenAI and Anthropic: 1,024 tokens).
pub const MIN_CACHEABLE_TOKENS: u64 = 1024;

/// A prompt prefix seen again within this long counts as a repeat (provider caches keep a
/// prefix for 5–10 minutes).
pub const REPEAT_WINDOW_SECS: i64 = 300;

/// Recently seen system prompts, by hash of tenant and text. Bounded, and each tenant to a
/// share of it: one tenant sending thousands of distinct prompts evicts its own oldest, not every
/// other tenant's (whose prompt-caching recommendations would then read low).
#[derive(Debug, Default)]
pub struct RecentPrefixes {
    /// Hash of tenant and text → (when last seen, hash of the tenant).
    seen: HashMap<[u8; 16], (i64, u64)>,
    per_tenant: HashMap<u64, usize>,
}

const CAPACITY: usize = 4096;
const TENANT_SHARE: usize = CAPACITY / 8;

impl RecentPrefixes {
    /// Notes `text` for `tenant` at `now`; true when the same tenant sent it within the window.
    pub fn note(&mut self, tenant: &str, text: &str, now: i64) -> bool {
        let mut h = Sha256::new();
        h.update(tenant.as_bytes());
        h.update([0]);
        let tenant_id = u64::from_le_bytes(h.clone().finalize()[..8].try_into().expect("8 of 32 bytes"));
        h.update(text.as_bytes());
        let key: [u8; 16] = h.finalize()[..16].try_into().expect("16 of 32 bytes");
        if let Some((at, _)) = self.seen.get_mut(&key) {
            let repeat = now - *at <= REPEAT_WINDOW_SECS;
            *at = now;
            return repeat;
        }
        if self.per_tenant.get(&tenant_id).is_some_and(|n| *n >= TENANT_SHARE) {
            self.evict_oldest(Some(tenant_id));
        }
        if self.seen.len() >= CAPACITY {
            self.seen.retain(|_, (at, _)| now - *at <= REPEAT_WINDOW_SECS);
            self.recount();
            while self.seen.len() >= CAPACITY {
                self.evict_oldest(None);
            }
        }
        self.seen.insert(key, (now, tenant_id));
        *self.per_tenant.entry(tenant_id).or_default() += 1;
        false
    }

    /// Drops the oldest entry (of one tenant, or of anyone).
    fn evict_oldest(&mut self, of: Option<u64>) {
        let oldest = self.seen.iter().filter(|(_, (_, t))| of.is_none_or(|o| o == *t)).min_by_key(|(_, (at, _))| *at).map(|(k, (_, t))| (*k, *t));
        if let Some((key, tenant)) = oldest {
            self.seen.remove(&key);
            if let Some(n) = self.per_tenant.get_mut(&tenant) {
                *n -= 1;
            }
        }
    }

    fn recount(&mut self) {
        self.per_tenant.clear();
        for (_, t) in self.seen.values() {
            *self.per_tenant.entry(*t).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_is_the_leading_system_and_developer_messages() {
        let req = ChatRequest::parse(br#"{"model":"gpt-4o","messages":[{"role":"system","content":"a"},{"role":"developer","content":"b"},{"role":"user","content":"q"},{"role":"system","content":"late"}]}"#).unwrap();
        assert_eq!(system_prompt(&req), "a\nb");
        assert_eq!(text_tokens("gpt-4o", "hello world"), 2);
        assert_eq!(text_tokens("claude-haiku-4-5", "hello world"), 3);
    }

    #[test]
    fn repeats_are_per_tenant_and_within_the_window() {
        let mut r = RecentPrefixes::default();
        assert!(!r.note("acme", "sys", 0));
        assert!(r.note("acme", "sys", 100));
        assert!(!r.note("globex", "sys", 100), "another tenant's prompt is not a repeat");
        assert!(!r.note("acme", "sys", 100 + REPEAT_WINDOW_SECS + 1));
        for i in 0..(CAPACITY as i64 + 10) {
            r.note("t", &i.to_string(), 1000);
        }
        assert!(r.seen.len() <= CAPACITY);
    }

    #[test]
    fn one_tenant_flooding_the_table_evicts_only_its_own() {
        let mut r = RecentPrefixes::default();
        assert!(!r.note("acme", "acme's system prompt", 0));
        for i in 0..(CAPACITY as i64 * 2) {
            r.note("flood", &i.to_string(), 10);
        }
        assert!(r.note("acme", "acme's system prompt", 20), "acme's prompt is still remembered");
        assert!(r.seen.len() <= TENANT_SHARE + 1);
        // Many tenants, each within its share: the table stays bounded.
        for t in 0..64 {
            for i in 0..100 {
                r.note(&format!("t{t}"), &i.to_string(), 30);
            }
        }
        assert!(r.seen.len() <= CAPACITY);
        assert_eq!(r.per_tenant.values().sum::<usize>(), r.seen.len());
    }
}
