// Retired models through the real worker: a deployment whose `retires_on` has come is sent
// nothing (the model's other deployments and a rule's other candidates serve), and a model with
// no deployment left is answered as its provider would answer it, a 404 `model_not_found`, on
// every door, without a call. Days are relative to the clock (two days back, thirty ahead), so
// the test means the same whatever day it runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, testCatalog, KEYS } from './harness.mjs';

const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
const [GONE, COMING] = [day(-2), day(30)];

const POLICY = `
version = 1
name = "policyco"
[[rules]]
name = "cheap"
when = { feature = ["cheap"] }
route = { strategy = "fallback", candidates = ["gpt-4o", "claude-haiku-4-5"] }
[[rules]]
name = "default"
route = { strategy = "requested" }
`;

let r;
before(async () => {
  r = await startRouter({ policies: { policyco: POLICY } });
  const catalog = testCatalog(r.upstream.url);
  catalog.models['gpt-4o-mini'].deployments[0].retires_on = GONE; // OpenAI's gone, Azure's in a month
  catalog.models['gpt-4o-mini'].deployments[1].retires_on = COMING;
  catalog.models['gpt-4o'].deployments[0].retires_on = GONE;
  catalog.models['text-embedding-3-small'].deployments[0].retires_on = GONE;
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const ask = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Say hi' }], ...extra });
const calledFor = (model) => r.upstream.requests().filter((q) => q.body?.model === model || q.path.includes(`/${model}/`));

test('a retired deployment is passed over for the model\'s next one, and the reason says so', async () => {
  const resp = await r.chat(ask('gpt-4o-mini'));
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
  assert.equal(resp.headers.get('x-costrouter-route-reason'), `rule 'requested' (always): requested model gpt-4o-mini; skipped openai (retired ${GONE})`);
  assert.equal((await r.eventFor(resp)).provider, 'azure');
  assert.equal(r.upstream.requests().filter((q) => q.path.startsWith('/openai/') && q.body?.model === 'gpt-4o-mini').length, 0, 'OpenAI was not called');
});

test('a model with no deployment left is a 404 model_not_found on every door, by name or alias, with no call made', async () => {
  for (const [model, named] of [['gpt-4o', "'gpt-4o'"], ['gpt4o', "'gpt4o' (gpt-4o)"]]) {
    for (const stream of [false, true]) {
      const resp = await r.chat(ask(model, { stream }));
      assert.equal(resp.status, 404, model);
      assert.match(resp.headers.get('content-type'), /application\/json/);
      const body = await resp.json();
      assert.deepEqual(body.error, {
        message: `The model ${named} was retired on ${GONE}: its provider no longer serves it. GET /v1/models lists the models this key may use.`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      });
      const event = await r.eventFor(resp);
      assert.equal(event.status, 404);
    }
  }
  const responses = await r.chat({ model: 'gpt-4o', input: 'Say hi' }, { path: '/v1/responses' });
  assert.equal(responses.status, 404);
  assert.equal((await responses.json()).error.code, 'model_not_found');
  const messages = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': KEYS.acme, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'Say hi' }] }),
  });
  assert.equal(messages.status, 404);
  const refusal = await messages.json();
  assert.equal(refusal.type, 'error');
  assert.equal(refusal.error.type, 'not_found_error');
  assert.match(refusal.error.message, new RegExp(`^The model 'gpt-4o' was retired on ${GONE}:`));
  const embedding = await fetch(`${r.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEYS.acme}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }),
  });
  assert.equal(embedding.status, 404);
  assert.match((await embedding.json()).error.message, /^The model 'text-embedding-3-small' was retired on /);
  assert.equal(calledFor('gpt-4o').length + calledFor('text-embedding-3-small').length, 0, 'no provider was called');
});

test('a rule passes a retired candidate over for the next', async () => {
  const resp = await r.chat(ask('gpt-4o'), { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'cheap' } });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-model'), 'claude-haiku-4-5');
  assert.match(resp.headers.get('x-costrouter-route-reason'), new RegExp(`; skipped gpt-4o retired ${GONE}$`));
  await r.eventFor(resp);
});

test('/v1/models leaves a retired model and its aliases out, and shows when one still served goes', async () => {
  const list = await (await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  const ids = list.data.map((m) => m.id);
  for (const gone of ['gpt-4o', 'gpt4o', 'text-embedding-3-small']) assert.ok(!ids.includes(gone), `${gone} in ${ids}`);
  const mini = list.data.find((m) => m.id === 'gpt-4o-mini');
  assert.deepEqual(mini.costrouter.providers, ['azure']);
  assert.equal(mini.costrouter.retires_on, COMING);
  assert.equal(list.data.find((m) => m.id === 'claude-haiku-4-5').costrouter.retires_on, undefined, 'a model with no day has none');
  const one = await fetch(`${r.url}/v1/models/gpt4o`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(one.status, 404);
  assert.match((await one.json()).error.message, new RegExp(`^The model 'gpt4o' \\(gpt-4o\\) was retired on ${GONE}:`));
  const unknown = await fetch(`${r.url}/v1/models/gpt-9`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json()).error.message, /^The model 'gpt-9' does not exist/);
  // A tenant held to other models is not told what becomes of this one.
  const held = await fetch(`${r.url}/v1/models/gpt4o`, { headers: { authorization: `Bearer ${KEYS.restricted}` } });
  assert.equal(held.status, 404);
  assert.match((await held.json()).error.message, /^The model 'gpt4o' does not exist/);
});

test('/v1/deployments shows each deployment\'s day', async () => {
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  const of = (deployment) => list.data.find((d) => d.deployment === deployment);
  assert.equal(of('openai/gpt-4o-mini').retires_on, GONE);
  assert.equal(of('azure/mini-deploy').retires_on, COMING);
  assert.equal(of('anthropic/claude-haiku-4-5').retires_on, undefined);
});

test('recommendations tell a tenant what traffic goes to a model retiring within a quarter', async () => {
  for (let i = 0; i < 2; i++) assert.equal((await r.chat(ask('gpt-4o-mini'), { key: KEYS.globex })).status, 200);
  const get = async (path) => (await fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${KEYS.globex}` } })).json();
  // Rollups are written after the responses.
  for (let i = 0; i < 200 && (await get('/v1/usage')).totals?.requests < 2; i++) await new Promise((res) => setTimeout(res, 25));
  const recs = await get('/v1/recommendations?days=7');
  const retiring = recs.data.filter((d) => d.kind === 'model_retiring');
  assert.equal(retiring.length, 1, JSON.stringify(recs));
  assert.equal(retiring[0].title, `Move gpt-4o-mini traffic before ${COMING}`);
  assert.equal(retiring[0].evidence_requests, 2);
  assert.equal(retiring[0].monthly_savings_usd, '0');
  assert.match(retiring[0].detail, new RegExp(`^Its provider retires gpt-4o-mini on ${COMING}, in 30 days: it answered 2 requests in the window`));
  assert.equal(recs.data[0].kind, 'model_retiring', 'a change to make by a day comes first');
});
