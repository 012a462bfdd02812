//! The pricing table and the exact cost of a request.
//!
//! Pricing is data (`kv-seed/pricing.json`, stored in KV under `pricing`), validated when loaded.
//! Two entry formats are accepted, so people can bring the table they already keep:
//! - ours: prices in USD per million tokens (`input`, `output`, `cached_input`, `cache_write`,
//!   `cache_write_1h` or `cache_write_12h`, `tiers`, `off_peak`, `batch_discount`, `context_window`, `max_output_tokens`);
//! - LiteLLM's `model_prices_and_context_window.json` entries (`input_cost_per_token`,
//!   `output_cost_per_token`, `cache_read_input_token_cost`, `cache_creation_input_token_cost`,
//!   `cache_creation_input_token_cost_above_1hr` (`_above_12hr`), `input_cost_per_token_above_200k_tokens`,
//!   `max_input_tokens`, `off_peak_pricing`, ...), recognised per entry.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::money::Usd;
use crate::usage::{ServiceTier, Usage};

/// Per-token prices for one band of prompt sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub input: Usd,
    pub output: Usd,
    pub cached_input: Usd,
    pub cache_write: Usd,
    /// Writes with the provider's longer lifetime (Anthropic's one hour, `ttl: "1h"`; OpenAI's
    /// twelve hours, priced as `cache_write_12h`); `cache_write` when not given.
    pub cache_write_1h: Usd,
}

impl Rates {
    /// These rates' cache prices scaled as `input` is to their own input price: a tier that
    /// names only its input price keeps the base band's cache discount (OpenAI's priority gpt-4o:
    /// 4.25 input, so 2.125 cached, as 2.5 and 1.25 at standard).
    fn cache_prices_at(&self, input: Usd) -> Rates {
        let scale = |price: Usd| in_proportion(price, self.input, input);
        Rates { input, output: self.output, cached_input: scale(self.cached_input), cache_write: scale(self.cache_write), cache_write_1h: scale(self.cache_write_1h) }
    }

    /// These rates (a processing tier's) with a long-context band's surcharge over the base band,
    /// price by price: a tier the table gives no price in the band for still pays the band's
    /// premium (GPT-5.5 at priority past 272k: 10 → 20 input, as 5 → 10 at standard).
    fn with_surcharge(&self, base: &Rates, band: &Rates) -> Rates {
        Rates {
            input: in_proportion(self.input, base.input, band.input),
            output: in_proportion(self.output, base.output, band.output),
            cached_input: in_proportion(self.cached_input, base.cached_input, band.cached_input),
            cache_write: in_proportion(self.cache_write, base.cache_write, band.cache_write),
            cache_write_1h: in_proportion(self.cache_write_1h, base.cache_write_1h, band.cache_write_1h),
        }
    }
}

/// A price band that applies when a request's prompt is larger than `above_input_tokens`
/// (Gemini 2.5 Pro and Claude's 1M context both charge more past 200k).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tier {
    pub above_input_tokens: u64,
    pub rates: Rates,
    /// The processing tiers' rates in this band, where the table gives them (LiteLLM's
    /// `..._above_272k_tokens_priority`); without them a tier's rates carry the band's surcharge.
    pub service_tiers: ServiceTierRates,
}

/// The rates of OpenAI's processing tiers beside standard, of a row or of one of its bands, where
/// the table gives them (`service_tiers` in our format; LiteLLM's `..._priority`, `..._flex` and
/// `..._ultrafast` keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServiceTierRates {
    pub priority: Option<Rates>,
    pub flex: Option<Rates>,
    pub ultrafast: Option<Rates>,
}

impl ServiceTierRates {
    /// `tier`'s own rates; none for standard, or a tier the table does not price.
    pub fn of(&self, tier: ServiceTier) -> Option<Rates> {
        match tier {
            ServiceTier::Standard => None,
            ServiceTier::Priority => self.priority,
            ServiceTier::Flex => self.flex,
            ServiceTier::Ultrafast => self.ultrafast,
        }
    }

    fn set(&mut self, tier: ServiceTier, rates: Option<Rates>) {
        match tier {
            ServiceTier::Standard => {}
            ServiceTier::Priority => self.priority = rates,
            ServiceTier::Flex => self.flex = rates,
            ServiceTier::Ultrafast => self.ultrafast = rates,
        }
    }

    pub fn is_empty(&self) -> bool {
        ServiceTier::PRICED.iter().all(|(tier, _)| self.of(*tier).is_none())
    }
}

/// Rates a row bills instead of its base ones at some hours of the week (DeepSeek bills half
/// off-peak): `off_peak` in our format, LiteLLM's `off_peak_pricing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffPeak {
    pub rates: Rates,
    pub windows: Vec<Window>,
    /// The zone the windows' weekdays are counted in (their hours stay UTC), where it is not UTC:
    /// LiteLLM's `weekday_timezone` (its Tencent rows count Beijing's days).
    pub weekday_zone: Option<crate::routing::local_time::Zone>,
}

/// Hours of some days of the week, in UTC (the days in the off-peak block's `weekday_zone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// ISO weekdays, 1 (Monday) to 7 (Sunday).
    pub weekdays: Vec<u8>,
    /// Minutes of the day, `[from, to)`; one that ends at 00:00 runs to midnight (1440).
    pub minutes: Vec<(u16, u16)>,
}

impl OffPeak {
    fn covers(&self, unix_secs: i64) -> bool {
        let weekday = match &self.weekday_zone {
            Some(zone) => zone.local(unix_secs).weekday + 1,
            None => crate::calendar::iso_weekday(unix_secs.div_euclid(86_400)) as u8,
        };
        let minute = (unix_secs.rem_euclid(86_400) / 60) as u16;
        self.windows.iter().any(|w| w.weekdays.contains(&weekday) && w.minutes.iter().any(|&(from, to)| (from..to).contains(&minute)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelPrice {
    pub base: Rates,
    /// Ascending by threshold.
    pub tiers: Vec<Tier>,
    /// Batch API discount in parts per million of the price (0.5 → 500_000).
    pub batch_discount_ppm: u32,
    /// The most tokens of prompt and output together (`max_tokens` counts against it, as
    /// OpenAI, Anthropic and DeepSeek check it).
    pub context_window: Option<u64>,
    /// The most tokens of prompt alone, where a provider limits it apart from the window: gpt-5.4
    /// mini takes 272,000 of its 400,000 as prompt, Gemini 1,048,576 of prompt beside 65,536 of
    /// output. Read from our format only: LiteLLM's `max_input_tokens` is also its whole window
    /// for the models that have one (gpt-4o: 128,000), so it stays read as `context_window`.
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Price per output token when the model reasons; most providers bill reasoning as output.
    pub reasoning: Option<Usd>,
    /// The most tokens one input image can cost (gpt-4o-mini bills a large image as ~48k
    /// tokens); budget reservations assume a default allowance without it.
    pub max_image_tokens: Option<u64>,
    /// The model thinks before it answers (reasoning tokens) at a request's `reasoning_effort`,
    /// sent as the client wrote it (OpenAI's o-series and gpt-5, DeepSeek V4, Gemini 2.5): it is
    /// estimated with reasoning, and a savings baseline on a model that does not leaves out the
    /// reasoning tokens of one that does (unless the request asked the baseline model to think,
    /// `receipt::requested_model_reasoning_limit`). See [`ModelPrice::reasons_at`].
    pub supports_reasoning: bool,
    /// The effort such a model runs at when a request names none (LiteLLM's
    /// `default_reasoning_effort`): gpt-5.1 and later default to "none", answering at once unless
    /// asked to think, and then take `temperature` and `logprobs` as other models do.
    pub default_reasoning_effort: Option<String>,
    /// The efforts the model takes, in [`REASONING_EFFORTS`]' order (`reasoning_efforts` in our
    /// format, LiteLLM's `supports_<effort>_reasoning_effort` flags); `None`: not stated, and an
    /// effort is sent as asked. o4-mini takes `low`, `medium` and `high` and refuses `none`;
    /// gpt-5.4-mini refuses `minimal`. See [`ModelPrice::effort_at`].
    pub reasoning_efforts: Option<Vec<&'static str>>,
    /// Whether the model takes images (`None`: not stated). A model stated not to is passed over
    /// for a request with images (routing, budget downgrades).
    pub supports_vision: Option<bool>,
    /// Whether the model takes a JSON schema to answer in (`response_format` of type
    /// `json_schema`; `None`: not stated). A model stated not to is passed over for a request
    /// with one, as for images: Groq's Llama models and DeepSeek take JSON mode only, and refuse.
    pub supports_response_schema: Option<bool>,
    /// The row gives no output price (an embedding model's shape): a chat model's row must
    /// (`Catalog::check_prices`); a stated 0 (a free or flat-priced model) is a price.
    #[serde(skip)]
    pub output_unstated: bool,
    /// Rates of OpenAI's processing tiers (priority, flex, ultrafast); a tier without its own
    /// rates is priced as standard.
    pub service_tiers: ServiceTierRates,
    /// Audio input (Gemini 2.5 Flash: $1.00 a million against $0.30 for text), uncached and
    /// cached; audio tokens cost the text prices without them.
    pub audio_input: Option<Usd>,
    pub cached_audio_input: Option<Usd>,
    /// Audio output (gpt-4o-audio-preview: $80 a million against $10 for text); audio costs the
    /// text output price without it.
    pub audio_output: Option<Usd>,
    /// Rates in place of `base` for a call sent in one of its windows ([`ModelPrice::at`]); a
    /// row with `tiers` or processing-tier rates has none.
    pub off_peak: Option<OffPeak>,
}

impl ModelPrice {
    /// Whether the model thinks on a request asking for `reasoning_effort`: one that reasons
    /// (`supports_reasoning`) does, unless that effort, or its default when the request names
    /// none, is "none".
    pub fn reasons_at(&self, reasoning_effort: Option<&str>) -> bool {
        self.supports_reasoning && self.effort_at(reasoning_effort) != Some("none")
    }

    /// The effort a request asking for `reasoning_effort` runs at: as asked, else the model's
    /// default; an effort the model does not take (its [`ModelPrice::reasoning_efforts`]) as the
    /// least it takes above it, so it never thinks less than asked (o4-mini asked for `minimal`
    /// thinks at `low`, as gpt-5.4-mini does), or above all it takes as its most (o4-mini at
    /// `xhigh`: `high`). A request is sent that effort (where the router sends the client's effort
    /// as it is: `edge::chat::effort_sent_instead`), planned and held by it. `none` is never
    /// raised: a client that turned reasoning off is not billed for it ([`Self::refuses_effort`]).
    /// An effort that is none of [`REASONING_EFFORTS`] (a host's own, such as Qwen's `default`)
    /// is left as asked.
    pub fn effort_at<'a>(&'a self, reasoning_effort: Option<&'a str>) -> Option<&'a str> {
        let asked = reasoning_effort.or(self.default_reasoning_effort.as_deref())?;
        let (Some(taken), Some(rank)) = (&self.reasoning_efforts, effort_rank(asked)) else {
            return Some(asked);
        };
        if taken.contains(&asked) || asked == "none" {
            return Some(asked);
        }
        // Never down to `none`, the off switch rather than a strength.
        taken.iter().copied().find(|e| effort_rank(e) > Some(rank)).or_else(|| taken.iter().copied().rfind(|e| *e != "none")).or(Some(asked))
    }

    /// The effort to send this model in place of the request's own (`asked`; `None`: the model's
    /// default), if another: where the output cap leaves no room to think beside an answer
    /// (under twice [`crate::providers::ANSWER_ROOM_BESIDE_THINKING`], 2,048 tokens, as the
    /// Anthropic and Gemini adapters and DeepSeek's thinking switch judge it: the model counts its
    /// thinking inside the cap, and a label capped at 50 tokens would come back empty, cut at
    /// `length`), the least effort it takes, when `may_lower` (the client asked for none, or a rule
    /// chose the model: an effort the client set on the model it named is its own choice); else
    /// [`Self::effort_at`]'s fit of an effort it does not take.
    pub fn effort_in_place_of<'a>(&'a self, asked: Option<&'a str>, output_cap: Option<u64>, may_lower: bool) -> Option<&'a str> {
        if !self.supports_reasoning {
            return None;
        }
        let no_room = output_cap.is_some_and(|cap| cap < 2 * crate::providers::ANSWER_ROOM_BESIDE_THINKING);
        if let (true, true, Some(least)) = (no_room, may_lower, self.reasoning_efforts.as_ref().and_then(|t| t.first().copied())) {
            // Sent as asked, or (asking none) at its default: whether that is already the least.
            return (asked.or(self.default_reasoning_effort.as_deref()) != Some(least)).then_some(least);
        }
        let asked = asked?;
        self.effort_at(Some(asked)).filter(|sent| *sent != asked)
    }

    /// Whether the model refuses the effort a request asks for, which [`Self::effort_at`] does
    /// not raise: `none` on a model that always reasons (o4-mini), by its `reasoning_efforts`.
    pub fn refuses_effort(&self, reasoning_effort: Option<&str>) -> bool {
        reasoning_effort == Some("none") && self.reasoning_efforts.as_ref().is_some_and(|taken| !taken.contains(&"none"))
    }
}

/// The `reasoning_effort` values a pricing row's `default_reasoning_effort` and
/// `reasoning_efforts` may name (OpenAI's, and Anthropic's `max`), from the least thinking to
/// the most.
const REASONING_EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh", "max"];

/// Where `effort` stands in [`REASONING_EFFORTS`], if it is one of them.
fn effort_rank(effort: &str) -> Option<usize> {
    REASONING_EFFORTS.iter().position(|e| *e == effort)
}

/// `effort` as the [`REASONING_EFFORTS`] entry it names, if it names one.
fn known_effort(effort: &str) -> Option<&'static str> {
    effort_rank(effort).map(|i| REASONING_EFFORTS[i])
}

/// A row's `reasoning_efforts` (our format): a list of [`REASONING_EFFORTS`], each once, on a
/// model that reasons, holding its `default_reasoning_effort`; kept in that order.
fn reasoning_efforts(model: &str, entry: &Map<String, Value>, supports_reasoning: bool, default: Option<&str>) -> Result<Option<Vec<&'static str>>, PricingError> {
    let field = "reasoning_efforts";
    let list = match entry.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(other) => return Err(field_err(model, field, format!("must be a list of the efforts the model takes, such as [\"low\", \"medium\", \"high\"], got {other}"))),
    };
    if !supports_reasoning {
        return Err(field_err(model, field, "is given on a row without supports_reasoning: true (a model that does not reason is sent no effort)"));
    }
    let provider = entry.get("provider").and_then(Value::as_str).unwrap_or("");
    if translates_efforts(provider, model) {
        return Err(field_err(model, field, "is given on a Claude or Gemini row: the router turns an effort into those models' thinking settings itself"));
    }
    let mut taken = Vec::new();
    for value in list {
        let effort = value.as_str().and_then(known_effort);
        match effort {
            Some(e) if taken.contains(&e) => return Err(field_err(model, field, format!("names \"{e}\" twice"))),
            Some(e) => taken.push(e),
            None => return Err(field_err(model, field, format!("must name efforts among {}, got {value}", REASONING_EFFORTS.join(", ")))),
        }
    }
    if let Some(default) = default.filter(|d| !taken.contains(d)) {
        return Err(field_err(model, "default_reasoning_effort", format!("\"{default}\" is not among reasoning_efforts ({})", taken.join(", "))));
    }
    taken.sort_by_key(|e| effort_rank(e));
    Ok(Some(taken))
}

/// Whether the router turns a request's effort into `provider`'s own thinking settings for
/// `model` (the Anthropic and Gemini adapters, by model), so that a list of efforts on its row
/// would be read by nothing that sends.
fn translates_efforts(provider: &str, model: &str) -> bool {
    let (provider, model) = (provider.to_ascii_lowercase(), model.to_ascii_lowercase());
    ["anthropic", "gemini", "vertex_ai"].iter().any(|p| provider.starts_with(p)) || model.contains("claude") || model.contains("gemini")
}

/// The efforts a LiteLLM row says its model takes: its `reasoning_effort_levels` list, which
/// says it whole, else its `supports_<effort>_reasoning_effort` flags, read as LiteLLM reads
/// them: `medium` and `high` always, `none`, `minimal` and `low` unless a flag says false (on
/// `azure`, `none` only where a flag says true), `xhigh` and `max` only where one says true. A
/// row with neither states nothing (`None`): LiteLLM would credit it `none` and `minimal`, which
/// o4-mini refuses. Not read for Claude and Gemini models, whose efforts the router translates
/// by model itself; LiteLLM's fallback from a provider's row to the unprefixed one is not made.
fn litellm_reasoning_efforts(model: &str, entry: &Map<String, Value>, supports_reasoning: bool, default: Option<&str>) -> Result<Option<Vec<&'static str>>, PricingError> {
    let provider = entry.get("litellm_provider").and_then(Value::as_str).unwrap_or("");
    if !supports_reasoning || translates_efforts(provider, model) {
        return Ok(None);
    }
    // A default the list leaves out is one the model takes (LiteLLM's rows are written apart).
    let with_default = |mut taken: Vec<&'static str>| {
        if let Some(d) = default.and_then(known_effort).filter(|d| !taken.contains(d)) {
            taken.push(d);
            taken.sort_by_key(|e| effort_rank(e));
        }
        taken
    };
    match entry.get("reasoning_effort_levels") {
        None | Some(Value::Null) => {}
        Some(Value::Array(levels)) => {
            // Levels beyond OpenAI's and Anthropic's names (a host's own) are not sent in place of another.
            let taken: Vec<&'static str> = REASONING_EFFORTS.iter().copied().filter(|e| levels.iter().any(|l| l.as_str() == Some(e))).collect();
            return Ok(Some(with_default(taken)).filter(|t| !t.is_empty()));
        }
        Some(other) => return Err(field_err(model, "reasoning_effort_levels", format!("must be a list of efforts, got {other}"))),
    }
    let mut flags = Vec::new();
    for effort in REASONING_EFFORTS {
        flags.push((*effort, stated_flag(model, entry, &format!("supports_{effort}_reasoning_effort"))?));
    }
    if flags.iter().all(|(_, flag)| flag.is_none()) {
        return Ok(None);
    }
    let azure = provider == "azure";
    let taken: Vec<&'static str> = flags
        .into_iter()
        .filter(|(effort, flag)| match (*effort, flag) {
            (_, Some(stated)) => *stated,
            ("medium" | "high", None) => true,
            ("none", None) => !azure,
            ("minimal" | "low", None) => true,
            _ => false,
        })
        .map(|(effort, _)| effort)
        .collect();
    Ok(Some(with_default(taken)).filter(|t| !t.is_empty()))
}

