// The costrouter dashboard: reads the tenant's reports (/v1/usage, /v1/forecast, /v1/budgets,
// /v1/deployments, /v1/recommendations) with the session cookie and draws them with Chart.js.
// Bundled with Chart.js by esbuild (scripts/build-worker.sh) into build/assets/dashboard/app.js, a
// static asset the worker serves at /dashboard/app.js. No inline code: the page's CSP allows none.
import { Chart, registerables } from 'chart.js';

Chart.register(...registerables);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.size = 11;

const $ = (id) => document.getElementById(id);
const COLORS = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#475569'];
const TAG_FILTERS = ['feature', 'team', 'env', 'user'];
const charts = {};
let session = { tenant: null, admin: false };

// ---- formatting -------------------------------------------------------------------------------

function usd(s) {
  const n = Number(s);
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  // Cents from a dollar up, grouped; below, enough digits that a real amount never reads as 0
  // (an embeddings-only tenant's $0.0000002).
  const text = abs === 0 ? '0.00'
    : abs >= 1 ? abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : abs >= 0.01 ? abs.toFixed(4)
    : abs >= 0.000001 ? abs.toFixed(6)
    : abs.toFixed(12).replace(/0+$/, '');
  return `${n < 0 ? '−' : ''}$${text}`;
}
const num = (n) => Number(n).toLocaleString('en-US');
const label = (v) => (v === '' || v == null ? '(none)' : String(v));

/** Shows a value in a tile; the exact figure the API returned stays in data-value. */
function setTile(id, text, raw) {
  const el = $(id);
  el.textContent = text;
  el.dataset.value = raw;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(target, head, rows) {
  const t = $(target);
  t.replaceChildren();
  const tr = el('tr');
  // Columns after the first are numbers (right-aligned) unless the header says `num: false`.
  const numeric = head.map((h, i) => i > 0 && h.num !== false);
  head.forEach((h, i) => tr.append(el('th', { class: numeric[i] ? 'num' : '' }, h.label ?? h)));
  t.append(el('thead', {}, tr));
  const body = el('tbody');
  for (const r of rows) {
    const row = el('tr');
    r.forEach((c, i) => row.append(el('td', { class: numeric[i] ? 'num' : '' }, c)));
    body.append(row);
  }
  t.append(body);
}

// ---- requests ---------------------------------------------------------------------------------

/**
 * The views' generation: each refresh() starts a new one, and an answer asked for in an earlier
 * one is dropped (api() throws Superseded), so a slow answer for the tenant or range shown before
 * never overwrites the views of the one now picked.
 */
let generation = 0;
class Superseded extends Error {}

/** GET an API path with the session cookie. A lost session goes back to the login form. */
async function api(path, params = {}) {
  const asked = generation;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  if (session.admin && session.tenant) qs.set('tenant', session.tenant);
  // Not `qs.size`: browsers before 2023 (Safari 16) have no such property, and every query would go.
  const query = qs.toString();
  const resp = await fetch(`${path}${query ? `?${query}` : ''}`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  let json = null;
  try {
    json = await resp.json();
  } catch {
    json = null;
  }
  if (resp.status === 401 && json?.error?.code === 'invalid_session') {
    window.location.assign('/dashboard');
  }
  if (asked !== generation) throw new Superseded(path);
  return { ok: resp.ok, status: resp.status, json };
}

async function must(path, params) {
  const r = await api(path, params);
  if (!r.ok) throw new Error(`${path}: ${r.json?.error?.message ?? `HTTP ${r.status}`}`);
  return r.json;
}

// ---- controls ---------------------------------------------------------------------------------

const DAY = 86400;

// ---- time zone --------------------------------------------------------------------------------
// Days, months and the forecast are counted in the zone picked (UTC, or the browser's own), as
// the API counts them with `time_zone=`; the clock arithmetic here is the browser's Intl.

/** The zone picked: 'UTC' or a tz database name. */
const zone = () => $('time-zone').value || 'UTC';
const clockParts = new Map();
/** The date and time in `tz` at unix `t`, as numbers {year, month (1-12), day, hour, minute, second}. */
function clockAt(tz, t) {
  if (!clockParts.has(tz)) {
    clockParts.set(tz, new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }));
  }
  const parts = {};
  for (const p of clockParts.get(tz).formatToParts(new Date(t * 1000))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return parts;
}
/** Seconds east of UTC in `tz` at `t`. */
function offsetAt(tz, t) {
  const c = clockAt(tz, t);
  return Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) / 1000 - t;
}
/** The unix time of midnight starting a date (month 0-based, and days past its end roll over, as Date.UTC's) in `tz`. */
function midnightIn(tz, year, month, day) {
  const local = Date.UTC(year, month, day) / 1000;
  // As the router's Zone::first_instant_at: the offsets two days either side (no zone changes
  // twice in four days); of the instants they give, the first whose clock reads midnight, and
  // where the clock jumps over midnight (Santiago, Havana, Beirut, Cairo, the Azores), the jump.
  const offsets = [offsetAt(tz, local - 2 * DAY), offsetAt(tz, local + 2 * DAY)];
  const exact = offsets.map((o) => local - o).filter((t) => t + offsetAt(tz, t) === local);
  if (exact.length) return Math.min(...exact);
  let [before, after] = [local - Math.max(...offsets), local - Math.min(...offsets)];
  while (after - before > 1) {
    const mid = before + Math.floor((after - before) / 2);
    if (mid + offsetAt(tz, mid) >= local) after = mid;
    else before = mid;
  }
  return after;
}
/** The date (YYYY-MM-DD) in the zone picked at unix `t`. */
function isoDate(t) {
  const c = clockAt(zone(), t);
  return `${String(c.year).padStart(4, '0')}-${String(c.month).padStart(2, '0')}-${String(c.day).padStart(2, '0')}`;
}
/** The midnight starting the day that holds `t` in the zone picked, or `days` days after it. */
function midnightOf(t, days = 0) {
  const c = clockAt(zone(), t);
  return midnightIn(zone(), c.year, c.month - 1, c.day + days);
}

