//! Tool-call ids rewritten for providers that accept only ids of their own shape.
//!
//! A conversation's history carries ids minted by whichever provider answered each turn: `call_…`
//! from OpenAI, `toolu_…` from Anthropic, `functions.get_weather:0` from Kimi models on
//! OpenRouter, Together or vLLM, this router's own for Gemini. A provider that refuses one of
//! them refuses the whole request with a 400, which ends the fallback chain. Each rewrite is a
//! function of the id alone, so an assistant's `tool_calls[].id` and the `tool_call_id` of the
//! tool message answering it still name the same call; an id already of the right shape is kept.

use std::borrow::Cow;

use super::fnv1a;

/// An id as Anthropic takes it for `tool_use.id` and `tool_result.tool_use_id`: one or more of
/// `[a-zA-Z0-9_-]`. Every other character becomes `_`, and then a hash of the original id is
/// appended, so that ids differing only in those characters (`f:1` and `f.1`) stay distinct.
pub fn for_anthropic(id: &str) -> Cow<'_, str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(allowed) {
        return Cow::Borrowed(id);
    }
    let replaced: String = id.chars().map(|c| if allowed(c) { c } else { '_' }).collect();
    // 32 bits are plenty to tell apart the few calls of one conversation.
    Cow::Owned(format!("{replaced}_{:08x}", fnv1a(id.as_bytes()) as u32))
}

/// An id as Mistral takes it: exactly nine of `[a-zA-Z0-9]`. Any other id becomes nine base-62
/// digits of its hash (62⁹ ≈ 1.4 × 10¹⁶ ids, far more than one conversation holds).
pub fn as_nine_alphanumerics(id: &str) -> Cow<'_, str> {
    const LENGTH: usize = 9;
    if id.len() == LENGTH && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Cow::Borrowed(id);
    }
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let base = DIGITS.len() as u64;
    let mut hash = fnv1a(id.as_bytes());
    let digits = (0..LENGTH).map(|_| {
        let digit = DIGITS[(hash % base) as usize];
        hash /= base;
        char::from(digit)
    });
    Cow::Owned(digits.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anthropic_accepts(id: &str) -> bool {
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn ids_anthropic_refuses_become_ids_it_takes_and_stay_distinct() {
        for kept in ["toolu_01A09q90qw90lq917835lq9", "call_Xyz-123", "call_00ab_0_1"] {
            assert!(matches!(for_anthropic(kept), Cow::Borrowed(id) if id == kept), "{kept}");
        }
        let kimi = for_anthropic("functions.get_weather:0");
        assert!(kimi.starts_with("functions_get_weather_0_") && anthropic_accepts(&kimi), "{kimi}");
        assert_eq!(kimi, for_anthropic("functions.get_weather:0"), "the same id every time");
        assert_ne!(for_anthropic("f:1"), for_anthropic("f.1"));
        assert_ne!(for_anthropic("f:1"), "f_1", "differs from the id that has an underscore there");
        for odd in ["", "ünïcode id", "a/b"] {
            assert!(anthropic_accepts(&for_anthropic(odd)), "{odd:?} → {}", for_anthropic(odd));
        }
    }

    #[test]
    fn ids_mistral_refuses_become_nine_alphanumerics() {
        let mistral_accepts = |id: &str| id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        assert!(matches!(as_nine_alphanumerics("D681PevKs"), Cow::Borrowed("D681PevKs")), "Mistral's own id is kept");
        let ids = ["call_abc123", "toolu_01A09q90qw90lq917835lq9", "call_00ab12cd34ef56gh_0_1", "functions.get_weather:0", "", "D681PevK", "D681PevKs0"];
        let mapped: Vec<String> = ids.iter().map(|id| as_nine_alphanumerics(id).into_owned()).collect();
        assert!(mapped.iter().all(|id| mistral_accepts(id)), "{mapped:?}");
        assert_eq!(as_nine_alphanumerics("call_abc123"), mapped[0], "the same id every time");
        let distinct: std::collections::BTreeSet<&String> = mapped.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
