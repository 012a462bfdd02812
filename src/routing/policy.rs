//! Routing policies: ordered rules, each a condition and an action, loaded from TOML.
//!
//! A tenant's policy lives in `policies/<tenant>.toml` (KV key `policy:<tenant>`), falling back to
//! `policies/default.toml`. The first rule whose `when` matches decides: route to candidates with
//! a strategy, block with a message, or answer with a fixed response (no model). Loading
//! validates every field and names the line at fault.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::classify::{RiskTier, TaskClass};
use super::local_time::{LocalTime, Zone, WEEKDAYS};
use crate::calendar::utc_hour;

pub const POLICY_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<u32>,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    hosts: Vec<Spanned<HostAlias>>,
    /// The exact response cache (`[cache]`); off when absent.
    #[serde(default)]
    cache: Option<Spanned<crate::cache::CacheSettings>>,
    /// `/v1/responses` answers' items kept for reference (`[responses]`); 30 days when absent.
    #[serde(default)]
    responses: Option<Spanned<crate::api::responses::stored_items::StoreSettings>>,
    rules: Vec<Spanned<RawRule>>,
}

/// `gpt4o.router.example.com` → the client gets the alias `gpt4o`, whatever `model` it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostAlias {
    /// An exact hostname, or `*.suffix` for any subdomain.
    pub host: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    when: Condition,
    route: Option<Route>,
    block: Option<String>,
    respond: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// Every field is optional; all present fields must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub task: Option<Vec<TaskClass>>,
    pub difficulty: Option<Range>,
    pub risk: Option<Vec<RiskTier>>,
    pub prompt_tokens: Option<Range>,
    pub has_tools: Option<bool>,
    pub has_images: Option<bool>,
    pub has_schema: Option<bool>,
    /// The model or alias the client asked for.
    pub model: Option<Vec<String>>,
    pub plan: Option<Vec<String>>,
    pub feature: Option<Vec<String>>,
    pub team: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub user: Option<Vec<String>>,
    pub host: Option<Vec<String>>,
    /// ISO 3166 country codes from `request.cf.country`.
    pub country: Option<Vec<String>>,
    /// Continent codes from `request.cf.continent` (`EU`, `NA`, ...).
    pub continent: Option<Vec<String>>,
    /// `request.cf.isEUCountry`.
    pub eu: Option<bool>,
    /// UTC hours `[from, to)`; wraps past midnight when from > to.
    pub hour_utc: Option<[u8; 2]>,
    /// Days and hours in a time zone, summer time included.
    pub local_time: Option<LocalWindow>,
}

/// `{ zone = "Europe/Berlin", hours = [9, 17], days = ["mon", "tue", "wed", "thu", "fri"] }`:
/// the request arrives within those local hours (`[from, to)`, wrapping past midnight when from >
/// to) on one of those local weekdays; either may be left out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalWindow {
    /// A tz database name (`America/New_York`) or `UTC`.
    pub zone: String,
    pub hours: Option<[u8; 2]>,
    /// `mon` ... `sun`.
    pub days: Option<Vec<String>>,
    /// The zone's rule, read once when the policy loads.
    #[serde(skip)]
    resolved: Option<Zone>,
}

impl LocalWindow {
    /// The local time at `unix`, if the window holds it.
    fn holding(&self, unix: i64) -> Option<LocalTime> {
        let local = match &self.resolved {
            Some(zone) => zone.local(unix),
            // Only a window built outside the loader has no zone read yet.
            None => Zone::named(&self.zone).ok()?.local(unix),
        };
        let day_fits = self.days.as_ref().is_none_or(|days| days.iter().any(|d| d.eq_ignore_ascii_case(WEEKDAYS[usize::from(local.weekday)])));
        let hour_fits = self.hours.is_none_or(|h| within_hours(h, local.hour));
        (day_fits && hour_fits).then_some(local)
    }
}

