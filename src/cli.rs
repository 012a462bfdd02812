//! The command-line tool's logic, as a library module so it is tested natively like the rest.
//! The binary (`src/bin/costrouter.rs`) only passes arguments and standard streams in.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::chat::ChatRequest;
use crate::calendar::{utc_hour, Date};
use crate::catalog::{Catalog, ProviderConfig};
use crate::money::Usd;
use crate::pricing::PriceTable;
use crate::routing::plan::{plan, Outcome, PlanInput, DEFAULT_EXPECTED_OUTPUT_TOKENS};
use crate::routing::policy::{Facts, Policy};
use crate::usage::Usage;

const USAGE: &str = "usage:
  costrouter policy check [--catalog FILE] [--pricing FILE] [--today YYYY-MM-DD] [--except NAME]... PATH...
  costrouter route --policy FILE [--catalog FILE] [--pricing FILE] [--today YYYY-MM-DD] [requests.jsonl]   (else stdin)
  costrouter audit --policy FILE [--catalog FILE] [--pricing FILE] [--today YYYY-MM-DD] [--json] calls.jsonl
--today: the day (UTC) deployments' retires_on are judged at; the clock's by default, a line's
own x_costrouter.unix_time for that line";

struct Options {
    policy: Option<PathBuf>,
    catalog: PathBuf,
    pricing: PathBuf,
    json: bool,
    /// File names a folder's check leaves out (`make seed-remote` leaves out the sample it does
    /// not push).
    except: Vec<String>,
    today: Option<Date>,
    positional: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options { policy: None, catalog: "kv-seed/catalog.json".into(), pricing: "kv-seed/pricing.json".into(), json: false, except: vec![], today: None, positional: vec![] };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--policy" => o.policy = Some(value("--policy")?.into()),
            "--catalog" => o.catalog = value("--catalog")?.into(),
            "--pricing" => o.pricing = value("--pricing")?.into(),
            "--json" => o.json = true,
            "--except" => o.except.push(value("--except")?),
            "--today" => {
                let day = value("--today")?;
                o.today = Some(Date::parse(&day).ok_or_else(|| format!("--today must be a date written YYYY-MM-DD, not \"{day}\""))?);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n{USAGE}")),
            s => o.positional.push(s.to_string()),
        }
    }
    Ok(o)
}

/// `route` and `audit` answer for a policy with defects as the worker serves it (it logs them and
/// loads the rest), and say on standard error what `policy check` would fail on, so their output
/// (JSON lines, a report) stays as it is.
fn warn_of_defects(policy: &Policy, prices: &PriceTable) {
    for defect in policy.defects.iter().chain(&prices.defects) {
        eprintln!("warning {defect} (`costrouter policy check` fails on this; the worker serves the policy as loaded)");
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_catalog(o: &Options) -> Result<(Catalog, PriceTable), String> {
    let catalog = Catalog::from_json(&read(&o.catalog)?).map_err(|e| format!("{}: {e}", o.catalog.display()))?;
    let prices = PriceTable::from_json(&read(&o.pricing)?).map_err(|e| format!("{}: {e}", o.pricing.display()))?;
    catalog.check_prices(&prices).map_err(|e| e.to_string())?;
    Ok((catalog, prices))
}

fn load_policy(path: &Path, catalog: &Catalog) -> Result<Policy, String> {
    Policy::from_toml(&path.display().to_string(), &read(path)?, catalog).map_err(|e| e.to_string())
}

/// Runs one command; returns the process exit code.
pub fn run(args: &[String], input: &mut dyn BufRead, out: &mut dyn Write) -> Result<i32, String> {
    let (command, rest) = match args {
        [a, b, rest @ ..] if a == "policy" && b == "check" => ("check", rest),
        [a, rest @ ..] if a == "route" || a == "audit" => (a.as_str(), rest),
        _ => return Err(USAGE.to_string()),
    };
    let o = parse_options(rest)?;
    let today = o.today.unwrap_or_else(|| Date::of_unix(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)));
    let (catalog, prices) = load_catalog(&o)?;
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    match command {
        "check" => {
            let mut failed = 0;
            for (path, in_folder) in policy_files(&o.positional, &o.except)? {
                // In a policies folder the file's name is the tenant it is for (`make seed-remote`
                // stores it as `policy:<name>`): one no tenant id can match would never be used.
                let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                if in_folder && !crate::tenants::valid_tenant_id(&stem) {
                    failed += 1;
                    w(out, format!("error {}: '{stem}' is not a tenant id (letters, digits, '-' and '_', at most 64), so no tenant would ever use this policy; name the file after the tenant, or default.toml for every tenant without its own", path.display()))?;
                    continue;
                }
                match load_policy(&path, &catalog) {
                    Ok(p) if !p.defects.is_empty() => {
                        failed += 1;
                        for defect in &p.defects {
                            w(out, format!("error {defect}"))?;
                        }
                    }
                    Ok(p) => {
                        w(out, format!("ok    {} ({} rules)", path.display(), p.rules.len()))?;
                        for note in p.notes.iter().chain(&crate::routing::retirements::policy_notes(&p, &path.display().to_string(), &catalog, today)) {
                            w(out, format!("note  {note}"))?;
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        w(out, format!("error {e}"))?;
                    }
                }
            }
            // The catalog's aliases clients call by, whose models are going: the operator's to move.
            for note in crate::routing::retirements::alias_notes(&catalog, today) {
                w(out, format!("note  {}: {note}", o.catalog.display()))?;
            }
            // The pricing document the policies were checked against, whose defects fail the check
            // too (`make seed-remote` pushes it with them).
            for defect in &prices.defects {
                failed += 1;
                w(out, format!("error {}: {defect}", o.pricing.display()))?;
            }
            Ok(i32::from(failed > 0))
        }
        "route" => {
            let policy = load_policy(o.policy.as_deref().ok_or("route needs --policy FILE")?, &catalog)?;
            warn_of_defects(&policy, &prices);
            // From a file named on the command line, else standard input, a line at a time (a
            // pipe from a log is answered as it goes).
            let mut file_input;
            let input: &mut dyn BufRead = match o.positional.as_slice() {
                [] => input,
                [file] => {
                    file_input = std::io::BufReader::new(std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?);
                    &mut file_input
                }
                _ => return Err(format!("route takes at most one requests.jsonl file\n{USAGE}")),
            };
            let (mut routed, mut lines) = (0, 0);
            for (i, line) in input.lines().enumerate() {
                let line = line.map_err(|e| e.to_string())?;
                if line.trim().is_empty() {
                    continue;
                }
                let answer = route_line(i + 1, &line, &policy, &catalog, &prices, today);
                lines += 1;
                routed += usize::from(answer.get("error").is_none());
                w(out, answer.to_string())?;
            }
            // Some lines routed, or none to route: fine; every line failing is a failure.
            Ok(i32::from(lines > 0 && routed == 0))
        }
        _ => {
            let policy = load_policy(o.policy.as_deref().ok_or("audit needs --policy FILE")?, &catalog)?;
            warn_of_defects(&policy, &prices);
            let file = match o.positional.as_slice() {
                [file] => file,
                [] => return Err(format!("audit needs a calls.jsonl file\n{USAGE}")),
                _ => return Err(format!("audit takes one calls.jsonl file\n{USAGE}")),
            };
            let report = audit(&read(Path::new(file))?, &policy, &catalog, &prices, today)?;
            w(out, if o.json { serde_json::to_string_pretty(&report.to_json()).map_err(|e| e.to_string())? } else { report.to_table() })?;
            Ok(i32::from(report.totals().calls == 0 && !report.errors.is_empty()))
        }
    }
}

/// The policy files named, those in a named folder marked `true` (less those named in `except`).
fn policy_files(paths: &[String], except: &[String]) -> Result<Vec<(PathBuf, bool)>, String> {
    let mut files = Vec::new();
    let mut empty_folders = Vec::new();
    let mut left_out = 0;
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| format!("{p}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            entries.sort();
            let listed = entries.len();
            entries.retain(|e| !except.iter().any(|x| e.file_name().is_some_and(|n| n.to_string_lossy() == *x)));
            left_out += listed - entries.len();
            if listed == 0 {
                empty_folders.push(p.as_str());
            }
            files.extend(entries.into_iter().map(|e| (e, true)));
        } else {
            files.push((path, false));
        }
    }
    // A folder holding only what was left out has nothing to check (nothing of it is pushed).
    if files.is_empty() && left_out > 0 {
        return Ok(files);
    }
    if files.is_empty() && !empty_folders.is_empty() {
        return Err(format!("{}: no .toml policy files there", empty_folders.join(", ")));
    }
    if files.is_empty() {
        return Err(format!("no policy files given\n{USAGE}"));
    }
    Ok(files)
}

/// Request context a JSONL line may carry next to the OpenAI body, under `x_costrouter`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct LineContext {
    /// The tenant the call is made as: a split keeps each tenant's users on their own arms.
    tenant: String,
    plan: String,
    feature: String,
    team: String,
    env: String,
    user: String,
    host: String,
    country: String,
    continent: String,
    /// Left out: whether `country` is an EU member state, as `request.cf.isEUCountry` says.
    eu: Option<bool>,
    /// The UTC hour the call is judged at; 0 when neither it nor `unix_time` is given.
    hour_utc: Option<u8>,
    /// When the call is judged (seconds since 1970, UTC), for `local_time` conditions; a line
    /// with only `hour_utc` is taken on 1970-01-01, a Thursday.
    unix_time: Option<i64>,
}

