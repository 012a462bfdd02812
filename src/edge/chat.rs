//! `POST /v1/chat/completions`: authenticate, parse, route, try the candidates in order, and
//! answer with the provider's completion translated to OpenAI's format and priced.

use std::rc::Rc;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use super::body_stream::BodyStream;

use crate::api::chat::ChatRequest;
use crate::api::front::AnswerForm;
use crate::api::kept_thinking;
use crate::api::no_answer::{refusal_when_nothing_served, ProviderWaits, Unavailable};
use crate::api::ApiError;
use crate::catalog::{ProviderConfig, ProviderKind};
use crate::money::Usd;
use crate::providers::sse::json_instead_of_stream;
use crate::providers::{adapter_for, sends_effort_as_written, Rejection, Target, UpstreamError};
use crate::receipt::{requested_model_reasoning_limit, Receipt, UsageBasis};
use crate::routing::cascade::{judge, OutputCaps, Verdict};
use crate::routing::health::{Admission, AnswerKind};
use crate::routing::plan::{plan, Outcome, PlanInput, DEFAULT_EXPECTED_OUTPUT_TOKENS};
use crate::routing::policy::Facts;
use crate::routing::{disposition, Candidate, Disposition, RouteDecision};
use crate::stream::{trailer, StreamSession, STREAM_ERROR_CODE};
use crate::events::{CLIENT_CLOSED, CLIENT_CLOSED_STATUS};
use crate::budget::{max_cost, OnHardLimit};
use crate::cache::{exact_key, storable, CachePlan, CacheSettings, CachedAnswer, ClientControls, CompletionAssembler};
use crate::tokens::{prompt_token_upper_bound, usage_when_unreported};
use crate::usage::Usage;

use super::auth::{authenticate_client, Principal};
use super::config::{self, provider_key, RouterConfig};
use super::http::{self, now_unix, read_body, RequestContext};
use super::{events, health, spend, upstream};

/// The door a chat request came in by.
#[derive(Debug, Clone, Copy)]
pub enum Front<'a> {
    /// `/v1/chat/completions`.
    Chat,
    /// An Azure-style path (`/openai/deployments/{deployment}/chat/completions`): the
    /// deployment is the model.
    AzureDeployment(&'a str),
    /// `/v1/responses`: translated to a chat request, and its answer back (`api::responses`).
    Responses,
    /// `/v1/messages`: the same for Anthropic's Messages API (`api::messages`).
    Messages,
}

pub async fn handle(mut req: Request, env: &Env, rc: &RequestContext, front: Front<'_>) -> Result<Response, ApiError> {
    // A refusal sent while the client is still sending its body reads as a reset.
    let principal = http::drained_on_refusal(&mut req, authenticate_client(rc, env).await).await?;
    rc.set_tenant(&principal);
    events::attribute_before_body(rc, &principal);
    let cfg = http::drained_on_refusal(&mut req, config::load(env).await).await?;
    let body = read_body(&mut req, &rc.headers, cfg.max_body_bytes).await?;
    let (chat, form) = match front {
        Front::Chat => (ChatRequest::parse(&body)?, None),
        Front::AzureDeployment(model) => (ChatRequest::from_value(crate::api::with_model(&body, model, crate::api::MAX_CHAT_VALUES)?)?, None),
        Front::Responses => {
            let asked = super::response_items::parse_request(env, &cfg, &principal.tenant.id, &body).await?;
            (asked.chat, Some(AnswerForm::Responses(asked.echo)))
        }
        Front::Messages => {
            let asked = crate::api::messages::parse(&body)?;
            (asked.chat, Some(AnswerForm::Messages(asked.echo)))
        }
    };
    // Taken and written in by whatever writes the answer (`respond_with_completion`,
    // `stream_response`); a refusal passes as it is (the Responses API shares chat's error shape;
    // `/v1/messages` refusals are rewritten with every other error of that door, in `serve`).
    *rc.answer_form.borrow_mut() = form;
    let tenant = principal.tenant.id.clone();
    let answer = route(req, env, rc, principal, cfg.clone(), chat).await?;
    // A whole Responses answer's items are kept before it goes out: the client's next request
    // may name them (a stream's are kept before its last event, in `stream_response`).
    let kept = std::mem::take(&mut *rc.to_keep.borrow_mut());
    super::response_items::keep(env, &cfg, &tenant, kept).await;
    Ok(answer)
}

/// `POST /v1/messages/count_tokens`: the prompt a Messages request would send, counted as the
/// router counts prompts for budgets and routing (exactly for OpenAI's encodings, else its
/// estimate: Anthropic's tokenizer is not public).
pub async fn count_message_tokens(mut req: Request, env: &Env, rc: &RequestContext) -> Result<Response, ApiError> {
    let principal = http::drained_on_refusal(&mut req, authenticate_client(rc, env).await).await?;
    rc.set_tenant(&principal);
    let cfg = http::drained_on_refusal(&mut req, config::load(env).await).await?;
    let body = read_body(&mut req, &rc.headers, cfg.max_body_bytes).await?;
    let chat = crate::api::messages::parse_for_count(&body)?;
    let counted = crate::tokens::prompt_tokens(&chat, Some(&principal.tenant.id));
    http::json(200, &serde_json::json!({"input_tokens": counted.count}), &rc.id_headers())
}

/// A parsed chat request, routed and served (or refused, or answered by a rule or the cache).
async fn route(req: Request, env: &Env, rc: &RequestContext, principal: Principal, cfg: Rc<RouterConfig>, chat: ChatRequest) -> Result<Response, ApiError> {
    rc.set_model(&chat.model);
    let attribution = events::attribution(&rc.headers, &principal, chat.extra.get("metadata"), chat.end_user())?;
    rc.set_attribution(attribution.clone());
    let policy = config::policy_for(env, &cfg, &principal.tenant.id).await?;
    let host = if policy.reads_host() { req.url().ok().and_then(|u| u.host_str().map(crate::routing::policy::request_hostname)).unwrap_or_default() } else { String::new() };
    // The id as the client sent it, for a split's draw (as `costrouter route` draws), before it
    // becomes the per-tenant id providers are sent.
    let end_user_as_sent = chat.end_user().map(str::to_string);
    let mut chat = chat;
    chat.scope_end_user_for_provider(&principal.tenant.id);
    let host_alias = policy.host_model(&host);
    if let Some(alias) = host_alias {
        // The hostname names the model (gpt4o.router.example.com): it wins over the body's
        // `model`, in the cost event and the reason too.
        chat.model = alias.to_string();
        rc.set_model(&chat.model);
    }
    let mut facts = Facts::for_chat(&chat, Some(&principal.tenant.id));
    facts.model_served = cfg.catalog.resolve(&chat.model).map(|m| m.name.clone()).unwrap_or_default();
    rc.prompt_tokens.set(facts.prompt_tokens);
    facts.plan = principal.tenant.plan.clone();
    facts.feature = attribution.feature.clone();
    facts.team = attribution.team.clone();
    facts.env = attribution.environment.clone();
    facts.user = attribution.user.clone();
    facts.host = host;
    facts.country = rc.country.clone();
    facts.continent = rc.continent.clone();
    facts.eu = rc.eu;
    facts.location_unknown = crate::routing::policy::location_unknown(&rc.country);
    facts.now_unix = now_unix();
    let sticky_key = crate::routing::plan::split_sticky_key(&principal.tenant.id, &attribution.user, end_user_as_sent.as_deref(), &rc.request_id);
    let usable_here = |p: &ProviderConfig| usable(env, p);
    let input = PlanInput {
        catalog: &cfg.catalog,
        prices: &cfg.prices,
        facts: &facts,
        expected_output_tokens: chat.needed_output_tokens().unwrap_or(DEFAULT_EXPECTED_OUTPUT_TOKENS),
        choices: chat.choices(),
        reasoning_effort: chat.reasoning_effort(),
        requested_output_tokens: chat.needed_output_tokens(),
        output_holds_reasoning: chat.needed_output_tokens().is_some(),
        adapter_output_cap: &|p, upstream_model| crate::providers::adapter_for(p.kind).default_output_cap(&chat, upstream_model),
        reasoning_as_asked: &|p, upstream_model| crate::providers::adapter_for(p.kind).reasoning_as_asked(&chat, upstream_model),
        service_tier: requested_tier(&chat),
        sticky_key: &sticky_key.key,
        sticky_per_user: sticky_key.per_user,
        allowed_models: principal.tenant.allowed_models.as_deref(),
        usable: &usable_here,
        // `fastest` compares like with like: time to a stream's start for a streaming request.
        latency_ms: &|key| health::latency_ms(key, if chat.stream { AnswerKind::Stream } else { AnswerKind::Whole }),
        today: http::today(),
    };
    note_shape(rc, &principal, &chat, &facts);
    let mut outcome = plan(&policy, &input)?;
    if let Outcome::Route(d) = &mut outcome {
        rc.shape.borrow_mut().rule = d.rule.clone();
        if !d.regions.is_empty() {
            // A route held to regions keeps its answers in none of the router's stores.
            if let Some(AnswerForm::Responses(echo)) = rc.answer_form.borrow_mut().as_mut() {
                echo.store_nothing();
            }
        }
        if let Some(alias) = host_alias {
            d.reason = format!("host {} names '{alias}'; {}", facts.host, d.reason);
        }
    }
    match outcome {
        Outcome::Route(decision) => {
            if let Some(hit) = cached_answer(env, rc, &req, &principal, &cfg, &policy, &chat, &decision).await? {
                return cache_hit(env, rc, &principal, &chat, &decision, hit);
            }
            // A tenant recently seen without budgets or limits skips the ledger (and its stub).
            let ledger = (!spend::known_uncontrolled(&principal.tenant.id)).then(|| spend::ledger(env, &principal.tenant.id)).flatten();
            let Some(stub) = ledger else {
                return serve(env, rc, &principal, cfg, chat, decision).await;
            };
            // The reservation is settled (or released) with the rollup, after the response: see
            // `edge::finish`.
            let decision = admit(rc, &stub, &principal, &cfg, &chat, &input, decision).await?;
            serve(env, rc, &principal, cfg, chat, decision).await
        }
        Outcome::Block { rule, why, message } => {
            // The failure's cost event names the rule that refused it, as a route's does.
            rc.shape.borrow_mut().rule = rule.clone();
            Err(ApiError::blocked_by_policy(&rule, &why, &message))
        }
        Outcome::Respond { rule, why, text } => {
            rc.shape.borrow_mut().rule = rule.clone();
            fixed_answer(env, rc, &principal, &chat, &rule, &why, &text)
        }
    }
}

