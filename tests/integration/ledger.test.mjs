// Budgets and limits through the real worker and its Ledger Durable Object.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, ADMIN_TOKEN } from './harness.mjs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';

let r;
// A live stream renews its reservation every 5 minutes; here every 400 ms.
before(async () => {
  r = await startRouter({ extraBindings: { TEST_RESERVATION_RENEW_MS: '400' } });
  // The downgrade tests want one model cheaper than every other: mistral-small at 0.10 / 0.30 per
  // million (the seed prices it as gpt-4o-mini now). Stored before the first request loads it.
  const pricing = JSON.parse(readFileSync(new URL('../../kv-seed/pricing.json', import.meta.url), 'utf8'));
  pricing.models['mistral-small'] = { provider: 'mistral', input: 0.1, output: 0.3, context_window: 131072, max_output_tokens: 32768 };
  await (await r.mf.getKVNamespace('CONFIG')).put('pricing', JSON.stringify(pricing));
});
after(async () => { await r?.close(); });

const admin = (method, path, body) =>
  fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });

async function tenantWithKey(id, budgets, limits = {}) {
  assert.equal((await admin('PUT', `/admin/tenants/${id}`, { name: id, plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: id, name: 'test' })).json()).key;
  const set = await admin('PUT', `/admin/tenants/${id}/budgets`, { budgets, limits });
  assert.equal(set.status, 200, await set.clone().text());
  return key;
}

const picos = (usd) => Math.round(Number(usd) * 1e12);
const state = async (key) => (await fetch(`${r.url}/v1/budgets`, { headers: { authorization: `Bearer ${key}` } })).json();
/** The budget state once no reservation is open (they settle after the response), or after 3 s. */
async function settledState(key) {
  let s;
  for (let i = 0; i < 150; i++) {
    s = await state(key);
    if (s.open_reservations === 0) return s;
    await new Promise((res) => setTimeout(res, 20));
  }
  return s;
}

test('200 concurrent requests never spend past a budget that covers 50', async () => {
  // Each answer costs exactly 30 x 0.15 + 100 x 0.6 = 64.5 micro-dollars (gpt-4o-mini).
  const each = 30 * 0.15e-6 + 100 * 0.6e-6;
  const limit = (50 * each).toFixed(12);
  const key = await tenantWithKey('budgetco', [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: limit }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', times: 200, response: { text: 'ok', usage: { prompt_tokens: 30, completion_tokens: 100 } } });
  const body = { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] };
  const results = await Promise.all(Array.from({ length: 200 }, () => r.chat(body, { key })));
  const ok = results.filter((x) => x.status === 200);
  const refused = results.filter((x) => x.status === 429);
  assert.equal(ok.length + refused.length, 200, `statuses: ${[...new Set(results.map((x) => x.status))]}`);
  const spent = ok.reduce((sum, x) => sum + picos(x.headers.get('x-costrouter-cost-usd')), 0);
  assert.ok(spent <= picos(limit), `spent ${spent} > limit ${picos(limit)}`);
  // A request is admitted only if its worst case (prompt bytes x input + max_tokens x output =
  // 65.25 micro-dollars) fits; the 50th answer would fit at its actual 64.5 but not at its worst
  // case, so 49 are served: close to the budget, never past it.
  assert.equal(ok.length, 49);
  // Refused while the others were in flight: the budget's room was held, not spent, and a retry
  // once they finish may pass, so the SDKs may retry (budget_held, with retry-after).
  for (const x of refused) {
    const err = await x.json();
    assert.ok(['budget_held', 'budget_exceeded'].includes(err.error.code), JSON.stringify(err));
    if (err.error.code === 'budget_held') {
      assert.match(err.error.message, /^Budget 'daily' has \$[\d.]+ left, but requests in flight hold \$[\d.]+ of it until they finish/);
      assert.equal(x.headers.get('retry-after'), '1');
      assert.equal(x.headers.get('x-should-retry'), null);
    }
  }
  assert.ok(refused.some((x) => x.headers.get('retry-after') === '1'), 'some were refused while the room was held');
  const s = await settledState(key);
  assert.equal(picos(s.states.daily.spent), spent, 'the ledger agrees with the receipts');
  assert.equal(picos(s.states.daily.reserved), 0, 'nothing left held');
  for (const x of ok) await x.arrayBuffer();
  // Settled, the budget has 0.75 micro-dollars left: less than a request's most possible cost,
  // which no wait changes (the SDKs are told not to retry), and a lower max_tokens could.
  const late = await r.chat(body, { key });
  const err = await late.json();
  assert.equal(late.status, 429);
  assert.equal(err.error.code, 'budget_exceeded');
  assert.equal(late.headers.get('x-should-retry'), 'false', 'the SDKs would otherwise retry twice');
  assert.equal(late.headers.get('retry-after'), null);
  assert.match(err.error.message, /^This request's most possible cost, \$[\d.]+ \(its prompt and output cap at the model's prices\), is more than the \$[\d.]+ budget 'daily' has left until \d{4}-\d\d-\d\dT00:00:00Z\. Set a lower max_tokens/);
});

test('a failed upstream call releases its reservation; a cut-off stream settles what it used', async () => {
  const key = await tenantWithKey('failco', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { status: 500 } });
  const failed = await r.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { key });
  assert.equal(failed.status, 502);
  // Reservations are settled after the response, in the ledger's next group commit (≤ 100 ms).
  let s = await settledState(key);
  assert.equal(picos(s.states.month.reserved), 0);
  assert.equal(picos(s.states.month.spent), 0);

  // Cut after message_start, before any text: a failed call (502, nothing was streamed), but the
  // prompt Anthropic reported there was billed, and is charged.
  r.upstream.script({ provider: 'anthropic', response: { fault: 'truncated' } });
  const early = await r.chat({ model: 'claude-haiku-4-5', stream: true, messages: [{ role: 'user', content: 'tell me a story' }] }, { key });
  assert.equal(early.status, 502);
  assert.match((await early.json()).error.message, /failed before its first token .*its prompt, billed, \$0\.0000/);
  const earlyId = early.headers.get('x-costrouter-request-id');
  s = await settledState(key);
  const earlyEvent = await r.eventFor(earlyId);
  assert.ok(earlyEvent.cost_usd > 0);
  assert.equal(picos(s.states.month.reserved), 0);
  assert.equal(picos(s.states.month.spent), picos(earlyEvent.cost_usd));

  // Anthropic's usage arrives first (message_start: one output token) and its real output count
  // only at the end: a stream cut off after some text is billed for that text.
  const story = 'Once upon a time a lighthouse keeper counted every ship that passed, '.repeat(8);
  r.upstream.script({ provider: 'anthropic', response: { fault: 'truncated', truncate_after: 40, text: story } });
  const partialResp = await r.chat({ model: 'claude-haiku-4-5', stream: true, messages: [{ role: 'user', content: 'tell me a story' }] }, { key });
  const partialId = partialResp.headers.get('x-costrouter-request-id');
  const partial = await readSse(partialResp);
  const sent = partial.data.filter((d) => d !== '[DONE]').map((d) => d.choices?.[0]?.delta?.content ?? '').join('');
  assert.ok(sent.length > 100, `text before the cut: ${sent.length} chars`);
  const billed = JSON.parse(partial.comments.find((c) => c.startsWith('costrouter ')).slice('costrouter '.length));
  assert.equal(billed.usage_basis, 'estimated');
  assert.equal(billed.usage.completion_tokens, Math.ceil(sent.length / 4));
  assert.ok(partial.data.some((d) => d.error), 'the client still sees the stream was cut');
  // And the budget holds both charges: the early cut's prompt and this one's prompt and text.
  s = await settledState(key);
  const partialEvent = await r.eventFor(partialId);
  assert.ok(partialEvent.cost_usd > earlyEvent.cost_usd, `${partialEvent.cost_usd} vs ${earlyEvent.cost_usd}`);
  assert.equal(partialEvent.output_tokens, billed.usage.completion_tokens);
  assert.equal(picos(s.states.month.reserved), 0);
  assert.equal(picos(s.states.month.spent), picos(earlyEvent.cost_usd) + picos(partialEvent.cost_usd));
});

