// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the real built worker in workerd (the harness's startRouter: the same bundle `make dev`
// runs, with generated traffic over several features, teams, models and a cache): login through
// the form, charts drawn, the totals on the page equal GET /v1/usage's, filters, a screenshot in
// build/dashboard.png; and the session's security: no data without a key or cookie, a tenant's
// cookie never reads another tenant, a bad key gets an error and no session, logout ends it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startRouter, KEYS, ADMIN_TOKEN } from './harness.mjs';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const POLICY = `
version = 1
name = "dash"

[cache]
enabled = true
ttl_secs = 600

[[rules]]
name = "cheap-search"
when = { feature = ["search"] }
route = { strategy = "cheapest", candidates = ["gpt-4o", "claude-haiku-4-5", "gpt-4o-mini"] }

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

let r;
let browser;
let profile;
const consoleErrors = [];

const get = (p, { key = KEYS.acme, cookie } = {}) =>
  fetch(`${r.url}${p}`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(cookie ? { cookie } : {}) } });
const getJson = async (p, opts) => {
  const resp = await get(p, opts);
  const text = await resp.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: resp.status, json, text, headers: resp.headers };
};

/** A chat request; each one differs unless `same` is set, so the cache only hits on purpose. */
let n = 0;
async function chat(key, model, tags, same) {
  const headers = {};
  for (const [k, v] of Object.entries(tags)) headers[`x-costrouter-${k}`] = v;
  const content = same ?? `Dashboard traffic ${++n}: what is ${n} times ${n}?`;
  const resp = await r.chat({ model, temperature: 0, max_tokens: 50, messages: [{ role: 'user', content }] }, { key, headers });
  assert.equal(resp.status, 200, await resp.clone().text());
  await resp.text();
  return resp;
}

