//! The semantic cache at the edge: the embedder (weights from KV `CONFIG` key `embedder`, parsed
//! once per isolate; or a provider's embeddings endpoint when the policy names an embedding
//! model), and the calls to the tenant's `SemanticCache` Durable Object (`edge::semantic_store`).
//! Rules and the context bucket are in `crate::cache::semantic`.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};
use worker::Env;

use super::crossings::ObjectStub;

use crate::cache::semantic::{SemanticQuery, STATIC_EMBEDDER};
use crate::cache::CachedAnswer;
use crate::semantic::{MatchGuard, QuantizedVector, StaticEmbedder};

use super::config::RouterConfig;
use super::http::RequestContext;

/// After a failed load of the weights, wait this long before trying KV again.
const RETRY_LOAD_MS: f64 = 60_000.0;

thread_local! {
    static EMBEDDER: RefCell<Option<Rc<StaticEmbedder>>> = const { RefCell::new(None) };
    static LOAD_FAILED_AT: RefCell<Option<f64>> = const { RefCell::new(None) };
    /// When the load in flight began, if one is.
    static LOADING_SINCE: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// A load in flight longer than this is taken for dead (its request cancelled and its future
/// never resumed nor dropped, which workerd may do) and another may start.
const LOAD_STALE_MS: f64 = 30_000.0;

/// Marks the weights as being loaded for as long as it lives (cleared when dropped, the load's
/// future dropped midway included; and taken for dead after [`LOAD_STALE_MS`] in any case).
struct Loading;

impl Loading {
    fn start() -> Option<Loading> {
        let now = super::http::now_ms();
        let busy = LOADING_SINCE.with(|l| l.get().is_some_and(|since| now - since < LOAD_STALE_MS));
        if busy {
            return None;
        }
        LOADING_SINCE.with(|l| l.set(Some(now)));
        Some(Loading)
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        LOADING_SINCE.with(|l| l.set(None));
    }
}

/// The static embedder, loaded from KV on first use in this isolate.
async fn static_embedder(env: &Env) -> Option<Rc<StaticEmbedder>> {
    if let Some(e) = EMBEDDER.with(|e| e.borrow().clone()) {
        return Some(e);
    }
    if LOAD_FAILED_AT.with(|f| f.borrow().is_some_and(|at| super::http::now_ms() - at < RETRY_LOAD_MS)) {
        return None;
    }
    // One load per isolate: the weights are megabytes, and every request of a cold isolate's
    // first burst loading its own copy could exceed the isolate's memory. Requests that arrive
    // while it loads skip the semantic lookup (the exact cache still applies).
    let _loading = Loading::start()?;
    let loaded = async {
        let kv = env.kv("CONFIG").ok()?;
        let bytes = kv.get("embedder").bytes().await.ok().flatten()?;
        match StaticEmbedder::from_bytes(&bytes) {
            Ok(e) => Some(Rc::new(e)),
            Err(e) => {
                worker::console_error!("semantic cache: embedder weights in KV are unusable: {e}");
                None
            }
        }
    }
    .await;
    match &loaded {
        Some(e) => EMBEDDER.with(|slot| *slot.borrow_mut() = Some(e.clone())),
        None => {
            worker::console_warn!("semantic cache: no embedder weights in KV CONFIG 'embedder' (run the KV seeding); semantic lookups are skipped");
            LOAD_FAILED_AT.with(|f| *f.borrow_mut() = Some(super::http::now_ms()));
        }
    }
    loaded
}

/// The embedder's id, part of every bucket so different embedders never compare vectors. A
/// provider embedder is named with the deployments its catalog model has (provider and upstream
/// model, as the chat cache's key names them): re-pointing the name at another model starts
/// afresh rather than comparing the new model's vectors with the old one's.
pub async fn embedder_id(env: &Env, cfg: &RouterConfig, embedder: &str) -> Option<String> {
    if embedder == STATIC_EMBEDDER {
        return static_embedder(env).await.map(|e| e.model_id().to_string());
    }
    let deployments: Vec<String> = cfg
        .catalog
        .resolve(embedder)
        .map(|m| m.deployments.iter().map(|d| json!([d.provider, d.upstream_model]).to_string()).collect())
        .unwrap_or_default();
    Some(format!("provider:{embedder} {}", deployments.join(",")))
}

/// Where a provider embedder may send the request's text: the regions its route is held to
/// (data residency) and the models its tenant may use. A route held to regions is not cached at
/// all today (`cache::RESIDENCY_BYPASS`), so its lookup never gets here; the bound stays so that
/// the text could not leave the regions should that change.
pub struct EmbedderBounds<'a> {
    pub regions: &'a [String],
    pub allowed_models: Option<&'a [String]>,
}