test('a live stream renews its reservation, so a stream longer than 15 minutes keeps its money held', async () => {
  const key = await tenantWithKey('longstream', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  // 24 words, a quarter of a second apart: six seconds of streaming.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { event_delay_ms: 250, text: 'once upon a time '.repeat(6) } });
  const resp = await r.chat({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] }, { key });
  assert.equal(resp.status, 200);
  const id = resp.headers.get('x-costrouter-request-id');
  const reader = resp.body.getReader();
  await reader.read();
  // Every reservation in flight is for the admin API; a tenant key sees how many.
  const reservations = async () => (await (await admin('GET', '/admin/tenants/longstream/budgets')).json()).reservations;
  assert.equal((await state(key)).reservations, undefined);
  const first = (await reservations())[id];
  assert.ok(first, 'the stream holds a reservation');
  // Read on for 2.5 s (a renewal every 400 ms); the reservation's life is extended from now.
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    const { done } = await reader.read();
    assert.equal(done, false, 'the scripted stream runs longer than this');
  }
  const later = (await reservations())[id];
  assert.ok(later.expires_at >= first.expires_at + 2, `renewed: ${first.expires_at} -> ${later.expires_at}`);
  assert.equal(later.amount, first.amount, 'the same money held');
  while (!(await reader.read()).done);
  const s = await settledState(key);
  assert.equal((await reservations())[id], undefined, 'settled at its end');
  assert.equal(picos(s.states.month.reserved), 0);
});

test('a stream whose model goes quiet renews its reservation during the silence, not at its next byte', async () => {
  const key = await tenantWithKey('quietstream', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  // Three seconds between events: each pull of the client's stream waits that long, in a task of
  // its own, for which a renewal timer made in an earlier pull would never fire. The check is in
  // the second wait for text (the first pull returns what was read before the stream was handed
  // on; the second makes the first timer).
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { event_delay_ms: 3000, text: 'once upon a time' } });
  const resp = await r.chat({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'take your time' }] }, { key });
  assert.equal(resp.status, 200);
  const id = resp.headers.get('x-costrouter-request-id');
  const reader = resp.body.getReader();
  await reader.read();
  const reservations = async () => (await (await admin('GET', '/admin/tenants/quietstream/budgets')).json()).reservations;
  await reader.read();
  const first = (await reservations())[id];
  assert.ok(first, 'the stream holds a reservation');
  const pending = reader.read();
  await new Promise((res) => setTimeout(res, 2200));
  const later = (await reservations())[id];
  assert.ok(later.expires_at >= first.expires_at + 1, `renewed while nothing came: ${first.expires_at} -> ${later.expires_at}`);
  await reader.cancel();
  await pending.catch(() => {});
});

/** Starts `call` (a slow provider call for `tenant`), then checks that its one reservation is
 * renewed while the call is awaited; resolves to the call's response. */
async function assertRenewedWhileAwaited(tenant, call) {
  const pending = call();
  const reservations = async () => Object.values((await (await admin('GET', `/admin/tenants/${tenant}/budgets`)).json()).reservations);
  let first;
  for (let i = 0; i < 100 && !first; i++) {
    [first] = await reservations();
    if (!first) await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok(first, 'the call holds a reservation');
  await new Promise((res) => setTimeout(res, 2500));
  const [later] = await reservations();
  assert.ok(later.expires_at >= first.expires_at + 2, `renewed while the call was awaited: ${first.expires_at} -> ${later.expires_at}`);
  return pending;
}

test('embeddings batches that take long renew their reservation', async () => {
  const key = await tenantWithKey('slowembed', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { fault: 'slow', delay_ms: 3500 } });
  const resp = await assertRenewedWhileAwaited('slowembed', () => fetch(`${r.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', input: 'embed me slowly' }),
  }));
  assert.equal(resp.status, 200, await resp.clone().text());
  await resp.arrayBuffer();
});

test('a whole answer that takes long renews its reservation while it is awaited', async () => {
  const key = await tenantWithKey('slowanswer', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'slow', delay_ms: 3500 } });
  const resp = await assertRenewedWhileAwaited('slowanswer', () => r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'think hard' }] }, { key }));
  assert.equal(resp.status, 200);
});

test('a stream the client abandons is settled for what it used, with one cost event', async () => {
  const key = await tenantWithKey('leaveco', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { event_delay_ms: 300 } });
  const abort = new AbortController();
  const resp = await r.chat({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] }, { key, headers: {}, signal: abort.signal });
  assert.equal(resp.status, 200);
  const id = resp.headers.get('x-costrouter-request-id');
  const reader = resp.body.getReader();
  await reader.read();
  abort.abort();
  await reader.cancel().catch(() => {});
  let s;
  for (let i = 0; i < 150; i++) {
    s = await state(key);
    if (s.open_reservations === 0 && r.events.some((e) => e.request_id === id)) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(s.open_reservations, 0, 'the reservation does not wait 15 minutes to expire');
  assert.equal(picos(s.states.month.reserved), 0);
  await new Promise((res) => setTimeout(res, 300));
  const events = r.events.filter((e) => e.request_id === id);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].error_code, 'client_closed', 'recorded as cut off by its client');
  assert.equal(events[0].status, 499);
  const usage = await (await fetch(`${r.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(usage.totals.requests, 1, JSON.stringify(usage));
  assert.equal(usage.totals.errors, 0, 'a client that leaves is not an error of the route');
  assert.ok(events[0].cost_usd > 0, 'what was used is charged');
  assert.equal(picos(s.states.month.spent), picos(events[0].cost_usd), 'settled for what the event records');
});

test('a client that leaves before its answer is still charged for it, with one cost event', async () => {
  // In production the runtime cancels a request's handler when its client disconnects; the
  // router serves inside waitUntil so that an answer the provider is generating (and bills) is
  // still read and charged. Local workerd does not cancel on a disconnect (nor abort
  // request.signal), so this checks the accounting of such a request, not the cancellation.
  const tenant = 'earlyleave';
  const key = await tenantWithKey(tenant, [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }]);
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'slow', delay_ms: 1500, usage: { prompt_tokens: 1000, completion_tokens: 100 } } });
  const abort = new AbortController();
  const pending = fetch(`${r.directUrl}/v1/chat/completions`, {
    method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a question the client stops waiting for' }] }),
  });
  await new Promise((res) => setTimeout(res, 300));
  abort.abort();
  await pending.then((resp) => resp.body?.cancel(), () => {});
  let s;
  for (let i = 0; i < 250; i++) {
    s = await state(key);
    if (s.open_reservations === 0 && r.events.some((e) => e.tenant === tenant)) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const events = r.events.filter((e) => e.tenant === tenant);
  assert.equal(events.length, 1, `one cost event: ${JSON.stringify(events)}`);
  assert.equal(s.open_reservations, 0, 'the reservation does not wait 15 minutes to expire');
  // 1000 x 0.15 + 100 x 0.6 per million for gpt-4o-mini.
  const cost = 1000 * 0.15e-6 + 100 * 0.6e-6;
  assert.equal(picos(s.states.month.spent), picos(cost), JSON.stringify(s.states.month));
  assert.equal(picos(events[0].cost_usd), picos(cost));
});