async function settledRequests(key, want) {
  for (let i = 0; i < 200; i++) {
    const u = await getJson('/v1/usage', { key });
    if (u.json?.totals?.requests >= want) return u.json;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`usage never reached ${want} requests`);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/ensure-tools.sh installs it (apt-get install -y chromium)`);
  r = await startRouter({ policies: { acme: POLICY, globex: POLICY }, assets: true });
  // Budgets first, so the traffic burns them.
  const put = await fetch(`${r.url}/admin/tenants/acme/budgets`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ budgets: [{ id: 'monthly', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '0.008', soft_limit: '0.006' },
      { id: 'search-daily', scope: { kind: 'feature', value: 'search' }, window: 'daily', hard_limit: '0.003' }] }),
  });
  assert.equal(put.status, 200, await put.text());
  // Generated traffic for acme: several features, teams, environments, users and models; search
  // is routed to the cheapest model (routing savings); one question asked three times (cache).
  const plan = [
    ['gpt-4o-mini', { feature: 'chat', team: 'core', env: 'prod', user: 'u-1' }],
    ['gpt-4o-mini', { feature: 'chat', team: 'core', env: 'prod', user: 'u-2' }],
    ['gpt-4o', { feature: 'search', team: 'growth', env: 'prod', user: 'u-1' }],
    ['gpt-4o', { feature: 'search', team: 'growth', env: 'staging', user: 'u-3' }],
    ['gpt-4o', { feature: 'search', team: 'growth', env: 'prod', user: 'u-2' }],
    ['claude-haiku-4-5', { feature: 'summarize', team: 'core', env: 'prod', user: 'u-4' }],
    ['gemini-2.5-flash', { feature: 'summarize', team: 'data', env: 'dev', user: 'u-5' }],
    ['gpt-4o', { feature: 'report', team: 'data', env: 'prod', user: 'u-6' }],
    ['mistral-small', { feature: 'chat', team: 'core', env: 'dev', user: 'u-7' }],
  ];
  for (const [model, tags] of plan) await chat(KEYS.acme, model, tags);
  for (let i = 0; i < 3; i++) {
    await chat(KEYS.acme, 'gpt-4o', { feature: 'faq', team: 'support', env: 'prod', user: 'u-8' }, 'What are your opening hours?');
    await new Promise((res) => setTimeout(res, 200)); // the cache stores after the response
  }
  // globex: a feature and a user acme must never see.
  await chat(KEYS.globex, 'gpt-4o', { feature: 'globex-secret-feature', user: 'globex-user' });
  await chat(KEYS.globex, 'gpt-4o', { feature: 'globex-secret-feature', user: 'globex-user' });
  await settledRequests(KEYS.acme, plan.length + 3);
  await settledRequests(KEYS.globex, 2);

  profile = mkdtempSync(path.join(tmpdir(), 'costrouter-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await r?.close();
});

async function newPage() {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  return page;
}

/**
 * Submits the login form and waits for the dashboard it leads to. Not `waitForURL('/dashboard')`:
 * the page is at that URL already, so it would return before the form's POST and redirect.
 */
async function submitLogin(page) {
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="dashboard"]', { timeout: 20_000 });
}

async function ready(page) {
  await page.waitForSelector('[data-testid="dashboard"][data-state="ready"], [data-testid="dashboard"][data-state="error"]', { timeout: 20_000 });
  const state = await page.getAttribute('[data-testid="dashboard"]', 'data-state');
  assert.equal(state, 'ready', `dashboard status: ${await page.textContent('[data-testid="status"]')}`);
}

/** A page logged in with the admin token through the form, its first tenant's views loaded. */
async function adminPage() {
  const page = await newPage();
  await page.goto(`${r.url}/dashboard`);
  await page.fill('[data-testid="login-key"]', ADMIN_TOKEN);
  await submitLogin(page);
  await page.waitForSelector('[data-testid="tenant-select"]');
  await ready(page);
  return page;
}

const value = (page, id) => page.getAttribute(`[data-testid="${id}"]`, 'data-value');

test('without a session /dashboard is a login form; a bad key gets an error and no session', async () => {
  const page = await newPage();
  const resp = await page.goto(`${r.url}/dashboard`);
  assert.equal(resp.status(), 200);
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.ok(!csp.includes('unsafe-inline'));
  assert.ok(await page.isVisible('[data-testid="login-form"]'));
  for (const bad of ['cr-nobodyTESTkey00000000000000000000000009', KEYS.revoked, `${ADMIN_TOKEN}x`]) {
    await page.fill('[data-testid="login-key"]', bad);
    await Promise.all([page.waitForLoadState('load'), page.click('[data-testid="login-submit"]')]);
    await page.waitForSelector('[data-testid="login-error"]');
    assert.match(await page.textContent('[data-testid="login-error"]'), /not accepted/);
    assert.ok(!page.url().includes(bad) && !(await page.content()).includes(bad), 'the key is echoed nowhere');
    assert.deepEqual((await browser.cookies()).filter((c) => c.name === '__Host-costrouter_session'), []);
  }
  // The same refusals over JSON: an OpenAI-style error, no cookie.
  const json = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'cr-nope' }) });
  assert.equal(json.status, 401);
  assert.equal((await json.json()).error.code, 'invalid_api_key');
  assert.equal(json.headers.get('set-cookie'), null);
  for (const [body, type, status] of [['{', 'application/json', 400], ['key=', 'application/x-www-form-urlencoded', 400], ['x', 'text/xml', 415], ['{"key":"x"}'.padEnd(5000, ' '), 'application/json', 413]]) {
    const resp = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': type }, body });
    assert.equal(resp.status, status, `${type} ${body.slice(0, 20)}`);
    assert.equal(resp.headers.get('set-cookie'), null);
  }
  // A login posted from another site (login CSRF) is refused, even with a good key.
  const cross = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, body: `key=${KEYS.acme}`, redirect: 'manual' });
  assert.equal(cross.status, 403);
  assert.equal(cross.headers.get('set-cookie'), null);
  // A browser too old to send Sec-Fetch-Site still sends Origin: another site's is refused, the
  // dashboard's own is not.
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const old = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { ...form, origin: 'https://evil.example' }, body: `key=${KEYS.acme}`, redirect: 'manual' });
  assert.equal(old.status, 403);
  const ownOrigin = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { ...form, origin: new URL(r.url).origin }, body: `key=${KEYS.acme}`, redirect: 'manual' });
  assert.notEqual(ownOrigin.status, 403, await ownOrigin.clone().text());
  assert.ok(ownOrigin.headers.get('set-cookie'), 'logged in');
  // Behind a site's HTTP Basic auth the browser sends its Authorization on every request: the
  // session still reads (only a key, Bearer or api-key, is judged instead of the cookie).
  const cookie = ownOrigin.headers.get('set-cookie').split(';')[0];
  const behindBasic = await fetch(`${r.url}/v1/usage`, { headers: { cookie, authorization: 'Basic Zm9vOmJhcg==' } });
  assert.equal(behindBasic.status, 200, await behindBasic.clone().text());
  await page.close();
});

test('the report endpoints refuse callers with neither a key nor a live session cookie', async () => {
  for (const p of ['/v1/usage', '/v1/budgets', '/v1/deployments', '/v1/forecast', '/dashboard/session']) {
    for (const cookie of [undefined, '__Host-costrouter_session=' + 'ab'.repeat(32), '__Host-costrouter_session=garbage']) {
      const resp = await getJson(p, { key: null, cookie });
      assert.equal(resp.status, 401, `${p} with ${cookie}: ${resp.text}`);
      assert.equal(resp.json.error.type, 'authentication_error', p);
    }
    // What a session reads stays out of caches and is read as JSON only, answer or refusal.
    for (const resp of [await getJson(p, { key: null }), await getJson(p, { key: KEYS.acme })]) {
      assert.equal(resp.headers.get('cache-control'), 'no-store, private', `${p} ${resp.status}`);
      assert.equal(resp.headers.get('x-content-type-options'), 'nosniff', `${p} ${resp.status}`);
    }
  }
  // Wrong methods and unknown dashboard paths: OpenAI-style errors.
  for (const [method, p, status] of [['PUT', '/dashboard/login', 405], ['POST', '/v1/forecast', 405], ['DELETE', '/dashboard', 405], ['GET', '/dashboard/nope', 404], ['GET', '/dashboard/login', 405]]) {
    const resp = await fetch(`${r.url}${p}`, { method });
    assert.equal(resp.status, status, `${method} ${p}`);
    assert.ok((await resp.json()).error.message, `${method} ${p}`);
  }
  // The script comes from the static assets with the router's headers, a conditional request gets
  // its 304, and the assets directory serves nothing else: the worker answers every path first.
  const script = await fetch(`${r.url}/dashboard/app.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type'), /javascript/);
  assert.equal(script.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(script.headers.get('cache-control'), 'no-cache');
  assert.match(await script.text(), /Chart\.js/);
  const etag = script.headers.get('etag');
  assert.ok(etag, 'the asset carries an ETag');
  assert.equal((await fetch(`${r.url}/dashboard/app.js`, { headers: { 'if-none-match': etag } })).status, 304);
  for (const p of ['/app.js', '/dashboard/dashboard/app.js']) {
    const resp = await fetch(`${r.url}${p}`);
    assert.equal(resp.status, 404, p);
    assert.ok((await resp.json()).error.message, p);
  }
  // Nor is the dashboard's own page data: /dashboard without a session is the login form only.
  const page = await getJson('/dashboard', { key: null });
  assert.match(page.text, /data-testid="login-form"/);
  assert.ok(!page.text.includes('chart-spend'));
  // Bad filter values are a 400 in OpenAI's shape (as policyco: refusals count in its rollups).
  const bad = await getJson(`/v1/usage?feature=${'x'.repeat(200)}`, { key: KEYS.policyco });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'feature');
  assert.equal((await getJson('/v1/forecast?team=', { key: KEYS.policyco })).status, 400);
  assert.equal((await getJson('/v1/usage?user=a&user=b', { key: KEYS.policyco })).status, 400);
});

