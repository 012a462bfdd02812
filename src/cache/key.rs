//! The exact cache key.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::routing::{Candidate, RouteDecision};

/// Part of every key: changing the normalisation, or what an entry holds, changes this, so old
/// entries are never misread. v3: streamed Gemini answers were stored without their logprobs,
/// which a later request asking for them would have been served as null. v4: answers with audio
/// (whose ids expire) and Gemini answers cut short (`OTHER`, `LANGUAGE`, once read as `stop`) are
/// no longer stored; entries stored before are not served.
pub const KEY_VERSION: &str = "exact-v4";

/// Request fields that never change the answer: delivery (`stream`, `stream_options`) and
/// bookkeeping (`user`, `safety_identifier`, `prompt_cache_key`, `metadata`, `store`). Everything else — messages, tools, tool_choice,
/// response_format, temperature, top_p, n, stop, seed, max_tokens, logprobs, penalties, and any
/// field this router does not know — is part of the key, so an unknown parameter can only cause
/// a miss, never a wrong hit.
pub(crate) const IGNORED: &[&str] = &["stream", "stream_options", "user", "safety_identifier", "prompt_cache_key", "metadata", "store", "model"];

/// What an answer depends on besides the body: the model or alias asked for (after hostname
/// aliases) and the deployments the policy routed this request to, each as its model, provider
/// and upstream model. A policy can send the same body elsewhere for other callers (attribution
/// tags, country, hostname, hour of day); an answer is only shared between requests routed
/// alike. The provider counts as well as the upstream model: two hosts of one open model name
/// (Together's and Groq's Llama) are different quantisations and serving stacks, and a catalog
/// that points a model at another release no longer serves the old release's answers. The
/// routed deployments count as a set: a `fastest` or `cheapest` order moves with latencies and
/// prices, and after a fallback any of them may have answered. `route_variant` is what else
/// about the route decides the answer: a split's arms route to the same set in different
/// orders, so the arm a caller was drawn to (an answer from one arm served to the other's
/// callers would blur the comparison the split exists for); and a cascade serves only answers
/// it judged, which a `fallback` rule over the same models never did.
pub fn answer_scope(requested: &str, routed: &[Candidate], route_variant: Option<&str>) -> String {
    // Each as a JSON array: names may hold any character, and no two deployments read alike.
    let deployments: std::collections::BTreeSet<String> = routed.iter().map(|c| json!([c.model, c.provider, c.upstream_model]).to_string()).collect();
    let mut scope = String::from(requested);
    scope.push_str(" -> ");
    scope.push_str(&deployments.into_iter().collect::<Vec<_>>().join(","));
    if let Some(variant) = route_variant {
        scope.push_str(" | ");
        scope.push_str(variant);
    }
    scope
}

/// What about a route decides its answer beyond the set of deployments (`answer_scope`'s
/// `route_variant`): the arm a split drew; a cascade's order and threshold, since a cascade
/// serves only answers its judge accepted; and, for a route over several models in a fixed order
/// (`fallback`, `cheapest`), the model tried first, which is the one that answers while it is
/// healthy: a rule sending free users to `[mini, big]` and another sending enterprise users to
/// `[big, mini]` route to one set, and an enterprise caller was served mini's cached answer.
/// `fastest` is left as a set: its order moves with latencies, and any of them may answer.
pub fn route_variant(decision: &RouteDecision) -> Option<String> {
    let first = decision.candidates.first()?;
    match decision.route.as_str() {
        "split" => Some(format!("arm {}", first.model)),
        "cascade" => {
            let order: Vec<&str> = decision.candidates.iter().map(|c| c.model.as_str()).collect();
            let min_logprob = decision.cascade.and_then(|c| c.min_logprob).map_or_else(|| "none".to_string(), |m| m.to_string());
            Some(format!("cascade {} min_logprob {min_logprob}", order.join(" > ")))
        }
        "fastest" => None,
        _ if decision.candidates.iter().any(|c| c.model != first.model) => Some(format!("first {}", first.model)),
        _ => None,
    }
}

/// SHA-256 (hex) of the tenant, the answer's scope (see [`answer_scope`]), and the request body
/// with the ignored fields removed, serialised with sorted keys.
pub fn exact_key(tenant: &str, scope: &str, body: &Value) -> String {
    let mut normalized = body.clone();
    if let Some(map) = normalized.as_object_mut() {
        for field in IGNORED {
            map.remove(*field);
        }
    }
    let canonical = canonical_json(&normalized);
    let mut h = Sha256::new();
    for part in [KEY_VERSION, tenant, scope, canonical.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `value` as JSON with every object's keys sorted: the same request whatever order its client
/// wrote the keys in. Except a JSON schema's `properties`, kept in the client's order: a model
/// writes structured output in that order, so two orders are two requests.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, keep_order: bool, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                if !keep_order {
                    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, k == "properties", out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, false, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, false, &mut out);
    out
}