/// The countries Cloudflare's geolocation puts in the European Union (`isEUCountry`, the rules
/// language's `ip.src.is_in_european_union`) by ISO 3166-1 code: the member states and the
/// regions with codes of their own that are part of them (Åland, French Guiana, Guadeloupe,
/// Martinique, Mayotte, Réunion, Saint-Martin), for a log line that names a country but not
/// whether it is in the EU.
const EU_COUNTRIES: [&str; 34] = [
    "AT", "AX", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GF", "GP", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MF", "MQ", "MT", "NL", "PL",
    "PT", "RE", "RO", "SE", "SI", "SK", "YT",
];

fn facts_for(req: &ChatRequest, ctx: &LineContext) -> Result<Facts, String> {
    let mut f = Facts::for_chat(req, None);
    f.plan = ctx.plan.clone();
    // Tags as the worker resolves them: `x_costrouter` stands for the headers, then the body's
    // `metadata`, then its `user`; a tag the worker would refuse (a 400) is the line's error.
    let header = |name: &str| {
        let value = match name {
            "x-costrouter-feature" => &ctx.feature,
            "x-costrouter-team" => &ctx.team,
            "x-costrouter-env" => &ctx.env,
            "x-costrouter-user" => &ctx.user,
            _ => return None,
        };
        (!value.is_empty()).then(|| value.clone())
    };
    let no_key_tags = crate::events::Attribution::default();
    let tags = crate::attribution::resolve(header, req.extra.get("metadata"), req.end_user(), crate::attribution::KeyTags { tags: &no_key_tags, locked: false }).map_err(|e| {
        match e.param.as_deref().and_then(|p| p.strip_prefix("x-costrouter-")) {
            Some(tag) => format!("x_costrouter.{tag} (the worker's header x-costrouter-{tag}) must be {}", crate::attribution::TAG_RULE),
            None => e.message,
        }
    })?;
    f.feature = tags.feature;
    f.team = tags.team;
    f.env = tags.environment;
    f.user = tags.user;
    f.host = ctx.host.clone();
    f.country = ctx.country.clone();
    f.continent = ctx.continent.clone();
    f.eu = ctx.eu.unwrap_or_else(|| EU_COUNTRIES.iter().any(|c| c.eq_ignore_ascii_case(&ctx.country)));
    // Cloudflare's XX and T1 as the worker takes them: an `eu = true` rule (data residency)
    // takes them. A line without a country is not a request without request.cf (the worker's
    // other unknown location): logs mostly carry none, and an audit would send every call down
    // the residency rule. README says so.
    f.location_unknown = !ctx.country.is_empty() && crate::routing::policy::location_unknown(&ctx.country);
    if let Some(h) = ctx.hour_utc.filter(|h| *h > 23) {
        return Err(format!("x_costrouter.hour_utc {h} is no hour of the day (0-23)"));
    }
    // Seconds from 1970 to the end of year 9999: a time in milliseconds is refused rather than
    // judged tens of thousands of years on.
    if let Some(t) = ctx.unix_time.filter(|t| !(0..=253_402_300_799).contains(t)) {
        return Err(format!("x_costrouter.unix_time {t} is not seconds since 1970 (0 to 253402300799, the end of year 9999); a time in milliseconds is 1000 times too large"));
    }
    f.now_unix = match (ctx.unix_time, ctx.hour_utc) {
        (Some(t), Some(h)) if utc_hour(t) != h => return Err(format!("x_costrouter.hour_utc {h} is not the hour of its unix_time {t} ({} UTC); give one of them", utc_hour(t))),
        (Some(t), _) => t,
        (None, h) => i64::from(h.unwrap_or(0)) * 3600,
    };
    Ok(f)
}

