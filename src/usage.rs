//! Token usage, normalized across providers.
//!
//! This module is the one place that knows which provider reports which token count under which
//! field name, and how the counts nest. Providers disagree on what "input" means:
//! - OpenAI: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`; `completion_tokens`
//!   includes `completion_tokens_details.reasoning_tokens`.
//! - Anthropic: `input_tokens` excludes both `cache_read_input_tokens` and
//!   `cache_creation_input_tokens`; `output_tokens` includes extended-thinking tokens.
//! - Gemini: `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount`
//!   excludes `thoughtsTokenCount`, which is billed at the output price.
//!
//! [`Usage`] always means: `input_tokens` = every prompt token (uncached + cache reads + cache
//! writes), `output_tokens` = every billed output token (reasoning included).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, however billed.
    pub input_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (billed at the cached price).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (billed at the cache-write price).
    pub cache_write_tokens: u64,
    /// The part of `cache_write_tokens` written with the provider's longer lifetime, billed at a
    /// dearer rate: Anthropic's one hour (2x input, against 1.25x for the default five minutes),
    /// OpenAI's twelve hours (GPT-5.6: 2.5x, against 1.25x for thirty minutes).
    #[serde(default)]
    pub cache_write_1h_tokens: u64,
    /// All billed output tokens, reasoning included.
    pub output_tokens: u64,
    /// The part of `output_tokens` spent on hidden reasoning.
    pub reasoning_tokens: u64,
    /// The part of `input_tokens` that was audio (Gemini's `promptTokensDetails`, OpenAI's
    /// `prompt_tokens_details.audio_tokens`), which some models price apart from text.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audio_input_tokens: u64,
    /// The part of `cached_input_tokens` that was audio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_audio_input_tokens: u64,
    /// The part of `output_tokens` that was audio (OpenAI's `completion_tokens_details.audio_tokens`
    /// when a model speaks, Gemini's `candidatesTokensDetails`): gpt-4o-audio-preview bills it at
    /// 8x its text output.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audio_output_tokens: u64,
    /// The processing tier that served the request, as the response says (a request may ask for
    /// one and a project may default to one): it selects the prices.
    #[serde(default, skip_serializing_if = "ServiceTier::is_standard")]
    pub service_tier: ServiceTier,
    /// What the host says it charged for the call, in dollars (OpenRouter's `usage.cost`, plus
    /// `cost_details.upstream_inference_cost` with a key of the operator's own): such a host
    /// bills whichever of its providers served the request, at that provider's price, so this
    /// settles the call rather than the pricing row (`pricing::ModelPrice::charge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed: Option<crate::money::Usd>,
}

/// OpenAI's processing tiers (`service_tier` in a response): priority costs more than standard,
/// flex less, ultrafast (GPT-6.1 Sol, GPT-6 Astra) six times standard. `fast` is priority's
/// other name (LiteLLM prices it so). Anything else a host reports (`default`, `auto`, `scale`)
/// is priced as standard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    #[default]
    Standard,
    Priority,
    Flex,
    Ultrafast,
}