test('soft limits warn, scoped budgets downgrade, per-minute limits answer 429 with headers', async () => {
  // Per-minute counters reset on the minute: start well inside one, so all five requests share it.
  const second = new Date().getUTCSeconds();
  if (second > 45) await new Promise((res) => setTimeout(res, (61 - second) * 1000));
  const key = await tenantWithKey(
    'limitco',
    [
      { id: 'soft', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '100', soft_limit: '0.0000001' },
      { id: 'search', scope: { kind: 'feature', value: 'search' }, window: 'daily', hard_limit: '0.0005', on_hard_limit: 'downgrade' },
    ],
    { key_rpm: 4 },
  );
  r.upstream.reset();
  const first = await r.chat({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-ratelimit-limit-requests'), '4');
  assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '3');
  assert.match(first.headers.get('x-costrouter-budget-warning'), /soft limit passed: soft/);
  // gpt-4o's worst case (about $0.001) does not fit the $0.0005 search budget: the request is
  // downgraded to the cheapest model in the catalog (mistral-small at 0.1 / 0.3 per million, above).
  const down = await r.chat({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { key, headers: { 'x-costrouter-feature': 'search' } });
  assert.equal(down.status, 200, await down.clone().text());
  assert.equal(down.headers.get('x-costrouter-route'), 'downgrade');
  assert.match(down.headers.get('x-costrouter-route-reason'), /downgraded to mistral-small \(then [^)]+\): budget 'search' has \$0\.0005 left, less than the \$0\.00\d+ the route asked for could cost/);
  assert.equal(down.headers.get('x-costrouter-model'), 'mistral-small-latest');
  assert.ok(Number(down.headers.get('x-costrouter-baseline-cost-usd')) > Number(down.headers.get('x-costrouter-cost-usd')));
  // The cheapest model's provider failing does not fail the downgraded request: the next
  // cheapest that fits the budget answers.
  r.upstream.script({ provider: 'openai', model: 'mistral-small-latest', response: { status: 500 } });
  const next = await r.chat({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi again' }] }, { key, headers: { 'x-costrouter-feature': 'search' } });
  assert.equal(next.status, 200, await next.clone().text());
  assert.equal(next.headers.get('x-costrouter-route'), 'downgrade');
  assert.notEqual(next.headers.get('x-costrouter-model'), 'mistral-small-latest', next.headers.get('x-costrouter-route-reason'));
  for (let i = 0; i < 1; i++) assert.equal((await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key })).status, 200);
  const limited = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal((await limited.json()).error.code, 'rate_limit_exceeded');
});

test('tokens a request used beyond what its admission counted count against the per-minute limit', async () => {
  const second = new Date().getUTCSeconds();
  if (second > 45) await new Promise((res) => setTimeout(res, (61 - second) * 1000));
  const key = await tenantWithKey('tokenco', [], { key_tpm: 2000 });
  // No max_tokens: admission counts the prompt alone (a few tokens); the answer is 1,500.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', times: 2, response: { text: 'ok', usage: { prompt_tokens: 30, completion_tokens: 1500 } } });
  const first = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'write a long essay' }] }, { key });
  assert.equal(first.status, 200, await first.clone().text());
  assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '2000');
  await first.arrayBuffer();
  // The ledger learns the answer's 1,530 tokens when the request finishes, after the response,
  // in the same call that adds it to the usage rollups: wait for those to show it.
  for (let i = 0; i < 100; i++) {
    const usage = await (await fetch(`${r.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json();
    if (usage.totals?.requests === 1) break;
    await new Promise((res) => setTimeout(res, 30));
  }
  const probe = await r.chat({ model: 'gpt-4o-mini', max_tokens: 600, messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(probe.status, 429, 'admitted with 1,530 of 2,000 tokens used and 600 more asked for');
  assert.match((await probe.json()).error.message, /key tokens per minute is 2000/);
  const wait = Number(probe.headers.get('retry-after'));
  assert.ok(wait >= 1 && wait <= 61, `the rest of the minute: ${wait}`);
  // The SDKs honour a wait of 59 s at most; past it they would retry at once into the same limit.
  assert.equal(probe.headers.get('x-should-retry'), wait > 59 ? 'false' : null);
  const small = await r.chat({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(small.status, 200, 'what is left of the minute can still be used');
  assert.ok(Number(small.headers.get('x-ratelimit-remaining-tokens')) < 470, small.headers.get('x-ratelimit-remaining-tokens'));
  // Larger by itself than the limit: no minute admits it, so the SDKs are told not to retry.
  const tooLarge = await r.chat({ model: 'gpt-4o-mini', max_tokens: 2500, messages: [{ role: 'user', content: 'hi' }] }, { key });
  const error = (await tooLarge.json()).error;
  assert.equal(tooLarge.status, 429);
  assert.equal(error.code, 'rate_limit_exceeded');
  assert.match(error.message, /key tokens per minute limit of 2000: it counts \d+ tokens .* Lower max_tokens/);
  assert.equal(tooLarge.headers.get('x-should-retry'), 'false');
  assert.equal(tooLarge.headers.get('retry-after'), null, 'no wait helps');
});

test('budgets out of range are refused with 400 naming the field, and change nothing', async () => {
  const key = await tenantWithKey('strictco', [{ id: 'monthly', scope: { kind: 'tenant' }, window: 'monthly', reset_day: 5, hard_limit: '10' }]);
  for (const [budget, needle] of [
    [{ id: 'monthly', scope: { kind: 'tenant' }, window: 'monthly', reset_day: 31, hard_limit: '5' }, /budgets\[0\]\.reset_day must be 1 to 28/],
    [{ id: 'w', scope: { kind: 'tenant' }, window: 'weekly', reset_day: 9, hard_limit: '5' }, /1 \(Monday\) to 7/],
    [{ id: 'm', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '5', soft_limit: '6' }, /soft_limit is above its hard_limit/],
    [{ id: 'k', scope: { kind: 'key', value: 'my-key' }, window: 'daily', hard_limit: '5' }, /key id/],
    [{ id: 'z', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '5', time_zone: 'Berlin' }, /budgets\[0\]\.time_zone 'Berlin' is no time zone of the tz database \(did you mean 'Europe\/Berlin'\?\)/],
  ]) {
    const resp = await admin('PUT', '/admin/tenants/strictco/budgets', { budgets: [budget] });
    const body = await resp.json();
    assert.equal(resp.status, 400, JSON.stringify(body));
    assert.equal(body.error.param, 'budgets');
    assert.match(body.error.message, needle);
  }
  const s = await state(key);
  assert.deepEqual(s.budgets.map((b) => [b.id, b.reset_day]), [['monthly', 5]], 'the budgets in force are unchanged');
});

test("a budget with a time_zone counts its days from that zone's midnight", async () => {
  const key = await tenantWithKey('laco', [{ id: 'la-day', scope: { kind: 'tenant' }, window: 'daily', time_zone: 'America/Los_Angeles', hard_limit: '100' }]);
  const resp = await r.chat({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(resp.status, 200);
  const s = await settledState(key);
  assert.equal(s.budgets[0].time_zone, 'America/Los_Angeles');
  const start = s.states['la-day'].window_start;
  const now = Date.now() / 1000;
  // Los Angeles' midnight is 07:00 or 08:00 UTC (summer, winter), never UTC's.
  assert.ok([7 * 3600, 8 * 3600].includes(start % 86400), `window_start ${start}`);
  assert.ok(start <= now && now < start + 25 * 3600, `window_start ${start}, now ${now}`);
  assert.ok(picos(s.states['la-day'].spent) > 0, 'the request counted');
});

test('spend crossing a soft limit records one alert per budget window, readable in GET /v1/budgets', async () => {
  const key = await tenantWithKey('alertco', [
    { id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '100', soft_limit: '0.0000001' },
    { id: 'quiet', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '100', soft_limit: '50' },
  ]);
  assert.deepEqual((await state(key)).alerts, [], 'no alert before any spend');
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const resp = await r.chat({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.equal(resp.status, 200);
    assert.match(resp.headers.get('x-costrouter-budget-warning'), /soft limit passed: daily$/, 'every request past the line is warned');
    ids.push(resp.headers.get('x-costrouter-request-id'));
  }
  // Raised when spend itself passes the line, as the requests settle (after their responses).
  let s;
  for (let i = 0; i < 100; i++) {
    s = await state(key);
    if (s.open_reservations === 0 && s.alerts.length > 0) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const { alerts } = s;
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  const [a] = alerts;
  assert.equal(a.kind, 'soft_limit');
  assert.equal(a.budget_id, 'daily');
  assert.ok(ids.includes(a.request_id), 'raised by the request whose cost crossed it');
  assert.equal(picos(a.soft_limit), picos('0.0000001'));
  assert.equal(picos(a.hard_limit), picos('100'));
  assert.ok(picos(a.spent) > picos(a.soft_limit), 'spend, not holds, passed it');
  assert.equal(a.resets_at - a.window_start, 86400);
});

test("a key's default tags attribute its requests; headers and body metadata override them", async () => {
  assert.equal((await admin('PUT', '/admin/tenants/tagco', { name: 'tagco' })).status, 200);
  const bad = await admin('POST', '/admin/keys', { tenant_id: 'tagco', name: 'x', tags: { team: 'has spaces' } });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'tags.team');
  assert.equal((await admin('POST', '/admin/keys', { tenant_id: 'tagco', name: 'x', tags: { squad: 'a' } })).status, 400, 'unknown tag names are refused');
  const created = await (await admin('POST', '/admin/keys', { tenant_id: 'tagco', name: 'search-svc', tags: { feature: 'search', team: 'growth', environment: 'prod' } })).json();
  assert.deepEqual(created.tags, { feature: 'search', team: 'growth', environment: 'prod', user: '' });
  const key = created.key;
  const ask = async (opts = {}, extra = {}) => {
    const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra }, { key, ...opts });
    assert.equal(resp.status, 200, await resp.clone().text());
    return (await r.eventFor(resp)).attribution;
  };
  assert.deepEqual(await ask(), { feature: 'search', team: 'growth', environment: 'prod', user: '' });
  assert.deepEqual(await ask({ headers: { 'x-costrouter-feature': 'checkout' } }, { user: 'u-7', metadata: { env: 'staging', team: 'core' } }),
    { feature: 'checkout', team: 'core', environment: 'staging', user: 'u-7' });
  // Free text OpenAI accepts in metadata is not a tag (the key's default stands), nor an error;
  // a malformed tag header is refused.
  assert.deepEqual(await ask({}, { metadata: { feature: 'not ok!', user: 'Jane Doe' } }), { feature: 'search', team: 'growth', environment: 'prod', user: '' });
  const badHeader = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key, headers: { 'x-costrouter-feature': 'not ok!' } });
  assert.equal(badHeader.status, 400);
  assert.equal((await badHeader.json()).error.param, 'x-costrouter-feature');
  const patched = await admin('PATCH', `/admin/keys/${created.key_id}`, { tags: { team: 'platform' } });
  assert.equal(patched.status, 200, await patched.clone().text());
  assert.deepEqual(await ask(), { feature: '', team: 'platform', environment: '', user: '' }, 'new defaults apply at once on this isolate');
  const listed = await (await admin('GET', '/admin/keys?tenant_id=tagco')).json();
  assert.equal(listed.data.find((k) => k.key_id === created.key_id).tags.team, 'platform');
});

test('a tenant reads only its own budgets', async () => {
  const key = await tenantWithKey('ownco', [{ id: 'mine', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '1' }]);
  const s = await state(key);
  assert.deepEqual(s.budgets.map((b) => b.id), ['mine']);
  const bad = await admin('PUT', '/admin/tenants/ownco/budgets', { budgets: [{ id: 'x', scope: { kind: 'tenant' }, window: 'hourly', hard_limit: '1' }] });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /window/);
});

test('GET /v1/usage reports spend, savings and tokens by tag from the rollups, per tenant', async () => {
  const key = await tenantWithKey('usageco', []);
  const other = await tenantWithKey('otherco', []);
  r.upstream.reset();
  const sent = [];
  for (const [feature, model] of [['search', 'gpt-4o-mini'], ['search', 'gpt-4o-mini'], ['chat', 'claude-haiku-4-5']]) {
    const resp = await r.chat({ model, messages: [{ role: 'user', content: 'hello usage' }] }, { key, headers: { 'x-costrouter-feature': feature } });
    assert.equal(resp.status, 200);
    sent.push({ feature, cost: picos(resp.headers.get('x-costrouter-cost-usd')), tokens: (await resp.json()).usage.prompt_tokens });
  }
  const refused = await r.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { key, headers: { 'x-costrouter-feature': 'search' } });
  assert.equal(refused.status, 404);
  const get = async (k, q) => (await fetch(`${r.url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${k}` } })).json();
  let report;
  for (let i = 0; i < 50; i++) {
    report = await get(key, 'group_by=feature');
    if (report.totals?.requests === 4) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(report.totals.requests, 4, JSON.stringify(report));
  assert.equal(report.totals.errors, 1);
  const search = report.data.find((d) => d.feature === 'search');
  assert.equal(search.requests, 3);
  const expectSearch = sent.filter((s) => s.feature === 'search').reduce((a, s) => a + s.cost, 0);
  // Rollups keep nanodollars: each request rounds by at most half a nanodollar.
  assert.ok(Math.abs(picos(search.cost_usd) - expectSearch) <= 2 * 500, `${search.cost_usd} vs ${expectSearch}`);
  assert.equal(picos(report.totals.savings_usd), 0, 'served the model asked for: no savings');
  const byModel = await get(key, 'group_by=model&granularity=day');
  assert.deepEqual(byModel.data.map((d) => d.model).sort(), ['claude-haiku-4-5', 'gpt-4o-mini', 'no-such-model']);
  assert.equal((await get(other, 'group_by=feature')).totals.requests, 0, 'another tenant sees none of it');
  const bad = await fetch(`${r.url}/v1/usage?group_by=model;drop`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'group_by');
  // A day the month lacks (the runtime's parser would roll it over) and times past the span
  // reports cover are 400s naming the parameter, not a 200 over another range.
  for (const [q, param] of [['to=2026-02-30', 'to'], ['from=-9223372036854775808', 'from'], ['from=2026-04-31T00:00:00Z', 'from'], ['to=99999999999', 'to']]) {
    const resp = await fetch(`${r.url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(resp.status, 400, q);
    assert.equal((await resp.json()).error.param, param, q);
  }
});

/** A tenant's ledger, with a real request's cost event filed into it as if sent at given times. */
async function ledgerWithEventsAt(tenant) {
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'filed in the past' }] });
  assert.equal(resp.status, 200, await resp.clone().text());
  const event = await r.eventFor(resp);
  const ns = await r.mf.getDurableObjectNamespace('LEDGER');
  const ledger = ns.get(ns.idFromName(tenant));
  return async (...times) => {
    for (const then of times) {
      const finish = await ledger.fetch('https://ledger/finish', { method: 'POST', body: JSON.stringify({ items: [{ request_id: `at-${then}`, key_id: 'key_filed', event }], now: then }) });
      assert.equal(finish.status, 200, await finish.clone().text());
    }
  };
}

