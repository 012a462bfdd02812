// Anomaly alerts through the real worker: traffic drives the ledger's rollups, the cron trigger
// (run here through Miniflare with a chosen scheduled time) evaluates them, and deliveries reach
// a local receiver playing Slack, a signed webhook and PagerDuty's Events API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { startRouter, ADMIN_TOKEN } from './harness.mjs';

const SECRET = 'whsec-test-0123456789abcdef';
const PD_KEY = 'R0123456789ABCDEF0123456789ABCDE';

let r;
let recv;
const got = []; // { path, headers, body }
let failNext = {}; // path -> number of deliveries to refuse with 500
let rateLimitNext = {}; // path -> number of deliveries to refuse with 429
let slowPaths = {}; // path -> milliseconds to wait before answering
const gonePaths = new Set(); // paths answered 404, as a deleted Slack webhook is
const refusals = []; // paths of deliveries answered 404 or 429
const hungPaths = new Set(); // paths that never answer, as a hung webhook
const seen = []; // { path, at }: every delivery attempt as it arrives, answered or not

function startReceiver() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      seen.push({ path: req.url, at: Date.now() });
      if (hungPaths.has(req.url)) return;
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', async () => {
        if (slowPaths[req.url]) await new Promise((res) => setTimeout(res, slowPaths[req.url]));
        if (gonePaths.has(req.url)) {
          refusals.push(req.url);
          res.writeHead(404).end('no_service');
          return;
        }
        if (failNext[req.url] > 0) {
          failNext[req.url] -= 1;
          res.writeHead(500).end('try later');
          return;
        }
        if (rateLimitNext[req.url] > 0) {
          rateLimitNext[req.url] -= 1;
          refusals.push(req.url);
          res.writeHead(429, { 'retry-after': '30' }).end('rate limited');
          return;
        }
        got.push({ path: req.url, headers: req.headers, raw: data, body: JSON.parse(data), at: Date.now() });
        res.writeHead(req.url === '/pd' ? 202 : 200, { 'content-type': 'application/json' }).end('{"status":"success"}');
      });
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

before(async () => {
  recv = await startReceiver();
  // Deliveries time out after 3 s here (10 s in production).
  r = await startRouter({ extraBindings: { PAGERDUTY_EVENTS_URL: `${recv.url}/pd`, TEST_ALERT_DELIVERY_TIMEOUT_MS: '3000' } });
});
after(async () => {
  await r?.close();
  recv?.server.close();
});

const admin = (method, path, body) =>
  fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });

async function tenantWithKey(id) {
  assert.equal((await admin('PUT', `/admin/tenants/${id}`, { name: id, plan: 'pro' })).status, 200);
  return (await (await admin('POST', '/admin/keys', { tenant_id: id, name: 'test' })).json()).key;
}

async function usageTotal(key, feature) {
  const u = await (await fetch(`${r.url}/v1/usage?group_by=feature`, { headers: { authorization: `Bearer ${key}` } })).json();
  return u.data.filter((row) => row.feature === feature);
}

/**
 * Waits until the wall clock is between 2 s and 45 s into a minute. The rollups file each request
 * under the minute it finished in, and a cron run at `now` evaluates the minute `now - 1 s` falls
 * in (its scheduled time is a minute's first second, which evaluates the minute just ended):
 * traffic sent near either end of a minute and evaluated at once can fall outside the window the
 * test expects it in.
 */
async function clearOfMinuteEnd() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await new Promise((res) => setTimeout(res, 60_000 - intoMinute + 2_000));
  else if (intoMinute < 2_000) await new Promise((res) => setTimeout(res, 2_000 - intoMinute));
}