function range() {
  const now = Math.floor(Date.now() / 1000);
  const hourEnd = now - (now % 3600) + 3600;
  const choice = $('range').value;
  if (choice === '24h') return { from: hourEnd - DAY, to: hourEnd };
  if (choice === '30d') return { from: hourEnd - 30 * DAY, to: hourEnd };
  if (choice === 'month') {
    const c = clockAt(zone(), now);
    return { from: midnightIn(zone(), c.year, c.month - 1, 1), to: hourEnd };
  }
  if (choice === 'custom' && $('from').value && $('to').value) {
    const date = (v) => v.split('-').map(Number);
    const [fy, fm, fd] = date($('from').value);
    const [ty, tm, td] = date($('to').value);
    const from = midnightIn(zone(), fy, fm - 1, fd);
    const to = midnightIn(zone(), ty, tm - 1, td + 1);
    if (Number.isFinite(from) && Number.isFinite(to) && from < to) return { from, to };
    // Said, not replaced by another range the page would then show as if asked for.
    throw new Error('The custom range is not a range: its "from" date must be on or before its "to" date.');
  }
  return { from: hourEnd - 7 * DAY, to: hourEnd };
}

function filters() {
  const f = {};
  for (const t of TAG_FILTERS) {
    const v = $(`filter-${t}`).value.trim();
    if (v) f[t] = v;
  }
  return f;
}

// ---- charts -----------------------------------------------------------------------------------

/** Draws (or redraws) a chart and records on its canvas how many non-zero values it shows, and its labels. */
function draw(id, config) {
  charts[id]?.destroy();
  const canvas = $(id);
  charts[id] = new Chart(canvas, config);
  const values = config.data.datasets.flatMap((d) => d.data.map((p) => (typeof p === 'object' && p !== null ? p.y : p)));
  canvas.dataset.points = String(values.filter((v) => Number(v) !== 0 && Number.isFinite(Number(v))).length);
  if (config.data.labels) canvas.dataset.labels = config.data.labels.join(',');
}

/** An hourly bar's label: its local hour, with the minutes where the zone's offset has some
 * (Kolkata's bars run 00:30-01:30: "00:30", not "00h"). */
function hourLabel({ hour, minute }) {
  const hh = String(hour).padStart(2, '0');
  return minute ? `${hh}:${String(minute).padStart(2, '0')}` : `${hh}h`;
}