thread_local! {
    static RECENT_PREFIXES: std::cell::RefCell<crate::tokens::prefix::RecentPrefixes> = Default::default();
}

/// What spend analysis needs to know of the request before it is served: its class, its output
/// cap, and its system prompt's size and whether it repeats (see `tokens::prefix`).
fn note_shape(rc: &RequestContext, principal: &Principal, chat: &ChatRequest, facts: &Facts) {
    use crate::tokens::prefix;
    let mut shape = rc.shape.borrow_mut();
    shape.class = facts.class_label();
    shape.max_output_tokens = chat.max_output_tokens();
    shape.system_tokens = facts.system_prompt_tokens;
    // Only a prefix long enough for a provider to cache is worth remembering.
    if shape.system_tokens >= prefix::MIN_CACHEABLE_TOKENS {
        let system = prefix::system_prompt(chat);
        if RECENT_PREFIXES.with(|r| r.borrow_mut().note(&principal.tenant.id, &system, now_unix())) {
            shape.repeated_prefix_tokens = shape.system_tokens;
        }
    }
}

/// Counts an upstream failure against the deployment's breaker and notes a breaker it opened.
/// An answer from one of the caches.
struct CacheHit {
    answer: CachedAnswer,
    /// `hit-exact` or `hit-semantic`.
    outcome: &'static str,
    /// The similarity of a semantic hit.
    score: Option<f32>,
}

/// Decides what the caches do for this request, and answers from them on a hit: the exact cache
/// first, then (when the policy turns it on) the semantic cache. On a miss, notes where the
/// fresh answer is to be stored. With the cache on in the policy, a bypass's reason is kept for
/// the end of the route reason (`receipt_for`).
#[allow(clippy::too_many_arguments)]
async fn cached_answer(
    env: &Env,
    rc: &RequestContext,
    req: &Request,
    principal: &Principal,
    cfg: &RouterConfig,
    policy: &crate::routing::policy::Policy,
    chat: &ChatRequest,
    decision: &RouteDecision,
) -> Result<Option<CacheHit>, ApiError> {
    let controls = ClientControls::from_headers(|name| rc.headers.get(name)).map_err(|m| ApiError::invalid_value("headers", m))?;
    // The router drops `temperature` for OpenAI's reasoning models while they think
    // (`fit_reasoning_model`), and Claude's extended thinking takes none, nor do Claude models
    // from Opus 4.7 on: they sample, so a temperature-0 request routed to one is not deterministic.
    let route_samples = decision.candidates.iter().any(|c| {
        cfg.catalog.providers.get(&c.provider).is_some_and(|p| (follows_reasoning_rules(cfg, c, p) && thinks(cfg, c, chat)) || adapter_for(p.kind).samples_regardless(chat, &c.upstream_model))
    });
    let (read, ttl_secs) = match crate::cache::plan(&policy.cache, &controls, chat, route_samples, &decision.regions) {
        CachePlan::Use { read, ttl_secs } => (read, ttl_secs),
        CachePlan::Bypass(why) => {
            // With the cache on in the policy, why this request was not cached (it samples, a
            // residency rule, the client's no-store) is what its owner asks; with it off, there
            // is nothing to say.
            if policy.cache.enabled {
                *rc.cache_bypass.borrow_mut() = Some(why);
            }
            return Ok(None);
        }
    };
    let body = serde_json::to_value(chat).map_err(|e| ApiError::internal(e.to_string()))?;
    let tenant = &principal.tenant.id;
    let variant = crate::cache::route_variant(decision);
    // The demo upstream answers under a real provider's id (`make dev` without keys): its answers
    // must not be served once a key makes the provider real.
    let demo = decision.candidates.iter().any(|c| cfg.catalog.providers.get(&c.provider).is_some_and(|p| p.demo));
    let variant = if demo { Some(format!("{} demo upstream", variant.unwrap_or_default())) } else { variant };
    // A cap that is a ceiling (`/v1/messages`) is lowered to what each model writes: its answer
    // is not the one a chat request with the same cap, room it needs, would get (a 400 from a
    // model that writes less), so the two do not share entries.
    let variant = if chat.output_cap_is_ceiling { Some(format!("{} output cap a ceiling", variant.unwrap_or_default())) } else { variant };
    let scope = crate::cache::answer_scope(&chat.model, &decision.candidates, variant.as_deref());
    let key = exact_key(tenant, &scope, &body);
    let local_host = req.url().ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)).unwrap_or_default();
    // Younger than what the client accepts, and than the policy's TTL now: an entry stored under
    // a longer one (since cut, say for answers gone stale) is not served past the new one.
    let fresh = |stored_at: i64| {
        let age = now_unix() - stored_at;
        controls.accepts_age(age) && age <= i64::try_from(policy.cache.ttl_secs).unwrap_or(i64::MAX)
    };
    if read {
        if let Some(answer) = super::cache::lookup(env, &local_host, &key).await.filter(|a| fresh(a.stored_at)) {
            return Ok(Some(CacheHit { answer, outcome: "hit-exact", score: None }));
        }
    }
    let bounds = super::semantic::EmbedderBounds { regions: &decision.regions, allowed_models: principal.tenant.allowed_models.as_deref() };
    let probe = semantic_probe(env, rc, cfg, &policy.cache, tenant, &scope, &body, &bounds).await;
    if let (true, Some(probe)) = (read, &probe) {
        let threshold = policy.cache.semantic_threshold.unwrap_or(crate::semantic::DEFAULT_THRESHOLD);
        if let Some((answer, score)) = super::semantic::lookup(env, tenant, probe, threshold).await.filter(|(a, _)| fresh(a.stored_at)) {
            return Ok(Some(CacheHit { answer, outcome: "hit-semantic", score: Some(score) }));
        }
    }
    let semantic = probe.map(|probe| (tenant.clone(), Rc::new(probe)));
    *rc.cache_outcome.borrow_mut() = "miss".into();
    *rc.cache_slot.borrow_mut() = Some(super::cache::CacheSlot { host: local_host, key, ttl_secs, semantic });
    Ok(None)
}

/// The semantic cache's probe for this request, when the policy turns that cache on; `None` when
/// the embedder or the vector cannot be had, or the request is not one the cache compares. A
/// provider embedder's price goes on the request (`RequestContext::unseen_cost`).
#[allow(clippy::too_many_arguments)]
async fn semantic_probe(
    env: &Env,
    rc: &RequestContext,
    cfg: &RouterConfig,
    cache: &CacheSettings,
    tenant: &str,
    scope: &str,
    body: &Value,
    bounds: &super::semantic::EmbedderBounds<'_>,
) -> Option<super::semantic::Probe> {
    if !cache.semantic {
        return None;
    }
    let embedder = cache.semantic_embedder.as_str();
    let id = super::semantic::embedder_id(env, cfg, embedder).await?;
    let text = crate::cache::semantic::last_turn_text(body)?;
    let (vector, made_by) = super::semantic::embed(env, rc, cfg, embedder, &text, bounds).await?;
    // A provider embedder's vector is compared only with those the same deployment made: one
    // that fell back to a deployment of another model made a vector of another space, whose
    // similarity to the first's means nothing. So the bucket is made once the vector is.
    let id = match made_by {
        Some(deployment) => format!("{id} made by {deployment}"),
        None => id,
    };
    let query = crate::cache::semantic::query(tenant, scope, &id, body)?;
    Some(super::semantic::Probe { guard: crate::semantic::MatchGuard::from_text(&query.text), query, vector })
}

/// An answer from a cache: nothing is called, reserved or charged; the saving is what the model
/// asked for would have cost for the answer when it was made.
fn cache_hit(env: &Env, rc: &RequestContext, principal: &Principal, chat: &ChatRequest, decision: &RouteDecision, hit: CacheHit) -> Result<Response, ApiError> {
    *rc.cache_outcome.borrow_mut() = hit.outcome.into();
    let answer = hit.answer;
    let age = (now_unix() - answer.stored_at).max(0);
    let reason = match hit.score {
        Some(score) => format!("semantic cache hit (similarity {score:.3}): answered by {} on {} {age} s ago for a question with the same meaning; no provider call", answer.model, answer.provider),
        None => format!("exact cache hit: answered by {} on {} {age} s ago; no provider call", answer.model, answer.provider),
    };
    // No tokens used: the stream's trailer says so, as the completion's `usage` does (below).
    let mut receipt = Receipt::priced(&rc.request_id, "cache", &answer.model, &decision.route, &reason, Some(Usage::default()), UsageBasis::Reported, &Default::default(), rc.sent_unix(), "", None, None);
    receipt.cache = hit.outcome.into();
    receipt.demo = answer.demo;
    // Nothing was called for the answer; finding it may have cost a provider embedding.
    receipt.cost = Some(crate::pricing::Cost { total: rc.unseen_cost.get(), ..Default::default() });
    receipt.baseline = Some(answer.baseline);
    events::record(env, rc, principal, 200, &receipt);
    let mut completion = answer.completion;
    completion["id"] = json!(format!("chatcmpl-{}", rc.request_id.trim_start_matches("req_")));
    // A hit used no tokens; an SDK reading `usage.total_tokens` still finds the object (answers
    // cached from a stream were stored without one, from a whole answer with the original's).
    completion["usage"] = crate::usage::Usage::default().to_openai_json();
    respond_with_completion(rc, chat, &completion, &receipt)
}

