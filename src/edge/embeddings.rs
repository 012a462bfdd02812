//! `POST /v1/embeddings`: routed like chat, priced by input tokens.

use worker::{Env, Request, Response};

use crate::api::embeddings::EmbeddingsRequest;
use crate::api::no_answer::{refusal_when_nothing_served, ProviderWaits, Unavailable};
use crate::api::ApiError;
use crate::catalog::{ModelMode, ProviderConfig};
use crate::providers::{adapter_for, embeddings_batches, EmbeddingsAnswer, Rejection, Target};
use crate::receipt::{Receipt, UsageBasis};
use crate::routing::health::Admission;
use crate::routing::{disposition, route_direct, Candidate, Disposition, RouteDecision};
use crate::usage::Usage;

use super::auth::authenticate;
use super::chat::usable;
use super::config::{self, provider_key, RouterConfig};
use super::http::{self, read_body, RequestContext};
use super::{events, health, spend, upstream};
use crate::budget::max_cost;

/// `deployment` is the model an Azure-style path names (`/openai/deployments/{deployment}/...`).
pub async fn handle(mut req: Request, env: &Env, rc: &RequestContext, deployment: Option<&str>) -> Result<Response, ApiError> {
    // A refusal sent while the client is still sending its body reads as a reset.
    let principal = http::drained_on_refusal(&mut req, authenticate(&rc.headers, env).await).await?;
    rc.set_tenant(&principal);
    events::attribute_before_body(rc, &principal);
    let cfg = http::drained_on_refusal(&mut req, config::load(env).await).await?;
    let body = read_body(&mut req, &rc.headers, cfg.max_body_bytes).await?;
    let mut emb = match deployment {
        Some(model) => EmbeddingsRequest::from_value(crate::api::with_model(&body, model, crate::api::MAX_EMBEDDINGS_VALUES)?)?,
        None => EmbeddingsRequest::parse(&body)?,
    };
    rc.set_model(&emb.model);
    rc.set_attribution(events::attribution(&rc.headers, &principal, emb.extra.get("metadata"), emb.end_user())?);
    emb.scope_end_user_for_provider(&principal.tenant.id);
    let decision = route_direct(&cfg.catalog, &emb.model, ModelMode::Embedding, principal.tenant.allowed_models.as_deref(), |p| usable(env, p), super::http::today())?;
    // Budgets and per-minute limits hold for embeddings as for chat; the reservation is settled
    // with the rollup after the response (`edge::fetch`). A budget set to downgrade refuses here:
    // there is no cheaper model that gives the same vectors.
    if let Some(stub) = (!spend::known_uncontrolled(&principal.tenant.id)).then(|| spend::ledger(env, &principal.tenant.id)).flatten() {
        let upper = emb.input_token_upper_bound();
        let amount = max_cost(&decision, &cfg.prices, &crate::tokens::PromptBound::embedding_inputs(upper), Some(0), 1, crate::usage::ServiceTier::Standard, &|_| None);
        match spend::admit_request(rc, &stub, &principal, emb.estimated_input_tokens(), amount, http::now_unix(), false).await? {
            Ok(reserved) => spend::note_reserved(rc, &reserved),
            Err(ex) => return Err(spend::exceeded(&ex, amount, None)),
        }
    }
    // Batches go one after another (up to 2,048 inputs): renewed as a chat call is.
    let Embedded { mut answer, provider, candidate, failures } = spend::renewing(env, rc, &principal.tenant.id, call_embedding_model(env, rc, &cfg, &decision, &emb, true)).await?;
    // An OpenAI-dialect answer is passed on as it came unless something in it must change.
    if emb.encoding_format.as_deref() == Some("base64") && answer.has_float_vectors() {
        answer.encode_base64();
    }
    let basis = if answer.usage.is_some() { UsageBasis::Reported } else { UsageBasis::Estimated };
    let usage = answer.usage_or_estimate(&emb, &candidate.upstream_model);
    if basis == UsageBasis::Estimated {
        // What the request is billed for, rather than Gemini's zeros (`x-costrouter-usage:
        // estimated` says how it was counted).
        answer.report_tokens(usage.input_tokens);
    }
    let dropped = rc.unseen_cost.get();
    let mut reason = decision.reason.clone();
    // Why the deployments before it did not answer, as chat's reason says.
    if !failures.is_empty() {
        reason.push_str(&format!("; fell back to {} after: {}", provider.id, failures.join("; ")));
    }
    if dropped > crate::money::Usd::ZERO {
        reason.push_str(&format!("; ${dropped} for batches a deployment answered before it failed (billed by its provider, embedded again here)"));
    }
    let mut receipt = Receipt::priced(
        &rc.request_id,
        &provider.id,
        &candidate.upstream_model,
        &decision.route,
        &reason,
        Some(usage),
        basis,
        &cfg.prices,
        rc.sent_unix(),
        &candidate.price_key,
        decision.baseline_price_key.as_deref(),
        // Embeddings do not reason.
        None,
    );
    receipt.add_other_calls(dropped);
    receipt.demo = provider.demo;
    events::record(env, rc, &principal, 200, &receipt);
    Ok(http::json_bytes(200, answer.into_bytes(), &receipt.headers(true)))
}