function spendOverTime(rows, { from, to }, granularity, weekStart = 'monday') {
  const labels = [];
  const cost = [];
  const baseline = [];
  // Hours, or the days, weeks (from Monday or Sunday, as asked) or months of the zone picked (a day is 23 or 25
  // hours when its clocks change). Each row goes to the bar whose span holds its start, the
  // API's midnight there: where a clock jumps over midnight the API's day starts at the jump,
  // inside the bar's span.
  const hourly = granularity === 'hour';
  const monthOf = (t, months) => { const c = clockAt(zone(), t); return midnightIn(zone(), c.year, c.month - 1 + months, 1); };
  // Days since the week's first day (getUTCDay counts from Sunday, 0).
  const firstDay = weekStart === 'sunday' ? 0 : 1;
  const weekday = (t) => { const c = clockAt(zone(), t); return (new Date(Date.UTC(c.year, c.month - 1, c.day)).getUTCDay() - firstDay + 7) % 7; };
  // The API counts the hours that begin in [from, to), rounding both up to whole hours.
  const up = (t) => t + ((3600 - (t % 3600)) % 3600);
  const first = hourly ? up(from)
    : granularity === 'week' ? midnightOf(from, -weekday(from))
    : granularity === 'month' ? monthOf(from, 0)
    : midnightOf(from);
  // Never less than an hour on: a bar that did not move on would hang the page.
  const next = (t) => Math.max(t + 3600, hourly ? t + 3600 : granularity === 'week' ? midnightOf(t, 7) : granularity === 'month' ? monthOf(t, 1) : midnightOf(t, 1));
  // No bar starts after the last hour counted (in Kolkata a range to 19:00 UTC ends with the hour
  // from 18:00, which is the day before 18:30's).
  for (let t = first, end = next(first); t <= up(to) - 3600; t = end, end = next(t)) {
    const inside = rows.filter((r) => r.start >= t && r.start < end);
    labels.push(hourly ? `${isoDate(t).slice(5)} ${hourLabel(clockAt(zone(), t))}` : granularity === 'month' ? isoDate(t).slice(0, 7) : isoDate(t));
    cost.push(inside.reduce((sum, r) => sum + Number(r.cost_usd), 0));
    baseline.push(inside.reduce((sum, r) => sum + Number(r.baseline_cost_usd), 0));
  }
  draw('chart-spend', {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'Spend (USD)', data: cost, backgroundColor: COLORS[0] },
        { label: 'Baseline: the models asked for (USD)', data: baseline, type: 'line', borderColor: COLORS[2], backgroundColor: COLORS[2], pointRadius: 0, borderWidth: 2 },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'USD' } } } },
  });
}

function forecastChart(f) {
  const start = f.month_start;
  let cumulative = 0;
  const actual = [{ x: 0, y: 0 }];
  f.daily.forEach((d, i) => {
    cumulative += Number(d.cost_usd);
    actual.push({ x: Math.min(i + 1, f.elapsed_days), y: cumulative });
  });
  const at = f.elapsed_days;
  const spent = Number(f.spent_usd);
  const end = f.days_in_month;
  const line = (y) => [{ x: at, y: spent }, { x: end, y }];
  draw('chart-forecast', {
    type: 'line',
    data: {
      datasets: [
        { label: 'Spent so far (cumulative)', data: actual, borderColor: COLORS[0], backgroundColor: COLORS[0], pointRadius: 2 },
        { label: 'Projected', data: line(Number(f.projected_usd)), borderColor: COLORS[3], borderDash: [6, 4], pointRadius: 3, backgroundColor: COLORS[3] },
        { label: '95% high', data: line(Number(f.high_usd)), borderColor: '#fca5a5', pointRadius: 0, fill: '+1', backgroundColor: 'rgba(220,38,38,0.12)' },
        { label: '95% low', data: line(Number(f.low_usd)), borderColor: '#fca5a5', pointRadius: 0 },
      ],
    },
    options: {
      parsing: false,
      scales: {
        x: { type: 'linear', min: 0, max: end, title: { display: true, text: `days since ${isoDate(start)}` } },
        y: { beginAtZero: true, title: { display: true, text: 'USD' } },
      },
    },
  });
}

/** The most rows a chart and its table show; the rest are one "(N others)" row, so that the
 * table still adds up to the totals. */
const SHOWN_ROWS = 12;