/// A row's `default_reasoning_effort`, one of [`REASONING_EFFORTS`].
fn reasoning_effort(model: &str, entry: &Map<String, Value>) -> Result<Option<String>, PricingError> {
    let field = "default_reasoning_effort";
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if known_effort(s).is_some() => Ok(Some(s.clone())),
        Some(other) => Err(field_err(model, field, format!("must be one of {}, got {other}", REASONING_EFFORTS.join(", ")))),
    }
}

/// A cost with the parts that made it, for headers, events and explanations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    pub input: Usd,
    pub cached_input: Usd,
    pub cache_write: Usd,
    pub output: Usd,
    /// What the host charged beyond (or, negative, short of) the parts at this row's prices,
    /// when it said what it charged ([`Usage::billed`]).
    pub billed_difference: Usd,
    pub total: Usd,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    #[error("pricing: the document is not valid JSON: {0}")]
    Json(String),
    #[error("pricing: expected an object with a \"models\" object (or a LiteLLM model map at the top level)")]
    Shape,
    /// The document's own fields (`version`, `models`).
    #[error("pricing: {0}")]
    Document(String),
    #[error("pricing: model \"{model}\": field \"{field}\": {problem}")]
    Field { model: String, field: String, problem: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    /// What loaded but does not work as written: `costrouter policy check` fails on these (so
    /// `make seed-remote` pushes nothing), the worker logs them and serves the rest (a document
    /// stored before a check existed keeps serving after a deploy).
    #[serde(skip)]
    pub defects: Vec<String>,
}

fn field_err(model: &str, field: &str, problem: impl Into<String>) -> PricingError {
    PricingError::Field { model: model.to_string(), field: field.to_string(), problem: problem.into() }
}

impl PriceTable {
    /// Parses `{"version":1,"models":{...}}`, or a bare LiteLLM map (`{"gpt-4o": {...}, ...}`).
    pub fn from_json(text: &str) -> Result<PriceTable, PricingError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| PricingError::Json(e.to_string()))?;
        let root = doc.as_object().ok_or(PricingError::Shape)?;
        // Our own format refuses a repeated key; LiteLLM's file has shipped with some, and is
        // read as LiteLLM reads it (the last one counts) rather than refused whole.
        if root.get("models").is_some_and(Value::is_object) {
            if let Some(path) = crate::json_duplicates::first_duplicate_key(text) {
                return Err(PricingError::Document(format!("{path} appears twice in its object (JSON keeps only the last; merge or rename them)")));
            }
        }
        // Our format says its version; a LiteLLM map has none (a model named "version" would be
        // an object).
        if let Some(version) = root.get("version").filter(|v| !v.is_object()) {
            if version.as_u64() != Some(1) {
                return Err(PricingError::Document(format!("\"version\" is {version}; this router reads version 1")));
            }
            if !root.get("models").is_some_and(Value::is_object) {
                return Err(PricingError::Document("\"models\" is required: the prices go under it ({\"version\": 1, \"models\": {\"gpt-4o-mini\": {...}}})".into()));
            }
        }
        let models = match root.get("models") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(PricingError::Shape),
            None => root,
        };
        // Our format keeps its rows under "models"; LiteLLM's file is the rows themselves.
        let versioned = root.get("models").is_some_and(Value::is_object);
        let mut table = PriceTable::default();
        let mut aliases: Vec<(&String, &str)> = Vec::new();
        for (name, entry) in models {
            // LiteLLM's file starts with a "sample_spec" documentation entry.
            if name == "sample_spec" {
                continue;
            }
            let entry = entry.as_object().ok_or_else(|| field_err(name, "", "must be an object"))?;
            // LiteLLM names some models as another's (`"bedrock/claude-fable-latest": {"alias_of":
            // "global.anthropic.claude-fable-5-1"}`): priced as that row, once all are read.
            if !versioned {
                if let Some(target) = entry.get("alias_of").and_then(Value::as_str) {
                    aliases.push((name, target));
                    continue;
                }
                // Nor is every entry of LiteLLM's file a model: one with no price of either
                // format (its `fallback_generalizations`, routing rules) is its own metadata.
                if !entry.keys().any(|k| k == "input" || k == "output" || k.contains("_cost_per_")) {
                    continue;
                }
            }
            let price = if entry.contains_key("input_cost_per_token") || entry.contains_key("output_cost_per_token") {
                // In our own document a LiteLLM-shaped row (one copied in) may not carry our
                // fields too: LiteLLM's reader knows none of them, so `context_window` or
                // `cached_input` added by hand would be dropped without a word.
                if versioned {
                    if let Some(ours) = entry.keys().find(|k| NATIVE_ONLY_FIELDS.contains(&k.as_str())) {
                        table.defects.push(field_err(name, ours, "is a field of this router's format, in a row priced in LiteLLM's (input_cost_per_token, ...), and is ignored: write the row in one format").to_string());
                    }
                }
                parse_litellm(name, entry)?
            } else if entry.contains_key("litellm_provider") {
                // A LiteLLM entry priced per image, second or query (image generation, speech,
                // rerank): nothing the router calls, and nothing it could price per token.
                continue;
            } else {
                parse_native(name, entry)?
            };
            table.models.insert(name.clone(), price);
        }
        // An alias of an alias is followed (a few steps); one naming no priced row is left out,
        // as an entry priced per image is.
        for _ in 0..4 {
            let resolved: Vec<(String, ModelPrice)> = aliases.iter().filter_map(|(name, target)| Some(((*name).clone(), table.models.get(*target)?.clone()))).collect();
            let done = resolved.len();
            for (name, price) in resolved {
                table.models.insert(name, price);
            }
            aliases.retain(|(name, _)| !table.models.contains_key(*name));
            if aliases.is_empty() || done == 0 {
                break;
            }
        }
        Ok(table)
    }

    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model)
    }

}

/// What a request asks of a model beyond room for it ([`ModelPrice::lacks`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub images: bool,
    /// A `response_format` of type `json_schema`.
    pub schema: bool,
}

impl ModelPrice {
    /// What `needs` asks that this model is stated not to do, as a routing note ("does not take
    /// images"). An unstated capability is assumed: the provider's own refusal then moves the
    /// request on to the next candidate (`providers::Rejection::Unsupported`).
    pub fn lacks(&self, needs: Needs) -> Option<&'static str> {
        if needs.images && self.supports_vision == Some(false) {
            return Some("does not take images");
        }
        if needs.schema && self.supports_response_schema == Some(false) {
            return Some("does not take a JSON schema (response_format json_schema)");
        }
        None
    }

    /// Cached audio prompt tokens: their own price, or the audio price discounted as cached text
    /// is (Gemini 2.5 Flash: 1.00 → 0.10, as 0.30 → 0.03), never the full audio price.
    fn cached_audio_input_rate(&self, rates: &Rates) -> Usd {
        match (self.cached_audio_input, self.audio_input) {
            (Some(cached), _) => cached,
            (None, Some(audio)) if rates.input.0 > 0 => Usd((audio.0 as i128 * rates.cached_input.0 as i128 / rates.input.0 as i128) as i64),
            _ => rates.cached_input,
        }
    }

    /// This row as billed for a call sent at `unix_secs`: its off-peak rates in place of its base
    /// ones inside an off-peak window, else the row itself. Only for what a call is charged (and
    /// its baseline, at the same moment): reservations, bounds and estimates price the row as it
    /// is, at its standard rates, never below the bill.
    pub fn at(&self, unix_secs: i64) -> Cow<'_, ModelPrice> {
        match &self.off_peak {
            Some(off_peak) if off_peak.covers(unix_secs) => Cow::Owned(ModelPrice { base: off_peak.rates, off_peak: None, ..self.clone() }),
            _ => Cow::Borrowed(self),
        }
    }

    /// The rates that apply to a prompt of `input_tokens` tokens.
    pub fn rates_for(&self, input_tokens: u64) -> Rates {
        self.band_for(input_tokens).map(|t| t.rates).unwrap_or(self.base)
    }

    fn band_for(&self, input_tokens: u64) -> Option<&Tier> {
        self.tiers.iter().rev().find(|t| input_tokens > t.above_input_tokens)
    }

    /// The rates a prompt of `input_tokens` tokens pays at processing tier `tier`. Inside a
    /// long-context band a tier pays the band's own price for it where the table gives one, else
    /// its rates with the band's surcharge; a tier without rates of its own is priced as standard.
    pub fn rates_at(&self, tier: ServiceTier, input_tokens: u64) -> Rates {
        let tier_rates = self.service_tiers.of(tier);
        match self.band_for(input_tokens) {
            None => tier_rates.unwrap_or(self.base),
            Some(band) => band.service_tiers.of(tier)
                .or_else(|| tier_rates.map(|r| r.with_surcharge(&self.base, &band.rates)))
                .unwrap_or(band.rates),
        }
    }

    /// The most prompt tokens the provider takes: its prompt limit or its whole window, the lower.
    pub fn prompt_limit(&self) -> Option<u64> {
        match (self.max_input_tokens, self.context_window) {
            (Some(prompt), Some(window)) => Some(prompt.min(window)),
            (prompt, window) => prompt.or(window),
        }
    }

    /// Why this model cannot take a prompt of `prompt_tokens` with `output_tokens` of output
    /// expected, whose client caps the output at `max_output`, if it cannot: its provider would
    /// refuse the request with a 400, which ends a fallback chain.
    pub fn cannot_take(&self, prompt_tokens: u64, output_tokens: u64, max_output: Option<u64>) -> Option<String> {
        if let Some(limit) = self.max_input_tokens.filter(|&l| prompt_tokens > l) {
            return Some(format!("takes at most {limit} prompt tokens < {prompt_tokens}"));
        }
        let window_tokens = prompt_tokens.saturating_add(output_tokens);
        if let Some(window) = self.context_window.filter(|&w| window_tokens > w) {
            return Some(format!("window {window} < {window_tokens} tokens"));
        }
        match (self.max_output_tokens, max_output) {
            (Some(cap), Some(wanted)) if wanted > cap => Some(format!("writes at most {cap} tokens < max_tokens {wanted}")),
            _ => None,
        }
    }

    /// The exact cost of one request's usage. Reasoning tokens are part of `output_tokens` and
    /// billed at the output price unless the table gives them their own.
    pub fn cost(&self, usage: &Usage, batch: bool) -> Cost {
        let rates = self.rates_at(usage.service_tier, usage.input_tokens);
        let (plain_output, reasoning) = match self.reasoning {
            Some(_) => (usage.output_tokens.saturating_sub(usage.reasoning_tokens), usage.reasoning_tokens),
            None => (usage.output_tokens, 0),
        };
        let audio_output = usage.audio_output_tokens.min(plain_output);
        let audio = usage.uncached_audio_input_tokens();
        let cached_audio = usage.cached_audio_input_tokens.min(usage.cached_input_tokens);
        let mut cost = Cost {
            input: rates.input.times(usage.uncached_input_tokens() - audio) + self.audio_input.unwrap_or(rates.input).times(audio),
            cached_input: rates.cached_input.times(usage.cached_input_tokens - cached_audio)
                + self.cached_audio_input_rate(&rates).times(cached_audio),
            cache_write: rates.cache_write.times(usage.cache_write_tokens.saturating_sub(usage.cache_write_1h_tokens))
                + rates.cache_write_1h.times(usage.cache_write_1h_tokens.min(usage.cache_write_tokens)),
            output: rates.output.times(plain_output - audio_output)
                + self.audio_output.unwrap_or(rates.output).times(audio_output)
                + self.reasoning.unwrap_or(Usd::ZERO).times(reasoning),
            billed_difference: Usd::ZERO,
            total: Usd::ZERO,
        };
        if batch && self.batch_discount_ppm > 0 {
            let keep = 1_000_000 - self.batch_discount_ppm;
            for part in [&mut cost.input, &mut cost.cached_input, &mut cost.cache_write, &mut cost.output] {
                *part = part.scale_ppm(keep);
            }
        }
        cost.total = cost.input + cost.cached_input + cost.cache_write + cost.output;
        cost
    }

    /// What a call this row priced was charged: its [`cost`](Self::cost), or what the host said
    /// it charged when it did (OpenRouter serves a model from whichever of its providers, each at
    /// its own price). Only for the call itself: a baseline or an estimate prices the usage at a
    /// row's prices.
    pub fn charge(&self, usage: &Usage) -> Cost {
        let mut cost = self.cost(usage, false);
        if let Some(billed) = usage.billed {
            cost.billed_difference = billed - cost.total;
            cost.total = billed;
        }
        cost
    }
}

fn number(model: &str, entry: &Map<String, Value>, field: &str) -> Result<Option<f64>, PricingError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if v.is_finite() && v >= 0.0 {
                Ok(Some(v))
            } else {
                Err(field_err(model, field, "must be a non-negative number"))
            }
        }
        Some(other) => Err(field_err(model, field, format!("must be a number, got {other}"))),
    }
}

fn count(model: &str, entry: &Map<String, Value>, field: &str) -> Result<Option<u64>, PricingError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| field_err(model, field, "must be a whole number of tokens")),
    }
}

fn per_million(model: &str, field: &str, v: f64) -> Result<Usd, PricingError> {
    Usd::per_token_from_per_million(v).ok_or_else(|| field_err(model, field, "price out of range"))
}

fn discount_ppm(model: &str, field: &str, v: Option<f64>) -> Result<u32, PricingError> {
    match v {
        None => Ok(0),
        Some(d) if (0.0..1.0).contains(&d) => Ok((d * 1_000_000.0).round() as u32),
        Some(_) => Err(field_err(model, field, "must be a fraction from 0 up to (not including) 1, e.g. 0.5 for half price")),
    }
}

fn flag(model: &str, entry: &Map<String, Value>, field: &str) -> Result<bool, PricingError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(field_err(model, field, format!("must be true or false, got {other}"))),
    }
}

/// A flag that may be left unstated.
fn stated_flag(model: &str, entry: &Map<String, Value>, field: &str) -> Result<Option<bool>, PricingError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => flag(model, entry, field).map(Some),
    }
}

/// The fields of [`NATIVE_FIELDS`] LiteLLM's rows do not have (it has the `supports_*` flags,
/// `mode` and `max_output_tokens` too).
const NATIVE_ONLY_FIELDS: &[&str] = &[
    "provider", "input", "output", "cached_input", "cache_write", "cache_write_1h", "cache_write_12h", "reasoning", "tiers", "batch_discount", "context_window", "max_image_tokens",
    "service_tiers", "audio_input", "cached_audio_input", "audio_output", "off_peak", "notes", "reasoning_efforts",
];

const NATIVE_FIELDS: &[&str] = &[
    "provider", "input", "output", "cached_input", "cache_write", "cache_write_1h", "cache_write_12h", "reasoning", "tiers", "batch_discount",
    "context_window", "max_input_tokens", "max_output_tokens", "max_image_tokens", "supports_reasoning", "default_reasoning_effort", "reasoning_efforts", "supports_vision", "supports_response_schema", "service_tiers", "audio_input", "cached_audio_input", "audio_output", "off_peak", "notes", "mode",
];

/// The prices a tier (`tiers[i]`, beside its [`BAND_FIELDS`]) or a service tier may set.
const RATE_FIELDS: &[&str] = &["input", "output", "cached_input", "cache_write", "cache_write_1h", "cache_write_12h"];