/** Twelve gpt-4o requests at once under `feature`: a spend spike against a quiet baseline. */
async function spendSpike(key, feature) {
  const spike = Array.from({ length: 12 }, () =>
    r.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Summarize the quarterly report in detail.' }] }, { key, headers: { 'x-costrouter-feature': feature } }));
  for (const resp of await Promise.all(spike)) assert.equal(resp.status, 200);
}

/** Waits until the tenant's rollups hold `n` requests for the feature (they are written after the responses). */
async function rolledUp(key, feature, n) {
  for (let i = 0; i < 200; i++) {
    const rows = await usageTotal(key, feature);
    if (rows.reduce((s, row) => s + row.requests, 0) >= n) return rows;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('rollups never caught up');
}

// As a receiver would: over the raw body bytes, with a freshness check against replays.
const verify = (sigHeader, raw) => {
  const [t, v1] = sigHeader.split(',').map((p) => p.split('=')[1]);
  const want = createHmac('sha256', SECRET).update(`${t}.${raw}`).digest('hex');
  return v1 === want && Math.abs(Date.now() / 1000 - Number(t)) < 300;
};

test('alert settings are validated and secrets never shown back', async () => {
  const key = await tenantWithKey('alertcheck');
  const bad = await admin('PUT', '/admin/tenants/alertcheck/alerts', { destinations: { webhook_url: 'https://h.example.com/x' } });
  assert.equal(bad.status, 400);
  const err = await bad.json();
  assert.match(err.error.message, /webhook_secret is required/);
  const typo = await admin('PUT', '/admin/tenants/alertcheck/alerts', { spend_spike: { factr: 2 } });
  assert.equal(typo.status, 400);
  assert.match((await typo.json()).error.message, /spend_spike/);
  const ok = await admin('PUT', '/admin/tenants/alertcheck/alerts', { destinations: { webhook_url: `${recv.url}/hook`, webhook_secret: SECRET } });
  assert.equal(ok.status, 200);
  const text = await ok.text();
  assert.ok(!text.includes(SECRET), 'the secret is not echoed');
  assert.equal(JSON.parse(text).config.destinations.webhook_secret, '…cdef');
  assert.equal(JSON.parse(text).config.destinations.webhook_url, `${recv.url}/…hook`, 'only the webhook\'s origin shows: its path may hold a token');
  // A tenant key sees its alerts but not the destinations; it cannot configure them.
  const mine = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(mine.config.destinations, undefined);
  const refused = await fetch(`${r.url}/admin/tenants/alertcheck/alerts`, { method: 'PUT', headers: { authorization: `Bearer ${key}` }, body: '{}' });
  assert.equal(refused.status, 403);
  assert.equal((await admin('PUT', '/admin/tenants/nobody/alerts', {})).status, 404);
});

test('a spend spike sends exactly one alert per destination with the right numbers, then a resolve', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('spiky');
  const other = await tenantWithKey('calm');
  const set = await admin('PUT', '/admin/tenants/spiky/alerts', {
    destinations: { slack_webhook_url: `${recv.url}/slack`, webhook_url: `${recv.url}/hook`, webhook_secret: SECRET, pagerduty_routing_key: PD_KEY },
    spend_spike: { min_usd: 0.00005, factor: 3 },
  });
  assert.equal(set.status, 200, await set.clone().text());
  assert.equal((await admin('PUT', '/admin/tenants/calm/alerts', { destinations: { webhook_url: `${recv.url}/calm`, webhook_secret: SECRET }, spend_spike: { min_usd: 0.0005 } })).status, 200);
  got.length = 0;
  // The webhook refuses its first delivery: it must arrive on the next run, once.
  failNext = { '/hook': 1 };

  await spendSpike(key, 'search');
  // A little spend for the calm tenant, under its threshold.
  assert.equal((await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key: other, headers: { 'x-costrouter-feature': 'search' } })).status, 200);
  const rows = await rolledUp(key, 'search', 12);
  const spent = rows.reduce((s, row) => s + Number(row.cost_usd), 0);
  // A new feature: its spend must clear ten times min_usd (alerts::IDLE_BURST_MULTIPLE).
  assert.ok(spent >= 0.0005, `the spike must clear 10 × min_usd (spent ${spent})`);

  const t0 = Date.now();
  await r.scheduled(new Date(t0));
  const first = got.filter((g) => g.path !== '/calm');
  assert.deepEqual(first.map((g) => g.path).sort(), ['/pd', '/slack'], 'the webhook failed once and is queued');
  assert.ok(!got.some((g) => g.path === '/calm'), 'a tenant under its threshold gets nothing');

  const pd = first.find((g) => g.path === '/pd').body;
  assert.equal(pd.event_action, 'trigger');
  assert.equal(pd.routing_key, PD_KEY);
  assert.equal(pd.payload.class, 'spend_spike');
  assert.equal(Number(pd.payload.custom_details.window_spend_usd).toFixed(9), spent.toFixed(9), 'the alert names the spend the usage report shows');
  assert.equal(pd.payload.custom_details.window_requests, 12);
  assert.equal(pd.payload.custom_details.feature, 'search');
  const slack = first.find((g) => g.path === '/slack').body;
  assert.match(slack.text, /Spend spike on feature 'search'/);

  // Next minute: the condition still holds, so nothing new is sent, but the queued webhook is.
  got.length = 0;
  await r.scheduled(new Date(t0 + 60_000));
  assert.deepEqual(got.map((g) => g.path), ['/hook']);
  const hook = got[0];
  assert.ok(verify(hook.headers['x-costrouter-signature'], hook.raw), 'the webhook is signed with the tenant secret');
  assert.ok(!verify(hook.headers['x-costrouter-signature'], hook.raw.replace('spiky', 'spikz')), 'a changed body fails verification');
  assert.equal(hook.body.type, 'alert.triggered');
  assert.equal(hook.body.tenant, 'spiky');
  assert.equal(hook.body.alert.key, 'spend_spike:search');

  // Ten minutes on, the window holds no spend: one resolve per destination.
  got.length = 0;
  await r.scheduled(new Date(t0 + 10 * 60_000));
  assert.deepEqual(got.map((g) => g.path).sort(), ['/hook', '/pd', '/slack']);
  const resolve = got.find((g) => g.path === '/pd').body;
  assert.equal(resolve.event_action, 'resolve');
  assert.equal(resolve.dedup_key, pd.dedup_key, 'the resolve closes the incident the trigger opened');
  assert.equal(got.find((g) => g.path === '/hook').body.type, 'alert.resolved');
  // A run scheduled before the one that resolved it reaching the tenant after it (a slow run,
  // overtaken): its earlier moment, when the spike held, is not evaluated again.
  got.length = 0;
  await r.scheduled(new Date(t0 + 60_000));
  assert.deepEqual(got.map((g) => g.path), [], 'no second trigger');
  got.length = 0;
  await r.scheduled(new Date(t0 + 11 * 60_000));
  assert.equal(got.length, 0, 'nothing more once resolved');

  const view = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(view.open.length, 0);
  assert.equal(view.history.filter((h) => h.delivered).length, 6);
  const calm = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${other}` } })).json();
  assert.equal(calm.history.length, 0, 'another tenant sees none of it');
});

test('two cron runs at once (a slow destination) send a delivery once, not twice', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('overlap');
  const set = await admin('PUT', '/admin/tenants/overlap/alerts', { destinations: { webhook_url: `${recv.url}/slow`, webhook_secret: SECRET }, spend_spike: { min_usd: 0.00005, factor: 3 } });
  assert.equal(set.status, 200, await set.clone().text());
  await spendSpike(key, 'search');
  await rolledUp(key, 'search', 12);
  got.length = 0;
  // The webhook takes 1.5 s: the next minute's run starts while the first still delivers.
  slowPaths = { '/slow': 1500 };
  const t0 = Date.now();
  const first = r.scheduled(new Date(t0));
  await new Promise((res) => setTimeout(res, 500));
  await Promise.all([first, r.scheduled(new Date(t0 + 60_000))]);
  slowPaths = {};
  assert.equal(got.filter((g) => g.path === '/slow').length, 1, 'the second run left the first run\'s delivery alone');
  // Once acknowledged, nothing is left to send.
  got.length = 0;
  await r.scheduled(new Date(t0 + 120_000));
  assert.equal(got.filter((g) => g.path === '/slow').length, 0);
});

test('a destination that hangs delays neither the others nor, past one time limit, the run', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('hung-slack');
  const set = await admin('PUT', '/admin/tenants/hung-slack/alerts', {
    destinations: { slack_webhook_url: `${recv.url}/hung`, webhook_url: `${recv.url}/beside-hung`, webhook_secret: SECRET },
    spend_spike: { min_usd: 0.00005, factor: 3 },
  });
  assert.equal(set.status, 200, await set.clone().text());
  // Two alerts at once (a spike on each of two features): two deliveries queued per destination.
  await Promise.all([spendSpike(key, 'alpha'), spendSpike(key, 'beta')]);
  await rolledUp(key, 'alpha', 12);
  await rolledUp(key, 'beta', 12);
  got.length = 0;
  seen.length = 0;
  hungPaths.add('/hung');
  const t0 = Date.now();
  await r.scheduled(new Date(t0));
  hungPaths.delete('/hung');
  const hung = seen.filter((s) => s.path === '/hung');
  assert.equal(hung.length, 1, 'after the first delivery timed out, the second was not sent into the hung webhook');
  const beside = got.filter((g) => g.path === '/beside-hung');
  assert.deepEqual(beside.map((g) => g.body.alert.key).sort(), ['spend_spike:alpha', 'spend_spike:beta']);
  assert.ok(beside.every((g) => g.at < hung[0].at + 3000), 'the webhook\'s deliveries did not wait for the hung one to time out');
  // Still queued for the hung webhook: the one sent, with its timeout counted as an attempt, and
  // the one after it, not tried, counted too (a destination down for good drains its queue).
  const view = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${key}` } })).json();
  const queued = (view.pending_deliveries ?? []).filter((d) => d.destination === 'slack');
  assert.deepEqual(queued.map((d) => [d.attempts, d.last_error]), [[1, 'timed out'], [1, 'not tried: an earlier delivery this run found slack unavailable (timed out)']], JSON.stringify(view));

  // Next minute the webhook answers: both of its deliveries arrive, once each, in queued order.
  got.length = 0;
  await r.scheduled(new Date(t0 + 60_000));
  const slack = got.filter((g) => g.path === '/hung');
  assert.equal(slack.length, 2, JSON.stringify(got.map((g) => g.path)));
  assert.deepEqual(slack.map((g) => (g.body.text.includes("'alpha'") ? 'spend_spike:alpha' : 'spend_spike:beta')), queued.map((d) => d.transition.alert.key), 'in the order they were queued');
  assert.equal(got.filter((g) => g.path === '/beside-hung').length, 0, 'nothing sent twice');
});