/// `[from, to)` in hours of the day, wrapping past midnight when from > to.
fn within_hours([from, to]: [u8; 2], hour: u8) -> bool {
    if from <= to {
        (from..to).contains(&hour)
    } else {
        hour >= from || hour < to
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The model the client asked for, then its own deployments as fallbacks.
    Requested,
    /// The candidates in the order given, each model's deployments in turn.
    Fallback,
    /// Every candidate that can hold the request, cheapest estimated cost first.
    Cheapest,
    /// One candidate by weight, sticky per user; the others follow as fallbacks.
    Split,
    /// Every candidate's deployments, lowest moving-average latency first (unmeasured ones
    /// first of all, so they get measured).
    Fastest,
    /// The first candidate; its answer escalates to the next when it fails the request's JSON
    /// schema, refuses, stops on length, or its mean logprob is below `min_logprob`.
    /// Non-streaming requests only (a stream is buffered when `buffer_streams` is true).
    Cascade,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub strategy: Strategy,
    #[serde(default)]
    pub candidates: Vec<String>,
    /// For `split`: one weight per candidate.
    #[serde(default)]
    pub weights: Vec<u32>,
    /// Only deployments in these regions may serve (data residency); none healthy → refuse.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Cascade: escalate when the answer's mean token logprob is below this (asks for logprobs).
    #[serde(default)]
    pub min_logprob: Option<f64>,
    /// Cascade: buffer streaming requests (the client receives the final answer as one burst).
    #[serde(default)]
    pub buffer_streams: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    Route(Route),
    Block(String),
    Respond(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    pub line: usize,
    pub when: Condition,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub name: String,
    pub description: String,
    pub hosts: Vec<HostAlias>,
    pub cache: crate::cache::CacheSettings,
    pub responses: crate::api::responses::stored_items::StoreSettings,
    pub rules: Vec<Rule>,
    /// What loaded but may not be meant (`costrouter policy check` prints them), at their lines.
    pub notes: Vec<String>,
    /// What loaded but cannot work as written (a condition or host that never matches, a
    /// semantic embedder that cannot embed), at their lines: `costrouter policy check` fails on
    /// them, so `make seed-remote` pushes none; the worker logs them and serves the rest, since a
    /// policy stored before these were checked must not stop a tenant's traffic after a deploy.
    pub defects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct PolicyError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Whether `request.cf`'s country says where the request comes from: not when it names none
/// (another Worker calling through a service binding sends no `cf`), nor Cloudflare's "XX" (no
/// location data for the address) or "T1" (a Tor exit node).
pub fn location_unknown(country: &str) -> bool {
    matches!(country, "" | "XX" | "T1")
}

/// The facts about a request that rules test.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    pub task: Option<TaskClass>,
    pub difficulty: f64,
    pub risk: Option<RiskTier>,
    pub prompt_tokens: u64,
    pub has_tools: bool,
    pub has_images: bool,
    pub has_schema: bool,
    /// The model as the client named it.
    pub model: String,
    /// The catalog model that name serves (through an alias; empty if none): a `when.model`
    /// naming a model matches requests for it by any of its names.
    pub model_served: String,
    pub plan: String,
    pub feature: String,
    pub team: String,
    pub env: String,
    pub user: String,
    pub host: String,
    pub country: String,
    pub continent: String,
    pub eu: bool,
    /// Where the request comes from is unknown (see [`location_unknown`]). An `eu = true` condition then matches, so
    /// a rule that holds EU traffic to EU deployments fails closed; country, continent and
    /// `eu = false` conditions do not.
    pub location_unknown: bool,
    /// When the request arrived (seconds since 1970, UTC), for `hour_utc` and `local_time`
    /// conditions.
    pub now_unix: i64,
    /// Not a rule condition: the system prompt's tokens from classification, carried to the
    /// request's cost event so the prompt is not tokenized twice.
    pub system_prompt_tokens: u64,
}

/// The names a policy may use, which the loader checks it against: the catalog's in production.
pub trait KnownNames {
    /// A model or alias.
    fn is_model(&self, name: &str) -> bool;
    /// A region some provider is in (compared without case, as routing compares them).
    fn is_region(&self, name: &str) -> bool;
    /// A model or alias that serves chat (not an embedding model).
    fn is_chat_model(&self, name: &str) -> bool {
        self.is_model(name)
    }
    /// The model a name routes to (an alias's target).
    fn model_of<'a>(&'a self, name: &'a str) -> &'a str {
        name
    }
    /// Whether a deployment of the model or alias has a provider in one of `regions`.
    fn serves_in(&self, _name: &str, regions: &[String]) -> bool {
        regions.iter().any(|r| self.is_region(r))
    }
}

impl KnownNames for crate::catalog::Catalog {
    fn is_model(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
    fn is_region(&self, name: &str) -> bool {
        self.providers.values().any(|p| p.region.as_ref().is_some_and(|r| r.eq_ignore_ascii_case(name)))
    }
    fn is_chat_model(&self, name: &str) -> bool {
        self.resolve(name).is_some_and(|m| m.mode == crate::catalog::ModelMode::Chat)
    }
    fn model_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.resolve(name).map_or(name, |m| m.name.as_str())
    }
    fn serves_in(&self, name: &str, regions: &[String]) -> bool {
        let in_regions = |d: &crate::catalog::DeploymentRef| {
            self.providers.get(&d.provider).and_then(|p| p.region.as_deref()).is_some_and(|r| regions.iter().any(|want| want.eq_ignore_ascii_case(r)))
        };
        self.resolve(name).is_some_and(|m| m.deployments.iter().any(in_regions))
    }
}

impl Policy {
    /// Parses and validates a policy against the catalog's names; a rule naming a model, alias
    /// or region the catalog lacks is an error, reported at its line.
    pub fn from_toml(source_name: &str, text: &str, known: &dyn KnownNames) -> Result<Policy, PolicyError> {
        let err = |line: usize, message: String| PolicyError { source_name: source_name.to_string(), line, message };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            err(line, e.message().to_string())
        })?;
        if *raw.version.get_ref() != POLICY_VERSION {
            return Err(err(line_of(text, raw.version.span().start), format!("unsupported version {}; this router reads version {POLICY_VERSION}", raw.version.get_ref())));
        }
        let mut hosts = Vec::new();
        let mut defects = Vec::new();
        let mut host_lines = BTreeMap::new();
        for h in raw.hosts {
            let line = line_of(text, h.span().start);
            let h = h.into_inner();
            if let Some(problem) = host_pattern_problem(&h.host) {
                return Err(err(line, format!("host '{}' {problem}", h.host)));
            }
            if misplaced_wildcard(&h.host) {
                defects.push(err(line, format!("host '{}' {MISPLACED_WILDCARD}", h.host)).to_string());
            }
            if !h.host.is_ascii() {
                defects.push(err(line, format!("host '{}' {NOT_PUNYCODE}", h.host)).to_string());
            }
            // Two entries for one hostname: which one wins would depend on how it is matched.
            if let Some(previous) = host_lines.insert(h.host.to_ascii_lowercase(), line) {
                defects.push(err(line, format!("host '{}' is already listed at line {previous}", h.host)).to_string());
            }
            if !known.is_model(&h.model) {
                return Err(err(line, format!("host '{}' names unknown model or alias '{}'", h.host, h.model)));
            }
            if !known.is_chat_model(&h.model) {
                return Err(err(line, format!("host '{}' names '{}', an embedding model, which cannot answer chat requests", h.host, h.model)));
            }
            hosts.push(h);
        }
        let mut rules = Vec::new();
        let mut notes = Vec::new();
        let mut names = BTreeMap::new();
        // The first rule without conditions: it takes every request, so no rule after it runs.
        let mut matches_all: Option<(String, usize)> = None;
        for r in raw.rules {
            let line = line_of(text, r.span().start);
            let r = r.into_inner();
            if let Some(previous) = names.insert(r.name.clone(), line) {
                return Err(err(line, format!("rule name '{}' is already used at line {previous}", r.name)));
            }
            // A residency or block rule added below the default would never run, silently.
            if let Some((first, at)) = &matches_all {
                defects.push(err(line, format!("rule '{}' can never match: rule '{first}' at line {at} has no conditions and takes every request first; move it above", r.name)).to_string());
            } else if r.when == Condition::default() {
                matches_all = Some((r.name.clone(), line));
            }
            let action = match (r.route, r.block, r.respond) {
                (Some(route), None, None) => {
                    validate_route(&route, known).map_err(|m| err(line, format!("rule '{}': {m}", r.name)))?;
                    if let Some(problem) = same_model_twice(&route, known) {
                        notes.push(format!("{source_name}:{line}: rule '{}': {problem}", r.name));
                    }
                    // Regions some provider is in, but no deployment of this rule's candidates:
                    // every request the rule takes would be refused as a residency failure. A
                    // defect, not an error: a catalog change can cause it, and the tenant's other
                    // rules must keep serving.
                    if !route.regions.is_empty() && !route.candidates.is_empty() && !route.candidates.iter().any(|c| known.serves_in(c, &route.regions)) {
                        defects.push(err(line, format!("rule '{}': no deployment of its candidates is in the regions {:?}, so every request it takes would be refused", r.name, route.regions)).to_string());
                    }
                    Action::Route(route)
                }
                (None, Some(message), None) => Action::Block(message),
                (None, None, Some(text)) => Action::Respond(text),
                _ => return Err(err(line, format!("rule '{}' needs exactly one of `route`, `block` or `respond`", r.name))),
            };
            let hour_fields = [("hour_utc", r.when.hour_utc), ("local_time.hours", r.when.local_time.as_ref().and_then(|w| w.hours))];
            for (field, h) in hour_fields.into_iter().filter_map(|(field, h)| Some((field, h?))) {
                if h[0] > 23 || h[1] > 24 {
                    return Err(err(line, format!("rule '{}': {field} is [from, to) with from 0-23 and to 0-24", r.name)));
                }
                if h[0] == h[1] {
                    defects.push(err(line, format!("rule '{}': {field} [{}, {}] has equal ends, so it matches no hour", r.name, h[0], h[1])).to_string());
                }
            }
            let mut when = r.when;
            if let Some(window) = when.local_time.as_mut() {
                window.resolved = Some(Zone::named(&window.zone).map_err(|e| err(line, format!("rule '{}': local_time.zone {e}", r.name)))?);
                if window.hours.is_none() && window.days.is_none() {
                    return Err(err(line, format!("rule '{}': local_time needs hours, days or both (a zone alone matches every request)", r.name)));
                }
                if let Some(day) = window.days.iter().flatten().find(|d| !WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(d))) {
                    return Err(err(line, format!("rule '{}': local_time.days '{day}' is no day; days are {}", r.name, WEEKDAYS.join(", "))));
                }
                if window.days.as_ref().is_some_and(Vec::is_empty) {
                    defects.push(err(line, format!("rule '{}': local_time.days is an empty list, which matches nothing; leave it out to match any day", r.name)).to_string());
                }
            }
            for (field, range) in [("difficulty", when.difficulty), ("prompt_tokens", when.prompt_tokens)] {
                if let Some(Range { min: Some(min), max: Some(max) }) = range {
                    if min > max {
                        return Err(err(line, format!("rule '{}': {field} has min {min} above max {max}, so it matches nothing", r.name)));
                    }
                }
            }
            // Difficulty is a score from 0 to 1: a bound outside it makes the condition always
            // or never true, which is not what anyone writing it meant.
            if let Some(Range { min, max }) = when.difficulty {
                if let Some(bound) = min.into_iter().chain(max).find(|b| !(0.0..=1.0).contains(b)) {
                    defects.push(err(line, format!("rule '{}': difficulty bounds are between 0 and 1 (got {bound})", r.name)).to_string());
                }
            }
            let w = &when;
            let lists: [(&str, Option<usize>); 11] = [
                ("task", w.task.as_ref().map(Vec::len)),
                ("risk", w.risk.as_ref().map(Vec::len)),
                ("model", w.model.as_ref().map(Vec::len)),
                ("plan", w.plan.as_ref().map(Vec::len)),
                ("feature", w.feature.as_ref().map(Vec::len)),
                ("team", w.team.as_ref().map(Vec::len)),
                ("env", w.env.as_ref().map(Vec::len)),
                ("user", w.user.as_ref().map(Vec::len)),
                ("host", w.host.as_ref().map(Vec::len)),
                ("country", w.country.as_ref().map(Vec::len)),
                ("continent", w.continent.as_ref().map(Vec::len)),
            ];
            if let Some((field, _)) = lists.iter().find(|(_, len)| *len == Some(0)) {
                defects.push(err(line, format!("rule '{}': when.{field} is an empty list, which matches nothing; leave it out to match any", r.name)).to_string());
            }
            // Values no request carries: a block or residency rule written with "Germany" or
            // "Payments Team" would load and never fire.
            let not_a_tag = format!("can be no request's tag (a tag is {}; \"\" matches untagged requests)", crate::attribution::TAG_RULE);
            let checked: [ValueCheck; 6] = [
                ("country", &w.country, country_code, "is no country code as Cloudflare gives one (ISO 3166-1 alpha-2, such as \"DE\"; XX and T1 for none and Tor, \"\" for a request without request.cf)"),
                ("continent", &w.continent, |c| c.is_empty() || CONTINENTS.iter().any(|k| k.eq_ignore_ascii_case(c)), "is none of Cloudflare's continent codes (AF, AN, AS, EU, NA, OC, SA, T1; \"\" for a request without request.cf)"),
                ("feature", &w.feature, tag_or_untagged, &not_a_tag),
                ("team", &w.team, tag_or_untagged, &not_a_tag),
                ("env", &w.env, tag_or_untagged, &not_a_tag),
                ("user", &w.user, tag_or_untagged, &not_a_tag),
            ];
            for (field, values, fits, why) in checked {
                if let Some(v) = values.iter().flatten().find(|v| !fits(v)) {
                    defects.push(err(line, format!("rule '{}': when.{field} '{v}' {why}, so it never matches", r.name)).to_string());
                }
            }
            for h in when.host.iter().flatten() {
                if let Some(problem) = host_pattern_problem(h) {
                    return Err(err(line, format!("rule '{}': when.host '{h}' {problem}", r.name)));
                }
                if misplaced_wildcard(h) {
                    defects.push(err(line, format!("rule '{}': when.host '{h}' {MISPLACED_WILDCARD}", r.name)).to_string());
                }
                if !h.is_ascii() {
                    defects.push(err(line, format!("rule '{}': when.host '{h}' {NOT_PUNYCODE}", r.name)).to_string());
                }
            }
            // A name the catalog lacks is a name clients may still send (`auto`, for a router
            // that picks): it matches requests that name it, and a typo shows in the check.
            for m in when.model.iter().flatten() {
                if !known.is_model(m) {
                    notes.push(format!("{source_name}:{line}: rule '{}': when.model '{m}' is no model or alias in the catalog; it matches only requests that send that name", r.name));
                }
            }
            rules.push(Rule { name: r.name, line, when, action });
        }
        if rules.is_empty() {
            return Err(err(1, "a policy needs at least one rule".into()));
        }
        let cache = match raw.cache {
            None => crate::cache::CacheSettings::default(),
            Some(c) => {
                let line = line_of(text, c.span().start);
                let c = c.into_inner();
                c.validate().map_err(|m| err(line, m))?;
                if c.semantic_embedder != crate::cache::semantic::STATIC_EMBEDDER && !known.is_model(&c.semantic_embedder) {
                    return Err(err(line, format!("cache.semantic_embedder '{}' is neither \"static\" nor a model in the catalog", c.semantic_embedder)));
                }
                if c.semantic_embedder != crate::cache::semantic::STATIC_EMBEDDER && known.is_chat_model(&c.semantic_embedder) {
                    defects.push(err(line, format!("cache.semantic_embedder '{}' is a chat model; it must be an embedding model (or \"static\")", c.semantic_embedder)).to_string());
                }
                c
            }
        };
        // Region-held routes are never cached (`cache::plan`): an owner who turns the cache on
        // should hear which rules it will not serve, not find it out from hit rates.
        if cache.enabled {
            for r in &rules {
                if matches!(&r.action, Action::Route(route) if !route.regions.is_empty()) {
                    notes.push(format!("{source_name}:{}: rule '{}': its route is held to regions, so its answers are not cached (the caches keep answers outside any region)", r.line, r.name));
                }
            }
        }
        let responses = match raw.responses {
            None => Default::default(),
            Some(r) => {
                let line = line_of(text, r.span().start);
                let r = r.into_inner();
                r.validate().map_err(|m| err(line, m))?;
                r
            }
        };
        Ok(Policy { name: raw.name, description: raw.description, hosts, cache, responses, rules, notes, defects })
    }

    /// Whether a hostname alias or a rule looks at the request's host (else it need not be read).
    pub fn reads_host(&self) -> bool {
        !self.hosts.is_empty() || self.rules.iter().any(|r| r.when.host.is_some())
    }

    /// The alias a request's hostname selects, if any.
    /// An exact hostname wins over a wildcard, and a longer wildcard over a shorter one (as
    /// Cloudflare routes and nginx match), whatever their order in the file.
    pub fn host_model(&self, host: &str) -> Option<&str> {
        let host = host.to_ascii_lowercase();
        let exact = self.hosts.iter().find(|h| h.host.eq_ignore_ascii_case(&host));
        exact.or_else(|| self.hosts.iter().filter(|h| host_matches(&h.host, &host)).max_by_key(|h| h.host.len())).map(|h| h.model.as_str())
    }

    /// The first rule that matches, with the conditions that made it match, in words.
    pub fn first_match(&self, facts: &Facts) -> Option<(&Rule, String)> {
        self.rules.iter().find_map(|r| r.when.matches(facts).map(|why| (r, why)))
    }
}