function byDimension(which, dim, rows) {
  const all = [...rows].sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd) || Number(b.savings_usd) - Number(a.savings_usd));
  const sorted = all.slice(0, SHOWN_ROWS);
  const rest = all.slice(SHOWN_ROWS);
  if (rest.length > 0) {
    const sum = (k) => rest.reduce((s, r) => s + Number(r[k]), 0);
    sorted.push({ [dim]: `(${rest.length} others)`, requests: sum('requests'), cost_usd: String(sum('cost_usd')), savings_usd: String(sum('savings_usd')), cache_hits: sum('cache_hits') });
  }
  draw(`chart-${which}`, {
    type: 'bar',
    data: {
      labels: sorted.map((r) => label(r[dim])),
      datasets: [
        { label: 'Spend (USD)', data: sorted.map((r) => Number(r.cost_usd)), backgroundColor: COLORS[0] },
        { label: 'Savings (USD)', data: sorted.map((r) => Number(r.savings_usd)), backgroundColor: COLORS[1] },
      ],
    },
    options: { indexAxis: 'y', scales: { x: { beginAtZero: true } } },
  });
  table(`table-${which}`, [dim, 'requests', 'spend', 'savings', 'cache hits'],
    sorted.map((r) => [label(r[dim]), num(r.requests), usd(r.cost_usd), usd(r.savings_usd), num(r.cache_hits)]));
}

// ---- views ------------------------------------------------------------------------------------

async function loadUsage(r, f, picked) {
  // 'week-sunday': weeks from Sunday (the API's week_start); other values are the granularity.
  const [granularity, weekStart] = picked.split('-');
  // Every report in the zone picked: its bounds are then rounded alike (up, to the hours that begin
  // in them), so the tiles, tables and bars cover the same hours.
  const base = { from: r.from, to: r.to, time_zone: zone(), ...f };
  const [totals, series] = await Promise.all([must('/v1/usage', base), must('/v1/usage', { ...base, granularity, ...(weekStart ? { week_start: weekStart } : {}) })]);
  const t = totals.totals;
  setTile('total-cost', usd(t.cost_usd), t.cost_usd);
  setTile('total-baseline', usd(t.baseline_cost_usd), t.baseline_cost_usd);
  setTile('total-savings', usd(t.savings_usd), t.savings_usd);
  setTile('total-requests', num(t.requests), t.requests);
  setTile('total-errors', num(t.errors), t.errors);
  const rate = t.requests ? t.cache_hits / t.requests : 0;
  setTile('cache-hit-rate', t.requests ? `${(rate * 100).toFixed(1)}%` : '–', String(rate));
  // The split is the router's (/v1/usage: routing = baseline − cost of provider-served requests,
  // cache = the baseline of cache hits); older routers without it show no split.
  setTile('routing-savings', usd(t.routing_savings_usd), t.routing_savings_usd ?? '');
  setTile('cache-savings', usd(t.cache_savings_usd), t.cache_savings_usd ?? '');
  draw('chart-savings', {
    type: 'doughnut',
    data: { labels: ['Routing savings', 'Cache savings', 'Spend'], datasets: [{ data: [Math.max(0, Number(t.routing_savings_usd ?? 0)), Number(t.cache_savings_usd ?? 0), Number(t.cost_usd)], backgroundColor: [COLORS[1], COLORS[5], COLORS[0]] }] },
  });
  spendOverTime(series.data, r, granularity, weekStart);
}

async function loadDimension(which, r, f) {
  const dim = $(which).value;
  const res = await must('/v1/usage', { from: r.from, to: r.to, time_zone: zone(), ...f, group_by: dim });
  byDimension(which, dim, res.data);
  if (TAG_FILTERS.includes(dim)) {
    $(`list-${dim}`).replaceChildren(...res.data.filter((x) => x[dim]).map((x) => el('option', { value: x[dim] })));
  }
}

/** The dimensions /v1/usage can group by (it lists them; `rule` and `class` only where the
 * router records them). Asked once; a refused request would count as an error in the rollups. */
let dimensions;
async function usageDimensions() {
  if (!dimensions) {
    // An empty hour at the start of the span reports may name (2000-01-01 UTC).
    const res = await must('/v1/usage', { from: 946684800, to: 946688400 });
    dimensions = res.dimensions ?? [];
  }
  return dimensions;
}