test('a destination that answers 429 is sent nothing more that run; its queue goes out next run, in order', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('limited-hook');
  const set = await admin('PUT', '/admin/tenants/limited-hook/alerts', { destinations: { webhook_url: `${recv.url}/limited`, webhook_secret: SECRET }, spend_spike: { min_usd: 0.00005, factor: 3 } });
  assert.equal(set.status, 200, await set.clone().text());
  await Promise.all([spendSpike(key, 'gamma'), spendSpike(key, 'delta')]);
  await rolledUp(key, 'gamma', 12);
  await rolledUp(key, 'delta', 12);
  got.length = 0;
  rateLimitNext = { '/limited': 1 };
  const t0 = Date.now();
  await r.scheduled(new Date(t0));
  assert.deepEqual(refusals.filter((p) => p === '/limited'), ['/limited'], 'one request, then none that run');
  assert.equal(got.filter((g) => g.path === '/limited').length, 0);
  const view = await (await admin('GET', '/admin/tenants/limited-hook/alerts')).json();
  assert.deepEqual(view.pending_deliveries.map((d) => d.attempts), [1, 1], JSON.stringify(view.pending_deliveries));
  await r.scheduled(new Date(t0 + 60_000));
  const sent = got.filter((g) => g.path === '/limited').map((g) => g.body.alert.key);
  assert.deepEqual(sent, view.pending_deliveries.map((d) => d.transition.alert.key), 'both, once, in queued order');
  rateLimitNext = {};
});

