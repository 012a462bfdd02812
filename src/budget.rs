//! Budget arithmetic: windows that reset exactly at UTC boundaries, and reservations that make a
//! hard limit hold under concurrency.
//!
//! Before a request goes upstream, the most it can cost is reserved against every budget that
//! covers it; afterwards the reservation is settled to the actual cost or released. A request
//! whose reservation would take any covering budget past its hard limit is refused, so concurrent
//! requests can never jointly overspend: spent + reserved ≤ limit always holds. The ledger that
//! owns this state (one Durable Object per tenant) applies these operations one at a time.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::calendar::{civil_from_days, days_from_civil, iso_weekday};
use crate::routing::local_time::{day_start, local_day, Zone, ZoneName};
use crate::money::Usd;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Daily,
    /// Resets on `reset_day` (1 = Monday … 7 = Sunday), 00:00 UTC.
    Weekly,
    /// Resets on day `reset_day` (1–28) of each month, 00:00 UTC.
    Monthly,
}

impl Window {
    /// The start (inclusive) and end (exclusive) of the window holding `now`, in Unix seconds,
    /// its days counted in UTC.
    pub fn bounds(self, now: i64, reset_day: u32) -> (i64, i64) {
        self.bounds_in(now, reset_day, None)
    }

    /// As [`Window::bounds`], its days counted in `zone` where one is given: a window then starts
    /// and ends at that zone's midnights (a daily window is 23 or 25 hours long on the days its
    /// clocks change).
    pub fn bounds_in(self, now: i64, reset_day: u32, zone: Option<&Zone>) -> (i64, i64) {
        self.local_days(local_day(zone, now), reset_day, |day| day_start(zone, day))
    }

    /// The window holding the day `today`, its first and its end day turned into instants by
    /// `midnight`.
    fn local_days(self, today: i64, reset_day: u32, midnight: impl Fn(i64) -> i64) -> (i64, i64) {
        let (start, end) = match self {
            Window::Daily => (today, today + 1),
            Window::Weekly => {
                let weekday = iso_weekday(today);
                let reset = reset_day.clamp(1, 7) as i64;
                let start = today - (weekday - reset).rem_euclid(7);
                (start, start + 7)
            }
            Window::Monthly => {
                let reset = reset_day.clamp(1, 28);
                let (y, m, d) = civil_from_days(today);
                let (sy, sm) = if d >= reset { (y, m) } else if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                let (ey, em) = if sm == 12 { (sy + 1, 1) } else { (sy, sm + 1) };
                (days_from_civil(sy, sm, reset), days_from_civil(ey, em, reset))
            }
        };
        (midnight(start), midnight(end))
    }
}

/// What a budget covers: the whole tenant, or the requests carrying one tag value or key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Scope {
    Tenant,
    Team(String),
    Feature(String),
    Env(String),
    Key(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnHardLimit {
    Refuse,
    /// Route to cheaper candidates instead (the policy's downgrade route).
    Downgrade,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub id: String,
    pub scope: Scope,
    pub window: Window,
    #[serde(default = "one")]
    pub reset_day: u32,
    /// USD, as a decimal string or number (`"10.00"`).
    #[serde(with = "crate::money::decimal")]
    pub hard_limit: Usd,
    #[serde(default, with = "crate::money::decimal::option")]
    pub soft_limit: Option<Usd>,
    #[serde(default = "refuse")]
    pub on_hard_limit: OnHardLimit,
    /// The zone whose midnights start and end the windows (a tz database name); UTC's without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<ZoneName>,
}

impl BudgetSpec {
    /// The window holding `now`, in Unix seconds.
    pub fn bounds(&self, now: i64) -> (i64, i64) {
        self.window.bounds_in(now, self.reset_day, self.time_zone.as_ref().and_then(|z| z.zone.as_ref()))
    }

    /// The window holding `now` for a budget in `state`: a window a change of zone stretched,
    /// while it lasts, else the spec's own.
    fn window_of(&self, state: &BudgetState, now: i64) -> (i64, i64) {
        match state.stretched_until {
            Some(end) if now < end && now >= state.window_start => (state.window_start, end),
            _ => self.bounds(now),
        }
    }
}

fn one() -> u32 {
    1
}

/// Why a tenant's budgets cannot be used as given, naming the budget and field: a value out of
/// range would be clamped silently (a monthly `reset_day` of 31 resetting on the 28th), and a
/// scope no request can carry would make a budget that never applies.
pub fn check_budgets(specs: &[BudgetSpec]) -> Result<(), String> {
    let mut ids = std::collections::BTreeSet::new();
    for (i, b) in specs.iter().enumerate() {
        let at = format!("budgets[{i}]");
        if b.id.is_empty() || b.id.len() > 64 || !b.id.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)) {
            return Err(format!("{at}.id must be 1-64 letters, digits, '-', '_' or '.'"));
        }
        if !ids.insert(b.id.as_str()) {
            return Err(format!("{at}.id '{}' is used twice", b.id));
        }
        match b.window {
            Window::Weekly if !(1..=7).contains(&b.reset_day) => return Err(format!("{at}.reset_day must be 1 (Monday) to 7 (Sunday) for a weekly window")),
            Window::Monthly if !(1..=28).contains(&b.reset_day) => return Err(format!("{at}.reset_day must be 1 to 28 for a monthly window")),
            Window::Daily if b.reset_day != 1 => return Err(format!("{at}.reset_day is only for weekly and monthly windows")),
            _ => {}
        }
        if let Some(ZoneName { name, zone: None }) = &b.time_zone {
            return Err(format!("{at}.time_zone {}", Zone::named(name).err().unwrap_or_default()));
        }
        if b.soft_limit.is_some_and(|soft| soft > b.hard_limit) {
            return Err(format!("{at}.soft_limit is above its hard_limit, so it would never warn before the hard limit"));
        }
        let scope_ok = match &b.scope {
            Scope::Tenant => true,
            Scope::Team(v) | Scope::Feature(v) | Scope::Env(v) => crate::attribution::valid_tag(v),
            Scope::Key(v) => crate::tenants::valid_key_id(v),
        };
        if !scope_ok {
            return Err(format!("{at}.scope.value must be an attribution tag (1-64 of letters, digits and -_.:@/), or a key id (key_ and 12 hex digits) for kind 'key'"));
        }
    }
    Ok(())
}

fn refuse() -> OnHardLimit {
    OnHardLimit::Refuse
}

/// The state of one budget in its current window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetState {
    pub window_start: i64,
    /// Where a window a change of time zone stretched or cut short ends (a midnight of the new
    /// zone), while it lasts: see [`Ledger::configure`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretched_until: Option<i64>,
    #[serde(with = "crate::money::decimal")]
    pub spent: Usd,
    #[serde(with = "crate::money::decimal")]
    pub reserved: Usd,
    /// Whether this window's soft-limit alert has been recorded (one alert per budget per window).
    #[serde(default)]
    pub soft_alerted: bool,
    /// Whether this window refused a request for want of room with less than
    /// [`EXHAUSTED_BELOW_PPM`] of the limit left: spend stops short of the hard limit (a request
    /// is admitted only if its most possible cost fits), so this, not spend, says the budget is
    /// spent for the 100% alert.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exhausted: bool,
}

/// What is left of a budget, in millionths of its hard limit, under which a refusal for want of
/// room means the budget is spent (5%): a request that does not fit a budget with more left is
/// itself large, and says nothing of the budget.
pub const EXHAUSTED_BELOW_PPM: u32 = 50_000;

/// A budget event worth telling a person about, recorded in the ledger when it happens and kept
/// (the latest [`ALERT_HISTORY`]) for `GET /v1/budgets` and the alerting cron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetAlert {
    /// `soft_limit`: the budget's spend plus money held for requests in flight passed its soft limit.
    pub kind: String,
    pub budget_id: String,
    pub window_start: i64,
    pub resets_at: i64,
    /// Unix seconds when it was recorded, and the request that crossed the line.
    pub at: i64,
    pub request_id: String,
    #[serde(with = "crate::money::decimal")]
    pub spent: Usd,
    #[serde(with = "crate::money::decimal")]
    pub reserved: Usd,
    #[serde(with = "crate::money::decimal")]
    pub soft_limit: Usd,
    #[serde(with = "crate::money::decimal")]
    pub hard_limit: Usd,
}

/// Alerts kept in a ledger; older ones are dropped first.
pub const ALERT_HISTORY: usize = 200;

/// A request's attributes that decide which budgets cover it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Covered<'a> {
    pub team: &'a str,
    pub feature: &'a str,
    pub env: &'a str,
    pub key_id: &'a str,
}

impl Scope {
    pub fn covers(&self, c: &Covered) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Team(t) => t == c.team,
            Scope::Feature(f) => f == c.feature,
            Scope::Env(e) => e == c.env,
            Scope::Key(k) => k == c.key_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exceeded {
    pub budget_id: String,
    pub limit: Usd,
    pub spent: Usd,
    pub reserved: Usd,
    pub resets_at: i64,
    pub on_hard_limit: OnHardLimit,
}

/// Why a budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceededCause {
    /// Its window's spend reached the hard limit: nothing fits until it resets.
    Spent,
    /// The request's most possible cost is more than the budget has left, requests in flight or
    /// not: a lower output cap may fit.
    RequestTooLarge,
    /// It would fit, but requests in flight hold the room (their most possible costs): it may
    /// once they finish.
    HeldInFlight,
}

impl Exceeded {
    /// What the budget has left before holds: its hard limit less its spend.
    pub fn left(&self) -> Usd {
        self.limit.saturating_sub(self.spent).max(Usd::ZERO)
    }

    /// Why a request of most possible cost `amount` was refused.
    pub fn cause(&self, amount: Usd) -> ExceededCause {
        if self.spent >= self.limit {
            ExceededCause::Spent
        } else if amount > self.left() {
            ExceededCause::RequestTooLarge
        } else {
            ExceededCause::HeldInFlight
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reserved {
    /// Budgets whose spend and holds are now past their soft limit (the response carries a
    /// warning). The window's alert waits for spend itself to pass it (see `Ledger::settle`).
    pub soft_warnings: Vec<String>,
    /// Whether it holds money against any budget (a tenant with per-minute limits alone holds
    /// none: there is nothing to keep held through a long stream).
    pub held: bool,
}

/// One tenant's budgets and open reservations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub specs: Vec<BudgetSpec>,
    pub states: BTreeMap<String, BudgetState>,
    pub reservations: BTreeMap<String, Reservation>,
    #[serde(default)]
    pub limits: RateLimits,
    #[serde(default)]
    pub minute: MinuteCounters,
    #[serde(default)]
    pub alerts: std::collections::VecDeque<BudgetAlert>,
    /// Reservations that expired while their request may still be running, by request id, so
    /// a late settlement is still charged.
    #[serde(default)]
    pub expired: BTreeMap<String, ExpiredReservation>,
    /// Reservations made, renewed, settled or expired since [`Ledger::take_changed_reservations`],
    /// by request id. The ledger Durable Object keeps each reservation in a row of its own and
    /// writes only these, so a request costs it the same however many others are in flight
    /// (stored as one value with the rest, 3,000 in flight made every request write 300 KB).
    #[serde(skip)]
    changed_reservations: ChangedIds,
}

/// Request ids whose reservation changed (see `Ledger::changed_reservations`). Not part of the
/// ledger's value: two ledgers holding the same money are equal whatever each has yet to write.
#[derive(Debug, Clone, Default)]
struct ChangedIds(BTreeSet<String>);

impl PartialEq for ChangedIds {
    fn eq(&self, _: &ChangedIds) -> bool {
        true
    }
}

/// The request ids a ledger finished lately, so a `/finish` batch the worker sends again (its
/// first call failed after the ledger had applied it, or seemed to) is not charged and rolled up
/// twice. Bounded: the oldest id is forgotten first; a retry comes within seconds.
#[derive(Debug, Default)]
pub struct RecentIds {
    order: std::collections::VecDeque<String>,
    seen: std::collections::HashSet<String>,
    /// The set has been given the table its churn needs (see `remember`).
    sized_for_churn: bool,
}

impl RecentIds {
    pub const KEPT: usize = 4096;

    /// Whether `id` was finished lately.
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// Remembers `id` as finished, once its finish has been applied.
    pub fn remember(&mut self, id: &str) {
        if self.seen.contains(id) {
            return;
        }
        if self.order.len() == Self::KEPT {
            // From here on every id in is one out, and the set's table fills with deleted slots:
            // at 4,096 live ids in 8,192 buckets hashbrown answers its first rehash by doubling
            // (a once-only 100 KB step thousands of requests later, at no predictable moment).
            // Given twice the room once, a rehash then finds its live ids under half the table
            // and rehashes in place. The oldest id leaves before the new one joins, so the queue
            // never outgrows its 4,096.
            if !self.sized_for_churn {
                self.seen.reserve(Self::KEPT);
                self.sized_for_churn = true;
            }
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id.to_string());
        self.order.push_back(id.to_string());
    }
}

/// Money held for a request in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub budgets: Vec<String>,
    pub amount: Usd,
    /// A request that never settles (its worker died) stops holding money after this.
    pub expires_at: i64,
}

/// How long a reservation holds money unless renewed. Nothing cuts a stream off, so a request
/// may run longer (64k output tokens at 60 a second take 18 minutes): a live stream renews its
/// reservation every [`RESERVATION_RENEW_SECS`] while it runs ([`Ledger::renew`]). One that was
/// not renewed in time (its worker died, or the ledger could not be reached twice) is still
/// charged when it settles, through its [`ExpiredReservation`].
pub const RESERVATION_TTL_SECS: i64 = 15 * 60;

/// How often a live stream renews its reservation: a third of its life, so one renewal that
/// fails leaves time for the next.
pub const RESERVATION_RENEW_SECS: i64 = RESERVATION_TTL_SECS / 3;

/// What is kept of an expired reservation. Expiry charges its budgets what it held (its
/// request's most possible cost): a request that never settles (its worker's isolate gone with
/// the settlement unsent, the ledger unreachable past the worker's retries) would otherwise spend
/// unseen, and a hard limit would not hold. A late settlement replaces that charge by the actual
/// cost, in the window it was charged in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpiredReservation {
    pub budgets: Vec<String>,
    /// A settlement later than this is not charged: the request is taken to have died.
    pub forget_at: i64,
    /// What expiry charged each of `budgets` (0 for one stored before expiry charged).
    #[serde(default)]
    pub charged: Usd,
    /// The window each of `budgets` was charged in (its `window_start`), by position.
    #[serde(default)]
    pub charged_windows: Vec<i64>,
}