test("GET /v1/usage with a time_zone counts that zone's days, 25 hours on the day its clocks go back", async () => {
  const la = await tenantWithKey('zoneusage-la', []);
  const kolkata = await tenantWithKey('zoneusage-in', []);
  const [h, day] = [3600, 86_400];
  // The last first Sunday of November at least three days ago (within the rollups' 400 days):
  // Los Angeles goes back from -7 to -8 hours at 09:00 UTC that day.
  const now = Date.now() / 1000;
  let sunday;
  for (let year = new Date().getUTCFullYear(); !sunday; year--) {
    const nov1 = Date.UTC(year, 10, 1) / 1000;
    const candidate = nov1 + ((7 - new Date(nov1 * 1000).getUTCDay()) % 7) * day;
    if (candidate + 3 * day < now) sunday = candidate;
  }
  const date = (t) => new Date(t * 1000).toISOString().slice(0, 10);
  await (await ledgerWithEventsAt('zoneusage-la'))(
    sunday - day + 6.5 * h, // Friday 23:30 there
    sunday - day + 7.5 * h, // Saturday 00:30
    sunday + 7.5 * h, // Sunday 00:30, summer time
    sunday + day + 7.5 * h, // Sunday 23:30, winter time
    sunday + day + 8.5 * h, // Monday 00:30
  );
  const report = async (key, q) => {
    const resp = await fetch(`${r.url}/v1/usage?${q.includes('granularity=') ? '' : 'granularity=day&'}${q}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(resp.status, 200, await resp.clone().text());
    return resp.json();
  };
  const days = (rep) => rep.data.map((d) => [d.start, d.requests]);
  const local = await report(la, `from=${date(sunday - day)}&to=${date(sunday + 2 * day)}&time_zone=America/Los_Angeles`);
  assert.equal(local.time_zone, 'America/Los_Angeles');
  assert.deepEqual([local.from, local.to], [sunday - day + 7 * h, sunday + 2 * day + 8 * h], 'from and to are its midnights');
  assert.deepEqual(days(local), [[sunday - day + 7 * h, 1], [sunday + 7 * h, 2], [sunday + day + 8 * h, 1]]);
  assert.equal(local.totals.requests, 4);
  // The same dates in UTC (no time_zone): UTC's days, each holding other requests.
  const utc = await report(la, `from=${date(sunday - day)}&to=${date(sunday + 2 * day)}`);
  assert.equal(utc.time_zone, 'UTC');
  assert.deepEqual(days(utc), [[sunday - day, 2], [sunday, 1], [sunday + day, 2]]);
  // Weeks from Monday and calendar months, counted there and in UTC.
  const weeks = await report(la, `from=${date(sunday - 6 * day)}&to=${date(sunday + 2 * day)}&time_zone=America/Los_Angeles&granularity=week`);
  assert.deepEqual(days(weeks), [[sunday - 6 * day + 7 * h, 4], [sunday + day + 8 * h, 1]]);
  const utcWeeks = await report(la, `from=${date(sunday - 6 * day)}&to=${date(sunday + 2 * day)}&granularity=week`);
  assert.deepEqual(days(utcWeeks), [[sunday - 6 * day, 3], [sunday + day, 2]]);
  // Weeks from Sunday, there and in UTC: the first dated by its Sunday, before the range starts.
  const sundayWeeks = await report(la, `from=${date(sunday - 6 * day)}&to=${date(sunday + 2 * day)}&time_zone=America/Los_Angeles&granularity=week&week_start=sunday`);
  assert.deepEqual([days(sundayWeeks), sundayWeeks.week_start], [[[sunday - 7 * day + 7 * h, 2], [sunday + 7 * h, 3]], 'sunday']);
  const utcSundayWeeks = await report(la, `from=${date(sunday - 6 * day)}&to=${date(sunday + 2 * day)}&granularity=week&week_start=Sunday`);
  assert.deepEqual(days(utcSundayWeeks), [[sunday - 7 * day, 2], [sunday, 3]]);
  assert.equal(weeks.week_start, 'monday', 'the default, said');
  for (const q of ['granularity=day&week_start=sunday', 'granularity=week&week_start=sun']) {
    const refused = await fetch(`${r.url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${la}` } });
    assert.equal(refused.status, 400, q);
    assert.equal((await refused.json()).error.param, 'week_start', q);
  }
  // The 1st's midnight there, in summer time (the clocks go back on the first Sunday at 02:00).
  const monthStart = (t) => { const d = new Date(t * 1000); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000 + 7 * h; };
  const wantMonths = new Map();
  for (const localDate of [sunday - day, sunday, sunday, sunday + day]) wantMonths.set(monthStart(localDate), (wantMonths.get(monthStart(localDate)) ?? 0) + 1);
  const months = await report(la, `from=${date(sunday - day)}&to=${date(sunday + 2 * day)}&time_zone=America/Los_Angeles&granularity=month`);
  assert.deepEqual(days(months), [...wantMonths], 'each month dated by its 1st, though the range starts later');
  assert.equal(months.granularity, 'month');
  // A date-time without an offset is read on the zone's clock too; with one, as it says.
  const morning = await report(la, `from=${date(sunday)}T00:00&to=${date(sunday)}T01:00:00&time_zone=America/Los_Angeles`);
  assert.deepEqual([morning.from, morning.totals.requests], [sunday + 7 * h, 1]);
  const offset = await report(la, `from=${date(sunday)}T00:00:00Z&to=${date(sunday)}T08:00:00Z&time_zone=America/Los_Angeles`);
  assert.deepEqual([offset.from, offset.totals.requests], [sunday, 1]);
  // Python's isoformat() with microseconds is on the zone's clock as well; a form the router does
  // not read there (the runtime's parser would take it as UTC's) is refused, not read 7 hours off.
  const fraction = await report(la, `from=${date(sunday)}T00:00:00.000123&to=${date(sunday)}T01:00:00.5&time_zone=America/Los_Angeles`);
  assert.deepEqual([fraction.from, fraction.totals.requests], [sunday + 7 * h, 1]);
  for (const q of [`from=${date(sunday).slice(0, 7)}&time_zone=America/Los_Angeles`, 'from=Sun, 01 Nov 2026 09:30:00 GMT&time_zone=America/Los_Angeles']) {
    const refused = await fetch(`${r.url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${la}` } });
    assert.equal(refused.status, 400, q);
    assert.equal((await refused.json()).error.param, 'from', q);
  }
  // Offsets of hours alone or without a colon, which the runtime's parser refuses, are read.
  const offsets = await report(la, `from=${date(sunday)}T00:00-07&to=${encodeURIComponent(`${date(sunday)}T01:00:00-0700`)}`);
  assert.deepEqual([offsets.from, offsets.to, offsets.totals.requests], [sunday + 7 * h, sunday + 8 * h, 1]);

  // Kolkata's midnight is 18:30 UTC: the day holds the hours that begin in it, from 19:00 UTC,
  // so the hour its next midnight falls in (23:30-00:30 there) is the day's last.
  await (await ledgerWithEventsAt('zoneusage-in'))(sunday - day + 18 * h + 600, sunday - day + 19 * h + 600, sunday + 18 * h + 3000);
  const india = await report(kolkata, `from=${date(sunday)}&to=${date(sunday + day)}&time_zone=Asia/Kolkata`);
  assert.deepEqual([india.from, india.to], [sunday - day + 19 * h, sunday + 19 * h], 'rounded up to the hours that begin in the day');
  assert.deepEqual(days(india), [[sunday - day + 18.5 * h, 2]], 'one row, dated by its midnight');

  for (const [path, zone] of [['/v1/usage', 'america/los_angeles'], ['/v1/forecast', 'Mars/Olympus']]) {
    const resp = await fetch(`${r.url}${path}?time_zone=${zone}`, { headers: { authorization: `Bearer ${la}` } });
    assert.equal(resp.status, 400, path);
    const { error } = await resp.json();
    assert.equal(error.param, 'time_zone');
    assert.match(error.message, /no time zone of the tz database/);
    if (path === '/v1/usage') assert.match(error.message, /did you mean 'America\/Los_Angeles'/);
  }
});

test("GET /v1/forecast with a time_zone projects that zone's month from its days", async () => {
  const key = await tenantWithKey('zoneforecastco', []);
  const get = async (q) => (await fetch(`${r.url}/v1/forecast?${q}`, { headers: { authorization: `Bearer ${key}` } })).json();
  const empty = await get('time_zone=America/Los_Angeles');
  assert.equal(empty.time_zone, 'America/Los_Angeles');
  const clock = (t) => new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', day: 'numeric', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).format(new Date(t * 1000));
  assert.equal(clock(empty.month_start), '1, 00:00', `month_start ${empty.month_start} is the 1st's midnight there`);
  assert.equal(clock(empty.month_end), '1, 00:00');
  assert.equal(empty.daily[0].start, empty.month_start);
  assert.ok(empty.daily.every((d) => clock(d.start).endsWith(', 00:00')), JSON.stringify(empty.daily));
  const nowSecs = Math.floor(Date.now() / 1000);
  // Half an hour before the month began there (last month's), and half an hour after.
  const times = [empty.month_start - 1800, ...(nowSecs > empty.month_start + 1800 ? [empty.month_start + 1800] : [])];
  await (await ledgerWithEventsAt('zoneforecastco'))(...times);
  const f = await get('time_zone=America/Los_Angeles');
  const usage = await (await fetch(`${r.url}/v1/usage?from=${empty.month_start}&to=${nowSecs + 3600}&time_zone=America/Los_Angeles`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(usage.totals.requests, times.length - 1, 'only the request after the month began');
  assert.equal(f.spent_usd, usage.totals.cost_usd);
  assert.equal(f.daily[0].cost_usd, usage.totals.cost_usd);
});

test('an hour of usage names at most 1,000 end users and features; later ones are summed under (other users) and (other features)', async () => {
  const key = await tenantWithKey('manyusersco', []);
  // Refused requests (an unknown model) are rolled up like any: quick, and no upstream call.
  // Each request has a user and a feature of its own, so both columns pass the bound together.
  const send = (i) => r.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { key, headers: { 'x-costrouter-user': `end-user-${i}`, 'x-costrouter-feature': `feature-${i}` } })
    .then((resp) => { assert.equal(resp.status, 404); return resp.arrayBuffer(); });
  const users = 1_005;
  for (let i = 0; i < users; i += 25) await Promise.all(Array.from({ length: Math.min(25, users - i) }, (_, k) => send(i + k)));
  let report;
  for (let i = 0; i < 100; i++) {
    report = await (await fetch(`${r.url}/v1/usage?group_by=user&granularity=hour`, { headers: { authorization: `Bearer ${key}` } })).json();
    if (report.totals?.requests === users) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(report.totals.requests, users, 'totals stay whole');
  const hours = new Set(report.data.map((d) => d.start));
  for (const hour of hours) {
    const rows = report.data.filter((d) => d.start === hour);
    assert.ok(rows.filter((d) => d.user !== '(other users)').length <= 1_000, 'at most 1,000 users named in an hour');
  }
  // Unless the hour turned during the test, 1,000 are named and the last five summed.
  if (hours.size === 1) assert.equal(report.data.find((d) => d.user === '(other users)')?.requests, users - 1_000);
  // A report held to one user says that the range has requests it cannot tell apart.
  const forUser = await (await fetch(`${r.url}/v1/usage?user=end-user-3`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(forUser.totals.requests, 1);
  if (hours.size === 1) {
    assert.equal(forUser.other_users.requests, users - 1_000, JSON.stringify(forUser));
    assert.match(forUser.other_users.note, /summed under '\(other users\)'/);
  }
  const forecast = await (await fetch(`${r.url}/v1/forecast?user=end-user-3`, { headers: { authorization: `Bearer ${key}` } })).json();
  if (hours.size === 1) assert.equal(forecast.other_users.requests, users - 1_000);
  assert.equal(forUser.other_features, undefined, 'no feature note without a feature filter');
  // So does one held to a feature (and a forecast), about the features summed apart.
  for (const path of ['/v1/usage', '/v1/forecast']) {
    const forFeature = await (await fetch(`${r.url}${path}?feature=feature-3`, { headers: { authorization: `Bearer ${key}` } })).json();
    assert.equal(forFeature.other_users ?? undefined, undefined, path);
    if (hours.size === 1) {
      assert.equal(forFeature.other_features?.requests, users - 1_000, `${path}: ${JSON.stringify(forFeature)}`);
      assert.match(forFeature.other_features.note, /summed under '\(other features\)'/);
    }
  }
  const unfiltered = await (await fetch(`${r.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(unfiltered.other_users, undefined, 'no note without a user filter');
  assert.equal(unfiltered.other_features, undefined, 'no note without a feature filter');
  // A key locked to that user reads its slice only: told that some requests are filed apart,
  // not how many (other users' traffic).
  const locked = await (await admin('POST', '/admin/keys', { tenant_id: 'manyusersco', name: 'one user', tags: { user: 'end-user-3' }, lock_tags: true })).json();
  for (const path of ['/v1/usage', '/v1/forecast']) {
    const own = await (await fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${locked.key}` } })).json();
    if (path === '/v1/usage') assert.equal(own.totals.requests, 1, JSON.stringify(own));
    if (hours.size === 1) {
      assert.match(own.other_users.note, /summed under '\(other users\)'/, path);
      assert.equal(own.other_users.requests, undefined, `${path}: ${JSON.stringify(own.other_users)}`);
    }
  }
});

test('embeddings are held to budgets and per-minute limits like chat, and their spend is settled', async () => {
  const second = new Date().getUTCSeconds();
  if (second > 50) await new Promise((res) => setTimeout(res, (61 - second) * 1000));
  const key = await tenantWithKey('embedco', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '0.001' }], { key_rpm: 3 });
  r.upstream.reset();
  const embed = (input) => fetch(`${r.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', input }),
  });
  const ok = await embed('a short text to embed');
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(ok.headers.get('x-ratelimit-remaining-requests'), '2');
  const cost = picos(ok.headers.get('x-costrouter-cost-usd'));
  assert.ok(cost > 0);
  await ok.arrayBuffer();
  const s = await settledState(key);
  assert.equal(picos(s.states.month.spent), cost, 'the embedding is charged to the budget');
  assert.equal(picos(s.states.month.reserved), 0);
  // 60,000 bytes could be 60,000 tokens: $0.0012 at 0.02 per million, past the $0.001 budget.
  const tooDear = await embed('x'.repeat(60_000));
  assert.equal(tooDear.status, 429, await tooDear.clone().text());
  assert.equal((await tooDear.json()).error.code, 'budget_exceeded');
  assert.equal(r.upstream.requests().filter((q) => q.path.endsWith('/embeddings')).length, 1, 'a refused request calls no provider');
  const third = await embed('another short text');
  assert.equal(third.status, 200);
  await third.arrayBuffer();
  // The refused one, sent nowhere, did not count: a third is admitted under key_rpm 3.
  const fourth = await embed('a third that was sent');
  assert.equal(fourth.status, 200, await fourth.clone().text());
  await fourth.arrayBuffer();
  const limited = await embed('one too many this minute');
  assert.equal(limited.status, 429);
  assert.equal((await limited.json()).error.code, 'rate_limit_exceeded');
});

test("a tenant's failed report call is not a cost event; a failed model call is", async () => {
  const key = await tenantWithKey('reportco', []);
  const bad = await fetch(`${r.url}/v1/usage?granularity=fortnight`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(bad.status, 400, await bad.clone().text());
  const badId = bad.headers.get('x-costrouter-request-id');
  const noModel = await r.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }, { key });
  assert.equal(noModel.status, 404);
  const noModelId = noModel.headers.get('x-costrouter-request-id');
  assert.ok(await r.eventFor(noModelId), 'the failed chat request is an event');
  assert.ok(badId && !r.events.some((e) => e.request_id === badId), 'the failed report call is not');
});

test('a budgets PUT without budgets keeps them and their spend; without limits, keeps the limits', async () => {
  const key = await tenantWithKey('keepco', [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }], { key_rpm: 50 });
  r.upstream.reset();
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'spend a little' }] }, { key });
  assert.equal(resp.status, 200);
  await resp.arrayBuffer();
  const spent = picos((await settledState(key)).states.month.spent);
  assert.ok(spent > 0);
  // Only the limits: the budget stays, with what it has spent this window.
  assert.equal((await admin('PUT', '/admin/tenants/keepco/budgets', { limits: { key_rpm: 60 } })).status, 200);
  let s = await state(key);
  assert.deepEqual(s.budgets.map((b) => b.id), ['month']);
  assert.equal(picos(s.states.month.spent), spent);
  assert.equal(s.limits.key_rpm, 60);
  // Only the budgets: the limits stay; an empty list clears the budgets.
  assert.equal((await admin('PUT', '/admin/tenants/keepco/budgets', { budgets: [] })).status, 200);
  s = await state(key);
  assert.deepEqual(s.budgets, []);
  assert.equal(s.limits.key_rpm, 60);
});

test('a /finish batch sent again is applied once, also after the ledger has forgotten it in memory', async () => {
  // Straight to the tenant's Durable Object, as the worker's finish queue sends (spend::finish):
  // the worker sends a batch again when its call failed, and the ledger may have applied it.
  await tenantWithKey('resendco', [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '100' }]);
  const ns = await r.mf.getDurableObjectNamespace('LEDGER');
  const ledger = ns.get(ns.idFromName('resendco'));
  const now = Math.floor(Date.now() / 1000);
  const item = (id) => ({ request_id: id, key_id: 'key_resend', actual: 1_000_000_000 }); // picodollars: $0.001
  const finish = async (ids) => {
    const resp = await ledger.fetch('https://ledger/finish', { method: 'POST', body: JSON.stringify({ items: ids.map(item), now }) });
    assert.equal(resp.status, 200, await resp.clone().text());
    return (await resp.json()).finished;
  };
  const spent = async () => picos((await (await ledger.fetch('https://ledger/state')).json()).states.daily.spent);
  assert.equal(await finish(['r-1', 'r-2', 'r-3']), 3);
  assert.equal(await finish(['r-1', 'r-2', 'r-3', 'r-4']), 1, 'only the new one is applied');
  assert.equal(await spent(), picos('0.004'));
  // More requests than the ledger remembers in memory (RecentIds::KEPT, 4096): r-1 is then only
  // in the finished_requests table, which must still recognise it.
  const many = Array.from({ length: 4200 }, (_, i) => `bulk-${i}`);
  assert.equal(await finish(many), 4200);
  assert.equal(await finish(['r-1', 'r-5', 'bulk-7']), 1, 'r-1 (table) and bulk-7 (memory) were applied already');
  assert.equal(await spent(), picos('4.205'));
});

test('usage rows past their 400 days are dropped by an alarm, without waiting for the tenant to send more', async () => {
  // A real request's cost event, filed straight into two ledgers of no traffic as if sent 399
  // and 401 days ago (at a time that is no multiple of 97 s, when a batch drops old rows itself).
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'retention' }] });
  assert.equal(resp.status, 200, await resp.clone().text());
  const event = await r.eventFor(resp);
  const ns = await r.mf.getDurableObjectNamespace('LEDGER');
  const day = 86_400;
  const filed = async (name, daysAgo) => {
    const ledger = ns.get(ns.idFromName(name));
    let then = Math.floor(Date.now() / 1000) - daysAgo * day;
    if (then % 97 === 0) then += 1;
    const finish = await ledger.fetch('https://ledger/finish', { method: 'POST', body: JSON.stringify({ items: [{ request_id: `old-${name}`, key_id: 'key_old', event }], now: then }) });
    assert.equal(finish.status, 200, await finish.clone().text());
    return async () => {
      const usage = await ledger.fetch('https://ledger/usage', { method: 'POST', body: JSON.stringify({ from: then - 7200, to: then + 7200 }) });
      assert.equal(usage.status, 200);
      return (await usage.json()).rows.reduce((n, row) => n + row.requests, 0);
    };
  };
  const kept = await filed('retention-399', 399);
  const expired = await filed('retention-401', 401);
  const start = Date.now();
  while ((await expired()) !== 0) {
    assert.ok(Date.now() - start < 5000, 'the expired row is still stored 5 s later');
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(await kept(), 1, 'a row inside its 400 days is kept (and the event was filed)');
});

// A ledger's storage on disk, for the tests that restart it: Miniflare keeps one SQLite file per
// object (named by a hash, beside metadata.sqlite). Read and written with Python's sqlite3 while no
// router runs: what the ledger stored, and what older code would have stored. The stored value
// (key `ledger`) is in V8's serialization format, which Node's `v8` module reads and writes.
const ledgerFile = (dir) => {
  const objects = path.join(dir, '-Ledger');
  const files = readdirSync(objects).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  assert.equal(files.length, 1, `one ledger's storage in ${objects}: ${files}`);
  return path.join(objects, files[0]);
};
const python = (script, ...args) => execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
const storedRows = (file) =>
  JSON.parse(python('import sqlite3, sys, json\nc = sqlite3.connect(sys.argv[1])\nprint(json.dumps([r[0] for r in c.execute("SELECT request_id FROM reservations ORDER BY 1")]))', file));
const storedValue = (file) =>
  v8.deserialize(Buffer.from(python('import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nsys.stdout.write(bytes(c.execute("SELECT value FROM _cf_KV WHERE key = \'ledger\'").fetchone()[0]).hex())', file), 'hex'));
const storeValue = (file, value) =>
  python('import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute("UPDATE _cf_KV SET value = ? WHERE key = \'ledger\'", (bytes.fromhex(sys.argv[2]),))\nc.commit()\nc.close()', file, v8.serialize(value).toString('hex'));

/** A router whose Durable Objects keep their storage in `dir`, and calls to one tenant's ledger. */
async function persistentLedger(dir, tenant) {
  const router = await startRouter({ miniflare: { durableObjectsPersist: dir } });
  const ns = await router.mf.getDurableObjectNamespace('LEDGER');
  const ledger = ns.get(ns.idFromName(tenant));
  const call = async (op, body) => {
    const resp = await ledger.fetch(`https://ledger/${op}`, body ? { method: 'POST', body: JSON.stringify(body) } : {});
    assert.equal(resp.status, 200, await resp.clone().text());
    return resp.json();
  };
  const now = Math.floor(Date.now() / 1000);
  // Amounts in picodollars, as the worker sends them.
  return {
    close: () => router.close(),
    call,
    now,
    admit: (id, usd) => call('admit', { request_id: id, amount: picos(usd), key_id: 'key_restart', tokens: 10, now }),
    finish: (...settled) => call('finish', { items: settled.map(([id, usd]) => ({ request_id: id, key_id: 'key_restart', actual: picos(usd) })), now }),
  };
}

test('reservations are stored a row each: they hold across a restart of the ledger and settle after it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'costrouter-ledger-'));
  try {
    const first = await persistentLedger(dir, 'restartco');
    try {
      assert.deepEqual(await first.call('config', { budgets: [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '10' }] }), { ok: true });
      for (const [id, usd] of [['r-1', '1'], ['r-2', '2'], ['r-3', '3']]) assert.equal((await first.admit(id, usd)).ok, true);
      await first.finish(['r-2', '0.5']);
    } finally {
      await first.close();
    }
    const file = ledgerFile(dir);
    assert.deepEqual(storedRows(file), ['r-1', 'r-3'], 'a row per open reservation');
    assert.equal(storedValue(file).reservations.size, 0, 'none inside the stored value');
    const second = await persistentLedger(dir, 'restartco');
    try {
      const state = await second.call('state');
      assert.equal(state.open_reservations, 2, 'r-1 and r-3 still hold');
      assert.equal(picos(state.states.daily.reserved), picos('4'));
      assert.equal(picos(state.states.daily.spent), picos('0.5'));
      // The money they hold still counts against the limit: 0.5 spent + 4 held + 6 > 10.
      assert.equal((await second.admit('r-4', '6')).ok, false);
      await second.finish(['r-1', '1'], ['r-3', '2']);
      const settled = await second.call('state');
      assert.equal(settled.open_reservations, 0);
      assert.equal(picos(settled.states.daily.spent), picos('3.5'));
    } finally {
      await second.close();
    }
    assert.deepEqual(storedRows(ledgerFile(dir)), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a ledger stored with its reservations inside (before they had rows) loads them and gives them rows', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'costrouter-ledger-'));
  try {
    const first = await persistentLedger(dir, 'oldco');
    try {
      await first.call('config', { budgets: [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '10' }] });
      assert.equal((await first.admit('new-1', '1')).ok, true);
    } finally {
      await first.close();
    }
    // As the code before rows stored it: the reservation inside the value (a Map, as
    // serde-wasm-bindgen writes one). The budget's state says $7 held, which no reservation
    // holds (settled by code that kept them elsewhere): what is held is counted again on load.
    const file = ledgerFile(dir);
    const value = storedValue(file);
    value.reservations.set('old-1', { budgets: ['daily'], amount: picos('2'), expires_at: first.now + 900 });
    value.states.get('daily').reserved = '7';
    storeValue(file, value);
    const second = await persistentLedger(dir, 'oldco');
    try {
      const state = await second.call('state');
      assert.equal(state.open_reservations, 2, 'old-1 from inside the value, new-1 from its row');
      assert.equal(picos(state.states.daily.reserved), picos('3'), 'held: new-1 $1 and old-1 $2');
      assert.equal((await second.call('renew', { request_id: 'new-1', now: second.now })).renewed, true, 'any change moves old-1 to a row');
    } finally {
      await second.close();
    }
    assert.deepEqual(storedRows(file), ['new-1', 'old-1']);
    assert.equal(storedValue(file).reservations.size, 0);
    const third = await persistentLedger(dir, 'oldco');
    try {
      await third.finish(['old-1', '1.5']);
      const state = await third.call('state');
      assert.equal(state.open_reservations, 1);
      assert.equal(picos(state.states.daily.reserved), picos('1'));
      assert.equal(picos(state.states.daily.spent), picos('1.5'));
    } finally {
      await third.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A router of its own with these test variables, and a key of a tenant with this one budget. */
async function routerWithBudgetedTenant(extraBindings, tenant, budget) {
  const router = await startRouter({ extraBindings });
  const call = (method, p, body) =>
    fetch(`${router.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.equal((await call('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const key = (await (await call('POST', '/admin/keys', { tenant_id: tenant, name: 'test' })).json()).key;
  assert.equal((await call('PUT', `/admin/tenants/${tenant}/budgets`, { budgets: [budget] })).status, 200);
  return { router, key };
}

test('a /finish that fails midway stores nothing of itself: sent again, it is applied once, rollups included', async () => {
  // The ledger fails the first /finish after writing its rollups (TEST_LEDGER_FAIL): the
  // operation is one storage transaction, so those rows go with it, and the worker's retry
  // applies the batch whole. Without the transaction the retry would add the rollups twice.
  const { router, key } = await routerWithBudgetedTenant({ TEST_LEDGER_FAIL: '/finish:1' }, 'failco', { id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '10' });
  try {
    const resp = await router.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.equal(resp.status, 200);
    const cost = Number(resp.headers.get('x-costrouter-cost-usd'));
    assert.ok(cost > 0);
    const budgets = async () => (await fetch(`${router.url}/v1/budgets`, { headers: { authorization: `Bearer ${key}` } })).json();
    let settled;
    for (let i = 0; i < 100 && !(settled?.open_reservations === 0 && Number(settled.states.daily.spent) > 0); i++) {
      await new Promise((res) => setTimeout(res, 100));
      settled = await budgets();
    }
    assert.equal(settled.open_reservations, 0, 'settled by the retry');
    assert.equal(picos(settled.states.daily.spent), picos(cost));
    assert.ok(router.logs().some((l) => l.includes('nothing of the operation was stored')), 'the first attempt failed');
    const usage = await (await fetch(`${router.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json();
    assert.equal(usage.totals.requests, 1, `rolled up once: ${JSON.stringify(usage.totals)}`);
    // Rollups keep nanodollars.
    assert.ok(Math.abs(picos(usage.totals.cost_usd) - picos(cost)) <= 1000, `${usage.totals.cost_usd} vs ${cost}`);
  } finally {
    await router.close();
  }
});

test('a renewal that fails is tried again within a tenth of the interval, not a whole interval later', async () => {
  // Renewals every 400 ms, the ledger refusing the first five: tried again 40 ms after each
  // failure, all five are used up well within 1.5 s (at a whole interval apart, three would be).
  const { router, key } = await routerWithBudgetedTenant(
    { TEST_RESERVATION_RENEW_MS: '400', TEST_LEDGER_FAIL: '/renew:5' },
    'renewco',
    { id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' },
  );
  try {
    router.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { event_delay_ms: 250, text: 'once upon a time '.repeat(6) } });
    const resp = await router.chat({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] }, { key });
    assert.equal(resp.status, 200);
    const id = resp.headers.get('x-costrouter-request-id');
    const reader = resp.body.getReader();
    const until = Date.now() + 1500;
    while (Date.now() < until) assert.equal((await reader.read()).done, false, 'the scripted stream runs longer than this');
    const failed = router.logs().filter((l) => l.includes(`ledger renew failed for request ${id}`)).length;
    assert.equal(failed, 5, 'every refused renewal was tried again soon');
    while (!(await reader.read()).done);
  } finally {
    await router.close();
  }
});

/**
 * Three requests a budget refuses (`refused`: the request and its options), then, under key_rpm 2,
 * two untagged requests that fit are served and a third is rate limited: the refused ones were
 * taken back out of the minute.
 */
async function refusalsLeaveTheMinute(tenant, budget, refused) {
  // Start well inside a minute, so all the requests share it.
  const second = new Date().getUTCSeconds();
  if (second > 45) await new Promise((res) => setTimeout(res, (61 - second) * 1000));
  const key = await tenantWithKey(tenant, [budget], { key_rpm: 2 });
  for (let i = 0; i < 3; i++) {
    const resp = await r.chat(refused.body, { key, headers: refused.headers ?? {} });
    assert.equal(resp.status, 429, await resp.clone().text());
    const { error } = await resp.json();
    assert.equal(error.code, 'budget_exceeded');
    if (refused.message) assert.match(error.message, refused.message);
  }
  const small = { model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
  for (let i = 0; i < 2; i++) {
    const ok = await r.chat(small, { key });
    assert.equal(ok.status, 200, `request ${i}: ${await ok.clone().text()}`);
    await ok.arrayBuffer();
  }
  const third = await r.chat(small, { key });
  assert.equal(third.status, 429);
  assert.equal((await third.json()).error.code, 'rate_limit_exceeded', 'the limit still holds for what was sent');
}

test('a request a budget refuses does not use up the per-minute limit', async () => {
  // $0.001 a day: a gpt-4o request allowed 100,000 output tokens can never fit it; one allowed 10 can.
  await refusalsLeaveTheMinute('refusedco', { id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '0.001' },
    { body: { model: 'gpt-4o', max_tokens: 100_000, messages: [{ role: 'user', content: 'hi' }] } });
});

test('a request refused after its budget downgrade found nothing that fits does not use up the per-minute limit', async () => {
  // The search feature's budget downgrades, but a micro-dollar fits no model's worst case.
  await refusalsLeaveTheMinute('downco', { id: 'search', scope: { kind: 'feature', value: 'search' }, window: 'daily', hard_limit: '0.000001', on_hard_limit: 'downgrade' },
    { body: { model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, headers: { 'x-costrouter-feature': 'search' },
      // Tried on the cheapest model, which does not fit either: asking for a cheaper one is no advice.
      message: /^Even downgraded to mistral-small, the cheapest model that can take it, this request's most possible cost, \$[\d.]+ \(its prompt and output cap at that model's prices\), is more than the \$0\.000001 budget 'search' has left until .*\. Set a lower max_tokens\.$/ });
});

test('rows a ledger held from before its sweep, or whose alarm is later than they expire, are dropped once the ledger next runs', async () => {
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'quiet tenant' }] });
  assert.equal(resp.status, 200, await resp.clone().text());
  const event = await r.eventFor(resp);
  const dir = mkdtempSync(path.join(tmpdir(), 'costrouter-ledger-'));
  const hourRows = (file) => Number(python('import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(c.execute("SELECT COUNT(*) FROM usage_hourly_v2").fetchone()[0])', file));
  try {
    // Filed 399 days ago: kept, with the sweep set for when it expires, a day from now.
    const first = await persistentLedger(dir, 'quietco');
    const then = first.now - 399 * 86_400;
    try {
      await first.call('finish', { items: [{ request_id: 'quiet-1', key_id: 'key_quiet', event }], now: then });
    } finally {
      await first.close();
    }
    // Two days older while no router runs, as rows stored before the sweep existed: past their
    // 400 days, and the alarm still a day away.
    const file = ledgerFile(dir);
    python('import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute("UPDATE usage_hourly_v2 SET hour = hour - 172800")\nc.commit()\nc.close()', file);
    assert.equal(hourRows(file), 1);
    const second = await persistentLedger(dir, 'quietco');
    try {
      // Its first call (a report) finds the row past retention and has it swept.
      const requests = async () => (await second.call('usage', { from: then - 3 * 86_400, to: then + 86_400 })).rows.reduce((n, row) => n + row.requests, 0);
      const start = Date.now();
      while ((await requests()) !== 0) {
        assert.ok(Date.now() - start < 5000, 'the expired row is still stored 5 s later');
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