/// Counts the request against the per-minute limits and reserves its most expensive outcome
/// against the budgets; on a budget whose policy is to downgrade, narrows the route to its
/// cheapest model (chosen with `input`, what the route was planned with) and tries once more.
async fn admit(rc: &RequestContext, stub: &super::crossings::ObjectStub, principal: &Principal, cfg: &RouterConfig, chat: &ChatRequest, input: &PlanInput<'_>, mut decision: RouteDecision) -> Result<RouteDecision, ApiError> {
    let now = now_unix();
    let tokens = input.facts.prompt_tokens.saturating_add(chat.max_output_tokens().unwrap_or(0).saturating_mul(chat.choices()));
    let upper = prompt_token_upper_bound(chat);
    let adapter_cap = |c: &Candidate| adapter_output_cap(cfg, c, chat);
    let attribution = rc.attribution.borrow().clone();
    // The most possible cost of the route last asked for, which a refusal is about. A stream a
    // cascade does not buffer is served as a fallback chain (`serve`): one answer, held as one,
    // not as every model's answer added up.
    let unbuffered_stream = chat.stream && decision.cascade.is_some_and(|c| !c.buffer_streams);
    let as_served = unbuffered_stream.then(|| RouteDecision { cascade: None, ..decision.clone() });
    let mut amount = max_cost(as_served.as_ref().unwrap_or(&decision), &cfg.prices, &upper, chat.max_output_tokens(), chat.choices(), requested_tier(chat), &adapter_cap);
    let mut reserved = spend::admit_request(rc, stub, principal, tokens, amount, now, true).await?;
    for attempt in 0..2 {
        match reserved {
            Ok(r) => {
                spend::note_reserved(rc, &r);
                return Ok(decision);
            }
            Err(ex) if attempt == 0 && ex.on_hard_limit == OnHardLimit::Downgrade => {
                let room = ex.limit.saturating_sub(ex.spent).saturating_sub(ex.reserved);
                let worst = |d: &RouteDecision| max_cost(d, &cfg.prices, &upper, chat.max_output_tokens(), chat.choices(), requested_tier(chat), &adapter_cap);
                let Some(cheaper) = crate::routing::downgrade::downgrade(input, &decision, room, &worst) else {
                    spend::unadmit(stub, rc, principal, tokens, now).await;
                    return Err(spend::exceeded(&ex, amount, None));
                };
                let mut models: Vec<&str> = Vec::new();
                for c in &cheaper.candidates {
                    if !models.contains(&c.model.as_str()) {
                        models.push(&c.model);
                    }
                }
                let then = if models.len() > 1 { format!(" (then {})", models[1..].join(", ")) } else { String::new() };
                // The budget may be far from spent: it has less left than the route asked for could
                // cost at most (a dear model with no max_tokens can cost more than a small budget).
                let note = format!("; downgraded to {}{then}: budget '{}' has ${room} left, less than the ${amount} the route asked for could cost", models[0], ex.budget_id);
                decision = cheaper;
                // The cache slot was keyed by the route before the downgrade; a downgraded answer
                // stored there would be served to requests that fit their budget.
                *rc.cache_slot.borrow_mut() = None;
                decision.reason.push_str(&note);
                amount = max_cost(&decision, &cfg.prices, &upper, chat.max_output_tokens(), chat.choices(), requested_tier(chat), &adapter_cap);
                reserved = spend::reserve(stub, &rc.request_id, amount, &attribution.team, &attribution.feature, &attribution.environment, &principal.key_id, now).await?;
                // The chain was sized to the budget that asked for the downgrade; another covering
                // budget may have less room. The cheapest model alone may still fit it.
                let first = decision.candidates[0].model.clone();
                if reserved.is_err() && decision.candidates.iter().any(|c| c.model != first) {
                    decision.candidates.retain(|c| c.model == first);
                    decision.reason.push_str("; its fallbacks left out: they do not fit another budget");
                    amount = max_cost(&decision, &cfg.prices, &upper, chat.max_output_tokens(), chat.choices(), requested_tier(chat), &adapter_cap);
                    reserved = spend::reserve(stub, &rc.request_id, amount, &attribution.team, &attribution.feature, &attribution.environment, &principal.key_id, now).await?;
                }
            }
            Err(ex) => {
                if attempt > 0 {
                    // Refused after its downgrade: the ledger counted it at `/admit`.
                    spend::unadmit(stub, rc, principal, tokens, now).await;
                }
                let downgraded_to = (attempt > 0).then(|| decision.candidates[0].model.as_str());
                return Err(spend::exceeded(&ex, amount, downgraded_to));
            }
        }
    }
    unreachable_budget()
}

/// The processing tier the request asks for (OpenAI's `service_tier`, passed through to the host).
fn requested_tier(chat: &ChatRequest) -> crate::usage::ServiceTier {
    crate::usage::ServiceTier::from_response(chat.extra.get("service_tier").and_then(Value::as_str))
}

/// The output cap a provider's adapter sends when the request sets none (Anthropic requires one).
fn adapter_output_cap(cfg: &RouterConfig, candidate: &Candidate, chat: &ChatRequest) -> Option<u64> {
    cfg.catalog.providers.get(&candidate.provider).and_then(|p| crate::providers::adapter_for(p.kind).default_output_cap(chat, &candidate.upstream_model))
}

fn unreachable_budget() -> Result<RouteDecision, ApiError> {
    Err(ApiError::internal("budget admission did not conclude"))
}

/// A rule's fixed answer: no model, no cost, same shapes as a model's answer.
fn fixed_answer(env: &Env, rc: &RequestContext, principal: &Principal, chat: &ChatRequest, rule: &str, why: &str, text: &str) -> Result<Response, ApiError> {
    let receipt = Receipt {
        request_id: rc.request_id.clone(),
        provider: "costrouter".into(),
        model: "rule".into(),
        route: "respond".into(),
        reason: format!("rule '{rule}' ({why}) answers without a model"),
        cache: "none".into(),
        usage: Some(Usage::default()),
        usage_basis: UsageBasis::Reported,
        cost: Some(Default::default()),
        baseline: Some(crate::money::Usd::ZERO),
        demo: false,
        unpriced_extras: crate::money::Usd::ZERO,
        priced_by: Default::default(),
    };
    events::record(env, rc, principal, 200, &receipt);
    let body = json!({
        "id": format!("chatcmpl-{}", rc.request_id), "object": "chat.completion", "created": now_unix(), "model": "rule",
        // One choice for each of the `n` asked for, as a model's answer has: code reads `choices[1]`.
        "choices": (0..chat.choices()).map(|index| json!({"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": null})).collect::<Vec<_>>(),
        "usage": Usage::default().to_openai_json(),
    });
    respond_with_completion(rc, chat, &body, &receipt)
}