/// How long after expiry a reservation's request may still settle and be charged, and how many
/// expired reservations a ledger keeps (the oldest forgotten first): they are part of the value
/// stored on every change (the open reservations have rows of their own), and requests whose
/// worker died leave one each.
pub const EXPIRED_RESERVATION_KEEP_SECS: i64 = 24 * 3600;
pub const EXPIRED_RESERVATIONS_KEPT: usize = 256;

/// Requests and tokens per minute, per tenant and per key (`None` = unlimited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    pub tenant_rpm: Option<u64>,
    pub tenant_tpm: Option<u64>,
    pub key_rpm: Option<u64>,
    pub key_tpm: Option<u64>,
}

/// Counts for the current UTC minute (fixed windows: a limit of N means at most N in any
/// calendar minute, which is exact and what the reset header reports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteCounters {
    pub minute: i64,
    pub tenant_requests: u64,
    pub tenant_tokens: u64,
    pub key_requests: BTreeMap<String, u64>,
    pub key_tokens: BTreeMap<String, u64>,
}

/// What the `x-ratelimit-*` headers report after an admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateStatus {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_secs: i64,
}

impl RateStatus {
    /// The `x-ratelimit-*` headers it reports: each pair whose limit is set, and the seconds to
    /// the next minute with them. A tenant with no per-minute limits (budgets alone, or neither)
    /// gets none: a reset time alone, for no limit, would read as a limit the client cannot see.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = [
            ("x-ratelimit-limit-requests", self.limit_requests),
            ("x-ratelimit-remaining-requests", self.remaining_requests),
            ("x-ratelimit-limit-tokens", self.limit_tokens),
            ("x-ratelimit-remaining-tokens", self.remaining_tokens),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?.to_string())))
        .collect();
        if !headers.is_empty() {
            headers.push(("x-ratelimit-reset-requests", format!("{}s", self.reset_secs)));
        }
        headers
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimited {
    /// `requests` or `tokens`, and whose: `tenant` or `key`.
    pub what: String,
    pub limit: u64,
    pub retry_after_secs: i64,
    /// Set when the request alone counts more tokens than `limit` (its prompt plus `max_tokens` ×
    /// `n`): no wait admits it, even into an empty minute, so it is not to be retried as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_tokens: Option<u64>,
}

impl RateLimited {
    /// Whether waiting for the next minute could admit the request.
    pub fn retryable(&self) -> bool {
        self.request_tokens.is_none()
    }

    /// The client's explanation: which limit, and what to change or how long to wait.
    pub fn message(&self) -> String {
        match self.request_tokens {
            Some(tokens) => format!(
                "Request too large for the {} per minute limit of {}: it counts {tokens} tokens (its prompt plus max_tokens × n), \
                 so it can never be admitted, whatever the wait. Lower max_tokens (or shorten the prompt) so that the total is at most {}.",
                self.what, self.limit, self.limit
            ),
            None => format!("Rate limit reached: {} per minute is {}. Retry in {} s.", self.what, self.limit, self.retry_after_secs),
        }
    }
}

impl Ledger {
    /// Each budget's spend in the window holding `now` (zero when its stored window has ended),
    /// for the budget-threshold alerts.
    pub fn levels(&self, now: i64) -> Vec<crate::alerts::BudgetLevel> {
        self.specs
            .iter()
            .map(|spec| {
                let stored = self.states.get(&spec.id);
                let (start, end) = stored.map_or_else(|| spec.bounds(now), |s| spec.window_of(s, now));
                let state = stored.filter(|s| s.window_start == start);
                let (spent, exhausted) = state.map_or((Usd::ZERO, false), |s| (s.spent, s.exhausted));
                let downgrades = spec.on_hard_limit == OnHardLimit::Downgrade;
                crate::alerts::BudgetLevel { id: spec.id.clone(), spent, hard_limit: spec.hard_limit, window_start: start, resets_at: end, exhausted, downgrades }
            })
            .collect()
    }

    /// Counts a request and its estimated tokens against the per-minute limits, or refuses.
    /// The tightest of the tenant's and the key's limits is reported in the headers.
    /// Takes back what [`Ledger::admit_rate`] counted for a request a budget then refused (not
    /// sent anywhere, it is no traffic): a client hammering a spent key budget would otherwise
    /// use up the tenant's per-minute limits for its other keys. Only while the minute its `now`
    /// names is the current one: once another has begun, this one's counts are gone (and one
    /// counted late into a later minute stays counted, the safe side).
    pub fn unadmit_rate(&mut self, key_id: &str, tokens: u64, now: i64) {
        if self.limits == RateLimits::default() || now.div_euclid(60) != self.minute.minute {
            return;
        }
        let m = &mut self.minute;
        m.tenant_requests = m.tenant_requests.saturating_sub(1);
        m.tenant_tokens = m.tenant_tokens.saturating_sub(tokens);
        if let Some(n) = m.key_requests.get_mut(key_id) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = m.key_tokens.get_mut(key_id) {
            *n = n.saturating_sub(tokens);
        }
    }

    pub fn admit_rate(&mut self, key_id: &str, tokens: u64, now: i64) -> Result<RateStatus, RateLimited> {
        let minute = now.div_euclid(60);
        if self.limits == RateLimits::default() {
            // Nothing to enforce: counting would only cost a storage write per request.
            return Ok(RateStatus { limit_requests: None, remaining_requests: None, limit_tokens: None, remaining_tokens: None, reset_secs: (minute + 1) * 60 - now });
        }
        // `now` is stamped by the calling isolate before the hop here, so calls can arrive a
        // little out of order: one from a minute already left behind counts in the current one
        // (resetting for it, then again for the next call, would grant the minute twice).
        let minute = minute.max(self.minute.minute);
        if minute > self.minute.minute {
            self.minute = MinuteCounters { minute, ..MinuteCounters::default() };
        }
        let reset_secs = (minute + 1) * 60 - now;
        let key_requests = self.minute.key_requests.get(key_id).copied().unwrap_or(0);
        let key_tokens = self.minute.key_tokens.get(key_id).copied().unwrap_or(0);
        // A request that alone counts more than a token limit is refused as such first: told to
        // wait, a client (the OpenAI SDKs retry every 429) would retry into the same refusal.
        for (what, limit) in [("tenant tokens", self.limits.tenant_tpm), ("key tokens", self.limits.key_tpm)] {
            if let Some(limit) = limit.filter(|limit| tokens > *limit) {
                return Err(RateLimited { what: what.to_string(), limit, retry_after_secs: reset_secs.max(1), request_tokens: Some(tokens) });
            }
        }
        let checks = [
            ("tenant requests", self.limits.tenant_rpm, self.minute.tenant_requests + 1),
            ("tenant tokens", self.limits.tenant_tpm, self.minute.tenant_tokens.saturating_add(tokens)),
            ("key requests", self.limits.key_rpm, key_requests + 1),
            ("key tokens", self.limits.key_tpm, key_tokens.saturating_add(tokens)),
        ];
        for (what, limit, after) in checks {
            if let Some(limit) = limit {
                if after > limit {
                    return Err(RateLimited { what: what.to_string(), limit, retry_after_secs: reset_secs.max(1), request_tokens: None });
                }
            }
        }
        self.minute.tenant_requests += 1;
        // Saturating: a client's `max_tokens` near u64::MAX must not wrap a counter back to small.
        self.minute.tenant_tokens = self.minute.tenant_tokens.saturating_add(tokens);
        *self.minute.key_requests.entry(key_id.to_string()).or_default() += 1;
        let key_used = self.minute.key_tokens.entry(key_id.to_string()).or_default();
        *key_used = key_used.saturating_add(tokens);
        let tightest = |a: Option<u64>, used_a: u64, b: Option<u64>, used_b: u64| -> (Option<u64>, Option<u64>) {
            let ra = a.map(|l| l.saturating_sub(used_a));
            let rb = b.map(|l| l.saturating_sub(used_b));
            match (ra, rb) {
                (Some(x), Some(y)) if y < x => (b, rb),
                (Some(_), _) => (a, ra),
                (None, _) => (b, rb),
            }
        };
        let (limit_requests, remaining_requests) =
            tightest(self.limits.tenant_rpm, self.minute.tenant_requests, self.limits.key_rpm, self.minute.key_requests[key_id]);
        let (limit_tokens, remaining_tokens) = tightest(self.limits.tenant_tpm, self.minute.tenant_tokens, self.limits.key_tpm, self.minute.key_tokens[key_id]);
        Ok(RateStatus { limit_requests, remaining_requests, limit_tokens, remaining_tokens, reset_secs })
    }

    /// An update of the budgets and limits, either left out keeping what is set. Only budgets
    /// sent are checked: ones stored before a check existed (earlier releases stored budgets
    /// unchecked, such as a monthly `reset_day` of 31) keep serving as they are, and a
    /// limits-only update is not refused for budgets its sender did not send.
    pub fn update(&mut self, budgets: Option<Vec<BudgetSpec>>, limits: Option<RateLimits>, now: i64) -> Result<(), String> {
        if let Some(budgets) = &budgets {
            check_budgets(budgets)?;
        }
        let budgets = budgets.unwrap_or_else(|| self.specs.clone());
        let limits = limits.unwrap_or_else(|| self.limits.clone());
        self.configure(budgets, limits, now);
        Ok(())
    }

    /// New budgets and limits. A budget that keeps its id keeps what it has spent; one whose
    /// window or reset day changed has its window moved to the new one's start where that is
    /// earlier (daily to monthly mid-month), or the spend would sit in a window that never
    /// matches and the budget's alerts would read zero until the next reset. A later start
    /// (monthly to daily) is a new window: `roll` begins it empty.
    ///
    /// A new time zone alone takes effect at a midnight of the new zone: the stored window, spend
    /// and all, ends at the new zone's next midnight if that comes before its own end (a shorter
    /// window), else at the new zone's first midnight after its end (a longer one, by less than
    /// a period), and the new zone's windows follow from there. Windows stay one after another
    /// with no gap and no overlap, so no spend is dropped: moving the window to the new zone's
    /// current one would lose what the old zone's previous window spent inside it.
    pub fn configure(&mut self, specs: Vec<BudgetSpec>, limits: RateLimits, now: i64) {
        for spec in &specs {
            let Some(old) = self.specs.iter().find(|old| old.id == spec.id) else { continue };
            let zone_only = old.window == spec.window && old.reset_day == spec.reset_day;
            if zone_only && old.time_zone == spec.time_zone {
                continue;
            }
            if zone_only {
                if let Some(state) = self.states.get_mut(&spec.id) {
                    let old_end = state.stretched_until.unwrap_or_else(|| old.bounds(state.window_start).1);
                    // The new zone's window holding the old window's end: its start, if that is yet
                    // to come (the window in progress ends early), else its end.
                    let (start, end) = spec.bounds(old_end);
                    let new_from = if start > now || start == old_end { start } else { end };
                    // A window that ended before a midnight of the new zone passed is left for
                    // `roll` to replace: nothing of it falls in the new zone's current window.
                    state.stretched_until = (new_from > now).then_some(new_from);
                }
                continue;
            }
            if let Some(state) = self.states.get_mut(&spec.id) {
                state.stretched_until = None;
                let (start, _) = spec.bounds(now);
                let before = state.window_start;
                state.window_start = state.window_start.min(start);
                // The spend carries over, expiry charges in it included: they now sit in the
                // window that took it (a late settlement must still find its charge to replace).
                for e in self.expired.values_mut() {
                    for (k, id) in e.budgets.iter().enumerate() {
                        if id == &spec.id && e.charged_windows.get(k) == Some(&before) {
                            e.charged_windows[k] = state.window_start;
                        }
                    }
                }
            }
        }
        self.specs = specs;
        self.limits = limits;
        self.states.retain(|id, _| self.specs.iter().any(|s| &s.id == id));
        // A budget removed and added again is held by the requests in flight that still name it
        // (their settlement takes their money off it), as a loaded ledger counts it.
        self.recount_reserved();
    }

    /// What each budget holds, counted again from the reservations in flight (a budget listed
    /// by a reservation but no longer set holds nothing).
    fn recount_reserved(&mut self) {
        for state in self.states.values_mut() {
            state.reserved = Usd::ZERO;
        }
        for spec in &self.specs {
            self.states.entry(spec.id.clone()).or_default();
        }
        for r in self.reservations.values() {
            for id in &r.budgets {
                if let Some(state) = self.states.get_mut(id) {
                    state.reserved += r.amount;
                }
            }
        }
    }

    /// Counts the tokens a finished request used beyond what its admission counted (prompt plus
    /// `max_tokens` × `n`: all of its output when `max_tokens` was not set, and whatever the
    /// prompt estimate missed) in the minute it finishes in. Without this a client that leaves
    /// out `max_tokens` would never have its output counted. Tokens used below the admitted count
    /// are not given back, as OpenAI's own limiter does not: a request is held to the most it
    /// could use.
    pub fn count_used_tokens(&mut self, key_id: &str, admitted: u64, used: u64, now: i64) {
        let beyond = used.saturating_sub(admitted);
        if beyond == 0 || (self.limits.tenant_tpm.is_none() && self.limits.key_tpm.is_none()) {
            return;
        }
        // As in `admit_rate`: a call stamped in a minute already left behind counts in the current one.
        let minute = now.div_euclid(60).max(self.minute.minute);
        if minute > self.minute.minute {
            self.minute = MinuteCounters { minute, ..MinuteCounters::default() };
        }
        self.minute.tenant_tokens = self.minute.tenant_tokens.saturating_add(beyond);
        let key_used = self.minute.key_tokens.entry(key_id.to_string()).or_default();
        *key_used = key_used.saturating_add(beyond);
    }

    /// The ledger as a reader at `now` should see it: windows that have ended start again, and
    /// reservations past their life no longer hold money (the stored ledger rolls on its next
    /// change).
    pub fn as_of(&self, now: i64) -> Ledger {
        let mut ledger = self.clone();
        ledger.roll(now);
        ledger
    }

