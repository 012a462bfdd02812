//! What `costrouter policy check` says of models that are retired or soon will be: the router
//! passes a retired deployment over by itself (`DeploymentRef::retires_on`), but a rule whose
//! candidates are going, or an alias clients call by, is the operator's to change before then.

use crate::calendar::Date;
use crate::catalog::Catalog;

use super::policy::{Action, Policy};

/// How far ahead a retirement is told: a quarter, time to move a rule or an alias.
pub const NOTICE_DAYS: i64 = 90;

/// The name as the model it serves, and when that model is gone, in words, if it is or will be
/// within [`NOTICE_DAYS`] of `today`.
fn when_gone(catalog: &Catalog, name: &str, today: Date) -> Option<(String, String)> {
    let model = catalog.resolve(name)?;
    let day = model.retires_on()?;
    let when = match day.days - today.days {
        ..=0 => format!("was retired on {day}"),
        left @ 1..=NOTICE_DAYS => format!("retires on {day}, in {left} day{}", if left == 1 { "" } else { "s" }),
        _ => return None,
    };
    let named = if model.name == name { format!("'{name}'") } else { format!("'{name}' ({})", model.name) };
    Some((named, when))
}

/// A note for each candidate of `policy`'s rules, and each model its hostnames name, that is
/// retired or soon will be (`source_name` is the policy's file, as its other notes name it).
pub fn policy_notes(policy: &Policy, source_name: &str, catalog: &Catalog, today: Date) -> Vec<String> {
    let mut notes = Vec::new();
    for rule in &policy.rules {
        let Action::Route(route) = &rule.action else { continue };
        for candidate in &route.candidates {
            if let Some((named, when)) = when_gone(catalog, candidate, today) {
                notes.push(format!("{source_name}:{}: rule '{}': candidate {named} {when}: the rule passes it over from that day", rule.line, rule.name));
            }
        }
    }
    if policy.cache.semantic {
        if let Some((named, when)) = when_gone(catalog, &policy.cache.semantic_embedder, today) {
            notes.push(format!("{source_name}: cache.semantic_embedder {named} {when}: the semantic cache neither looks up nor stores from that day"));
        }
    }
    for host in &policy.hosts {
        if let Some((named, when)) = when_gone(catalog, &host.model, today) {
            notes.push(format!("{source_name}: host '{}' names {named}, which {when}: its requests are refused (404) from that day unless a rule routes them elsewhere", host.host));
        }
    }
    notes
}

/// A note for each alias of the catalog whose model is retired or soon will be: clients call by
/// aliases so that the operator can point them elsewhere.
pub fn alias_notes(catalog: &Catalog, today: Date) -> Vec<String> {
    catalog.aliases.keys().filter_map(|alias| when_gone(catalog, alias, today).map(|(named, when)| format!("alias {named} {when}: point it at a current model"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{"version":1,"providers":{"openai":{"preset":"openai"},"azure":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21"}},
              "models":{"gpt-4o":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o","retires_on":"2027-01-14"}]},
                        "gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini","retires_on":"2027-01-14"},{"provider":"azure","upstream_model":"mini"}]},
                        "o4-mini":{"deployments":[{"provider":"openai","upstream_model":"o4-mini","retires_on":"2026-10-23"}]},
                        "emb":{"mode":"embedding","deployments":[{"provider":"openai","upstream_model":"text-embedding-3-small","retires_on":"2026-12-31"}]}},
              "aliases":{"gpt4o":"gpt-4o","fast":"gpt-4o-mini"}}"#,
        )
        .unwrap()
    }

    const POLICY: &str = r#"version = 1
name = "p"
[[hosts]]
host = "gpt4o.example.com"
model = "gpt4o"
[cache]
enabled = true
semantic = true
semantic_embedder = "emb"
[[rules]]
name = "cheap"
route = { strategy = "cheapest", candidates = ["gpt-4o-mini", "o4-mini", "gpt4o"] }
[[rules]]
name = "default"
route = { strategy = "requested" }
"#;

    #[test]
    fn retired_and_soon_retired_candidates_hosts_and_aliases_are_told_with_their_days() {
        let cat = catalog();
        let policy = Policy::from_toml("p.toml", POLICY, &cat).unwrap();
        let day = |s: &str| Date::parse(s).unwrap();
        // gpt-4o-mini stays on Azure: never told.
        assert_eq!(
            policy_notes(&policy, "p.toml", &cat, day("2026-12-08")),
            [
                "p.toml:10: rule 'cheap': candidate 'o4-mini' was retired on 2026-10-23: the rule passes it over from that day",
                "p.toml:10: rule 'cheap': candidate 'gpt4o' (gpt-4o) retires on 2027-01-14, in 37 days: the rule passes it over from that day",
                "p.toml: cache.semantic_embedder 'emb' retires on 2026-12-31, in 23 days: the semantic cache neither looks up nor stores from that day",
                "p.toml: host 'gpt4o.example.com' names 'gpt4o' (gpt-4o), which retires on 2027-01-14, in 37 days: its requests are refused (404) from that day unless a rule routes them elsewhere",
            ]
        );
        assert_eq!(alias_notes(&cat, day("2027-01-13")), ["alias 'gpt4o' (gpt-4o) retires on 2027-01-14, in 1 day: point it at a current model"]);
        assert_eq!(alias_notes(&cat, day("2027-01-14")), ["alias 'gpt4o' (gpt-4o) was retired on 2027-01-14: point it at a current model"]);
        // Told a quarter ahead, not before.
        assert_eq!(alias_notes(&cat, Date { days: day("2027-01-14").days - NOTICE_DAYS }).len(), 1);
        assert!(alias_notes(&cat, Date { days: day("2027-01-14").days - NOTICE_DAYS - 1 }).is_empty());
        assert_eq!(policy_notes(&policy, "p.toml", &cat, day("2026-07-01")).len(), 0, "o4-mini is 114 days off");
    }
}
