//! The catalog: which providers exist, which public model names map to which deployments, and
//! the aliases clients may use. It is data (`kv-seed/catalog.json`, KV key `catalog`), validated
//! on load with messages that name the entry and field at fault.
//!
//! An OpenAI-compatible host (Groq, Together, DeepSeek, Mistral, OpenRouter, Ollama, vLLM) is a
//! `preset` row from `providers/openai_compatible_hosts.json` over the one OpenAI-dialect adapter;
//! any field of the preset can be overridden per provider.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Gemini,
    Azure,
}

/// How an OpenAI-dialect host reports usage in a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamUsage {
    /// Ask with `stream_options.include_usage` (OpenAI's way).
    #[default]
    StreamOptions,
    /// The host always sends usage in its last chunk and may reject `stream_options`.
    Always,
}

/// The tool-call ids an OpenAI-dialect host accepts in the history (`tool_calls[].id` and a tool
/// message's `tool_call_id`), which carries ids minted by whichever provider answered each turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallIdFormat {
    /// Any string: ids are sent as they came.
    #[default]
    Any,
    /// Exactly nine of `[a-zA-Z0-9]` (Mistral, which refuses OpenAI's `call_…`, Anthropic's
    /// `toolu_…` and the ids this router makes for Gemini): any other id is sent as a hash of
    /// itself in that shape, the same on the call and on its result.
    NineAlphanumerics,
}

/// The few ways an OpenAI-compatible host differs from OpenAI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    #[serde(default)]
    pub stream_usage: StreamUsage,
    /// Parameters the host rejects; removed before sending.
    #[serde(default)]
    pub drop_params: Vec<String>,
    /// Parameters the host does not take and whose loss would change the answer (Groq's
    /// `logprobs`): a request setting one to anything but null or false is refused by the
    /// deployment, so another candidate serves it; set to null or false, it is removed.
    #[serde(default)]
    pub unsupported_params: Vec<String>,
    /// Parameters the host names differently (`seed` → `random_seed` on Mistral).
    #[serde(default)]
    pub rename_params: BTreeMap<String, String>,
    /// For hosts that refuse every parameter they do not know (Mistral): the only top-level
    /// fields sent, after renaming. New OpenAI parameters would otherwise fail every request.
    #[serde(default)]
    pub keep_only_params: Option<Vec<String>>,
    /// Fields removed from every message. OpenAI lets a message carry fields it does not use;
    /// Groq refuses `name` and `reasoning_content`, which clients send back as an answer gave
    /// them (the router itself writes `reasoning_content` on Claude's answers).
    #[serde(default)]
    pub drop_message_fields: Vec<String>,
    /// For hosts that refuse any message field they do not know (Mistral, even a null
    /// `refusal` an SDK writes back): the only fields a message keeps.
    #[serde(default)]
    pub keep_only_message_fields: Option<Vec<String>>,
    /// The values a string parameter may take on this host; another is removed (Groq's
    /// `service_tier` has its own tiers, not OpenAI's `default`, `priority` or `scale`). Only for
    /// parameters that change how an answer is served, not what it is.
    #[serde(default)]
    pub allowed_values: BTreeMap<String, Vec<String>>,
    /// `rename_params` and `keep_only_params` for embeddings requests (Mistral's
    /// `output_dimension` is OpenAI's `dimensions`).
    #[serde(default)]
    pub embeddings_rename_params: BTreeMap<String, String>,
    #[serde(default)]
    pub embeddings_keep_only_params: Option<Vec<String>>,
    /// Send `developer` messages as `system`: OpenAI's newer name for the role, which hosts
    /// of open-weight models refuse (DeepSeek) or whose chat templates do not know it.
    #[serde(default)]
    pub developer_as_system: bool,
    /// The host turns thinking on and off with `thinking: {"type": "enabled" | "disabled"}` and
    /// knows no `reasoning_effort` `none` (DeepSeek V4 thinks unasked, at `high`, and takes `low`,
    /// `high` and `max`): a request asking for `none`, or `minimal`, which the planner estimates
    /// as no reasoning, goes with thinking disabled and no effort, as does one whose cap leaves
    /// no room to think beside an answer. Set by the `deepseek` preset.
    #[serde(default)]
    pub thinking_switch: bool,
    /// The tool-call ids the host accepts; others are rewritten to fit.
    #[serde(default)]
    pub tool_call_id_format: ToolCallIdFormat,
    /// OpenAI's rules for reasoning models (o-series, gpt-5), applied to models priced with
    /// `supports_reasoning`: `max_tokens` is sent as `max_completion_tokens` and the sampling
    /// parameters they refuse are dropped. Set by the `openai` preset; Azure always has them.
    #[serde(default)]
    pub openai_reasoning_params: bool,
    /// The host takes only the content-part and `response_format` types OpenAI defines (OpenAI's
    /// API refuses others): a request with another is refused here, so a candidate that takes it
    /// serves. Set by the `openai` preset; Azure always has it.
    #[serde(default)]
    pub openai_types_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Name of the Worker secret holding the key; `None` for hosts that need none (Ollama).
    pub key_secret: Option<String>,
    /// Azure's `api-version` query parameter.
    pub api_version: Option<String>,
    /// Where the deployment runs (`us`, `eu`, ...), for data-residency rules.
    pub region: Option<String>,
    /// A local stand-in (the demo upstream of `make dev`), labelled as such in every response.
    pub demo: bool,
    /// The longest wait for a stream's response headers (its start).
    pub timeout_ms: u64,
    /// The longest wait for a whole (non-streaming) answer: providers send its headers only
    /// once the answer is complete, so this bounds the generation itself.
    pub answer_timeout_ms: u64,
    pub quirks: Quirks,
}