    fn roll(&mut self, now: i64) {
        self.expired.retain(|_, e| e.forget_at > now);
        // Windows first: a reservation that expired in the current window is charged into it,
        // where its late settlement corrects the charge; one that expired in a window gone since
        // is charged nothing (that window's spend is no longer kept), and its late settlement is
        // charged as any is, into the window it finishes in.
        for spec in &self.specs {
            let state = self.states.entry(spec.id.clone()).or_default();
            let (start, _) = spec.window_of(state, now);
            // Only forward: `now` is stamped by the calling isolate before the hop here, so a
            // call from just before a boundary can arrive after one from just past it; it belongs
            // to the current window (going back and forth would wipe what settled in between).
            if start > state.window_start {
                state.stretched_until = None;
                // A new window: spend starts again; open reservations carry over (they are
                // still in flight and will settle into the window they finish in).
                state.window_start = start;
                state.spent = Usd::ZERO;
                state.soft_alerted = false;
                state.exhausted = false;
            }
        }
        let expired: Vec<String> = self.reservations.iter().filter(|(_, r)| r.expires_at <= now).map(|(id, _)| id.clone()).collect();
        for id in expired {
            if let Some(r) = self.reservations.remove(&id) {
                self.changed_reservations.0.insert(id.clone());
                let mut charged_windows = Vec::with_capacity(r.budgets.len());
                for b in &r.budgets {
                    match self.states.get_mut(b) {
                        Some(st) => {
                            st.reserved = st.reserved.saturating_sub(r.amount).max(Usd::ZERO);
                            if r.expires_at >= st.window_start {
                                // Charged as spend, without the soft-limit alert a settlement
                                // raises: a hold is a worst case its late settlement may correct.
                                st.spent += r.amount;
                                charged_windows.push(st.window_start);
                            } else {
                                charged_windows.push(i64::MIN);
                            }
                        }
                        None => charged_windows.push(i64::MIN),
                    }
                }
                if !r.budgets.is_empty() {
                    self.keep_expired(id, ExpiredReservation { budgets: r.budgets, forget_at: r.expires_at + EXPIRED_RESERVATION_KEEP_SECS, charged: r.amount, charged_windows });
                }
            }
        }
    }

    fn keep_expired(&mut self, request_id: String, expired: ExpiredReservation) {
        while self.expired.len() >= EXPIRED_RESERVATIONS_KEPT {
            let Some(oldest) = self.expired.iter().min_by_key(|(_, e)| e.forget_at).map(|(id, _)| id.clone()) else { break };
            // Forgotten early (too many kept): its charge is taken back, since a settlement that
            // still comes finds no reservation and is charged to the covering budgets, which
            // would then pay twice.
            if let Some(e) = self.expired.remove(&oldest) {
                self.take_back_expiry_charge(&e);
            }
        }
        self.expired.insert(request_id, expired);
    }

    /// Takes what expiry charged `e`'s budgets off those still in the window it was charged in
    /// (a window gone since keeps it: its spend is no longer kept).
    fn take_back_expiry_charge(&mut self, e: &ExpiredReservation) {
        for (k, id) in e.budgets.iter().enumerate() {
            if let Some(st) = self.states.get_mut(id).filter(|st| e.charged_windows.get(k) == Some(&st.window_start)) {
                st.spent = st.spent.saturating_sub(e.charged).max(Usd::ZERO);
            }
        }
    }

    /// Holds `amount` against every budget covering the request, or refuses if any hard limit
    /// would be passed. All or nothing.
    pub fn reserve(&mut self, request_id: &str, amount: Usd, covered: &Covered, now: i64) -> Result<Reserved, Exceeded> {
        self.roll(now);
        let covering: Vec<&BudgetSpec> = self.specs.iter().filter(|s| s.scope.covers(covered)).collect();
        // Of the budgets this would pass, one that downgrades is reported first, whatever the
        // order they were listed in: the cheaper model is then held against every budget again,
        // and refused only if it does not fit either. Then one the request cannot fit whatever
        // settles (spent, or too small for it): "retry shortly" for a budget only held in flight
        // would send the SDKs retrying into the other's refusal.
        let exceeded = covering
            .iter()
            .filter(|spec| {
                let st = &self.states[&spec.id];
                st.spent + st.reserved + amount > spec.hard_limit
            })
            .min_by_key(|spec| (spec.on_hard_limit != OnHardLimit::Downgrade, self.states[&spec.id].spent + amount <= spec.hard_limit));
        if let Some(spec) = exceeded {
            let st = &self.states[&spec.id];
            let exceeded = Exceeded {
                budget_id: spec.id.clone(),
                limit: spec.hard_limit,
                spent: st.spent,
                reserved: st.reserved,
                resets_at: spec.window_of(st, now.max(st.window_start)).1,
                on_hard_limit: spec.on_hard_limit,
            };
            if exceeded.cause(amount) != ExceededCause::HeldInFlight && exceeded.left() < spec.hard_limit.scale_ppm(EXHAUSTED_BELOW_PPM) {
                self.states.get_mut(&spec.id).expect("rolled above").exhausted = true;
            }
            return Err(exceeded);
        }
        let ids: Vec<String> = covering.iter().map(|s| s.id.clone()).collect();
        let mut soft_warnings = Vec::new();
        for spec in &covering {
            let st = self.states.get_mut(&spec.id).expect("rolled above");
            st.reserved += amount;
            if spec.soft_limit.is_some_and(|soft| st.spent + st.reserved > soft) {
                soft_warnings.push(spec.id.clone());
            }
        }
        let held = !ids.is_empty();
        self.reservations.insert(request_id.to_string(), Reservation { budgets: ids, amount, expires_at: now + RESERVATION_TTL_SECS });
        self.changed_reservations.0.insert(request_id.to_string());
        Ok(Reserved { soft_warnings, held })
    }

    /// Adds `actual` to the spend of budget `budget_id`, and records the window's soft-limit
    /// alert when spend itself passes it. A request's warning header looks at spend plus holds
    /// (it may be the one to pass it), but holds are worst cases: an alert raised on them (two
    /// o4-mini calls without `max_tokens` hold ~$0.88) would use up the window's one alert while
    /// spend was near zero, and say nothing when spend crossed.
    fn charge(&mut self, budget_id: &str, actual: Usd, request_id: &str, now: i64) {
        let Some(st) = self.states.get_mut(budget_id) else { return };
        st.spent += actual;
        let Some(spec) = self.specs.iter().find(|s| s.id == budget_id) else { return };
        let Some(soft) = spec.soft_limit.filter(|&soft| st.spent > soft && !st.soft_alerted) else { return };
        st.soft_alerted = true;
        if self.alerts.len() >= ALERT_HISTORY {
            self.alerts.pop_front();
        }
        self.alerts.push_back(BudgetAlert {
            kind: "soft_limit".into(),
            budget_id: spec.id.clone(),
            window_start: st.window_start,
            resets_at: spec.window_of(st, now.max(st.window_start)).1,
            at: now,
            request_id: request_id.to_string(),
            spent: st.spent,
            reserved: st.reserved,
            soft_limit: soft,
            hard_limit: spec.hard_limit,
        });
    }

    /// Replaces a reservation by the actual cost. The actual cost is recorded even if it exceeds
    /// what was reserved (a provider may bill more than estimated); that can only happen when the
    /// estimate was wrong, and the next reservations see it. A request whose reservation expired
    /// while it ran is charged all the same (its hold was released on expiry).
    pub fn settle(&mut self, request_id: &str, actual: Usd, now: i64) {
        self.settle_held(request_id, actual, now);
    }

    /// [`Ledger::settle`], saying whether the request held (or had held) a reservation.
    fn settle_held(&mut self, request_id: &str, actual: Usd, now: i64) -> bool {
        self.roll(now);
        if let Some(r) = self.reservations.remove(request_id) {
            self.changed_reservations.0.insert(request_id.to_string());
            if r.budgets.is_empty() {
                // Admitted for per-minute limits alone, it held nothing: charged as unheld, to
                // the budgets that cover it now (one set up while it ran).
                return false;
            }
            for id in r.budgets {
                if let Some(st) = self.states.get_mut(&id) {
                    st.reserved = st.reserved.saturating_sub(r.amount).max(Usd::ZERO);
                }
                self.charge(&id, actual, request_id, now);
            }
            true
        } else if let Some(e) = self.expired.remove(request_id) {
            self.changed_reservations.0.insert(request_id.to_string());
            // The most possible cost charged on expiry, in this window, gives way to the actual
            // cost; otherwise (not charged, or in a window gone since) the actual cost is charged
            // as any settlement is, into the window it finishes in.
            self.take_back_expiry_charge(&e);
            for id in &e.budgets {
                self.charge(id, actual, request_id, now);
            }
            true
        } else {
            false
        }
    }

    /// A finished request: its reservation is settled; a request that reserved nothing still has
    /// its cost charged to the budgets that cover it. Some cost without reserving: a semantic
    /// cache hit pays for its provider embedding, and a tenant's requests in the few seconds after
    /// its first budget is set may skip the ledger (`spend::known_uncontrolled`).
    pub fn finish(&mut self, request_id: &str, actual: Usd, covered: &Covered, now: i64) {
        if self.settle_held(request_id, actual, now) || actual <= Usd::ZERO {
            return;
        }
        let covering: Vec<String> = self.specs.iter().filter(|s| s.scope.covers(covered)).map(|s| s.id.clone()).collect();
        for id in covering {
            self.charge(&id, actual, request_id, now);
        }
    }

    /// Extends a reservation whose request is still running (a long stream) to a full life from
    /// `now`. `false` if it holds none now: it settled, or expired and released its money (which
    /// is not held again: the budget may have been spent meanwhile; the request is charged when
    /// it settles all the same).
    pub fn renew(&mut self, request_id: &str, now: i64) -> bool {
        self.roll(now);
        match self.reservations.get_mut(request_id) {
            Some(r) => {
                r.expires_at = r.expires_at.max(now + RESERVATION_TTL_SECS);
                self.changed_reservations.0.insert(request_id.to_string());
                true
            }
            None => false,
        }
    }

    /// The ids of the reservations made, renewed, settled or expired since the last call: those a
    /// store keeping one row per reservation writes (the ones still in `reservations`) or deletes.
    pub fn take_changed_reservations(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.changed_reservations.0)
    }

    /// Everything but the reservations: what a store keeping them in rows keeps as one value.
    pub fn without_reservations(&self) -> Ledger {
        Ledger {
            specs: self.specs.clone(),
            states: self.states.clone(),
            reservations: BTreeMap::new(),
            limits: self.limits.clone(),
            minute: self.minute.clone(),
            alerts: self.alerts.clone(),
            expired: self.expired.clone(),
            changed_reservations: ChangedIds::default(),
        }
    }

    /// A ledger from its stored value and its reservation rows. A value stored before
    /// reservations had rows of their own holds them itself: they are kept (a row wins over the
    /// same request's reservation inside, which only a rollback and a new deploy leave behind),
    /// and taken as changed so that the next write gives them rows; `true` then, for that write
    /// to store the value again without them. What each budget holds is counted again from the
    /// reservations: a value written by code that kept them elsewhere (or nowhere, after a
    /// rollback to before they had rows) may count money held by requests it no longer has.
    pub fn from_stored(stored: Ledger, rows: impl IntoIterator<Item = (String, Reservation)>) -> (Ledger, bool) {
        let mut ledger = stored;
        let held_inside = !ledger.reservations.is_empty();
        ledger.changed_reservations = ChangedIds(ledger.reservations.keys().cloned().collect());
        ledger.reservations.extend(rows);
        ledger.recount_reserved();
        (ledger, held_inside)
    }

    /// Drops a reservation whose request failed before costing anything.
    pub fn release(&mut self, request_id: &str, now: i64) {
        self.settle(request_id, Usd::ZERO, now);
    }
}

/// Output tokens assumed for a model with no published cap and a request that sets none.
pub const DEFAULT_OUTPUT_CAP: u64 = 4096;

/// The most a routed request can cost: every candidate could end up serving it, so the most
/// expensive one counts; in a cascade every model may be paid for, so they add up.
/// `prompt` bounds the prompt's tokens on each model; `output_cap` (the request's) caps each of
/// the `choices` answers (OpenAI's `n`, Gemini's `candidateCount`), and each is billed for its
/// own output while the prompt is billed once. Without a request cap, an adapter's own default
/// (`adapter_output_cap`: Anthropic requires `max_tokens` and is sent 4,096), else the model's
/// published cap, else its context window applies.
/// The most output tokens a deployment writes for a request that sets no cap: its adapter's own
/// (Anthropic is sent 4,096) or the model's, the lower of the two; `None` when neither is known.
pub fn cap_without_request(adapter_output_cap: Option<u64>, model_cap: Option<u64>) -> Option<u64> {
    match (adapter_output_cap, model_cap) {
        (Some(adapter), Some(model)) => Some(adapter.min(model)),
        (adapter, model) => adapter.or(model),
    }
}

/// The most prompt and output tokens one candidate may bill for the request (see [`max_cost`]).
fn worst_case_tokens(p: &crate::pricing::ModelPrice, prompt: &crate::tokens::PromptBound, output_cap: Option<u64>, choices: u64, adapter_output_cap: Option<u64>) -> (u64, u64) {
    // No cap anywhere: the answer can fill the window (the prompt is at least empty).
    let per_choice = output_cap.or_else(|| cap_without_request(adapter_output_cap, p.max_output_tokens)).or(p.context_window).unwrap_or(DEFAULT_OUTPUT_CAP);
    (prompt.for_model(p.prompt_limit(), p.max_image_tokens), per_choice.saturating_mul(choices.max(1)))
}

/// What a call cancelled before its whole answer came is charged (the client left, or the answer
/// took longer than the deployment's `answer_timeout_ms`; the provider may bill all it generated),
/// for a request with nothing billed above plain rates (no audio, files or cache marks:
/// `ChatRequest::may_bill_dearer_tokens`): the prompt's upper bound and every token the output
/// cap allows, at the rates a plain prompt of that size is billed, not the dearest kind of token
/// a reservation assumes.
pub fn cancelled_call_cost(
    candidate: &crate::routing::Candidate,
    prices: &crate::pricing::PriceTable,
    prompt: &crate::tokens::PromptBound,
    output_cap: Option<u64>,
    choices: u64,
    requested_tier: crate::usage::ServiceTier,
    adapter_output_cap: Option<u64>,
) -> Usd {
    prices.get(&candidate.price_key).map_or(Usd::ZERO, |p| {
        let (input_tokens, output_tokens) = worst_case_tokens(p, prompt, output_cap, choices, adapter_output_cap);
        p.cost(&crate::usage::Usage { input_tokens, output_tokens, service_tier: requested_tier, ..Default::default() }, false).total
    })
}

