//! The exact response cache's rules, in plain Rust: which requests may be answered from the
//! cache, the key an answer is stored under, what the client's headers ask for, and which answers
//! are worth keeping. Storage is the edge's business (`edge::cache`).

mod assemble;
mod key;
pub mod semantic;

pub use assemble::CompletionAssembler;
pub use key::{answer_scope, exact_key, route_variant, KEY_VERSION};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::chat::ChatRequest;

/// Longest TTL a policy or a request may set: a week.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Workers KV's shortest expiry.
pub const MIN_TTL_SECS: u64 = 60;

/// A policy's `[cache]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Off unless the policy turns it on: a cache changes what a client sees on a repeated request.
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Cache requests with `temperature` (or `top_p`) that allows sampling. Off by default: the
    /// client asked for variety. A request can opt in alone with `x-costrouter-cache-sampled: allow`.
    #[serde(default)]
    pub sampled: bool,
    /// Also answer requests whose last user turn means the same as a cached one (same tenant,
    /// model, system prompt, earlier turns, tools and parameters): see `cache::semantic`.
    #[serde(default)]
    pub semantic: bool,
    /// Cosine similarity a semantic hit needs; [`crate::semantic::DEFAULT_THRESHOLD`] if unset.
    #[serde(default)]
    pub semantic_threshold: Option<f32>,
    /// `"static"` (the embedder shipped in KV, no network call) or the name of an embedding model
    /// in the catalog, called through its provider.
    #[serde(default = "default_embedder")]
    pub semantic_embedder: String,
}

fn default_embedder() -> String {
    semantic::STATIC_EMBEDDER.to_string()
}

fn default_ttl() -> u64 {
    3600
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { enabled: false, ttl_secs: default_ttl(), sampled: false, semantic: false, semantic_threshold: None, semantic_embedder: default_embedder() }
    }
}

impl CacheSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&self.ttl_secs) {
            return Err(format!("cache.ttl_secs must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}, not {}", self.ttl_secs));
        }
        if let Some(t) = self.semantic_threshold {
            if !(0.8..=1.0).contains(&t) {
                return Err(format!("cache.semantic_threshold must be between 0.8 and 1.0, not {t} (below 0.8 unrelated questions match)"));
            }
        }
        if self.semantic && !self.enabled {
            return Err("cache.semantic needs cache.enabled = true".into());
        }
        if self.semantic_embedder.trim().is_empty() {
            return Err("cache.semantic_embedder must be \"static\" or an embedding model's name".into());
        }
        Ok(())
    }
}

/// What the client's headers ask of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientControls {
    /// `cache-control: no-cache`: do not answer from the cache, but store the fresh answer.
    pub no_cache: bool,
    /// `cache-control: no-store`: neither read nor write.
    pub no_store: bool,
    /// `x-costrouter-cache-ttl: <seconds>`: this answer's lifetime (0 = do not store), at most the
    /// policy's.
    pub ttl_secs: Option<u64>,
    /// `x-costrouter-cache-sampled: allow`: cache this request even though it samples.
    pub allow_sampled: bool,
    /// `cache-control: max-age=<seconds>`: no stored answer older than this (0 is no-cache).
    pub max_age_secs: Option<u64>,
}

impl ClientControls {
    /// Whether a stored answer `age_secs` old may answer this request (`max-age`).
    pub fn accepts_age(&self, age_secs: i64) -> bool {
        self.max_age_secs.is_none_or(|max| age_secs <= i64::try_from(max).unwrap_or(i64::MAX))
    }