/// The fields of a `tiers[i]` band beside its prices.
const BAND_FIELDS: &[&str] = &["above_input_tokens", "service_tiers"];

/// `e`, a field's error, with the field named by where it is (`prefix`: `tiers[0].`).
fn under(prefix: &str, e: PricingError) -> PricingError {
    match e {
        PricingError::Field { model, field, problem } => PricingError::Field { model, field: format!("{prefix}{field}"), problem },
        other => other,
    }
}

/// `other_fields`: what the object holds beside its prices (a band's [`BAND_FIELDS`]).
fn parse_rates(model: &str, entry: &Map<String, Value>, prefix: &str, fallback: Option<Rates>, other_fields: &[&str]) -> Result<Rates, PricingError> {
    // A band's or service tier's own object (the base band's fields are checked with the row's):
    // a misspelt price there would otherwise bill at the base price, silently.
    if fallback.is_some() {
        let expected = [other_fields, RATE_FIELDS].concat();
        if let Some(unknown) = entry.keys().find(|k| !expected.contains(&k.as_str())) {
            return Err(field_err(model, &format!("{prefix}{unknown}"), format!("unknown field; expected one of {}", expected.join(", "))));
        }
    }
    let per_million = |field: &str, v: f64| per_million(model, &format!("{prefix}{field}"), v);
    let get = |f: &str| number(model, entry, f).map_err(|e| under(prefix, e));
    let input = match (get("input")?, fallback) {
        (Some(v), _) => per_million("input", v)?,
        (None, Some(f)) => f.input,
        (None, None) => return Err(field_err(model, &format!("{prefix}input"), "is required (USD per million input tokens)")),
    };
    let output = match (get("output")?, fallback) {
        (Some(v), _) => per_million("output", v)?,
        (None, Some(f)) => f.output,
        // Embedding models have no output price.
        (None, None) => Usd::ZERO,
    };
    // Without a cached or cache-write price, those tokens cost the plain input price; in a tier,
    // the base band's discount (or premium) applied to the tier's own input price.
    let scaled = fallback.map(|f| f.cache_prices_at(input));
    let cached_input = match get("cached_input")? {
        Some(v) => per_million("cached_input", v)?,
        None => scaled.map(|f| f.cached_input).unwrap_or(input),
    };
    let cache_write = match get("cache_write")? {
        Some(v) => per_million("cache_write", v)?,
        None => scaled.map(|f| f.cache_write).unwrap_or(input),
    };
    // A provider's longer-lived writes: Anthropic's one-hour, OpenAI's twelve-hour (a provider
    // has one or the other, billed alike: `Usage::cache_write_1h_tokens`).
    let longer_lived = match (get("cache_write_1h")?, get("cache_write_12h")?) {
        (Some(_), Some(_)) => return Err(field_err(model, &format!("{prefix}cache_write_12h"), "cannot be given beside cache_write_1h: a provider's longer-lived writes have one price")),
        (Some(v), None) => Some(("cache_write_1h", v)),
        (None, twelve_hours) => twelve_hours.map(|v| ("cache_write_12h", v)),
    };
    // A price list naming 5-minute writes but not 1-hour ones: a band keeps the base band's
    // ratio between them, the base band Anthropic's (the only provider that bills them).
    let cache_write_1h = match longer_lived {
        Some((field, v)) => per_million(field, v)?,
        None if get("cache_write")?.is_some() => match fallback {
            Some(f) => in_proportion(f.cache_write_1h, f.cache_write, cache_write),
            None => one_hour_write_price(cache_write),
        },
        None => scaled.map(|f| f.cache_write_1h).unwrap_or(cache_write),
    };
    Ok(Rates { input, output, cached_input, cache_write, cache_write_1h })
}

fn parse_native(model: &str, entry: &Map<String, Value>) -> Result<ModelPrice, PricingError> {
    if let Some(unknown) = entry.keys().find(|k| !NATIVE_FIELDS.contains(&k.as_str())) {
        return Err(field_err(model, unknown, format!("unknown field; expected one of {}", NATIVE_FIELDS.join(", "))));
    }
    let base = parse_rates(model, entry, "", None, &[])?;
    let service_tiers = match entry.get("service_tiers") {
        Some(raw) => parse_service_tiers(model, raw, "service_tiers", |_| base)?,
        None => ServiceTierRates::default(),
    };
    let mut tiers = Vec::new();
    if let Some(raw) = entry.get("tiers") {
        let list = raw.as_array().ok_or_else(|| field_err(model, "tiers", "must be a list"))?;
        for (i, t) in list.iter().enumerate() {
            let prefix = format!("tiers[{i}].");
            let t = t.as_object().ok_or_else(|| field_err(model, &format!("tiers[{i}]"), "must be an object"))?;
            let above = count(model, t, "above_input_tokens")?
                .ok_or_else(|| field_err(model, &format!("{prefix}above_input_tokens"), "is required"))?;
            let rates = parse_rates(model, t, &prefix, Some(base), BAND_FIELDS)?;
            // A band's `service_tiers` name what a processing tier costs in it; the prices they
            // leave out follow the tier's own with the band's surcharge, as a band without them.
            let in_band = |tier| service_tiers.of(tier).map_or(rates, |r| r.with_surcharge(&base, &rates));
            let band_tiers = match t.get("service_tiers") {
                Some(raw) => parse_service_tiers(model, raw, &format!("{prefix}service_tiers"), in_band)?,
                None => ServiceTierRates::default(),
            };
            tiers.push(Tier { above_input_tokens: above, rates, service_tiers: band_tiers });
        }
        tiers.sort_by_key(|t| t.above_input_tokens);
        if tiers.windows(2).any(|w| w[0].above_input_tokens == w[1].above_input_tokens) {
            return Err(field_err(model, "tiers", "two tiers share the same above_input_tokens"));
        }
    }
    let reasoning = number(model, entry, "reasoning")?.map(|v| per_million(model, "reasoning", v)).transpose()?;
    let (context_window, max_input_tokens) = (count(model, entry, "context_window")?, count(model, entry, "max_input_tokens")?);
    if let (Some(window), Some(prompt)) = (context_window, max_input_tokens) {
        if prompt > window {
            return Err(field_err(model, "max_input_tokens", format!("{prompt} is above context_window {window}, which holds the prompt too")));
        }
    }
    let off_peak = match entry.get("off_peak") {
        // Off-peak rates replace the base band's: which of a band's or a processing tier's prices
        // they would replace no provider has said.
        Some(_) if !tiers.is_empty() || !service_tiers.is_empty() => {
            return Err(field_err(model, "off_peak", "cannot be given on a row with tiers or service_tiers (off-peak rates replace the base rates only)"));
        }
        Some(raw) => {
            let off_peak = raw.as_object().ok_or_else(|| field_err(model, "off_peak", format!("must be an object of prices and windows, like {{\"input\": 0.15, \"output\": 0.6, \"windows\": {WINDOWS_SHAPE}}}")))?;
            let rates = parse_rates(model, off_peak, "off_peak.", Some(base), &["windows", "weekday_timezone"])?;
            if let Some(price) = dearer_price(&rates, &base) {
                return Err(field_err(model, &format!("off_peak.{price}"), "is above the row's own price: reservations and bounds hold a request at the row's prices, which must never be below its bill"));
            }
            let weekday_zone = match off_peak.get("weekday_timezone") {
                None => None,
                Some(Value::String(name)) => Some(crate::routing::local_time::Zone::named(name).map_err(|e| field_err(model, "off_peak.weekday_timezone", e))?),
                Some(other) => return Err(field_err(model, "off_peak.weekday_timezone", format!("must be a time zone's name, such as \"Asia/Shanghai\", got {other}"))),
            };
            Some(OffPeak { rates, windows: parse_windows(model, off_peak.get("windows"), "off_peak.windows")?, weekday_zone })
        }
        None => None,
    };
    let (supports_reasoning, default_reasoning_effort) = (flag(model, entry, "supports_reasoning")?, reasoning_effort(model, entry)?);
    let reasoning_efforts = reasoning_efforts(model, entry, supports_reasoning, default_reasoning_effort.as_deref())?;
    Ok(ModelPrice {
        base,
        tiers,
        batch_discount_ppm: discount_ppm(model, "batch_discount", number(model, entry, "batch_discount")?)?,
        context_window,
        max_input_tokens,
        max_output_tokens: count(model, entry, "max_output_tokens")?,
        reasoning,
        max_image_tokens: count(model, entry, "max_image_tokens")?,
        supports_reasoning,
        default_reasoning_effort,
        reasoning_efforts,
        supports_vision: stated_flag(model, entry, "supports_vision")?,
        supports_response_schema: stated_flag(model, entry, "supports_response_schema")?,
        output_unstated: matches!(entry.get("output"), None | Some(Value::Null)),
        service_tiers,
        audio_input: number(model, entry, "audio_input")?.map(|v| per_million(model, "audio_input", v)).transpose()?,
        cached_audio_input: number(model, entry, "cached_audio_input")?.map(|v| per_million(model, "cached_audio_input", v)).transpose()?,
        audio_output: number(model, entry, "audio_output")?.map(|v| per_million(model, "audio_output", v)).transpose()?,
        off_peak,
    })
}

const WINDOWS_SHAPE: &str = "[{\"weekdays\": [1, 2, 3, 4, 5], \"hours_utc\": [\"00:00-01:00\", \"10:00-00:00\"]}]";

/// An off-peak block's `windows` (at `path`), in either format: weekdays 1 (Monday) to 7, and
/// UTC spans `HH:MM-HH:MM` (a list, or one string as LiteLLM writes a whole day); a span ending at
/// 00:00 runs to midnight, so `00:00-00:00` is the whole day.
fn parse_windows(model: &str, raw: Option<&Value>, path: &str) -> Result<Vec<Window>, PricingError> {
    let list = match raw {
        None | Some(Value::Null) => return Err(field_err(model, path, format!("is required: when the off-peak prices apply, like {WINDOWS_SHAPE}"))),
        Some(Value::Array(list)) if list.is_empty() => return Err(field_err(model, path, "is empty, so the off-peak prices would never apply")),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(field_err(model, path, format!("must be a list of windows like {WINDOWS_SHAPE}, got {other}"))),
    };
    let mut windows = Vec::new();
    for (i, window) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let window = window.as_object().ok_or_else(|| field_err(model, &at, "must be an object like {\"weekdays\": [6, 7], \"hours_utc\": \"00:00-00:00\"}"))?;
        if let Some(unknown) = window.keys().find(|k| !["weekdays", "hours_utc"].contains(&k.as_str())) {
            return Err(field_err(model, &format!("{at}.{unknown}"), "unknown field; expected one of weekdays, hours_utc"));
        }
        let weekdays_path = format!("{at}.weekdays");
        let weekdays = match window.get("weekdays") {
            Some(Value::Array(days)) if !days.is_empty() => days
                .iter()
                .map(|d| d.as_u64().filter(|d| (1..=7).contains(d)).map(|d| d as u8).ok_or_else(|| field_err(model, &weekdays_path, format!("must be ISO weekdays, 1 (Monday) to 7 (Sunday); got {d}"))))
                .collect::<Result<Vec<u8>, _>>()?,
            _ => return Err(field_err(model, &weekdays_path, "is required: a non-empty list of ISO weekdays, 1 (Monday) to 7 (Sunday)")),
        };
        let hours_path = format!("{at}.hours_utc");
        let spans: Vec<&Value> = match window.get("hours_utc") {
            Some(one @ Value::String(_)) => vec![one],
            Some(Value::Array(spans)) if !spans.is_empty() => spans.iter().collect(),
            _ => return Err(field_err(model, &hours_path, "is required: a non-empty list of UTC spans \"HH:MM-HH:MM\" (or one)")),
        };
        let minutes = spans.into_iter().map(|span| minutes_of(span).map_err(|problem| field_err(model, &hours_path, problem))).collect::<Result<Vec<_>, _>>()?;
        windows.push(Window { weekdays, minutes });
    }
    Ok(windows)
}

/// A span `HH:MM-HH:MM` as minutes of the day, `[from, to)`.
fn minutes_of(span: &Value) -> Result<(u16, u16), String> {
    let minute = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let bad = || format!("{span} is not a span \"HH:MM-HH:MM\" of hours 00-23 and minutes 00-59 (one that runs to midnight ends at 00:00)");
    let (from, to) = span.as_str().and_then(|s| s.split_once('-')).ok_or_else(bad)?;
    let (from, to) = (minute(from).ok_or_else(bad)?, minute(to).ok_or_else(bad)?);
    // 00:00 as an end is midnight at the end of the day.
    let to = if to == 0 { 24 * 60 } else { to };
    if to <= from {
        return Err(format!("{span} ends before it starts (or is empty): split a span that runs past midnight in two, one ending at 00:00, one starting at 00:00 on the next weekdays"));
    }
    Ok((from, to))
}

/// A row's or a band's `service_tiers` (at `path`): each tier's prices, those it leaves out
/// from `fallback(tier)`.
fn parse_service_tiers(model: &str, raw: &Value, path: &str, fallback: impl Fn(ServiceTier) -> Rates) -> Result<ServiceTierRates, PricingError> {
    let tiers = raw.as_object().ok_or_else(|| field_err(model, path, "must be an object like {\"priority\": {\"input\": 4.25, \"output\": 17}}"))?;
    let mut priced = ServiceTierRates::default();
    for (name, rates) in tiers {
        let rates = rates.as_object().ok_or_else(|| field_err(model, &format!("{path}.{name}"), "must be an object of prices"))?;
        let Some((tier, _)) = ServiceTier::PRICED.into_iter().find(|(_, known)| known == name) else {
            return Err(field_err(model, &format!("{path}.{name}"), "unknown tier; expected priority, flex or ultrafast"));
        };
        priced.set(tier, Some(parse_rates(model, rates, &format!("{path}.{name}."), Some(fallback(tier)), &[])?));
    }
    Ok(priced)
}