async function loadRoutes(r, f) {
  const withRule = (await usageDimensions()).includes('rule');
  const res = await api('/v1/usage', { from: r.from, to: r.to, time_zone: zone(), ...f, group_by: withRule ? 'route,rule' : 'route' });
  if (!res.ok) throw new Error(`/v1/usage: ${res.json?.error?.message}`);
  const rows = res.json.data;
  const byRoute = new Map();
  for (const row of rows) byRoute.set(label(row.route), (byRoute.get(label(row.route)) ?? 0) + row.requests);
  draw('chart-routes', {
    type: 'bar',
    data: { labels: [...byRoute.keys()], datasets: [{ label: 'Requests', data: [...byRoute.values()], backgroundColor: COLORS[4] }] },
    options: { scales: { y: { beginAtZero: true } } },
  });
  const head = withRule ? ['route', { label: 'rule', num: false }, 'requests', 'spend', 'savings'] : ['route', 'requests', 'spend', 'savings'];
  table('table-routes', head, [...rows].sort((a, b) => b.requests - a.requests).map((x) =>
    withRule ? [label(x.route), label(x.rule), num(x.requests), usd(x.cost_usd), usd(x.savings_usd)] : [label(x.route), num(x.requests), usd(x.cost_usd), usd(x.savings_usd)]));
}

async function loadClasses(r, f) {
  const box = $('classes');
  const res = (await usageDimensions()).includes('class') ? await api('/v1/usage', { from: r.from, to: r.to, time_zone: zone(), ...f, group_by: 'class' }) : { ok: false };
  if (!res.ok) {
    box.replaceChildren(el('p', { class: 'unavailable', 'data-testid': 'classes-unavailable' }, 'Not available: this router does not record request classes in its usage rollups yet.'));
    return;
  }
  const rows = [...res.json.data].sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd)).slice(0, 8);
  const t = el('table', { class: 'data', id: 'table-classes' });
  box.replaceChildren(t);
  table('table-classes', ['class', 'requests', 'spend', 'savings'], rows.map((x) => [label(x.class), num(x.requests), usd(x.cost_usd), usd(x.savings_usd)]));
}

async function loadForecast(f) {
  const fc = await must('/v1/forecast', { ...f, time_zone: zone() });
  $('forecast-zone').textContent = fc.time_zone ?? 'UTC';
  setTile('forecast-spent', usd(fc.spent_usd), fc.spent_usd);
  setTile('forecast-projected', usd(fc.projected_usd), fc.projected_usd);
  setTile('forecast-low', usd(fc.low_usd), fc.low_usd);
  setTile('forecast-high', usd(fc.high_usd), fc.high_usd);
  $('forecast-note').textContent = fc.spread === 'assumed'
    ? `(${fc.complete_days === 0 ? 'first day of the month' : `${fc.complete_days} complete day${fc.complete_days === 1 ? '' : 's'} this month`}: too few to measure the daily spread, assumed equal to the mean, ${usd(fc.mean_daily_usd)}/day)`
    : `(mean ${usd(fc.mean_daily_usd)}/day, sd ${usd(fc.sd_daily_usd)}/day over the month's ${fc.daily.length} days so far; ${fc.remaining_days.toFixed(1)} days left)`;
  forecastChart(fc);
}

