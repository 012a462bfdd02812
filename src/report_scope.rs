//! What a credential may read of its tenant's reports (`/v1/usage`, `/v1/forecast`,
//! `/v1/recommendations`, `/v1/budgets`, `/v1/alerts`, and the dashboard, which reads those).
//!
//! A key whose tags are locked (`lock_tags`) is one team's (feature's, environment's, user's)
//! key: its requests are filed under those tags whatever they send, and it reads that slice of
//! the reports only, so a team's key does not show the other teams' spend or their users. Any
//! other key, a dashboard session opened with one, and the admin read the whole tenant.

use serde_json::Value;

use crate::api::ApiError;
use crate::budget::Scope;
use crate::events::Attribution;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportScope {
    /// The usage dimensions (as `/v1/usage` names them) and the value every row read must carry;
    /// empty for the whole tenant.
    tags: Vec<(&'static str, String)>,
    key_id: String,
}

impl ReportScope {
    /// The scope of a key: its locked tags, the ones it sets (a tag it leaves empty is the
    /// request's to choose, so it bounds nothing), or the whole tenant when they are not locked.
    pub fn for_key(key_id: &str, tags: &Attribution, locked: bool) -> Self {
        let fixed = [("team", &tags.team), ("feature", &tags.feature), ("env", &tags.environment), ("user", &tags.user)];
        let tags = if locked { fixed.into_iter().filter(|(_, v)| !v.is_empty()).map(|(d, v)| (d, v.clone())).collect() } else { Vec::new() };
        Self { tags, key_id: key_id.to_string() }
    }

    pub fn is_whole_tenant(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether the scope holds every row read to one value of `dim` (a key locked to a user).
    pub fn fixes(&self, dim: &str) -> bool {
        self.tags.iter().any(|(d, _)| *d == dim)
    }

    /// "team 'payments', env 'prod'".
    pub fn describe(&self) -> String {
        self.tags.iter().map(|(d, v)| format!("{d} '{v}'")).collect::<Vec<_>>().join(", ")
    }

    /// A usage report's filters (validated by `rollup::parse_filters`) with the scope's added.
    /// A filter on a dimension the scope fixes must ask for the same value: another one would
    /// read outside the slice, and an empty answer would look like no spend, so it is refused.
    pub fn filters(&self, mut requested: Vec<(&'static str, String)>) -> Result<Vec<(&'static str, String)>, ApiError> {
        for (dim, value) in &self.tags {
            match requested.iter().find(|(d, _)| d == dim) {
                Some((_, asked)) if asked != value => {
                    return Err(ApiError::permission_denied(format!(
                        "This key is locked to {}: it reads only that part of the tenant's reports, and the filter '{dim}' asks for '{asked}'.",
                        self.describe()
                    ))
                    .with_param(*dim));
                }
                Some(_) => {}
                None => requested.push((dim, value.clone())),
            }
        }
        Ok(requested)
    }

    /// Whether all of a budget's spend lies inside the scope: a budget on the key itself (its
    /// requests carry its locked tags), or on the one tag value a key locking a single tag
    /// fixes. A budget on one of two locked tags counts requests outside the slice (a key locked
    /// to team `payments` and env `prod` would see the team's other environments in its team's
    /// budget), as do the tenant's and one on a tag the key leaves open.
    pub fn sees_budget(&self, scope: &Scope) -> bool {
        let fixes = |dim: &str, value: &str| matches!(self.tags.as_slice(), [(d, v)] if *d == dim && v == value);
        self.is_whole_tenant()
            || match scope {
                Scope::Tenant => false,
                Scope::Key(key) => *key == self.key_id,
                Scope::Team(v) => fixes("team", v),
                Scope::Feature(v) => fixes("feature", v),
                Scope::Env(v) => fixes("env", v),
            }
    }

    /// The ledger's budget state (`budgets`, `states` by budget id, `limits`,
    /// `open_reservations`, `alerts`) as this scope may read it: the budgets it sees, their
    /// states and alerts; the tenant's count of requests in flight only for the whole tenant.
    pub fn budgets_view(&self, mut state: Value) -> Value {
        if self.is_whole_tenant() {
            return state;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(budgets) = state.get_mut("budgets").and_then(Value::as_array_mut) {
            budgets.retain(|b| {
                let visible = b.get("scope").and_then(|s| serde_json::from_value::<Scope>(s.clone()).ok()).is_some_and(|s| self.sees_budget(&s));
                if visible {
                    seen.insert(b["id"].as_str().unwrap_or_default().to_string());
                }
                visible
            });
        }
        if let Some(states) = state.get_mut("states").and_then(Value::as_object_mut) {
            states.retain(|id, _| seen.contains(id));
        }
        if let Some(alerts) = state.get_mut("alerts").and_then(Value::as_array_mut) {
            alerts.retain(|a| a["budget_id"].as_str().is_some_and(|id| seen.contains(id)));
        }
        if let Some(view) = state.as_object_mut() {
            view.remove("open_reservations");
            view.insert("scope".into(), self.tags.iter().map(|(d, v)| (d.to_string(), Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>().into());
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags(team: &str, feature: &str) -> Attribution {
        Attribution { team: team.into(), feature: feature.into(), ..Default::default() }
    }

    #[test]
    fn an_unlocked_key_reads_the_whole_tenant() {
        let scope = ReportScope::for_key("key_1", &tags("payments", ""), false);
        assert!(scope.is_whole_tenant());
        assert_eq!(scope.filters(vec![("team", "search".into())]).unwrap(), vec![("team", "search".into())]);
        assert!(scope.sees_budget(&Scope::Tenant));
        let state = json!({"budgets": [{"id": "all", "scope": {"kind": "tenant"}}], "open_reservations": 3});
        assert_eq!(scope.budgets_view(state.clone()), state);
    }

    #[test]
    fn a_locked_key_reads_its_tags_and_a_filter_outside_them_is_refused() {
        let scope = ReportScope::for_key("key_1", &tags("payments", ""), true);
        assert_eq!(scope.describe(), "team 'payments'");
        // Its tags join the filters; the tag it leaves open (feature) stays the caller's to filter.
        assert_eq!(scope.filters(vec![("feature", "search".into())]).unwrap(), vec![("feature", "search".into()), ("team", "payments".into())]);
        assert_eq!(scope.filters(vec![("team", "payments".into())]).unwrap(), vec![("team", "payments".into())]);
        let e = scope.filters(vec![("team", "search".into())]).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (403, Some("team")), "{}", e.message);
        assert!(e.message.contains("locked to team 'payments'"), "{}", e.message);
    }

    #[test]
    fn a_locked_key_sees_the_budgets_that_hold_only_its_slice() {
        let two_tags = ReportScope::for_key("key_1", &Attribution { team: "payments".into(), environment: "prod".into(), ..Default::default() }, true);
        assert!(two_tags.sees_budget(&Scope::Key("key_1".into())));
        assert!(!two_tags.sees_budget(&Scope::Team("payments".into())), "the team's other environments");
        assert!(!two_tags.sees_budget(&Scope::Env("prod".into())), "the other teams in prod");
        let scope = ReportScope::for_key("key_1", &tags("payments", ""), true);
        assert!(scope.sees_budget(&Scope::Team("payments".into())));
        assert!(!scope.sees_budget(&Scope::Env("prod".into())));
        assert!(scope.sees_budget(&Scope::Key("key_1".into())));
        assert!(!scope.sees_budget(&Scope::Tenant));
        assert!(!scope.sees_budget(&Scope::Team("search".into())));
        assert!(!scope.sees_budget(&Scope::Key("key_2".into())));
        // The key leaves the feature open: a feature budget also counts other teams' requests.
        assert!(!scope.sees_budget(&Scope::Feature("checkout".into())));
        let state = json!({
            "budgets": [
                {"id": "all", "scope": {"kind": "tenant"}},
                {"id": "pay", "scope": {"kind": "team", "value": "payments"}},
                {"id": "search", "scope": {"kind": "team", "value": "search"}},
                {"id": "mine", "scope": {"kind": "key", "value": "key_1"}},
            ],
            "states": {"all": {"spent": "9"}, "pay": {"spent": "1"}, "search": {"spent": "5"}, "mine": {"spent": "0.5"}},
            "limits": {"tenant_rpm": 600},
            "open_reservations": 12,
            "alerts": [{"budget_id": "all"}, {"budget_id": "pay"}, {"budget_id": "search"}],
        });
        let view = scope.budgets_view(state);
        let ids: Vec<&str> = view["budgets"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["pay", "mine"]);
        assert_eq!(view["states"], json!({"pay": {"spent": "1"}, "mine": {"spent": "0.5"}}));
        assert_eq!(view["alerts"], json!([{"budget_id": "pay"}]));
        assert!(view.get("open_reservations").is_none());
        assert_eq!(view["scope"], json!({"team": "payments"}));
        assert_eq!(view["limits"], json!({"tenant_rpm": 600}));
    }

    #[test]
    fn a_locked_key_without_tags_reads_the_whole_tenant() {
        // Nothing is fixed for its requests, so nothing bounds what it reads either.
        assert!(ReportScope::for_key("key_1", &Attribution::default(), true).is_whole_tenant());
    }
}