test('a tenant logs in through the form, sees non-empty charts, and the totals match GET /v1/usage', async () => {
  const page = await newPage();
  await page.goto(`${r.url}/dashboard`);
  await page.fill('[data-testid="login-key"]', KEYS.acme);
  await submitLogin(page);
  assert.ok(!page.url().includes(KEYS.acme));
  const cookies = (await browser.cookies()).filter((c) => c.name === '__Host-costrouter_session');
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].secure, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.match(cookies[0].value, /^[0-9a-f]{64}$/);
  assert.ok(!cookies[0].value.includes(KEYS.acme));
  await ready(page);
  assert.equal(await page.evaluate(() => document.cookie), '', 'HttpOnly: the script cannot read the session');
  assert.match(await page.textContent('[data-testid="who"]'), /tenant acme/);

  // Charts: each has data and pixels.
  for (const id of ['chart-spend', 'chart-forecast', 'chart-dim-a', 'chart-dim-b', 'chart-savings', 'chart-routes']) {
    const points = Number(await page.getAttribute(`[data-testid="${id}"]`, 'data-points'));
    assert.ok(points > 0, `${id} shows data (${points} non-zero values)`);
    const inked = await page.$eval(`[data-testid="${id}"]`, (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) k++;
      return k;
    });
    assert.ok(inked > 500, `${id} has drawn pixels (${inked})`);
  }

  // The totals on the page are the API's, for the same range.
  const from = await page.getAttribute('[data-testid="dashboard"]', 'data-from');
  const to = await page.getAttribute('[data-testid="dashboard"]', 'data-to');
  const api = (await getJson(`/v1/usage?from=${from}&to=${to}`)).json.totals;
  assert.equal(await value(page, 'total-cost'), api.cost_usd);
  assert.equal(await value(page, 'total-baseline'), api.baseline_cost_usd);
  assert.equal(await value(page, 'total-savings'), api.savings_usd);
  assert.equal(Number(await value(page, 'total-requests')), api.requests);
  assert.equal(Number(await value(page, 'total-errors')), api.errors);
  assert.equal(api.requests, 12);
  assert.ok(Number(api.cost_usd) > 0 && Number(api.savings_usd) > 0);
  assert.equal(await page.textContent('[data-testid="total-requests"]'), '12');
  assert.equal(await page.textContent('[data-testid="total-cost"]'), `$${Number(api.cost_usd).toFixed(Number(api.cost_usd) < 0.01 ? 6 : 4)}`);
  // Cache: two of the three identical questions were hits; routing + cache savings = savings.
  assert.equal(api.cache_hits, 2);
  assert.equal(Number(await value(page, 'cache-hit-rate')), 2 / 12);
  assert.equal(await page.textContent('[data-testid="cache-hit-rate"]'), '16.7%');
  assert.equal(await value(page, 'routing-savings'), api.routing_savings_usd);
  assert.equal(await value(page, 'cache-savings'), api.cache_savings_usd);
  const routing = Number(api.routing_savings_usd);
  const cache = Number(api.cache_savings_usd);
  assert.ok(routing > 0 && cache > 0, `routing ${routing}, cache ${cache}`);
  assert.ok(Math.abs(routing + cache - Number(api.savings_usd)) < 1e-12);
  // Cross-check the split against rows grouped by cache outcome: cache savings are the hits' baseline.
  const byCache = (await getJson(`/v1/usage?from=${from}&to=${to}&group_by=cache`)).json.data;
  const hits = byCache.filter((x) => x.cache.startsWith('hit'));
  assert.equal(hits.reduce((a, x) => a + x.requests, 0), 2);
  assert.ok(hits.every((x) => Number(x.cost_usd) === 0));
  assert.ok(Math.abs(hits.reduce((a, x) => a + Number(x.baseline_cost_usd), 0) - cache) < 1e-12);
  // The forecast matches GET /v1/forecast, and this month's spend is all of the traffic.
  const fc = (await getJson('/v1/forecast')).json;
  assert.equal(await value(page, 'forecast-spent'), fc.spent_usd);
  // The projection moves with the clock (the share of today gone): equal to within a second's drift.
  const near = (a, b) => Math.abs(Number(a) - Number(b)) <= 1e-3 * Number(b) + 2e-9;
  for (const k of ['projected', 'low', 'high']) {
    assert.ok(near(await value(page, `forecast-${k}`), fc[`${k}_usd`]), `${k}: page ${await value(page, `forecast-${k}`)}, API ${fc[`${k}_usd`]}`);
  }
  assert.equal(fc.spent_usd, api.cost_usd);
  assert.ok(Number(fc.high_usd) >= Number(fc.projected_usd) && Number(fc.projected_usd) >= Number(fc.low_usd) && Number(fc.low_usd) >= Number(fc.spent_usd));
  // By-dimension tables, route decisions, budgets, deployments, the not-yet-available views.
  const byModel = await page.textContent('[data-testid="table-dim-a"]');
  for (const m of ['gpt-4o-mini', 'claude-haiku-4-5', 'gemini-2.5-flash', 'mistral-small']) assert.ok(byModel.includes(m), `${m} in ${byModel}`);
  const byFeature = await page.textContent('[data-testid="table-dim-b"]');
  for (const f of ['search', 'chat', 'summarize', 'faq', 'report']) assert.ok(byFeature.includes(f), `${f} in ${byFeature}`);
  assert.match(await page.textContent('[data-testid="table-routes"]'), /cheapest/);
  assert.ok(await page.isVisible('[data-testid="budget-monthly"]'));
  assert.ok(await page.isVisible('[data-testid="budget-search-daily"]'));
  assert.ok((await page.$$('[data-testid="breaker-state"]')).length > 5);
  // GET /v1/recommendations exists: a list (empty for this little traffic) rather than "not available".
  assert.ok(await page.isVisible('[data-testid="recommendations"]'));
  assert.ok(!(await page.isVisible('[data-testid="recommendations-unavailable"]')));
  // Route decisions per rule, and request classes (the rule and class dimensions).
  assert.match(await page.textContent('[data-testid="table-routes"]'), /cheap-search/);
  assert.ok(await page.isVisible('#table-classes'));

  mkdirSync(path.join(ROOT, 'build'), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, 'build/dashboard.png'), fullPage: true });

  // Hourly buckets.
  await page.selectOption('[data-testid="granularity"]', 'hour');
  await ready(page);
  assert.ok(Number(await page.getAttribute('[data-testid="chart-spend"]', 'data-points')) > 0);
  // Another dimension on demand, and a tag filter: the page's totals follow the API's.
  await page.selectOption('[data-testid="dim-a"]', 'team');
  await page.waitForFunction(() => document.querySelector('[data-testid="table-dim-a"]').textContent.includes('growth'));
  await page.fill('[data-testid="filter-feature"]', 'search');
  await page.click('[data-testid="apply"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="total-requests"]').dataset.value === '3');
  await ready(page);
  const filtered = (await getJson(`/v1/usage?from=${from}&to=${to}&feature=search`)).json.totals;
  assert.equal(filtered.requests, 3);
  assert.equal(await value(page, 'total-cost'), filtered.cost_usd);
  assert.equal(await value(page, 'total-savings'), filtered.savings_usd);
  assert.equal(await value(page, 'forecast-spent'), filtered.cost_usd);
  // Failed loads are expected (the refused logins' 401 pages, /v1/recommendations' 404 where it
  // does not exist); anything else, CSP violations and script errors included, is not.
  assert.deepEqual(consoleErrors.filter((e) => !e.startsWith('Failed to load resource')), [], 'no console errors (CSP violations included)');
  await page.close();
});