test('a resolve never reaches a destination before the trigger it closes', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('flaky-pager');
  // A webhook of its own: every tenant's PagerDuty deliveries share one URL in these tests.
  const set = await admin('PUT', '/admin/tenants/flaky-pager/alerts', { destinations: { webhook_url: `${recv.url}/ordered`, webhook_secret: SECRET }, spend_spike: { min_usd: 0.00005, factor: 3 } });
  assert.equal(set.status, 200, await set.clone().text());
  got.length = 0;
  // The receiver refuses the trigger twice: on the first run, and again on the run that finds
  // the spike over and queues the resolve.
  failNext = { '/ordered': 2 };
  await spendSpike(key, 'pager');
  await rolledUp(key, 'pager', 12);
  const t0 = Date.now();
  await r.scheduled(new Date(t0));
  await r.scheduled(new Date(t0 + 10 * 60_000));
  assert.deepEqual(got.filter((g) => g.path === '/ordered'), [], 'the resolve waits for its trigger');
  await r.scheduled(new Date(t0 + 11 * 60_000));
  const sent = got.filter((g) => g.path === '/ordered').map((g) => g.body.type);
  assert.deepEqual(sent, ['alert.triggered', 'alert.resolved'], 'delivered in order once the receiver answers');
  failNext = {};
});