/// A whole completion to the client: as JSON, or replayed as a stream if the client asked for one.
fn respond_with_completion(rc: &RequestContext, chat: &ChatRequest, body: &Value, receipt: &Receipt) -> Result<Response, ApiError> {
    if !chat.stream {
        // A `/v1/responses` or `/v1/messages` request's answer written in its form now, rather
        // than read back out of a chat Response and rewritten (a round trip through JavaScript).
        if let Some(form) = rc.answer_form.borrow_mut().take() {
            let answer = form.whole(body, &rc.request_id);
            *rc.to_keep.borrow_mut() = form.kept(&answer);
            return http::json(200, &answer, &receipt.headers(true));
        }
        return http::json(200, body, &receipt.headers(true));
    }
    let mut sse = crate::stream::completion_as_sse(body, chat.wants_stream_usage(), &receipt.summary());
    if let Some(form) = rc.answer_form.borrow_mut().take() {
        let mut rewrite = form.stream(&rc.request_id, now_unix(), rc.prompt_tokens.get());
        sse = rewrite.rewrite_whole(&sse);
        *rc.to_keep.borrow_mut() = rewrite.kept();
    }
    let receipt_headers = receipt.headers(true);
    let headers = super::crossings::headers(
        [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")].into_iter().chain(receipt_headers.iter().map(|(k, v)| (*k, v.as_str()))),
    );
    Ok(http::whole_response(200, headers, sse))
}

/// Gives `chat`'s tool loop the thinking blocks the router kept for it (`api::kept_thinking`)
/// where the client sent none: one read of the tenant's store, only if some are missing.
async fn give_back_kept_thinking(env: &Env, cfg: &RouterConfig, tenant: &str, chat: &mut ChatRequest) {
    let missing = kept_thinking::missing(chat);
    if !missing.is_empty() {
        let found = super::response_items::kept_thinking(env, cfg, tenant, missing).await;
        kept_thinking::restore(chat, &found);
    }
}

/// Whether the answer `candidate` gives is one whose thinking the router keeps: its model needs
/// it back (`Provider::needs_thinking_returned`), the route is not held to regions (their
/// answers stay in none of the router's stores) and the request did not say `store: false` (a
/// Responses request's is in its answer form, read before the answer takes it). Not on
/// `/v1/messages`, whose clients send thinking back as Anthropic's API requires (and whose
/// requests cannot say `store`).
fn keeps_thinking(rc: &RequestContext, chat: &ChatRequest, decision: &RouteDecision, candidate: &Candidate, provider: &ProviderConfig) -> bool {
    let stores = match rc.answer_form.borrow().as_ref() {
        Some(AnswerForm::Responses(echo)) => echo.stores(),
        Some(AnswerForm::Messages(_)) => false,
        None => chat.extra.get("store") != Some(&Value::Bool(false)),
    };
    stores && decision.regions.is_empty() && adapter_for(provider.kind).needs_thinking_returned(&candidate.upstream_model)
}

/// A provider can be called when it needs no key or its key secret is set.
pub fn usable(env: &Env, provider: &ProviderConfig) -> bool {
    provider.key_secret.as_ref().is_none_or(|secret| provider_key(env, secret).is_some())
}

/// What happened before the answer that is returned: failed attempts and cascade escalations.
#[derive(Default)]
struct Attempts {
    failures: Vec<String>,
    /// Of the failures, candidates passed over without a call (adapter refusals, open breakers,
    /// a client gone): not retries, which count calls a provider failed.
    passed_over: usize,
    escalations: Vec<String>,
    /// What escalated answers cost: they were paid for even though the client never sees them.
    escalation_cost: Usd,
}

impl Attempts {
    /// Provider calls that failed (what the cost event counts as retries).
    fn calls_failed(&self) -> usize {
        self.failures.len().saturating_sub(self.passed_over)
    }
}

async fn serve(env: &Env, rc: &RequestContext, principal: &Principal, cfg: Rc<RouterConfig>, chat: ChatRequest, decision: RouteDecision) -> Result<Response, ApiError> {
    let mut attempts = Attempts::default();
    let mut worst_status = 502;
    // Refusals of the request as it is: by an adapter that cannot express it (no call made), by a
    // provider that does not take one of its parameters, by a model whose window it does not fit.
    let mut first_rejection: Option<ApiError> = None;
    let mut provider_refusal: Option<ApiError> = None;
    let mut too_long: Option<ApiError> = None;
    let mut waits = ProviderWaits::default();
    // Candidates that could not serve the request as it is (the refusals above), and candidates
    // passed over behind an open breaker or held for the wait their provider asked for.
    let mut rejections = 0usize;
    let mut unavailable = Unavailable::default();
    // A cascade judges whole answers, so streams are buffered (when the policy allows) or the
    // cascade steps aside and the first candidate streams as usual.
    let cascade = decision.cascade.filter(|c| !chat.stream || c.buffer_streams);
    let mut decision = decision;
    if decision.cascade.is_some() && cascade.is_none() {
        // The planner's reason promised escalation; a stream that is not buffered gets none. Nor is
        // its answer cached: the cascade's entries are answers it judged.
        decision.reason.push_str("; streamed as it comes, so not judged and never escalated (the rule's buffer_streams is off)");
        // Recorded as the fallback chain it is: the recommendations read a cascade's answers as
        // ones its first model passed.
        decision.route = "fallback".into();
        *rc.cache_slot.borrow_mut() = None;
    }
    let mut upstream_chat = match cascade {
        Some(_) => {
            let mut c = chat.clone();
            c.stream = false;
            c.stream_options = None;
            c
        }
        None => chat.clone(),
    };
    let mut escalated_from: Option<String> = None;
    let mut thinking_sought = false;
    // The last answer a cascade escalated from, kept in case every stronger model fails: an
    // answer that was paid for and judged weak beats a 502 (and its cost is then billed).
    let mut kept: Option<(usize, crate::providers::ChatAnswer, Usd)> = None;
    for (i, candidate) in decision.candidates.iter().enumerate() {
        // Served inside waitUntil, the loop outlives a client that disconnects: another
        // deployment's answer (or a stronger model's) would be paid for and read by nobody.
        // A weak answer a cascade kept is still served (and billed); otherwise the request ends
        // as the client did, not as a route failure.
        if i > 0 && rc.client_left() {
            if kept.is_some() {
                attempts.failures.push("the client disconnected, so no further deployment was tried".into());
                attempts.passed_over += 1;
                break;
            }
            note_attempts(rc, &attempts);
            let after = match attempts.failures.is_empty() {
                true => String::new(),
                false => format!(" after {}", attempts.failures.join("; ")),
            };
            return Err(ApiError::client_closed(format!("The client disconnected{after}; no further deployment was tried.")));
        }
        if escalated_from.as_deref() == Some(candidate.model.as_str()) {
            continue;
        }
        let provider = &cfg.catalog.providers[&candidate.provider];
        let key = provider.key_secret.as_ref().and_then(|s| provider_key(env, s));
        let target = Target { provider, upstream_model: &candidate.upstream_model, api_key: key.as_deref() };
        let adapter = adapter_for(provider.kind);
        if !thinking_sought && adapter.needs_thinking_returned(&candidate.upstream_model) && decision.regions.is_empty() {
            // Read once, when the first candidate that needs it is reached: a route that a
            // model without the need serves first never pays the read.
            thinking_sought = true;
            give_back_kept_thinking(env, &cfg, &principal.tenant.id, &mut upstream_chat).await;
        }
        let mut attempt_chat = upstream_chat.clone();
        let routed = routed_to(&cfg, &decision, candidate);
        let effort_sent = effort_sent_instead(&cfg, candidate, provider, &chat, routed);
        // Reasoning models refuse `logprobs` while they think (o4-mini answers 403), which would
        // count against their breaker: they are judged without them.
        let reasons = thinks_at(&cfg, candidate, effort_sent.as_ref().map(|(sent, _)| sent.as_str()).or(chat.reasoning_effort()));
        // Nor is a host that does not take them (Groq's `unsupported_params`) asked: it would
        // refuse a parameter the client never sent.
        let takes_logprobs = !provider.quirks.unsupported_params.iter().any(|p| p == "logprobs");
        // The last model's answer is served unjudged: asked for logprobs, it would only carry
        // (and may refuse) what is stripped again.
        let judged = decision.candidates[i + 1..].iter().any(|c| c.model != candidate.model);
        if cascade.is_some_and(|c| c.min_logprob.is_some()) && judged && matches!(provider.kind, ProviderKind::Openai | ProviderKind::Azure) && !reasons && takes_logprobs {
            attempt_chat.logprobs = Some(true);
        }
        let strips = follows_reasoning_rules(&cfg, candidate, provider);
        // A model a rule chose, not the client: what it would drop and change the answer by (a
        // reasoning model's stop sequence, logprobs, logit bias; Claude's whitespace stop) passes
        // it over, as an adapter's refusal does; a client that named the model gets its answer
        // without them.
        let dropped = if strips {
            crate::providers::openai::answer_changing_params(&attempt_chat, reasons).map(|param| (param, "a reasoning model"))
        } else {
            adapter.dropped_param(&attempt_chat)
        };
        let dropped = dropped.filter(|_| routed);
        if let Some((param, why)) = dropped {
            let e = ApiError::invalid_value(param, format!("'{param}' is not taken by {} ({why}), to which the request was routed; a model that takes it may serve it.", candidate.model));
            attempts.failures.push(format!("{}: {}", provider.id, e.message));
            attempts.passed_over += 1;
            first_rejection.get_or_insert(e);
            rejections += 1;
            continue;
        }
        // Asked not to think, a model that always reasons (its row's `reasoning_efforts`) would
        // refuse: a rule's choice is passed over without the call; a client that named it hears
        // its provider's own refusal.
        let taken = cfg.prices.get(&candidate.price_key).filter(|p| sends_effort_as_written(provider) && p.refuses_effort(chat.reasoning_effort())).and_then(|p| p.reasoning_efforts.as_ref());
        if let Some(taken) = taken.filter(|_| routed) {
            let e = ApiError::invalid_value("reasoning_effort", format!("reasoning_effort 'none' is not taken by {} (it always reasons: it takes {}), to which the request was routed; a model that can answer without reasoning may serve it.", candidate.model, taken.join(", ")));
            attempts.failures.push(format!("{}: {}", provider.id, e.message));
            attempts.passed_over += 1;
            first_rejection.get_or_insert(e);
            rejections += 1;
            continue;
        }
        if strips {
            crate::providers::openai::fit_reasoning_model(&mut attempt_chat, reasons);
        } else if !adapter.translates_reasoning_effort() && cfg.prices.get(&candidate.price_key).is_some_and(|p| !p.supports_reasoning) {
            // Priced as a model that does not reason: whether the client named it or a rule
            // routed the request here, it answers rather than refusing the parameters (and a
            // fallback to another model over that refusal would swap the model silently).
            crate::providers::openai::fit_model_without_reasoning(&mut attempt_chat);
        }
        if let Some((sent, _)) = effort_sent {
            attempt_chat.extra.insert("reasoning_effort".into(), Value::String(sent));
        }
        if let Some(most) = cfg.prices.get(&candidate.price_key).and_then(|p| p.max_output_tokens) {
            attempt_chat.hold_output_ceiling_to(most);
        }
        let up = match adapter.chat_request(&target, &attempt_chat) {
            Ok(up) => up,
            // This provider cannot express the request (e.g. `n` > 1 on Anthropic); another may.
            Err(e) => {
                attempts.failures.push(format!("{}: {}", provider.id, e.message));
                attempts.passed_over += 1;
                first_rejection.get_or_insert(e);
                rejections += 1;
                continue;
            }
        };
        // Asked only once the request is one this provider can take: a request refused here
        // never becomes a half-open breaker's probe.
        if let Admission::Refuse { retry_in_ms, held_by } = health::admit(&provider.id, &candidate.upstream_model) {
            attempts.failures.push(health::refusal(&provider.id, retry_in_ms, held_by));
            attempts.passed_over += 1;
            unavailable.note(retry_in_ms, held_by, &mut waits);
            continue;
        }
        // A chain of slow whole answers (fallbacks, cascade steps) can outlast the reservation
        // too. Before the clock starts: the wait is not the deployment's latency.
        spend::renew_if_due(env, rc, &principal.tenant.id).await;
        *rc.last_attempt.borrow_mut() = Some((provider.id.clone(), candidate.upstream_model.clone(), decision.route.clone()));
        let sent_at = http::now_ms();
        let (expect, timeout_ms) = if attempt_chat.stream { (upstream::Expect::Stream, provider.timeout_ms) } else { (upstream::Expect::Whole, provider.answer_timeout_ms) };
        let answer = match spend::renewing(env, rc, &principal.tenant.id, upstream::send(&up, timeout_ms, expect, rc.client_watch(env))).await {
            Ok(answer) => answer,
            // The client left and the answer did not come in time to be read and billed before
            // the runtime ends the request: the call is cancelled, and charged the most it could
            // cost, since the provider may bill all of it.
            Err(upstream::SendError::Abandoned { sent, refused }) => {
                health::neutral(&provider.id, &candidate.upstream_model);
                // Answers a cascade escalated from were paid for all the same.
                rc.unseen_cost.set(rc.unseen_cost.get() + attempts.escalation_cost);
                if !sent {
                    return Err(ApiError::client_closed("The client disconnected before the provider was called."));
                }
                if refused {
                    return Err(ApiError::client_closed(format!("The client disconnected while {}'s refusal was still being read: the call was cancelled, with nothing to charge.", provider.id)));
                }
                let worst = cancelled_call_cost(&cfg, &decision, candidate, &attempt_chat);
                rc.unseen_cost.set(rc.unseen_cost.get() + worst);
                return Err(ApiError::client_closed(format!(
                    "The client disconnected and {}'s answer had not come {:.0} s later: the call was cancelled and charged its most possible cost, ${worst}.",
                    provider.id,
                    http::abandon_after_ms(env) / 1000.0
                )));
            }
            // A whole answer not read within `answer_timeout_ms` was being written (or held back
            // whole, as a non-streaming answer is): the provider bills it, as it would had the
            // client left, whatever serves the request next. A stream that sent no headers in
            // `timeout_ms` had not begun, and a refusal whose body stalled was no answer: neither
            // is charged.
            Err(e @ upstream::SendError::Timeout { refused: false }) if expect == upstream::Expect::Whole => {
                health::failure(rc, &provider.id, &candidate.upstream_model);
                let worst = cancelled_call_cost(&cfg, &decision, candidate, &attempt_chat);
                // Filed under the deployment that timed out, not the one that answers next (its
                // tokens are not known: the charge is a bound).
                rc.charge_other_call(&provider.id, &candidate.upstream_model, &crate::usage::Usage::default(), worst);
                attempts.failures.push(format!("{}: {}, and was charged its most possible cost, ${worst}, as the provider bills an answer it went on writing", provider.id, e.describe()));
                worst_status = worst_status.max(e.status());
                continue;
            }
            Err(e) => {
                health::failure(rc, &provider.id, &candidate.upstream_model);
                attempts.failures.push(format!("{}: {}", provider.id, e.describe()));
                worst_status = worst_status.max(e.status());
                continue;
            }
        };
        let status = answer.status;
        // A 403 / 404 is the deployment's failure (a key without access, a model gone) unless it
        // refuses this request as one the host will not serve (OpenRouter's 404 "No endpoints
        // found that support tool use", its moderation's 403): then it is answered as a 400 for
        // a parameter the host does not take is, and another candidate may serve.
        let disposition = match disposition(status) {
            Disposition::Fallback if matches!(status, 403 | 404) && adapter.rejection(status, answer.refusal_body()) == Rejection::Unsupported => Disposition::ClientError,
            other => other,
        };
        // A client error says nothing about the deployment's health; a failure status does. A
        // success status is recorded only once the answer has been read and understood (below):
        // a deployment answering 200 with garbage is failing, and must not look fast.
        // A 429's verdict waits for its body (below): a request too large for the account's
        // per-minute limit by itself is not the deployment's fault.
        if disposition == Disposition::Fallback && status != 429 {
            health::failure(rc, &provider.id, &candidate.upstream_model);
        }
        match disposition {
            Disposition::Success if attempt_chat.stream => {
                if json_instead_of_stream(answer.content_type.as_deref()) {
                    let body = answer.bytes().await.unwrap_or_default();
                    let detail = match serde_json::from_slice::<Value>(&body) {
                        Ok(_) => adapter.error_message(status, &body),
                        Err(_) => "invalid JSON".to_string(),
                    };
                    health::failure(rc, &provider.id, &candidate.upstream_model);
                    // A whole answer in place of the stream was written, and billed, by its usage.
                    let usage = adapter.chat_response(&target, &body).ok().and_then(|a| a.usage);
                    let note = usage.and_then(|u| rc.charge_unseen(&cfg.prices, candidate, &u)).map(|c| format!("; it was billed, ${c}")).unwrap_or_default();
                    attempts.failures.push(format!("{}: answered with JSON instead of an event stream ({detail}{note})", provider.id));
                    continue;
                }
                let upstream_body = match answer.body {
                    upstream::AnswerBody::Stream(s) => BodyStream::new(&s),
                    upstream::AnswerBody::Whole(_) => {
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                        attempts.failures.push(format!("{}: response body unreadable", provider.id));
                        continue;
                    }
                };
                let first_byte_ms = http::now_ms() - sent_at;
                // Nothing reaches the client until the stream has produced something it would act
                // on: a host that answers 200 and then fails (Anthropic's overloaded_error event,
                // a cut connection) before its first token is a failed call, and the next
                // candidate is tried. Once the stream has started, a cut is the stream's error.
                let mut session = StreamSession::new(adapter.chat_stream(&target, &chat), chat.wants_stream_usage(), now_unix(), rc.prompt_tokens.get());
                if keeps_thinking(rc, &chat, &decision, candidate, provider) {
                    session.gather_thinking();
                }
                let (prefix, upstream) = match prime_stream(&mut session, upstream_body).await {
                    Ok(started) => started,
                    Err(why) => {
                        // The model failing the request (Gemini's MALFORMED_FUNCTION_CALL) says
                        // nothing of the deployment, as for a whole answer.
                        if session.model_failed() {
                            health::neutral(&provider.id, &candidate.upstream_model);
                        } else {
                            health::failure(rc, &provider.id, &candidate.upstream_model);
                        }
                        // An error event standing for a refusal (Anthropic's rate_limit_error)
                        // is answered as that refusal would be, if every candidate refuses.
                        if let Some(status) = session.failure_status().and_then(crate::routing::retryable_failure) {
                            worst_status = status;
                        }
                        // A prompt the provider reported before failing (Anthropic's message_start)
                        // was billed: the request pays for it, served elsewhere or not.
                        let (_, outcome) = session.finish();
                        let note = charge_billed_prompt(rc, &cfg, candidate, outcome.usage.as_ref());
                        attempts.failures.push(format!("{}: the stream failed before its first token ({why}{note})", provider.id));
                        continue;
                    }
                };
                // Its verdict for the breaker waits for its end (`finish_stream`); a half-open
                // breaker it was probing opens to others now, if a token came. A stream handed on
                // for having waited 2 s (or sent 16 KiB) without one proves nothing yet: the
                // probe stays in flight until the stream's end says how it went.
                if session.is_committed() {
                    health::started(&provider.id, &candidate.upstream_model);
                }
                let receipt = receipt_for(rc, &chat, &decision, candidate, provider, &attempts, None, UsageBasis::Reported, &cfg);
                rc.settles_later.set(true);
                let primed = PrimedStream { session, prefix, upstream, first_byte_ms };
                return stream_response(env, rc, principal, cfg.clone(), &chat, &target, candidate, receipt, primed, sent_at);
            }
            Disposition::Success => {
                // A whole answer comes once the provider has written all of it, which it bills:
                // one the router cannot read (cut off while it came, garbled) is charged the most
                // it could cost, as one that timed out while coming is, whatever serves next.
                let charge_unread = || {
                    let worst = cancelled_call_cost(&cfg, &decision, candidate, &attempt_chat);
                    rc.charge_other_call(&provider.id, &candidate.upstream_model, &crate::usage::Usage::default(), worst);
                    format!(", and was charged its most possible cost, ${worst}, as the provider bills an answer it wrote")
                };
                let bytes = match answer.bytes().await {
                    Some(b) => b,
                    None => {
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                        attempts.failures.push(format!("{}: connection lost while reading the answer{}", provider.id, charge_unread()));
                        continue;
                    }
                };
                let mut answer = match adapter.chat_response(&target, &bytes) {
                    Ok(a) => a,
                    Err(UpstreamError::NoAnswer { provider: _, reason, usage }) => {
                        // The model, not the deployment, failed this request (Gemini's
                        // MALFORMED_FUNCTION_CALL): no verdict for the breaker, which is shared by
                        // every tenant. The prompt it billed is the request's to pay.
                        health::neutral(&provider.id, &candidate.upstream_model);
                        let note = charge_billed_prompt(rc, &cfg, candidate, usage.as_deref());
                        attempts.failures.push(format!("{}: the model did not finish an answer ({reason}{note})", provider.id));
                        continue;
                    }
                    Err(e) => {
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                        // Well-formed JSON that is no answer is the provider's word that it failed
                        // (OpenRouter sends an error that comes once the model has begun as a 200
                        // `{"error": ...}`, and does not bill it): only a body that is not JSON at
                        // all was an answer garbled on its way.
                        let garbled = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err();
                        attempts.failures.push(format!("{e}{}", if garbled { charge_unread() } else { String::new() }));
                        continue;
                    }
                };
                // A whole, readable answer: healthy (a cascade may still judge it weak).
                health::success(&provider.id, &candidate.upstream_model, AnswerKind::Whole, http::now_ms() - sent_at);
                let has_stronger = decision.candidates[i + 1..].iter().any(|c| c.model != candidate.model);
                if let (Some(settings), true) = (cascade, has_stronger) {
                    // What the model escalated to could write: its adapter's cap or its own.
                    let cap_of = |c: &Candidate| crate::budget::cap_without_request(adapter_output_cap(&cfg, c, &chat), cfg.prices.get(&c.price_key).and_then(|p| p.max_output_tokens));
                    let stronger = decision.candidates[i + 1..].iter().find(|c| c.model != candidate.model);
                    let caps = OutputCaps {
                        answered: cap_of(candidate),
                        stronger: stronger.and_then(cap_of),
                        stronger_reasons: stronger.is_some_and(|c| thinks(&cfg, c, &chat)),
                    };
                    if let Verdict::Escalate(why) = judge(&answer.body, &chat, settings.min_logprob, caps) {
                        let (usage, _) = usage_or_estimate(&chat, candidate, &answer);
                        let cost = cfg.prices.get(&candidate.price_key).map(|p| p.at(rc.sent_unix()).charge(&usage).total).unwrap_or_default();
                        attempts.escalation_cost += cost;
                        rc.note_other_call(&provider.id, &candidate.upstream_model, &usage, cost);
                        attempts.escalations.push(format!("{} escalated ({why}; ${cost})", candidate.model));
                        escalated_from = Some(candidate.model.clone());
                        kept = Some((i, answer, cost));
                        continue;
                    }
                }
                if chat.logprobs != Some(true) && attempt_chat.logprobs == Some(true) {
                    strip_logprobs(&mut answer.body);
                }
                return json_response(env, rc, principal, &cfg, &chat, &decision, candidate, provider, &attempts, answer);
            }
            Disposition::Fallback => {
                let header_wait_ms = answer.retry_after_ms;
                let body = answer.bytes().await.unwrap_or_default();
                let wait_ms = header_wait_ms.or_else(|| adapter.wait_in_error(status, &body));
                let too_large = health::refused(&provider.id, &candidate.upstream_model, status, &body, wait_ms, &mut waits);
                if status == 429 {
                    // A request too large for the per-minute limit (see `health::refused`):
                    // counted, one client's retries of a huge prompt would open the breaker for
                    // every tenant on the isolate.
                    if too_large {
                        health::neutral(&provider.id, &candidate.upstream_model);
                    } else {
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                    }
                }
                attempts.failures.push(format!("{}: HTTP {} ({})", provider.id, status, adapter.error_message(status, &body)));
                if let Some(status) = crate::routing::retryable_failure(status) {
                    worst_status = status;
                }
            }
            Disposition::ClientError => {
                let body = answer.bytes().await.unwrap_or_default();
                let message = adapter.error_message(status, &body);
                let rejection = adapter.rejection(status, &body);
                if rejection == Rejection::Deployment {
                    // An invalid key or an unpaid account that the provider reports as a 400.
                    health::failure(rc, &provider.id, &candidate.upstream_model);
                    attempts.failures.push(format!("{}: HTTP {status} ({message})", provider.id));
                    continue;
                }
                health::neutral(&provider.id, &candidate.upstream_model);
                let sized = matches!(rejection, Rejection::TooLong | Rejection::OutputCap);
                if rejection == Rejection::Unsupported && kept.is_none() {
                    // A parameter this model or host does not take: another may. If none does,
                    // the client hears this first refusal, with the provider's code and param.
                    attempts.failures.push(format!("{}: HTTP {status} ({message})", provider.id));
                    provider_refusal.get_or_insert(crate::providers::rejected_by(&provider.id, status, &message, &body));
                    rejections += 1;
                    continue;
                }
                if kept.is_some() || sized {
                    // The stronger model refuses what the weaker one answered: keep that answer.
                    // Or the prompt is too long for this model: one with a larger window may take
                    // it, and if none does the client hears this refusal (below).
                    attempts.failures.push(format!("{}: HTTP {status} ({message})", provider.id));
                    if sized {
                        // The prompt's length (or the output asked for), not an adapter's missing
                        // feature, is what the client has to fix when nothing takes it.
                        let refused = format!("{} rejected the request: {message}", provider.id);
                        too_long.get_or_insert(if rejection == Rejection::TooLong {
                            ApiError::context_length_exceeded(refused)
                        } else {
                            ApiError::invalid_value(if chat.max_completion_tokens.is_some() { "max_completion_tokens" } else { "max_tokens" }, refused)
                        });
                        rejections += 1;
                    }
                    continue;
                }
                return Err(crate::providers::rejected_by(&provider.id, status, &message, &body));
            }
        }
    }
    if let Some((i, mut answer, cost)) = kept {
        let candidate = &decision.candidates[i];
        let provider = &cfg.catalog.providers[&candidate.provider];
        // Served now, so billed as the answer rather than as an escalation.
        // The reason then reads "cascade: <model> escalated (...); fell back to <provider> after:
        // <the stronger models' failures>".
        attempts.escalation_cost = attempts.escalation_cost.saturating_sub(cost);
        // Nor another call beside the answer: it is the answer (the last escalated one).
        rc.forget_other_call(&provider.id, &candidate.upstream_model, cost);
        // Judged weak, served only because nothing better answered: not an answer to repeat
        // from the cache once the stronger model is back.
        *rc.cache_slot.borrow_mut() = None;
        if chat.logprobs != Some(true) {
            strip_logprobs(&mut answer.body);
        }
        return json_response(env, rc, principal, &cfg, &chat, &decision, candidate, provider, &attempts, answer);
    }
    note_attempts(rc, &attempts);
    // Nothing was served: every candidate refused the request as it is (an adapter that cannot
    // express it, a provider that does not take a parameter, a model whose window it does not
    // fit: the client's to fix, not to retry), or some sat behind open breakers or were held
    // (unavailable for now, not an upstream error). A provider's refusal is what the client hears even beside open
    // breakers: told "retry", the SDKs would send it again into the same refusal.
    let nothing_served = kept.is_none() && attempts.escalations.is_empty() && rejections + unavailable.skipped() == attempts.failures.len();
    if nothing_served {
        let breakers_open = || {
            let (error, wait) = unavailable.error(&requested_and_routed(&decision), &attempts.failures);
            for (name, value) in wait {
                rc.add_header(name, value);
            }
            error
        };
        if let Some(refusal) = refusal_when_nothing_served(too_long.or(provider_refusal), first_rejection, unavailable.skipped(), breakers_open) {
            return Err(refusal);
        }
    }
    for (name, value) in waits.headers(worst_status, attempts.calls_failed()) {
        rc.add_header(name, value);
    }
    let mut what = attempts.failures.clone();
    what.extend(attempts.escalations.iter().cloned());
    Err(ApiError::upstream_failed(worst_status, format!("Every deployment for {} failed: {}.", requested_and_routed(&decision), what.join("; "))))
}

/// The calls a request made before it ended, for its cost event.
fn note_attempts(rc: &RequestContext, attempts: &Attempts) {
    let mut shape = rc.shape.borrow_mut();
    shape.retries = attempts.calls_failed().saturating_sub(1) as u32;
    shape.escalations = attempts.escalations.len() as u32;
}

/// The model a failure message is about: what the client asked for, and the models a rule
/// routed it to when those are others (a rule sending `gpt-4o` to `mistral-small` in the EU
/// would otherwise read as gpt-4o failing).
fn requested_and_routed(decision: &RouteDecision) -> String {
    let mut routed: Vec<&str> = Vec::new();
    for c in &decision.candidates {
        if !routed.contains(&c.model.as_str()) {
            routed.push(&c.model);
        }
    }
    if routed.is_empty() || routed == [decision.requested.as_str()] {
        format!("'{}'", decision.requested)
    } else {
        format!("'{}' (routed to {})", decision.requested, routed.join(", "))
    }
}

/// The most a call cancelled before its whole answer came may be billed (see
/// [`crate::budget::cancelled_call_cost`]). Audio, files or cache marks may be billed at their
/// dearer rates: then the reservation's bound, which assumes any token could be the dearest kind.
fn cancelled_call_cost(cfg: &RouterConfig, decision: &RouteDecision, candidate: &Candidate, attempt_chat: &ChatRequest) -> Usd {
    let upper = prompt_token_upper_bound(attempt_chat);
    let (cap, choices, tier) = (attempt_chat.max_output_tokens(), attempt_chat.choices(), requested_tier(attempt_chat));
    if attempt_chat.may_bill_dearer_tokens() {
        let only_this = RouteDecision { candidates: vec![candidate.clone()], ..decision.clone() };
        max_cost(&only_this, &cfg.prices, &upper, cap, choices, tier, &|c| adapter_output_cap(cfg, c, attempt_chat))
    } else {
        crate::budget::cancelled_call_cost(candidate, &cfg.prices, &upper, cap, choices, tier, adapter_output_cap(cfg, candidate, attempt_chat))
    }
}

/// Charges the request for the prompt a failed attempt was billed (`usage`, when the provider
/// reported one); the note for the attempt's failure, naming the cost.
fn charge_billed_prompt(rc: &RequestContext, cfg: &RouterConfig, candidate: &Candidate, usage: Option<&Usage>) -> String {
    usage.and_then(|u| rc.charge_unseen(&cfg.prices, candidate, u)).map(|c| format!("; its prompt, billed, ${c}")).unwrap_or_default()
}

/// The cascade asked for logprobs the client did not: they are not the client's to receive.
fn strip_logprobs(body: &mut Value) {
    if let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) {
        // A choice that is not an object (a broken host's answer) has none to strip; indexing it
        // as one would panic.
        for c in choices.iter_mut().filter_map(Value::as_object_mut) {
            c.insert("logprobs".into(), Value::Null);
        }
    }
}