/// An embeddings answer, the deployment that gave it, and why the ones before it did not.
pub struct Embedded<'a> {
    pub answer: EmbeddingsAnswer,
    pub provider: &'a ProviderConfig,
    pub candidate: &'a Candidate,
    pub failures: Vec<String>,
}

/// Asks the route's deployments in order until one answers. A deployment that cannot be reached,
/// answers with a status worth trying the next one for (`routing::disposition`), sends a body
/// that cannot be read, or whose adapter cannot express the request is passed over, as is one whose
/// provider does not take a parameter the request uses (another may); one whose provider rejects
/// the request otherwise ends the call, since the others would reject it too. Shared by `POST /v1/embeddings` and the semantic cache's provider
/// embedder, so both fall back the same way.
///
/// A provider that takes fewer inputs per call than the router accepts is sent the request in
/// batches (`providers::embeddings_batches`), one after another. The batches to one deployment
/// are one call: any batch failing fails the deployment, which then counts once with the breaker
/// and is passed over with everything it answered; what those answers cost is still charged.
///
/// `files_attempts`: each call is noted as the request's last attempt (`RequestContext::last_attempt`),
/// under which a failure is filed, as chat does, and a failure's wait goes on the response
/// (`retry-after`); not for a semantic lookup, whose chat request is filed under its own model
/// and answered whatever the embedder did.
pub async fn call_embedding_model<'a>(env: &Env, rc: &RequestContext, cfg: &'a RouterConfig, decision: &'a RouteDecision, emb: &EmbeddingsRequest, files_attempts: bool) -> Result<Embedded<'a>, ApiError> {
    let mut failures = Vec::new();
    let mut worst_status = 502;
    let mut unavailable = Unavailable::default();
    // The waits refusing providers asked for, told if every deployment fails (as chat).
    let mut waits = ProviderWaits::default();
    // Deployments whose adapter cannot express the request (Gemini takes no token arrays): the
    // next may. The first refusal is the answer only if no deployment could take the request.
    let mut first_refusal: Option<ApiError> = None;
    // A provider's refusal of a parameter it does not take (a host without `dimensions`): the
    // next deployment may take it; the client hears it if none does.
    let mut provider_refusal: Option<ApiError> = None;
    let mut refusals = 0;
    'deployments: for candidate in &decision.candidates {
        let provider = &cfg.catalog.providers[&candidate.provider];
        let key = provider.key_secret.as_ref().and_then(|s| provider_key(env, s));
        let target = Target { provider, upstream_model: &candidate.upstream_model, api_key: key.as_deref() };
        let adapter = adapter_for(provider.kind);
        let batches = embeddings_batches(emb, adapter.embeddings_batch_limit());
        let requests = match batches.iter().map(|batch| adapter.embeddings_request(&target, batch)).collect::<Result<Vec<_>, _>>() {
            Ok(requests) => requests,
            Err(e) => {
                failures.push(format!("{}: {}", provider.id, e.message));
                first_refusal.get_or_insert(e);
                refusals += 1;
                continue;
            }
        };
        // Circuit breakers and holds work as for chat: a deployment whose breaker is open, or
        // that is held for the wait its provider asked for, is passed over, and its failures
        // here count toward opening it.
        if let Admission::Refuse { retry_in_ms, held_by } = health::admit(&provider.id, &candidate.upstream_model) {
            failures.push(health::refusal(&provider.id, retry_in_ms, held_by));
            unavailable.note(retry_in_ms, held_by, &mut waits);
            continue;
        }
        if files_attempts {
            *rc.last_attempt.borrow_mut() = Some((provider.id.clone(), candidate.upstream_model.clone(), decision.route.clone()));
        }
        let sent_at = http::now_ms();
        let mut answers = Vec::with_capacity(requests.len());
        // The batches answered before one fails were billed by the provider, though their vectors
        // are dropped (the next deployment embeds everything again): the request pays for them
        // (`RequestContext::unseen_cost`), with or without a final answer.
        let pay_for_dropped = |answers: &[EmbeddingsAnswer]| {
            if !answers.is_empty() {
                // Summed from the first batch, not from zero: a sum keeps a host's own charge only
                // when every part has one.
                let usage = answers.iter().zip(&batches).map(|(a, b)| a.usage_or_estimate(b, &candidate.upstream_model)).reduce(|sum, u| sum.plus(&u)).unwrap_or_default();
                rc.charge_unseen(&cfg.prices, candidate, &usage);
            }
        };
        for (up, batch) in requests.iter().zip(&batches) {
            // A batch the provider bills without an answer read (cancelled, or timed out while it
            // was writing one): at the estimate.
            let charge_estimate = || rc.charge_unseen(&cfg.prices, candidate, &Usage { input_tokens: batch.input_tokens_for(&candidate.upstream_model), ..Usage::default() });
            let answer = match upstream::send(up, provider.timeout_ms, upstream::Expect::Whole, rc.client_watch(env)).await {
                Ok(answer) => answer,
                // Billed all the same, at the estimate, while the request can still settle.
                Err(upstream::SendError::Abandoned { sent, refused }) => {
                    let billed = sent && !refused;
                    if billed {
                        charge_estimate();
                    }
                    pay_for_dropped(&answers);
                    health::neutral(&provider.id, &candidate.upstream_model);
                    return Err(ApiError::client_closed(if billed {
                        "The client disconnected before the embeddings came; the call was cancelled and billed at its estimate."
                    } else {
                        "The client disconnected before the embeddings came; the call was not made or had been refused, and nothing was billed for it."
                    }));
                }
                Err(e) => {
                    pay_for_dropped(&answers);
                    health::failure(rc, &provider.id, &candidate.upstream_model);
                    // An answer the provider was still writing when the limit came is billed (as
                    // for chat): at the estimate, as when the client leaves.
                    let billed = match e {
                        upstream::SendError::Timeout { refused: false } => charge_estimate().map(|c| format!(", and was charged its estimate, ${c}")).unwrap_or_default(),
                        _ => String::new(),
                    };
                    failures.push(format!("{}: {}{billed}", provider.id, e.describe()));
                    worst_status = worst_status.max(e.status());
                    continue 'deployments;
                }
            };
            let status = answer.status;
            let header_wait_ms = answer.retry_after_ms;
            let bytes = answer.bytes().await.unwrap_or_default();
            let wait_ms = header_wait_ms.or_else(|| adapter.wait_in_error(status, &bytes));
            match disposition(status) {
                Disposition::Success => match adapter.embeddings_response(&target, bytes) {
                    // One vector per input, or they cannot be told apart: a short answer would
                    // put every later vector against the wrong input.
                    Ok(answer) if answer.vector_count() != batch.input_count() => {
                        failures.push(format!("{}: {} vectors for {} inputs", provider.id, answer.vector_count(), batch.input_count()));
                        answers.push(answer); // billed all the same
                        pay_for_dropped(&answers);
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                        continue 'deployments;
                    }
                    Ok(answer) => answers.push(answer),
                    // A 200 the provider billed whose body could not be read (cut off while it
                    // came, garbled): at the estimate, as a short answer is billed all the same.
                    Err(e) => {
                        let charged = charge_estimate().map(|c| format!(", and was charged its estimate, ${c}")).unwrap_or_default();
                        pay_for_dropped(&answers);
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                        failures.push(format!("{e}{charged}"));
                        continue 'deployments;
                    }
                },
                Disposition::Fallback => {
                    pay_for_dropped(&answers);
                    // OpenAI's "Request too large" is this request's size, not the deployment's
                    // load (as for chat): no verdict.
                    let too_large = health::refused(&provider.id, &candidate.upstream_model, status, &bytes, wait_ms, &mut waits);
                    if too_large {
                        health::neutral(&provider.id, &candidate.upstream_model);
                    } else {
                        health::failure(rc, &provider.id, &candidate.upstream_model);
                    }
                    failures.push(format!("{}: HTTP {} ({})", provider.id, status, adapter.error_message(status, &bytes)));
                    if let Some(status) = crate::routing::retryable_failure(status) {
                        worst_status = status;
                    }
                    continue 'deployments;
                }
                // An invalid key or an unpaid account that the provider reports as a 400.
                Disposition::ClientError if adapter.rejection(status, &bytes) == Rejection::Deployment => {
                    pay_for_dropped(&answers);
                    health::failure(rc, &provider.id, &candidate.upstream_model);
                    failures.push(format!("{}: HTTP {} ({})", provider.id, status, adapter.error_message(status, &bytes)));
                    continue 'deployments;
                }
                Disposition::ClientError => {
                    pay_for_dropped(&answers);
                    health::neutral(&provider.id, &candidate.upstream_model);
                    let message = adapter.error_message(status, &bytes);
                    let refused = crate::providers::rejected_by(&provider.id, status, &message, &bytes);
                    if adapter.rejection(status, &bytes) == Rejection::Unsupported {
                        failures.push(format!("{}: HTTP {status} ({message})", provider.id));
                        provider_refusal.get_or_insert(refused);
                        refusals += 1;
                        continue 'deployments;
                    }
                    return Err(refused);
                }
            }
        }
        // The latency of one upstream call, as the deployment's latency means for chat.
        health::success(&provider.id, &candidate.upstream_model, crate::routing::health::AnswerKind::Whole, (http::now_ms() - sent_at) / answers.len() as f64);
        return Ok(Embedded { answer: EmbeddingsAnswer::merged(answers), provider, candidate, failures });
    }
    if refusals + unavailable.skipped() == failures.len() {
        // The request as it is can be taken by no deployment (the client's to change, not to
        // retry), or some are behind an open breaker or held (unavailable for now), as in chat.
        let breakers_open = || {
            let (error, wait) = unavailable.error(&format!("'{}'", decision.requested), &failures);
            // Only on the embeddings endpoint's own answer: a semantic lookup's failure is not
            // the chat request's, which goes on without the cache.
            if files_attempts {
                for (name, value) in wait {
                    rc.add_header(name, value);
                }
            }
            error
        };
        return Err(refusal_when_nothing_served(provider_refusal, first_refusal, unavailable.skipped(), breakers_open).unwrap_or_else(breakers_open));
    }
    if files_attempts {
        for (name, value) in waits.headers(worst_status, failures.len() - refusals - unavailable.skipped()) {
            rc.add_header(name, value);
        }
    }
    Err(ApiError::upstream_failed(worst_status, format!("Every deployment for '{}' failed: {}.", decision.requested, failures.join("; "))))
}