test("a tenant's session never shows another tenant's data; logout ends the session", async () => {
  const page = await newPage();
  await page.goto(`${r.url}/dashboard`);
  if (await page.isVisible('[data-testid="login-form"]')) {
    await page.fill('[data-testid="login-key"]', KEYS.acme);
    await submitLogin(page);
  }
  await ready(page);
  const body = await page.textContent('body');
  assert.ok(!body.includes('globex'), 'no globex data on acme\'s page');
  // From inside the page, with the cookie: acme's data only, and naming globex is refused.
  const seen = await page.evaluate(async () => {
    const usage = await (await fetch('/v1/usage?group_by=feature,user')).json();
    const other = await fetch('/v1/usage?tenant=globex');
    const budgets = await fetch('/v1/budgets?tenant=globex');
    const forecast = await fetch('/v1/forecast?tenant=globex');
    return { tenant: usage.tenant, features: usage.data.map((d) => d.feature), users: usage.data.map((d) => d.user), other: other.status, budgets: budgets.status, forecast: forecast.status, otherBody: await other.text() };
  });
  assert.equal(seen.tenant, 'acme');
  assert.ok(!seen.features.includes('globex-secret-feature') && !seen.users.includes('globex-user'));
  assert.deepEqual([seen.other, seen.budgets, seen.forecast], [403, 403, 403]);
  assert.ok(!seen.otherBody.includes('globex-secret-feature'));
  // The same cookie outside the browser: still acme's, and the key it was opened with never needed again.
  const token = (await browser.cookies()).find((c) => c.name === '__Host-costrouter_session').value;
  const cookie = `__Host-costrouter_session=${token}`;
  const viaCookie = await getJson('/v1/usage?group_by=feature', { key: null, cookie });
  assert.equal(viaCookie.status, 200);
  assert.equal(viaCookie.json.tenant, 'acme');
  // A key sent with a cookie is judged by the key alone: globex's key reads globex.
  assert.equal((await getJson('/v1/usage', { key: KEYS.globex, cookie })).json.tenant, 'globex');
  // A session cookie is no key for the API's other endpoints.
  const chatWithCookie = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(chatWithCookie.status, 401);

  await Promise.all([page.waitForURL(`${r.url}/dashboard`), page.click('[data-testid="logout"]')]);
  // Shown by the page's script once it finds no session: waited for, not checked at once (a
  // loaded machine failed the immediate check once).
  await page.waitForSelector('[data-testid="login-form"]', { state: 'visible', timeout: 10_000 });
  assert.deepEqual((await browser.cookies()).filter((c) => c.name === '__Host-costrouter_session'), []);
  const after = await getJson('/v1/usage', { key: null, cookie });
  assert.equal(after.status, 401);
  assert.equal(after.json.error.code, 'invalid_session');
  await page.close();
});