impl ProviderConfig {
    /// Whether this provider may serve a route whose data residency requires `regions` (none
    /// required: any may; a provider with no region never satisfies a requirement).
    /// Region names compare without case: a policy's `"EU"` means the catalog's `"eu"`, not a
    /// region nobody serves (which would refuse every request as a residency failure).
    pub fn serves_regions(&self, regions: &[String]) -> bool {
        regions.is_empty() || self.region.as_ref().is_some_and(|r| regions.iter().any(|want| want.eq_ignore_ascii_case(r)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRef {
    pub provider: String,
    /// The model name the provider knows (an Azure deployment name for Azure).
    pub upstream_model: String,
    /// The pricing row of this deployment when its price is not the model's: an Azure Data
    /// Zone or Regional deployment (what keeping traffic in the EU takes) costs about 10% more
    /// than OpenAI's list price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_key: Option<String>,
    /// The first day (UTC) the provider no longer serves this model here: its deprecation
    /// page's shutdown date (LiteLLM's `deprecation_date`). From that day the router sends this
    /// deployment nothing: a rule's other candidates and the model's other deployments serve
    /// instead, and a client naming a model none of whose deployments is left is told it was
    /// retired, as the provider would tell it, without the call that the breaker would count.
    /// Per deployment, since providers retire a model on days of their own (Azure's gpt-4o three
    /// months after OpenAI's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_on: Option<Date>,
}

/// The last of these deployments' `retires_on`, if every one has one: the first day none of them
/// serves. Without a copy: routing asks it of each candidate on every request.
pub fn last_retirement<'a>(deployments: impl IntoIterator<Item = &'a DeploymentRef>) -> Option<Date> {
    deployments.into_iter().try_fold(None, |last: Option<Date>, d| d.retires_on.map(|day| last.max(Some(day)))).flatten()
}

impl DeploymentRef {
    /// The day the provider stopped serving this deployment, if that day has come by `today`.
    pub fn retired_on(&self, today: Date) -> Option<Date> {
        self.retires_on.filter(|day| *day <= today)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelMode {
    #[default]
    Chat,
    Embedding,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    pub name: String,
    pub mode: ModelMode,
    /// Tried in order: the first is preferred, the rest are the fallback chain.
    pub deployments: Vec<DeploymentRef>,
    /// The pricing-table row; defaults to the model name.
    pub price_key: String,
    pub owned_by: String,
}

impl ModelEntry {
    /// The pricing row a deployment of this model is billed by.
    pub fn price_key_of<'a>(&'a self, deployment: &'a DeploymentRef) -> &'a str {
        deployment.price_key.as_deref().unwrap_or(&self.price_key)
    }

    /// The first day no deployment serves it, if every deployment has a `retires_on`.
    pub fn retires_on(&self) -> Option<Date> {
        last_retirement(&self.deployments)
    }

    /// That day, if it has come by `today`: the model is served nowhere.
    pub fn retired_on(&self, today: Date) -> Option<Date> {
        self.retires_on().filter(|day| *day <= today)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Catalog {
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelEntry>,
    pub aliases: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("catalog: {location}: {problem}")]
pub struct CatalogError {
    pub location: String,
    pub problem: String,
}

fn err(location: impl Into<String>, problem: impl Into<String>) -> CatalogError {
    CatalogError { location: location.into(), problem: problem.into() }
}

const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// The least `timeout_ms` / `answer_timeout_ms` taken: under it no provider answers.
const MIN_TIMEOUT_MS: u64 = 100;
/// A long answer (thousands of tokens, or a reasoning model thinking hard) takes minutes to
/// generate, and a timeout pays for it twice; half the official SDKs' 600 s leaves a fallback
/// time to answer before the client gives up.
const DEFAULT_ANSWER_TIMEOUT_MS: u64 = 300_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    providers: BTreeMap<String, RawProvider>,
    models: BTreeMap<String, RawModel>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: Option<ProviderKind>,
    preset: Option<String>,
    base_url: Option<String>,
    key_secret: Option<String>,
    #[serde(default)]
    no_key: bool,
    api_version: Option<String>,
    region: Option<String>,
    #[serde(default)]
    demo: bool,
    timeout_ms: Option<u64>,
    answer_timeout_ms: Option<u64>,
    quirks: Option<Quirks>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    mode: ModelMode,
    deployments: Vec<DeploymentRef>,
    price_key: Option<String>,
    owned_by: Option<String>,
}

fn presets() -> BTreeMap<String, RawProvider> {
    serde_json::from_str(include_str!("providers/openai_compatible_hosts.json")).expect("built-in presets parse")
}

impl Catalog {
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let value: Value = serde_json::from_str(text).map_err(|e| err(format!("line {}", e.line()), e.to_string()))?;
        if let Some(path) = crate::json_duplicates::first_duplicate_key(text) {
            return Err(err(path, "appears twice in its object (JSON keeps only the last; merge or rename them)"));
        }
        let raw: RawCatalog = serde_path_to_error::deserialize(value).map_err(|e| err(e.path().to_string(), e.into_inner().to_string()))?;
        if raw.version != 1 {
            return Err(err("version", format!("unsupported version {}; this router reads version 1", raw.version)));
        }
        let presets = presets();
        let mut catalog = Catalog::default();
        for (id, p) in raw.providers {
            let loc = format!("providers.{id}");
            let preset = match &p.preset {
                Some(name) => Some(presets.get(name).cloned().ok_or_else(|| {
                    err(format!("{loc}.preset"), format!("unknown preset \"{name}\"; known: {}", presets.keys().cloned().collect::<Vec<_>>().join(", ")))
                })?),
                None => None,
            };
            let base = preset.clone().unwrap_or_default();
            let kind = match (p.kind, &preset) {
                (Some(k), _) => k,
                (None, Some(_)) => ProviderKind::Openai,
                (None, None) => return Err(err(format!("{loc}.kind"), "is required (openai, anthropic, gemini or azure), or give a preset")),
            };
            let base_url = p.base_url.or(base.base_url).ok_or_else(|| err(format!("{loc}.base_url"), "is required"))?;
            if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                return Err(err(format!("{loc}.base_url"), "must start with https:// (or http://)"));
            }
            if p.no_key && p.key_secret.is_some() {
                return Err(err(format!("{loc}.no_key"), "conflicts with key_secret: give the secret's name, or no_key for a host that takes no key, not both"));
            }
            for (field, value) in [("timeout_ms", p.timeout_ms), ("answer_timeout_ms", p.answer_timeout_ms)] {
                if value.is_some_and(|ms| ms < MIN_TIMEOUT_MS) {
                    return Err(err(format!("{loc}.{field}"), format!("must be at least {MIN_TIMEOUT_MS} ms (0 is not \"no limit\": every call would be cut at once)")));
                }
            }
            let key_secret = if p.no_key { None } else { p.key_secret.or(base.key_secret) };
            // A key goes in every request's headers: over plain HTTP only to this machine (a
            // local Ollama or vLLM in development). A host without a key may take it anywhere.
            if key_secret.is_some() && base_url.starts_with("http://") && !crate::loopback::is_plain_http_to_loopback(&base_url) {
                return Err(err(format!("{loc}.base_url"), "must start with https:// for a provider with a key (plain http:// sends the key in the clear; it is allowed to localhost, or with \"no_key\": true)"));
            }
            if key_secret.is_none() && !p.no_key && preset.is_none() {
                return Err(err(format!("{loc}.key_secret"), "is required (the Worker secret holding the key), or set \"no_key\": true"));
            }
            if kind == ProviderKind::Azure && p.api_version.is_none() {
                return Err(err(format!("{loc}.api_version"), "is required for Azure OpenAI (e.g. \"2024-10-21\")"));
            }
            catalog.providers.insert(
                id.clone(),
                ProviderConfig {
                    id: id.clone(),
                    kind,
                    base_url: base_url.trim_end_matches('/').to_string(),
                    key_secret,
                    api_version: p.api_version,
                    region: p.region,
                    demo: p.demo,
                    timeout_ms: p.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
                    answer_timeout_ms: p.answer_timeout_ms.unwrap_or(DEFAULT_ANSWER_TIMEOUT_MS),
                    quirks: {
                        // A provider's own quirks replace its preset's, but OpenAI's own rules (for
                        // reasoning models, for the types it takes) stay with OpenAI's API: the
                        // openai preset's, and Azure's, which serves its models.
                        let preset = base.quirks.as_ref();
                        let openai_rules = preset.is_some_and(|q| q.openai_reasoning_params) || kind == ProviderKind::Azure;
                        let openai_types = preset.is_some_and(|q| q.openai_types_only) || kind == ProviderKind::Azure;
                        let mut q = p.quirks.or(base.quirks).unwrap_or_default();
                        q.openai_reasoning_params |= openai_rules;
                        q.openai_types_only |= openai_types;
                        q
                    },
                },
            );
        }
        for (name, m) in raw.models {
            let loc = format!("models.{name}");
            if m.deployments.is_empty() {
                return Err(err(format!("{loc}.deployments"), "must list at least one deployment"));
            }
            for (i, d) in m.deployments.iter().enumerate() {
                if !catalog.providers.contains_key(&d.provider) {
                    return Err(err(format!("{loc}.deployments[{i}].provider"), format!("unknown provider \"{}\"", d.provider)));
                }
            }
            let owned_by = m.owned_by.unwrap_or_else(|| m.deployments[0].provider.clone());
            catalog.models.insert(
                name.clone(),
                ModelEntry { price_key: m.price_key.unwrap_or_else(|| name.clone()), name, mode: m.mode, deployments: m.deployments, owned_by },
            );
        }
        for (alias, target) in &raw.aliases {
            if !catalog.models.contains_key(target) {
                // Aliases name models: one that names another alias is told which model to name.
                let why = match raw.aliases.get(target) {
                    Some(model) => format!("points at \"{target}\", which is an alias, not a model: aliases cannot point at aliases; point it at \"{model}\""),
                    None => format!("points at unknown model \"{target}\""),
                };
                return Err(err(format!("aliases.{alias}"), why));
            }
            if catalog.models.contains_key(alias) {
                return Err(err(format!("aliases.{alias}"), "shadows a model of the same name"));
            }
            catalog.aliases.insert(alias.clone(), target.clone());
        }
        Ok(catalog)
    }

    /// The model a client's name refers to, through an alias if needed.
    pub fn resolve(&self, requested: &str) -> Option<&ModelEntry> {
        let name = self.aliases.get(requested).map(String::as_str).unwrap_or(requested);
        self.models.get(name)
    }

    /// Whether the router may route a tenant limited to `allowed_models` (names of models or
    /// aliases; `None`: no limit) to the model named `model`: an allowed alias allows the model
    /// it serves, as the model's own name does.
    pub fn allows(&self, allowed_models: Option<&[String]>, model: &str) -> bool {
        allowed_models.is_none_or(|allowed| allowed.iter().any(|a| self.resolve(a).is_some_and(|m| m.name == model)))
    }

    /// Whether such a tenant may ask for a model by the name `requested`: a name it was given,
    /// or an alias of a model it was given. An allowed alias is not its model's other names: the
    /// operator may point it elsewhere later.
    pub fn allows_name(&self, allowed_models: Option<&[String]>, requested: &str) -> bool {
        let model = self.resolve(requested).map(|m| m.name.as_str());
        allowed_models.is_none_or(|allowed| allowed.iter().any(|a| a == requested || Some(a.as_str()) == model))
    }

    /// The pricing row of a model as usage records name it: by the name its provider serves it
    /// under (`llama-3.1-8b-instant`, an Azure deployment name), or by its catalog name.
    pub fn price_key_of_served(&self, served: &str) -> Option<&str> {
        let by_deployment = self.models.values().find_map(|m| m.deployments.iter().find(|d| d.upstream_model == served).map(|d| m.price_key_of(d)));
        by_deployment.or_else(|| self.resolve(served).map(|m| m.price_key.as_str()))
    }

    /// The catalog model usage records name by its served name (see `price_key_of_served`).
    pub fn model_of_served(&self, served: &str) -> Option<&ModelEntry> {
        self.models.values().find(|m| m.deployments.iter().any(|d| d.upstream_model == served)).or_else(|| self.resolve(served))
    }

    /// The one model, of those `may_use` lets through, that has a deployment on `provider` serving
    /// the name `served` (as usage records it); `None` when none or several do: a name a provider
    /// serves for two models cannot say which one a call was for.
    pub fn model_of_deployment(&self, provider: &str, served: &str, may_use: impl Fn(&str) -> bool) -> Option<&ModelEntry> {
        let mut found = self.models.values().filter(|m| may_use(&m.name) && m.deployments.iter().any(|d| d.provider == provider && d.upstream_model == served));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Every model and alias, for `/v1/models`.
    pub fn public_names(&self) -> impl Iterator<Item = (&str, &ModelEntry)> {
        self.models
            .iter()
            .map(|(n, m)| (n.as_str(), m))
            .chain(self.aliases.iter().filter_map(|(a, t)| self.models.get(t).map(|m| (a.as_str(), m))))
    }

    /// Checks that every chat/embedding model has a price, so no request is ever costed at zero by accident.
    pub fn check_prices(&self, prices: &crate::pricing::PriceTable) -> Result<(), CatalogError> {
        // A chat model's row with an input price and none for output (a forgotten `output`, read
        // as an embedding model's row) would bill and budget its answers at $0 and rank it first
        // in every `cheapest` rule. A free model (a local one) has neither.
        let unpriced_output = |key: &str| prices.get(key).is_some_and(|p| p.output_unstated && p.base.input > crate::money::Usd::ZERO);
        let no_output = |key: &str| format!("row \"{key}\" has an input price and no output price, for a chat model (its answers would cost $0)");
        for m in self.models.values() {
            if prices.get(&m.price_key).is_none() {
                return Err(err(format!("models.{}", m.name), format!("has no row \"{}\" in the pricing table", m.price_key)));
            }
            let chat = m.mode == ModelMode::Chat;
            if chat && unpriced_output(&m.price_key) {
                return Err(err(format!("models.{}", m.name), no_output(&m.price_key)));
            }
            for (i, d) in m.deployments.iter().enumerate() {
                if let Some(key) = d.price_key.as_deref().filter(|k| prices.get(k).is_none()) {
                    return Err(err(format!("models.{}.deployments[{i}].price_key", m.name), format!("has no row \"{key}\" in the pricing table")));
                }
                if let Some(key) = d.price_key.as_deref().filter(|k| chat && unpriced_output(k)) {
                    return Err(err(format!("models.{}.deployments[{i}].price_key", m.name), no_output(key)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"version":1,
      "providers":{
        "openai":{"preset":"openai"},
        "groq":{"preset":"groq","region":"us"},
        "anthropic":{"kind":"anthropic","base_url":"https://api.anthropic.com/v1/","key_secret":"ANTHROPIC_API_KEY"},
        "azure-eu":{"kind":"azure","base_url":"https://x.openai.azure.com/openai","key_secret":"AZURE_KEY","api_version":"2024-10-21","region":"eu"},
        "local":{"preset":"ollama"}
      },
      "models":{
        "gpt-4o-mini":{"deployments":[{"provider":"openai","upstream_model":"gpt-4o-mini"},{"provider":"azure-eu","upstream_model":"mini-deploy"}]},
        "llama-3.1-8b":{"deployments":[{"provider":"groq","upstream_model":"llama-3.1-8b-instant"}]}
      },
      "aliases":{"fast":"gpt-4o-mini"}}"#;

    #[test]
    fn loads_presets_and_resolves_aliases() {
        let c = Catalog::from_json(DOC).unwrap();
        let groq = &c.providers["groq"];
        assert_eq!(groq.kind, ProviderKind::Openai);
        assert_eq!(groq.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(groq.key_secret.as_deref(), Some("GROQ_API_KEY"));
        assert!(groq.quirks.unsupported_params.contains(&"logprobs".to_string()));
        assert_eq!(c.providers["anthropic"].base_url, "https://api.anthropic.com/v1");
        assert_eq!(c.providers["local"].key_secret, None);
        // Ollama's OpenAI endpoint ignores `n` and `logit_bias` (no such fields): refused, so a
        // candidate that honours them serves rather than one choice coming back for three.
        assert_eq!(c.providers["local"].quirks.unsupported_params, ["n", "logit_bias"]);
        // A stream must start within a minute; a whole answer may take five (half what the
        // OpenAI SDKs wait, so a fallback still has time).
        assert_eq!((groq.timeout_ms, groq.answer_timeout_ms), (60_000, 300_000));
        assert_eq!(c.resolve("fast").unwrap().name, "gpt-4o-mini");
        assert_eq!(c.price_key_of_served("gpt-4o-mini"), Some("gpt-4o-mini"));
        assert_eq!(c.price_key_of_served("mini-deploy"), Some("gpt-4o-mini"), "an Azure deployment name is priced as its model");
        assert_eq!(c.price_key_of_served("nope"), None);
        // Quirks of a provider's own keep OpenAI's reasoning-model rules for OpenAI and Azure.
        let own = Catalog::from_json(r#"{"version":1,"providers":{"o":{"preset":"openai","quirks":{"drop_params":["store"]}},
            "az":{"kind":"azure","base_url":"https://a.openai.azure.com/openai","key_secret":"AZ","api_version":"2024-10-21","quirks":{"drop_params":["x"]}},
            "g":{"preset":"groq","quirks":{"drop_params":["x"]}}},"models":{},"aliases":{}}"#).unwrap();
        assert!(own.providers["o"].quirks.openai_reasoning_params && own.providers["az"].quirks.openai_reasoning_params);
        assert!(!own.providers["g"].quirks.openai_reasoning_params);
        assert!(own.providers["o"].quirks.openai_types_only && own.providers["az"].quirks.openai_types_only);
        assert!(!own.providers["g"].quirks.openai_types_only);
        assert_eq!(own.providers["o"].quirks.drop_params, ["store"]);
        assert_eq!(c.public_names().count(), 3);
        assert!(c.resolve("nope").is_none());
    }

    #[test]
    fn a_deployment_retires_on_its_own_day_and_a_model_when_its_last_does() {
        let day = |s: &str| Date::parse(s).unwrap();
        let doc = DOC
            .replace(r#"{"provider":"openai","upstream_model":"gpt-4o-mini"}"#, r#"{"provider":"openai","upstream_model":"gpt-4o-mini","retires_on":"2027-01-14"}"#)
            .replace(r#"{"provider":"azure-eu","upstream_model":"mini-deploy"}"#, r#"{"provider":"azure-eu","upstream_model":"mini-deploy","retires_on":"2027-04-14"}"#);
        let c = Catalog::from_json(&doc).unwrap();
        let mini = c.resolve("fast").unwrap();
        assert_eq!(mini.deployments[0].retired_on(day("2027-01-13")), None);
        assert_eq!(mini.deployments[0].retired_on(day("2027-01-14")), Some(day("2027-01-14")), "the day named is the first day without it");
        assert_eq!(mini.retires_on(), Some(day("2027-04-14")));
        assert_eq!(mini.retired_on(day("2027-04-13")), None, "Azure still serves it");
        assert_eq!(mini.retired_on(day("2027-05-01")), Some(day("2027-04-14")));
        // One deployment without a day keeps the model served for good.
        let one_dated = Catalog::from_json(&DOC.replace(r#""upstream_model":"mini-deploy"}"#, r#""upstream_model":"mini-deploy","retires_on":"2027-04-14"}"#)).unwrap();
        assert_eq!(one_dated.resolve("fast").unwrap().retires_on(), None);
        assert_eq!(one_dated.resolve("fast").unwrap().retired_on(day("2030-01-01")), None);
        let bad = DOC.replace(r#""upstream_model":"mini-deploy"}"#, r#""upstream_model":"mini-deploy","retires_on":"2027-04-31"}"#);
        let e = Catalog::from_json(&bad).unwrap_err().to_string();
        assert!(e.contains("models.gpt-4o-mini.deployments[1].retires_on") && e.contains("must be a date written YYYY-MM-DD (2027-01-14), not \"2027-04-31\""), "{e}");
    }

    #[test]
    fn a_call_names_its_model_by_provider_and_served_name_only_when_one_model_has_that_deployment() {
        let doc = DOC.replace(
            r#""llama-3.1-8b":{"deployments":[{"provider":"groq","upstream_model":"llama-3.1-8b-instant"}]}"#,
            r#""llama-3.1-8b":{"deployments":[{"provider":"groq","upstream_model":"llama-3.1-8b-instant"}]},
               "a-fallback":{"price_key":"gpt-4o-mini","deployments":[{"provider":"groq","upstream_model":"gpt-4o-mini"},{"provider":"azure-eu","upstream_model":"mini-deploy"}]}"#,
        );
        let c = Catalog::from_json(&doc).unwrap();
        let everyone = |_: &str| true;
        let name = |provider: &str, served: &str, may_use: &dyn Fn(&str) -> bool| c.model_of_deployment(provider, served, may_use).map(|m| m.name.as_str());
        assert_eq!(name("openai", "gpt-4o-mini", &everyone), Some("gpt-4o-mini"));
        assert_eq!(name("groq", "gpt-4o-mini", &everyone), Some("a-fallback"), "the same served name on another provider is another deployment");
        assert_eq!(name("azure-eu", "mini-deploy", &everyone), None, "two models list that deployment");
        assert_eq!(name("azure-eu", "mini-deploy", &|m: &str| m != "a-fallback"), Some("gpt-4o-mini"), "of those the caller may use");
        assert_eq!(name("anthropic", "gpt-4o-mini", &everyone), None);
    }

    #[test]
    fn a_deployment_may_have_its_own_price() {
        let doc = DOC.replace(r#"{"provider":"azure-eu","upstream_model":"mini-deploy"}"#, r#"{"provider":"azure-eu","upstream_model":"mini-deploy","price_key":"gpt-4o-mini-data-zone"}"#);
        let c = Catalog::from_json(&doc).unwrap();
        assert_eq!(c.price_key_of_served("mini-deploy"), Some("gpt-4o-mini-data-zone"));
        assert_eq!(c.price_key_of_served("gpt-4o-mini"), Some("gpt-4o-mini"));
        let d = crate::routing::route_direct(&c, "gpt-4o-mini", ModelMode::Chat, None, |_| true, crate::calendar::Date { days: 0 }).unwrap();
        let keys: Vec<&str> = d.candidates.iter().map(|c| c.price_key.as_str()).collect();
        assert_eq!(keys, ["gpt-4o-mini", "gpt-4o-mini-data-zone"]);
        let prices = crate::pricing::PriceTable::from_json(r#"{"models":{"gpt-4o-mini":{"input":0.15,"output":0.6},"llama-3.1-8b":{"input":0.05,"output":0.08}}}"#).unwrap();
        let e = c.check_prices(&prices).unwrap_err();
        // A chat model's row missing its output price is refused; an embedding row needs none.
        let forgot = crate::pricing::PriceTable::from_json(r#"{"models":{"gpt-4o-mini":{"input":0.15},"llama-3.1-8b":{"input":0,"output":0}}}"#).unwrap();
        let refused = c.check_prices(&forgot).unwrap_err().to_string();
        assert!(refused.contains("models.gpt-4o-mini") && refused.contains("no output price"), "{refused}");
        // A stated 0 is a price (a router model billed per call, a flat-priced one).
        let stated = crate::pricing::PriceTable::from_json(r#"{"models":{"gpt-4o-mini":{"input":0.15,"output":0},"llama-3.1-8b":{"input":0.05,"output":0.08}}}"#).unwrap();
        assert!(Catalog::from_json(DOC).unwrap().check_prices(&stated).is_ok());
        assert!(e.to_string().contains("models.gpt-4o-mini.deployments[1].price_key: has no row \"gpt-4o-mini-data-zone\""), "{e}");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_what_to_do() {
        let refused = |from: &str, to: &str| Catalog::from_json(&DOC.replace(from, to)).unwrap_err().to_string();
        let both = refused(r#""local":{"preset":"ollama"}"#, r#""local":{"preset":"ollama","key_secret":"K","no_key":true}"#);
        assert!(both.contains("providers.local.no_key") && both.contains("conflicts with key_secret"), "{both}");
        let zero = refused(r#""local":{"preset":"ollama"}"#, r#""local":{"preset":"ollama","timeout_ms":0}"#);
        assert!(zero.contains("providers.local.timeout_ms") && zero.contains("at least 100 ms"), "{zero}");
        let answer = refused(r#""local":{"preset":"ollama"}"#, r#""local":{"preset":"ollama","answer_timeout_ms":5}"#);
        assert!(answer.contains("answer_timeout_ms"), "{answer}");
        let twice = refused(r#""local":{"preset":"ollama"}"#, r#""local":{"preset":"ollama"}, "local":{"preset":"ollama","region":"eu"}"#);
        assert!(twice.contains("providers.local") && twice.contains("appears twice"), "{twice}");
        let chain = refused(r#""aliases":{"fast":"gpt-4o-mini"}"#, r#""aliases":{"quick":"fast","fast":"gpt-4o-mini"}"#);
        assert!(chain.contains("aliases.quick") && chain.contains("which is an alias") && chain.contains("point it at \"gpt-4o-mini\""), "{chain}");
    }

    #[test]
    fn an_allowed_alias_allows_routing_to_its_model_and_asking_by_its_own_name() {
        let c = Catalog::from_json(DOC).unwrap();
        let alias_of_mini: Vec<String> = c.aliases.iter().filter(|(_, m)| *m == "gpt-4o-mini").map(|(a, _)| a.clone()).take(1).collect();
        assert_eq!(alias_of_mini.len(), 1, "the test catalog has an alias of gpt-4o-mini");
        assert!(c.allows(Some(&alias_of_mini), "gpt-4o-mini"));
        assert!(c.allows(None, "gpt-4o-mini"));
        assert!(!c.allows(Some(&["gpt-4o-mini".to_string()]), "llama-3.1-8b"));
        // A client asks by the names it was given: an allowed model's aliases too, but not the
        // model behind an allowed alias (the operator may point the alias elsewhere).
        assert!(c.allows_name(Some(&alias_of_mini), &alias_of_mini[0]));
        assert!(!c.allows_name(Some(&alias_of_mini), "gpt-4o-mini"));
        assert!(crate::routing::route_direct(&c, &alias_of_mini[0], ModelMode::Chat, Some(&["gpt-4o-mini".to_string()]), |_| true, crate::calendar::Date { days: 0 }).is_ok());
        assert_eq!(crate::routing::route_direct(&c, "gpt-4o-mini", ModelMode::Chat, Some(&alias_of_mini), |_| true, crate::calendar::Date { days: 0 }).unwrap_err().status, 404);
    }

    #[test]
    fn regions_compare_without_case() {
        let c = Catalog::from_json(DOC).unwrap();
        let eu = &c.providers["azure-eu"];
        assert!(eu.serves_regions(&["EU".to_string()]) && eu.serves_regions(&["eu".to_string()]) && eu.serves_regions(&[]));
        assert!(!eu.serves_regions(&["us".to_string()]));
    }

    #[test]
    fn errors_point_at_the_entry() {
        let cases = [
            (DOC.replace(r#""provider":"groq""#, r#""provider":"grok""#), "models.llama-3.1-8b.deployments[0].provider"),
            (DOC.replace(r#""preset":"groq""#, r#""preset":"grok""#), "providers.groq.preset"),
            (DOC.replace(r#","api_version":"2024-10-21""#, ""), "providers.azure-eu.api_version"),
            (DOC.replace(r#""fast":"gpt-4o-mini""#, r#""fast":"gpt-5""#), "aliases.fast"),
            (DOC.replace(r#""region":"us""#, r#""regoin":"us""#), "providers.groq"),
            // A key in the clear over the network.
            (DOC.replace("https://api.anthropic.com/v1/", "http://api.anthropic.com/v1/"), "providers.anthropic.base_url"),
        ];
        for (doc, location) in cases {
            let e = Catalog::from_json(&doc).unwrap_err();
            assert!(e.location.starts_with(location), "{location}: got {e}");
        }
        // Plain http: to this machine, or to a host that takes no key.
        Catalog::from_json(&DOC.replace("https://api.anthropic.com/v1/", "http://127.0.0.1:8000/v1/")).unwrap();
        Catalog::from_json(&DOC.replace(r#""local":{"preset":"ollama"}"#, r#""local":{"preset":"ollama","base_url":"http://gpu-box.example.net:11434/v1"}"#)).unwrap();
    }
}
