// A provider call still waiting for its answer when the client has been gone a while: the
// runtime ends a request's waitUntil 30 s after its client left, so an answer arriving later
// would never be read, billed or settled. The router cancels such a call (after
// ABANDON_AFTER_CLIENT_LEFT_MS, 20 s by default, 1 s here) and charges its worst case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, ADMIN_TOKEN } from './harness.mjs';

let r;
// Local workerd never aborts request.signal, so the client's leaving is a timer here (a var only
// tests set): every request's client "leaves" 300 ms after it arrives.
before(async () => { r = await startRouter({ extraBindings: { ABANDON_AFTER_CLIENT_LEFT_MS: '1000', TEST_CLIENT_LEAVES_AFTER_MS: '300' } }); });
after(async () => { await r?.close(); });

const admin = (method, path, body) =>
  fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
const picos = (usd) => Math.round(Number(usd) * 1e12);

test('a whole answer still awaited after the client left is cancelled and charged its worst case', async () => {
  const tenant = 'goneco';
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: tenant, name: 'test' })).json()).key;
  const budgets = [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '5' }];
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}/budgets`, { budgets, limits: {} })).status, 200);
  // The provider would answer in 3 s: after the router gives up on it (1.3 s).
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'slow', delay_ms: 3000, usage: { prompt_tokens: 10, completion_tokens: 10 } } });
  const start = Date.now();
  const resp = await r.chat({ model: 'gpt-4o-mini', max_tokens: 1000, messages: [{ role: 'user', content: 'a question nobody waits for' }] }, { key });
  assert.equal(resp.status, 499, 'what a client still there would read');
  assert.equal((await resp.json()).error.code, 'client_closed');
  assert.ok(Date.now() - start < 4000, 'answered when abandoned, not when the provider answered');
  while (!r.events.some((e) => e.tenant === tenant)) {
    assert.ok(Date.now() - start < 5000, 'no cost event 5 s after the client left: the call was not abandoned');
    await new Promise((res) => setTimeout(res, 50));
  }
  await new Promise((res) => setTimeout(res, 300));
  const events = r.events.filter((e) => e.tenant === tenant);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].status, 499);
  assert.equal(events[0].error_code, 'client_closed');
  // Its reservation for gpt-4o-mini: the prompt's upper bound plus 1,000 output tokens.
  assert.ok(events[0].cost_usd >= 1000 * 0.6e-6, `charged at least its output cap: ${events[0].cost_usd}`);
  // At gpt-4o-mini's plain rates: the prompt's bound is far below 1,000 tokens.
  assert.ok(events[0].cost_usd <= 1000 * 0.6e-6 + 1000 * 0.15e-6, `charged at most its worst case: ${events[0].cost_usd}`);
  let s;
  for (let i = 0; i < 100; i++) {
    s = await (await fetch(`${r.url}/v1/budgets`, { headers: { authorization: `Bearer ${key}` } })).json();
    if (s.open_reservations === 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(s.open_reservations, 0);
  assert.equal(picos(s.states.month.spent), picos(events[0].cost_usd), 'settled at what the event records');
  // Past the time the provider would have answered: the cancelled call is not read, billed or
  // settled a second time.
  await new Promise((res) => setTimeout(res, Math.max(0, start + 3800 - Date.now())));
  assert.equal(r.events.filter((e) => e.tenant === tenant).length, 1);
  const after = await (await fetch(`${r.url}/v1/budgets`, { headers: { authorization: `Bearer ${key}` } })).json();
  assert.equal(picos(after.states.month.spent), picos(events[0].cost_usd));
  assert.equal(after.open_reservations, 0);
});

test('a refusal whose body was still coming when the call was cancelled is charged nothing', async () => {
  const tenant = 'gonerefused';
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: tenant, name: 'test' })).json()).key;
  // A 503's headers at once, its body never: the call is cancelled 1 s after the client left.
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'stalled_body', status: 503 } });
  const resp = await r.chat({ model: 'gpt-4o-mini', max_tokens: 1000, messages: [{ role: 'user', content: 'a refusal nobody waits for' }] }, { key });
  assert.equal(resp.status, 499);
  const err = (await resp.json()).error;
  assert.equal(err.code, 'client_closed');
  assert.match(err.message, /refusal was still being read: the call was cancelled, with nothing to charge/);
  const start = Date.now();
  while (!r.events.some((e) => e.tenant === tenant)) {
    assert.ok(Date.now() - start < 5000, 'no cost event');
    await new Promise((res) => setTimeout(res, 50));
  }
  const events = r.events.filter((e) => e.tenant === tenant);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].status, 499);
  assert.equal(events[0].cost_usd, 0);
});

test('a fallback is not called once the client has left', async () => {
  const tenant = 'gonefallback';
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: tenant, name: 'test' })).json()).key;
  // gpt-4o-mini's first deployment (openai) fails 600 ms in, after the client has left (300 ms);
  // its second (azure) would answer at once.
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { status: 500, delay_ms: 600 } });
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a fallback nobody waits for' }] }, { key });
  assert.equal(resp.status, 499, 'what a client still there would read');
  const err = (await resp.json()).error;
  assert.equal(err.code, 'client_closed');
  assert.match(err.message, /no further deployment was tried/);
  const start = Date.now();
  while (!r.events.some((e) => e.tenant === tenant)) {
    assert.ok(Date.now() - start < 5000, 'no cost event');
    await new Promise((res) => setTimeout(res, 50));
  }
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(r.upstream.requests().filter((q) => q.path.startsWith('/azure/')).length, 0, 'the fallback was called for nobody');
  assert.equal(r.upstream.requests().filter((q) => q.path.startsWith('/openai/')).length, 1);
  const events = r.events.filter((e) => e.tenant === tenant);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].status, 499);
  assert.equal(events[0].error_code, 'client_closed');
  assert.equal(events[0].cost_usd, 0, 'a failed call is not billed');
});

test('embeddings: a batch still awaited after the client left is cancelled and charged its estimate; a refusal still being read, nothing', async () => {
  const tenant = 'goneembed';
  assert.equal((await admin('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: tenant, name: 'test' })).json()).key;
  const embed = (input) => fetch(`${r.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', input }),
  });
  const eventOf = async (resp) => {
    const id = resp.headers.get('x-costrouter-request-id');
    const start = Date.now();
    while (!r.events.some((e) => e.request_id === id)) {
      assert.ok(Date.now() - start < 5000, 'no cost event');
      await new Promise((res) => setTimeout(res, 50));
    }
    return r.events.find((e) => e.request_id === id);
  };

  // The provider answers as scripted; the client has left: a 499 saying so, and its one event.
  const cancelled = async (response, input, said) => {
    r.upstream.reset();
    r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response });
    const resp = await embed(input);
    assert.equal(resp.status, 499);
    const err = (await resp.json()).error;
    assert.equal(err.code, 'client_closed');
    assert.match(err.message, said);
    const event = await eventOf(resp);
    assert.equal(event.status, 499);
    return event;
  };
  // The provider would answer in 3 s: after the router gives up on it. Its estimate: the
  // input's tokens at $0.02 per million.
  const billed = await cancelled({ fault: 'slow', delay_ms: 3000 }, 'a batch nobody waits for', /the call was cancelled and billed at its estimate/);
  assert.ok(billed.cost_usd > 0 && billed.cost_usd < 100 * 0.02e-6, JSON.stringify(billed));
  // A 503's headers at once, its body never: a refusal, which the provider does not bill.
  const unbilled = await cancelled({ fault: 'stalled_body', status: 503 }, 'a refusal nobody waits for', /had been refused, and nothing was billed for it/);
  assert.equal(unbilled.cost_usd, 0, JSON.stringify(unbilled));
});