fn usage_or_estimate(chat: &ChatRequest, candidate: &Candidate, answer: &crate::providers::ChatAnswer) -> (Usage, UsageBasis) {
    match answer.usage {
        Some(u) => (u, UsageBasis::Reported),
        None => (usage_when_unreported(&candidate.upstream_model, chat, &answer_text(&answer.body)), UsageBasis::Estimated),
    }
}

#[allow(clippy::too_many_arguments)]
fn receipt_for(
    rc: &RequestContext,
    chat: &ChatRequest,
    decision: &RouteDecision,
    candidate: &Candidate,
    provider: &ProviderConfig,
    attempts: &Attempts,
    usage: Option<Usage>,
    basis: UsageBasis,
    cfg: &RouterConfig,
) -> Receipt {
    {
        let mut shape = rc.shape.borrow_mut();
        shape.retries = attempts.calls_failed() as u32;
        shape.escalations = attempts.escalations.len() as u32;
    }
    let mut reason = decision.reason.clone();
    if !attempts.escalations.is_empty() {
        reason.push_str(&format!("; cascade: {}", attempts.escalations.join(", ")));
    }
    if !attempts.failures.is_empty() {
        reason.push_str(&format!("; fell back to {} after: {}", provider.id, attempts.failures.join("; ")));
    }
    if let Some((_, note)) = effort_sent_instead(cfg, candidate, provider, chat, routed_to(cfg, decision, candidate)) {
        reason.push_str(&format!("; {note}"));
    }
    if rc.unseen_cost.get() > Usd::ZERO {
        reason.push_str(&format!("; besides this answer, ${} for calls it does not show (a semantic cache lookup's embedding, a failed attempt's billed prompt)", rc.unseen_cost.get()));
    }
    if let Some(why) = *rc.cache_bypass.borrow() {
        reason.push_str(&format!("; not cached: {why}"));
    }
    let mut receipt = Receipt::priced(
        &rc.request_id,
        &provider.id,
        &candidate.upstream_model,
        &decision.route,
        &reason,
        usage,
        basis,
        &cfg.prices,
        rc.sent_unix(),
        &candidate.price_key,
        decision.baseline_price_key.as_deref(),
        requested_model_reasoning_limit(&cfg.catalog, &cfg.prices, chat),
    );
    receipt.add_other_calls(attempts.escalation_cost + rc.unseen_cost.get());
    receipt.demo = provider.demo;
    receipt.cache = rc.cache_outcome.borrow().clone();
    receipt
}