/// What a past call's log says it used, which an audit routes the call by.
struct LoggedSize {
    /// The prompt as billed: the text in the log may be abridged.
    prompt_tokens: u64,
    /// Expected of every candidate, and what each must be able to write (a model whose output
    /// cap or window is smaller is passed over, as for a client's cap).
    output_tokens: u64,
    /// Whether the logged model reasons unasked, so that its logged output already holds its
    /// reasoning. Whether the client capped the output the log does not say: the call is
    /// routed, and priced after, as if it did not, as most clients do not. So a model that
    /// reasons unasked is expected to think besides the logged output of one that did not (as
    /// one capped at it, it looked as cheap as one that answers at once, and the audit then
    /// priced it with its reasoning: a loss of the audit's making), and nothing is added to
    /// that of one that did (its reasoning counted twice, it lost every call to a model that
    /// does not reason).
    reasons: bool,
}

/// `line` stands in for the request id the worker draws a split's arm by when a call names no
/// user: each line is drawn on its own, so an audit prices a split's arms in their proportions.
/// Retirements are judged at the line's own time if it gives one, else at `today`.
#[allow(clippy::too_many_arguments)]
fn decide(line: usize, req: &ChatRequest, ctx: &LineContext, policy: &Policy, catalog: &Catalog, prices: &PriceTable, logged: Option<&LoggedSize>, today: Date) -> Result<(Facts, Outcome), String> {
    // A hostname alias names the model before anything is counted, as in the worker (the
    // prompt's tokens depend on the model's tokenizer).
    let aliased;
    let req = match policy.host_model(&ctx.host) {
        Some(alias) => {
            aliased = ChatRequest { model: alias.to_string(), ..req.clone() };
            &aliased
        }
        None => req,
    };
    let mut facts = facts_for(req, ctx)?;
    // An audit knows the real prompt size from the provider's bill; the text may be abridged.
    if let Some(l) = logged {
        facts.prompt_tokens = l.prompt_tokens;
    }
    facts.model_served = catalog.resolve(&facts.model).map(|m| m.name.clone()).unwrap_or_default();
    let everyone = |_: &ProviderConfig| true;
    let sticky = crate::routing::plan::split_sticky_key(&ctx.tenant, &facts.user, req.end_user(), &format!("line-{line}"));
    let input = PlanInput {
        catalog,
        prices,
        facts: &facts,
        expected_output_tokens: logged.map_or(req.needed_output_tokens().unwrap_or(DEFAULT_EXPECTED_OUTPUT_TOKENS), |l| l.output_tokens),
        choices: req.choices(),
        reasoning_effort: req.reasoning_effort(),
        requested_output_tokens: logged.map_or(req.needed_output_tokens(), |l| Some(l.output_tokens.max(1))),
        output_holds_reasoning: logged.map_or(req.needed_output_tokens().is_some(), |l| l.reasons),
        adapter_output_cap: &|p, upstream_model| crate::providers::adapter_for(p.kind).default_output_cap(req, upstream_model),
        reasoning_as_asked: &|p, upstream_model| crate::providers::adapter_for(p.kind).reasoning_as_asked(req, upstream_model),
        service_tier: crate::usage::ServiceTier::from_response(req.extra.get("service_tier").and_then(serde_json::Value::as_str)),
        sticky_key: &sticky.key,
        sticky_per_user: sticky.per_user,
        allowed_models: None,
        usable: &everyone,
        latency_ms: &|_| None,
        today: ctx.unix_time.map_or(today, Date::of_unix),
    };
    let outcome = plan(policy, &input).map_err(|e| e.message)?;
    Ok((facts, outcome))
}

fn split_line(line: &str) -> Result<(ChatRequest, LineContext), String> {
    let mut value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let ctx = match value.as_object_mut().and_then(|o| o.remove("x_costrouter")) {
        Some(c) => serde_json::from_value(c).map_err(|e| format!("x_costrouter: {e}"))?,
        None => LineContext::default(),
    };
    // A Responses API body (`input`, no `messages`) is routed as the chat request it means, as
    // the worker routes `/v1/responses`.
    let responses = value.get("input").is_some() && value.get("messages").is_none();
    let req = if responses { crate::api::responses::from_value(value, true, None).map(|r| r.chat) } else { ChatRequest::from_value(value) };
    Ok((req.map_err(|e| e.message)?, ctx))
}