async function loadBudgets() {
  const res = await api('/v1/budgets');
  const box = $('budgets');
  if (!res.ok) {
    box.replaceChildren(el('p', { class: 'unavailable' }, `Not available: ${res.json?.error?.message ?? res.status}`));
    return;
  }
  const { budgets = [], states = {} } = res.json;
  // A budget counts its windows in its own zone: the page offers that zone too (the router knows
  // it, having taken the budget), so its spend can be read by the same days.
  // Only a zone this browser's Intl knows (the router's table may be newer): an unknown one
  // would make every clock reading on the page throw.
  const known = (z) => { try { new Intl.DateTimeFormat('en-US', { timeZone: z }); return true; } catch { return false; } };
  const budgetZones = new Set(budgets.map((b) => b.time_zone).filter((z) => z && known(z)));
  // An admin's switch of tenant: the last tenant's budget zones go, but the one picked, which
  // the page goes on counting in until another is picked.
  for (const o of [...$('time-zone').options]) if (o.dataset.budgetZone && !budgetZones.has(o.value) && o.value !== zone()) o.remove();
  const offered = new Set([...$('time-zone').options].map((o) => o.value));
  for (const z of budgetZones) if (!offered.has(z)) $('time-zone').append(el('option', { value: z, 'data-budget-zone': '1' }, z));
  if (!budgets.length) {
    box.replaceChildren(el('p', { class: 'unavailable', 'data-testid': 'no-budgets' }, 'No budgets are set for this tenant (PUT /admin/tenants/{id}/budgets).'));
    return;
  }
  box.replaceChildren(...budgets.map((b) => {
    // The ledger answers with each window as of now (one that ended has started again), in the
    // budget's own time zone: the page does not count windows itself.
    const st = states[b.id];
    const spent = st ? Number(st.spent) : 0;
    const reserved = st ? Number(st.reserved) : 0;
    const limit = Number(b.hard_limit);
    const scope = b.scope.kind === 'tenant' ? 'tenant' : `${b.scope.kind} ${b.scope.value}`;
    const pct = limit > 0 ? Math.min(1, (spent + reserved) / limit) : 0;
    return el('div', { class: 'budget', 'data-testid': `budget-${b.id}` },
      el('div', { class: 'line' }, el('b', {}, `${b.id}`), el('span', {}, `${scope}, ${b.window}${b.time_zone ? ` (${b.time_zone})` : ''}`)),
      el('progress', { max: 1, value: pct }),
      el('div', { class: 'line' }, el('span', {}, `${usd(spent)} spent${reserved ? ` + ${usd(reserved)} held` : ''} of ${usd(limit)}`),
        el('span', {}, b.soft_limit ? `soft ${usd(b.soft_limit)}, ${b.on_hard_limit}` : b.on_hard_limit)));
  }));
}

async function loadDeployments() {
  const res = await must('/v1/deployments');
  // Total call counts are every tenant's together: an admin's session gets them, a tenant's not.
  const counts = res.data.some((d) => d.health?.successes != null);
  table('deployments', [{ label: 'deployment', num: false }, { label: 'model', num: false }, { label: 'provider', num: false }, { label: 'region', num: false }, { label: 'breaker', num: false }, 'failures in a row', ...(counts ? ['successes', 'failures'] : []), 'latency ms'],
    res.data.map((d) => {
      const state = d.health?.breaker?.state ?? 'closed';
      return [d.deployment, d.model, d.provider, d.region ?? '', el('span', { class: `pill ${state}`, 'data-testid': 'breaker-state' }, state.replace('_', '-')),
        num(d.health?.consecutive_failures ?? 0), ...(counts ? [num(d.health?.successes ?? 0), num(d.health?.failures ?? 0)] : []), d.health?.latency_ms == null ? '' : d.health.latency_ms.toFixed(0)];
    }));
}

async function loadRecommendations(r) {
  const days = Math.min(90, Math.max(1, Math.ceil((r.to - r.from) / DAY)));
  const res = await api('/v1/recommendations', { days });
  const box = $('recommendations');
  if (res.status !== 200 || !res.json) {
    // A 404 is a router without them; any other refusal (too many groups for the days asked, a
    // rate limit) says why in its message.
    const why = res.status === 404 || !res.json?.error?.message
      ? `this router does not offer recommendations (GET /v1/recommendations answered ${res.status})`
      : res.json.error.message;
    box.replaceChildren(el('p', { class: 'unavailable', 'data-testid': 'recommendations-unavailable' }, `Not available: ${why}`));
    return;
  }
  const items = Array.isArray(res.json.data) ? res.json.data : [];
  if (!items.length) {
    box.replaceChildren(el('p', { class: 'unavailable', 'data-testid': 'no-recommendations' }, `No recommendations from the last ${days} day${days > 1 ? 's' : ''} of traffic.`));
    return;
  }
  const total = res.json.total_monthly_savings_usd;
  box.replaceChildren(
    el('p', {}, `From the last ${days} day${days > 1 ? 's' : ''} of traffic`, total ? `, about ${usd(total)} a month in all:` : ':'),
    el('ul', {}, ...items.map((it) => {
      const saving = it.monthly_savings_usd ?? it.estimated_savings_usd;
      return el('li', { 'data-testid': 'recommendation' },
        el('b', {}, it.title ?? it.kind ?? 'Recommendation'),
        it.scope ? ` (${it.scope})` : '',
        Number(saving) > 0 ? `: saves about ${usd(saving)}/month. ` : '. ',
        it.detail ?? it.message ?? '',
        it.evidence_requests ? ` Based on ${num(it.evidence_requests)} requests.` : '');
    })));
}