/// A request URL's hostname as policies name it: lowercase, without the trailing dot of a fully
/// qualified name (`gpt4o.router.example.com.` is the same host, and must not slip past a
/// `when.host` rule or its alias).
pub fn request_hostname(url_host: &str) -> String {
    url_host.strip_suffix('.').unwrap_or(url_host).to_ascii_lowercase()
}

/// Two names of one model (an alias and its target) in a cascade or a split: the cascade never
/// has a stronger model to escalate to there, the split measures nothing. A note rather than an
/// error: such a policy still routes (as it did before this was checked), and a catalog change
/// re-pointing an alias must not stop a tenant's traffic.
fn same_model_twice(route: &Route, known: &dyn KnownNames) -> Option<String> {
    if !matches!(route.strategy, Strategy::Cascade | Strategy::Split) {
        return None;
    }
    route.candidates.iter().enumerate().find_map(|(i, a)| {
        let b = route.candidates[..i].iter().find(|b| known.model_of(b) == known.model_of(a))?;
        let strategy = format!("{:?}", route.strategy).to_lowercase();
        Some(format!("candidates '{b}' and '{a}' are the same model ({}): a {strategy} needs different models to do anything", known.model_of(a)))
    })
}

fn validate_route(route: &Route, known: &dyn KnownNames) -> Result<(), String> {
    for c in &route.candidates {
        if !known.is_model(c) {
            return Err(format!("candidate '{c}' is not a model or alias in the catalog"));
        }
        if !known.is_chat_model(c) {
            return Err(format!("candidate '{c}' is an embedding model, which cannot answer chat requests"));
        }
    }
    // Regions none of which a provider is in would pass loading and then refuse every request
    // the rule matches as a residency failure (503), which reads like an outage rather than a
    // typo. One known region is enough: the others may be waiting for providers.
    if !route.regions.is_empty() && !route.regions.iter().any(|r| known.is_region(r)) {
        return Err(format!("none of the regions {:?} is the region of any provider in the catalog, so the rule could never route", route.regions));
    }
    match route.strategy {
        Strategy::Requested if !route.candidates.is_empty() => Err("strategy 'requested' takes no candidates".into()),
        Strategy::Fallback | Strategy::Cheapest | Strategy::Split | Strategy::Fastest if route.candidates.is_empty() => {
            Err(format!("strategy '{:?}' needs at least one candidate", route.strategy).to_lowercase())
        }
        Strategy::Split if route.weights.len() != route.candidates.len() || route.weights.iter().all(|w| *w == 0) => {
            Err("strategy 'split' needs one weight per candidate, not all zero".into())
        }
        Strategy::Cascade if route.candidates.len() < 2 => Err("strategy 'cascade' needs at least two candidates, cheapest first".into()),
        _ if route.strategy != Strategy::Split && !route.weights.is_empty() => Err("weights are only for strategy 'split'".into()),
        _ if route.strategy != Strategy::Cascade && (route.min_logprob.is_some() || route.buffer_streams) => {
            Err("min_logprob and buffer_streams are only for strategy 'cascade'".into())
        }
        // A mean logprob is never above 0: a probability (0.7) here would escalate every answer.
        _ if route.min_logprob.is_some_and(|m| m.is_nan() || m > 0.0) => Err("min_logprob is a mean log probability, at most 0 (e.g. -0.5), not a probability".into()),
        _ => Ok(()),
    }
}

/// Why a host pattern could never match: requests are matched on the URL's hostname, which
/// has no port, no scheme, no path and no trailing dot.
fn host_pattern_problem(pattern: &str) -> Option<&'static str> {
    if pattern.contains("://") || pattern.contains('/') {
        Some("must be a hostname, without scheme or path (e.g. gpt4o.router.example.com)")
    } else if pattern.contains(':') {
        Some("must not name a port: requests are matched on the hostname alone")
    } else if pattern.ends_with('.') || pattern.is_empty() || pattern.contains(char::is_whitespace) {
        Some("is not a hostname (no trailing dot, no spaces)")
    } else {
        None
    }
}

/// A request's hostname arrives as the URL parser gives it, in punycode: a pattern in Unicode
/// never matches. A defect, not a load failure: the policy was served before such a pattern was
/// noticed, and the rest of it still is.
const NOT_PUNYCODE: &str = "is not in ASCII and never matches: write an internationalized name in its punycode form (xn--bcher-kva.example.com for bücher.example.com)";

const MISPLACED_WILDCARD: &str = "may hold '*' only as its whole first label (*.router.example.com); it never matches otherwise";

/// A `*` anywhere but a leading `*.` label: such a pattern is compared as it is, and no
/// hostname holds a `*`.
fn misplaced_wildcard(pattern: &str) -> bool {
    pattern.strip_prefix("*.").unwrap_or(pattern).contains('*')
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
        None => pattern == host,
    }
}

/// A condition's field, its values, whether a value can match, and why not when it cannot.
type ValueCheck<'a> = (&'static str, &'a Option<Vec<String>>, fn(&str) -> bool, &'a str);

/// `request.cf.continent`'s values (T1, Tor, as Cloudflare's rules language lists it).
const CONTINENTS: [&str; 8] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA", "T1"];

/// Whether `code` could be `request.cf.country`: two letters (ISO 3166-1 alpha-2, XX for
/// unknown), T1 (Tor), or "" (a request without `request.cf`, as a service binding's).
fn country_code(code: &str) -> bool {
    code.is_empty() || (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())) || code.eq_ignore_ascii_case("T1")
}

/// Whether a request's tag could be `value`: a valid tag, or "" (a request with none).
fn tag_or_untagged(value: &str) -> bool {
    value.is_empty() || crate::attribution::valid_tag(value)
}


fn one_of(list: &Option<Vec<String>>, value: &str) -> Option<bool> {
    list.as_ref().map(|l| l.iter().any(|v| v.eq_ignore_ascii_case(value)))
}

impl Condition {
    /// `Some(reason)` when every present field matches; `None` otherwise.
    pub fn matches(&self, f: &Facts) -> Option<String> {
        let local = self.local_time.as_ref().map(|w| (w, w.holding(f.now_unix)));
        let mut why: Vec<String> = Vec::new();
        let mut check = |ok: Option<bool>, text: &dyn Fn() -> String| -> bool {
            match ok {
                None => true,
                Some(true) => {
                    why.push(text());
                    true
                }
                Some(false) => false,
            }
        };
        let all = check(self.task.as_ref().map(|t| f.task.is_some_and(|x| t.contains(&x))), &|| format!("task {}", f.task.map(TaskClass::as_str).unwrap_or_default()))
            && check(self.difficulty.map(|r| r.contains(f.difficulty)), &|| format!("difficulty {:.2}", f.difficulty))
            && check(self.risk.as_ref().map(|r| f.risk.is_some_and(|x| r.contains(&x))), &|| format!("risk {}", f.risk.map(|r| format!("{r:?}").to_lowercase()).unwrap_or_default()))
            && check(self.prompt_tokens.map(|r| r.contains(f.prompt_tokens as f64)), &|| format!("{} prompt tokens", f.prompt_tokens))
            && check(self.has_tools.map(|b| b == f.has_tools), &|| format!("has_tools {}", f.has_tools))
            && check(self.has_images.map(|b| b == f.has_images), &|| format!("has_images {}", f.has_images))
            && check(self.has_schema.map(|b| b == f.has_schema), &|| format!("has_schema {}", f.has_schema))
            && check(
                self.model.as_ref().map(|l| l.iter().any(|v| v.eq_ignore_ascii_case(&f.model) || (!f.model_served.is_empty() && v.eq_ignore_ascii_case(&f.model_served)))),
                &|| format!("model {}", f.model),
            )
            && check(one_of(&self.plan, &f.plan), &|| format!("plan {}", f.plan))
            && check(one_of(&self.feature, &f.feature), &|| format!("feature {}", f.feature))
            && check(one_of(&self.team, &f.team), &|| format!("team {}", f.team))
            && check(one_of(&self.env, &f.env), &|| format!("env {}", f.env))
            && check(one_of(&self.user, &f.user), &|| format!("user {}", f.user))
            && check(self.host.as_ref().map(|hs| hs.iter().any(|h| host_matches(h, &f.host.to_ascii_lowercase()))), &|| format!("host {}", f.host))
            && check(one_of(&self.country, &f.country), &|| format!("country {}", f.country))
            && check(one_of(&self.continent, &f.continent), &|| format!("continent {}", f.continent))
            && check(
                self.eu.map(|b| if f.location_unknown { b } else { b == f.eu }),
                &|| match (f.location_unknown, f.country.as_str()) {
                    (true, "") => "location unknown (no request.cf country), taken as EU".to_string(),
                    (true, country) => format!("location unknown (request.cf country {country}), taken as EU"),
                    (false, _) => format!("eu {}", f.eu),
                },
            )
            && check(self.hour_utc.map(|h| within_hours(h, utc_hour(f.now_unix))), &|| format!("hour {} UTC", utc_hour(f.now_unix)))
            && check(local.map(|(_, held)| held.is_some()), &|| local.and_then(|(w, held)| Some(format!("{} in {}", held?, w.zone))).unwrap_or_default());
        all.then(|| if why.is_empty() { "always".to_string() } else { why.join(", ") })
    }
}