test('an admin session picks a tenant with ?tenant=; a revoked key ends its sessions', async () => {
  const login = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: ADMIN_TOKEN }) });
  assert.equal(login.status, 200);
  assert.match(login.headers.get('x-request-id') ?? '', /^req_/);
  assert.equal(login.headers.get('x-request-id'), login.headers.get('x-costrouter-request-id'));
  assert.equal(login.headers.get('cache-control'), 'no-store, private');
  const set = login.headers.get('set-cookie');
  assert.match(set, /HttpOnly/i);
  assert.match(set, /Secure/i);
  assert.match(set, /SameSite=Strict/i);
  const cookie = set.split(';')[0];
  const globex = await getJson('/v1/usage?tenant=globex&group_by=feature', { key: null, cookie });
  assert.equal(globex.status, 200);
  assert.equal(globex.json.tenant, 'globex');
  assert.deepEqual(globex.json.data.map((d) => d.feature), ['globex-secret-feature']);
  assert.equal((await getJson('/v1/usage', { key: null, cookie })).status, 400);
  assert.equal((await getJson('/v1/usage?tenant=nobody', { key: null, cookie })).status, 404);
  assert.equal((await getJson('/v1/usage?tenant=../x', { key: null, cookie })).status, 400);
  const tenants = await getJson('/dashboard/tenants', { key: null, cookie });
  assert.ok(tenants.json.data.includes('acme') && tenants.json.data.includes('globex'));
  // Deployments' total call counts (every tenant's calls together) to the admin, not to tenants.
  const asAdmin = await getJson('/v1/deployments?tenant=globex', { key: null, cookie });
  assert.ok(asAdmin.json.data.every((d) => typeof d.health.successes === 'number' && typeof d.health.failures === 'number'), asAdmin.text);
  const asTenant = await getJson('/v1/deployments');
  assert.equal(asTenant.status, 200, asTenant.text);
  assert.ok(asTenant.json.data.every((d) => !('successes' in d.health) && !('failures' in d.health) && 'consecutive_failures' in d.health), asTenant.text);
  // Averages read twice would give back another tenant's call and its latency: tenants get them
  // to the nearest 100 ms, the admin exactly.
  const measured = asAdmin.json.data.filter((d) => d.health.latency_ms !== null && d.health.latency_ms % 100 !== 0);
  assert.ok(measured.length > 0, `some exact average to compare: ${asAdmin.text}`);
  for (const d of measured) {
    const seen = asTenant.json.data.find((t) => t.deployment === d.deployment).health.latency_ms;
    assert.equal(seen, Math.round(d.health.latency_ms / 100) * 100, d.deployment);
  }

  // The admin page in the browser: the picker switches tenants.
  const page = await adminPage();
  await page.selectOption('[data-testid="tenant-select"]', 'globex');
  await page.waitForFunction(() => document.querySelector('[data-testid="total-requests"]').dataset.value === '2');
  assert.match(page.url(), /tenant=globex/);
  await page.close();

  // A tenant key that is revoked ends the sessions it opened.
  const created = await fetch(`${r.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant_id: 'acme', name: 'dash' }) });
  const { key, key_id: keyId, id } = await created.json();
  const tenantLogin = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${encodeURIComponent(key)}`, redirect: 'manual' });
  assert.equal(tenantLogin.status, 303);
  assert.equal(tenantLogin.headers.get('location'), '/dashboard');
  const tcookie = tenantLogin.headers.get('set-cookie').split(';')[0];
  assert.equal((await getJson('/v1/budgets', { key: null, cookie: tcookie })).status, 200);
  const del = await fetch(`${r.url}/admin/keys/${keyId ?? id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(del.status, 200);
  const gone = await getJson('/v1/budgets', { key: null, cookie: tcookie });
  assert.equal(gone.status, 401);
  assert.equal(gone.json.error.code, 'invalid_session');
  // ... on the page's own endpoints too: the page shows the login form again.
  assert.equal((await getJson('/dashboard/session', { key: null, cookie: tcookie })).status, 401);
  const pageAfter = await fetch(`${r.url}/dashboard`, { headers: { cookie: tcookie } });
  assert.match(await pageAfter.text(), /data-testid="login-form"/);

  // Rotating ADMIN_TOKEN ends the sessions opened with the old one, the tenant list included.
  // The rotation is simulated by giving this session's record the hash of another token.
  assert.equal((await getJson('/dashboard/tenants', { key: null, cookie })).status, 200);
  const sessions = await r.mf.getKVNamespace('TENANTS');
  const recordKey = `session:${sha256(cookie.split('=')[1])}`;
  const record = JSON.parse(await sessions.get(recordKey));
  await sessions.put(recordKey, JSON.stringify({ ...record, key_hash: sha256('the-admin-token-before-rotation-0000') }));
  for (const path of ['/dashboard/tenants', '/dashboard/session', '/v1/usage?tenant=globex']) {
    const stale = await getJson(path, { key: null, cookie });
    assert.equal(stale.status, 401, path);
    assert.equal(stale.json.error.code, 'invalid_session', path);
  }
});

test('logout is POST only: a link from another site cannot end a session', async () => {
  const login = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: KEYS.acme }) });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const viaLink = await fetch(`${r.url}/dashboard/logout`, { headers: { cookie, 'sec-fetch-site': 'cross-site' }, redirect: 'manual' });
  assert.equal(viaLink.status, 405);
  assert.equal((await getJson('/dashboard/session', { key: null, cookie })).status, 200, 'the session survives');
  const crossSitePost = await fetch(`${r.url}/dashboard/logout`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'cross-site' }, redirect: 'manual' });
  assert.equal(crossSitePost.status, 403);
  const own = await fetch(`${r.url}/dashboard/logout`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'same-origin' }, redirect: 'manual' });
  assert.equal(own.status, 303);
  assert.equal((await getJson('/dashboard/session', { key: null, cookie })).status, 401);
});

test('a dimension with more values than a chart shows ends in one "(N others)" row; the table adds up, money as the page writes it', async () => {
  const admin = (method, p, body) => fetch(`${r.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.equal((await admin('PUT', '/admin/tenants/manyco', { name: 'manyco' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: 'manyco', name: 'dash' })).json()).key;
  // Fourteen features, one request each, prompts of different lengths (so of different costs).
  for (let i = 1; i <= 14; i++) await chat(key, 'gpt-4o-mini', { feature: `f-${String(i).padStart(2, '0')}` }, `Feature ${i}: ${'why '.repeat(i * 3)}?`);
  await settledRequests(key, 14);
  await browser.clearCookies();
  const page = await newPage();
  await page.goto(`${r.url}/dashboard`);
  await page.fill('[data-testid="login-key"]', key);
  await submitLogin(page);
  await ready(page);
  const rows = await page.$$eval('[data-testid="table-dim-b"] tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.equal(rows.length, 13, JSON.stringify(rows));
  assert.equal(rows.at(-1)[0], '(2 others)');
  assert.equal(rows.at(-1)[1], '2');
  assert.equal(rows.reduce((s, row) => s + Number(row[1]), 0), 14, 'requests add up to the total');
  // As the page orders them (spend, then savings, down); the last two are the "others".
  const from = await page.getAttribute('[data-testid="dashboard"]', 'data-from');
  const to = await page.getAttribute('[data-testid="dashboard"]', 'data-to');
  const data = (await getJson(`/v1/usage?from=${from}&to=${to}&group_by=feature`, { key })).json.data;
  data.sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd) || Number(b.savings_usd) - Number(a.savings_usd));
  // gpt-4o-mini's cost of a short question: under a cent, written with six decimals.
  const money = (x) => `$${x.toFixed(6)}`;
  assert.ok(data.every((x) => Number(x.cost_usd) > 0.000001 && Number(x.cost_usd) < 0.01), JSON.stringify(data));
  assert.equal(rows[0][0], data[0].feature);
  assert.equal(rows[0][2], money(Number(data[0].cost_usd)));
  assert.equal(rows.at(-1)[2], money(Number(data[12].cost_usd) + Number(data[13].cost_usd)));
  await page.close();
});