    /// The headers [`ClientControls::from_headers`] reads.
    pub const HEADERS: [&'static str; 4] = ["cache-control", "pragma", "x-costrouter-cache-ttl", "x-costrouter-cache-sampled"];

    /// Reads the headers (`header` gives a header's value by lower-case name).
    pub fn from_headers(header: impl Fn(&str) -> Option<String>) -> Result<ClientControls, String> {
        let mut c = ClientControls::default();
        if let Some(cc) = header("cache-control") {
            for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
                match directive.as_str() {
                    "no-cache" => c.no_cache = true,
                    "no-store" => c.no_store = true,
                    // As HTTP caches read it: a value that is not a number is ignored.
                    d => {
                        if let Some(secs) = d.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse::<u64>().ok()) {
                            c.max_age_secs = Some(c.max_age_secs.map_or(secs, |m| m.min(secs)));
                            c.no_cache |= secs == 0;
                        }
                    }
                }
            }
        }
        // HTTP/1.0's spelling of no-cache, which some HTTP clients still send for a fresh answer.
        if header("pragma").is_some_and(|p| p.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-cache"))) {
            c.no_cache = true;
        }
        if let Some(ttl) = header("x-costrouter-cache-ttl") {
            let ttl = ttl.trim();
            if ttl.is_empty() || !ttl.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("x-costrouter-cache-ttl must be a whole number of seconds, not '{ttl}'"));
            }
            // A lifetime outside what entries may have is brought within it (and the policy's
            // `ttl_secs` cuts it further), not refused: a client library that always asks for a
            // month must not fail every request. 0 stays "do not store".
            let secs = ttl.parse::<u64>().unwrap_or(u64::MAX);
            c.ttl_secs = Some(if secs == 0 { 0 } else { secs.clamp(MIN_TTL_SECS, MAX_TTL_SECS) });
        }
        if let Some(v) = header("x-costrouter-cache-sampled") {
            match v.trim().to_ascii_lowercase().as_str() {
                "allow" => c.allow_sampled = true,
                "deny" => {}
                other => return Err(format!("x-costrouter-cache-sampled must be 'allow' or 'deny', not '{other}'")),
            }
        }
        Ok(c)
    }
}

/// What the cache does for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachePlan {
    /// Not cached (`x-costrouter-cache: bypass`); the reason goes in the route reason when the
    /// policy has the cache on.
    Bypass(&'static str),
    /// Look up (unless `read` is false) and store fresh answers for `ttl_secs` (0: do not store).
    Use { read: bool, ttl_secs: u64 },
}

/// Whether the request samples: OpenAI's default temperature is 1, so an absent temperature
/// samples too; `top_p` below 1 with temperature 0 changes nothing, but any temperature above 0 does.
pub fn samples(req: &ChatRequest) -> bool {
    req.temperature.is_none_or(|t| t > 0.0)
}

/// Why a route held to regions is not cached, also told in its route reason.
pub const RESIDENCY_BYPASS: &str = "data residency: the route is held to regions, and the caches keep answers outside them";

/// `route_samples`: a model the request may be routed to samples whatever the request says (an
/// OpenAI reasoning model, whose `temperature` the router removes). `route_regions`: the regions a
/// policy holds the route to (data residency); none for an unrestricted route.
pub fn plan(settings: &CacheSettings, controls: &ClientControls, req: &ChatRequest, route_samples: bool, route_regions: &[String]) -> CachePlan {
    if !settings.enabled {
        return CachePlan::Bypass("caching is off in this policy");
    }
    // The answer is the region's data: the Cache API of whichever location served the request,
    // the global KV namespace and the tenant's semantic-cache object (placed where it was first
    // asked for, with no jurisdiction) would all hold it outside the regions, and a lookup could
    // serve it from there. Fails closed, as the route does.
    if !route_regions.is_empty() {
        return CachePlan::Bypass(RESIDENCY_BYPASS);
    }
    if controls.no_store {
        return CachePlan::Bypass("cache-control: no-store");
    }
    if samples(req) && !(settings.sampled || controls.allow_sampled) {
        return CachePlan::Bypass("the request samples (temperature above 0): opt in with x-costrouter-cache-sampled: allow");
    }
    if route_samples && !(settings.sampled || controls.allow_sampled) {
        return CachePlan::Bypass("a model this request may be routed to samples at any temperature (a reasoning model): opt in with x-costrouter-cache-sampled: allow");
    }
    // A client may shorten the answer's life, not lengthen it: the answer is served to every
    // caller of the tenant, and the policy's TTL is how stale its owner lets them see it.
    let ttl_secs = controls.ttl_secs.map_or(settings.ttl_secs, |asked| asked.min(settings.ttl_secs));
    if controls.no_cache && ttl_secs == 0 {
        // Neither looked up nor stored: a semantic lookup's provider embedding would be paid for
        // nothing.
        return CachePlan::Bypass("cache-control: no-cache with x-costrouter-cache-ttl: 0 neither reads nor stores");
    }
    CachePlan::Use { read: !controls.no_cache, ttl_secs }
}