test('a delivery the destination refuses for good (404) is tried once, not every minute for half an hour', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('stale-hook');
  const set = await admin('PUT', '/admin/tenants/stale-hook/alerts', { destinations: { webhook_url: `${recv.url}/gone`, webhook_secret: SECRET }, spend_spike: { min_usd: 0.00005, factor: 3 } });
  assert.equal(set.status, 200, await set.clone().text());
  gonePaths.add('/gone');
  await spendSpike(key, 'gone');
  await rolledUp(key, 'gone', 12);
  const t0 = Date.now();
  await r.scheduled(new Date(t0));
  await r.scheduled(new Date(t0 + 60_000));
  await r.scheduled(new Date(t0 + 120_000));
  assert.deepEqual(refusals.filter((p) => p === '/gone'), ['/gone'], 'one attempt');
  const view = await (await admin('GET', '/admin/tenants/stale-hook/alerts')).json();
  assert.deepEqual(view.pending_deliveries, []);
  const given = view.history.find((d) => d.destination === 'webhook');
  assert.equal(given.delivered, false);
  assert.equal(given.attempts, 1);
  assert.match(given.last_error, /HTTP 404.*given up/);
  gonePaths.delete('/gone');
});

test('a tenant with alert rules and no destination is still evaluated: its alerts open in GET /v1/alerts', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('watcher');
  const set = await admin('PUT', '/admin/tenants/watcher/alerts', { spend_spike: { min_usd: 0.00005, factor: 3 } });
  assert.equal(set.status, 200, await set.clone().text());
  await spendSpike(key, 'watched');
  await rolledUp(key, 'watched', 12);
  await r.scheduled(new Date());
  const view = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.deepEqual(view.open.map((a) => a.key), ['spend_spike:watched']);
  assert.equal(view.history.at(-1).destination, 'none', 'recorded as undelivered: there is nowhere to send it');
});

/**
 * A tenant with a daily budget of ten requests' cost and these alert destinations, after six
 * requests (60% of the budget) have been rolled up; the receiver's log emptied. Its key.
 */
async function spendSixTenthsOfABudget(tenant, destinations) {
  const key = await tenantWithKey(tenant);
  // gpt-4o-mini answers from the fake upstream cost 64.5 micro-dollars each (30 in, 100 out).
  const each = 30 * 0.15e-6 + 100 * 0.6e-6;
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}/budgets`, { budgets: [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: (10 * each).toFixed(12) }] })).status, 200);
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}/alerts`, { destinations, spend_spike: { enabled: false } })).status, 200);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', times: 6, response: { text: 'ok', usage: { prompt_tokens: 30, completion_tokens: 100 } } });
  for (let i = 0; i < 6; i++) assert.equal((await r.chat({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { key })).status, 200);
  await rolledUp(key, '', 6);
  got.length = 0;
  return key;
}