test("an earlier tenant's late answers never overwrite the one picked after; a refused recommendations request says why", async () => {
  await browser.clearCookies();
  const page = await adminPage();
  assert.match(await page.textContent('[data-testid="who"]'), /viewing tenant acme/);
  // globex's answers come 1.5 s late; the admin picks globex, then acme again at once.
  await page.route(/\/v1\/[a-z]+\?(.*&)?tenant=globex/, async (route) => {
    await new Promise((res) => setTimeout(res, 1500));
    await route.continue();
  });
  await page.selectOption('[data-testid="tenant-select"]', 'globex');
  await page.selectOption('[data-testid="tenant-select"]', 'acme');
  await ready(page);
  await new Promise((res) => setTimeout(res, 2500)); // globex's answers have all come by now
  const from = await page.getAttribute('[data-testid="dashboard"]', 'data-from');
  const to = await page.getAttribute('[data-testid="dashboard"]', 'data-to');
  const acme = (await getJson(`/v1/usage?from=${from}&to=${to}`)).json.totals;
  const globex = (await getJson(`/v1/usage?from=${from}&to=${to}`, { key: KEYS.globex })).json.totals;
  assert.notEqual(acme.requests, globex.requests);
  assert.equal(Number(await value(page, 'total-requests')), acme.requests, "acme's figures under acme's name, not globex's");
  assert.equal(await value(page, 'total-cost'), acme.cost_usd);
  assert.match(await page.textContent('[data-testid="who"]'), /viewing tenant acme/);
  assert.equal(await page.getAttribute('[data-testid="dashboard"]', 'data-state'), 'ready');
  await page.unroute(/\/v1\/[a-z]+\?(.*&)?tenant=globex/);

  // A recommendations request the router refuses (too many groups for the days asked) shows the
  // router's message, not "this router does not offer recommendations".
  const message = 'This tenant has more than 20000 route groups in 30 days: ask for fewer days.';
  await page.route(/\/v1\/recommendations\?/, (route) => route.fulfill({ status: 400, contentType: 'application/json',
    body: JSON.stringify({ error: { message, type: 'invalid_request_error', code: 'too_many_rows' } }) }));
  await page.click('[data-testid="apply"]');
  await ready(page);
  assert.equal(await page.textContent('[data-testid="recommendations-unavailable"]'), `Not available: ${message}`);
  await page.close();
});