fn parse_litellm(model: &str, entry: &Map<String, Value>) -> Result<ModelPrice, PricingError> {
    let per_token = |field: &str| -> Result<Option<Usd>, PricingError> {
        number(model, entry, field)?
            .map(|v| Usd::per_token_from_usd(v).ok_or_else(|| field_err(model, field, "price out of range")))
            .transpose()
    };
    let input = per_token("input_cost_per_token")?.unwrap_or(Usd::ZERO);
    let cache_write_5m = per_token("cache_creation_input_token_cost")?;
    let cache_write = cache_write_5m.unwrap_or(input);
    let base = Rates {
        input,
        output: per_token("output_cost_per_token")?.unwrap_or(Usd::ZERO),
        cached_input: per_token("cache_read_input_token_cost")?.unwrap_or(input),
        cache_write,
        // LiteLLM's "above_1hr" is the price of writes that live an hour, not a token-count band;
        // "above_12hr", OpenAI's writes that live twelve (a provider has one or the other).
        cache_write_1h: per_token(&longer_lived_write_key(entry, ""))?.unwrap_or(match cache_write_5m {
            Some(five_minute) => one_hour_write_price(five_minute),
            None => cache_write,
        }),
    };
    // LiteLLM names long-context prices `..._above_<N>k_tokens`.
    let mut tiers: BTreeMap<u64, Rates> = BTreeMap::new();
    // The prices each band names; the others follow the band's input price (`in_proportion`).
    let mut named: std::collections::BTreeSet<(u64, &str)> = std::collections::BTreeSet::new();
    for (key, _) in entry.iter() {
        let Some((kind, rest)) = key.split_once("_above_") else { continue };
        // `cache_creation_input_token_cost_above_1hr_above_200k_tokens`: a band's 1-hour write price
        // (`_above_12hr_above_272k_tokens`: OpenAI's 12-hour one).
        let (kind, rest) = match rest.strip_prefix("1hr_above_").or_else(|| rest.strip_prefix("12hr_above_")) {
            Some(band) => ("cache_creation_input_token_cost_1hr", band),
            None => (kind, rest),
        };
        // `input_cost_per_token_above_272k_tokens_priority`: a processing tier's price in the
        // band, read with the tier's other prices below; the band is there for it all the same.
        let (rest, service_tier_price) = match ServiceTier::PRICED.iter().find_map(|(_, name)| rest.strip_suffix(&format!("_{name}"))) {
            Some(band) => (band, true),
            None => (rest, false),
        };
        let Some(k) = rest.strip_suffix("k_tokens").and_then(|n| n.parse::<u64>().ok()) else { continue };
        let above = k * 1000;
        if service_tier_price {
            tiers.entry(above).or_insert(base);
            continue;
        }
        let price = per_token(key)?.unwrap_or(Usd::ZERO);
        let rates = tiers.entry(above).or_insert(base);
        // A band that prices 5-minute writes but not 1-hour ones keeps the base band's ratio
        // between them, as in our own format (`parse_rates`).
        if kind == "cache_creation_input_token_cost" && !entry.contains_key(&longer_lived_write_key(entry, &format!("_above_{k}k_tokens"))) {
            rates.cache_write_1h = in_proportion(base.cache_write_1h, base.cache_write, price);
        }
        match kind {
            "input_cost_per_token" => rates.input = price,
            "output_cost_per_token" => rates.output = price,
            "cache_read_input_token_cost" => rates.cached_input = price,
            "cache_creation_input_token_cost" => {
                rates.cache_write = price;
                named.insert((above, "cache_creation_input_token_cost_1hr"));
            }
            "cache_creation_input_token_cost_1hr" => rates.cache_write_1h = price,
            _ => {}
        }
        named.insert((above, kind));
    }
    for (above, rates) in tiers.iter_mut() {
        let unnamed = |kind: &str| !named.contains(&(*above, kind));
        let scaled = base.cache_prices_at(rates.input);
        if unnamed("cache_read_input_token_cost") {
            rates.cached_input = scaled.cached_input;
        }
        if unnamed("cache_creation_input_token_cost") {
            rates.cache_write = scaled.cache_write;
        }
        if unnamed("cache_creation_input_token_cost_1hr") {
            rates.cache_write_1h = scaled.cache_write_1h;
        }
    }
    let batch_discount_ppm = match (per_token("input_cost_per_token_batches")?, input) {
        (Some(batch), full) if full.0 > 0 && batch < full => (1_000_000 - (batch.0 as i128 * 1_000_000 / full.0 as i128) as u32).min(999_999),
        _ => 0,
    };
    let mut service_tiers = ServiceTierRates::default();
    for (tier, name) in ServiceTier::PRICED {
        service_tiers.set(tier, litellm_service_tier(&per_token, base, name)?);
    }
    // LiteLLM marks a model that can reason when asked; ours, one that reasons unasked (its
    // savings baselines keep reasoning tokens). Claude thinks only when a request asks for it,
    // but for the models that think by default (every Claude 5, Fable, Mythos).
    let supports_reasoning = flag(model, entry, "supports_reasoning")?
        && (!model.to_ascii_lowercase().contains("claude") || crate::providers::anthropic::thinks_unasked(model))
        && (!model.to_ascii_lowercase().contains("gemini") || crate::providers::gemini::thinks_unasked(&model.to_ascii_lowercase()));
    let default_reasoning_effort = reasoning_effort(model, entry)?;
    let has_bands_or_tiers = !tiers.is_empty() || !service_tiers.is_empty();
    let mut bands = Vec::new();
    for (above_input_tokens, rates) in tiers {
        // What the band's own keys leave out follows the tier's rates with the band's surcharge.
        let mut band_tiers = ServiceTierRates::default();
        for (tier, name) in ServiceTier::PRICED {
            let fallback = service_tiers.of(tier).map_or(rates, |r| r.with_surcharge(&base, &rates));
            band_tiers.set(tier, litellm_service_tier(&per_token, fallback, &format!("above_{}k_tokens_{name}", above_input_tokens / 1000))?);
        }
        bands.push(Tier { above_input_tokens, rates, service_tiers: band_tiers });
    }
    Ok(ModelPrice {
        base,
        tiers: bands,
        batch_discount_ppm,
        context_window: count(model, entry, "max_input_tokens")?,
        max_input_tokens: None,
        max_output_tokens: count(model, entry, "max_output_tokens")?,
        reasoning: per_token("output_cost_per_reasoning_token")?,
        max_image_tokens: None,
        supports_reasoning,
        reasoning_efforts: litellm_reasoning_efforts(model, entry, supports_reasoning, default_reasoning_effort.as_deref())?,
        default_reasoning_effort,
        supports_vision: stated_flag(model, entry, "supports_vision")?,
        supports_response_schema: stated_flag(model, entry, "supports_response_schema")?,
        output_unstated: matches!(entry.get("output_cost_per_token"), None | Some(Value::Null)),
        service_tiers,
        audio_input: per_token("input_cost_per_audio_token")?,
        cached_audio_input: per_token("cache_read_input_audio_token_cost")?,
        audio_output: per_token("output_cost_per_audio_token")?,
        off_peak: litellm_off_peak(model, entry, base, has_bands_or_tiers)?,
    })
}

/// LiteLLM's `off_peak_pricing`: per-token prices, those it leaves out following the row's as a
/// processing tier's do, and the `windows` they apply in. None the router can apply (the row is
/// then billed at its standard rates, never below the bill) where they would have to replace a
/// long-context band's or a processing tier's prices, or where the weekdays are told in a time
/// zone (`weekday_timezone`, LiteLLM's Tencent rows) the zone table does not know.
fn litellm_off_peak(model: &str, entry: &Map<String, Value>, base: Rates, has_bands_or_tiers: bool) -> Result<Option<OffPeak>, PricingError> {
    const PATH: &str = "off_peak_pricing";
    let prices = match entry.get(PATH) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(prices)) => prices,
        Some(_) => return Err(field_err(model, PATH, "must be an object of per-token prices and windows")),
    };
    if has_bands_or_tiers {
        return Ok(None);
    }
    // Weekdays counted in another zone: read with that zone's current rule, or, for a name the
    // zone table lacks, not at all.
    let weekday_zone = match prices.get("weekday_timezone") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name == "UTC" => None,
        Some(Value::String(name)) => match crate::routing::local_time::Zone::named(name) {
            Ok(zone) => Some(zone),
            Err(_) => return Ok(None),
        },
        Some(_) => return Ok(None),
    };
    let per_token = |field: &str| -> Result<Option<Usd>, PricingError> {
        let path = format!("{PATH}.{field}");
        number(model, prices, field)
            .map_err(|e| under(&format!("{PATH}."), e))?
            .map(|v| Usd::per_token_from_usd(v).ok_or_else(|| field_err(model, &path, "price out of range")))
            .transpose()
    };
    let Some(rates) = litellm_rates_over(&per_token, base)? else { return Ok(None) };
    // LiteLLM writes windows in more ways than this router reads (a top-level `hours_utc`,
    // weekday names, spans across midnight, holiday overrides), and may price off-peak above the
    // standard rates, which reservations hold: such an entry is read at its standard rates, never
    // below the bill, rather than failing the whole file.
    if dearer_price(&rates, &base).is_some() {
        return Ok(None);
    }
    Ok(parse_windows(model, prices.get("windows"), &format!("{PATH}.windows")).ok().map(|windows| OffPeak { rates, windows, weekday_zone }))
}

/// The first of `rates`' prices above `base`'s, if any.
fn dearer_price(rates: &Rates, base: &Rates) -> Option<&'static str> {
    [
        ("input", rates.input, base.input),
        ("output", rates.output, base.output),
        ("cached_input", rates.cached_input, base.cached_input),
        ("cache_write", rates.cache_write, base.cache_write),
        ("cache_write_1h", rates.cache_write_1h, base.cache_write_1h),
    ]
    .into_iter()
    .find(|(_, price, standard)| price > standard)
    .map(|(name, _, _)| name)
}

/// `price` scaled as `input` is to `base_input` (see [`Rates::cache_prices_at`]).
/// Anthropic bills a cache write that lives an hour at 2× the input price and one that lives five
/// minutes at 1.25×: the 1-hour price of a list that names only the 5-minute one.
fn one_hour_write_price(five_minute: Usd) -> Usd {
    Usd((i128::from(five_minute.0) * 8 / 5).clamp(0, i128::from(i64::MAX)) as i64)
}

fn in_proportion(price: Usd, base_input: Usd, input: Usd) -> Usd {
    if base_input.0 <= 0 {
        return price;
    }
    Usd((i128::from(price.0) * i128::from(input.0) / i128::from(base_input.0)).clamp(0, i128::from(i64::MAX)) as i64)
}

/// LiteLLM's name for the price of the longer-lived writes (in the band `band`, such as
/// `_above_272k_tokens`): the one-hour name, or the twelve-hour one where the row gives it.
fn longer_lived_write_key(entry: &Map<String, Value>, band: &str) -> String {
    let twelve_hours = format!("cache_creation_input_token_cost_above_12hr{band}");
    if entry.contains_key(&twelve_hours) {
        twelve_hours
    } else {
        format!("cache_creation_input_token_cost_above_1hr{band}")
    }
}

/// LiteLLM prices a processing tier with `input_cost_per_token_priority` and the like (in a band,
/// `input_cost_per_token_above_272k_tokens_priority`: `tier` is what follows the price's name);
/// a tier with none of its keys has no rates of its own, and those it leaves out follow `base`.
fn litellm_service_tier(per_token: &dyn Fn(&str) -> Result<Option<Usd>, PricingError>, base: Rates, tier: &str) -> Result<Option<Rates>, PricingError> {
    litellm_rates_over(&|price: &str| per_token(&format!("{price}_{tier}")), base)
}