// ---- wiring -----------------------------------------------------------------------------------

async function refresh() {
  const mine = ++generation;
  const main = $('dashboard');
  main.dataset.state = 'loading';
  $('status').textContent = 'Loading…';
  $('status').classList.remove('error');
  let r;
  try {
    r = range();
  } catch (e) {
    $('status').textContent = e.message;
    $('status').classList.add('error');
    main.dataset.state = 'error';
    return;
  }
  const f = filters();
  // The range the views show, for anyone checking them against the API (the browser test does).
  main.dataset.from = String(r.from);
  main.dataset.to = String(r.to);
  $('from').value = isoDate(r.from);
  $('to').value = isoDate(r.to - 1);
  const granularity = $('granularity').value;
  const results = await Promise.allSettled([
    loadUsage(r, f, granularity),
    loadDimension('dim-a', r, f),
    loadDimension('dim-b', r, f),
    loadRoutes(r, f),
    loadClasses(r, f),
    loadForecast(f),
    loadBudgets(),
    loadDeployments(),
    loadRecommendations(r),
  ]);
  // A later refresh owns the views and the status now.
  if (mine !== generation) return;
  const failed = results.filter((x) => x.status === 'rejected').map((x) => x.reason?.message ?? String(x.reason));
  const tags = Object.entries(f).map(([k, v]) => `${k}=${v}`).join(', ');
  $('status').textContent = failed.length
    ? `Some views failed: ${failed.join('; ')}`
    : `${isoDate(r.from)} to ${isoDate(r.to - 1)} (${zone()})${tags ? `, filtered by ${tags}` : ''}; updated ${new Date().toLocaleTimeString()}.`;
  $('status').classList.toggle('error', failed.length > 0);
  main.dataset.state = failed.length ? 'error' : 'ready';
}

async function start() {
  const s = await api('/dashboard/session');
  if (!s.ok) return;
  session = { tenant: s.json.tenant, admin: s.json.admin };
  if (session.admin) {
    const list = await api('/dashboard/tenants');
    const ids = list.ok ? list.json.data : [];
    const wanted = new URLSearchParams(window.location.search).get('tenant');
    session.tenant = ids.includes(wanted) ? wanted : ids[0] ?? null;
    $('tenant').replaceChildren(...ids.map((id) => el('option', { value: id, selected: id === session.tenant }, id)));
    $('tenant-picker').hidden = false;
    $('tenant').addEventListener('change', () => {
      session.tenant = $('tenant').value;
      const u = new URL(window.location.href);
      u.searchParams.set('tenant', session.tenant);
      window.history.replaceState(null, '', u);
      refresh();
    });
    $('who').textContent = `admin session, viewing tenant ${session.tenant ?? '(none)'}`;
    $('tenant').addEventListener('change', () => { $('who').textContent = `admin session, viewing tenant ${session.tenant}`; });
    if (!session.tenant) {
      // Every view reads one tenant; with none there is nothing to ask for.
      $('status').textContent = list.ok
        ? 'No tenants yet: create one with PUT /admin/tenants/{id}, then reload this page.'
        : `The tenant list could not be read: ${list.json?.error?.message ?? `HTTP ${list.status}`}`;
      $('status').classList.toggle('error', !list.ok);
      $('dashboard').dataset.state = list.ok ? 'empty' : 'error';
      return;
    }
  } else {
    $('who').textContent = `tenant ${session.tenant}`;
  }
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    refresh();
  });
  $('range').addEventListener('change', () => { if ($('range').value !== 'custom') refresh(); });
  $('granularity').addEventListener('change', refresh);
  // The browser's own zone beside UTC, when it has one of its own.
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (own && own !== 'UTC' && own !== 'Etc/UTC') $('time-zone').append(el('option', { value: own }, own));
  $('time-zone').addEventListener('change', refresh);
  for (const which of ['dim-a', 'dim-b']) $(which).addEventListener('change', () => refresh());
  for (const id of ['from', 'to']) $(id).addEventListener('change', () => { $('range').value = 'custom'; });
  await refresh();
}

start();