test('a browser without URLSearchParams.size (Safari 16) still sends the range and filters', async () => {
  await browser.clearCookies();
  const page = await newPage();
  await page.addInitScript(() => Object.defineProperty(URLSearchParams.prototype, 'size', { get: () => undefined }));
  await page.goto(`${r.url}/dashboard`);
  assert.equal(await page.evaluate(() => new URLSearchParams('a=1').size), undefined);
  await page.fill('[data-testid="login-key"]', KEYS.acme);
  await submitLogin(page);
  await ready(page);
  await page.fill('[data-testid="filter-feature"]', 'search');
  await page.click('[data-testid="apply"]');
  await ready(page);
  const from = await page.getAttribute('[data-testid="dashboard"]', 'data-from');
  const to = await page.getAttribute('[data-testid="dashboard"]', 'data-to');
  const filtered = (await getJson(`/v1/usage?from=${from}&to=${to}&feature=search`)).json.totals;
  assert.equal(filtered.requests, 3);
  assert.equal(Number(await value(page, 'total-requests')), 3, 'the filter reached the API');
  assert.equal(await value(page, 'total-cost'), filtered.cost_usd);
  await page.close();
});

/** Shows the custom range of dates `from`..`to` (both included); the unix bounds the page took. */
async function customRange(page, from, to) {
  await page.fill('[data-testid="from"]', from);
  await page.fill('[data-testid="to"]', to);
  await page.selectOption('[data-testid="range"]', 'custom');
  await page.click('[data-testid="apply"]');
  await ready(page);
  return [Number(await page.getAttribute('[data-testid="dashboard"]', 'data-from')), Number(await page.getAttribute('[data-testid="dashboard"]', 'data-to'))];
}

/** A page of a browser whose clock is in `timezoneId`, logged in with `key`, its views loaded. */
async function pageInZone(timezoneId, key) {
  await browser.clearCookies();
  const page = await newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setTimezoneOverride', { timezoneId });
  await page.goto(`${r.url}/dashboard`);
  await page.fill('[data-testid="login-key"]', key);
  await submitLogin(page);
  await ready(page);
  return page;
}