test('budget thresholds alert once per level', async () => {
  // PagerDuty too: by default it is not sent an `info` alert (someone would be paged for 50%).
  const destinations = { webhook_url: `${recv.url}/budget`, webhook_secret: SECRET, pagerduty_routing_key: PD_KEY };
  await spendSixTenthsOfABudget('budgeted', destinations);
  await r.scheduled(new Date());
  await r.scheduled(new Date(Date.now() + 60_000));
  const budget = got.filter((g) => g.path === '/budget').map((g) => g.body);
  assert.deepEqual(budget.map((b) => b.alert.details.threshold_percent), [50], 'one alert for 50%, not repeated');
  assert.equal(budget[0].alert.details.percent, 60);
  assert.equal(budget[0].alert.kind, 'budget_threshold');
  assert.equal(budget[0].alert.severity, 'info');
  assert.deepEqual(got.filter((g) => g.path === '/pd'), [], 'PagerDuty takes warnings and above unless told otherwise');
  // Told to take everything, it is sent the alert still open, once.
  assert.equal((await admin('PUT', '/admin/tenants/budgeted/alerts', { destinations: { ...destinations, pagerduty_min_severity: 'info' }, spend_spike: { enabled: false } })).status, 200);
  got.length = 0;
  await r.scheduled(new Date(Date.now() + 120_000));
  await r.scheduled(new Date(Date.now() + 180_000));
  const paged = got.filter((g) => g.path === '/pd').map((g) => g.body);
  assert.equal(paged.length, 1);
  assert.equal(paged[0].event_action, 'trigger');
  assert.equal(paged[0].payload.severity, 'info');
  assert.deepEqual(got.filter((g) => g.path === '/budget'), [], 'the webhook had it already');
});

test('a budget that refuses requests for want of room is at 100%, though its spend stops short of the limit', async () => {
  const key = await tenantWithKey('spentout');
  const each = 30 * 0.15e-6 + 100 * 0.6e-6;
  // 9.4 requests' cost: nine are served (95.7%), the tenth's most possible cost does not fit.
  assert.equal((await admin('PUT', '/admin/tenants/spentout/budgets', { budgets: [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: (9.4 * each).toFixed(12) }] })).status, 200);
  assert.equal((await admin('PUT', '/admin/tenants/spentout/alerts', { destinations: { webhook_url: `${recv.url}/spentout`, webhook_secret: SECRET }, spend_spike: { enabled: false } })).status, 200);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', times: 10, response: { text: 'ok', usage: { prompt_tokens: 30, completion_tokens: 100 } } });
  const ask = async () => {
    const resp = await r.chat({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { key });
    await resp.arrayBuffer();
    return resp.status;
  };
  const statuses = [];
  for (let i = 0; i < 9; i++) statuses.push(await ask());
  assert.deepEqual(statuses, Array(9).fill(200));
  // Settled first: refused while the others were still held, the room would be theirs.
  await rolledUp(key, '', 9);
  assert.equal(await ask(), 429);
  got.length = 0;
  await r.scheduled(new Date());
  const alerts = got.filter((g) => g.path === '/spentout').map((g) => g.body.alert);
  assert.deepEqual(alerts.map((a) => a.details.threshold_percent), [50, 80, 100], JSON.stringify(alerts.map((a) => a.summary)));
  const full = alerts.at(-1);
  assert.equal(full.severity, 'critical');
  assert.equal(full.details.refusing, true);
  assert.ok(full.details.percent < 100, `${full.details.percent}`);
  assert.match(full.summary, /reached 100%.*refuses requests/);
});