/// The vector for `text` (`None` when it cannot be had: the request then goes on without the
/// cache), and, from a provider embedder, the deployment that made it (`["provider","model"]`).
/// The static embedder costs nothing; a call to the named embedding model's provider is charged
/// to the request (`RequestContext::charge_unseen`) even when its vector is unusable.
pub async fn embed(env: &Env, rc: &RequestContext, cfg: &RouterConfig, embedder: &str, text: &str, bounds: &EmbedderBounds<'_>) -> Option<(QuantizedVector, Option<String>)> {
    if embedder == STATIC_EMBEDDER {
        let e = static_embedder(env).await?;
        let v = e.embed(text);
        return (!v.is_zero()).then(|| (v.quantize(), None));
    }
    provider_embedding(env, rc, cfg, embedder, text, bounds).await
}

async fn provider_embedding(env: &Env, rc: &RequestContext, cfg: &RouterConfig, model: &str, text: &str, bounds: &EmbedderBounds<'_>) -> Option<(QuantizedVector, Option<String>)> {
    use crate::api::embeddings::EmbeddingsRequest;
    // The prompt's text goes only where the request itself may go: a rule's regions and the
    // tenant's models hold for the lookup too, or there is no semantic lookup.
    let usable = |p: &crate::catalog::ProviderConfig| super::chat::usable(env, p) && p.serves_regions(bounds.regions);
    let decision = crate::routing::route_direct(&cfg.catalog, model, crate::catalog::ModelMode::Embedding, bounds.allowed_models, usable, super::http::today()).ok()?;
    let body = json!({"model": model, "input": text}).to_string();
    let req = EmbeddingsRequest::parse(body.as_bytes()).ok()?;
    let embedded = super::embeddings::call_embedding_model(env, rc, cfg, &decision, &req, false).await.ok()?;
    // Priced as `/v1/embeddings` prices it: reported input tokens, else the estimate.
    let usage = embedded.answer.usage_or_estimate(&req, &embedded.candidate.upstream_model);
    rc.charge_unseen(&cfg.prices, embedded.candidate, &usage);
    let made_by = json!([embedded.candidate.provider, embedded.candidate.upstream_model]).to_string();
    Some((unit_vector(embedded.answer.first_vector()?)?, Some(made_by)))
}

fn unit_vector(v: Vec<f32>) -> Option<QuantizedVector> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.is_empty() || norm == 0.0 || !norm.is_finite() {
        return None;
    }
    let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
    Some(QuantizedVector::from_f32(&unit))
}

fn store_stub(env: &Env, tenant: &str) -> Option<ObjectStub> {
    ObjectStub::named(env, "SEMANTIC_CACHE", tenant)
}

/// One call to the tenant's `SemanticCache` object, through the same Durable Object call the
/// ledger uses; any failure is a miss (or a skipped store), never an error to the client.
async fn call(stub: &ObjectStub, path: &str, body: Value) -> Option<Value> {
    let answered = super::spend::call(stub, path, Some(body)).await;
    if answered.is_err() {
        // The path only: an error body could quote what was sent.
        worker::console_warn!("semantic cache: {path} failed");
    }
    answered.ok()
}

/// A vector and guard ready to look up or store.
pub struct Probe {
    pub query: SemanticQuery,
    pub vector: QuantizedVector,
    pub guard: MatchGuard,
}

impl Probe {
    fn body(&self) -> Value {
        json!({"bucket": hex::encode(self.query.bucket), "vector": hex::encode(self.vector.to_bytes()), "guard": hex::encode(self.guard.to_bytes()),
               "question": self.query.question_id()})
    }
}

/// The closest cached answer in the tenant's index at or above `threshold`, with its score.
pub async fn lookup(env: &Env, tenant: &str, probe: &Probe, threshold: f32) -> Option<(CachedAnswer, f32)> {
    let stub = store_stub(env, tenant)?;
    let mut body = probe.body();
    body["threshold"] = json!(threshold);
    body["now"] = json!(super::http::now_unix());
    let v = call(&stub, "/lookup", body).await?;
    let hit = v.get("hit").filter(|h| !h.is_null())?;
    let answer: CachedAnswer = serde_json::from_value(hit["answer"].clone()).ok()?;
    Some((answer, hit["score"].as_f64()? as f32))
}

/// Files a fresh answer under the probe (called after the response has gone).
pub async fn store(env: &Env, tenant: &str, probe: &Probe, answer: &CachedAnswer, ttl_secs: u64) {
    let Some(stub) = store_stub(env, tenant) else { return };
    let Ok(answer) = serde_json::to_value(answer) else { return };
    let mut body = probe.body();
    body["answer"] = answer;
    body["ttl_secs"] = json!(ttl_secs);
    body["now"] = json!(super::http::now_unix());
    let _ = call(&stub, "/insert", body).await;
}