#[allow(clippy::too_many_arguments)]
fn json_response(
    env: &Env,
    rc: &RequestContext,
    principal: &Principal,
    cfg: &RouterConfig,
    chat: &ChatRequest,
    decision: &RouteDecision,
    candidate: &Candidate,
    provider: &ProviderConfig,
    attempts: &Attempts,
    mut answer: crate::providers::ChatAnswer,
) -> Result<Response, ApiError> {
    // Translating providers leave `created` at 0: the core has no clock.
    if answer.body.get("created").and_then(Value::as_i64).unwrap_or(0) == 0 {
        answer.body["created"] = json!(now_unix());
    }
    let (usage, basis) = usage_or_estimate(chat, candidate, &answer);
    // A host that reports no usage: the client gets the estimate it is billed at (its
    // `usage_basis` says so in x-costrouter-usage), as a stream's usage chunk does; client code
    // reads `completion.usage.total_tokens` and fails on a missing object.
    if basis == UsageBasis::Estimated && !answer.body.get("usage").is_some_and(Value::is_object) {
        answer.body["usage"] = usage.to_openai_json();
    }
    rc.shape.borrow_mut().length_stop = answer.body["choices"].as_array().is_some_and(|c| c.iter().any(|c| c["finish_reason"] == "length"));
    let receipt = receipt_for(rc, chat, decision, candidate, provider, attempts, Some(usage), basis, cfg);
    events::record(env, rc, principal, 200, &receipt);
    if let Some(slot) = rc.cache_slot.borrow_mut().take() {
        if storable(&answer.body) {
            let answer = CachedAnswer {
                completion: answer.body.clone(),
                provider: receipt.provider.clone(),
                model: receipt.model.clone(),
                cost: receipt.cost.map(|c| c.total).unwrap_or_default(),
                baseline: receipt.baseline_for_cache(),
                stored_at: now_unix(),
                expires_at: None,
                demo: receipt.demo,
            };
            *rc.pending_store.borrow_mut() = Some(slot.pending(answer));
        }
    }
    let keeps = keeps_thinking(rc, chat, decision, candidate, provider);
    let response = respond_with_completion(rc, chat, &answer.body, &receipt)?;
    // Kept with the answer's other items, before it goes out (`handle`).
    if let Some(thinking) = kept_thinking::of_answer(&answer.body).filter(|thinking| keeps && kept_thinking::fits(thinking)) {
        rc.to_keep.borrow_mut().items.push(thinking);
    }
    Ok(response)
}

