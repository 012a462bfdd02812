// Savings recommendations through the real worker: traffic a cascade answers cheaply, next to
// the same kind of traffic sent straight to a dearer model, yields a priced recommendation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, KEYS } from './harness.mjs';

const POLICY = `
version = 1
name = "policyco"

[[rules]]
name = "triage"
when = { feature = ["triage"] }
route = { strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"] }

[[rules]]
name = "default"
route = { strategy = "requested" }
`;

let r;
before(async () => { r = await startRouter({ policies: { policyco: POLICY } }); });
after(async () => { await r?.close(); });

const get = async (path, key = KEYS.policyco) => fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
const ask = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Classify this support ticket: my invoice is wrong.' }] };

test('a cheap cascade answer for a class recommends it for the class traffic sent to a dear model', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', times: 50, response: { text: 'billing', usage: { prompt_tokens: 1000, completion_tokens: 20 } } });
  for (let i = 0; i < 25; i++) assert.equal((await r.chat(ask, { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'triage' } })).status, 200);
  for (let i = 0; i < 25; i++) assert.equal((await r.chat(ask, { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'inbox' } })).status, 200);
  // Rollups are written after the responses: wait until all 50 are in.
  for (let i = 0; i < 200; i++) {
    const u = await (await get('/v1/usage')).json();
    if (u.totals?.requests >= 50) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  const recs = await (await get('/v1/recommendations?days=7')).json();
  const rec = recs.data.find((d) => d.kind === 'cheaper_route');
  assert.ok(rec, JSON.stringify(recs));
  assert.match(rec.title, /^Start \S+ requests at gpt-4o-mini$/);
  assert.match(rec.detail, /answered 25 of 25/);
  // 25 direct gpt-4o answers: 1000 in at $2.50/M + 20 out at $10/M = $0.0027 each; at
  // gpt-4o-mini ($0.15 / $0.60): $0.000162. Saving 25 x $0.002538 on the one day the traffic
  // spans (of the 7 asked about), x 30.
  assert.equal(recs.window.observed_days, 1);
  const expected = 25 * (0.0027 - 0.000162) * 30;
  assert.ok(Math.abs(Number(rec.monthly_savings_usd) - expected) < 1e-9, `${rec.monthly_savings_usd} vs ${expected}`);
  assert.equal(recs.total_monthly_savings_usd, rec.monthly_savings_usd);
});

test('recommendations are the caller’s own, and bad parameters are refused clearly', async () => {
  const other = await (await get('/v1/recommendations', KEYS.globex)).json();
  assert.deepEqual(other.data, []);
  const bad = await get('/v1/recommendations?days=0');
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'days');
  assert.equal((await fetch(`${r.url}/v1/recommendations`)).status, 401);
});