impl ServiceTier {
    /// The tiers a pricing row may price apart from standard, by their names there.
    pub const PRICED: [(ServiceTier, &'static str); 3] = [(ServiceTier::Priority, "priority"), (ServiceTier::Flex, "flex"), (ServiceTier::Ultrafast, "ultrafast")];

    pub fn from_response(tier: Option<&str>) -> ServiceTier {
        match tier {
            Some("priority" | "fast") => ServiceTier::Priority,
            Some("flex") => ServiceTier::Flex,
            Some("ultrafast") => ServiceTier::Ultrafast,
            _ => ServiceTier::Standard,
        }
    }

    pub fn is_standard(&self) -> bool {
        *self == ServiceTier::Standard
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The tokens of one modality in a Gemini `...TokensDetails` list.
fn modality_tokens(details: Option<&Value>, modality: &str) -> u64 {
    details.and_then(Value::as_array).into_iter().flatten().filter(|d| d.get("modality").and_then(Value::as_str) == Some(modality)).fold(0u64, |sum, d| sum.saturating_add(count(d, "/tokenCount")))
}

/// The count at `path` ("/a/b": object keys only, none escaped), or 0. Walked by hand:
/// `Value::pointer` allocates two strings per segment to unescape it, and usage is read on every
/// answer and stream chunk.
fn count(v: &Value, path: &str) -> u64 {
    path.split('/').skip(1).try_fold(v, |at, key| at.get(key)).and_then(Value::as_u64).unwrap_or(0)
}

/// OpenRouter's charge for a call in dollars: `cost`, and with a key of the operator's own
/// (`is_byok`, where `cost` is OpenRouter's fee alone) the upstream provider's charge beside it.
/// Without one, `upstream_inference_cost` repeats `cost` and is not added.
fn reported_charge(usage: &Value) -> Option<crate::money::Usd> {
    let dollars = |v: Option<&Value>| v.and_then(Value::as_f64).filter(|d| d.is_finite() && *d >= 0.0).and_then(crate::money::Usd::per_token_from_usd);
    let fee = dollars(usage.get("cost"))?;
    let byok = usage.get("is_byok").and_then(Value::as_bool) == Some(true);
    Some(if byok { fee + dollars(usage.pointer("/cost_details/upstream_inference_cost")).unwrap_or_default() } else { fee })
}

impl Usage {
    /// Input tokens billed at the plain input price (text and audio).
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens.saturating_sub(self.cached_input_tokens).saturating_sub(self.cache_write_tokens)
    }

    /// The audio among the uncached input tokens.
    pub fn uncached_audio_input_tokens(&self) -> u64 {
        self.audio_input_tokens.saturating_sub(self.cached_audio_input_tokens).min(self.uncached_input_tokens())
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// OpenAI `usage` object (chat completions), as found in a response or the last stream chunk.
    pub fn from_openai(usage: &Value) -> Option<Usage> {
        let input = usage.get("prompt_tokens")?.as_u64()?;
        // OpenAI (from GPT-5.6) and OpenRouter (Anthropic's cache, through `cache_control`) report
        // the tokens a request wrote to the prompt cache, billed above the input price.
        let write = count(usage, "/prompt_tokens_details/cache_write_tokens").min(input.saturating_sub(count(usage, "/prompt_tokens_details/cached_tokens")));
        Some(Usage {
            input_tokens: input,
            // DeepSeek reports cache hits as `prompt_cache_hit_tokens` instead.
            cached_input_tokens: count(usage, "/prompt_tokens_details/cached_tokens"),
            cache_write_tokens: write,
            // OpenAI splits its writes by lifetime (`ttl_30m_tokens` and `ttl_12h_tokens`).
            cache_write_1h_tokens: count(usage, "/prompt_tokens_details/cache_write_tokens_details/ttl_12h_tokens").min(write),
            output_tokens: count(usage, "/completion_tokens"),
            reasoning_tokens: count(usage, "/completion_tokens_details/reasoning_tokens"),
            audio_input_tokens: count(usage, "/prompt_tokens_details/audio_tokens").min(input),
            cached_audio_input_tokens: 0,
            audio_output_tokens: count(usage, "/completion_tokens_details/audio_tokens").min(count(usage, "/completion_tokens")),
            // In the response around the usage object; `providers::openai` sets it.
            service_tier: ServiceTier::Standard,
            billed: reported_charge(usage),
        }
        .with_deepseek_cache(usage)
        .with_reasoning_beside_completion(usage))
    }

    /// Tokens a host counts in `total_tokens` but in neither `prompt_tokens` nor
    /// `completion_tokens`, which it bills all the same: reasoning, for xAI (prompt 12,
    /// completion 1, reasoning 386, total 399) and Gemini's OpenAI-compatible endpoint (prompt 9,
    /// completion 3, total 105, no reasoning field). Billed as output reasoning: a gateway that
    /// maps Gemini's grounding prompt (`toolUsePromptTokenCount`) there is overcharged at the
    /// output price, which a budget can bear better than thinking billed as nothing or as input.
    /// Hosts whose total is the two report no gap, and nothing changes.
    fn with_reasoning_beside_completion(mut self, usage: &Value) -> Usage {
        let Some(total) = usage.get("total_tokens").and_then(Value::as_u64) else { return self };
        let beside = total.saturating_sub(self.input_tokens.saturating_add(self.output_tokens));
        if beside > 0 {
            self.output_tokens = self.output_tokens.saturating_add(beside);
            self.reasoning_tokens = self.reasoning_tokens.max(beside).min(self.output_tokens);
        }
        self
    }

    fn with_deepseek_cache(mut self, usage: &Value) -> Usage {
        if self.cached_input_tokens == 0 {
            self.cached_input_tokens = count(usage, "/prompt_cache_hit_tokens").min(self.input_tokens);
        }
        self
    }

    /// Anthropic `usage` (a Messages response, `message_start.message.usage` or `message_delta.usage`).
    pub fn from_anthropic(usage: &Value) -> Usage {
        let uncached = count(usage, "/input_tokens");
        let read = count(usage, "/cache_read_input_tokens");
        let write = count(usage, "/cache_creation_input_tokens");
        Usage {
            // A host's counts are not trusted to be sane: a sum that wraps would bill ~nothing.
            input_tokens: uncached.saturating_add(read).saturating_add(write),
            cached_input_tokens: read,
            cache_write_tokens: write,
            // `cache_creation` splits the writes by lifetime (`ephemeral_5m_input_tokens` too).
            cache_write_1h_tokens: count(usage, "/cache_creation/ephemeral_1h_input_tokens").min(write),
            output_tokens: count(usage, "/output_tokens"),
            reasoning_tokens: 0,
            audio_input_tokens: 0,
            cached_audio_input_tokens: 0,
            audio_output_tokens: 0,
            service_tier: ServiceTier::Standard,
            billed: None,
        }
    }

    /// Gemini `usageMetadata`.
    pub fn from_gemini(meta: &Value) -> Usage {
        let thoughts = count(meta, "/thoughtsTokenCount");
        let cached = count(meta, "/cachedContentTokenCount");
        let input = count(meta, "/promptTokenCount").saturating_add(count(meta, "/toolUsePromptTokenCount"));
        Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            output_tokens: count(meta, "/candidatesTokenCount").saturating_add(thoughts),
            reasoning_tokens: thoughts,
            // `promptTokensDetails` splits the prompt (cached part included) by modality;
            // `cacheTokensDetails` the cached part.
            audio_input_tokens: modality_tokens(meta.get("promptTokensDetails"), "AUDIO").min(input),
            cached_audio_input_tokens: modality_tokens(meta.get("cacheTokensDetails"), "AUDIO").min(cached),
            audio_output_tokens: modality_tokens(meta.get("candidatesTokensDetails"), "AUDIO").min(count(meta, "/candidatesTokenCount")),
            service_tier: ServiceTier::Standard,
            billed: None,
        }
    }

    /// OpenAI embeddings `usage`: `prompt_tokens`, else `total_tokens` (hosts such as Voyage
    /// report only that); `None` when it names neither, so the request is estimated rather than
    /// billed as free.
    pub fn from_openai_embeddings(usage: &Value) -> Option<Usage> {
        let tokens = usage.get("prompt_tokens").and_then(Value::as_u64).or_else(|| usage.get("total_tokens").and_then(Value::as_u64))?;
        Some(Usage { input_tokens: tokens, billed: reported_charge(usage), ..Usage::default() })
    }

    /// The usage of two calls together (batches of one request): every count added; the tier is
    /// the first call's.
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            cached_input_tokens: self.cached_input_tokens.saturating_add(other.cached_input_tokens),
            cache_write_tokens: self.cache_write_tokens.saturating_add(other.cache_write_tokens),
            cache_write_1h_tokens: self.cache_write_1h_tokens.saturating_add(other.cache_write_1h_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            reasoning_tokens: self.reasoning_tokens.saturating_add(other.reasoning_tokens),
            audio_input_tokens: self.audio_input_tokens.saturating_add(other.audio_input_tokens),
            cached_audio_input_tokens: self.cached_audio_input_tokens.saturating_add(other.cached_audio_input_tokens),
            audio_output_tokens: self.audio_output_tokens.saturating_add(other.audio_output_tokens),
            service_tier: self.service_tier,
            // Both charged, or the table prices the whole (one charge alone would drop the other call).
            billed: match (self.billed, other.billed) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            },
        }
    }

    /// Keeps the larger of each count: Anthropic streams report input in `message_start` and the
    /// final output in `message_delta`, and some hosts repeat cumulative usage in every chunk.
    pub fn merge_max(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.cached_input_tokens = self.cached_input_tokens.max(other.cached_input_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(other.cache_write_tokens);
        self.cache_write_1h_tokens = self.cache_write_1h_tokens.max(other.cache_write_1h_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(other.reasoning_tokens);
        self.audio_input_tokens = self.audio_input_tokens.max(other.audio_input_tokens);
        self.cached_audio_input_tokens = self.cached_audio_input_tokens.max(other.cached_audio_input_tokens);
        self.audio_output_tokens = self.audio_output_tokens.max(other.audio_output_tokens);
        if !other.service_tier.is_standard() {
            self.service_tier = other.service_tier;
        }
        self.billed = self.billed.max(other.billed);
    }

    /// The usage object the router returns to OpenAI clients, whatever the provider.
    pub fn to_openai_json(&self) -> Value {
        let mut usage = json!({
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens(),
            "prompt_tokens_details": { "cached_tokens": self.cached_input_tokens },
            "completion_tokens_details": { "reasoning_tokens": self.reasoning_tokens },
        });
        // Prompt-cache writes (Anthropic's), billed above the input price, in OpenRouter's name,
        // which `from_openai` reads: a client pricing its own calls, and `/v1/messages`' answer
        // (Anthropic's `cache_creation_input_tokens`), need them apart. Left out when none, as
        // OpenAI's own usage has no such field.
        if self.cache_write_tokens > 0 {
            usage["prompt_tokens_details"]["cache_write_tokens"] = json!(self.cache_write_tokens);
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_counts_nest() {
        let u = Usage::from_openai(&json!({"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920}, "completion_tokens_details": {"reasoning_tokens": 192}}))
        .unwrap();
        assert_eq!(u, Usage { input_tokens: 2006, cached_input_tokens: 1920, output_tokens: 300, reasoning_tokens: 192, ..Usage::default() });
        assert_eq!(u.uncached_input_tokens(), 86);
        assert!(Usage::from_openai(&json!({})).is_none());
    }

    #[test]
    fn cache_writes_are_written_out_and_read_back() {
        let u = Usage { input_tokens: 3050, cached_input_tokens: 2000, cache_write_tokens: 1000, output_tokens: 70, ..Usage::default() };
        let json = u.to_openai_json();
        assert_eq!(json["prompt_tokens_details"], json!({"cached_tokens": 2000, "cache_write_tokens": 1000}));
        assert_eq!(Usage::from_openai(&json), Some(u));
        assert!(Usage::default().to_openai_json()["prompt_tokens_details"].get("cache_write_tokens").is_none(), "none: no field");
    }

    #[test]
    fn reasoning_counted_beside_the_completion_is_output() {
        // xAI: reasoning outside completion_tokens, inside total_tokens.
        let xai = Usage::from_openai(&json!({"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 399,
            "completion_tokens_details": {"reasoning_tokens": 386}})).unwrap();
        assert_eq!((xai.output_tokens, xai.reasoning_tokens), (387, 386));
        // Gemini's OpenAI-compatible endpoint: its thinking only in the total.
        let gemini = Usage::from_openai(&json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 105})).unwrap();
        assert_eq!((gemini.input_tokens, gemini.output_tokens, gemini.reasoning_tokens), (9, 96, 93));
        // A total short of the parts, or none, changes nothing.
        let short = Usage::from_openai(&json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 5})).unwrap();
        assert_eq!((short.output_tokens, short.reasoning_tokens), (3, 0));
    }

    #[test]
    fn usage_is_stored_compactly_and_read_back_whole() {
        // Zero audio counts and the standard tier are left out of what is stored; others are kept.
        let plain = Usage { input_tokens: 10, output_tokens: 2, ..Usage::default() };
        let stored = serde_json::to_value(plain).unwrap();
        assert!(stored.get("audio_input_tokens").is_none() && stored.get("service_tier").is_none() && stored.get("billed").is_none(), "{stored}");
        let spoken = Usage { audio_input_tokens: 4, cached_audio_input_tokens: 1, audio_output_tokens: 2, service_tier: ServiceTier::Priority, billed: Some(crate::money::Usd(7)), ..plain };
        let stored = serde_json::to_value(spoken).unwrap();
        assert_eq!(stored["service_tier"], "priority");
        assert_eq!(serde_json::from_value::<Usage>(stored).unwrap(), spoken);
    }

    #[test]
    fn batches_add_every_count() {
        let a = Usage { input_tokens: 1, cached_input_tokens: 2, cache_write_tokens: 3, cache_write_1h_tokens: 4, output_tokens: 5, reasoning_tokens: 6,
            audio_input_tokens: 7, cached_audio_input_tokens: 8, audio_output_tokens: 9, ..Usage::default() };
        let b = Usage { input_tokens: 10, cached_input_tokens: 20, cache_write_tokens: 30, cache_write_1h_tokens: 40, output_tokens: 50, reasoning_tokens: 60,
            audio_input_tokens: 70, cached_audio_input_tokens: 80, audio_output_tokens: 90, ..Usage::default() };
        let sum = a.plus(&b);
        assert_eq!(
            [sum.input_tokens, sum.cached_input_tokens, sum.cache_write_tokens, sum.cache_write_1h_tokens, sum.output_tokens, sum.reasoning_tokens,
             sum.audio_input_tokens, sum.cached_audio_input_tokens, sum.audio_output_tokens],
            [11, 22, 33, 44, 55, 66, 77, 88, 99]
        );
        // Gemini's tool-use prompt (grounding, code execution) is prompt too.
        let g = Usage::from_gemini(&json!({"promptTokenCount": 100, "toolUsePromptTokenCount": 30, "candidatesTokenCount": 5}));
        assert_eq!(g.input_tokens, 130);
    }

    #[test]
    fn a_later_chunk_names_the_tier_and_a_standard_one_does_not_undo_it() {
        let mut u = Usage { input_tokens: 10, ..Usage::default() };
        u.merge_max(&Usage { output_tokens: 3, service_tier: ServiceTier::Flex, ..Usage::default() });
        assert_eq!((u.input_tokens, u.output_tokens, u.service_tier), (10, 3, ServiceTier::Flex));
        u.merge_max(&Usage::default());
        assert_eq!(u.service_tier, ServiceTier::Flex);
    }

    #[test]
    fn absurd_counts_saturate_instead_of_wrapping_to_nothing() {
        let u = Usage::from_anthropic(&json!({"input_tokens": u64::MAX, "cache_read_input_tokens": 5, "output_tokens": 1}));
        assert_eq!((u.input_tokens, u.total_tokens()), (u64::MAX, u64::MAX));
        let g = Usage::from_gemini(&json!({"promptTokenCount": u64::MAX, "toolUsePromptTokenCount": 2, "candidatesTokenCount": u64::MAX, "thoughtsTokenCount": 3}));
        assert_eq!((g.input_tokens, g.output_tokens), (u64::MAX, u64::MAX));
        assert_eq!(g.plus(&g).input_tokens, u64::MAX);
        let audio = Usage::from_gemini(&json!({"promptTokenCount": 5, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": u64::MAX}, {"modality": "AUDIO", "tokenCount": 2}]}));
        assert_eq!(audio.audio_input_tokens, 5, "at most the prompt");
    }

    #[test]
    fn openrouter_says_what_it_charged() {
        let u = Usage::from_openai(&json!({"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050, "cost": 0.00123})).unwrap();
        assert_eq!(u.billed, Some(crate::money::Usd(1_230_000_000)));
        // Without the operator's own key, upstream_inference_cost repeats cost (a real answer).
        let plain = Usage::from_openai(&json!({"prompt_tokens": 2621, "completion_tokens": 217, "total_tokens": 2838, "cost": 0.0004277, "is_byok": false,
            "cost_details": {"upstream_inference_cost": 0.0004277}})).unwrap();
        assert_eq!(plain.billed, Some(crate::money::Usd(427_700_000)));
        // With the operator's own key, `cost` is OpenRouter's fee and the provider's charge is beside it.
        let byok = Usage::from_openai(&json!({"prompt_tokens": 1000, "completion_tokens": 50, "cost": 0.00005, "is_byok": true,
            "cost_details": {"upstream_inference_cost": 0.001}})).unwrap();
        assert_eq!(byok.billed, Some(crate::money::Usd(1_050_000_000)));
        assert_eq!(Usage::from_openai(&json!({"prompt_tokens": 1, "completion_tokens": 1})).unwrap().billed, None);
        assert_eq!(Usage::from_openai(&json!({"prompt_tokens": 1, "completion_tokens": 1, "cost": -1})).unwrap().billed, None);
        // Two embeddings batches: both charges.
        let batch = Usage::from_openai_embeddings(&json!({"prompt_tokens": 10, "cost": 0.000001})).unwrap();
        assert_eq!(batch.plus(&batch).billed, Some(crate::money::Usd(2_000_000)));
        assert_eq!(batch.plus(&Usage::default()).billed, None, "one charge alone: the table prices both");
    }

    #[test]
    fn openrouter_cache_writes() {
        let u = Usage::from_openai(&json!({"prompt_tokens": 3000, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 1800}})).unwrap();
        assert_eq!((u.cached_input_tokens, u.cache_write_tokens, u.uncached_input_tokens()), (1000, 1800, 200));
        // Never more than the prompt left after its cache reads.
        let u = Usage::from_openai(&json!({"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 90}})).unwrap();
        assert_eq!((u.cache_write_tokens, u.uncached_input_tokens()), (40, 0));
    }

    #[test]
    fn processing_tiers_by_the_names_openai_answers_with() {
        for (name, tier) in [("priority", ServiceTier::Priority), ("fast", ServiceTier::Priority), ("flex", ServiceTier::Flex), ("ultrafast", ServiceTier::Ultrafast),
            ("default", ServiceTier::Standard), ("auto", ServiceTier::Standard), ("scale", ServiceTier::Standard)] {
            assert_eq!(ServiceTier::from_response(Some(name)), tier, "{name}");
        }
        assert_eq!(ServiceTier::from_response(None), ServiceTier::Standard);
    }

    #[test]
    fn openai_cache_writes_by_lifetime() {
        // GPT-5.6 bills twelve-hour writes above thirty-minute ones: the twelve-hour share is the
        // longer-lived one, as Anthropic's one-hour writes are.
        let u = Usage::from_openai(&json!({"prompt_tokens": 5000, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 1000,
            "cache_write_tokens": 3000, "cache_write_tokens_details": {"ttl_30m_tokens": 1000, "ttl_12h_tokens": 2000}}})).unwrap();
        assert_eq!((u.cache_write_tokens, u.cache_write_1h_tokens, u.uncached_input_tokens()), (3000, 2000, 1000));
        // Never more than the writes counted.
        let u = Usage::from_openai(&json!({"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 90,
            "cache_write_tokens_details": {"ttl_12h_tokens": 90}}})).unwrap();
        assert_eq!((u.cache_write_tokens, u.cache_write_1h_tokens), (40, 40));
    }

    #[test]
    fn deepseek_cache_hits() {
        let u = Usage::from_openai(&json!({"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36})).unwrap();
        assert_eq!(u.cached_input_tokens, 64);
    }

    #[test]
    fn anthropic_input_excludes_cache_fields() {
        let u = Usage::from_anthropic(&json!({"input_tokens": 50, "cache_creation_input_tokens": 1000, "cache_read_input_tokens": 2000, "output_tokens": 70}));
        assert_eq!(u.input_tokens, 3050);
        assert_eq!(u.uncached_input_tokens(), 50);
        assert_eq!(u.cache_write_tokens, 1000);
        assert_eq!(u.cache_write_1h_tokens, 0);
        let split = Usage::from_anthropic(&json!({"input_tokens": 50, "cache_creation_input_tokens": 1000, "output_tokens": 70,
            "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600}}));
        assert_eq!((split.cache_write_tokens, split.cache_write_1h_tokens), (1000, 600));
    }

    #[test]
    fn gemini_thoughts_are_output() {
        let u = Usage::from_gemini(&json!({"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 50, "thoughtsTokenCount": 120, "totalTokenCount": 1170}));
        assert_eq!(u.output_tokens, 170);
        assert_eq!(u.reasoning_tokens, 120);
        assert_eq!(u.uncached_input_tokens(), 600);
    }
}