fn route_line(n: usize, line: &str, policy: &Policy, catalog: &Catalog, prices: &PriceTable, today: Date) -> Value {
    let result = split_line(line).and_then(|(req, ctx)| decide(n, &req, &ctx, policy, catalog, prices, None, today));
    match result {
        Err(error) => json!({"line": n, "error": error}),
        Ok((facts, Outcome::Block { rule, why, message })) => json!({"line": n, "prompt_tokens": facts.prompt_tokens, "action": "block", "rule": rule, "reason": format!("rule '{rule}' ({why})"), "message": message}),
        Ok((facts, Outcome::Respond { rule, why, text })) => json!({"line": n, "prompt_tokens": facts.prompt_tokens, "action": "respond", "rule": rule, "reason": format!("rule '{rule}' ({why})"), "text": text}),
        Ok((facts, Outcome::Route(d))) => json!({
            "line": n,
            "task": facts.task,
            "difficulty": facts.difficulty,
            "risk": facts.risk,
            "prompt_tokens": facts.prompt_tokens,
            "action": "route",
            "route": d.route,
            "candidates": d.candidates.iter().map(|c| format!("{}@{}", c.model, c.provider)).collect::<Vec<_>>(),
            "reason": d.reason,
        }),
    }
}

/// One past call, as exported from a provider dashboard or another gateway's logs.
#[derive(Deserialize)]
struct PastCall {
    model: String,
    #[serde(alias = "prompt_tokens")]
    input_tokens: u64,
    #[serde(alias = "completion_tokens")]
    output_tokens: u64,
    #[serde(default)]
    cached_tokens: u64,
    /// The prompt as text, or the full `messages` array; either lets the router classify it.
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Value>,
    #[serde(default)]
    x_costrouter: Option<Value>,
}

#[derive(Default)]
struct ClassTotals {
    calls: u64,
    actual: Usd,
    routed: Usd,
    unpriced: u64,
}

pub struct AuditReport {
    by_class: BTreeMap<String, ClassTotals>,
    /// Calls routed from a model that does not reason to one that reasons unasked, priced with
    /// the planner's expected reasoning tokens added.
    reasoning_estimated: u64,
    /// Calls a cascade routed, priced at its first model as if it never escalated (the log says
    /// nothing of how the weak model's answer would have been judged).
    cascaded: u64,
    errors: Vec<String>,
}

fn audit(text: &str, policy: &Policy, catalog: &Catalog, prices: &PriceTable, today: Date) -> Result<AuditReport, String> {
    let mut report = AuditReport { by_class: BTreeMap::new(), reasoning_estimated: 0, cascaded: 0, errors: vec![] };
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let call: PastCall = match serde_json::from_str(line) {
            Ok(c) => c,
            Err(e) => {
                report.errors.push(format!("line {}: {e}", i + 1));
                continue;
            }
        };
        let messages = call.messages.clone().unwrap_or_else(|| json!([{"role": "user", "content": call.prompt.clone().unwrap_or_default()}]));
        let mut body = json!({"model": call.model, "messages": messages});
        if let Some(ctx) = &call.x_costrouter {
            body["x_costrouter"] = ctx.clone();
        }
        let usage = Usage { input_tokens: call.input_tokens, cached_input_tokens: call.cached_tokens.min(call.input_tokens), output_tokens: call.output_tokens, ..Usage::default() };
        // Exports name models as served (`gpt-4o-2024-08-06`, a host's own id): priced as the
        // catalog model that serves them.
        let price_key = catalog.resolve(&call.model).map(|m| m.price_key.as_str()).or_else(|| catalog.price_key_of_served(&call.model));
        let logged_price = price_key.and_then(|k| prices.get(k)).or_else(|| prices.get(&call.model));
        let actual = logged_price.map(|p| p.cost(&usage, false).total);
        let logged = LoggedSize { prompt_tokens: call.input_tokens, output_tokens: call.output_tokens, reasons: logged_price.is_some_and(|p| p.reasons_at(None)) };
        let decided = split_line(&body.to_string()).and_then(|(req, ctx)| decide(i + 1, &req, &ctx, policy, catalog, prices, Some(&logged), today));
        let (class, routed) = match decided {
            Ok((facts, Outcome::Route(d))) => {
                let class = facts.task.map(|t| format!("{t:?}").to_lowercase()).unwrap_or_else(|| "unclassified".into());
                let routed_price = prices.get(&d.candidates[0].price_key);
                // A model that reasons unasked would have thought besides the logged output of
                // one that did not (`LoggedSize::reasons`): as many tokens as the planner
                // expects of an uncapped request. Logs carry no effort.
                let adds_reasoning = routed_price.is_some_and(|p| p.reasons_at(None)) && logged_price.is_some() && !logged.reasons;
                let reasoning = match routed_price {
                    Some(p) if adds_reasoning => crate::routing::plan::expected_reasoning_tokens(p.effort_at(None)),
                    _ => 0,
                };
                report.reasoning_estimated += u64::from(adds_reasoning);
                report.cascaded += u64::from(d.cascade.is_some());
                let routed_usage = Usage { output_tokens: usage.output_tokens + reasoning, reasoning_tokens: reasoning, ..usage };
                (class, routed_price.map(|p| p.cost(&routed_usage, false).total))
            }
            Ok((_, Outcome::Block { .. } | Outcome::Respond { .. })) => ("answered-by-rule".into(), Some(Usd::ZERO)),
            Err(e) => {
                report.errors.push(format!("line {}: {e}", i + 1));
                continue;
            }
        };
        let t = report.by_class.entry(class).or_default();
        t.calls += 1;
        match (actual, routed) {
            (Some(a), Some(r)) => {
                t.actual += a;
                t.routed += r;
            }
            _ => t.unpriced += 1,
        }
    }
    Ok(report)
}

impl AuditReport {
    fn totals(&self) -> ClassTotals {
        self.by_class.values().fold(ClassTotals::default(), |mut acc, t| {
            acc.calls += t.calls;
            acc.actual += t.actual;
            acc.routed += t.routed;
            acc.unpriced += t.unpriced;
            acc
        })
    }

    pub fn to_json(&self) -> Value {
        let row = |t: &ClassTotals| json!({"calls": t.calls, "actual_usd": t.actual.to_string(), "routed_usd": t.routed.to_string(),
            "savings_usd": (t.actual - t.routed).to_string(), "unpriced_calls": t.unpriced});
        json!({
            "by_task_class": self.by_class.iter().map(|(k, t)| (k.clone(), row(t))).collect::<serde_json::Map<_, _>>(),
            "total": row(&self.totals()),
            "errors": self.errors,
        })
    }