test('an alert no destination takes (PagerDuty alone, a budget at 50%) is kept in the history, with why', async () => {
  const key = await spendSixTenthsOfABudget('pdonly', { pagerduty_routing_key: PD_KEY });
  await r.scheduled(new Date());
  assert.deepEqual(got.filter((g) => g.path === '/pd'), []);
  const view = await (await fetch(`${r.url}/v1/alerts`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(view.open.length, 1);
  const kept = view.history.filter((h) => h.transition.alert.kind === 'budget_threshold');
  assert.equal(kept.length, 1, JSON.stringify(view.history));
  assert.equal(kept[0].destination, 'none');
  assert.equal(kept[0].last_error, 'no destination takes info alerts');
});

test('a failing deployment raises an error storm and a circuit-open alert, each once', async () => {
  await clearOfMinuteEnd();
  const key = await tenantWithKey('stormy');
  assert.equal((await admin('PUT', '/admin/tenants/stormy/alerts', {
    destinations: { webhook_url: `${recv.url}/storm`, webhook_secret: SECRET },
    spend_spike: { enabled: false },
    error_storm: { min_requests: 5 },
  })).status, 200);
  r.upstream.reset();
  r.upstream.script({ provider: 'gemini', times: 5, response: { status: 500 } });
  const ask = () => r.chat({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
  // Five failures open the breaker (threshold 5); the sixth request is refused by it (503: nothing sent).
  for (let i = 0; i < 6; i++) assert.equal((await ask()).status, i < 5 ? 502 : 503);
  await rolledUp(key, '', 6);
  got.length = 0;
  await r.scheduled(new Date());
  await r.scheduled(new Date(Date.now() + 60_000));
  const alerts = got.filter((g) => g.path === '/storm').map((g) => g.body.alert);
  assert.deepEqual(alerts.map((a) => a.kind).sort(), ['circuit_open', 'error_storm']);
  const storm = alerts.find((a) => a.kind === 'error_storm');
  assert.equal(storm.details.requests, 6);
  assert.equal(storm.details.errors, 6);
  assert.equal(alerts.find((a) => a.kind === 'circuit_open').details.deployment, 'gemini/gemini-2.5-flash');
});

test('deleting a tenant resolves its open alerts where they were sent, then stops watching it', async () => {
  const destinations = { webhook_url: `${recv.url}/gone`, webhook_secret: SECRET, pagerduty_routing_key: PD_KEY, pagerduty_min_severity: 'info' };
  await spendSixTenthsOfABudget('goneco', destinations);
  await r.scheduled(new Date());
  assert.deepEqual(got.filter((g) => g.path === '/pd').map((g) => g.body.event_action), ['trigger'], 'an incident opened');
  got.length = 0;
  const deleted = await admin('DELETE', '/admin/tenants/goneco');
  assert.equal(deleted.status, 200, await deleted.clone().text());
  assert.ok((await watchlist(r)).tenants.includes('goneco'), 'still watched until its alerts are resolved');
  await r.scheduled(new Date(Date.now() + 60_000));
  assert.deepEqual(got.filter((g) => g.path === '/pd').map((g) => g.body.event_action), ['resolve'], 'the incident is resolved, not left open');
  const hook = got.filter((g) => g.path === '/gone');
  assert.equal(hook.length, 1, 'the webhook hears the resolve too');
  assert.match(JSON.stringify(hook[0].body), /resolve/);
  await r.scheduled(new Date(Date.now() + 120_000));
  assert.ok(!(await watchlist(r)).tenants.includes('goneco'), 'then it is let go');
});

/** The alerting cron's list of tenants, as the Durable Object that keeps it answers. */
async function watchlist(router) {
  const ns = await router.mf.getDurableObjectNamespace('LEDGER');
  return (await ns.get(ns.idFromName('~alerting')).fetch('http://ledger/watchlist', { method: 'POST' })).json();
}

test('the tenants an earlier release listed in KV for the cron are taken into its watchlist, for the hour after an upgrade', async () => {
  const fresh = await startRouter();
  try {
    const tenants = await fresh.mf.getKVNamespace('TENANTS');
    await tenants.put('alerting:legacyco', '1');
    assert.deepEqual(await watchlist(fresh), { tenants: [], first_import: null });
    const t0 = Date.now();
    await fresh.scheduled(new Date(t0));
    assert.deepEqual(await watchlist(fresh), { tenants: ['legacyco'], first_import: Math.floor(t0 / 1000) });
    // Within the hour an upgrade takes to roll out, isolates of the earlier release may still
    // write such keys: they are taken in too.
    await tenants.put('alerting:rolloutco', '1');
    await fresh.scheduled(new Date(t0 + 60_000));
    assert.deepEqual((await watchlist(fresh)).tenants, ['legacyco', 'rolloutco']);
    // After it, KV is not listed again.
    await tenants.put('alerting:laterco', '1');
    await fresh.scheduled(new Date(t0 + 2 * 3_600_000));
    assert.deepEqual((await watchlist(fresh)).tenants, ['legacyco', 'rolloutco']);
  } finally {
    await fresh.close();
  }
});