pub fn max_cost(
    decision: &crate::routing::RouteDecision,
    prices: &crate::pricing::PriceTable,
    prompt: &crate::tokens::PromptBound,
    output_cap: Option<u64>,
    choices: u64,
    requested_tier: crate::usage::ServiceTier,
    adapter_output_cap: &dyn Fn(&crate::routing::Candidate) -> Option<u64>,
) -> Usd {
    // The dearest deployment of each model: one model may be served by adapters with different defaults.
    let mut by_model: Vec<(&str, Usd)> = Vec::new();
    for c in &decision.candidates {
        let cost = prices.get(&c.price_key).map_or(Usd::ZERO, |p| {
            let (prompt_upper, output_tokens) = worst_case_tokens(p, prompt, output_cap, choices, adapter_output_cap(c));
            // Cached and cache-write prices may exceed the input price (cache writes do), and a
            // reasoning price may exceed the output price: any token could be the dearer kind.
            // A request that asks for a processing tier is held at its rates. One that does not
            // is held at standard rates, though a project set to priority by default is billed
            // more: the settlement charges what it cost (see README: Budgets).
            let rates = p.rates_at(requested_tier, prompt_upper);
            let dearest_input = rates.input.max(rates.cache_write).max(rates.cache_write_1h).max(rates.cached_input).max(p.audio_input.unwrap_or(Usd::ZERO)).max(p.cached_audio_input.unwrap_or(Usd::ZERO));
            let dearest_output = rates.output.max(p.reasoning.unwrap_or(Usd::ZERO)).max(p.audio_output.unwrap_or(Usd::ZERO));
            dearest_input.times(prompt_upper) + dearest_output.times(output_tokens)
        });
        match by_model.iter_mut().find(|(m, _)| *m == c.model) {
            Some((_, dearest)) => *dearest = (*dearest).max(cost),
            None => by_model.push((&c.model, cost)),
        }
    }
    let costs = by_model.into_iter().map(|(_, cost)| cost);
    if decision.cascade.is_some() {
        costs.fold(Usd::ZERO, |a, b| a + b)
    } else {
        costs.max().unwrap_or(Usd::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// 2026-11-22 (a Sunday) 15:30:00 UTC.
    const NOW: i64 = 1_795_361_400;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * DAY
    }

    #[test]
    fn each_scope_covers_its_own_requests_only() {
        let request = Covered { team: "payments", feature: "search", env: "prod", key_id: "key_0123456789ab" };
        for (scope, covers) in [
            (Scope::Tenant, true),
            (Scope::Team("payments".into()), true),
            (Scope::Team("growth".into()), false),
            (Scope::Feature("search".into()), true),
            (Scope::Feature("chat".into()), false),
            (Scope::Env("prod".into()), true),
            (Scope::Env("staging".into()), false),
            (Scope::Key("key_0123456789ab".into()), true),
            (Scope::Key("key_ba9876543210".into()), false),
        ] {
            assert_eq!(scope.covers(&request), covers, "{scope:?}");
        }
    }

    #[test]
    fn windows_reset_exactly_at_utc_boundaries() {
        assert_eq!(Window::Daily.bounds(NOW, 1), (day(2026, 11, 22), day(2026, 11, 23)));
        assert_eq!(Window::Daily.bounds(day(2026, 11, 23) - 1, 1).1, day(2026, 11, 23));
        assert_eq!(Window::Daily.bounds(day(2026, 11, 23), 1).0, day(2026, 11, 23));
        // Weeks from Monday; Sunday the 22nd belongs to the week of Monday the 16th.
        assert_eq!(Window::Weekly.bounds(NOW, 1), (day(2026, 11, 16), day(2026, 11, 23)));
        assert_eq!(Window::Weekly.bounds(NOW, 7), (day(2026, 11, 22), day(2026, 11, 29)));
        assert_eq!(Window::Monthly.bounds(NOW, 1), (day(2026, 11, 1), day(2026, 12, 1)));
        assert_eq!(Window::Monthly.bounds(NOW, 25), (day(2026, 10, 25), day(2026, 11, 25)));
        assert_eq!(Window::Monthly.bounds(day(2027, 1, 3), 15), (day(2026, 12, 15), day(2027, 1, 15)));
        assert_eq!(Window::Monthly.bounds(day(2026, 12, 31), 1), (day(2026, 12, 1), day(2027, 1, 1)));
    }

    fn ledger(limit_usd: i64) -> Ledger {
        Ledger {
            specs: vec![
                BudgetSpec { id: "tenant-daily".into(), scope: Scope::Tenant, window: Window::Daily, reset_day: 1,
                    hard_limit: Usd(limit_usd * crate::money::PICOS_PER_USD), soft_limit: Some(Usd(limit_usd * crate::money::PICOS_PER_USD / 2)), on_hard_limit: OnHardLimit::Refuse, time_zone: None },
                BudgetSpec { id: "search-monthly".into(), scope: Scope::Feature("search".into()), window: Window::Monthly, reset_day: 1,
                    hard_limit: Usd(3 * crate::money::PICOS_PER_USD), soft_limit: None, on_hard_limit: OnHardLimit::Downgrade, time_zone: None },
            ],
            ..Ledger::default()
        }
    }

    const USD: i64 = crate::money::PICOS_PER_USD;

    #[test]
    fn concurrent_reservations_never_pass_the_hard_limit() {
        let mut l = ledger(10);
        let c = Covered::default();
        let mut admitted = 0;
        for i in 0..40 {
            if l.reserve(&format!("r{i}"), Usd(USD / 2), &c, NOW).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 20, "exactly 10 USD of 0.50 reservations");
        let err = l.reserve("late", Usd(1), &c, NOW).unwrap_err();
        assert_eq!(err.budget_id, "tenant-daily");
        assert_eq!(err.resets_at, day(2026, 11, 23));
        // Settling below the estimate frees room; releasing frees it all.
        l.settle("r0", Usd(USD / 10), NOW);
        l.release("r1", NOW);
        assert!(l.reserve("after", Usd(USD / 2), &c, NOW).is_ok());
        let st = &l.states["tenant-daily"];
        assert_eq!(st.spent, Usd(USD / 10));
        assert!(st.spent + st.reserved <= Usd(10 * USD));
    }

    #[test]
    fn a_budget_refusing_for_want_of_room_with_little_left_is_exhausted() {
        // 10 USD a day. Held in flight, or a request too large for a budget with room: not spent.
        let mut l = ledger(10);
        let c = Covered::default();
        l.reserve("a", Usd(6 * USD), &c, NOW).unwrap();
        assert!(l.reserve("held", Usd(5 * USD), &c, NOW).is_err());
        assert!(!l.states["tenant-daily"].exhausted, "room held by a request in flight");
        l.settle("a", Usd(USD), NOW);
        assert!(l.reserve("huge", Usd(20 * USD), &c, NOW).is_err());
        assert!(!l.states["tenant-daily"].exhausted, "9 USD left: the request was large, not the budget spent");
        // Spent to 9.70 USD (97%): a 0.50 USD request no longer fits, with 3% left.
        l.reserve("b", Usd(USD * 87 / 10), &c, NOW).unwrap();
        l.settle("b", Usd(USD * 87 / 10), NOW);
        assert!(l.reserve("c", Usd(USD / 2), &c, NOW).is_err());
        assert!(l.states["tenant-daily"].exhausted);
        assert!(l.levels(NOW)[0].exhausted, "the alerts read it");
        // A new window starts afresh.
        assert!(!l.levels(NOW + 86_400)[0].exhausted);
    }

    #[test]
    fn a_budget_whose_spend_passed_its_limit_is_alerted_as_refusing_before_any_refusal() {
        // Settlements past what was held (a billed failed attempt, a timed-out answer) take spend
        // past the hard limit without a refusal for want of room: `exhausted` stays unset.
        let mut l = ledger(10);
        let search = Covered { feature: "search", ..Covered::default() };
        l.reserve("a", Usd(USD), &search, NOW).unwrap();
        l.settle("a", Usd(11 * USD), NOW);
        assert!(l.levels(NOW).iter().all(|level| !level.exhausted));
        // The alerts are told which budget downgrades (their text says what it does when spent).
        assert_eq!(l.levels(NOW).iter().map(|level| level.downgrades).collect::<Vec<_>>(), [false, true]);
        let cfg = crate::alerts::AlertConfig::default();
        let hundred = |id: &str| {
            let found = crate::alerts::detect(&cfg, NOW, &[], &l.levels(NOW), &[], &[]);
            let alert = found.into_iter().find(|c| c.key.starts_with(&format!("budget:{id}:100:"))).expect("a 100% alert");
            (alert.details["refusing"].clone(), alert.details["downgrading"].clone())
        };
        // The refusing budget and the downgrading one (whose cheapest model has no room either):
        // both refuse the next request, and their alerts say so.
        assert_eq!(hundred("tenant-daily"), (serde_json::json!(true), serde_json::json!(false)));
        assert_eq!(hundred("search-monthly"), (serde_json::json!(true), serde_json::json!(false)));
        let refused = l.reserve("b", Usd(1), &Covered::default(), NOW).unwrap_err();
        assert_eq!((refused.budget_id.as_str(), refused.cause(Usd(1))), ("tenant-daily", ExceededCause::Spent));
    }

    #[test]
    fn scoped_budgets_apply_only_to_their_scope() {
        let mut l = ledger(100);
        let search = Covered { feature: "search", ..Covered::default() };
        for i in 0..3 {
            l.reserve(&format!("s{i}"), Usd(USD), &search, NOW).unwrap();
        }
        let e = l.reserve("s3", Usd(USD), &search, NOW).unwrap_err();
        assert_eq!((e.budget_id.as_str(), e.on_hard_limit), ("search-monthly", OnHardLimit::Downgrade));
        assert!(l.reserve("other", Usd(USD), &Covered::default(), NOW).is_ok(), "other features are not limited by it");
        assert_eq!(l.states["tenant-daily"].reserved, Usd(4 * USD), "all-or-nothing: the refused one held nothing");
        // Both budgets passed at once: the one that downgrades is reported, though the refusing
        // one is listed first, so the request gets its chance at a cheaper model.
        let mut l = ledger(2);
        let e = l.reserve("big", Usd(5 * USD), &search, NOW).unwrap_err();
        assert_eq!((e.budget_id.as_str(), e.on_hard_limit), ("search-monthly", OnHardLimit::Downgrade));
        let e = l.reserve("big", Usd(5 * USD), &Covered::default(), NOW).unwrap_err();
        assert_eq!(e.on_hard_limit, OnHardLimit::Refuse, "outside the downgrading budget's scope, the refusal stands");
    }

    #[test]
    fn a_budget_the_request_can_never_fit_is_reported_before_one_held_in_flight() {
        let spec = |id: &str, scope: Scope, usd: i64| BudgetSpec { id: id.into(), scope, window: Window::Daily, reset_day: 1, hard_limit: Usd(usd * USD), soft_limit: None, on_hard_limit: OnHardLimit::Refuse, time_zone: None };
        let mut l = Ledger::default();
        l.configure(vec![spec("team", Scope::Team("a".into()), 10), spec("tenant", Scope::Tenant, 1)], RateLimits::default(), NOW);
        let team_a = Covered { team: "a", ..Covered::default() };
        l.reserve("r1", Usd(USD * 9 / 10), &team_a, NOW).unwrap();
        // $9.50 fits the team's $10 once r1 settles, the tenant's $1 never: "retry shortly" for
        // the team's would have the SDKs retry into the tenant's refusal.
        let amount = Usd(USD * 95 / 10);
        let e = l.reserve("r2", amount, &team_a, NOW).unwrap_err();
        assert_eq!((e.budget_id.as_str(), e.cause(amount)), ("tenant", ExceededCause::RequestTooLarge));
        // Held in flight alone, it says so.
        let e = l.reserve("r3", Usd(USD / 2), &team_a, NOW).unwrap_err();
        assert_eq!((e.budget_id.as_str(), e.cause(Usd(USD / 2))), ("tenant", ExceededCause::HeldInFlight));
    }

    use crate::tokens::PromptBound;
    use crate::usage::ServiceTier;

    fn no_adapter_cap(_: &crate::routing::Candidate) -> Option<u64> {
        None
    }

    #[test]
    fn max_cost_uses_the_adapters_default_output_cap_and_the_window_for_files() {
        use crate::routing::{Candidate, RouteDecision};
        let prices = crate::pricing::PriceTable::from_json(
            r#"{"models":{"claude":{"input":3,"output":15,"context_window":200000,"max_output_tokens":64000},"mini":{"input":0.15,"output":0.6,"context_window":128000,"max_image_tokens":48169}}}"#,
        )
        .unwrap();
        let cand = |provider: &str, m: &str| Candidate { provider: provider.into(), upstream_model: m.into(), model: m.into(), price_key: m.into() };
        let decision = |c: Candidate| RouteDecision { requested: c.model.clone(), baseline_price_key: None, candidates: vec![c], route: "x".into(), rule: String::new(), reason: String::new(), cascade: None, regions: Vec::new() };
        let anthropic_default = |c: &Candidate| (c.provider == "anthropic").then_some(4096);
        let claude = decision(cand("anthropic", "claude"));
        // 4000 × 3 + 4096 × 15 (what the adapter sends), not 64,000 × 15 (the model's cap).
        assert_eq!(max_cost(&claude, &prices, &PromptBound::text(4000), None, 1, ServiceTier::Standard, &anthropic_default).to_string(), "0.07344");
        assert_eq!(max_cost(&claude, &prices, &PromptBound::text(4000), None, 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.972");
        // A file may fill the window: 200,000 × 3 + 100 × 15.
        let pdf = PromptBound { text_tokens: 50, has_file_or_audio: true, media_bytes: 400, ..PromptBound::default() };
        assert_eq!(max_cost(&claude, &prices, &pdf, Some(100), 1, ServiceTier::Standard, &anthropic_default).to_string(), "0.6015");
        // Where the prompt has its own limit it fills that, not the window: 272,000 × 1 + 100 × 2.
        let limited = crate::pricing::PriceTable::from_json(r#"{"models":{"m":{"input":1,"output":2,"context_window":400000,"max_input_tokens":272000}}}"#).unwrap();
        assert_eq!(max_cost(&decision(cand("openai", "m")), &limited, &pdf, Some(100), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.2722");
        // A request that asks for priority is held at its rates: 4000 × 4.25 + 100 × 17.
        let tiered = crate::pricing::PriceTable::from_json(r#"{"models":{"gpt-4o":{"input":2.5,"output":10,"service_tiers":{"priority":{"input":4.25,"output":17}}}}}"#).unwrap();
        assert_eq!(max_cost(&decision(cand("openai", "gpt-4o")), &tiered, &PromptBound::text(4000), Some(100), 1, ServiceTier::Priority, &no_adapter_cap).to_string(), "0.0187");
        assert_eq!(max_cost(&decision(cand("openai", "gpt-4o")), &tiered, &PromptBound::text(4000), Some(100), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.011");
        // Past a long-context band, at the tier's rates with the band's surcharge: 300,000 × 10
        // + 2,000 × 45 (priority's 5 / 30, the band's 2× and 1.5×), not priority's base rates.
        let banded = crate::pricing::PriceTable::from_json(r#"{"models":{"gpt-5.4":{"input":2.5,"output":15,"context_window":1050000,"service_tiers":{"priority":{"input":5,"output":30}},
            "tiers":[{"above_input_tokens":272000,"input":5,"output":22.5}]}}}"#).unwrap();
        assert_eq!(max_cost(&decision(cand("openai", "gpt-5.4")), &banded, &PromptBound::text(300_000), Some(2_000), 1, ServiceTier::Priority, &no_adapter_cap).to_string(), "3.09");
        // Images at the row's own allowance: (30 + 48,169) × 0.15 + 10 × 0.6.
        let image = PromptBound { text_tokens: 30, images: 1, ..PromptBound::default() };
        assert_eq!(max_cost(&decision(cand("openai", "mini")), &prices, &image, Some(10), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.00723585");
        // No cap from the request, the adapter or the row: the answer may fill the window
        // (1000 × 1 + 32,000 × 2); with no window either, 4,096 output tokens are assumed.
        let uncapped = crate::pricing::PriceTable::from_json(r#"{"models":{"local":{"input":1,"output":2,"context_window":32000},"bare":{"input":1,"output":2}}}"#).unwrap();
        assert_eq!(max_cost(&decision(cand("vllm", "local")), &uncapped, &PromptBound::text(1000), None, 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.065");
        assert_eq!(max_cost(&decision(cand("vllm", "bare")), &uncapped, &PromptBound::text(1000), None, 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.009192");
    }

    #[test]
    fn reservations_and_bounds_hold_off_peak_rows_at_their_standard_rates() {
        use crate::routing::{Candidate, RouteDecision};
        let prices = crate::pricing::PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
        let flash = Candidate { provider: "deepseek".into(), upstream_model: "deepseek-v4-flash".into(), model: "deepseek-v4-flash".into(), price_key: "deepseek-v4-flash".into() };
        let decision = RouteDecision { requested: flash.model.clone(), baseline_price_key: None, candidates: vec![flash.clone()], route: "x".into(), rule: String::new(), reason: String::new(), cascade: None, regions: Vec::new() };
        // Saturday 2026-12-05, when DeepSeek bills half: the call is charged half ...
        let saturday = 1_796_428_800;
        let row = prices.get("deepseek-v4-flash").unwrap();
        let usage = crate::usage::Usage { input_tokens: 10_000, output_tokens: 1_000, ..Default::default() };
        assert_eq!(row.at(saturday).charge(&usage).total.to_string(), "0.0021");
        // ... and held at 10,000 × 0.3 + 1,000 × 1.2, never less than any bill.
        assert_eq!(max_cost(&decision, &prices, &PromptBound::text(10_000), Some(1_000), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.0042");
        assert_eq!(cancelled_call_cost(&flash, &prices, &PromptBound::text(10_000), Some(1_000), 1, ServiceTier::Standard, None).to_string(), "0.0042");
    }

    #[test]
    fn a_cancelled_call_is_charged_its_most_tokens_at_plain_rates() {
        use crate::routing::Candidate;
        let prices = crate::pricing::PriceTable::from_json(r#"{"models":{"claude":{"input":3,"output":15,"cache_write":3.75,"cache_write_1h":6,"max_output_tokens":64000}}}"#).unwrap();
        let claude = Candidate { provider: "anthropic".into(), upstream_model: "claude".into(), model: "claude".into(), price_key: "claude".into() };
        // 1,000 prompt tokens at 3 and the 4,096 the adapter sends as max_tokens at 15, not the
        // prompt at the one-hour cache-write price a reservation assumes.
        assert_eq!(cancelled_call_cost(&claude, &prices, &PromptBound::text(1000), None, 1, ServiceTier::Standard, Some(4096)).to_string(), "0.06444");
        assert_eq!(cancelled_call_cost(&claude, &prices, &PromptBound::text(1000), Some(100), 1, ServiceTier::Standard, Some(4096)).to_string(), "0.0045");
    }

    #[test]
    fn max_cost_takes_the_dearest_candidate_or_sums_a_cascade() {
        use crate::routing::{Candidate, CascadeSettings, RouteDecision};
        let prices = crate::pricing::PriceTable::from_json(r#"{"models":{"cheap":{"input":0.1,"output":0.4,"max_output_tokens":1000},"dear":{"input":2,"output":8,"cache_write":2.5,"cache_write_1h":2.5}}}"#).unwrap();
        let cand = |m: &str| Candidate { provider: "p".into(), upstream_model: m.into(), model: m.into(), price_key: m.into() };
        let mut d = RouteDecision { requested: "dear".into(), baseline_price_key: None, candidates: vec![cand("cheap"), cand("dear")], route: "x".into(), rule: String::new(), reason: String::new(), cascade: None, regions: Vec::new() };
        // dear: 1000 prompt tokens at the cache-write price 2.5 + 100 output at 8 = 0.0025 + 0.0008
        assert_eq!(max_cost(&d, &prices, &PromptBound::text(1000), Some(100), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.0033");
        // cheap's own cap (1000) applies without a request cap; dear falls back to 4096.
        assert_eq!(max_cost(&d, &prices, &PromptBound::text(0), None, 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.032768");
        d.cascade = Some(CascadeSettings { min_logprob: None, buffer_streams: false });
        assert_eq!(max_cost(&d, &prices, &PromptBound::text(1000), Some(100), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.00344");
    }

    #[test]
    fn max_cost_pays_every_choice_at_the_dearer_of_output_and_reasoning() {
        use crate::routing::{Candidate, RouteDecision};
        let prices = crate::pricing::PriceTable::from_json(r#"{"models":{"thinker":{"input":1,"output":4,"reasoning":10}}}"#).unwrap();
        let cand = Candidate { provider: "p".into(), upstream_model: "thinker".into(), model: "thinker".into(), price_key: "thinker".into() };
        let d = RouteDecision { requested: "thinker".into(), baseline_price_key: None, candidates: vec![cand], route: "x".into(), rule: String::new(), reason: String::new(), cascade: None, regions: Vec::new() };
        // 1000 prompt tokens at 1, once; 100 output tokens, all of which may be reasoning at 10.
        assert_eq!(max_cost(&d, &prices, &PromptBound::text(1000), Some(100), 1, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.002");
        // n = 128: each choice may write its 100 tokens; the prompt is still paid once.
        assert_eq!(max_cost(&d, &prices, &PromptBound::text(1000), Some(100), 128, ServiceTier::Standard, &no_adapter_cap).to_string(), "0.129");
    }

    #[test]
    fn budget_specs_read_dollar_amounts() {
        let spec: BudgetSpec = serde_json::from_str(r#"{"id":"d","scope":{"kind":"team","value":"search"},"window":"weekly","reset_day":3,"hard_limit":"12.50","soft_limit":10}"#).unwrap();
        assert_eq!(spec.hard_limit, Usd(12_500_000_000_000));
        assert_eq!(spec.soft_limit, Some(Usd(10 * USD)));
        assert_eq!(serde_json::to_value(&spec).unwrap()["hard_limit"], "12.5");
        assert!(serde_json::from_str::<BudgetSpec>(r#"{"id":"d","scope":{"kind":"tenant"},"window":"daily","hard_limit":"-1"}"#).is_err());
        assert!(serde_json::from_str::<BudgetSpec>(r#"{"id":"d","scope":{"kind":"tenant"},"window":"daily","hard_limit":"ten"}"#).is_err());
        // A reset day left out is the first (Monday, the 1st).
        let monthly: BudgetSpec = serde_json::from_str(r#"{"id":"m","scope":{"kind":"tenant"},"window":"monthly","hard_limit":"5"}"#).unwrap();
        assert_eq!(monthly.reset_day, 1);
        let spec = |json: &str| serde_json::from_str::<BudgetSpec>(json).unwrap();
        let weekly = |day: u32| spec(&format!(r#"{{"id":"w","scope":{{"kind":"tenant"}},"window":"weekly","reset_day":{day},"hard_limit":"5"}}"#));
        assert!(check_budgets(&[weekly(7)]).is_ok());
        assert!(check_budgets(&[weekly(8)]).unwrap_err().contains("budgets[0].reset_day must be 1 (Monday) to 7 (Sunday)"));
        let id = |id: &str| spec(&format!(r#"{{"id":"{id}","scope":{{"kind":"tenant"}},"window":"daily","hard_limit":"5"}}"#));
        assert!(check_budgets(&[id(&"a".repeat(64))]).is_ok());
        assert!(check_budgets(&[id(&"a".repeat(65))]).unwrap_err().contains("budgets[0].id must be 1-64"));
        // A soft limit at the hard limit warns as it is reached; above it, never.
        let soft = |soft: &str| spec(&format!(r#"{{"id":"s","scope":{{"kind":"tenant"}},"window":"daily","hard_limit":"5","soft_limit":"{soft}"}}"#));
        assert!(check_budgets(&[soft("5")]).is_ok());
        assert!(check_budgets(&[soft("5.01")]).is_err());
        // A time zone is stored by name and checked where it is set; a stored one the table no
        // longer knows still loads (its windows then in UTC) rather than failing the ledger.
        let zoned = |zone: &str| spec(&format!(r#"{{"id":"z","scope":{{"kind":"tenant"}},"window":"daily","hard_limit":"5","time_zone":"{zone}"}}"#));
        assert!(check_budgets(&[zoned("America/Los_Angeles")]).is_ok());
        assert_eq!(serde_json::to_value(zoned("America/Los_Angeles")).unwrap()["time_zone"], "America/Los_Angeles");
        assert!(serde_json::to_value(&monthly).unwrap().get("time_zone").is_none(), "left out when UTC, as earlier releases store it");
        let unknown = zoned("america/los_angeles");
        assert_eq!(
            check_budgets(std::slice::from_ref(&unknown)).unwrap_err(),
            "budgets[0].time_zone 'america/los_angeles' is no time zone of the tz database (did you mean 'America/Los_Angeles'?); name one as 'Area/City', such as 'Europe/Berlin' or 'America/New_York', or 'UTC'"
        );
        assert_eq!(unknown.bounds(NOW), Window::Daily.bounds(NOW, 1));
    }

    #[test]
    fn windows_in_a_time_zone_start_at_its_midnights() {
        let zone = |name: &str| Zone::named(name).unwrap();
        let at = |y, m, d, h, min| crate::routing::local_time::tests_support::unix(y, m, d, h, min);
        // Los Angeles in November (UTC-8): the day runs 08:00 UTC to 08:00 UTC.
        let la = zone("America/Los_Angeles");
        assert_eq!(Window::Daily.bounds_in(at(2026, 11, 22, 7, 59), 1, Some(&la)), (at(2026, 11, 21, 8, 0), at(2026, 11, 22, 8, 0)));
        assert_eq!(Window::Daily.bounds_in(at(2026, 11, 22, 8, 0), 1, Some(&la)), (at(2026, 11, 22, 8, 0), at(2026, 11, 23, 8, 0)));
        // Berlin's spring change: 2027-03-28 has 23 hours, from 23:00 UTC (CET) to 22:00 UTC (CEST).
        let berlin = zone("Europe/Berlin");
        assert_eq!(Window::Daily.bounds_in(at(2027, 3, 28, 12, 0), 1, Some(&berlin)), (at(2027, 3, 27, 23, 0), at(2027, 3, 28, 22, 0)));
        // And its autumn one: 2027-10-31 has 25.
        assert_eq!(Window::Daily.bounds_in(at(2027, 10, 31, 12, 0), 1, Some(&berlin)), (at(2027, 10, 30, 22, 0), at(2027, 10, 31, 23, 0)));
        // Santiago's clocks jump from Saturday 24:00 to Sunday 01:00 (2027-09-05): Sunday's window
        // starts at the jump, 04:00 UTC, and Saturday's ends there.
        let santiago = zone("America/Santiago");
        assert_eq!(Window::Daily.bounds_in(at(2027, 9, 5, 12, 0), 1, Some(&santiago)), (at(2027, 9, 5, 4, 0), at(2027, 9, 6, 3, 0)));
        assert_eq!(Window::Daily.bounds_in(at(2027, 9, 5, 3, 59), 1, Some(&santiago)).1, at(2027, 9, 5, 4, 0));
        // Weekly and monthly count local days: Monday 00:30 in Kolkata is still Sunday in UTC.
        let kolkata = zone("Asia/Kolkata");
        let monday_early = at(2026, 11, 22, 19, 0);
        assert_eq!(Window::Weekly.bounds_in(monday_early, 1, Some(&kolkata)), (at(2026, 11, 22, 18, 30), at(2026, 11, 29, 18, 30)));
        assert_eq!(Window::Weekly.bounds(monday_early, 1), (day(2026, 11, 16), day(2026, 11, 23)));
        assert_eq!(Window::Monthly.bounds_in(at(2027, 1, 31, 20, 0), 1, Some(&kolkata)), (at(2027, 1, 31, 18, 30), at(2027, 2, 28, 18, 30)));
        // Every window ends where the next begins, through a year of Berlin's days.
        for w in [Window::Daily, Window::Weekly, Window::Monthly] {
            let mut t = at(2027, 1, 1, 0, 0);
            while t < at(2028, 1, 1, 0, 0) {
                let (start, end) = w.bounds_in(t, 1, Some(&berlin));
                assert!(start <= t && t < end, "{w:?} at {t}: {start}..{end}");
                assert_eq!(w.bounds_in(end, 1, Some(&berlin)).0, end, "{w:?} at {t}");
                t = end;
            }
        }
    }

    fn in_zone(l: &Ledger, index: usize, zone: &str) -> Vec<BudgetSpec> {
        let mut specs = l.specs.clone();
        specs[index].time_zone = serde_json::from_str(&format!("\"{zone}\"")).unwrap();
        specs
    }

    #[test]
    fn a_budget_moved_to_a_time_zone_keeps_its_spend_until_its_window_ends() {
        let mut l = ledger(100);
        let c = Covered::default();
        let now = day(2026, 11, 17) + 20 * 3600;
        l.reserve("a", Usd(6 * USD), &c, now).unwrap();
        l.settle("a", Usd(6 * USD), now);
        // 20:00 UTC is 12:00 in Los Angeles. The UTC day is stretched to Los Angeles' next
        // midnight (08:00 UTC tomorrow), its spend kept; Los Angeles' days follow from there.
        l.configure(in_zone(&l, 0, "America/Los_Angeles"), RateLimits::default(), now + 60);
        let level = &l.levels(now + 60)[0];
        assert_eq!((level.spent, level.window_start, level.resets_at), (Usd(6 * USD), day(2026, 11, 17), day(2026, 11, 18) + 8 * 3600));
        l.reserve("b", Usd(2 * USD), &c, day(2026, 11, 18) + 3600).unwrap();
        l.settle("b", Usd(2 * USD), day(2026, 11, 18) + 3600);
        assert_eq!(l.levels(day(2026, 11, 18) + 8 * 3600 - 1)[0].spent, Usd(8 * USD), "01:00 UTC is still the stretched day");
        let next = l.as_of(day(2026, 11, 18) + 8 * 3600);
        let level = &next.levels(day(2026, 11, 18) + 8 * 3600)[0];
        assert_eq!((level.spent, level.window_start, level.resets_at), (Usd::ZERO, day(2026, 11, 18) + 8 * 3600, day(2026, 11, 19) + 8 * 3600));
        assert_eq!(next.states["tenant-daily"].stretched_until, None);
    }

    #[test]
    fn a_change_of_zone_drops_no_spend_the_new_window_would_hold() {
        // A month's $490, and $1 early on the next UTC month, when the zone moves to Los Angeles
        // (whose November runs to 08:00 UTC on December 1st): the UTC December started ends at
        // Los Angeles' next midnight, 08:00 UTC, and Los Angeles' December follows; every hour is
        // in one window and none of the spend is forgotten (moving the window to Los Angeles'
        // November would have held $1 of $491).
        let mut l = Ledger { specs: vec![serde_json::from_str(r#"{"id":"m","scope":{"kind":"tenant"},"window":"monthly","hard_limit":"500"}"#).unwrap()], ..Ledger::default() };
        let c = Covered::default();
        l.reserve("a", Usd(490 * USD), &c, day(2026, 11, 20)).unwrap();
        l.settle("a", Usd(490 * USD), day(2026, 11, 20));
        l.reserve("b", Usd(USD), &c, day(2026, 12, 1) + 3600).unwrap();
        l.settle("b", Usd(USD), day(2026, 12, 1) + 3600);
        l.configure(in_zone(&l, 0, "America/Los_Angeles"), RateLimits::default(), day(2026, 12, 1) + 3 * 3600);
        let level = &l.levels(day(2026, 12, 1) + 3 * 3600)[0];
        assert_eq!((level.spent, level.window_start, level.resets_at), (Usd(USD), day(2026, 12, 1), day(2026, 12, 1) + 8 * 3600));
        let december = l.as_of(day(2026, 12, 1) + 8 * 3600).levels(day(2026, 12, 1) + 8 * 3600)[0].clone();
        assert_eq!((december.spent, december.window_start, december.resets_at), (Usd::ZERO, day(2026, 12, 1) + 8 * 3600, day(2027, 1, 1) + 8 * 3600));
        // Nothing was spent since November ended: that window is kept until Los Angeles'
        // November ends, its $490 still counted.
        let mut stale = Ledger { specs: l.specs.clone(), ..Ledger::default() };
        stale.specs[0].time_zone = None;
        stale.reserve("a", Usd(490 * USD), &c, day(2026, 11, 20)).unwrap();
        stale.settle("a", Usd(490 * USD), day(2026, 11, 20));
        stale.configure(in_zone(&stale, 0, "America/Los_Angeles"), RateLimits::default(), day(2026, 12, 1) + 3 * 3600);
        let at = day(2026, 12, 1) + 4 * 3600;
        assert!(stale.reserve("c", Usd(20 * USD), &c, at).is_err(), "$490 + $20 > $500 in the stretched November");
        assert_eq!(stale.levels(at)[0].resets_at, day(2026, 12, 1) + 8 * 3600);
        // A daily budget whose day ended with no charge since, set to Los Angeles at 02:00 UTC:
        // Los Angeles' day (from 08:00 UTC yesterday) holds all of yesterday's UTC spend after
        // 08:00, so yesterday is kept to 08:00 today.
        let mut daily = ledger(100);
        daily.reserve("a", Usd(95 * USD), &c, day(2026, 11, 17) + 10 * 3600).unwrap();
        daily.settle("a", Usd(95 * USD), day(2026, 11, 17) + 23 * 3600);
        daily.configure(in_zone(&daily, 0, "America/Los_Angeles"), RateLimits::default(), day(2026, 11, 18) + 2 * 3600);
        assert!(daily.reserve("b", Usd(6 * USD), &c, day(2026, 11, 18) + 2 * 3600 + 1).is_err());
        // Changed twice: the second change stretches from where the first ended.
        daily.configure(in_zone(&daily, 0, "Asia/Tokyo"), RateLimits::default(), day(2026, 11, 18) + 3 * 3600);
        assert_eq!(daily.levels(day(2026, 11, 18) + 3 * 3600)[0].resets_at, day(2026, 11, 18) + 15 * 3600, "Tokyo's first midnight after 08:00 UTC");
    }

    #[test]
    fn a_change_of_zone_at_the_new_zones_midnight_has_passed_that_midnight() {
        // Tokyo's midnight is 15:00 UTC. Set at 14:59, the UTC day ends a minute later, at that
        // midnight; set at 15:00 itself, that midnight is not yet to come: the UTC day, its $95
        // kept, runs to Tokyo's next midnight, as it does when set at 15:01.
        let tokyo_midnight = day(2026, 11, 17) + 15 * 3600;
        for (set_at, ends) in [(tokyo_midnight - 60, tokyo_midnight), (tokyo_midnight, tokyo_midnight + DAY), (tokyo_midnight + 60, tokyo_midnight + DAY)] {
            let mut l = ledger(100);
            l.reserve("a", Usd(95 * USD), &Covered::default(), day(2026, 11, 17) + 10 * 3600).unwrap();
            l.settle("a", Usd(95 * USD), day(2026, 11, 17) + 10 * 3600);
            l.configure(in_zone(&l, 0, "Asia/Tokyo"), RateLimits::default(), set_at);
            let level = &l.levels(set_at)[0];
            assert_eq!((level.spent, level.window_start, level.resets_at), (Usd(95 * USD), day(2026, 11, 17), ends), "set at {set_at}");
        }
    }

    #[test]
    fn windows_follow_one_another_across_changes_of_zone() {
        // Every instant of a month in exactly one window, as the budget's zone changes mid-way.
        let mut l = ledger(100);
        let c = Covered::default();
        let mut t = day(2026, 11, 1);
        let mut last_end = None;
        let zones = ["America/Los_Angeles", "Asia/Kolkata", "UTC", "Pacific/Kiritimati", "Pacific/Niue"];
        let mut changes = 0;
        while t < day(2026, 12, 1) {
            if (t - day(2026, 11, 1)) % (5 * DAY + 7 * 3600) < 3600 && changes < zones.len() {
                l.configure(in_zone(&l, 0, zones[changes]), RateLimits::default(), t);
                changes += 1;
            }
            l.reserve(&format!("r{t}"), Usd(USD), &c, t).unwrap();
            l.settle(&format!("r{t}"), Usd(USD), t);
            let level = &l.levels(t)[0];
            assert!(level.window_start <= t && t < level.resets_at, "{t}: {level:?}");
            if let Some((start, end)) = last_end {
                assert!(level.window_start == start || level.window_start == end, "{t}: {level:?} after {start}..{end}");
            }
            last_end = Some((level.window_start, level.resets_at));
            t += 3600;
        }
        assert_eq!(changes, zones.len());
    }

    #[test]
    fn the_reservations_a_change_made_renewed_settled_or_expired_are_named_for_the_store() {
        let ids = |l: &mut Ledger| l.take_changed_reservations().into_iter().collect::<Vec<_>>();
        let mut l = ledger(100);
        l.reserve("a", Usd(USD), &Covered::default(), NOW).unwrap();
        l.reserve("b", Usd(USD), &Covered::default(), NOW).unwrap();
        assert_eq!(ids(&mut l), ["a", "b"]);
        assert_eq!(ids(&mut l), Vec::<String>::new(), "taken once");
        assert!(l.renew("a", NOW + 60));
        l.finish("b", Usd(USD), &Covered::default(), NOW + 60);
        // Settling or renewing a request that holds nothing changes no reservation.
        l.finish("never-reserved", Usd(USD), &Covered::default(), NOW + 60);
        assert!(!l.renew("never-reserved", NOW + 60));
        assert_eq!(ids(&mut l), ["a", "b"]);
        // "a" expires unrenewed: the change that finds it expired names it too.
        l.reserve("c", Usd(USD), &Covered::default(), NOW + 60 + RESERVATION_TTL_SECS).unwrap();
        assert_eq!(ids(&mut l), ["a", "c"]);
        assert!(!l.reservations.contains_key("a"));
        l.release("c", NOW + 120 + RESERVATION_TTL_SECS);
        assert_eq!(ids(&mut l), ["c"]);
        // Not part of the ledger's value, nor stored.
        let mut other = l.clone();
        other.reserve("d", Usd(USD), &Covered::default(), NOW + 120 + RESERVATION_TTL_SECS).unwrap();
        other.release("d", NOW + 120 + RESERVATION_TTL_SECS);
        assert_eq!(other, l);
        assert!(!serde_json::to_string(&other).unwrap().contains("changed"));
    }

    #[test]
    fn a_ledger_stored_with_its_reservations_inside_gives_them_rows_on_its_next_write() {
        let mut stored = ledger(100);
        stored.reserve("old", Usd(USD), &Covered::default(), NOW).unwrap();
        let stored: Ledger = serde_json::from_str(&serde_json::to_string(&stored).unwrap()).unwrap();
        let row = Reservation { budgets: vec!["tenant-daily".into()], amount: Usd(2 * USD), expires_at: NOW + RESERVATION_TTL_SECS };
        let (mut l, rewrite) = Ledger::from_stored(stored.clone(), [("new".to_string(), row.clone())]);
        assert!(rewrite, "the stored value still holds a reservation");
        assert_eq!(l.reservations.keys().collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(l.states["tenant-daily"].reserved, Usd(3 * USD), "held: old's $1 and new's $2");
        assert_eq!(l.take_changed_reservations().into_iter().collect::<Vec<_>>(), ["old"], "the one without a row yet");
        // Stored as it is written now: nothing inside, nothing to move.
        let (mut l, rewrite) = Ledger::from_stored(stored.without_reservations(), [("new".to_string(), row)]);
        assert!(!rewrite);
        assert_eq!(l.reservations.len(), 1);
        assert!(l.take_changed_reservations().is_empty());
        assert!(stored.without_reservations().reservations.is_empty());
        assert_eq!(stored.without_reservations().states, stored.states);
    }

    #[test]
    fn what_a_loaded_ledger_holds_is_what_its_reservations_hold() {
        // Written by code that kept the reservations elsewhere: "gone" is counted as held but
        // was settled while that code ran; "kept" holds $2 and has its row.
        let mut stored = ledger(100);
        stored.reserve("gone", Usd(USD), &Covered::default(), NOW).unwrap();
        stored.reserve("kept", Usd(2 * USD), &Covered::default(), NOW).unwrap();
        let kept = stored.reservations["kept"].clone();
        let value = stored.without_reservations();
        assert_eq!(value.states["tenant-daily"].reserved, Usd(3 * USD));
        let (mut l, _) = Ledger::from_stored(value, [("kept".to_string(), kept)]);
        assert_eq!(l.states["tenant-daily"].reserved, Usd(2 * USD));
        assert_eq!(l.states["search-monthly"].reserved, Usd::ZERO);
        // Settling it leaves nothing held, not the $1 of a request it no longer has.
        l.finish("kept", Usd(USD), &Covered::default(), NOW + 1);
        assert_eq!(l.states["tenant-daily"].reserved, Usd::ZERO);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD));
    }

    #[test]
    fn a_budget_removed_and_set_again_holds_what_its_requests_in_flight_hold() {
        let mut l = ledger(100);
        let specs = l.specs.clone();
        l.reserve("before", Usd(2 * USD), &Covered::default(), NOW).unwrap();
        l.configure(specs[1..].to_vec(), RateLimits::default(), NOW + 1);
        l.configure(specs.clone(), RateLimits::default(), NOW + 2);
        assert_eq!(l.states["tenant-daily"].reserved, Usd(2 * USD), "\"before\" still names it and will settle against it");
        l.reserve("after", Usd(3 * USD), &Covered::default(), NOW + 3).unwrap();
        l.finish("before", Usd(USD), &Covered::default(), NOW + 4);
        // Its settlement takes off its own $2, not the $3 a later request holds.
        assert_eq!(l.states["tenant-daily"].reserved, Usd(3 * USD));
    }

    #[test]
    fn an_expiry_charge_follows_its_spend_into_a_changed_window() {
        let mut l = ledger(10);
        l.reserve("lost", Usd(2 * USD), &Covered::default(), NOW).unwrap();
        l.reserve("x", Usd(USD), &Covered::default(), NOW + RESERVATION_TTL_SECS).unwrap();
        assert_eq!(l.states["tenant-daily"].spent, Usd(2 * USD));
        // The daily budget becomes monthly: its spend, the expiry charge in it, carries over.
        let mut specs = l.specs.clone();
        specs[0].window = Window::Monthly;
        l.configure(specs, RateLimits::default(), NOW + RESERVATION_TTL_SECS + 1);
        l.settle("lost", Usd(USD / 2), NOW + RESERVATION_TTL_SECS + 2);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 2), "the charge replaced, not paid twice");
        // One charged in a day gone since stays there: the new window holds the next day's $3,
        // none of that charge, so the late settlement takes nothing off it.
        let mut l = ledger(10);
        l.reserve("lost", Usd(2 * USD), &Covered::default(), NOW).unwrap();
        l.reserve("x", Usd(USD), &Covered::default(), NOW + RESERVATION_TTL_SECS).unwrap();
        l.settle("x", Usd::ZERO, NOW + RESERVATION_TTL_SECS);
        l.reserve("next-day", Usd(3 * USD), &Covered::default(), NOW + DAY).unwrap();
        l.settle("next-day", Usd(3 * USD), NOW + DAY);
        let mut specs = l.specs.clone();
        specs[0].window = Window::Monthly;
        l.configure(specs, RateLimits::default(), NOW + DAY + 1);
        l.settle("lost", Usd(USD / 2), NOW + DAY + 2);
        assert_eq!(l.states["tenant-daily"].spent, Usd(3 * USD + USD / 2));
    }

    #[test]
    fn a_reservation_that_expires_past_midnight_is_charged_in_the_new_day() {
        let mut l = ledger(10);
        let midnight = day(2026, 11, 23);
        l.reserve("late", Usd(2 * USD), &Covered::default(), midnight - 5 * 60).unwrap();
        // It expires at 00:10; the ledger next hears of anything at 00:20.
        l.reserve("next", Usd(USD), &Covered::default(), midnight + 20 * 60).unwrap();
        assert_eq!(l.states["tenant-daily"].spent, Usd(2 * USD), "its hold, charged in the day it expired in");
        l.settle("late", Usd(USD / 2), midnight + 21 * 60);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 2), "then its actual cost in place of the hold");
        // One that expired in a day gone since: not charged there, and its late settlement is
        // charged to the day it finishes in.
        l.reserve("old", Usd(3 * USD), &Covered::default(), midnight + 3600).unwrap();
        let next_day = midnight + 86_400;
        l.reserve("x", Usd(USD), &Covered::default(), next_day + 1800).unwrap();
        assert_eq!(l.states["tenant-daily"].spent, Usd::ZERO);
        l.settle("old", Usd(USD), next_day + 1801);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD));
    }

    #[test]
    fn an_abandoned_reservation_is_charged_its_hold_on_expiry_until_it_settles() {
        let mut l = ledger(1);
        l.reserve("lost", Usd(USD), &Covered::default(), NOW).unwrap();
        assert!(l.reserve("next", Usd(USD), &Covered::default(), NOW + 60).is_err());
        // Never settled (its isolate gone with the settlement unsent): expiry charges its most
        // possible cost, so the hard limit holds.
        let refused = l.reserve("next", Usd(USD / 2), &Covered::default(), NOW + RESERVATION_TTL_SECS).unwrap_err();
        assert_eq!(refused.cause(Usd(USD / 2)), ExceededCause::Spent);
        assert_eq!((l.states["tenant-daily"].spent, l.states["tenant-daily"].reserved), (Usd(USD), Usd::ZERO));
        // Settled after all: its actual cost replaces the charge.
        l.settle("lost", Usd(USD / 5), NOW + RESERVATION_TTL_SECS + 1);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 5));
        assert!(l.reserve("next", Usd(USD / 2), &Covered::default(), NOW + RESERVATION_TTL_SECS + 2).is_ok());
    }

    #[test]
    fn a_renewed_reservation_holds_while_its_stream_runs() {
        let mut l = ledger(1);
        assert!(l.reserve("stream", Usd(USD), &Covered::default(), NOW).unwrap().held);
        // Renewed every five minutes: still held 40 minutes in, so nothing else fits.
        for minute in [5, 10, 15, 20, 25, 30, 35] {
            assert!(l.renew("stream", NOW + minute * 60), "{minute}");
        }
        assert!(l.reserve("other", Usd(USD), &Covered::default(), NOW + 40 * 60).is_err(), "the long stream still holds the budget");
        // Settled: nothing left to renew, and the money is spent, not held.
        l.settle("stream", Usd(USD / 2), NOW + 41 * 60);
        assert!(!l.renew("stream", NOW + 42 * 60));
        assert_eq!((l.states["tenant-daily"].spent, l.states["tenant-daily"].reserved), (Usd(USD / 2), Usd::ZERO));
        // Too late: an expired reservation's money is not held again.
        l.reserve("late", Usd(USD / 4), &Covered::default(), NOW + 42 * 60).unwrap();
        assert!(!l.renew("late", NOW + 42 * 60 + RESERVATION_TTL_SECS));
        assert_eq!(l.states["tenant-daily"].reserved, Usd::ZERO);
        // A renewal never shortens a life (a renewal stamped early by another isolate's clock).
        l.reserve("skewed", Usd(USD / 4), &Covered::default(), NOW + 60 * 60).unwrap();
        assert!(l.renew("skewed", NOW + 59 * 60));
        assert_eq!(l.reservations["skewed"].expires_at, NOW + 60 * 60 + RESERVATION_TTL_SECS);
        // A tenant with per-minute limits and no budget: a reservation that holds nothing, and
        // nothing for a long stream to renew.
        let mut limits_only = Ledger::default();
        assert!(!limits_only.reserve("r", Usd(USD), &Covered::default(), NOW).unwrap().held);
    }

    #[test]
    fn a_finished_request_that_reserved_nothing_is_still_charged_to_its_budgets() {
        let mut l = ledger(10);
        let search = Covered { feature: "search", ..Covered::default() };
        // A semantic cache hit that paid for a provider embedding: no reservation, a cost.
        l.finish("hit", Usd(USD / 100), &search, NOW);
        assert_eq!((l.states["tenant-daily"].spent, l.states["search-monthly"].spent), (Usd(USD / 100), Usd(USD / 100)));
        l.finish("other-feature", Usd(USD / 100), &Covered { feature: "chat", ..Covered::default() }, NOW);
        assert_eq!((l.states["tenant-daily"].spent, l.states["search-monthly"].spent), (Usd(USD / 50), Usd(USD / 100)), "only the budgets that cover it");
        // A reserved request is settled as before, once.
        l.reserve("served", Usd(USD), &search, NOW).unwrap();
        l.finish("served", Usd(USD / 2), &search, NOW);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 50 + USD / 2));
        assert_eq!(l.states["tenant-daily"].reserved, Usd::ZERO);
        l.finish("free", Usd::ZERO, &search, NOW);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 50 + USD / 2));
    }

    #[test]
    fn a_request_that_outlives_its_reservation_is_still_charged() {
        let mut l = ledger(10);
        let search = Covered { feature: "search", ..Covered::default() };
        l.reserve("long", Usd(2 * USD), &search, NOW).unwrap();
        l.reserve("dead", Usd(USD), &search, NOW).unwrap();
        // Eighteen minutes of streaming, unrenewed: the holds became charges on expiry.
        let later = NOW + 18 * 60;
        l.reserve("other", Usd(USD), &Covered::default(), later).unwrap();
        assert_eq!((l.states["tenant-daily"].reserved, l.states["search-monthly"].reserved), (Usd(USD), Usd::ZERO));
        assert_eq!((l.states["tenant-daily"].spent, l.states["search-monthly"].spent), (Usd(3 * USD), Usd(3 * USD)));
        // The settlement still counts: its actual cost in place of the charge.
        l.settle("long", Usd(USD), later);
        assert_eq!((l.states["tenant-daily"].spent, l.states["search-monthly"].spent), (Usd(2 * USD), Usd(2 * USD)));
        l.settle("long", Usd(USD), later);
        assert_eq!(l.states["tenant-daily"].spent, Usd(2 * USD), "settled once");
        // Past midnight: the daily window that was charged is gone, so the actual cost goes into
        // the window it finished in, as any settlement's; the monthly one takes it in place of
        // the charge.
        let tomorrow = day(2026, 11, 23);
        l.settle("dead", Usd(USD / 2), tomorrow);
        assert_eq!((l.states["tenant-daily"].spent, l.states["search-monthly"].spent), (Usd(USD / 2), Usd(3 * USD / 2)));
        // A request that never settles keeps its charge; a settlement after a day is not taken.
        l.reserve("gone", Usd(USD / 2), &search, tomorrow).unwrap();
        l.settle("x", Usd::ZERO, tomorrow + RESERVATION_TTL_SECS);
        assert!(l.expired.contains_key("gone"));
        assert_eq!(l.states["search-monthly"].spent, Usd(2 * USD), "charged its hold");
        l.settle("gone", Usd(USD / 5), tomorrow + RESERVATION_TTL_SECS + EXPIRED_RESERVATION_KEEP_SECS);
        assert!(l.expired.is_empty());
        assert_eq!(l.states["search-monthly"].spent, Usd(2 * USD), "too late to be taken");
    }

    #[test]
    fn a_reader_sees_the_current_window_and_no_expired_holds() {
        let mut l = ledger(100);
        l.reserve("held", Usd(USD), &Covered::default(), NOW).unwrap();
        l.reserve("spent", Usd(2 * USD), &Covered::default(), NOW).unwrap();
        l.finish("spent", Usd(2 * USD), &Covered::default(), NOW);
        let later = l.as_of(NOW + 2 * 86_400);
        assert_eq!(later.reservations.len(), 0, "the hold expired");
        assert!(later.states.values().all(|st| st.reserved == Usd::ZERO && st.spent == Usd::ZERO), "{:?}", later.states);
        assert_eq!(l.as_of(NOW).states, l.states, "nothing changes within the window");
    }

    #[test]
    fn expired_reservations_kept_are_bounded_oldest_forgotten_first() {
        let mut l = ledger(1_000);
        for i in 0..EXPIRED_RESERVATIONS_KEPT as i64 + 10 {
            l.reserve(&format!("r{i}"), Usd(1), &Covered::default(), NOW + i).unwrap();
        }
        l.settle("none", Usd::ZERO, NOW + 1_000 + RESERVATION_TTL_SECS);
        assert_eq!(l.expired.len(), EXPIRED_RESERVATIONS_KEPT);
        assert!(!l.expired.contains_key("r9") && l.expired.contains_key("r10"));
        // The kept ones are charged their holds; the forgotten ones' charges are taken back, so
        // that a settlement still coming (charged to the covering budgets) is not paid twice.
        assert_eq!(l.states["tenant-daily"].spent, Usd(EXPIRED_RESERVATIONS_KEPT as i64));
        l.finish("r3", Usd(1), &Covered::default(), NOW + 1_001 + RESERVATION_TTL_SECS);
        assert_eq!(l.states["tenant-daily"].spent, Usd(EXPIRED_RESERVATIONS_KEPT as i64 + 1));
    }

    #[test]
    fn a_ledger_stored_before_expired_reservations_were_kept_still_loads() {
        let stored = r#"{"specs":[],"states":{"d":{"window_start":0,"spent":"1","reserved":"0"}},"reservations":{},"limits":{"tenant_rpm":null,"tenant_tpm":null,"key_rpm":null,"key_tpm":null},"minute":{"minute":0,"tenant_requests":0,"tenant_tokens":0,"key_requests":{},"key_tokens":{}},"alerts":[]}"#;
        let l: Ledger = serde_json::from_str(stored).unwrap();
        assert!(l.expired.is_empty());
        assert_eq!(l.states["d"].spent, Usd(USD));
    }

    #[test]
    fn per_minute_limits_count_requests_and_tokens() {
        let mut l = Ledger { limits: RateLimits { tenant_rpm: Some(3), key_tpm: Some(1000), ..RateLimits::default() }, ..Ledger::default() };
        let s = l.admit_rate("k1", 400, NOW).unwrap();
        assert_eq!((s.limit_requests, s.remaining_requests, s.limit_tokens, s.remaining_tokens), (Some(3), Some(2), Some(1000), Some(600)));
        assert_eq!(s.reset_secs, 60 - NOW % 60);
        l.admit_rate("k1", 400, NOW).unwrap();
        let e = l.admit_rate("k1", 400, NOW).unwrap_err();
        assert_eq!(e.what, "key tokens");
        l.admit_rate("k2", 400, NOW).unwrap();
        assert_eq!(l.admit_rate("k3", 1, NOW).unwrap_err().what, "tenant requests");
        assert!(l.admit_rate("k3", 1, NOW + 60).is_ok(), "a new minute");
        assert!(e.retryable() && e.request_tokens.is_none(), "the next minute admits it");
        // With a tenant and a key limit, the headers report the tighter, and the key's is
        // counted per key.
        let mut both = Ledger { limits: RateLimits { tenant_rpm: Some(10), key_rpm: Some(2), ..RateLimits::default() }, ..Ledger::default() };
        assert_eq!(both.admit_rate("k1", 1, NOW).unwrap().remaining_requests, Some(1), "the key's 2 is tighter than the tenant's 10");
        both.admit_rate("k1", 1, NOW).unwrap();
        assert_eq!(both.admit_rate("k1", 1, NOW).unwrap_err().what, "key requests");
        let other_key = both.admit_rate("k2", 1, NOW).unwrap();
        assert_eq!((other_key.limit_requests, other_key.remaining_requests), (Some(2), Some(1)));
        // The tenant's tighter: its figures.
        let mut tenant_tighter = Ledger { limits: RateLimits { tenant_rpm: Some(3), key_rpm: Some(10), ..RateLimits::default() }, ..Ledger::default() };
        let s = tenant_tighter.admit_rate("k1", 1, NOW).unwrap();
        assert_eq!((s.limit_requests, s.remaining_requests), (Some(3), Some(2)));
        // With no limits, nothing is counted and only the minute's end is told.
        let mut none = Ledger::default();
        let s = none.admit_rate("k1", 1_000_000, NOW).unwrap();
        assert_eq!((s.limit_requests, s.remaining_requests, s.reset_secs), (None, None, 60 - NOW % 60));
        // A request a budget refused after it was counted is taken back out of the minute.
        let mut m = Ledger { limits: RateLimits { tenant_rpm: Some(2), key_tpm: Some(1000), ..RateLimits::default() }, ..Ledger::default() };
        m.admit_rate("k1", 400, NOW).unwrap();
        m.admit_rate("k1", 400, NOW).unwrap();
        m.unadmit_rate("k1", 400, NOW);
        assert_eq!(m.admit_rate("k1", 400, NOW).unwrap().remaining_requests, Some(0), "its request and tokens are free again");
        m.unadmit_rate("k1", 400, NOW + 60);
        assert_eq!(m.minute.tenant_requests, 2, "a later minute takes nothing back from this one");
        m.admit_rate("k2", 1, NOW + 60).unwrap();
        m.unadmit_rate("k1", 400, NOW);
        assert_eq!(m.minute.tenant_requests, 1, "nor is one of an earlier minute taken out of a later one");
    }

    #[test]
    fn the_ratelimit_headers_are_those_of_the_limits_set_and_none_without_limits() {
        let names = |l: &mut Ledger| l.admit_rate("k1", 10, NOW).unwrap().headers().into_iter().map(|(name, _)| name).collect::<Vec<_>>();
        // No limits (budgets alone, or nothing: the ledger is asked once the isolate's 5 s note
        // of the tenant has lapsed): no headers, not a reset time alone.
        assert!(names(&mut Ledger::default()).is_empty());
        assert!(names(&mut ledger(10)).is_empty());
        let mut all = Ledger { limits: RateLimits { tenant_rpm: Some(3), key_tpm: Some(1000), ..RateLimits::default() }, ..Ledger::default() };
        assert_eq!(
            all.admit_rate("k1", 400, NOW).unwrap().headers(),
            [
                ("x-ratelimit-limit-requests", "3".to_string()),
                ("x-ratelimit-remaining-requests", "2".to_string()),
                ("x-ratelimit-limit-tokens", "1000".to_string()),
                ("x-ratelimit-remaining-tokens", "600".to_string()),
                ("x-ratelimit-reset-requests", format!("{}s", 60 - NOW % 60)),
            ]
        );
        // A request limit alone: its pair and the reset; no token figures for a limit not set.
        let mut requests_only = Ledger { limits: RateLimits { key_rpm: Some(5), ..RateLimits::default() }, ..Ledger::default() };
        assert_eq!(names(&mut requests_only), ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"]);
    }

    #[test]
    fn a_request_larger_than_a_token_limit_is_refused_as_never_admitted() {
        let mut l = Ledger { limits: RateLimits { tenant_rpm: Some(2), tenant_tpm: Some(10_000), key_tpm: Some(1_000), ..RateLimits::default() }, ..Ledger::default() };
        // An empty minute: only the request's own size stands in the way.
        let e = l.admit_rate("k1", 1_001, NOW).unwrap_err();
        assert_eq!((e.what.as_str(), e.limit, e.request_tokens), ("key tokens", 1_000, Some(1_001)));
        assert!(!e.retryable());
        let message = e.message();
        assert!(message.contains("1001 tokens") && message.contains("key tokens per minute limit of 1000") && message.contains("Lower max_tokens"), "{message}");
        assert_eq!((l.minute.tenant_requests, l.minute.tenant_tokens, l.minute.key_tokens.get("k1")), (0, 0, None), "nothing counted");
        // Exactly the limit fits an empty minute.
        l.admit_rate("k1", 1_000, NOW).unwrap();
        // Small enough, but over what is left of this minute: a wait admits it.
        let e = l.admit_rate("k1", 1, NOW).unwrap_err();
        assert_eq!(e.what, "key tokens");
        assert!(e.retryable() && e.message().contains("Retry in"), "{e:?}");
        // Too large for the tenant's limit is said so even when its requests limit is spent too.
        l.admit_rate("k3", 0, NOW).unwrap();
        assert_eq!(l.admit_rate("k3", 0, NOW).unwrap_err().what, "tenant requests");
        let e = l.admit_rate("k2", 10_001, NOW).unwrap_err();
        assert_eq!((e.what.as_str(), e.request_tokens), ("tenant tokens", Some(10_001)));
    }

    #[test]
    fn a_finished_request_is_taken_once_among_the_recent_ones() {
        let mut recent = RecentIds::default();
        assert!(!recent.contains("req_1"));
        recent.remember("req_1");
        assert!(recent.contains("req_1"), "sent again: already finished");
        recent.remember("req_1");
        for i in 0..RecentIds::KEPT {
            recent.remember(&format!("other_{i}"));
        }
        assert!(!recent.contains("req_1"), "long forgotten: bounded memory");
        assert!(recent.contains(&format!("other_{}", RecentIds::KEPT - 1)));
    }

    #[test]
    fn recent_ids_hold_the_same_memory_once_full() {
        let mut recent = RecentIds::default();
        for i in 0..=RecentIds::KEPT {
            recent.remember(&format!("req_{i}"));
        }
        // A set's capacity is its live ids plus the inserts left before a rehash (which deleted
        // slots use up), so it only drops while the table keeps its size; a larger table raises it.
        let (set_capacity, queue_capacity) = (recent.seen.capacity(), recent.order.capacity());
        assert_eq!((recent.seen.len(), recent.order.len()), (RecentIds::KEPT, RecentIds::KEPT));
        for i in RecentIds::KEPT + 1..RecentIds::KEPT * 20 {
            recent.remember(&format!("req_{i}"));
            assert!(recent.seen.capacity() <= set_capacity, "the set's table grew after {i} ids");
            assert_eq!(recent.order.capacity(), queue_capacity, "the queue grew after {i} ids");
        }
    }

    #[test]
    fn an_update_checks_only_what_it_sends() {
        // A budget stored before budgets were checked: kept, with its spend, by a limits-only update.
        let mut l = ledger(10);
        l.specs[1].reset_day = 31;
        l.reserve("r1", Usd(USD), &Covered::default(), NOW).unwrap();
        let before = l.states.clone();
        let limits = RateLimits { tenant_rpm: Some(100), ..RateLimits::default() };
        assert_eq!(l.update(None, Some(limits.clone()), NOW + 1), Ok(()));
        assert_eq!((l.specs[1].reset_day, &l.limits, &l.states), (31, &limits, &before));
        // Budgets sent are checked, and refused whole.
        let mut sent = l.specs.clone();
        sent[0].soft_limit = Some(Usd(1_000 * USD));
        assert!(l.update(Some(sent), None, NOW + 2).unwrap_err().contains("budgets[0].soft_limit is above its hard_limit"));
        assert_eq!(l.specs[1].reset_day, 31, "nothing changed");
        let mut fixed = l.specs.clone();
        fixed[1].reset_day = 28;
        assert_eq!(l.update(Some(fixed), None, NOW + 3), Ok(()));
        assert_eq!((l.specs[1].reset_day, &l.limits), (28, &limits), "the limits kept");
    }

    #[test]
    fn budgets_out_of_range_or_that_could_never_apply_are_refused_by_name() {
        let ok = ledger(10).specs;
        assert_eq!(check_budgets(&ok), Ok(()));
        let with = |f: &dyn Fn(&mut BudgetSpec)| {
            let mut specs = ok.clone();
            f(&mut specs[1]);
            check_budgets(&specs).unwrap_err()
        };
        assert!(with(&|b| b.reset_day = 31).contains("budgets[1].reset_day must be 1 to 28"));
        assert!(with(&|b| { b.window = Window::Weekly; b.reset_day = 0 }).contains("1 (Monday) to 7"));
        assert!(with(&|b| { b.window = Window::Daily; b.reset_day = 5 }).contains("only for weekly and monthly"));
        assert!(with(&|b| b.soft_limit = Some(Usd(4 * USD))).contains("soft_limit is above its hard_limit"));
        assert!(with(&|b| b.id = String::new()).contains("budgets[1].id"));
        assert!(with(&|b| b.id = "tenant-daily".into()).contains("used twice"));
        assert!(with(&|b| b.scope = Scope::Feature("has space".into())).contains("scope.value"));
        assert!(with(&|b| b.scope = Scope::Key("acme-key".into())).contains("key id"));
        assert_eq!(check_budgets(&[BudgetSpec { scope: Scope::Key("key_0123456789ab".into()), ..ok[0].clone() }]), Ok(()));
    }

    #[test]
    fn a_budget_whose_window_changes_keeps_its_spend_in_the_new_window() {
        let mut l = ledger(100);
        let c = Covered::default();
        let mid_month = day(2026, 11, 17) + 3600;
        l.reserve("a", Usd(6 * USD), &c, mid_month).unwrap();
        l.settle("a", Usd(6 * USD), mid_month);
        assert_eq!(l.levels(mid_month)[0].spent, Usd(6 * USD));
        // The tenant's daily budget becomes a monthly one: today's $6 is this month's so far.
        let mut specs = l.specs.clone();
        specs[0].window = Window::Monthly;
        l.configure(specs, RateLimits::default(), mid_month + 60);
        let level = &l.levels(mid_month + 60)[0];
        assert_eq!((level.spent, level.window_start), (Usd(6 * USD), day(2026, 11, 1)), "the alerts see the spend");
        // And back to daily tomorrow: a new day starts empty.
        let mut specs = l.specs.clone();
        specs[0].window = Window::Daily;
        l.configure(specs, RateLimits::default(), mid_month + DAY);
        assert_eq!(l.levels(mid_month + DAY)[0].spent, Usd::ZERO);
    }

    #[test]
    fn tokens_used_beyond_the_admitted_count_count_when_the_request_finishes() {
        let mut l = Ledger { limits: RateLimits { tenant_tpm: Some(10_000), key_tpm: Some(5_000), ..RateLimits::default() }, ..Ledger::default() };
        // Admitted on its prompt alone (no max_tokens), then wrote 3,900 tokens.
        l.admit_rate("k1", 100, NOW).unwrap();
        l.count_used_tokens("k1", 100, 4_000, NOW + 1);
        let e = l.admit_rate("k1", 1_001, NOW + 2).unwrap_err();
        assert_eq!(e.what, "key tokens", "4,000 of the key's 5,000 are used");
        assert_eq!(l.admit_rate("k1", 1_000, NOW + 2).unwrap().remaining_tokens, Some(0));
        assert_eq!(l.minute.tenant_tokens, 5_000, "the tenant's count took the overrun too");
        // Using less than admitted gives nothing back.
        l.count_used_tokens("k2", 1_000, 10, NOW + 3);
        assert_eq!(l.minute.tenant_tokens, 5_000);
        // A request that finishes in the next minute counts there.
        l.count_used_tokens("k1", 0, 700, NOW + 60);
        assert_eq!((l.minute.minute, l.minute.tenant_tokens, l.minute.key_tokens["k1"]), ((NOW + 60).div_euclid(60), 700, 700));
        // Without a token limit nothing is counted (it would only cost a storage write).
        let mut unlimited = Ledger { limits: RateLimits { tenant_rpm: Some(10), ..RateLimits::default() }, ..Ledger::default() };
        unlimited.count_used_tokens("k1", 0, 700, NOW);
        assert_eq!(unlimited.minute, MinuteCounters::default());
    }

    #[test]
    fn a_call_stamped_before_the_window_began_counts_in_the_current_window() {
        let mut l = ledger(10);
        let c = Covered::default();
        let midnight = day(2026, 11, 23);
        l.reserve("a", Usd(6 * USD), &c, midnight + 1).unwrap();
        l.settle("a", Usd(6 * USD), midnight + 1);
        // Stamped a second before midnight by another isolate, arriving after: today's spend stays.
        l.reserve("b", Usd(USD), &c, midnight - 1).unwrap();
        l.settle("b", Usd(USD), midnight - 1);
        let st = &l.states["tenant-daily"];
        assert_eq!((st.window_start, st.spent), (midnight, Usd(7 * USD)));
        let e = l.reserve("c", Usd(4 * USD), &c, midnight - 2).unwrap_err();
        assert_eq!(e.resets_at, day(2026, 11, 24), "the window that holds the spend");
        l.reserve("d", Usd(USD), &c, midnight + 2).unwrap();
        l.settle("d", Usd(USD), midnight + 2);
        assert_eq!(l.alerts.len(), 1, "the soft alert of this window was raised by 'a' and is not repeated");
        assert_eq!(l.states["tenant-daily"].spent, Usd(8 * USD));
    }

    #[test]
    fn a_call_stamped_in_the_previous_minute_counts_in_the_current_one() {
        let mut l = Ledger { limits: RateLimits { tenant_rpm: Some(2), ..RateLimits::default() }, ..Ledger::default() };
        let next_minute = (NOW / 60 + 1) * 60;
        l.admit_rate("k", 0, next_minute).unwrap();
        let late = l.admit_rate("k", 0, next_minute - 1).unwrap();
        assert_eq!((late.remaining_requests, late.reset_secs), (Some(0), 61));
        assert_eq!(l.admit_rate("k", 0, next_minute + 1).unwrap_err().what, "tenant requests", "two a minute, not two per arrival order");
    }

    #[test]
    fn soft_limits_warn_and_windows_reset_spend() {
        let mut l = ledger(10);
        let c = Covered::default();
        assert!(l.reserve("a", Usd(4 * USD), &c, NOW).unwrap().soft_warnings.is_empty());
        assert_eq!(l.reserve("b", Usd(2 * USD), &c, NOW).unwrap().soft_warnings, vec!["tenant-daily".to_string()]);
        l.settle("a", Usd(4 * USD), NOW);
        l.settle("b", Usd(2 * USD), NOW);
        assert!(l.reserve("c", Usd(5 * USD), &c, NOW).is_err());
        let tomorrow = day(2026, 11, 23);
        assert!(l.reserve("c", Usd(5 * USD), &c, tomorrow).is_ok(), "the daily window reset at midnight UTC");
        assert_eq!(l.states["tenant-daily"].spent, Usd::ZERO);
    }

    #[test]
    fn a_request_admitted_for_limits_alone_is_charged_to_a_budget_set_while_it_ran() {
        let mut l = Ledger::default();
        let r = l.reserve("early", Usd(USD), &Covered::default(), NOW).unwrap();
        assert!(!r.held, "no budget: nothing held");
        let budgets = ledger(10).specs;
        l.configure(budgets, RateLimits::default(), NOW + 1);
        l.finish("early", Usd(USD / 4), &Covered::default(), NOW + 2);
        assert_eq!(l.states["tenant-daily"].spent, Usd(USD / 4), "the budget covering it now is charged");
        assert!(l.reservations.is_empty());
    }

    #[test]
    fn a_refusal_says_whether_spend_the_request_or_holds_are_why() {
        let ex = |spent: i64, reserved: i64| Exceeded { budget_id: "d".into(), limit: Usd(10 * USD), spent: Usd(spent * USD), reserved: Usd(reserved * USD), resets_at: 0, on_hard_limit: OnHardLimit::Refuse };
        assert_eq!(ex(10, 0).cause(Usd(USD)), ExceededCause::Spent);
        assert_eq!(ex(2, 0).cause(Usd(9 * USD)), ExceededCause::RequestTooLarge, "$9 of most possible cost, $8 left");
        assert_eq!(ex(2, 7).cause(Usd(2 * USD)), ExceededCause::HeldInFlight, "$8 left, $7 held by others");
        assert_eq!(ex(2, 7).left(), Usd(8 * USD));
    }

    #[test]
    fn a_soft_limit_raises_one_alert_per_window_when_spend_passes_it() {
        let mut l = ledger(10);
        let c = Covered::default();
        assert!(l.reserve("a", Usd(4 * USD), &c, NOW).unwrap().soft_warnings.is_empty());
        let r = l.reserve("b", Usd(2 * USD), &c, NOW).unwrap();
        assert_eq!(r.soft_warnings, vec!["tenant-daily".to_string()], "the request whose hold passes the $5 soft limit is warned");
        assert!(l.alerts.is_empty(), "holds are worst cases: no alert on them");
        // Both settle for cents: the holds are gone and spend is far below the limit.
        l.settle("a", Usd(USD / 100), NOW);
        l.settle("b", Usd(USD / 100), NOW);
        assert!(l.alerts.is_empty());
        l.reserve("c", Usd(6 * USD), &c, NOW).unwrap();
        l.settle("c", Usd(5 * USD), NOW);
        assert_eq!(l.alerts.len(), 1, "spend itself passed it");
        let a = &l.alerts[0];
        assert_eq!((a.kind.as_str(), a.budget_id.as_str(), a.request_id.as_str()), ("soft_limit", "tenant-daily", "c"));
        assert_eq!((a.spent, a.reserved, a.soft_limit, a.hard_limit), (Usd(5 * USD + 2 * USD / 100), Usd::ZERO, Usd(5 * USD), Usd(10 * USD)));
        assert_eq!((a.window_start, a.resets_at), (day(2026, 11, 22), day(2026, 11, 23)));
        let again = l.reserve("d", Usd(USD), &c, NOW).unwrap();
        assert_eq!(again.soft_warnings, vec!["tenant-daily".to_string()], "every request past it is warned");
        l.settle("d", Usd(USD), NOW);
        assert_eq!(l.alerts.len(), 1, "but the alert is raised once");
        let tomorrow = day(2026, 11, 23);
        l.reserve("e", Usd(USD), &c, tomorrow).unwrap();
        l.settle("e", Usd(USD), tomorrow);
        assert_eq!(l.alerts.len(), 1);
        // Charged without a hold (a semantic hit's embedding), spend passes it too.
        l.finish("f", Usd(5 * USD), &c, tomorrow);
        assert_eq!(l.alerts.len(), 2, "a new window alerts again");
        let back: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l, "alerts and their per-window state persist");
    }
}