/// Picks a split candidate by weight, the same one every time for the same user and rule.
///
/// Weighted rendezvous hashing: each arm draws its own number from the key and its name, and
/// the arm with the lowest `-ln(u) / weight` wins. An arm's draw depends on nothing but its own
/// name and weight, so changing one arm's weight moves users only into or out of that arm, and
/// weights edited to the same ratio, or candidates listed in another order, move nobody. (Slices
/// of one line laid out in candidate order moved users between arms nobody ramped: widening the
/// first arm of three shifted the boundary between the other two.) Each arm's chance is its
/// weight over the total, as the minimum of exponential draws with those rates.
pub fn split_pick(candidates: &[impl AsRef<str>], weights: &[u32], sticky_key: &str) -> usize {
    use sha2::{Digest, Sha256};
    let mut best: Option<(f64, usize)> = None;
    for (i, (name, &weight)) in candidates.iter().zip(weights).enumerate() {
        if weight == 0 {
            continue;
        }
        let name = name.as_ref();
        // A name listed twice is two arms: the repeat is told apart by how many came before it,
        // which no other arm's weight or position changes.
        let repeat = candidates[..i].iter().filter(|c| c.as_ref() == name).count() as u32;
        let digest = Sha256::new().chain_update(sticky_key).chain_update(name).chain_update(repeat.to_be_bytes()).finalize();
        let mut n = [0u8; 8];
        n.copy_from_slice(&digest[..8]);
        // 53 bits, the mantissa's worth, centred in their step: strictly inside (0, 1).
        let u = ((u64::from_be_bytes(n) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let score = -u.ln() / weight as f64;
        if best.is_none_or(|(lowest, _)| score < lowest) {
            best = Some((score, i));
        }
    }
    best.map_or(0, |(_, i)| i)
}

impl Facts {
    /// What the request asks of a model beyond room for it: the candidates the router chooses
    /// among are passed over where their pricing row says they cannot do it.
    pub fn needs(&self) -> crate::pricing::Needs {
        crate::pricing::Needs { images: self.has_images, schema: self.has_schema }
    }

    /// The task class and difficulty band (`code/hard`), as rollups and recommendations group
    /// requests: coarse enough that each group has traffic, fine enough to price separately.
    pub fn class_label(&self) -> String {
        let Some(task) = self.task else { return String::new() };
        let band = match self.difficulty {
            d if d < 0.34 => "easy",
            d if d < 0.67 => "medium",
            _ => "hard",
        };
        format!("{}/{band}", task.as_str())
    }

    /// The facts a chat request carries by itself; the edge adds tenant, tags, host and geography.
    /// `tenant`: see [`super::classify::classify`].
    pub fn for_chat(req: &crate::api::chat::ChatRequest, tenant: Option<&str>) -> Facts {
        use crate::api::chat::ResponseFormat;
        let c = super::classify::classify(req, tenant);
        Facts {
            task: Some(c.task),
            difficulty: c.difficulty,
            risk: Some(c.risk),
            prompt_tokens: c.features.prompt_tokens,
            system_prompt_tokens: c.features.system_prompt_tokens,
            // Legacy `functions` are tools too (the classifier counts them).
            has_tools: c.features.has_tools,
            has_images: req.messages.iter().any(|m| m.content.as_ref().is_some_and(|c| c.has_image())),
            has_schema: matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. })),
            model: req.model.clone(),
            ..Facts::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
version = 1
name = "acme"

[[hosts]]
host = "gpt4o.router.example.com"
model = "gpt4o"

[[rules]]
name = "no-payments"
when = { risk = ["irreversible"] }
block = "Payments need a human."

[[rules]]
name = "hours"
when = { model = ["faq-bot"] }
respond = "We are open 9 to 5."

[[rules]]
name = "eu"
when = { eu = true }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"], regions = ["eu"] }

[[rules]]
name = "simple"
when = { task = ["classification", "extraction"], difficulty = { max = 0.4 } }
route = { strategy = "cheapest", candidates = ["gpt-4o-mini", "claude-haiku-4-5"] }

[[rules]]
name = "ab"
when = { feature = ["search"] }
route = { strategy = "split", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], weights = [90, 10] }

[[rules]]
name = "default"
route = { strategy = "requested" }
"#;

    struct Known;
    impl KnownNames for Known {
        fn is_model(&self, m: &str) -> bool {
            ["gpt-4o-mini", "claude-haiku-4-5", "gpt4o", "faq-bot", "gpt-4o"].contains(&m)
        }
        fn is_region(&self, r: &str) -> bool {
            r.eq_ignore_ascii_case("eu")
        }
    }

    /// The same names, with an embedding model among them.
    struct KnownWithEmbeddings;
    impl KnownNames for KnownWithEmbeddings {
        fn is_model(&self, m: &str) -> bool {
            Known.is_model(m) || m == "text-embedding-3-small"
        }
        fn is_region(&self, r: &str) -> bool {
            Known.is_region(r)
        }
        fn is_chat_model(&self, m: &str) -> bool {
            Known.is_model(m)
        }
    }

    #[test]
    fn a_cached_policy_notes_the_rules_held_to_regions() {
        let cached = Policy::from_toml("acme.toml", &POLICY.replacen("[[rules]]", "[cache]\nenabled = true\n\n[[rules]]", 1), &Known).unwrap();
        let held: Vec<&String> = cached.notes.iter().filter(|n| n.contains("held to regions, so its answers are not cached")).collect();
        assert_eq!(held.len(), POLICY.matches("regions = [").count(), "{:?}", cached.notes);
        assert!(!held.is_empty());
        assert!(policy().notes.is_empty(), "no cache, nothing to say");
    }

    #[test]
    fn a_reason_names_the_task_as_a_policy_does() {
        let text = "version = 1\nname = \"t\"\n\n[[rules]]\nname = \"agents\"\nwhen = { task = [\"agentic_tool_use\"] }\nroute = { strategy = \"requested\" }\n";
        let p = Policy::from_toml("t.toml", text, &Known).unwrap();
        let f = Facts { task: Some(TaskClass::AgenticToolUse), ..Facts::default() };
        assert_eq!(p.first_match(&f).unwrap().1, "task agentic_tool_use");
    }

    #[test]
    fn a_when_model_the_catalog_lacks_loads_with_a_note() {
        let p = Policy::from_toml("acme.toml", &POLICY.replace("when = { model = [\"faq-bot\"] }", "when = { model = [\"auto\"] }"), &Known).unwrap();
        assert_eq!(p.notes.len(), 1);
        assert!(p.notes[0].starts_with("acme.toml:") && p.notes[0].contains("when.model 'auto' is no model or alias in the catalog"), "{:?}", p.notes);
        assert!(policy().notes.is_empty());
        let auto = Facts { model: "auto".into(), ..Facts::default() };
        assert_eq!(p.first_match(&auto).unwrap().0.name, "hours", "it matches requests that send the name");
    }

    #[test]
    fn an_embedding_model_cannot_be_a_chat_route() {
        let candidate = POLICY.replace("candidates = [\"gpt-4o-mini\"], regions", "candidates = [\"text-embedding-3-small\"], regions");
        let e = Policy::from_toml("acme.toml", &candidate, &KnownWithEmbeddings).unwrap_err();
        assert!(e.message.contains("'text-embedding-3-small' is an embedding model"), "{e}");
        let host = POLICY.replace("model = \"gpt4o\"", "model = \"text-embedding-3-small\"");
        let e = Policy::from_toml("acme.toml", &host, &KnownWithEmbeddings).unwrap_err();
        assert!(e.message.contains("an embedding model, which cannot answer chat requests"), "{e}");
        Policy::from_toml("acme.toml", POLICY, &KnownWithEmbeddings).unwrap();
    }

    #[test]
    fn conditions_and_hosts_that_could_never_match_are_defects() {
        // Loaded (a policy stored before these were checked keeps serving), but a defect, which
        // `costrouter policy check` fails on.
        let refused = |text: String, what: &str| {
            let p = Policy::from_toml("acme.toml", &text, &KnownWithEmbeddings).unwrap();
            assert!(p.defects.iter().any(|d| d.contains(what) && d.starts_with("acme.toml:")), "wanted '{what}' in: {:?}", p.defects);
        };
        let hosts = "[[hosts]]\nhost = \"gpt4o.router.example.com\"\nmodel = \"gpt4o\"";
        refused(POLICY.replacen(hosts, &format!("{hosts}\n\n[[hosts]]\nhost = \"GPT4O.router.example.com\"\nmodel = \"gpt-4o-mini\""), 1), "is already listed at line 5");
        for pattern in ["*", "a.*.example.com", "*.*.example.com", "gpt*.example.com"] {
            refused(POLICY.replacen("host = \"gpt4o.router.example.com\"", &format!("host = \"{pattern}\""), 1), "may hold '*' only as its whole first label");
        }
        assert!(Policy::from_toml("acme.toml", &POLICY.replacen("host = \"gpt4o.router.example.com\"", "host = \"*.router.example.com\"", 1), &Known).unwrap().defects.is_empty());
        // A hostname arrives in punycode: a Unicode pattern never matches.
        refused(POLICY.replacen("host = \"gpt4o.router.example.com\"", "host = \"bücher.example.com\"", 1), "punycode form");
        refused(POLICY.replace("when = { feature = [\"search\"] }", "when = { host = [\"*.bücher.example.com\"] }"), "punycode form");
        assert!(policy().defects.is_empty());
        refused(POLICY.replace("when = { feature = [\"search\"] }", "when = { feature = [] }"), "when.feature is an empty list");
        refused(POLICY.replace("when = { model = [\"faq-bot\"] }", "when = { model = [] }"), "when.model is an empty list");
        refused(POLICY.replace("difficulty = { max = 0.4 }", "difficulty = { min = 1.5 }"), "difficulty bounds are between 0 and 1 (got 1.5)");
        refused(POLICY.replace("when = { feature = [\"search\"] }", "when = { hour_utc = [9, 9] }"), "hour_utc [9, 9] has equal ends, so it matches no hour");
        // Values no request carries: Cloudflare's codes, and tags as requests can send them.
        for (when, what) in [
            ("country = [\"Germany\"]", "when.country 'Germany' is no country code"),
            ("continent = [\"Europe\"]", "when.continent 'Europe' is none of"),
            ("team = [\"Payments Team\"]", "when.team 'Payments Team' can be no request's tag"),
            ("env = [\"prod\", \"staging env\"]", "when.env 'staging env' can be no request's tag"),
            ("user = [\"Jane Doe\"]", "when.user 'Jane Doe'"),
        ] {
            refused(POLICY.replace("when = { feature = [\"search\"] }", &format!("when = {{ {when} }}")), what);
        }
        for fine in ["country = [\"de\", \"T1\", \"XX\", \"\"]", "continent = [\"eu\", \"T1\", \"\"]", "team = [\"\"]", "feature = [\"search:v2\", \"a@b/c\"]"] {
            let text = POLICY.replace("when = { feature = [\"search\"] }", &format!("when = {{ {fine} }}"));
            assert!(Policy::from_toml("acme.toml", &text, &Known).unwrap().defects.is_empty(), "{fine}");
        }
        // A rule added below the one without conditions (the default) never runs.
        let below = format!("{POLICY}\n[[rules]]\nname = \"eu-late\"\nwhen = {{ eu = true }}\nblock = \"no\"\n");
        let default_line = POLICY.lines().position(|l| l == "name = \"default\"").unwrap();
        refused(below, &format!("rule 'eu-late' can never match: rule 'default' at line {default_line} has no conditions"));
        refused(POLICY.replacen("[[rules]]", "[cache]\nenabled = true\nsemantic_embedder = \"gpt-4o-mini\"\n\n[[rules]]", 1), "is a chat model; it must be an embedding model");
        for embedder in ["text-embedding-3-small", "static"] {
            let text = POLICY.replacen("[[rules]]", &format!("[cache]\nenabled = true\nsemantic = true\nsemantic_embedder = \"{embedder}\"\n\n[[rules]]"), 1);
            assert_eq!(Policy::from_toml("acme.toml", &text, &KnownWithEmbeddings).unwrap().defects, Vec::<String>::new(), "{embedder}");
        }
    }

    fn policy() -> Policy {
        Policy::from_toml("acme.toml", POLICY, &Known).unwrap()
    }

    /// The names POLICY uses, plus an embedding model: gpt-4o-mini only in the US; the EU
    /// exists, for another model.
    fn catalog() -> crate::catalog::Catalog {
        crate::catalog::Catalog::from_json(r#"{"version":1,"providers":{"us":{"preset":"openai","region":"us"},"eu":{"preset":"mistral","region":"eu"}},
            "models":{"gpt-4o-mini":{"deployments":[{"provider":"us","upstream_model":"gpt-4o-mini"}]},"mistral-small":{"deployments":[{"provider":"eu","upstream_model":"m"}]},
            "gpt-4o":{"deployments":[{"provider":"us","upstream_model":"gpt-4o"}]},"claude-haiku-4-5":{"deployments":[{"provider":"us","upstream_model":"c"}]},
            "faq-bot":{"deployments":[{"provider":"us","upstream_model":"f"}]},
            "text-embedding-3-small":{"mode":"embedding","deployments":[{"provider":"us","upstream_model":"text-embedding-3-small"}]}},"aliases":{"gpt4o":"gpt-4o"}}"#).unwrap()
    }

    #[test]
    fn regions_no_candidate_is_served_in_are_a_defect() {
        let catalog = catalog();
        let p = Policy::from_toml("acme.toml", POLICY, &catalog).unwrap();
        assert_eq!(p.defects.len(), 1, "{:?}", p.defects);
        assert!(p.defects[0].contains("rule 'eu': no deployment of its candidates is in the regions [\"eu\"]"), "{:?}", p.defects);
        let served = POLICY.replace("candidates = [\"gpt-4o-mini\"], regions = [\"eu\"]", "candidates = [\"gpt-4o-mini\", \"mistral-small\"], regions = [\"EU\"]");
        assert!(Policy::from_toml("acme.toml", &served, &catalog).unwrap().defects.is_empty(), "one candidate served there is enough");
    }

    /// The loader's checks against the catalog itself, as `costrouter policy check` and the
    /// worker run them (the other tests stand in a list of names for it).
    #[test]
    fn a_policy_is_checked_against_the_catalogs_names() {
        let catalog = catalog();
        let load = |text: &str| Policy::from_toml("acme.toml", text, &catalog);
        let eu_route = "candidates = [\"gpt-4o-mini\"], regions = [\"eu\"]";
        let error = |text: String| load(&text).unwrap_err().message;
        assert_eq!(error(POLICY.replace(eu_route, "candidates = [\"claude-haiku-9\"]")), "rule 'eu': candidate 'claude-haiku-9' is not a model or alias in the catalog");
        assert!(error(POLICY.replace("model = \"gpt4o\"", "model = \"gpt5\"")).contains("names unknown model or alias 'gpt5'"));
        assert!(error(POLICY.replace(eu_route, "candidates = [\"text-embedding-3-small\"]")).contains("'text-embedding-3-small' is an embedding model"));
        assert!(error(POLICY.replace(eu_route, "candidates = [\"mistral-small\"], regions = [\"mars\"]")).contains("none of the regions [\"mars\"]"));
        // The semantic cache embeds with an embedding model; a chat model there is a defect.
        let embedder = |name: &str| load(&POLICY.replacen("[[rules]]", &format!("[cache]\nenabled = true\nsemantic = true\nsemantic_embedder = \"{name}\"\n\n[[rules]]"), 1)).unwrap().defects;
        assert!(embedder("gpt4o").iter().any(|d| d.contains("'gpt4o' is a chat model")));
        let served = POLICY.replace(eu_route, "candidates = [\"mistral-small\"], regions = [\"eu\"]");
        let text = served.replacen("[[rules]]", "[cache]\nenabled = true\nsemantic = true\nsemantic_embedder = \"text-embedding-3-small\"\n\n[[rules]]", 1);
        assert_eq!(load(&text).unwrap().defects, Vec::<String>::new());
        // An alias and its target are one model to a cascade; two models are two.
        let cascade = |candidates: &str| load(&POLICY.replace("strategy = \"requested\"", &format!("strategy = \"cascade\", candidates = {candidates}"))).unwrap().notes;
        assert!(cascade(r#"["gpt4o", "gpt-4o"]"#).iter().any(|n| n.contains("candidates 'gpt4o' and 'gpt-4o' are the same model (gpt-4o)")));
        assert_eq!(cascade(r#"["gpt-4o-mini", "gpt4o"]"#), Vec::<String>::new());
    }

    #[test]
    fn ranges_include_their_bounds() {
        let text = POLICY.replace("when = { feature = [\"search\"] }", "when = { prompt_tokens = { min = 1000, max = 2000 } }");
        let p = Policy::from_toml("acme.toml", &text, &Known).unwrap();
        for (tokens, matches) in [(999, false), (1000, true), (1500, true), (2000, true), (2001, false)] {
            let f = Facts { prompt_tokens: tokens, ..Facts::default() };
            assert_eq!(p.first_match(&f).unwrap().0.name == "ab", matches, "{tokens} prompt tokens");
        }
        let d = Condition { difficulty: Some(Range { min: Some(0.5), max: None }), ..Condition::default() };
        assert!(d.matches(&Facts { difficulty: 0.5, ..Facts::default() }).is_some());
        assert!(d.matches(&Facts { difficulty: 0.49, ..Facts::default() }).is_none());
        // A min equal to its max is one value, not a range that matches nothing.
        let one = POLICY.replace("when = { feature = [\"search\"] }", "when = { prompt_tokens = { min = 1000, max = 1000 }, difficulty = { min = 0.5, max = 0.5 } }");
        let p = Policy::from_toml("acme.toml", &one, &Known).unwrap();
        assert_eq!(p.first_match(&Facts { prompt_tokens: 1000, difficulty: 0.5, ..Facts::default() }).unwrap().0.name, "ab");
    }

    #[test]
    fn hour_windows_load_from_0_to_23_and_to_0_to_24() {
        let with_hours = |hours: &str| POLICY.replace("when = { feature = [\"search\"] }", &format!("when = {{ hour_utc = {hours} }}"));
        let all_day = Policy::from_toml("acme.toml", &with_hours("[0, 24]"), &Known).unwrap();
        assert!((0..24).all(|h| all_day.first_match(&Facts { now_unix: i64::from(h) * 3600, ..Facts::default() }).unwrap().0.name == "ab"));
        let last_hour = Policy::from_toml("acme.toml", &with_hours("[23, 0]"), &Known).unwrap();
        let hours: Vec<u8> = (0..24).filter(|&h| last_hour.first_match(&Facts { now_unix: i64::from(h) * 3600, ..Facts::default() }).unwrap().0.name == "ab").collect();
        assert_eq!(hours, [23]);
        for hours in ["[24, 5]", "[5, 25]", "[24, 24]"] {
            let e = Policy::from_toml("acme.toml", &with_hours(hours), &Known).unwrap_err();
            assert!(e.message.contains("hour_utc is [from, to) with from 0-23 and to 0-24") && e.line == 29, "{hours}: {e}");
        }
    }

    #[test]
    fn local_time_windows_follow_the_zone_and_its_summer_time() {
        let business = "when = { local_time = { zone = \"Europe/Berlin\", hours = [9, 17], days = [\"mon\", \"tue\", \"wed\", \"thu\", \"FRI\"] } }";
        let p = Policy::from_toml("acme.toml", &POLICY.replace("when = { feature = [\"search\"] }", business), &Known).unwrap();
        assert!(p.defects.is_empty(), "{:?}", p.defects);
        let at = |y, m, d, h, min| crate::routing::local_time::tests_support::unix(y, m, d, h, min);
        let rule_at = |t: i64| p.first_match(&Facts { now_unix: t, ..Facts::default() }).map(|(r, why)| (r.name.clone(), why)).unwrap();
        // 07:30 UTC on Monday 2027-03-29 is 09:30 in Berlin (summer time, UTC+2); the same UTC
        // time a week earlier is 08:30 (winter, UTC+1), before the window opens.
        assert_eq!(rule_at(at(2027, 3, 29, 7, 30)), ("ab".to_string(), "mon 09:30 in Europe/Berlin".to_string()));
        assert_ne!(rule_at(at(2027, 3, 22, 7, 30)).0, "ab");
        assert_eq!(rule_at(at(2027, 3, 22, 8, 0)).1, "mon 09:00 in Europe/Berlin");
        // The window closes at 17:00 local, and Saturday is not in it.
        assert_eq!(rule_at(at(2027, 3, 26, 15, 59)).0, "ab", "friday 16:59 CET");
        assert_ne!(rule_at(at(2027, 3, 26, 16, 0)).0, "ab", "friday 17:00 CET");
        assert_ne!(rule_at(at(2027, 3, 27, 10, 0)).0, "ab", "saturday");
        // Days alone, and hours wrapping past midnight, in a zone west of UTC: Friday 23:30 in
        // New York is Saturday 04:30 UTC in winter.
        let night = "when = { local_time = { zone = \"America/New_York\", hours = [22, 6] } }";
        let p = Policy::from_toml("acme.toml", &POLICY.replace("when = { feature = [\"search\"] }", night), &Known).unwrap();
        let rule_at = |t: i64| p.first_match(&Facts { now_unix: t, ..Facts::default() }).map(|(r, why)| (r.name.clone(), why)).unwrap();
        assert_eq!(rule_at(at(2027, 1, 16, 4, 30)), ("ab".to_string(), "fri 23:30 in America/New_York".to_string()));
        assert_ne!(rule_at(at(2027, 1, 16, 11, 30)).0, "ab", "06:30 local");
        let weekend = "when = { local_time = { zone = \"Asia/Kolkata\", days = [\"sat\", \"sun\"] } }";
        let p = Policy::from_toml("acme.toml", &POLICY.replace("when = { feature = [\"search\"] }", weekend), &Known).unwrap();
        // Friday 2027-01-15 19:00 UTC is Saturday 00:30 in Kolkata (UTC+5:30).
        assert_eq!(p.first_match(&Facts { now_unix: at(2027, 1, 15, 19, 0), ..Facts::default() }).unwrap().0.name, "ab");
        assert_ne!(p.first_match(&Facts { now_unix: at(2027, 1, 15, 18, 29), ..Facts::default() }).unwrap().0.name, "ab");
    }

    #[test]
    fn local_time_windows_are_checked_at_load() {
        let with = |window: &str| POLICY.replace("when = { feature = [\"search\"] }", &format!("when = {{ local_time = {window} }}"));
        for (window, message) in [
            ("{ zone = \"berlin\", hours = [9, 17] }", "rule 'ab': local_time.zone 'berlin' is no time zone of the tz database (did you mean 'Europe/Berlin'?)"),
            ("{ zone = \"Europe/Berlin\" }", "local_time needs hours, days or both"),
            ("{ zone = \"Europe/Berlin\", days = [\"monday\"] }", "local_time.days 'monday' is no day; days are mon, tue, wed, thu, fri, sat, sun"),
            ("{ zone = \"Europe/Berlin\", hours = [9, 25] }", "local_time.hours is [from, to) with from 0-23 and to 0-24"),
            ("{ hours = [9, 17] }", "missing field `zone`"),
            ("{ zone = \"UTC\", hours = [9, 17], weekdays = [\"mon\"] }", "unknown field `weekdays`"),
        ] {
            let e = Policy::from_toml("acme.toml", &with(window), &Known).unwrap_err();
            // The TOML reader's own errors point into the rule's table; the loader's at the rule.
            let own = !message.contains('`');
            assert!(e.message.contains(message) && (e.line == 29 || !own), "{window}: {e}");
        }
        for (window, defect) in [
            ("{ zone = \"UTC\", hours = [9, 9] }", "local_time.hours [9, 9] has equal ends, so it matches no hour"),
            ("{ zone = \"UTC\", days = [] }", "local_time.days is an empty list, which matches nothing"),
        ] {
            let p = Policy::from_toml("acme.toml", &with(window), &Known).unwrap();
            assert!(p.defects.iter().any(|d| d.contains(defect)), "{window}: {:?}", p.defects);
        }
    }

    #[test]
    fn first_matching_rule_decides_with_a_reason() {
        let p = policy();
        let mut f = Facts { task: Some(TaskClass::Classification), difficulty: 0.2, risk: Some(RiskTier::Low), model: "gpt-4o".into(), ..Facts::default() };
        let (rule, why) = p.first_match(&f).unwrap();
        assert_eq!(rule.name, "simple");
        assert_eq!(why, "task classification, difficulty 0.20");
        f.difficulty = 0.9;
        assert_eq!(p.first_match(&f).unwrap().0.name, "default");
        assert_eq!(p.first_match(&f).unwrap().1, "always");
        f.risk = Some(RiskTier::Irreversible);
        assert!(matches!(p.first_match(&f).unwrap().0.action, Action::Block(_)));
        f.risk = Some(RiskTier::Low);
        f.eu = true;
        assert_eq!(p.first_match(&f).unwrap().0.name, "eu");
        // No location (a service binding has no request.cf): a rule held to the EU takes it.
        f.eu = false;
        f.location_unknown = true;
        let (rule, why) = p.first_match(&f).unwrap();
        assert_eq!((rule.name.as_str(), why.as_str()), ("eu", "location unknown (no request.cf country), taken as EU"));
        assert!(Condition { eu: Some(false), ..Condition::default() }.matches(&f).is_none(), "eu = false needs a known location");
        f.location_unknown = false;
        assert!(location_unknown("") && location_unknown("XX") && location_unknown("T1"), "no cf, no location data, a Tor exit");
        assert!(!location_unknown("DE") && !location_unknown("US"));
        f.model = "faq-bot".into();
        assert!(matches!(&p.first_match(&f).unwrap().0.action, Action::Respond(t) if t.contains("9 to 5")));
        // A rule naming a model matches a request for it through an alias (a block rule on a
        // model could otherwise be walked around by its alias); naming the alias, only the alias.
        let faq = p.first_match(&f).unwrap().0.name.clone();
        let via_alias = Facts { model: "some-alias".into(), model_served: "faq-bot".into(), ..f.clone() };
        assert_eq!(p.first_match(&via_alias).unwrap().0.name, faq);
        let other = Facts { model: "faq-bot-2".into(), model_served: "gpt-4o".into(), ..f.clone() };
        assert_ne!(p.first_match(&other).unwrap().0.name, faq);
    }

    #[test]
    fn hosts_select_models() {
        let p = policy();
        assert_eq!(p.host_model("GPT4O.router.example.com"), Some("gpt4o"));
        assert_eq!(p.host_model("router.example.com"), None);
        // A fully qualified name with its trailing dot is the same host.
        assert_eq!(p.host_model(&request_hostname("gpt4o.router.example.com.")), Some("gpt4o"));
        assert_eq!(request_hostname("GPT4O.Router.example.com"), "gpt4o.router.example.com");
        assert!(p.reads_host());
        // The host is read only for a policy that uses it: a hostname alias or a `host` condition.
        let mut no_hosts = Policy { hosts: Vec::new(), ..p.clone() };
        no_hosts.rules.iter_mut().for_each(|r| r.when.host = None);
        assert!(!no_hosts.reads_host());
        no_hosts.rules[0].when.host = Some(vec!["eu.router.example.com".into()]);
        assert!(no_hosts.reads_host());
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evil-example.com"));
        assert!(!host_matches("*.example.com", ".example.com"), "a wildcard stands for one label or more, not none");
        // An exact host wins over a wildcard listed before it, a longer wildcard over a shorter.
        let alias = |host: &str, model: &str| HostAlias { host: host.into(), model: model.into() };
        let ordered = Policy {
            hosts: vec![alias("*.example.com", "fast"), alias("*.eu.example.com", "eu"), alias("GPT4O.example.com", "gpt4o")],
            ..p.clone()
        };
        assert_eq!(ordered.host_model("gpt4o.example.com"), Some("gpt4o"));
        assert_eq!(ordered.host_model("x.eu.example.com"), Some("eu"));
        assert_eq!(ordered.host_model("other.example.com"), Some("fast"));
    }

    #[test]
    fn a_cascade_or_split_over_two_names_of_one_model_is_noted() {
        struct WithAlias;
        impl KnownNames for WithAlias {
            fn is_model(&self, m: &str) -> bool {
                Known.is_model(m) || m == "fast"
            }
            fn is_region(&self, r: &str) -> bool {
                Known.is_region(r)
            }
            fn model_of<'a>(&'a self, name: &'a str) -> &'a str {
                if name == "fast" { "gpt-4o-mini" } else { name }
            }
        }
        let text = |route: &str| format!("version = 1\nname = \"x\"\n\n[[rules]]\nname = \"r\"\nroute = {route}\n");
        // Noted, not refused: such a policy routes as it always did.
        let p = Policy::from_toml("x.toml", &text(r#"{ strategy = "cascade", candidates = ["gpt-4o-mini", "fast"] }"#), &WithAlias).unwrap();
        assert!(p.notes.iter().any(|n| n.contains("candidates 'gpt-4o-mini' and 'fast' are the same model (gpt-4o-mini)")), "{:?}", p.notes);
        let p = Policy::from_toml("x.toml", &text(r#"{ strategy = "split", candidates = ["fast", "gpt-4o-mini"], weights = [50, 50] }"#), &WithAlias).unwrap();
        assert!(p.notes.iter().any(|n| n.contains("a split needs different models")), "{:?}", p.notes);
        let p = Policy::from_toml("x.toml", &text(r#"{ strategy = "fallback", candidates = ["fast", "gpt-4o-mini"] }"#), &WithAlias).unwrap();
        assert!(p.notes.is_empty(), "a fallback may name a model twice");
        assert!(Policy::from_toml("x.toml", &text(r#"{ strategy = "cascade", candidates = ["fast", "gpt-4o"] }"#), &WithAlias).unwrap().notes.is_empty());
    }

    #[test]
    fn a_route_takes_what_its_strategy_uses() {
        let load = |route: &str| Policy::from_toml("x.toml", &format!("version = 1\nname = \"x\"\n\n[[rules]]\nname = \"r\"\nroute = {route}\n"), &Known);
        for (route, refused) in [
            (r#"{ strategy = "requested", candidates = ["gpt-4o"] }"#, "strategy 'requested' takes no candidates"),
            (r#"{ strategy = "fallback" }"#, "strategy 'fallback' needs at least one candidate"),
            (r#"{ strategy = "cascade", candidates = ["gpt-4o"] }"#, "strategy 'cascade' needs at least two candidates"),
            (r#"{ strategy = "split", candidates = ["gpt-4o", "gpt-4o-mini"], weights = [0, 0] }"#, "one weight per candidate, not all zero"),
            (r#"{ strategy = "fallback", candidates = ["gpt-4o"], weights = [1] }"#, "weights are only for strategy 'split'"),
            (r#"{ strategy = "fallback", candidates = ["gpt-4o"], min_logprob = -0.5 }"#, "only for strategy 'cascade'"),
            (r#"{ strategy = "cheapest", candidates = ["gpt-4o"], buffer_streams = true }"#, "only for strategy 'cascade'"),
            (r#"{ strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"], min_logprob = nan }"#, "at most 0"),
        ] {
            let e = load(route).unwrap_err();
            assert!(e.message.contains(refused) && e.line == 4, "{route}: {e}");
        }
        for route in [
            r#"{ strategy = "requested" }"#,
            r#"{ strategy = "fallback", candidates = ["gpt-4o"] }"#,
            r#"{ strategy = "split", candidates = ["gpt-4o", "gpt-4o-mini"], weights = [0, 5] }"#,
            r#"{ strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"], min_logprob = 0, buffer_streams = true }"#,
            r#"{ strategy = "cascade", candidates = ["gpt-4o-mini", "claude-haiku-4-5", "gpt-4o"], min_logprob = -0.5 }"#,
        ] {
            load(route).unwrap_or_else(|e| panic!("{route}: {e}"));
        }
    }

    #[test]
    fn tools_images_and_schema_conditions_match_the_request() {
        let matches = |c: Condition, f: Facts| c.matches(&f).is_some();
        for (wanted, has) in [(true, true), (true, false), (false, true), (false, false)] {
            assert_eq!(matches(Condition { has_tools: Some(wanted), ..Condition::default() }, Facts { has_tools: has, ..Facts::default() }), wanted == has, "has_tools {wanted} against {has}");
            assert_eq!(matches(Condition { has_images: Some(wanted), ..Condition::default() }, Facts { has_images: has, ..Facts::default() }), wanted == has, "has_images {wanted} against {has}");
            assert_eq!(matches(Condition { has_schema: Some(wanted), ..Condition::default() }, Facts { has_schema: has, ..Facts::default() }), wanted == has, "has_schema {wanted} against {has}");
        }
    }

    #[test]
    fn legacy_functions_are_tools() {
        let req = crate::api::chat::ChatRequest::parse(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],
            "functions":[{"name":"get_weather","parameters":{"type":"object","properties":{}}}]}"#).unwrap();
        assert!(Facts::for_chat(&req, None).has_tools);
    }

    #[test]
    fn facts_for_chat_carry_the_classification_and_what_the_request_asks() {
        let req = crate::api::chat::ChatRequest::parse(br#"{"model":"gpt4o","messages":[
            {"role":"system","content":"You review Rust code for a payments team."},
            {"role":"user","content":[{"type":"text","text":"Refactor this function to avoid the borrow checker error, and explain why it fails."},
                {"type":"image_url","image_url":{"url":"https://example.com/screenshot.png"}}]}],
            "response_format":{"type":"json_schema","json_schema":{"name":"review","schema":{"type":"object","properties":{"fix":{"type":"string"}}}}}}"#).unwrap();
        let c = super::super::classify::classify(&req, None);
        let f = Facts::for_chat(&req, None);
        assert_eq!((f.task, f.difficulty, f.risk), (Some(c.task), c.difficulty, Some(c.risk)));
        assert_eq!((f.prompt_tokens, f.system_prompt_tokens), (c.features.prompt_tokens, c.features.system_prompt_tokens));
        assert!(f.difficulty > 0.0 && f.system_prompt_tokens > 0 && f.prompt_tokens > f.system_prompt_tokens, "{f:?}");
        assert!(f.has_images && f.has_schema && !f.has_tools, "{f:?}");
        assert_eq!(f.model, "gpt4o");
        // JSON mode has no schema; a text part is no image.
        let plain = crate::api::chat::ChatRequest::parse(br#"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi, answer in JSON"}]}],"response_format":{"type":"json_object"}}"#).unwrap();
        let f = Facts::for_chat(&plain, None);
        assert!(!f.has_images && !f.has_schema, "{f:?}");
    }

    #[test]
    fn a_class_label_is_the_task_and_its_difficulty_band() {
        let label = |difficulty: f64| Facts { task: Some(TaskClass::Code), difficulty, ..Facts::default() }.class_label();
        let bands: Vec<String> = [0.0, 0.33, 0.34, 0.66, 0.67, 1.0].into_iter().map(label).collect();
        assert_eq!(bands, ["code/easy", "code/easy", "code/medium", "code/medium", "code/hard", "code/hard"]);
        assert_eq!(Facts { difficulty: 0.9, ..Facts::default() }.class_label(), "", "an unclassified request has no class");
    }

    #[test]
    fn hour_windows_wrap_midnight() {
        let c = Condition { hour_utc: Some([22, 6]), ..Condition::default() };
        for (h, ok) in [(23, true), (3, true), (6, false), (12, false), (22, true)] {
            assert_eq!(c.matches(&Facts { now_unix: i64::from(h) * 3600, ..Facts::default() }).is_some(), ok, "{h}");
        }
        let hours = |from_to: [u8; 2]| -> Vec<u8> {
            let c = Condition { hour_utc: Some(from_to), ..Condition::default() };
            (0..24).filter(|&h| c.matches(&Facts { now_unix: i64::from(h) * 3600, ..Facts::default() }).is_some()).collect()
        };
        assert_eq!(hours([9, 17]), (9..17).collect::<Vec<u8>>(), "09:00 to 16:59");
        assert_eq!(hours([9, 9]), Vec::<u8>::new(), "equal ends match no hour");
    }

    const AB: [&str; 2] = ["gpt-4o-mini", "claude-haiku-4-5"];
    const ARMS: [&str; 4] = ["gpt-4o-mini", "claude-haiku-4-5", "gemini-3-flash", "mistral-small"];

    #[test]
    fn split_is_sticky_and_weighted() {
        assert_eq!(split_pick(&AB, &[90, 10], "user-1"), split_pick(&AB, &[90, 10], "user-1"));
        let picks: Vec<usize> = (0..2000).map(|i| split_pick(&AB, &[90, 10], &format!("ab:user-{i}"))).collect();
        let second = picks.iter().filter(|&&p| p == 1).count();
        assert!((120..=280).contains(&second), "{second} of 2000 picked the 10% arm");
        assert_eq!(split_pick(&AB, &[0, 5], "x"), 1);
    }

    #[test]
    fn split_edits_move_only_the_users_whose_slice_changed_hands() {
        let keys: Vec<String> = (0..4000).map(|i| format!("ab:tenant:user-{i}")).collect();
        let moved = |from: &[u32], to: &[u32]| keys.iter().filter(|k| split_pick(&AB, from, k) != split_pick(&AB, to, k)).count();
        assert_eq!(moved(&[90, 10], &[9, 1]), 0, "same ratio");
        assert_eq!(moved(&[1, 1], &[50, 50]), 0, "same ratio");
        // 50/50 to 50/51: the second arm's share grows by under half a percent.
        assert!(moved(&[50, 50], &[50, 51]) <= 40, "{}", moved(&[50, 50], &[50, 51]));
        // 10% to about 18%: only users of the first arm move, and about 8% of them all.
        let ramp = moved(&[90, 10], &[90, 20]);
        assert!((200..=450).contains(&ramp), "{ramp} of 4000 moved");
        assert!(keys.iter().all(|k| split_pick(&AB, &[90, 10], k) == 0 || split_pick(&AB, &[90, 20], k) == 1));
    }

    /// How many of `keys` move from each arm to each other arm when the weights change.
    fn split_moves(names: &[&str], from: &[u32], to: &[u32], keys: &[String]) -> Vec<Vec<usize>> {
        let mut moves = vec![vec![0; names.len()]; names.len()];
        for k in keys {
            let (a, b) = (split_pick(names, from, k), split_pick(names, to, k));
            if a != b {
                moves[a][b] += 1;
            }
        }
        moves
    }

    #[test]
    fn a_split_weight_change_moves_users_only_into_or_out_of_that_arm() {
        let keys: Vec<String> = (0..4000).map(|i| format!("ab:tenant:user-{i}")).collect();
        // (weights before, after, the arm whose share changed): the others keep their ratio.
        let edits: [(&[u32], &[u32], usize); 7] = [
            (&[10, 45, 45], &[20, 40, 40], 0),
            (&[34, 33, 33], &[34, 33, 43], 2),
            (&[34, 33, 33], &[34, 13, 33], 1),
            (&[40, 30, 30], &[40, 30, 0], 2),
            (&[25, 25, 25, 25], &[25, 50, 25, 25], 1),
            (&[10, 20, 30, 40], &[10, 20, 30, 10], 3),
            (&[0, 20, 30, 40], &[15, 20, 30, 40], 0),
        ];
        for (from, to, changed) in edits {
            let names = &ARMS[..from.len()];
            let moves = split_moves(names, from, to, &keys);
            for (a, row) in moves.iter().enumerate() {
                for (b, &n) in row.iter().enumerate() {
                    if a != changed && b != changed {
                        assert_eq!(n, 0, "{from:?} -> {to:?}: {n} users moved from arm {a} to arm {b}, neither of which changed");
                    }
                }
            }
            let (total_from, total_to) = (from.iter().sum::<u32>() as f64, to.iter().sum::<u32>() as f64);
            let expected = (to[changed] as f64 / total_to - from[changed] as f64 / total_from).abs() * keys.len() as f64;
            let moved: usize = moves.iter().flatten().sum();
            assert!((moved as f64 - expected).abs() <= 0.25 * expected + 20.0, "{from:?} -> {to:?}: {moved} moved, about {expected:.0} expected");
        }
    }

    #[test]
    fn a_split_arm_keeps_its_users_whatever_the_order_or_a_repeated_name() {
        let keys: Vec<String> = (0..2000).map(|i| format!("ab:tenant:user-{i}")).collect();
        let weights = [10, 20, 30, 40];
        let reversed: Vec<&str> = ARMS.iter().rev().copied().collect();
        let reversed_weights: Vec<u32> = weights.iter().rev().copied().collect();
        for k in &keys {
            assert_eq!(ARMS[split_pick(&ARMS, &weights, k)], reversed[split_pick(&reversed, &reversed_weights, k)], "{k}");
        }
        // One model listed twice (a policy may, with a note) is two arms, each with its own share
        // and its own users: ramping the repeat moves nobody between the others.
        let twice = ["gpt-4o-mini", "claude-haiku-4-5", "gpt-4o-mini"];
        let picks: Vec<usize> = keys.iter().map(|k| split_pick(&twice, &[30, 30, 40], k)).collect();
        for (arm, share) in [(0, 0.3), (2, 0.4)] {
            let drawn = picks.iter().filter(|&&p| p == arm).count() as f64 / keys.len() as f64;
            assert!((drawn - share).abs() < 0.03, "arm {arm}: {drawn}");
        }
        let moves = split_moves(&twice, &[30, 30, 40], &[30, 30, 10], &keys);
        assert_eq!((moves[0][1], moves[1][0]), (0, 0));
    }

    #[test]
    fn split_shares_follow_the_weights() {
        let keys: Vec<String> = (0..6000).map(|i| format!("ab:tenant:user-{i}")).collect();
        for weights in [&[10, 45, 45][..], &[34, 33, 43], &[1, 2, 3, 4], &[70, 10, 10, 10], &[5, 0, 5, 90]] {
            let names = &ARMS[..weights.len()];
            let total = weights.iter().sum::<u32>() as f64;
            for (arm, &w) in weights.iter().enumerate() {
                let drawn = keys.iter().filter(|k| split_pick(names, weights, k) == arm).count() as f64 / keys.len() as f64;
                assert!((drawn - w as f64 / total).abs() < 0.025, "{weights:?}: arm {arm} drew {drawn:.3}");
            }
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (POLICY.replace("\"claude-haiku-4-5\"] }\n\n[[rules]]\nname = \"ab\"", "\"claude-haiku-9\"] }\n\n[[rules]]\nname = \"ab\""), 24, "candidate 'claude-haiku-9'"),
            (POLICY.replace("block = \"Payments need a human.\"", "block = \"x\"\nrespond = \"y\""), 9, "exactly one of"),
            (POLICY.replace("difficulty = { max = 0.4 }", "difficulty = { maximum = 0.4 }"), 26, "unknown field"),
            (POLICY.replace("difficulty = { max = 0.4 }", "difficulty = { min = 0.6, max = 0.4 }"), 24, "difficulty has min 0.6 above max 0.4"),
            (POLICY.replace("risk = [\"irreversible\"]", "risk = [\"catastrophic\"]"), 11, "unknown variant"),
            (POLICY.replace("weights = [90, 10]", "weights = [90]"), 29, "one weight per candidate"),
            (POLICY.replace("\"claude-haiku-4-5\"] }\n\n[[rules]]\nname = \"ab\"", "\"claude-haiku-4-5\"], regions = [\"EU\"] }\n\n[[rules]]\nname = \"ab\""), 0, ""),
            (POLICY.replace("\"claude-haiku-4-5\"] }\n\n[[rules]]\nname = \"ab\"", "\"claude-haiku-4-5\"], regions = [\"eu\", \"mars\"] }\n\n[[rules]]\nname = \"ab\""), 0, ""),
            (POLICY.replace("\"claude-haiku-4-5\"] }\n\n[[rules]]\nname = \"ab\"", "\"claude-haiku-4-5\"], regions = [\"mars\", \"venus\"] }\n\n[[rules]]\nname = \"ab\""), 24, "none of the regions [\"mars\", \"venus\"]"),
            (POLICY.replace("version = 1", "version = 2"), 2, "unsupported version"),
            (POLICY.replace("host = \"gpt4o.router.example.com\"", "host = \"gpt4o.router.example.com:8787\""), 5, "must not name a port"),
            (POLICY.replace("host = \"gpt4o.router.example.com\"", "host = \"https://gpt4o.router.example.com\""), 5, "without scheme or path"),
            (POLICY.replace("host = \"gpt4o.router.example.com\"", "host = \"gpt4o.router.example.com/v1\""), 5, "without scheme or path"),
            (POLICY.replace("host = \"gpt4o.router.example.com\"", "host = \"\""), 5, "is not a hostname"),
            (POLICY.replace("host = \"gpt4o.router.example.com\"", "host = \"gpt4o router.example.com\""), 5, "is not a hostname"),
            (POLICY.replace("when = { feature = [\"search\"] }", "when = { host = [\"eu.example.com.\"] }"), 29, "no trailing dot"),
            (POLICY.replace("weights = [90, 10] }", "weights = [90, 10] }\n\n[[rules]]\nname = \"c\"\nroute = { strategy = \"cascade\", candidates = [\"gpt-4o-mini\", \"gpt-4o\"], min_logprob = 0.7 }"), 34, "at most 0"),
            (POLICY.replace("model = \"gpt4o\"", "model = \"gpt5\""), 5, "unknown model"),
            (POLICY.replace("when = { model = [\"faq-bot\"] }", "when = { model = [\"auto\"] }"), 0, ""),
            (POLICY.replace("name = \"hours\"", "name = \"default\""), 34, "already used"),
            (POLICY.replacen("[[rules]]", "[cache]\nenabled = true\nttl_secs = 5\n\n[[rules]]", 1), 9, "ttl_secs must be between"),
            (POLICY.replacen("[[rules]]", "[cache]\nenabled = true\nttl = 600\n\n[[rules]]", 1), 11, "unknown field"),
            (POLICY.replacen("[[rules]]", "[cache]\nenabled = true\nsemantic = true\nsemantic_threshold = 0.5\n\n[[rules]]", 1), 9, "semantic_threshold must be between 0.8 and 1.0"),
            (POLICY.replacen("[[rules]]", "[cache]\nsemantic = true\n\n[[rules]]", 1), 9, "needs cache.enabled"),
            (POLICY.replacen("[[rules]]", "[responses]\nstore_days = 31\n\n[[rules]]", 1), 9, "responses.store_days must be between 0 and 30"),
            (POLICY.replacen("[[rules]]", "[responses]\nkeep = 1\n\n[[rules]]", 1), 10, "unknown field"),
            (POLICY.replacen("[[rules]]", "[cache]\nenabled = true\nsemantic = true\nsemantic_embedder = \"nope\"\n\n[[rules]]", 1), 9, "neither \"static\" nor a model"),
        ];
        for (text, line, needle) in cases {
            if needle.is_empty() {
                // A control: the same edit with a region the catalog has loads.
                Policy::from_toml("acme.toml", &text, &Known).unwrap();
                continue;
            }
            let e = Policy::from_toml("acme.toml", &text, &Known).unwrap_err();
            assert!(e.message.contains(needle), "{needle}: {e}");
            assert_eq!(e.line, line, "{needle}: {e}");
        }
    }
}