/// What a whole answer generated, for an estimate when its host reports no usage: every
/// choice's text, refusal, reasoning and tool-call arguments, as a stream's are counted.
fn answer_text(body: &Value) -> String {
    body.get("choices")
        .and_then(Value::as_array)
        .map(|choices| choices.iter().filter_map(|c| c.get("message")).flat_map(crate::stream::generated_texts).collect::<Vec<_>>().join(""))
        .unwrap_or_default()
}

/// Everything the stream needs once the upstream closes, owned so the stream can outlive the handler.
struct StreamState {
    /// `None` once the upstream is known to have ended (it ended while the stream was primed).
    upstream: Option<BodyStream>,
    /// Client bytes produced while the stream was primed, sent first.
    pending: Vec<u8>,
    session: StreamSession,
    receipt: Receipt,
    cfg: Rc<RouterConfig>,
    env: Env,
    tenant: Principal,
    rc: RequestContext,
    done: bool,
    /// Hands the settlement to the request's `waitUntil` task; taken once the stream has ended.
    finished: Option<super::handoff::Sender<spend::Finished>>,
    /// Rebuilds the answer for the cache, when it is to be stored.
    caching: Option<(CompletionAssembler, super::cache::CacheSlot)>,
    /// (provider, upstream model), for the breaker's verdict when the stream ends.
    deployment: (String, String),
    /// Time to the stream's first byte, the latency `fastest` compares streams by.
    first_byte_ms: f64,
    /// When the provider call was sent, and when its first generated text came (a model that
    /// reasons unseen thinks in between).
    sent_at_ms: f64,
    first_output_ms: Option<f64>,
    /// The output cap of a model that reasons unseen (`stream::with_unseen_reasoning`).
    unseen_reasoning_cap: Option<u64>,
    /// A `/v1/responses` or `/v1/messages` request's: the chat events rewritten in its API's
    /// (after the cache's assembler has read them, which stores answers in chat's form).
    answer_form: Option<Box<dyn crate::api::chat_events::ChatStreamRewrite>>,
    /// What to keep of the answer once it has ended (`ChatStreamRewrite::kept`), kept before
    /// its last bytes go out.
    to_keep: crate::api::responses::stored_items::Kept,
    /// When the provider last sent bytes (its headers, at first), and how long a wait for its
    /// next bytes may last before the stream is ended as stalled: the deployment's
    /// `answer_timeout_ms`, the time a whole answer may take.
    last_upstream_ms: f64,
    silent_limit_ms: f64,
}

/// What waiting for a stream's next bytes came to.
enum Waited {
    Bytes(Option<Result<Vec<u8>, String>>),
    /// The provider sent nothing for the stream's `silent_limit_ms`.
    Silent,
}