/// Rates priced by LiteLLM's `input_cost_per_token`, `output_cost_per_token` and
/// `cache_read_input_token_cost` as `per_token` reads them, over `base`: none without any of them.
fn litellm_rates_over(per_token: &dyn Fn(&str) -> Result<Option<Usd>, PricingError>, base: Rates) -> Result<Option<Rates>, PricingError> {
    let input = per_token("input_cost_per_token")?;
    let output = per_token("output_cost_per_token")?;
    let cached = per_token("cache_read_input_token_cost")?;
    if input.is_none() && output.is_none() && cached.is_none() {
        return Ok(None);
    }
    let scaled = base.cache_prices_at(input.unwrap_or(base.input));
    Ok(Some(Rates { output: output.unwrap_or(base.output), cached_input: cached.unwrap_or(scaled.cached_input), ..scaled }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"{"version":1,"models":{
        "gpt-4o-mini": {"input":0.15,"output":0.6,"cached_input":0.075,"batch_discount":0.5,"context_window":128000,"max_output_tokens":16384},
        "gemini-2.5-pro": {"input":1.25,"output":10,"cached_input":0.31,"tiers":[{"above_input_tokens":200000,"input":2.5,"output":15,"cached_input":0.625}]},
        "claude-sonnet-4-5": {"input":3,"output":15,"cached_input":0.3,"cache_write":3.75}
    }}"#;

    fn usage(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> Usage {
        Usage { input_tokens: input, cached_input_tokens: cached, cache_write_tokens: write, output_tokens: output, reasoning_tokens: reasoning, ..Usage::default() }
    }

    #[test]
    fn a_repeated_key_is_refused_in_our_format_and_read_as_litellm_reads_it_in_theirs() {
        let ours = PriceTable::from_json(r#"{"version":1,"models":{"m":{"input":1,"output":2},"m":{"input":3,"output":4}}}"#).unwrap_err().to_string();
        assert!(ours.contains("models.m appears twice"), "{ours}");
        let theirs = PriceTable::from_json(r#"{"m":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06},"m":{"input_cost_per_token":3e-06,"output_cost_per_token":4e-06}}"#).unwrap();
        assert_eq!(theirs.get("m").unwrap().base.input, Usd::per_token_from_usd(3e-06).unwrap(), "the last entry counts");
    }

    #[test]
    fn a_row_in_litellm_form_may_not_carry_our_fields_in_our_document() {
        // A LiteLLM row copied in with `context_window` added by hand: LiteLLM's reader would drop it.
        // A defect: `policy check` fails on it; the worker serves the row without the field (as a
        // document stored before this check did).
        let mixed = PriceTable::from_json(r#"{"version":1,"models":{"a":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06,"context_window":1000}}}"#).unwrap();
        assert!(mixed.defects.len() == 1 && mixed.defects[0].contains("context_window") && mixed.defects[0].contains("one format"), "{:?}", mixed.defects);
        // Their own flags are fine, and LiteLLM's own file is read as it is.
        assert!(PriceTable::from_json(r#"{"version":1,"models":{"a":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06,"supports_vision":true,"max_output_tokens":100}}}"#).unwrap().defects.is_empty());
        assert!(PriceTable::from_json(r#"{"a":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06,"context_window":1000}}"#).unwrap().defects.is_empty());
    }

    #[test]
    fn a_version_other_than_1_or_prices_outside_models_are_refused() {
        let v2 = PriceTable::from_json(r#"{"version":2,"models":{"m":{"input":1,"output":2}}}"#).unwrap_err().to_string();
        assert!(v2.contains("version") && v2.contains("version 1"), "{v2}");
        let flat = PriceTable::from_json(r#"{"version":1,"gpt-4o":{"input":2.5,"output":10}}"#).unwrap_err().to_string();
        assert!(flat.contains("\"models\" is required"), "{flat}");
        assert!(PriceTable::from_json(r#"{"version":1,"models":{"m":{"input":1,"output":2}}}"#).is_ok());
    }

    #[test]
    fn a_misspelt_price_in_a_band_or_service_tier_is_refused_with_where_it_is() {
        let tier = PriceTable::from_json(r#"{"models":{"m":{"input":3,"output":15,"tiers":[{"above_input_tokens":200000,"input":6,"ouptut":22.5}]}}}"#).unwrap_err().to_string();
        assert!(tier.contains("tiers[0].ouptut") && tier.contains("unknown field"), "{tier}");
        let service = PriceTable::from_json(r#"{"models":{"m":{"input":2.5,"output":10,"service_tiers":{"priority":{"input":4.25,"outptu":17}}}}}"#).unwrap_err().to_string();
        assert!(service.contains("service_tiers.priority.outptu"), "{service}");
        let range = PriceTable::from_json(r#"{"models":{"m":{"input":3,"output":15,"tiers":[{"above_input_tokens":200000,"input":-6}]}}}"#).unwrap_err().to_string();
        assert!(range.contains("tiers[0].input"), "{range}");
    }

    #[test]
    fn cached_input_is_discounted() {
        let t = PriceTable::from_json(TABLE).unwrap();
        // 86 uncached * 0.15/M + 1920 cached * 0.075/M + 300 out * 0.6/M
        let c = t.get("gpt-4o-mini").unwrap().cost(&usage(2006, 1920, 0, 300, 192), false);
        assert_eq!(c.input.to_string(), "0.0000129");
        assert_eq!(c.cached_input.to_string(), "0.000144");
        assert_eq!(c.output.to_string(), "0.00018");
        assert_eq!(c.total.to_string(), "0.0003369");
    }

    #[test]
    fn long_context_tier_switches_every_rate() {
        let t = PriceTable::from_json(TABLE).unwrap();
        let p = t.get("gemini-2.5-pro").unwrap();
        assert_eq!(p.cost(&usage(200_000, 0, 0, 1000, 0), false).total.to_string(), "0.26"); // 0.25 + 0.01
        assert_eq!(p.cost(&usage(200_001, 0, 0, 1000, 0), false).total.to_string(), "0.5150025"); // 0.5000025 + 0.015
    }

    #[test]
    fn cache_writes_and_batches() {
        let t = PriceTable::from_json(TABLE).unwrap();
        let c = t.get("claude-sonnet-4-5").unwrap().cost(&usage(3050, 2000, 1000, 70, 0), false);
        // 50*3 + 2000*0.3 + 1000*3.75 + 70*15 = 150 + 600 + 3750 + 1050 = 5550 micro-dollars
        assert_eq!(c.total.to_string(), "0.00555");
        let batch = t.get("gpt-4o-mini").unwrap().cost(&usage(1000, 0, 0, 1000, 0), true);
        assert_eq!(batch.total.to_string(), "0.000375");
    }

    /// LiteLLM 1.110.2's gpt-5.6 row, its prices and windows.
    const LITELLM_GPT_5_6: &str = r#"{"cache_creation_input_token_cost":5e-06,"cache_creation_input_token_cost_above_12hr":1e-05,"cache_creation_input_token_cost_above_12hr_above_272k_tokens":2e-05,"cache_creation_input_token_cost_above_12hr_above_272k_tokens_flex":1e-05,"cache_creation_input_token_cost_above_12hr_above_272k_tokens_priority":4e-05,"cache_creation_input_token_cost_above_12hr_flex":5e-06,"cache_creation_input_token_cost_above_12hr_priority":2e-05,"cache_creation_input_token_cost_above_272k_tokens":1e-05,"cache_creation_input_token_cost_above_272k_tokens_flex":5e-06,"cache_creation_input_token_cost_above_272k_tokens_priority":2e-05,"cache_creation_input_token_cost_flex":2.5e-06,"cache_creation_input_token_cost_priority":1e-05,"cache_read_input_token_cost":4e-07,"cache_read_input_token_cost_above_272k_tokens":8e-07,"cache_read_input_token_cost_above_272k_tokens_flex":4e-07,"cache_read_input_token_cost_above_272k_tokens_priority":1.6e-06,"cache_read_input_token_cost_batches":2e-07,"cache_read_input_token_cost_above_272k_tokens_batches":4e-07,"cache_creation_input_token_cost_batches":2.5e-06,"cache_creation_input_token_cost_above_272k_tokens_batches":5e-06,"cache_read_input_token_cost_flex":2e-07,"cache_read_input_token_cost_priority":8e-07,"input_cost_per_token":4e-06,"input_cost_per_token_above_272k_tokens":8e-06,"input_cost_per_token_above_272k_tokens_flex":4e-06,"input_cost_per_token_above_272k_tokens_priority":1.6e-05,"input_cost_per_token_batches":2e-06,"input_cost_per_token_above_272k_tokens_batches":4e-06,"input_cost_per_token_flex":2e-06,"input_cost_per_token_priority":8e-06,"max_input_tokens":922000,"max_output_tokens":128000,"output_cost_per_token":2e-05,"output_cost_per_token_above_272k_tokens":3e-05,"output_cost_per_token_above_272k_tokens_flex":1.5e-05,"output_cost_per_token_above_272k_tokens_priority":6e-05,"output_cost_per_token_batches":1e-05,"output_cost_per_token_above_272k_tokens_batches":1.5e-05,"output_cost_per_token_flex":1e-05,"output_cost_per_token_priority":4e-05,"litellm_provider":"openai","mode":"chat"}"#;

    #[test]
    fn openai_twelve_hour_cache_writes_bill_at_their_own_price_in_both_formats() {
        let litellm = PriceTable::from_json(&format!(r#"{{"gpt-5.6":{LITELLM_GPT_5_6}}}"#)).unwrap();
        let seeded = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let (ours, theirs) = (seeded.get("gpt-5.6").unwrap(), litellm.get("gpt-5.6").unwrap());
        let per_million = |usd: f64| Usd::per_token_from_per_million(usd).unwrap();
        // Every band and processing tier: LiteLLM's own prices, ours the same by scaling.
        for (tier, prompt, write, twelve_hours) in [
            (ServiceTier::Standard, 1000, 5.0, 10.0),
            (ServiceTier::Standard, 272_001, 10.0, 20.0),
            (ServiceTier::Priority, 1000, 10.0, 20.0),
            (ServiceTier::Priority, 272_001, 20.0, 40.0),
            (ServiceTier::Flex, 1000, 2.5, 5.0),
            (ServiceTier::Flex, 272_001, 5.0, 10.0),
        ] {
            for rates in [ours.rates_at(tier, prompt), theirs.rates_at(tier, prompt)] {
                assert_eq!((rates.cache_write, rates.cache_write_1h), (per_million(write), per_million(twelve_hours)), "{tier:?} at {prompt}");
            }
            assert_eq!(ours.rates_at(tier, prompt), theirs.rates_at(tier, prompt), "{tier:?} at {prompt}");
        }
        // 5,000 prompt tokens: 1,000 read, 1,000 written for 30 minutes, 2,000 for 12 hours.
        let usage = Usage::from_openai(&serde_json::json!({"prompt_tokens": 5000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 1000,
            "cache_write_tokens": 3000, "cache_write_tokens_details": {"ttl_30m_tokens": 1000, "ttl_12h_tokens": 2000}}})).unwrap();
        // 1,000 * 5 + 2,000 * 10 micro-dollars of writes; 1,000 * 4 input, 1,000 * 0.4 read, 100 * 20 output.
        for price in [ours, theirs] {
            let cost = price.cost(&usage, false);
            assert_eq!((cost.cache_write.to_string(), cost.total.to_string()), ("0.025".to_string(), "0.0314".to_string()));
        }
        // One price for a provider's longer-lived writes.
        let both = PriceTable::from_json(r#"{"models":{"m":{"input":1,"cache_write_1h":2,"cache_write_12h":3}}}"#).unwrap_err().to_string();
        assert!(both.contains("cache_write_12h") && both.contains("cannot be given beside cache_write_1h"), "{both}");
        let in_a_band = PriceTable::from_json(r#"{"models":{"m":{"input":1,"tiers":[{"above_input_tokens":10,"input":2,"cache_write_1h":2,"cache_write_12h":3}]}}}"#).unwrap_err().to_string();
        assert!(in_a_band.contains("tiers[0].cache_write_12h"), "{in_a_band}");
    }

    #[test]
    fn one_hour_cache_writes_have_their_own_price() {
        let t = PriceTable::from_json(
            r#"{"models":{"claude":{"input":3,"output":15,"cache_write":3.75,"cache_write_1h":6,"tiers":[{"above_input_tokens":200000,"input":6,"cache_write":7.5}]},
                          "no-1h-price":{"input":3,"output":15,"cache_write":3.75}}}"#,
        )
        .unwrap();
        let written = Usage { input_tokens: 1000, cache_write_tokens: 1000, cache_write_1h_tokens: 600, ..Usage::default() };
        // 400 * 3.75 + 600 * 6 = 1500 + 3600 micro-dollars (all input was written)
        assert_eq!(t.get("claude").unwrap().cost(&written, false).cache_write.to_string(), "0.0051");
        // No 1-hour price: Anthropic's ratio to the 5-minute one (2 : 1.25), 400 * 3.75 + 600 * 6.
        assert_eq!(t.get("no-1h-price").unwrap().cost(&written, false).cache_write.to_string(), "0.0051", "Anthropic's 1-hour price from its 5-minute one");
        // A band that prices writes without a 1-hour price keeps the base band's ratio: 7.5 for 5
        // minutes makes 12 for an hour (twice the band's input price, as Anthropic bills), not
        // 7.5, and not the base band's 6.
        assert_eq!(t.get("claude").unwrap().rates_for(200_001).cache_write_1h, Usd::per_token_from_usd(12e-6).unwrap());
        let litellm = PriceTable::from_json(
            r#"{"claude-sonnet-4-5":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_creation_input_token_cost":3.75e-06,
                "cache_creation_input_token_cost_above_1hr":6e-06,"input_cost_per_token_above_200k_tokens":6e-06,
                "cache_creation_input_token_cost_above_200k_tokens":7.5e-06,"cache_creation_input_token_cost_above_1hr_above_200k_tokens":1.2e-05}}"#,
        )
        .unwrap();
        let p = litellm.get("claude-sonnet-4-5").unwrap();
        assert_eq!(p.tiers.len(), 1, "the 1-hour price is not a band");
        assert_eq!(p.cost(&written, false).cache_write.to_string(), "0.0051");
        assert_eq!(p.rates_for(200_001).cache_write_1h, Usd::per_token_from_usd(1.2e-05).unwrap());
        // Without the band's own 1-hour price: the base band's ratio to its write price (6 : 3.75
        // of 7.5 is 12), not the base band's 1-hour 6.
        let litellm = PriceTable::from_json(
            r#"{"claude-sonnet-4-5":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_creation_input_token_cost":3.75e-06,
                "cache_creation_input_token_cost_above_1hr":6e-06,"input_cost_per_token_above_200k_tokens":6e-06,
                "cache_creation_input_token_cost_above_200k_tokens":7.5e-06}}"#,
        )
        .unwrap();
        assert_eq!(litellm.get("claude-sonnet-4-5").unwrap().rates_for(200_001).cache_write_1h, Usd::per_token_from_usd(1.2e-05).unwrap());
        // LiteLLM's claude-4-sonnet names no 1-hour price at all: Anthropic's 2 : 1.25 ratio, in
        // both bands (3.75 → 6, 7.5 → 12).
        let litellm = PriceTable::from_json(
            r#"{"claude-4-sonnet-20250514":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_creation_input_token_cost":3.75e-06,
                "input_cost_per_token_above_200k_tokens":6e-06,"cache_creation_input_token_cost_above_200k_tokens":7.5e-06}}"#,
        )
        .unwrap();
        let p = litellm.get("claude-4-sonnet-20250514").unwrap();
        assert_eq!((p.base.cache_write_1h, p.rates_for(200_001).cache_write_1h), (Usd::per_token_from_usd(6e-06).unwrap(), Usd::per_token_from_usd(1.2e-05).unwrap()));
    }

    #[test]
    fn priority_and_flex_processing_have_their_own_rates() {
        let t = PriceTable::from_json(
            r#"{"models":{"gpt-4o":{"input":2.5,"output":10,"cached_input":1.25,"service_tiers":{"priority":{"input":4.25,"output":17,"cached_input":2.125}}},
                          "o4-mini":{"input":1.1,"output":4.4,"service_tiers":{"flex":{"input":0.55,"output":2.2}}}}}"#,
        )
        .unwrap();
        let used = |tier| Usage { input_tokens: 10_000, output_tokens: 1_000, service_tier: tier, ..Usage::default() };
        let gpt = t.get("gpt-4o").unwrap();
        assert_eq!(gpt.cost(&used(ServiceTier::Standard), false).total.to_string(), "0.035");
        assert_eq!(gpt.cost(&used(ServiceTier::Priority), false).total.to_string(), "0.0595");
        assert_eq!(gpt.cost(&used(ServiceTier::Flex), false).total.to_string(), "0.035", "no flex rates: standard");
        assert_eq!(t.get("o4-mini").unwrap().cost(&used(ServiceTier::Flex), false).total.to_string(), "0.0077");
        let e = PriceTable::from_json(r#"{"models":{"m":{"input":1,"service_tiers":{"turbo":{"input":2}}}}}"#).unwrap_err();
        assert!(e.to_string().contains("service_tiers.turbo"), "{e}");
        let litellm = PriceTable::from_json(r#"{"gpt-4o":{"input_cost_per_token":2.5e-06,"output_cost_per_token":1e-05,"input_cost_per_token_priority":4.25e-06,"output_cost_per_token_priority":1.7e-05}}"#).unwrap();
        assert_eq!(litellm.get("gpt-4o").unwrap().cost(&used(ServiceTier::Priority), false).total.to_string(), "0.0595");
        assert_eq!(litellm.get("gpt-4o").unwrap().service_tiers.flex, None);
        assert!(e.to_string().contains("expected priority, flex or ultrafast"), "{e}");
        // A tier without a cached price keeps the base band's discount, in either format: 4.25 at
        // priority against 2.5 at standard makes 1.25 cached 2.125.
        let native = PriceTable::from_json(r#"{"models":{"gpt-4o":{"input":2.5,"output":10,"cached_input":1.25,"service_tiers":{"priority":{"input":4.25,"output":17}}}}}"#).unwrap();
        let litellm = PriceTable::from_json(r#"{"gpt-4o":{"input_cost_per_token":2.5e-06,"output_cost_per_token":1e-05,"cache_read_input_token_cost":1.25e-06,
            "input_cost_per_token_priority":4.25e-06,"output_cost_per_token_priority":1.7e-05}}"#).unwrap();
        let cached = Usage { input_tokens: 10_000, cached_input_tokens: 10_000, service_tier: ServiceTier::Priority, ..Usage::default() };
        for t in [&native, &litellm] {
            assert_eq!(t.get("gpt-4o").unwrap().cost(&cached, false).total.to_string(), "0.02125");
        }
        // The same for a long-context band: a band naming only its input price doubles the
        // cached price with it.
        let native = PriceTable::from_json(r#"{"models":{"s":{"input":3,"output":15,"cached_input":0.3,"tiers":[{"above_input_tokens":200000,"input":6,"output":22.5}]}}}"#).unwrap();
        let litellm = PriceTable::from_json(r#"{"s":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_read_input_token_cost":3e-07,
            "input_cost_per_token_above_200k_tokens":6e-06,"output_cost_per_token_above_200k_tokens":2.25e-05}}"#).unwrap();
        let long = Usage { input_tokens: 300_000, cached_input_tokens: 100_000, ..Usage::default() };
        for t in [&native, &litellm] {
            assert_eq!(t.get("s").unwrap().cost(&long, false).total.to_string(), "1.26", "200,000 at 6 and 100,000 at 0.6 per million");
        }
    }

    #[test]
    fn ultrafast_processing_has_its_own_rates_in_both_formats() {
        // GPT-6.1 Sol: 2 / 10 standard, ultrafast six times (12 / 60, cached 0.6); past 272k
        // 4 / 15 and ultrafast 24 / 90, as LiteLLM 1.110.2 prices it.
        let litellm = PriceTable::from_json(r#"{"gpt-6.1-sol":{"input_cost_per_token":2e-06,"output_cost_per_token":1e-05,"cache_read_input_token_cost":1e-07,
            "input_cost_per_token_ultrafast":1.2e-05,"output_cost_per_token_ultrafast":6e-05,"cache_read_input_token_cost_ultrafast":6e-07,
            "input_cost_per_token_above_272k_tokens":4e-06,"output_cost_per_token_above_272k_tokens":1.5e-05,"cache_read_input_token_cost_above_272k_tokens":2e-07,
            "input_cost_per_token_above_272k_tokens_ultrafast":2.4e-05,"output_cost_per_token_above_272k_tokens_ultrafast":9e-05,"cache_read_input_token_cost_above_272k_tokens_ultrafast":1.2e-06}}"#).unwrap();
        let native = PriceTable::from_json(r#"{"models":{"gpt-6.1-sol":{"input":2,"output":10,"cached_input":0.1,"service_tiers":{"ultrafast":{"input":12,"output":60}},
            "tiers":[{"above_input_tokens":272000,"input":4,"output":15}]}}}"#).unwrap();
        let used = |input_tokens| Usage { input_tokens, cached_input_tokens: 1000, output_tokens: 1000, service_tier: ServiceTier::Ultrafast, ..Usage::default() };
        for t in [&litellm, &native] {
            let p = t.get("gpt-6.1-sol").unwrap();
            // 9,000 × 12 + 1,000 × 0.6 + 1,000 × 60 micro-dollars; past 272k the band's 24 / 1.2 / 90.
            assert_eq!(p.cost(&used(10_000), false).total.to_string(), "0.1686");
            assert_eq!(p.cost(&used(300_000), false).total.to_string(), "7.2672");
            assert_eq!(p.cost(&Usage { service_tier: ServiceTier::Standard, ..used(10_000) }, false).total.to_string(), "0.0281");
        }
    }

    /// LiteLLM's gpt-5.4 row (2.5 / 15 standard, 5 / 22.5 past 272k; priority 5 / 30, flex
    /// 1.25 / 7.5), with the band's own tier prices (`extra`) where a test gives them.
    fn gpt_5_4_litellm(extra: &str) -> PriceTable {
        PriceTable::from_json(&format!(r#"{{"gpt-5.4":{{"input_cost_per_token":2.5e-06,"output_cost_per_token":1.5e-05,"cache_read_input_token_cost":2.5e-07,
            "input_cost_per_token_above_272k_tokens":5e-06,"output_cost_per_token_above_272k_tokens":2.25e-05,"cache_read_input_token_cost_above_272k_tokens":5e-07,
            "input_cost_per_token_priority":5e-06,"output_cost_per_token_priority":3e-05,"cache_read_input_token_cost_priority":5e-07,
            "input_cost_per_token_flex":1.25e-06,"output_cost_per_token_flex":7.5e-06,"cache_read_input_token_cost_flex":1.3e-07,
            "litellm_provider":"openai","max_input_tokens":1050000{extra}}}}}"#)).unwrap()
    }

    /// (under the band, over it) at each tier: 100,000 and 300,000 prompt tokens, 2,000 out.
    fn under_and_over_272k(t: &PriceTable, model: &str) -> Vec<(String, String)> {
        let p = t.get(model).unwrap();
        let total = |input, tier| p.cost(&Usage { input_tokens: input, output_tokens: 2_000, service_tier: tier, ..Usage::default() }, false).total.to_string();
        [ServiceTier::Standard, ServiceTier::Priority, ServiceTier::Flex].into_iter().map(|tier| (total(100_000, tier), total(300_000, tier))).collect()
    }

    fn expected(pairs: [(&str, &str); 3]) -> Vec<(String, String)> {
        pairs.iter().map(|(under, over)| (under.to_string(), over.to_string())).collect()
    }

    #[test]
    fn a_processing_tier_pays_its_own_price_inside_a_long_context_band() {
        // Past 272k: priority 10 / 45, flex 2.5 / 11.25 (the band's tier prices). Priority was
        // 1.56 past it, its base rates; flex 0.39.
        let litellm = gpt_5_4_litellm(
            r#","input_cost_per_token_above_272k_tokens_priority":1e-05,"output_cost_per_token_above_272k_tokens_priority":4.5e-05,"cache_read_input_token_cost_above_272k_tokens_priority":1e-06,
            "input_cost_per_token_above_272k_tokens_flex":2.5e-06,"output_cost_per_token_above_272k_tokens_flex":1.125e-05,"cache_read_input_token_cost_above_272k_tokens_flex":2.5e-07"#,
        );
        let native = PriceTable::from_json(r#"{"version":1,"models":{"gpt-5.4":{"input":2.5,"output":15,"cached_input":0.25,
            "service_tiers":{"priority":{"input":5,"output":30,"cached_input":0.5},"flex":{"input":1.25,"output":7.5,"cached_input":0.13}},
            "tiers":[{"above_input_tokens":272000,"input":5,"output":22.5,"cached_input":0.5,
                      "service_tiers":{"priority":{"input":10,"output":45,"cached_input":1},"flex":{"input":2.5,"output":11.25,"cached_input":0.25}}}]}}}"#).unwrap();
        for t in [&litellm, &native] {
            // Under: 100,000 × 2.5 + 2,000 × 15; at priority × 2, at flex ÷ 2. Over: 300,000 × 5
            // + 2,000 × 22.5; 300,000 × 10 + 2,000 × 45; 300,000 × 2.5 + 2,000 × 11.25.
            assert_eq!(under_and_over_272k(t, "gpt-5.4"), expected([("0.28", "1.545"), ("0.56", "3.09"), ("0.14", "0.7725")]));
            // The band's own flex cached price stands (0.25, not 0.13 × 2).
            let cached = Usage { input_tokens: 300_000, cached_input_tokens: 100_000, service_tier: ServiceTier::Flex, ..Usage::default() };
            assert_eq!(t.get("gpt-5.4").unwrap().cost(&cached, false).cached_input.to_string(), "0.025");
        }
        // A band's tier prices alone (the row names none for the tier) are the tier's in the
        // band; below it the tier costs standard.
        let band_only = PriceTable::from_json(r#"{"m":{"input_cost_per_token":2.5e-06,"output_cost_per_token":1.5e-05,"input_cost_per_token_above_272k_tokens_priority":1e-05}}"#).unwrap();
        let m = band_only.get("m").unwrap();
        assert_eq!((m.rates_at(ServiceTier::Priority, 100_000).input, m.rates_at(ServiceTier::Priority, 300_000).input), (Usd::per_token_from_usd(2.5e-06).unwrap(), Usd::per_token_from_usd(1e-05).unwrap()));
        assert_eq!(m.rates_at(ServiceTier::Standard, 300_000).input, Usd::per_token_from_usd(2.5e-06).unwrap(), "standard has no band");
        // A band's tier prices are checked as the row's are.
        let refused = |text: &str, what: &str| {
            let e = PriceTable::from_json(text).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        };
        refused(r#"{"models":{"m":{"input":2.5,"output":15,"tiers":[{"above_input_tokens":272000,"input":5,"service_tiers":{"priority":{"input":10,"outptu":45}}}]}}}"#, "tiers[0].service_tiers.priority.outptu");
        refused(r#"{"models":{"m":{"input":2.5,"output":15,"tiers":[{"above_input_tokens":272000,"input":5,"service_tiers":{"turbo":{"input":10}}}]}}}"#, "tiers[0].service_tiers.turbo");
        refused(r#"{"models":{"m":{"input":2.5,"output":15,"tiers":[{"above_input_tokens":272000,"input":5,"service_tiers":{"flex":{"above_input_tokens":1}}}]}}}"#, "tiers[0].service_tiers.flex.above_input_tokens");
        refused(r#"{"models":{"m":{"input":2.5,"output":15,"tiers":[{"above_input_tokens":272000,"input":5,"service_tiers":{"flex":{"input":-1}}}]}}}"#, "tiers[0].service_tiers.flex.input");
    }

    #[test]
    fn a_processing_tier_without_a_price_in_a_band_carries_the_bands_surcharge() {
        // LiteLLM's gpt-5.4 row as it is: no tier prices past 272k. Priority's 5 / 30 take the
        // band's 2× input and 1.5× output (10 / 45), flex's 1.25 / 7.5 too (2.5 / 11.25).
        let litellm = gpt_5_4_litellm("");
        let native = PriceTable::from_json(r#"{"version":1,"models":{"gpt-5.4":{"input":2.5,"output":15,"cached_input":0.25,
            "service_tiers":{"priority":{"input":5,"output":30,"cached_input":0.5},"flex":{"input":1.25,"output":7.5,"cached_input":0.13}},
            "tiers":[{"above_input_tokens":272000,"input":5,"output":22.5,"cached_input":0.5}]}}}"#).unwrap();
        for t in [&litellm, &native] {
            assert_eq!(under_and_over_272k(t, "gpt-5.4"), expected([("0.28", "1.545"), ("0.56", "3.09"), ("0.14", "0.7725")]));
            // Flex's cached 0.13 with the band's 2× (0.5 against 0.25).
            let cached = Usage { input_tokens: 300_000, cached_input_tokens: 100_000, service_tier: ServiceTier::Flex, ..Usage::default() };
            assert_eq!(t.get("gpt-5.4").unwrap().cost(&cached, false).cached_input.to_string(), "0.026");
        }
        // A band's tier price that names only the input: its other prices follow the tier's with
        // the surcharge (output 30 × 1.5), its cached price its input (0.5 × 12 / 5).
        let partial = PriceTable::from_json(r#"{"models":{"m":{"input":2.5,"output":15,"cached_input":0.25,"service_tiers":{"priority":{"input":5,"output":30,"cached_input":0.5}},
            "tiers":[{"above_input_tokens":272000,"input":5,"output":22.5,"cached_input":0.5,"service_tiers":{"priority":{"input":12}}}]}}}"#).unwrap();
        let r = partial.get("m").unwrap().rates_at(ServiceTier::Priority, 300_000);
        assert_eq!((r.input.to_string(), r.output.to_string(), r.cached_input.to_string()), ("0.000012".into(), "0.000045".into(), "0.0000012".into()));
    }

    #[test]
    fn audio_input_has_its_own_price() {
        let t = PriceTable::from_json(r#"{"models":{"flash":{"input":0.3,"output":2.5,"cached_input":0.03,"audio_input":1,"cached_audio_input":0.1},"plain":{"input":0.3,"output":2.5}}}"#).unwrap();
        // A 10-minute clip (19,200 audio tokens) and 100 text tokens.
        let clip = Usage::from_gemini(&serde_json::json!({"promptTokenCount": 19300, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 19200}, {"modality": "TEXT", "tokenCount": 100}]}));
        assert_eq!((clip.audio_input_tokens, clip.uncached_audio_input_tokens()), (19_200, 19_200));
        assert_eq!(t.get("flash").unwrap().cost(&clip, false).input.to_string(), "0.01923");
        assert_eq!(t.get("plain").unwrap().cost(&clip, false).input.to_string(), "0.00579", "no audio price: the text price");
        // The same clip from Gemini's context cache: 19,200 cached audio at 0.10, 100 text at 0.30.
        let cached = Usage::from_gemini(&serde_json::json!({"promptTokenCount": 19300, "cachedContentTokenCount": 19200,
            "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 19200}, {"modality": "TEXT", "tokenCount": 100}], "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 19200}]}));
        let c = t.get("flash").unwrap().cost(&cached, false);
        assert_eq!((c.input.to_string().as_str(), c.cached_input.to_string().as_str()), ("0.00003", "0.00192"));
        let litellm = PriceTable::from_json(r#"{"gemini-2.5-flash":{"input_cost_per_token":3e-07,"output_cost_per_token":2.5e-06,"cache_read_input_token_cost":3e-08,"input_cost_per_audio_token":1e-06}}"#).unwrap();
        assert_eq!(litellm.get("gemini-2.5-flash").unwrap().cost(&clip, false).input.to_string(), "0.01923");
        // No cached audio price: the audio price discounted as text is (0.03 / 0.30 of 1.00), not
        // the full audio price.
        assert_eq!(litellm.get("gemini-2.5-flash").unwrap().cost(&cached, false).cached_input.to_string(), "0.00192");
        // Free text and paid audio: no discount to derive, cached audio at the cached text price
        // (a ratio to a zero input price would divide by zero).
        let free_text = PriceTable::from_json(r#"{"models":{"m":{"input":0,"output":1,"audio_input":1}}}"#).unwrap();
        assert_eq!(free_text.get("m").unwrap().cost(&cached, false).cached_input, Usd::ZERO);
    }

    #[test]
    fn audio_output_has_its_own_price() {
        // gpt-4o-audio-preview: text 2.50 in / 10 out, audio 40 in / 80 out. A spoken answer of
        // 1,000 tokens, 900 of them audio, to a prompt of 100 tokens, 20 of them audio.
        let t = PriceTable::from_json(r#"{"models":{"audio":{"input":2.5,"output":10,"audio_input":40,"audio_output":80},"plain":{"input":2.5,"output":10}}}"#).unwrap();
        let spoken = Usage::from_openai(&serde_json::json!({"prompt_tokens": 100, "completion_tokens": 1000,
            "prompt_tokens_details": {"audio_tokens": 20}, "completion_tokens_details": {"audio_tokens": 900, "text_tokens": 100}})).unwrap();
        assert_eq!(spoken.audio_output_tokens, 900);
        let c = t.get("audio").unwrap().cost(&spoken, false);
        assert_eq!((c.input.to_string().as_str(), c.output.to_string().as_str(), c.total.to_string().as_str()), ("0.001", "0.073", "0.074"));
        assert_eq!(t.get("plain").unwrap().cost(&spoken, false).output.to_string(), "0.01", "no audio price: the text price");
        let litellm = PriceTable::from_json(r#"{"gpt-4o-audio-preview":{"input_cost_per_token":2.5e-06,"output_cost_per_token":1e-05,"input_cost_per_audio_token":4e-05,"output_cost_per_audio_token":8e-05}}"#).unwrap();
        assert_eq!(litellm.get("gpt-4o-audio-preview").unwrap().cost(&spoken, false).total.to_string(), "0.074");
        // Gemini reports spoken output by modality.
        let gemini = Usage::from_gemini(&serde_json::json!({"promptTokenCount": 10, "candidatesTokenCount": 500, "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 500}]}));
        assert_eq!(gemini.audio_output_tokens, 500);
    }

    #[test]
    fn litellm_aliases_are_priced_as_the_row_they_name_and_its_metadata_is_skipped() {
        // As LiteLLM 1.110.2's file has them: each of these failed the whole file.
        let t = PriceTable::from_json(r#"{"sample_spec":{"input_cost_per_token":0},
            "claude-sonnet-latest":{"alias_of":"claude-sonnet-4-6"},
            "sonnet":{"alias_of":"claude-sonnet-latest"},
            "claude-sonnet-4-6":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"litellm_provider":"anthropic"},
            "gone-latest":{"alias_of":"no-such-model"},
            "fallback_generalizations":{"rules":[{"name":"bedrock-claude-ids","pattern":"^anthropic\\.claude-"}]}}"#)
        .unwrap();
        assert_eq!(t.get("claude-sonnet-latest"), t.get("claude-sonnet-4-6"));
        assert_eq!(t.get("sonnet"), t.get("claude-sonnet-4-6"), "an alias of an alias");
        assert!(t.get("claude-sonnet-latest").is_some());
        assert!(t.get("gone-latest").is_none() && t.get("fallback_generalizations").is_none());
        assert_eq!(t.models.len(), 3);
        // An entry with a price of this router's format is a row, read (and here refused for its
        // missing input price), not metadata skipped.
        let priced_ours = PriceTable::from_json(r#"{"m":{"output":1}}"#).unwrap_err();
        assert!(priced_ours.to_string().contains(r#"model "m""#), "{priced_ours}");
        // In this router's own format neither is a field it knows.
        let ours = PriceTable::from_json(r#"{"version":1,"models":{"m":{"alias_of":"n"}}}"#).unwrap_err();
        assert!(ours.to_string().contains(r#"field "alias_of": unknown field"#), "{ours}");
    }

    #[test]
    fn imports_litellm_entries() {
        let t = PriceTable::from_json(r#"{"sample_spec":{"input_cost_per_token":0},
            "gemini/gemini-2.5-pro":{"input_cost_per_token":1.25e-06,"output_cost_per_token":1e-05,"input_cost_per_token_above_200k_tokens":2.5e-06,
              "output_cost_per_token_above_200k_tokens":1.5e-05,"cache_read_input_token_cost":3.1e-07,"max_input_tokens":1048576,"max_output_tokens":65535,"litellm_provider":"gemini"},
            "gpt-4o-mini":{"input_cost_per_token":1.5e-07,"output_cost_per_token":6e-07,"input_cost_per_token_batches":7.5e-08}}"#)
        .unwrap();
        let p = t.get("gemini/gemini-2.5-pro").unwrap();
        assert_eq!(p.tiers.len(), 1);
        assert_eq!(p.context_window, Some(1_048_576));
        assert_eq!(p.cost(&usage(200_001, 0, 0, 1000, 0), false).total.to_string(), "0.5150025");
        assert_eq!(t.get("gpt-4o-mini").unwrap().batch_discount_ppm, 500_000);
        assert!(t.get("sample_spec").is_none());
        // The file as a whole: entries priced per image or second are skipped, not refused (the
        // table was, whole, for its second entry); "can reason" is not "reasons unasked" for
        // Claude, which thinks only when asked, but for the models that think by default.
        let t = PriceTable::from_json(r#"{"1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0":{"litellm_provider":"bedrock","max_input_tokens":2600,"mode":"image_generation","output_cost_per_image":0.06},
            "claude-haiku-4-5":{"input_cost_per_token":1e-06,"output_cost_per_token":5e-06,"litellm_provider":"anthropic","supports_reasoning":true},
            "claude-sonnet-5":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"litellm_provider":"anthropic","supports_reasoning":true},
            "o4-mini":{"input_cost_per_token":1.1e-06,"output_cost_per_token":4.4e-06,"litellm_provider":"openai","supports_reasoning":true}}"#)
        .unwrap();
        assert_eq!(t.models.len(), 3);
        // An entry with one per-token price (LiteLLM's embedding rows give input only) is priced,
        // not skipped as one priced per image or second.
        let embeddings = PriceTable::from_json(r#"{"text-embedding-3-small":{"input_cost_per_token":2e-08,"litellm_provider":"openai","mode":"embedding"}}"#).unwrap();
        assert_eq!(embeddings.get("text-embedding-3-small").unwrap().cost(&usage(1_000_000, 0, 0, 0, 0), false).total.to_string(), "0.02");
        assert!(!t.get("claude-haiku-4-5").unwrap().supports_reasoning);
        // Gemini 2.5 Flash-Lite, like Claude, thinks only when asked (sent a budget); 2.5 Flash unasked.
        let gemini = PriceTable::from_json(r#"{"gemini/gemini-2.5-flash-lite":{"input_cost_per_token":1e-07,"output_cost_per_token":4e-07,"litellm_provider":"gemini","supports_reasoning":true},
            "gemini/gemini-2.5-flash":{"input_cost_per_token":3e-07,"output_cost_per_token":2.5e-06,"litellm_provider":"gemini","supports_reasoning":true}}"#).unwrap();
        assert!(!gemini.get("gemini/gemini-2.5-flash-lite").unwrap().supports_reasoning);
        assert!(gemini.get("gemini/gemini-2.5-flash").unwrap().supports_reasoning);
        assert!(t.get("claude-sonnet-5").unwrap().supports_reasoning, "Sonnet 5 thinks unasked");
        assert!(t.get("o4-mini").unwrap().supports_reasoning);
    }

    #[test]
    fn validation_names_model_and_field() {
        let e = PriceTable::from_json(r#"{"models":{"m":{"input":"cheap"}}}"#).unwrap_err();
        assert_eq!(e.to_string(), "pricing: model \"m\": field \"input\": must be a number, got \"cheap\"");
        let e = PriceTable::from_json(r#"{"models":{"m":{"output":1}}}"#).unwrap_err();
        assert!(e.to_string().contains("\"input\": is required"));
        let e = PriceTable::from_json(r#"{"models":{"m":{"input":1,"ouput":2}}}"#).unwrap_err();
        assert!(e.to_string().contains("\"ouput\": unknown field"));
        let e = PriceTable::from_json(r#"{"models":{"m":{"input":1,"tiers":[{"input":2}]}}}"#).unwrap_err();
        assert!(e.to_string().contains("tiers[0].above_input_tokens"));
        let e = PriceTable::from_json(r#"{"models":{"m":{"input":1,"batch_discount":1.5}}}"#).unwrap_err();
        assert!(e.to_string().contains("batch_discount"));
    }

    /// Saturday 2026-12-05 and Monday 2026-12-07, 00:00 UTC.
    const SATURDAY: i64 = 1_796_428_800;
    const MONDAY: i64 = 1_796_601_600;
    const HOUR: i64 = 3600;

    #[test]
    fn off_peak_blocks_are_validated_with_where_they_are() {
        let refused = |off_peak: &str, what: &str| {
            let text = format!(r#"{{"models":{{"m":{{"input":0.3,"output":1.2,"off_peak":{off_peak}}}}}}}"#);
            let e = PriceTable::from_json(&text).unwrap_err().to_string();
            assert!(e.starts_with("pricing: model \"m\": field") && e.contains(what), "{off_peak}: {e}");
        };
        let window = r#"[{"weekdays":[6,7],"hours_utc":"00:00-00:00"}]"#;
        refused(&format!(r#"{{"input":0.15,"output":1.5,"windows":{window}}}"#), "\"off_peak.output\": is above the row's own price");
        refused(r#"{"input":0.15}"#, "\"off_peak.windows\": is required");
        refused(r#"{"input":0.15,"windows":[]}"#, "\"off_peak.windows\": is empty");
        refused(&format!(r#"{{"input":-0.15,"windows":{window}}}"#), "\"off_peak.input\": must be a non-negative number");
        refused(&format!(r#"{{"inptu":0.15,"windows":{window}}}"#), "\"off_peak.inptu\": unknown field; expected one of windows, weekday_timezone, input, output");
        refused(&format!(r#"{{"input":0.15,"weekday_timezone":"Asia/Peking","windows":{window}}}"#), "\"off_peak.weekday_timezone\": 'Asia/Peking' is no time zone of the tz database");
        refused(&format!(r#"{{"input":0.15,"weekday_timezone":8,"windows":{window}}}"#), "\"off_peak.weekday_timezone\": must be a time zone's name");
        // Weekdays in a zone, hours in UTC: Friday 2026-08-28 16:30 UTC is Saturday in Beijing.
        let zoned = PriceTable::from_json(r#"{"models":{"m":{"input":0.3,"output":1.2,"off_peak":{"input":0.15,"weekday_timezone":"Asia/Shanghai","windows":[{"weekdays":[6],"hours_utc":"16:00-17:00"}]}}}}"#).unwrap();
        let row = zoned.get("m").unwrap();
        let input_only = usage(1_000_000, 0, 0, 0, 0);
        assert_eq!((row.at(1_787_934_600).charge(&input_only).total.to_string(), row.at(1_787_934_600 + 86_400).charge(&input_only).total.to_string()), ("0.15".to_string(), "0.3".to_string()));
        refused(r#"{"input":0.15,"windows":[{"weekdays":[0,1],"hours_utc":"00:00-00:00"}]}"#, "\"off_peak.windows[0].weekdays\": must be ISO weekdays, 1 (Monday) to 7 (Sunday); got 0");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[6],"hours_utc":"00:00-00:00"},{"weekdays":[8],"hours_utc":"00:00-00:00"}]}"#, "\"off_peak.windows[1].weekdays\": must be ISO weekdays");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[],"hours_utc":"00:00-00:00"}]}"#, "\"off_peak.windows[0].weekdays\": is required");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1]}]}"#, "\"off_peak.windows[0].hours_utc\": is required");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":[]}]}"#, "\"off_peak.windows[0].hours_utc\": is required");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":["10:00-24:00"]}]}"#, "\"off_peak.windows[0].hours_utc\": \"10:00-24:00\" is not a span \"HH:MM-HH:MM\" of hours 00-23");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":["1:00-02:00"]}]}"#, "\"1:00-02:00\" is not a span");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":["10:00"]}]}"#, "\"10:00\" is not a span");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":["22:00-02:00"]}]}"#, "\"22:00-02:00\" ends before it starts");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours_utc":["05:00-05:00"]}]}"#, "\"05:00-05:00\" ends before it starts (or is empty)");
        refused(r#"{"input":0.15,"windows":[{"weekdays":[1],"hours":"00:00-00:00"}]}"#, "\"off_peak.windows[0].hours\": unknown field; expected one of weekdays, hours_utc");
        let e = PriceTable::from_json(&format!(r#"{{"models":{{"m":{{"input":0.3,"output":1.2,"service_tiers":{{"flex":{{"input":0.15}}}},"off_peak":{{"input":0.15,"windows":{window}}}}}}}}}"#)).unwrap_err().to_string();
        assert!(e.contains("\"off_peak\": cannot be given on a row with tiers or service_tiers"), "{e}");
        // A price the block leaves out is the row's (its cache prices in proportion to the
        // input, as a processing tier's are).
        let t = PriceTable::from_json(&format!(r#"{{"models":{{"m":{{"input":0.3,"output":1.2,"cached_input":0.03,"off_peak":{{"input":0.15,"windows":{window}}}}}}}}}"#)).unwrap();
        let rates = t.get("m").unwrap().off_peak.as_ref().unwrap().rates;
        assert_eq!((rates.input.to_string(), rates.output.to_string(), rates.cached_input.to_string()), ("0.00000015".into(), "0.0000012".into(), "0.000000015".into()));
    }

    #[test]
    fn the_seeded_deepseek_row_bills_half_off_peak() {
        let t = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let flash = t.get("deepseek-v4-flash").unwrap();
        // 1M prompt tokens (200k of them cached) and 1M output tokens.
        let u = usage(1_000_000, 200_000, 0, 1_000_000, 0);
        let charged = |at: i64| flash.at(at).charge(&u).total.to_string();
        // 800k × 0.3 + 200k × 0.006 + 1M × 1.2, and half that.
        let (full, half) = ("1.4412", "0.7206");
        assert_eq!(charged(SATURDAY + 2 * HOUR), half, "Saturday: off-peak all day");
        assert_eq!(charged(SATURDAY + 24 * HOUR + 9 * HOUR), half, "Sunday");
        assert_eq!(charged(MONDAY + 2 * HOUR), full, "a weekday, 02:00 UTC: peak");
        assert_eq!(charged(MONDAY + 12 * HOUR), half, "a weekday, 12:00 UTC: off-peak");
        assert_eq!(charged(MONDAY + 4 * HOUR), half, "04:00 starts off-peak");
        assert_eq!(charged(MONDAY + 6 * HOUR), full, "06:00 starts peak");
        assert_eq!(charged(MONDAY + 10 * HOUR - 1), full, "09:59:59");
        // The row as it is, what reservations and estimates price by: the standard rates.
        assert_eq!(flash.cost(&u, false).total.to_string(), full);
        // A host's own word on what it charged stands, at any hour.
        let billed = Usage { billed: Some(Usd::parse_decimal("0.5").unwrap()), ..u };
        assert_eq!(flash.at(SATURDAY).charge(&billed).total.to_string(), "0.5");
    }

    #[test]
    fn an_off_peak_span_ending_at_00_00_runs_to_midnight() {
        let t = PriceTable::from_json(r#"{"models":{"m":{"input":2,"output":2,"off_peak":{"input":1,"output":1,"windows":[{"weekdays":[1],"hours_utc":["22:00-00:00"]}]}}}}"#).unwrap();
        let m = t.get("m").unwrap();
        let input_cost = |at: i64| m.at(at).cost(&usage(1_000_000, 0, 0, 0, 0), false).total.to_string();
        assert_eq!(input_cost(MONDAY + 22 * HOUR - 1), "2", "21:59:59 Monday");
        assert_eq!(input_cost(MONDAY + 22 * HOUR), "1", "22:00 Monday");
        assert_eq!(input_cost(MONDAY + 24 * HOUR - 1), "1", "23:59:59 Monday");
        assert_eq!(input_cost(MONDAY + 24 * HOUR), "2", "00:00 Tuesday, not in Monday's window");
        assert_eq!(input_cost(MONDAY - 2 * HOUR + 30), "2", "22:00 Sunday");
        // Before 1970 too: weekdays counted back from Thursday 1970-01-01.
        assert_eq!(input_cost(-6 * 86_400 + 23 * HOUR), "2", "1969-12-26, a Friday");
        assert_eq!(input_cost(-3 * 86_400 + 23 * HOUR), "1", "1969-12-29, a Monday");
    }

    #[test]
    fn imports_litellm_off_peak_pricing() {
        // LiteLLM 1.110.2's deepseek-flash entry, its price keys as they are.
        let entry = r#""input_cost_per_token":3e-07,"output_cost_per_token":1.2e-06,"cache_read_input_token_cost":6e-09,"cache_creation_input_token_cost":0.0,
            "litellm_provider":"deepseek","max_input_tokens":1000000,"max_output_tokens":393216,"mode":"chat",
            "off_peak_pricing":{"cache_read_input_token_cost":3e-09,"input_cost_per_token":1.5e-07,"output_cost_per_token":6e-07,
              "windows":[{"hours_utc":["00:00-01:00","04:00-06:00","10:00-00:00"],"weekdays":[1,2,3,4,5]},{"hours_utc":"00:00-00:00","weekdays":[6,7]}]}"#;
        let t = PriceTable::from_json(&format!(r#"{{"deepseek-flash":{{{entry}}}}}"#)).unwrap();
        let seeded = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let (litellm, ours) = (t.get("deepseek-flash").unwrap(), seeded.get("deepseek-v4-flash").unwrap());
        // The seeded row's windows and prices (LiteLLM's also names DeepSeek's free cache writes).
        let (theirs, ours) = (litellm.off_peak.as_ref().unwrap(), ours.off_peak.as_ref().unwrap());
        assert_eq!(theirs.windows, ours.windows);
        assert_eq!((theirs.rates.input, theirs.rates.output, theirs.rates.cached_input), (ours.rates.input, ours.rates.output, ours.rates.cached_input));
        let u = usage(1_000_000, 200_000, 0, 1_000_000, 0);
        assert_eq!(litellm.at(SATURDAY).charge(&u).total.to_string(), "0.7206");
        assert_eq!(litellm.at(MONDAY + 2 * HOUR).charge(&u).total.to_string(), "1.4412");
        // Weekdays counted in another zone (LiteLLM's Tencent rows), hours still UTC: Friday
        // 2026-08-28 16:30 UTC is Saturday 00:30 in Beijing, a Saturday window's; a day later it
        // is Sunday there. A zone the table lacks: no off-peak, the standard rates.
        let saturday_in_beijing = |zone: &str| format!(r#""input_cost_per_token":3e-07,"output_cost_per_token":1.2e-06,"off_peak_pricing":{{"input_cost_per_token":1.5e-07,"output_cost_per_token":6e-07,{zone}"windows":[{{"hours_utc":"16:00-17:00","weekdays":[6]}}]}}"#);
        let (friday, saturday) = (1_787_934_600, 1_788_021_000);
        let cost_at = |entry: &str, t: i64| PriceTable::from_json(&format!(r#"{{"m":{{{entry}}}}}"#)).unwrap().get("m").unwrap().at(t).charge(&u).total.to_string();
        let zoned = saturday_in_beijing(r#""weekday_timezone":"Asia/Shanghai","#);
        assert_eq!((cost_at(&zoned, friday).as_str(), cost_at(&zoned, saturday).as_str()), ("0.75", "1.5"));
        let utc = saturday_in_beijing("");
        assert_eq!((cost_at(&utc, friday).as_str(), cost_at(&utc, saturday).as_str()), ("1.5", "0.75"), "weekdays in UTC without the zone");
        assert_eq!(cost_at(&saturday_in_beijing(r#""weekday_timezone":"UTC","#), saturday), "0.75");
        let unknown = saturday_in_beijing(r#""weekday_timezone":"Asia/Peking","#);
        assert_eq!((cost_at(&unknown, friday).as_str(), cost_at(&unknown, saturday).as_str()), ("1.5", "1.5"));
        // So too for a row with processing-tier prices.
        let tiered = format!(r#"{entry},"input_cost_per_token_flex":1e-07"#);
        assert_eq!(cost_at(&tiered, SATURDAY), "1.4412");
        // Windows written in ways this reader does not take (LiteLLM's schema allows a top-level
        // `hours_utc`, weekday names, spans across midnight), or off-peak prices above the
        // standard ones (which reservations hold): read at the standard rates, not refused with
        // the whole file.
        let odd = [
            entry.replace("[6,7]", "[6,7,8]"),
            entry.replace("[6,7]", r#"["Saturday","Sunday"]"#),
            entry.replace(r#""00:00-00:00","weekdays""#, r#""16:30-00:30","weekdays""#),
            r#""input_cost_per_token":3e-07,"output_cost_per_token":1.2e-06,"litellm_provider":"deepseek","off_peak_pricing":{"hours_utc":"16:30-00:30","input_cost_per_token":1.5e-07}"#.to_string(),
            entry.replace("1.5e-07", "5e-07"),
        ];
        for other in odd {
            let t = PriceTable::from_json(&format!(r#"{{"m":{{{other}}}}}"#)).unwrap_or_else(|e| panic!("{other}: {e}"));
            assert!(t.get("m").unwrap().off_peak.is_none(), "{other}");
        }
        let e = PriceTable::from_json(&format!(r#"{{"m":{{{}}}}}"#, entry.replace("1.5e-07", "-1.5e-07"))).unwrap_err().to_string();
        assert!(e.contains("\"off_peak_pricing.input_cost_per_token\": must be a non-negative number"), "{e}");
    }

    #[test]
    fn a_reasoning_price_applies_to_the_reasoning_part_of_the_output() {
        let t = PriceTable::from_json(r#"{"models":{"r":{"input":1,"output":4,"reasoning":8}}}"#).unwrap();
        // 100 output tokens, 60 of them reasoning: 40 at 4 and 60 at 8 per million.
        let c = t.get("r").unwrap().cost(&usage(0, 0, 0, 100, 60), false);
        assert_eq!(c.output.to_string(), "0.00064");
    }

    #[test]
    fn a_cap_equal_to_the_models_output_limit_fits() {
        let t = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2,"context_window":1000,"max_output_tokens":100}}}"#).unwrap();
        let m = t.get("m").unwrap();
        assert_eq!(m.cannot_take(900, 100, Some(100)), None);
        assert!(m.cannot_take(899, 101, Some(101)).is_some());
        assert!(m.cannot_take(1000, 1, None).is_some());
    }

    #[test]
    fn a_prompt_limit_holds_the_prompt_and_the_window_both() {
        let t = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2,"context_window":400,"max_input_tokens":272,"max_output_tokens":128},"g":{"input":1,"output":2,"max_input_tokens":1000}}}"#).unwrap();
        let m = t.get("m").unwrap();
        assert_eq!(m.cannot_take(272, 128, Some(128)), None);
        assert_eq!(m.cannot_take(273, 1, None).as_deref(), Some("takes at most 272 prompt tokens < 273"));
        assert_eq!(m.prompt_limit(), Some(272));
        // Without a window, the output is held by its own cap alone.
        let g = t.get("g").unwrap();
        assert_eq!(g.cannot_take(1000, 50_000, None), None);
        assert!(g.cannot_take(1001, 1, None).is_some());
        assert_eq!(t.get("g").unwrap().prompt_limit(), Some(1000));
        let e = PriceTable::from_json(r#"{"version":1,"models":{"m":{"input":1,"output":2,"context_window":400,"max_input_tokens":401}}}"#).unwrap_err().to_string();
        assert!(e.contains("max_input_tokens") && e.contains("401 is above context_window 400"), "{e}");
        // LiteLLM's max_input_tokens is its whole window for the models that have one (gpt-4o).
        let l = PriceTable::from_json(r#"{"gpt-4o":{"input_cost_per_token":2.5e-6,"output_cost_per_token":1e-5,"max_input_tokens":128000,"max_output_tokens":16384}}"#).unwrap();
        assert_eq!((l.get("gpt-4o").unwrap().context_window, l.get("gpt-4o").unwrap().max_input_tokens), (Some(128_000), None));
    }

    #[test]
    fn prices_and_tiers_that_make_no_sense_are_refused() {
        let refused = |text: &str, what: &str| {
            let e = PriceTable::from_json(text).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        };
        refused(r#"{"models":{"m":{"input":-1,"output":2}}}"#, "must be a non-negative number");
        refused(r#"{"models":{"m":{"input":1,"output":2,"tiers":[{"above_input_tokens":1000,"input":2,"output":4},{"above_input_tokens":1000,"input":3,"output":6}]}}}"#, "two tiers share");
    }

    #[test]
    fn litellm_long_context_bands_start_where_their_names_say() {
        // `_above_200k_tokens`: 200,000 tokens, not 200 or 1,200; the band's one-hour writes
        // follow its own five-minute write price.
        let t = PriceTable::from_json(r#"{"s":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_creation_input_token_cost":3.75e-06,
            "cache_creation_input_token_cost_above_200k_tokens":7.5e-06,"input_cost_per_token_above_200k_tokens":6e-06,"output_cost_per_token_above_200k_tokens":2.25e-05}}"#).unwrap();
        let s = t.get("s").unwrap();
        assert_eq!(s.cost(&usage(150_000, 0, 0, 0, 0), false).total.to_string(), "0.45", "150,000 at the base 3 per million");
        assert_eq!(s.cost(&usage(250_000, 0, 0, 0, 0), false).total.to_string(), "1.5", "250,000 at the band's 6");
        let hour = Usage { input_tokens: 250_000, cache_write_tokens: 100_000, cache_write_1h_tokens: 100_000, ..Usage::default() };
        assert_eq!(s.cost(&hour, false).cache_write.to_string(), "1.2", "100,000 one-hour writes at 1.6 x 7.5");
        let five_minutes = Usage { input_tokens: 250_000, cache_write_tokens: 100_000, ..Usage::default() };
        assert_eq!(s.cost(&five_minutes, false).cache_write.to_string(), "0.75", "100,000 five-minute writes at the band's 7.5, not the base 3.75");
        // A band's named cached price stands (not the base's ratio to its input), and so does a
        // processing tier's; a tier with only an input price scales the cached one with it.
        let named = PriceTable::from_json(r#"{"s":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"cache_read_input_token_cost":3e-07,
            "input_cost_per_token_above_200k_tokens":6e-06,"cache_read_input_token_cost_above_200k_tokens":1e-06,
            "input_cost_per_token_priority":6e-06,"cache_read_input_token_cost_priority":2e-06,"input_cost_per_token_flex":1.5e-06}}"#).unwrap();
        let s = named.get("s").unwrap();
        assert_eq!(s.cost(&usage(250_000, 100_000, 0, 0, 0), false).cached_input.to_string(), "0.1", "100,000 cached at the band's 1.00");
        let tiered = |tier| Usage { input_tokens: 100_000, cached_input_tokens: 100_000, service_tier: tier, ..Usage::default() };
        assert_eq!(s.cost(&tiered(crate::usage::ServiceTier::Priority), false).cached_input.to_string(), "0.2");
        assert_eq!(s.cost(&tiered(crate::usage::ServiceTier::Flex), false).cached_input.to_string(), "0.015", "half the input, half the cached price");
    }

    #[test]
    fn a_default_reasoning_effort_of_none_reasons_only_when_asked() {
        // LiteLLM's gpt-5.4-mini row, and ours.
        let litellm = PriceTable::from_json(r#"{"gpt-5.4-mini":{"input_cost_per_token":7.5e-07,"output_cost_per_token":4.5e-06,"litellm_provider":"openai","supports_reasoning":true,"default_reasoning_effort":"none"}}"#).unwrap();
        let native = PriceTable::from_json(r#"{"models":{"gpt-5.4-mini":{"input":0.75,"output":4.5,"supports_reasoning":true,"default_reasoning_effort":"none"},"o4-mini":{"input":1.1,"output":4.4,"supports_reasoning":true},"gpt-4o":{"input":2.5,"output":10}}}"#).unwrap();
        for t in [&litellm, &native] {
            let mini = t.get("gpt-5.4-mini").unwrap();
            assert_eq!(mini.default_reasoning_effort.as_deref(), Some("none"));
            assert_eq!([None, Some("none"), Some("minimal"), Some("high")].map(|e| mini.reasons_at(e)), [false, false, true, true]);
            assert_eq!((mini.effort_at(None), mini.effort_at(Some("low"))), (Some("none"), Some("low")));
        }
        let o4 = native.get("o4-mini").unwrap();
        assert_eq!([None, Some("none"), Some("high")].map(|e| o4.reasons_at(e)), [true, false, true]);
        assert!(!native.get("gpt-4o").unwrap().reasons_at(Some("high")), "a model that does not reason does not at any effort");
        let refused = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":1,"supports_reasoning":true,"default_reasoning_effort":"off"}}}"#).unwrap_err();
        assert_eq!(refused.to_string(), r#"pricing: model "m": field "default_reasoning_effort": must be one of none, minimal, low, medium, high, xhigh, max, got "off""#);
    }

    #[test]
    fn an_effort_the_model_does_not_take_runs_at_the_least_it_takes_above_it_or_its_most() {
        let t = PriceTable::from_json(r#"{"models":{
            "o4-mini":{"input":1.1,"output":4.4,"supports_reasoning":true,"reasoning_efforts":["high","low","medium"]},
            "gpt-5.4-mini":{"input":0.75,"output":4.5,"supports_reasoning":true,"default_reasoning_effort":"none","reasoning_efforts":["none","low","medium","high","xhigh"]},
            "unstated":{"input":1,"output":1,"supports_reasoning":true}}}"#).unwrap();
        let efforts = [None, Some("none"), Some("minimal"), Some("low"), Some("medium"), Some("high"), Some("xhigh"), Some("max"), Some("default")];
        let o4 = t.get("o4-mini").unwrap();
        assert_eq!(o4.reasoning_efforts.as_deref(), Some(&["low", "medium", "high"][..]), "kept from the least thinking to the most");
        assert_eq!(efforts.map(|e| o4.effort_at(e)), [None, Some("none"), Some("low"), Some("low"), Some("medium"), Some("high"), Some("high"), Some("high"), Some("default")]);
        // `none` is never raised (a client that turned reasoning off is not billed for thinking):
        // o4-mini refuses it, and says so.
        assert!(!o4.reasons_at(Some("none")));
        assert_eq!(efforts.map(|e| o4.refuses_effort(e)), [false, true, false, false, false, false, false, false, false]);
        let mini = t.get("gpt-5.4-mini").unwrap();
        assert_eq!(efforts.map(|e| mini.effort_at(e)), [Some("none"), Some("none"), Some("low"), Some("low"), Some("medium"), Some("high"), Some("xhigh"), Some("xhigh"), Some("default")]);
        assert_eq!([None, Some("none"), Some("minimal")].map(|e| mini.reasons_at(e)), [false, false, true]);
        let unstated = t.get("unstated").unwrap();
        assert_eq!(efforts.map(|e| unstated.effort_at(e)), efforts, "no list: every effort as asked");
        assert!(!unstated.reasons_at(Some("none")));
        assert!(!unstated.refuses_effort(Some("none")) && !mini.refuses_effort(Some("none")));
        // Nor is any effort lowered to `none`: above all a model takes but `none`, it is as asked.
        let off_only = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":1,"supports_reasoning":true,"reasoning_efforts":["none","low"]},"n":{"input":1,"output":1,"supports_reasoning":true,"reasoning_efforts":["none"]}}}"#).unwrap();
        assert_eq!([Some("minimal"), Some("high")].map(|e| off_only.get("m").unwrap().effort_at(e)), [Some("low"), Some("low")]);
        assert_eq!([Some("minimal"), Some("high")].map(|e| off_only.get("n").unwrap().effort_at(e)), [Some("minimal"), Some("high")]);
        // The seeded rows.
        let seeded = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        assert_eq!(["o4-mini", "gpt-oss-120b", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.4", "gpt-5.5"].map(|m| seeded.get(m).unwrap().effort_at(Some("minimal"))), [Some("low"); 6]);
        assert_eq!(
            ["o4-mini", "gpt-oss-120b", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.4", "gpt-5.5"].map(|m| seeded.get(m).unwrap().effort_at(Some("max"))),
            [Some("high"), Some("high"), Some("xhigh"), Some("xhigh"), Some("xhigh"), Some("xhigh")]
        );
    }

    #[test]
    fn under_a_cap_with_no_room_to_think_the_least_effort_is_sent_unless_the_client_chose_one() {
        let t = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let (o4, mini, gpt4o) = (t.get("o4-mini").unwrap(), t.get("gpt-5.4-mini").unwrap(), t.get("gpt-4o").unwrap());
        // o4-mini at its default (medium, unlisted), a label capped at 50 tokens: at its least.
        assert_eq!(o4.effort_in_place_of(None, Some(50), true), Some("low"));
        assert_eq!(o4.effort_in_place_of(None, Some(2_047), true), Some("low"));
        assert_eq!(o4.effort_in_place_of(None, Some(2_048), true), None, "room enough: its default");
        assert_eq!(o4.effort_in_place_of(None, None, true), None, "no cap: its default");
        // An effort the client set: lowered where a rule chose the model, kept where it named it.
        assert_eq!(o4.effort_in_place_of(Some("high"), Some(50), true), Some("low"));
        assert_eq!(o4.effort_in_place_of(Some("high"), Some(50), false), None);
        // An effort it does not take is fitted whatever the cap, and `none` never raised.
        assert_eq!(o4.effort_in_place_of(Some("minimal"), Some(50), false), Some("low"));
        assert_eq!(o4.effort_in_place_of(Some("xhigh"), None, false), Some("high"));
        assert_eq!(o4.effort_in_place_of(Some("none"), Some(50), true), Some("low"), "routed: the pass-over refuses it first (refuses_effort)");
        assert_eq!(o4.effort_in_place_of(Some("none"), None, true), None);
        // gpt-5.4-mini's least is its default, none: nothing to lower.
        assert_eq!(mini.effort_in_place_of(None, Some(50), true), None);
        assert_eq!(mini.effort_in_place_of(Some("high"), Some(50), true), Some("none"));
        assert_eq!(mini.effort_in_place_of(Some("none"), Some(50), true), None);
        // A model that does not reason, or whose efforts are not stated, is sent what it was.
        assert_eq!(gpt4o.effort_in_place_of(Some("high"), Some(50), true), None);
        let unstated = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":1,"supports_reasoning":true}}}"#).unwrap();
        assert_eq!(unstated.get("m").unwrap().effort_in_place_of(Some("high"), Some(50), true), None);
    }

    #[test]
    fn reasoning_efforts_are_checked_at_load() {
        let refusal = |row: &str| PriceTable::from_json(&format!(r#"{{"models":{{"m":{{"input":1,"output":1,{row}}}}}}}"#)).unwrap_err().to_string();
        let prefix = r#"pricing: model "m": field "#;
        assert_eq!(refusal(r#""supports_reasoning":true,"reasoning_efforts":[]"#), format!(r#"{prefix}"reasoning_efforts": must be a list of the efforts the model takes, such as ["low", "medium", "high"], got []"#));
        assert_eq!(refusal(r#""supports_reasoning":true,"reasoning_efforts":"low""#), format!(r#"{prefix}"reasoning_efforts": must be a list of the efforts the model takes, such as ["low", "medium", "high"], got "low""#));
        assert_eq!(refusal(r#""supports_reasoning":true,"reasoning_efforts":["low","off"]"#), format!(r#"{prefix}"reasoning_efforts": must name efforts among none, minimal, low, medium, high, xhigh, max, got "off""#));
        assert_eq!(refusal(r#""supports_reasoning":true,"reasoning_efforts":["low","low"]"#), format!(r#"{prefix}"reasoning_efforts": names "low" twice"#));
        assert_eq!(refusal(r#""reasoning_efforts":["low"]"#), format!(r#"{prefix}"reasoning_efforts": is given on a row without supports_reasoning: true (a model that does not reason is sent no effort)"#));
        assert_eq!(refusal(r#""supports_reasoning":true,"default_reasoning_effort":"none","reasoning_efforts":["low","high"]"#), format!(r#"{prefix}"default_reasoning_effort": "none" is not among reasoning_efforts (low, high)"#));
        // Claude's and Gemini's efforts become thinking settings the router writes by model.
        assert_eq!(refusal(r#""provider":"anthropic","supports_reasoning":true,"reasoning_efforts":["low"]"#), format!(r#"{prefix}"reasoning_efforts": is given on a Claude or Gemini row: the router turns an effort into those models' thinking settings itself"#));
        assert!(refusal(r#""provider":"gemini","supports_reasoning":true,"reasoning_efforts":["low"]"#).contains("Claude or Gemini row"));
        // By the model's name too, with no provider given.
        let claude = PriceTable::from_json(r#"{"models":{"claude-opus-4":{"input":1,"output":1,"supports_reasoning":true,"reasoning_efforts":["low","high"]}}}"#).unwrap_err();
        assert!(claude.to_string().contains("Claude or Gemini row"), "{claude}");
        let null = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":1,"supports_reasoning":true,"reasoning_efforts":null}}}"#).unwrap();
        assert_eq!(null.get("m").unwrap().reasoning_efforts, None);
    }

    #[test]
    fn litellm_effort_flags_are_read_as_litellm_reads_them() {
        let efforts_of = |flags: &str| {
            let t = PriceTable::from_json(&format!(r#"{{"m":{{"input_cost_per_token":1e-06,"output_cost_per_token":1e-06,"litellm_provider":"openai","supports_reasoning":true{flags}}}}}"#)).unwrap();
            t.get("m").unwrap().reasoning_efforts.clone()
        };
        assert_eq!(efforts_of(""), None, "no flag states nothing");
        assert_eq!(efforts_of(r#","supports_xhigh_reasoning_effort":null"#), None, "a null flag states nothing either");
        // gpt-5.5-pro's shape in LiteLLM's map.
        let pro = r#","supports_none_reasoning_effort":false,"supports_minimal_reasoning_effort":false,"supports_low_reasoning_effort":false,"supports_xhigh_reasoning_effort":true"#;
        assert_eq!(efforts_of(pro), Some(vec!["medium", "high", "xhigh"]));
        assert_eq!(efforts_of(r#","supports_max_reasoning_effort":true"#), Some(vec!["none", "minimal", "low", "medium", "high", "max"]));
        assert_eq!(efforts_of(r#","supports_minimal_reasoning_effort":false,"default_reasoning_effort":"minimal""#), Some(vec!["none", "minimal", "low", "medium", "high"]), "a default the flags leave out is taken");
        let azure = PriceTable::from_json(r#"{"azure/m":{"input_cost_per_token":1e-06,"output_cost_per_token":1e-06,"litellm_provider":"azure","supports_reasoning":true,"supports_xhigh_reasoning_effort":true}}"#).unwrap();
        assert_eq!(azure.get("azure/m").unwrap().reasoning_efforts.as_deref(), Some(&["minimal", "low", "medium", "high", "xhigh"][..]), "on Azure, none only where a flag says so");
        let azure_ai = PriceTable::from_json(r#"{"azure_ai/m":{"input_cost_per_token":1e-06,"output_cost_per_token":1e-06,"litellm_provider":"azure_ai","supports_reasoning":true,"supports_xhigh_reasoning_effort":true}}"#).unwrap();
        assert_eq!(azure_ai.get("azure_ai/m").unwrap().reasoning_efforts.as_deref(), Some(&["none", "minimal", "low", "medium", "high", "xhigh"][..]), "Azure AI is not Azure OpenAI");
        // A stated list says it whole (Kimi K3 takes low, high and max; no flag can drop medium);
        // a level beyond the known names is not one to send in place of another.
        assert_eq!(efforts_of(r#","reasoning_effort_levels":["max","low","high","ultra"],"supports_medium_reasoning_effort":true"#), Some(vec!["low", "high", "max"]));
        assert_eq!(efforts_of(r#","reasoning_effort_levels":[]"#), None, "an empty list is not one to fit efforts to");
        // Claude and Gemini models: their efforts are translated by model, the flags not read.
        let claude = PriceTable::from_json(r#"{"azure_ai/claude-sonnet-5":{"input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"litellm_provider":"azure_ai","supports_reasoning":true,"supports_xhigh_reasoning_effort":true,"supports_max_reasoning_effort":true}}"#).unwrap();
        let claude = claude.get("azure_ai/claude-sonnet-5").unwrap();
        assert!(claude.supports_reasoning, "Sonnet 5 thinks unasked");
        assert_eq!(claude.reasoning_efforts, None);
        let not_reasoning = PriceTable::from_json(r#"{"m":{"input_cost_per_token":1e-06,"output_cost_per_token":1e-06,"litellm_provider":"openai","supports_xhigh_reasoning_effort":true}}"#).unwrap();
        assert_eq!(not_reasoning.get("m").unwrap().reasoning_efforts, None);
        let refused = PriceTable::from_json(r#"{"m":{"input_cost_per_token":1e-06,"output_cost_per_token":1e-06,"supports_reasoning":true,"supports_low_reasoning_effort":"yes"}}"#).unwrap_err();
        assert_eq!(refused.to_string(), r#"pricing: model "m": field "supports_low_reasoning_effort": must be true or false, got "yes""#);
    }

    #[test]
    fn a_prompt_limit_as_large_as_the_window_is_taken() {
        // A row may state its whole window as its prompt limit too: the limit fits the window.
        let t = PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2,"context_window":400,"max_input_tokens":400}}}"#).unwrap();
        assert_eq!(t.get("m").unwrap().prompt_limit(), Some(400));
    }

    #[test]
    fn off_peak_rates_are_refused_or_dropped_beside_long_context_bands_alone() {
        // Bands without processing tiers: off-peak rates would replace the base band only, so
        // our format refuses them and LiteLLM's rows are read at their standard rates.
        let window = r#"[{"weekdays":[6,7],"hours_utc":"00:00-00:00"}]"#;
        let e = PriceTable::from_json(&format!(r#"{{"models":{{"m":{{"input":0.3,"output":1.2,"tiers":[{{"above_input_tokens":200000,"input":0.6}}],"off_peak":{{"input":0.15,"windows":{window}}}}}}}}}"#)).unwrap_err().to_string();
        assert!(e.contains("\"off_peak\": cannot be given on a row with tiers or service_tiers"), "{e}");
        let litellm = PriceTable::from_json(&format!(r#"{{"m":{{"input_cost_per_token":3e-07,"output_cost_per_token":1.2e-06,"input_cost_per_token_above_200k_tokens":6e-07,
            "off_peak_pricing":{{"input_cost_per_token":1.5e-07,"windows":{window}}}}}}}"#)).unwrap();
        let m = litellm.get("m").unwrap();
        assert_eq!(m.tiers.len(), 1);
        assert!(m.off_peak.is_none());
        assert_eq!(m.at(SATURDAY).cost(&usage(100_000, 0, 0, 0, 0), false).total.to_string(), "0.03", "the standard rate under the band");
    }

    #[test]
    fn a_litellm_batch_price_no_lower_than_the_standard_one_is_no_discount() {
        // LiteLLM rows whose batch price equals or exceeds the standard one, or whose input is
        // free: no discount (and no underflow of 1 - batch / full, nor a division by zero).
        for (input, batch) in [("1e-06", "1e-06"), ("1e-06", "2e-06"), ("0.0", "1e-06"), ("0.0", "0.0")] {
            let t = PriceTable::from_json(&format!(r#"{{"m":{{"input_cost_per_token":{input},"output_cost_per_token":2e-06,"input_cost_per_token_batches":{batch}}}}}"#)).unwrap();
            assert_eq!(t.get("m").unwrap().batch_discount_ppm, 0, "{input} / {batch}");
        }
        let t = PriceTable::from_json(r#"{"m":{"input_cost_per_token":1e-06,"output_cost_per_token":2e-06,"input_cost_per_token_batches":2.5e-07}}"#).unwrap();
        assert_eq!(t.get("m").unwrap().batch_discount_ppm, 750_000);
    }
}