test("a budget counted in a time zone shows its spend; the browser's zone counts the page's days and month", async () => {
  const admin = (method, p, body) => fetch(`${r.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.equal((await admin('PUT', '/admin/tenants/zoneco', { name: 'zoneco' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: 'zoneco', name: 'dash' })).json()).key;
  // Tokyo's month starts at 15:00 UTC the day before UTC's: the page counted windows in UTC and
  // took this one for last month's, showing $0 spent all month.
  const set = await admin('PUT', '/admin/tenants/zoneco/budgets', { budgets: [{ id: 'tokyo-month', scope: { kind: 'tenant' }, window: 'monthly', time_zone: 'Asia/Tokyo', hard_limit: '5' }] });
  assert.equal(set.status, 200, await set.clone().text());
  await chat(key, 'gpt-4o-mini', { feature: 'zoned' });
  await settledRequests(key, 1);
  const spent = (await getJson('/v1/budgets', { key })).json.states['tokyo-month'].spent;
  assert.ok(Number(spent) > 0, spent);
  // The browser in Los Angeles: its zone is offered beside UTC, which stays the default.
  const page = await pageInZone('America/Los_Angeles', key);
  const budget = await page.textContent('[data-testid="budget-tokyo-month"]');
  assert.match(budget, /monthly \(Asia\/Tokyo\)/);
  assert.ok(budget.includes(`$${Number(spent).toFixed(6)} spent`), budget);
  // UTC, the browser's zone, and the budget's own.
  assert.deepEqual(await page.$$eval('[data-testid="time-zone"] option', (os) => os.map((o) => o.value)), ['UTC', 'America/Los_Angeles', 'Asia/Tokyo']);
  assert.equal(await page.textContent('[data-testid="forecast-zone"]'), 'UTC');
  await page.selectOption('[data-testid="range"]', 'month');
  await ready(page);
  const utcFrom = Number(await page.getAttribute('[data-testid="dashboard"]', 'data-from'));
  assert.equal(utcFrom % 86_400, 0, 'this month from UTC midnight');
  // Los Angeles picked: this month from its midnight, the forecast its month's, the status says so.
  await page.selectOption('[data-testid="time-zone"]', 'America/Los_Angeles');
  await ready(page);
  const fc = (await getJson('/v1/forecast?time_zone=America/Los_Angeles', { key })).json;
  assert.equal(Number(await page.getAttribute('[data-testid="dashboard"]', 'data-from')), fc.month_start);
  assert.ok([7 * 3600, 8 * 3600].includes(fc.month_start % 86_400), `month_start ${fc.month_start}`);
  assert.equal(await page.textContent('[data-testid="forecast-zone"]'), 'America/Los_Angeles');
  assert.equal(await value(page, 'forecast-spent'), fc.spent_usd);
  assert.match(await page.textContent('[data-testid="status"]'), /\(America\/Los_Angeles\)/);
  assert.ok(Number(await page.getAttribute('[data-testid="chart-spend"]', 'data-points')) > 0, 'the day of the request has a bar');
  // Weekly and monthly bars are the API's weeks and months in that zone.
  for (const granularity of ['week', 'month']) {
    const asked = page.waitForRequest((req) => req.url().includes(`granularity=${granularity}`) && req.url().includes('time_zone=America%2FLos_Angeles'));
    await page.selectOption('[data-testid="granularity"]', granularity);
    await asked;
    await ready(page);
    // One bar with spend, and its baseline.
    assert.equal(Number(await page.getAttribute('[data-testid="chart-spend"]', 'data-points')), 2, `one ${granularity} with spend, drawn`);
  }
  // Weeks from Sunday: the API's weeks from Sunday, and the bar drawn at the Sunday before the
  // request (Los Angeles' days), which the page works out as the API does.
  const asked = page.waitForRequest((req) => req.url().includes('granularity=week') && req.url().includes('week_start=sunday'));
  await page.selectOption('[data-testid="granularity"]', 'week-sunday');
  await asked;
  await ready(page);
  assert.equal(Number(await page.getAttribute('[data-testid="chart-spend"]', 'data-points')), 2, 'one week from Sunday with spend, drawn');
  const labels = (await page.getAttribute('[data-testid="chart-spend"]', 'data-labels')).split(',');
  assert.ok(labels.length > 0 && labels.every((l) => new Date(`${l}T00:00:00Z`).getUTCDay() === 0), `every bar a Sunday: ${labels}`);
  const weeks = (await getJson(`/v1/usage?from=${fc.month_start}&to=${Math.floor(Date.now() / 1000) + 3600}&granularity=week&week_start=sunday&time_zone=America/Los_Angeles`, { key })).json;
  assert.equal(weeks.week_start, 'sunday');
  const sunday = weeks.data.find((d) => Number(d.cost_usd) > 0);
  assert.equal(new Date((sunday.start - 8 * 3600) * 1000).getUTCDay() === 0 || new Date((sunday.start - 7 * 3600) * 1000).getUTCDay() === 0, true, `a Sunday in Los Angeles: ${sunday.start}`);
  await page.selectOption('[data-testid="granularity"]', 'day');
  await ready(page);
  // A custom range of dates is read in the zone too: from its midnight to the next day's.
  // 2026-11-01 in Los Angeles: from 07:00 UTC (summer time) to 08:00 UTC the next day, 25 hours.
  assert.deepEqual(await customRange(page, '2026-11-01', '2026-11-01'), [Date.UTC(2026, 10, 1, 7) / 1000, Date.UTC(2026, 10, 2, 8) / 1000]);
  await page.close();
});

test('a zone whose clock jumps over midnight draws its days: the page neither hangs nor starts them an hour early', async () => {
  const page = await pageInZone('America/Santiago', KEYS.acme);
  await page.selectOption('[data-testid="time-zone"]', 'America/Santiago');
  await ready(page);
  // Santiago's clocks go from 00:00 (-04) to 01:00 (-03) on 2026-09-06: that day starts at the
  // jump, 04:00 UTC, as the router counts it (the page once took 03:00 and looped there).
  const bounds = await customRange(page, '2026-09-06', '2026-09-07');
  assert.deepEqual(bounds, [Date.UTC(2026, 8, 6, 4) / 1000, Date.UTC(2026, 8, 8, 3) / 1000]);
  const api = (await getJson('/v1/usage?from=2026-09-06&to=2026-09-08&time_zone=America/Santiago')).json;
  assert.deepEqual([api.from, api.to], bounds, "the API's own midnights");
  await page.close();
});

test("hourly bars in a zone whose offset has half an hour are labelled by their local start, minutes and all", async () => {
  const page = await pageInZone('Asia/Kolkata', KEYS.acme);
  // Chromium names it by its older link, Asia/Calcutta, which the router knows as well.
  const offered = await page.$$eval('[data-testid="time-zone"] option', (os) => os.map((o) => o.value));
  assert.ok(['Asia/Kolkata', 'Asia/Calcutta'].includes(offered[1]), offered.join(' '));
  await page.selectOption('[data-testid="time-zone"]', offered[1]);
  await ready(page);
  await page.selectOption('[data-testid="granularity"]', 'hour');
  await ready(page);
  // The rollups are UTC hours: 18:00 UTC is 23:30 there, so every bar starts at half past.
  const labels = (await page.getAttribute('[data-testid="chart-spend"]', 'data-labels')).split(',');
  assert.ok(labels.length >= 24 && labels.every((l) => /^\d\d-\d\d \d\d:30$/.test(l)), labels.slice(0, 3).join(' | '));
  await page.selectOption('[data-testid="time-zone"]', 'UTC');
  await ready(page);
  const utc = (await page.getAttribute('[data-testid="chart-spend"]', 'data-labels')).split(',');
  assert.ok(utc.every((l) => /^\d\d-\d\d \d\dh$/.test(l)), utc.slice(0, 3).join(' | '));
  await page.close();

  // An admin switching tenants is offered the tenant's budget zones, not the last tenant's.
  const zones = (p) => p.$$eval('[data-testid="time-zone"] option', (os) => os.map((o) => o.value));
  await browser.clearCookies();
  const admin = await adminPage();
  await admin.selectOption('[data-testid="tenant-select"]', 'zoneco');
  await admin.waitForFunction(() => [...document.querySelectorAll('[data-testid="time-zone"] option')].some((o) => o.value === 'Asia/Tokyo'));
  await admin.selectOption('[data-testid="tenant-select"]', 'acme');
  await admin.waitForFunction(() => document.querySelector('[data-testid="budget-monthly"]') !== null);
  await ready(admin);
  assert.ok(!(await zones(admin)).includes('Asia/Tokyo'), (await zones(admin)).join(', '));
  // The zone picked stays while it is picked.
  await admin.selectOption('[data-testid="tenant-select"]', 'zoneco');
  await admin.waitForFunction(() => [...document.querySelectorAll('[data-testid="time-zone"] option')].some((o) => o.value === 'Asia/Tokyo'));
  await admin.selectOption('[data-testid="time-zone"]', 'Asia/Tokyo');
  await ready(admin);
  await admin.selectOption('[data-testid="tenant-select"]', 'acme');
  await admin.waitForFunction(() => document.querySelector('[data-testid="budget-monthly"]') !== null);
  await ready(admin);
  assert.equal(await admin.inputValue('[data-testid="time-zone"]'), 'Asia/Tokyo');
  await admin.close();
});