/// Whether an answer may be stored: every choice finished normally or at its token limit (a
/// filtered or errored answer is not an answer to replay), and every one has something to show,
/// whatever its finish reason: replayed, an empty answer would stand for the full time to live.
/// A reasoning model that spent the whole limit thinking stops on `length` with nothing; a host
/// can call an empty answer finished (Gemini reads an empty `STOP` and an unknown reason as
/// `stop` with content ""). Nor an answer with audio: OpenAI's `audio.id`
/// expires within hours (`expires_at`), and a client sending a replayed one back in its next turn
/// would be refused.
pub fn storable(completion: &Value) -> bool {
    let Some(choices) = completion.get("choices").and_then(Value::as_array) else { return false };
    !choices.is_empty()
        && choices.iter().all(|c| {
            matches!(c.get("finish_reason").and_then(Value::as_str), Some("stop" | "tool_calls" | "function_call" | "length"))
                && shows_something(c)
                && c.pointer("/message/audio").is_none_or(Value::is_null)
        })
}

/// Whether a choice's message holds anything for the client: text that is not only whitespace (a
/// string, or content parts with some text: Mistral's reasoning models answer in parts), a
/// refusal, a tool call, a legacy `function_call`, or audio.
pub fn shows_something(choice: &Value) -> bool {
    let Some(m) = choice.get("message") else { return false };
    let text = |f: &str| match m.get(f) {
        Some(Value::String(t)) => !t.trim().is_empty(),
        Some(Value::Array(parts)) => parts.iter().any(|p| p.get("text").and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty())),
        _ => false,
    };
    let object = |f: &str| m.get(f).and_then(Value::as_object).is_some_and(|o| !o.is_empty());
    // Tool calls that are objects: anything else a host sends could not be replayed as a stream.
    let calls = m.get("tool_calls").and_then(Value::as_array).is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_object));
    text("content") || text("refusal") || calls || object("function_call") || object("audio")
}

/// A stored answer: the completion as the client received it (without usage, which a hit does
/// not incur) and what producing it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub completion: Value,
    pub provider: String,
    pub model: String,
    #[serde(with = "crate::money::decimal")]
    pub cost: crate::money::Usd,
    #[serde(with = "crate::money::decimal")]
    pub baseline: crate::money::Usd,
    pub stored_at: i64,
    /// When the entry's lifetime ends (Unix seconds), set as it is stored. Storage expiry alone
    /// is not exact: KV keeps an entry at least 60 s, and a copy warmed into another location's
    /// cache would otherwise start a lifetime of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Written by the demo upstream (`make dev` without keys): a hit says so, as the answer did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

impl CachedAnswer {
    /// Seconds of life left at `now` (`None` for an entry stored without an expiry).
    pub fn remaining_secs(&self, now: i64) -> Option<i64> {
        self.expires_at.map(|at| at - now)
    }

    /// Whether the entry may still answer at `now`.
    pub fn is_fresh(&self, now: i64) -> bool {
        self.remaining_secs(now).is_none_or(|left| left > 0)
    }
}

#[cfg(test)]
mod tests;