impl StreamState {
    /// `chat_events` as the client reads them: in the request's answer form, ended with what the
    /// rewriter holds once the stream is done. `None`: nothing to send yet (the rewriter holds a
    /// part event).
    fn for_client(&mut self, chat_events: Vec<u8>) -> Option<Vec<u8>> {
        let Some(form) = self.answer_form.as_mut() else { return Some(chat_events) };
        let mut out = form.push(&chat_events);
        if self.done {
            out.extend(form.finish());
            self.to_keep = form.kept();
            self.answer_form = None;
            return Some(out);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Keeps the ended answer (a Responses answer the request let be stored: its items and the
    /// turn; the thinking the session gathered, `keeps_thinking`), before its last bytes go out:
    /// the client's next request may name them.
    async fn keep_answer(&mut self) {
        let mut kept = std::mem::take(&mut self.to_keep);
        if let Some(thinking) = self.session.kept_thinking().filter(kept_thinking::fits) {
            kept.items.push(thinking);
        }
        super::response_items::keep(&self.env, &self.cfg, &self.tenant.tenant.id, kept).await;
    }

    /// The provider's next bytes. Meanwhile the reservation is renewed when due (a stream may run
    /// past its 15 minutes, a model may think for minutes without a byte), and a provider silent
    /// for `silent_limit_ms` ends the wait. Each wait makes its own timer: this runs as a new task
    /// for every pull of the client's stream, and a timer made in an earlier pull would wake that
    /// finished task, not this one.
    async fn next_upstream(&mut self) -> Waited {
        let Some(upstream) = self.upstream.as_mut() else { return Waited::Bytes(None) };
        let mut next = std::pin::pin!(upstream.next());
        // Silence counts from this wait, not from the last bytes: a client that stopped reading
        // for a while has not seen the provider go quiet (its bytes may be waiting).
        let silent_since = http::now_ms();
        loop {
            let now = http::now_ms();
            let silent_left = silent_since + self.silent_limit_ms - now;
            if silent_left <= 0.0 {
                return Waited::Silent;
            }
            // At most what `setTimeout` takes (2^31 - 1 ms; a longer one would fire at once, and
            // spin).
            let wait_ms = spend::renewal_due_in_ms(&self.env, &self.rc).map_or(silent_left, |r| r.min(silent_left)).clamp(0.0, i32::MAX as f64).ceil();
            let timer = worker::Delay::from(std::time::Duration::from_millis(wait_ms as u64));
            if let futures_util::future::Either::Left((bytes, _)) = futures_util::future::select(next.as_mut(), timer).await {
                return Waited::Bytes(bytes);
            }
            spend::renew_if_due(&self.env, &self.rc, &self.tenant.tenant.id).await;
        }
    }
}

impl StreamState {
    fn hand_over(&mut self) {
        if let Some(tx) = self.finished.take() {
            let event = self.rc.event.borrow_mut().take();
            let actual = Some(self.receipt.charged());
            let cache_store = self.caching.take().and_then(|(assembler, slot)| {
                let completion = assembler.finish().filter(storable)?;
                let answer = CachedAnswer {
                    completion,
                    provider: self.receipt.provider.clone(),
                    model: self.receipt.model.clone(),
                    cost: self.receipt.cost.map(|c| c.total).unwrap_or_default(),
                    baseline: self.receipt.baseline_for_cache(),
                    stored_at: now_unix(),
                    expires_at: None,
                    demo: self.receipt.demo,
                };
                Some(slot.pending(answer))
            });
            tx.send(spend::Finished { tenant: self.tenant.tenant.id.clone(), key_id: self.tenant.key_id.clone(), request_id: self.rc.request_id.clone(), actual, event, admitted_tokens: self.rc.admitted_tokens.get(), cache_store });
        }
    }
}

/// A stream the client abandoned is never polled to its end: it is settled here, for what the
/// provider had sent so far, and recorded as cut off.
impl Drop for StreamState {
    fn drop(&mut self) {
        if !self.done && self.finished.is_some() {
            let _ = finish_stream(self, StreamEnd::ClientLeft);
            self.hand_over();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn stream_response(
    env: &Env,
    rc: &RequestContext,
    principal: &Principal,
    cfg: Rc<RouterConfig>,
    chat: &ChatRequest,
    target: &Target,
    candidate: &Candidate,
    receipt: Receipt,
    primed: PrimedStream,
    sent_at_ms: f64,
) -> Result<Response, ApiError> {
    // A model that reasons unseen: its output cap (the client's, else the adapter's or the
    // model's own), for billing a stream that ends before it reports usage.
    let unseen_reasoning_cap = cfg.prices.get(&candidate.price_key).filter(|p| p.reasons_at(chat.reasoning_effort())).map(|p| {
        chat.max_output_tokens().or_else(|| crate::budget::cap_without_request(adapter_output_cap(&cfg, candidate, chat), p.max_output_tokens)).unwrap_or(crate::budget::DEFAULT_OUTPUT_CAP).saturating_mul(chat.choices())
    });
    let PrimedStream { session, prefix, upstream, first_byte_ms } = primed;
    let first_output_ms = session.has_output().then(http::now_ms);
    let receipt_headers = receipt.headers(false);
    let headers = super::crossings::headers(
        [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), ("x-accel-buffering", "no")]
            .into_iter()
            .chain(receipt_headers.iter().map(|(k, v)| (*k, v.as_str()))),
    );
    let (finished, ended) = super::handoff::channel();
    *rc.stream_finish.borrow_mut() = Some(ended);
    let state = StreamState {
        upstream,
        pending: prefix,
        session,
        receipt,
        cfg,
        env: env.clone(),
        tenant: principal.clone(),
        rc: rc.detached(),
        done: false,
        finished: Some(finished),
        caching: rc.cache_slot.borrow_mut().take().map(|slot| (CompletionAssembler::default(), slot)),
        deployment: (target.provider.id.clone(), candidate.upstream_model.clone()),
        first_byte_ms,
        sent_at_ms,
        unseen_reasoning_cap,
        first_output_ms,
        last_upstream_ms: http::now_ms(),
        silent_limit_ms: target.provider.answer_timeout_ms as f64,
        answer_form: rc.answer_form.borrow_mut().take().map(|form| form.stream(&rc.request_id, now_unix(), rc.prompt_tokens.get())),
        to_keep: Default::default(),
    };
    let body = stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if !st.pending.is_empty() {
                let out = std::mem::take(&mut st.pending);
                if let Some((assembler, _)) = st.caching.as_mut() {
                    assembler.push(&out);
                }
                match st.for_client(out) {
                    Some(out) => return Some((Ok::<Vec<u8>, worker::Error>(out), st)),
                    None => continue,
                }
            }
            let next = match st.next_upstream().await {
                Waited::Bytes(next) => next,
                Waited::Silent => {
                    // A host that answered and stopped sending: ended as a cut-off stream is (an
                    // error event, a failure for the breaker), billed for what came. No reasoning
                    // is taken to go on past its last byte.
                    st.upstream = None;
                    st.first_output_ms.get_or_insert(st.last_upstream_ms);
                    let out = st.session.stalled(st.silent_limit_ms as u64);
                    let out = end_stream(&mut st, out);
                    st.keep_answer().await;
                    return Some((Ok(out), st));
                }
            };
            match next {
                Some(Ok(bytes)) => {
                    st.last_upstream_ms = http::now_ms();
                    let was_committed = st.session.is_committed();
                    let out = st.session.push(&bytes);
                    if st.first_output_ms.is_none() && st.session.has_output() {
                        st.first_output_ms = Some(http::now_ms());
                    }
                    if !was_committed && st.session.is_committed() {
                        // Its first token came after the stream was handed on: a half-open
                        // breaker it was probing opens to others now (see `serve`).
                        health::started(&st.deployment.0, &st.deployment.1);
                    }
                    if st.session.failure().is_some() {
                        // The stream is over for the client (its error event is in `out`): stop
                        // reading, which cancels the upstream call, and end it now.
                        st.upstream = None;
                        let out = end_stream(&mut st, out);
                        st.keep_answer().await;
                        return Some((Ok(out), st));
                    }
                    if let Some((assembler, _)) = st.caching.as_mut() {
                        assembler.push(&out);
                    }
                    if out.is_empty() {
                        continue;
                    }
                    if let Some(out) = st.for_client(out) {
                        return Some((Ok::<Vec<u8>, worker::Error>(out), st));
                    }
                }
                // A reset connection ends the stream like a close; the session reports it as cut off.
                // The ledger is told by the request's `waitUntil` task, so the stream closes now.
                Some(Err(_)) | None => {
                    let out = end_stream(&mut st, Vec::new());
                    st.keep_answer().await;
                    return Some((Ok(out), st));
                }
            }
        }
    });
    Ok(Response::from_stream(body).map_err(http::to_api_error)?.with_headers(headers))
}

/// Ends a stream the upstream ended (closed, reset, or failed it): `out` (the last bytes for the
/// client) gets the session's end and the cost trailer, and goes to the cache's assembler before
/// the request is handed over, so an error event in it keeps the answer out of the cache; what
/// it returns is in the client's form (`StreamState::for_client`).
fn end_stream(st: &mut StreamState, mut out: Vec<u8>) -> Vec<u8> {
    out.extend(finish_stream(st, StreamEnd::Upstream));
    if let Some((assembler, _)) = st.caching.as_mut() {
        assembler.push(&out);
    }
    st.done = true;
    st.hand_over();
    st.for_client(out).unwrap_or_default()
}

/// Whether the call to `candidate` is fitted to OpenAI's reasoning-model rules
/// (`fit_reasoning_model`): an OpenAI reasoning model (its pricing row says `supports_reasoning`)
/// behind a provider with those rules.
fn follows_reasoning_rules(cfg: &RouterConfig, candidate: &Candidate, provider: &crate::catalog::ProviderConfig) -> bool {
    provider.quirks.openai_reasoning_params && cfg.prices.get(&candidate.price_key).is_some_and(|p| p.supports_reasoning)
}

/// The effort `candidate`'s model is sent in place of the request's own
/// (`ModelPrice::effort_in_place_of`: one it does not take, o4-mini asked for `minimal` is sent
/// `low`; the least it takes under an output cap with no room to think beside an answer), with
/// the route reason's note. Whether a rule routed the request there or the client named the
/// model, as a model that does not reason is sent no effort (`fit_model_without_reasoning`): it
/// answers rather than refusing. `None` where the adapter or the host's quirks turn the effort
/// into thinking themselves (Claude, Gemini, DeepSeek) or the effort is sent as asked.
fn effort_sent_instead(cfg: &RouterConfig, candidate: &Candidate, provider: &ProviderConfig, chat: &ChatRequest, routed: bool) -> Option<(String, String)> {
    if !sends_effort_as_written(provider) {
        return None;
    }
    let price = cfg.prices.get(&candidate.price_key)?;
    let asked = chat.reasoning_effort();
    let sent = price.effort_in_place_of(asked, chat.max_output_tokens(), asked.is_none() || routed)?;
    let taken = price.reasoning_efforts.as_ref().map(|t| t.join(", ")).unwrap_or_default();
    let note = match (asked, price.effort_at(asked) == Some(sent)) {
        (Some(asked), true) => format!("reasoning_effort '{asked}' sent as '{sent}' ({} takes {taken})", candidate.model),
        (asked, _) => format!(
            "reasoning_effort '{sent}' sent{}, the least {} takes: an output cap of {} tokens leaves no room to think beside an answer",
            asked.map(|a| format!(" for '{a}'")).unwrap_or_default(),
            candidate.model,
            chat.max_output_tokens().unwrap_or_default()
        ),
    };
    Some((sent.to_string(), note))
}

/// Whether a rule chose `candidate`'s model rather than the client naming it.
fn routed_to(cfg: &RouterConfig, decision: &RouteDecision, candidate: &Candidate) -> bool {
    cfg.catalog.resolve(&decision.requested).is_none_or(|m| m.name != candidate.model)
}

/// Whether `candidate`'s model thinks on this request, by its pricing row and the request's
/// effort (`ModelPrice::reasons_at`): gpt-5.4-mini asked for nothing does not.
fn thinks(cfg: &RouterConfig, candidate: &Candidate, chat: &ChatRequest) -> bool {
    thinks_at(cfg, candidate, chat.reasoning_effort())
}

/// Whether `candidate`'s model thinks at `effort` (`None`: its default).
fn thinks_at(cfg: &RouterConfig, candidate: &Candidate, effort: Option<&str>) -> bool {
    cfg.prices.get(&candidate.price_key).is_some_and(|p| p.reasons_at(effort))
}

/// A stream read up to its first token (`prime_stream`), ready to be passed on.
struct PrimedStream {
    session: StreamSession,
    /// What the session produced while priming: the client's first bytes.
    prefix: Vec<u8>,
    upstream: Option<BodyStream>,
    first_byte_ms: f64,
}

/// Client bytes that the stream can carry before it is passed on without a first token (a host
/// that sends only role chunks or keep-alives for this long is streaming, just slowly).
const PRIME_LIMIT_BYTES: usize = 16 * 1024;

/// How long a stream is held for its first token before it is passed on anyway. Failures that
/// follow a 200 (Anthropic's overloaded_error) come at once; a reasoning model can think for
/// minutes, and while the stream is held the client has no response and a client that leaves
/// cannot be settled (there is no stream yet to drop).
const PRIME_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Reads the upstream stream until it has produced something the client would act on, and
/// returns what it produced with the rest of the stream (`None` if it already ended). A stream
/// that fails, is cut, or ends incomplete before that is an error: the call failed, and nothing
/// was sent to the client.
async fn prime_stream(session: &mut StreamSession, mut upstream: BodyStream) -> Result<(Vec<u8>, Option<BodyStream>), String> {
    let mut prefix = Vec::new();
    let mut deadline = std::pin::pin!(worker::Delay::from(PRIME_DEADLINE));
    loop {
        if let Some(why) = session.failure() {
            return Err(why.to_string());
        }
        if session.is_committed() || prefix.len() > PRIME_LIMIT_BYTES {
            return Ok((prefix, Some(upstream)));
        }
        // A read the deadline overtakes is not lost: the stream keeps its pending read.
        let next = match futures_util::future::select(upstream.next(), deadline.as_mut()).await {
            futures_util::future::Either::Left((next, _)) => next,
            futures_util::future::Either::Right(_) => return Ok((prefix, Some(upstream))),
        };
        match next {
            Some(Ok(bytes)) => prefix.extend(session.push(&bytes)),
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => {
                prefix.extend(session.flush_last_event());
                if let Some(why) = session.failure() {
                    return Err(why.to_string());
                }
                if session.is_committed() || session.upstream_complete() {
                    return Ok((prefix, None));
                }
                return Err("ended before it was complete".into());
            }
        }
    }
}

/// Who ended a stream: the upstream (closed, reset, or sent an error), or the client, who left.
#[derive(Clone, Copy, PartialEq)]
enum StreamEnd {
    Upstream,
    ClientLeft,
}

fn finish_stream(st: &mut StreamState, end: StreamEnd) -> Vec<u8> {
    let (mut out, outcome) = st.session.finish();
    let (provider, upstream_model) = &st.deployment;
    match (outcome.complete, end) {
        (true, _) => health::success(provider, upstream_model, AnswerKind::Stream, st.first_byte_ms),
        // The model failed the answer after it began (Gemini's MALFORMED_FUNCTION_CALL): no
        // verdict on the deployment, as before the first token.
        (false, StreamEnd::Upstream) if st.session.model_failed() => health::neutral(provider, upstream_model),
        // Cut off or an error event from the host: a failure, as an error status would be.
        (false, StreamEnd::Upstream) => health::failure(&st.rc, provider, upstream_model),
        // The client left: no verdict on the deployment (a half-open probe is released).
        (false, StreamEnd::ClientLeft) => health::neutral(provider, upstream_model),
    }
    if outcome.length_stop {
        st.rc.shape.borrow_mut().length_stop = true;
    }
    let (mut usage, basis) = outcome.billed_usage();
    if let (false, None, Some(cap)) = (outcome.complete, outcome.usage, st.unseen_reasoning_cap) {
        let thinking_ms = st.first_output_ms.unwrap_or_else(http::now_ms) - st.sent_at_ms;
        usage = crate::stream::with_unseen_reasoning(usage, thinking_ms, cap);
    }
    let priced = st.receipt.repriced(Some(usage), basis, &st.cfg.prices);
    // The stream's cache outcome (a bypass, or a miss to be stored) is the request's, not the
    // "miss" a fresh receipt starts with.
    let cache = std::mem::take(&mut st.receipt.cache);
    st.receipt = Receipt { demo: st.receipt.demo, cache, ..priced };
    st.receipt.add_other_calls(st.rc.unseen_cost.get());
    match (outcome.complete, end) {
        (true, _) => events::record(&st.env, &st.rc, &st.tenant, 200, &st.receipt),
        (false, StreamEnd::Upstream) => events::record_broken_stream(&st.env, &st.rc, &st.tenant, &st.receipt, 502, STREAM_ERROR_CODE),
        // Billed as any cut stream, but the client's choice, not an error of the route.
        (false, StreamEnd::ClientLeft) => events::record_broken_stream(&st.env, &st.rc, &st.tenant, &st.receipt, CLIENT_CLOSED_STATUS, CLIENT_CLOSED),
    }
    let mut summary = st.receipt.summary();
    if let Some(err) = &outcome.error {
        summary["error"] = json!(err);
    }
    out.extend(trailer(&summary, outcome.complete));
    out
}
