// Configuration in KV through the real worker: a change to the catalog or a policy reaches the
// isolate once its copy expires (CONFIG_TTL_SECS, shortened here), and a document that fails
// validation is rejected while the last valid one stays in use.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, KEYS, ADMIN_TOKEN } from './harness.mjs';

const TTL_SECS = 0.2;
const POLICY = `
version = 1
name = "acme"

[[rules]]
name = "hours"
when = { feature = ["hours"] }
respond = "Open 9-5."

[[rules]]
name = "default"
route = { strategy = "requested" }
`;

let r;
let config;
before(async () => {
  r = await startRouter({ extraBindings: { CONFIG_TTL_SECS: String(TTL_SECS) }, policies: { acme: POLICY } });
  config = await r.mf.getKVNamespace('CONFIG');
});
after(async () => { await r?.close(); });

const expire = () => new Promise((res) => setTimeout(res, TTL_SECS * 1000 + 150));
const hello = (model) => ({ model, messages: [{ role: 'user', content: 'hello' }] });
const models = async () => (await (await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json()).data.map((m) => m.id);

test('a catalog that fails validation is rejected and the last valid one stays in use; a valid change applies', async () => {
  const first = await r.chat(hello('gpt-4o-mini'));
  assert.equal(first.status, 200, await first.clone().text());
  await first.arrayBuffer();
  const valid = JSON.parse(await config.get('catalog'));

  // A model on a provider the catalog does not define.
  const broken = structuredClone(valid);
  broken.models['gpt-4o-mini'].deployments = [{ provider: 'no-such-provider', upstream_model: 'gpt-4o-mini' }];
  broken.aliases = { ...broken.aliases, 'only-in-the-broken-one': 'gpt-4o-mini' };
  await config.put('catalog', JSON.stringify(broken));
  await expire();
  const kept = await r.chat(hello('gpt-4o-mini'));
  assert.equal(kept.status, 200, await kept.clone().text());
  assert.equal(kept.headers.get('x-costrouter-provider'), 'openai', 'served by the last valid catalog');
  await kept.arrayBuffer();
  assert.ok(!(await models()).includes('only-in-the-broken-one'));
  assert.ok(r.logs().some((l) => l.includes('configuration in KV rejected')), 'the rejection is logged');

  // A valid change (a new alias) is picked up once the copy expires.
  const changed = structuredClone(valid);
  changed.aliases = { ...changed.aliases, 'config-test-alias': 'gpt-4o-mini' };
  await config.put('catalog', JSON.stringify(changed));
  await expire();
  assert.ok((await models()).includes('config-test-alias'));
  const viaAlias = await r.chat(hello('config-test-alias'));
  assert.equal(viaAlias.status, 200, await viaAlias.clone().text());
  assert.equal(viaAlias.headers.get('x-costrouter-route'), 'alias');
  await viaAlias.arrayBuffer();
});

test('a policy that becomes invalid keeps its last valid version; a valid change applies', async () => {
  const ask = () => r.chat(hello('gpt-4o-mini'), { headers: { 'x-costrouter-feature': 'hours' } });
  const answered = await ask();
  assert.equal((await answered.json()).choices[0].message.content, 'Open 9-5.');

  // Another answer, and a rule routing to a model the catalog lacks: the policy fails validation,
  // so the answer does not change.
  const invalid = POLICY.replace('Open 9-5.', 'Closed.').replace('route = { strategy = "requested" }', 'route = { strategy = "fallback", candidates = ["no-such-model"] }');
  await config.put('policy:acme', invalid);
  await expire();
  const kept = await ask();
  assert.equal(kept.status, 200, await kept.clone().text());
  assert.equal((await kept.json()).choices[0].message.content, 'Open 9-5.', 'the last valid policy still applies');
  assert.ok(r.logs().some((l) => l.includes('policy rejected') && l.includes('no-such-model')), 'the rejection is logged');

  await config.put('policy:acme', POLICY.replace('Open 9-5.', 'Open 8-6.'));
  await expire();
  assert.equal((await (await ask()).json()).choices[0].message.content, 'Open 8-6.');
});

test("a tenant's first policy failing validation is refused, not served by the default it had before", async () => {
  // globex has no policy of its own: the default routes it.
  const first = await r.chat(hello('gpt-4o-mini'), { key: KEYS.globex });
  assert.equal(first.status, 200, await first.clone().text());
  await first.arrayBuffer();
  await config.put('policy:globex', POLICY.replace('route = { strategy = "requested" }', 'route = { strategy = "fallback", candidates = ["no-such-model"] }'));
  await expire();
  const refused = await r.chat(hello('gpt-4o-mini'), { key: KEYS.globex });
  assert.equal(refused.status, 500, 'the default lacks whatever rules the broken policy holds');
  assert.equal((await refused.json()).error.code, 'router_misconfigured');
  await config.delete('policy:globex');
});

test('an isolate with no valid catalog yet answers 503 rather than route by the built-in one, until a valid one is pushed', async () => {
  const fresh = await startRouter();
  try {
    const kv = await fresh.mf.getKVNamespace('CONFIG');
    const valid = await kv.get('catalog');
    const broken = JSON.parse(valid);
    broken.models['gpt-4o-mini'].deployments = [{ provider: 'no-such-provider', upstream_model: 'gpt-4o-mini' }];
    await kv.put('catalog', JSON.stringify(broken));
    const refused = await fresh.chat(hello('gpt-4o-mini'));
    const body = await refused.json();
    assert.equal(refused.status, 503, JSON.stringify(body));
    assert.equal(body.error.code, 'configuration_unavailable');
    assert.equal(fresh.upstream.requests().length, 0, 'no provider called, the built-in catalog\'s least of all');
    assert.ok(fresh.logs().some((l) => l.includes('configuration in KV rejected, and no valid one yet')));
    await kv.put('catalog', valid);
    const served = await fresh.chat(hello('gpt-4o-mini'));
    assert.equal(served.status, 200, await served.clone().text());
    await served.arrayBuffer();
  } finally {
    await fresh.close();
  }
});

test('without a LEDGER binding chat is served, the ledger reports say why they cannot answer, and a tenant is deleted whole', async () => {
  const bare = await startRouter({ miniflare: { durableObjects: { SEMANTIC_CACHE: { className: 'SemanticCache', useSQLite: true } } } });
  try {
    const admin = (method, p, body) => fetch(`${bare.url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    assert.equal((await admin('PUT', '/admin/tenants/noledger', { name: 'noledger' })).status, 200);
    const key = (await (await admin('POST', '/admin/keys', { tenant_id: 'noledger', name: 't' })).json()).key;
    const chat = await bare.chat(hello('gpt-4o-mini'), { key });
    assert.equal(chat.status, 200, await chat.clone().text());
    await chat.arrayBuffer();
    const usage = await fetch(`${bare.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(usage.status, 500);
    assert.equal((await usage.json()).error.code, 'router_misconfigured');
    const deleted = await admin('DELETE', '/admin/tenants/noledger');
    const body = await deleted.json();
    assert.equal(deleted.status, 200, JSON.stringify(body));
    assert.equal(body.deleted, true);
    assert.equal((await admin('GET', '/admin/tenants/noledger')).status, 404, 'the tenant record is gone');
    assert.equal((await bare.chat(hello('gpt-4o-mini'), { key })).status, 401, 'its key revoked');
  } finally {
    await bare.close();
  }
});