    pub fn to_table(&self) -> String {
        let mut s = format!("{:<20} {:>7} {:>9} {:>14} {:>14} {:>14} {:>8}\n", "task class", "calls", "unpriced", "actual $", "with policy $", "savings $", "saved %");
        let mut line = |name: &str, t: &ClassTotals| {
            let pct = if t.actual.0 > 0 { 100.0 * (t.actual - t.routed).as_f64() / t.actual.as_f64() } else { 0.0 };
            s.push_str(&format!(
                "{:<20} {:>7} {:>9} {:>14.6} {:>14.6} {:>14.6} {:>7.1}%\n",
                name,
                t.calls,
                t.unpriced,
                t.actual.as_f64(),
                t.routed.as_f64(),
                (t.actual - t.routed).as_f64(),
                pct
            ));
        };
        for (k, t) in &self.by_class {
            line(k, t);
        }
        line("TOTAL", &self.totals());
        if self.totals().unpriced > 0 {
            s.push_str("unpriced: calls whose model (as asked for, or as routed) has no price; the dollar columns leave them out\n");
        }
        if self.cascaded > 0 {
            s.push_str(&format!("a cascade is priced at its first model, as if it never escalated ({} calls)\n", self.cascaded));
        }
        if self.reasoning_estimated > 0 {
            s.push_str(&format!(
                "a call routed from a model that does not reason unasked to one that does is priced with the reasoning tokens the router expects of it ({} unasked, more where its row's default effort is higher) ({} calls)\n",
                crate::routing::plan::expected_reasoning_tokens(None),
                self.reasoning_estimated
            ));
        }
        for e in &self.errors {
            s.push_str(&format!("skipped {e}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_cli(args: &[&str], stdin: &str) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let code = run(&args, &mut stdin.as_bytes(), &mut out).unwrap_or_else(|e| panic!("{e}"));
        (code, String::from_utf8(out).unwrap())
    }

    fn here(p: &str) -> String {
        format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The day these tests judge retirements at: before any seeded model's `retires_on`, so the
    /// seeded models they name route whatever day they run on.
    const SEEDED_TODAY: &str = "2026-07-01";

    fn seeded_today() -> Date {
        Date::parse(SEEDED_TODAY).unwrap()
    }

    /// `args` with the shipped catalog and pricing files named, as the commands need them.
    fn seeded(args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--catalog".into(), here("kv-seed/catalog.json"), "--pricing".into(), here("kv-seed/pricing.json"), "--today".into(), SEEDED_TODAY.into()]);
        all
    }

    fn run_seeded(args: &[&str], stdin: &str) -> (i32, String) {
        let all = seeded(args);
        run_cli(&all.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    }

    #[test]
    fn policy_check_reports_each_file() {
        let (code, out) = run_seeded(&["policy", "check", &here("policies")], "");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("ok    ") && out.contains("default.toml (1 rules)"), "{out}");

        // Its own folder: the other tests write theirs at the same time.
        let dir = std::env::temp_dir().join(format!("costrouter-cli-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "version = 1\nname = \"x\"\n[[rules]]\nname = \"r\"\nroute = { strategy = \"cheapest\", candidates = [\"gpt-9\"] }\n").unwrap();
        let bad_path = bad.display().to_string();
        let (code, out) = run_seeded(&["policy", "check", &bad_path], "");
        assert_eq!(code, 1);
        assert!(out.contains("bad.toml:3: rule 'r': candidate 'gpt-9'"), "{out}");
        // A rule that loads but never matches fails the check (the worker serves the rest).
        std::fs::write(&bad, "version = 1\nname = \"x\"\n[[rules]]\nname = \"r\"\nwhen = { feature = [] }\nroute = { strategy = \"requested\" }\n").unwrap();
        let (code, out) = run_seeded(&["policy", "check", &bad_path], "");
        assert_eq!(code, 1, "{out}");
        assert!(out.starts_with("error ") && out.contains("bad.toml:3: rule 'r': when.feature is an empty list"), "{out}");
        // So does a pricing defect: a LiteLLM-shaped row of our document with one of our fields.
        let mut pricing: Value = serde_json::from_str(&std::fs::read_to_string(here("kv-seed/pricing.json")).unwrap()).unwrap();
        pricing["models"]["copied-row"] = serde_json::json!({"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "context_window": 1000});
        let mixed = dir.join("pricing.json");
        std::fs::write(&mixed, pricing.to_string()).unwrap();
        let (catalog, mixed) = (here("kv-seed/catalog.json"), mixed.display().to_string());
        let (code, out) = run_cli(&["policy", "check", &here("policies/default.toml"), "--catalog", &catalog, "--pricing", &mixed], "");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("error ") && out.contains("\"copied-row\"") && out.contains("context_window"), "{out}");

        // In a folder, a file's name is its tenant: one no tenant id matches is never used. A
        // file named on its own is only checked.
        let folder = dir.join("policies");
        std::fs::create_dir_all(&folder).unwrap();
        let good = "version = 1\nname = \"x\"\n[[rules]]\nname = \"r\"\nroute = { strategy = \"requested\" }\n";
        std::fs::write(folder.join("acme_prod-1.toml"), good).unwrap();
        std::fs::write(folder.join("Acme Corp.toml"), good).unwrap();
        let check = |path: &std::path::Path| run_seeded(&["policy", "check", &path.display().to_string()], "");
        let (code, out) = check(&folder);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("Acme Corp.toml: 'Acme Corp' is not a tenant id") && out.contains("ok    ") && out.contains("acme_prod-1.toml"), "{out}");
        let (code, out) = check(&folder.join("Acme Corp.toml"));
        assert_eq!(code, 0, "{out}");
        // `make seed-remote` leaves out the sample it does not push, and checks the rest as a
        // folder (their names are still tenants); a folder of only the sample has nothing to check.
        let except = |name: &str| run_seeded(&["policy", "check", "--except", name, &folder.display().to_string()], "");
        let (code, out) = except("acme_prod-1.toml");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("'Acme Corp' is not a tenant id") && !out.contains("acme_prod-1"), "{out}");
        let (code, out) = except("Acme Corp.toml");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("acme_prod-1.toml") && !out.contains("Acme Corp"), "{out}");
        std::fs::remove_file(folder.join("acme_prod-1.toml")).unwrap();
        let (code, out) = except("Acme Corp.toml");
        assert_eq!((code, out.as_str()), (0, ""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn route_prints_one_decision_per_line() {
        let example = here("policies/example.toml");
        let input = concat!(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Is this spam? 'WIN A PRIZE'"}]}"#, "\n",
            r#"{"model":"fast","messages":[{"role":"user","content":"when are you open?"}],"x_costrouter":{"feature":"support-faq"}}"#, "\n",
            "not json\n",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"eu":true}}"#, "\n",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"country":"T1"}}"#, "\n",
            // `eu` from the country when the line leaves it out, as request.cf.isEUCountry.
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"country":"DE"}}"#, "\n",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"country":"US"}}"#, "\n",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"country":"DE","eu":false}}"#, "\n",
        );
        let (_, out) = run_seeded(&["route", "--policy", &example], input);
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(lines[0]["action"], "route");
        assert_eq!(lines[0]["route"], "cheapest");
        assert_eq!(lines[0]["candidates"][0], "gpt-4o-mini@openai");
        assert_eq!(lines[1]["action"], "respond");
        assert!(lines[2]["error"].as_str().unwrap().contains("invalid JSON"));
        assert_eq!(lines[3]["candidates"][0], "mistral-small@mistral");
        assert!(lines[4]["reason"].as_str().unwrap().starts_with("rule 'eu-residency' (location unknown (request.cf country T1)"), "{}", lines[4]);
        assert!(lines[5]["reason"].as_str().unwrap().starts_with("rule 'eu-residency' (eu true"), "{}", lines[5]);
        for line in &lines[6..] {
            assert!(!line["reason"].as_str().unwrap().contains("eu-residency"), "{line}");
        }
    }

    #[test]
    fn route_reads_a_responses_api_body_as_the_chat_request_it_means() {
        let example = format!("{}/policies/example.toml", env!("CARGO_MANIFEST_DIR"));
        let chat = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"Classify the sentiment."},{"role":"user","content":"I love it"}],"max_completion_tokens":5}"#;
        let responses = r#"{"model":"gpt-4o","instructions":"Classify the sentiment.","input":"I love it","max_output_tokens":5}"#;
        let (_, out) = run_seeded(&["route", "--policy", &example], &format!("{chat}\n{responses}\n"));
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines[0].get("error").is_none(), "{}", lines[0]);
        for key in ["task", "prompt_tokens", "action", "route", "candidates", "reason"] {
            assert_eq!(lines[1][key], lines[0][key], "{key}: {} vs {}", lines[1], lines[0]);
        }
        let (_, out) = run_seeded(&["route", "--policy", &example], r#"{"model":"gpt-4o","input":"x","previous_response_id":"resp_1"}"#);
        assert!(out.contains("Previous response with id 'resp_1' not found: no responses are kept where this request was read"), "{out}");
    }

    #[test]
    fn route_draws_a_split_arm_by_the_user_the_worker_would_see() {
        let example = here("policies/example.toml");
        // The user from the body's `user` or `metadata.user`, as the worker reads it, when
        // `x_costrouter` names none; and the same arm as when it does.
        let input = concat!(
            r#"{"model":"gpt-4o","user":"u-42","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"feature":"search","tenant":"acme"}}"#, "\n",
            r#"{"model":"gpt-4o","metadata":{"user":"u-42"},"messages":[{"role":"user","content":"hi"}],"x_costrouter":{"feature":"search","tenant":"acme"}}"#, "\n",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"feature":"search","tenant":"acme","user":"u-42"}}"#, "\n",
        );
        let (_, out) = run_seeded(&["route", "--policy", &example], input);
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for line in &lines {
            assert!(line["reason"].as_str().unwrap().contains("(sticky per user)"), "{line}");
            assert_eq!(line["candidates"][0], lines[2]["candidates"][0]);
        }
        // `safety_identifier` names the user as `user` does, in the worker as here.
        let safety = r#"{"model":"gpt-4o","safety_identifier":"u-42","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"feature":"search","tenant":"acme"}}"#;
        let (_, out) = run_seeded(&["route", "--policy", &example], &format!("{safety}\n"));
        let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert!(line["reason"].as_str().unwrap().contains("(sticky per user)"), "{line}");
        assert_eq!(line["candidates"][0], lines[2]["candidates"][0], "{line}");
        // A tag the worker would refuse (a 400) is the line's error, not every tag dropped.
        let bad = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_costrouter":{"feature":"search","team":"Payments Team","tenant":"acme"}}"#;
        let (_, out) = run_seeded(&["route", "--policy", &example], &format!("{bad}\n"));
        let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert!(line["error"].as_str().is_some_and(|e| e.starts_with("x_costrouter.team")), "{line}");
    }

    #[test]
    fn route_reads_a_file_and_fails_when_no_line_routes() {
        let dir = std::env::temp_dir().join(format!("costrouter-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.jsonl");
        std::fs::write(&good, concat!(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#, "\n")).unwrap();
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, "not json\n").unwrap();
        let example = here("policies/example.toml");
        let (good, bad) = (good.display().to_string(), bad.display().to_string());
        let (code, out) = run_seeded(&["route", "--policy", &example, &good], "ignored stdin\n");
        assert_eq!((code, out.lines().count()), (0, 1), "{out}");
        let (code, _) = run_seeded(&["route", "--policy", &example, &bad], "");
        assert_eq!(code, 1, "no line could be routed");
        let args = seeded(&["route", "--policy", &example, &good, &bad]);
        let mut out = Vec::new();
        assert!(run(&args, &mut "".as_bytes(), &mut out).is_err(), "a second file is refused, not dropped");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn retirements_are_judged_at_today_or_a_line_s_own_time_and_told_by_the_check() {
        let (catalog, pricing, example) = (here("kv-seed/catalog.json"), here("kv-seed/pricing.json"), here("policies/example.toml"));
        let on = |command: &[&str], day: &str, stdin: &str| {
            let mut args = command.to_vec();
            args.extend(["--catalog", &catalog, "--pricing", &pricing, "--today", day]);
            run_cli(&args, stdin)
        };
        let gpt_4o = |ctx: &str| format!("{{\"model\":\"gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]{ctx}}}\n", "word ".repeat(3000));
        let route = |day: &str, ctx: &str| {
            let (_, out) = on(&["route", "--policy", &example], day, &gpt_4o(ctx));
            serde_json::from_str::<Value>(&out).unwrap()
        };
        // Past the example's cheap rule (a long prompt): the default rule serves what is named.
        assert_eq!(route("2027-01-13", "")["candidates"][0], "gpt-4o@openai");
        let gone = route("2027-01-14", "");
        assert_eq!(gone["error"], "The model 'gpt-4o' was retired on 2027-01-14: its provider no longer serves it. GET /v1/models lists the models this key may use.");
        // A logged line is judged at its own time (2027-01-13 12:00 UTC).
        assert_eq!(route("2027-02-01", r#","x_costrouter":{"unix_time":1799841600}"#)["candidates"][0], "gpt-4o@openai");
        // The check tells what is going within a quarter, and still passes.
        let (code, out) = on(&["policy", "check", &example], "2026-12-08", "");
        assert_eq!(code, 0, "{out}");
        for told in [
            "rule 'search-ab': candidate 'gpt-4o-mini' retires on 2027-01-14, in 37 days: the rule passes it over from that day",
            "rule 'small-prompts-cheap': candidate 'gpt-4o-mini' retires on 2027-01-14, in 37 days",
            "host 'gpt4o.router.example.com' names 'gpt4o' (gpt-4o), which retires on 2027-01-14, in 37 days",
            "catalog.json: alias 'gpt4o' (gpt-4o) retires on 2027-01-14, in 37 days: point it at a current model",
            "catalog.json: alias 'claude-sonnet-4-5-20250929' (claude-sonnet-4-5) was retired on 2026-11-30",
        ] {
            assert!(out.lines().any(|l| l.starts_with("note  ") && l.contains(told)), "{told}:\n{out}");
        }
        let (code, out) = on(&["policy", "check", &example], "2026-07-01", "");
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("retired"), "nothing within a quarter of 2026-07-01: {out}");
        let mut out = Vec::new();
        let refused = run(&["route".into(), "--policy".into(), example.clone(), "--today".into(), "2027-1-14".into()], &mut "".as_bytes(), &mut out).unwrap_err();
        assert!(refused.starts_with("--today must be a date written YYYY-MM-DD, not \"2027-1-14\""), "{refused}");
    }

    #[test]
    fn route_judges_local_time_rules_at_the_line_s_unix_time() {
        let dir = std::env::temp_dir().join(format!("costrouter-cli-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = dir.join("hours.toml");
        std::fs::write(
            &policy,
            "version = 1\nname = \"hours\"\n[[rules]]\nname = \"closed\"\nwhen = { local_time = { zone = \"Europe/Berlin\", hours = [9, 17], days = [\"sat\", \"sun\"] } }\nrespond = \"closed at weekends\"\n[[rules]]\nname = \"default\"\nroute = { strategy = \"requested\" }\n",
        )
        .unwrap();
        let policy = policy.display().to_string();
        // (A model its provider serves on those days: a line's time judges retirements too.)
        let line = |ctx: &str| format!("{{\"model\":\"gpt-5.4\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"x_costrouter\":{ctx}}}\n");
        // Saturday 2027-07-03 10:00 UTC is 12:00 in Berlin; Friday 2027-07-02 is a working day.
        let input = [line("{\"unix_time\":1814608800}"), line("{\"unix_time\":1814522400}"), line("{\"unix_time\":1814608800,\"hour_utc\":9}"), line("{\"hour_utc\":24}"), line("{\"unix_time\":1814608800,\"hour_utc\":10}"), line("{\"unix_time\":1814608800000}"), line("{\"unix_time\":-1}")].concat();
        let (_, out) = run_seeded(&["route", "--policy", &policy], &input);
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!((lines[0]["action"].as_str(), lines[0]["reason"].as_str()), (Some("respond"), Some("rule 'closed' (sat 12:00 in Europe/Berlin)")), "{}", lines[0]);
        assert_eq!(lines[1]["action"], "route", "{}", lines[1]);
        assert_eq!(lines[2]["error"], "x_costrouter.hour_utc 9 is not the hour of its unix_time 1814608800 (10 UTC); give one of them");
        assert_eq!(lines[3]["error"], "x_costrouter.hour_utc 24 is no hour of the day (0-23)");
        assert_eq!(lines[4]["action"], "respond", "both given and agreeing: {}", lines[4]);
        for line in &lines[5..] {
            assert!(line["error"].as_str().is_some_and(|e| e.contains("is not seconds since 1970")), "{line}");
        }
        assert_eq!(lines.len(), 7);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn audit_reports_spend_with_and_without_the_policy() {
        let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let policy = Policy::from_toml("example", include_str!("../policies/example.toml"), &catalog).unwrap();
        let calls = concat!(
            r#"{"model":"gpt-4o","input_tokens":1000,"output_tokens":100,"prompt":"Classify this ticket"}"#, "\n",
            r#"{"model":"gpt-4o","input_tokens":1000,"output_tokens":100,"prompt":"Classify that ticket"}"#, "\n",
            r#"{"model":"claude-sonnet-4-5","prompt_tokens":2000,"completion_tokens":500,"prompt":"Write a poem"}"#, "\n",
            "{broken\n",
        );
        let report = audit(calls, &policy, &catalog, &prices, seeded_today()).unwrap();
        let j = report.to_json();
        // gpt-4o: 1000*2.5 + 100*10 = $0.0035 each; routed to gpt-4o-mini: 1000*0.15 + 100*0.6 = $0.00021.
        // claude-sonnet-4-5 stays (default rule): 2000*3 + 500*15 = $0.0135.
        assert_eq!(j["total"]["calls"], 3);
        assert_eq!(j["total"]["actual_usd"], "0.0205");
        assert_eq!(j["total"]["routed_usd"], "0.01392");
        assert_eq!(j["total"]["savings_usd"], "0.00658");
        assert_eq!(j["errors"].as_array().unwrap().len(), 1);
        assert!(report.to_table().contains("TOTAL"));
        assert!(!report.to_table().contains("reasoning tokens"), "no call was routed to a model that reasons");
        assert!(!report.to_table().contains("cascade"), "no call was routed by a cascade: {}", report.to_table());
    }

    #[test]
    fn audit_notes_the_cascade_pricing_only_for_calls_a_cascade_routed() {
        let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let rules = "version = 1\nname = \"x\"\n[[rules]]\nname = \"ask\"\nwhen = { model = [\"claude-sonnet-4-5\"] }\nroute = { strategy = \"requested\" }\n\
                     [[rules]]\nname = \"weak-first\"\nroute = { strategy = \"cascade\", candidates = [\"gpt-4o-mini\", \"gpt-4o\"] }\n";
        let policy = Policy::from_toml("x", rules, &catalog).unwrap();
        let calls = concat!(
            r#"{"model":"gpt-4o","input_tokens":1000,"output_tokens":100,"prompt":"Classify this ticket"}"#, "\n",
            r#"{"model":"claude-sonnet-4-5","input_tokens":1000,"output_tokens":100,"prompt":"Write a poem"}"#, "\n",
        );
        let table = audit(calls, &policy, &catalog, &prices, seeded_today()).unwrap().to_table();
        assert!(table.contains("a cascade is priced at its first model, as if it never escalated (1 calls)"), "{table}");
        let asked = concat!(r#"{"model":"claude-sonnet-4-5","input_tokens":1000,"output_tokens":100,"prompt":"Write a poem"}"#, "\n");
        let table = audit(asked, &policy, &catalog, &prices, seeded_today()).unwrap().to_table();
        assert!(!table.contains("cascade"), "{table}");
    }

    /// `calls` audited with the seeded catalog and prices under one `cheapest` rule over `candidates`.
    fn audit_cheapest(candidates: &[&str], calls: &str) -> AuditReport {
        let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
        let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let rule = format!("version = 1\nname = \"x\"\n[[rules]]\nname = \"r\"\nroute = {{ strategy = \"cheapest\", candidates = {candidates:?} }}\n");
        audit(calls, &Policy::from_toml("x", &rule, &catalog).unwrap(), &catalog, &prices, seeded_today()).unwrap()
    }

    #[test]
    fn audit_prices_a_model_that_reasons_unasked_with_its_expected_reasoning() {
        let audited = |calls: &str| audit_cheapest(&["gpt-4o", "o4-mini"], calls);
        // gpt-4o: 1000 × 2.5 + 300 × 10 = $0.0055. o4-mini would also think some 2,000 tokens:
        // 1000 × 1.1 + 2300 × 4.4 = $0.01122, so the call stays on gpt-4o, as the worker would keep
        // it (routed as capped at its 300 output tokens, o4-mini looked $0.00242, was chosen, and
        // the audit then priced it at $0.01122: a loss of the audit's own making).
        let report = audited(concat!(r#"{"model":"gpt-4o","input_tokens":1000,"output_tokens":300}"#, "\n"));
        let j = report.to_json();
        assert_eq!(j["total"]["actual_usd"], "0.0055");
        assert_eq!(j["total"]["routed_usd"], "0.0055");
        assert!(!report.to_table().contains("reasoning tokens"), "{}", report.to_table());
        // A long answer: gpt-4o 1000 × 2.5 + 3000 × 10 = $0.0325; o4-mini with its thinking
        // 1000 × 1.1 + 5000 × 4.4 = $0.0231, cheaper, routed and priced so.
        let report = audited(concat!(r#"{"model":"gpt-4o","input_tokens":1000,"output_tokens":3000}"#, "\n"));
        let j = report.to_json();
        assert_eq!(j["total"]["actual_usd"], "0.0325");
        assert_eq!(j["total"]["routed_usd"], "0.0231");
        assert!(report.to_table().contains("priced with the reasoning tokens the router expects of it (2000 unasked, more where its row's default effort is higher) (1 calls)"), "{}", report.to_table());
        // A logged model that reasons already wrote its reasoning into its output: nothing added,
        // in the ranking either (o4-mini stays: 1000 × 1.1 + 300 × 4.4 = $0.00242 against gpt-4o's
        // 1000 × 2.5 + 300 × 10 = $0.0055; with its reasoning counted twice it went to gpt-4o).
        let report = audited(concat!(r#"{"model":"o4-mini","input_tokens":1000,"output_tokens":300}"#, "\n"));
        assert_eq!([&report.to_json()["total"]["actual_usd"], &report.to_json()["total"]["routed_usd"]], ["0.00242", "0.00242"]);
        assert!(!report.to_table().contains("reasoning tokens"), "{}", report.to_table());
    }

    #[test]
    fn audit_routes_a_call_only_to_models_that_can_write_its_logged_output() {
        let audited = |calls: &str| audit_cheapest(&["gpt-4o-mini", "gpt-4.1"], calls);
        // gpt-4o-mini writes at most 16,384 tokens: a logged 20,000-token answer stays on gpt-4.1
        // (1000 × 2 + 20,000 × 8 = $0.162), not priced as a saving gpt-4o-mini could not make.
        let report = audited(concat!(r#"{"model":"gpt-4.1","input_tokens":1000,"output_tokens":20000}"#, "\n"));
        assert_eq!([&report.to_json()["total"]["actual_usd"], &report.to_json()["total"]["routed_usd"]], ["0.162", "0.162"]);
        let report = audited(concat!(r#"{"model":"gpt-4.1","input_tokens":1000,"output_tokens":16000}"#, "\n"));
        assert_eq!(report.to_json()["total"]["routed_usd"], "0.00975", "16,000 it can: 1000 × 0.15 + 16,000 × 0.6");
    }
}
