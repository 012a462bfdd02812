// Security properties of the real worker: who may call what, the admin API's key lifecycle,
// model restrictions, tenant isolation, and that no provider key (nor the admin token, nor a
// router key) ever leaves the worker in a response, even when an upstream echoes it back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startRouter, testCatalog, readSse, KEYS, ADMIN_TOKEN } from './harness.mjs';

let r;
before(async () => {
  r = await startRouter();
  // The catalog is read on the first request, so it can still be extended: a model served only
  // by the deployment whose key the upstream refuses, and one served only by Azure.
  const catalog = testCatalog(r.upstream.url);
  catalog.models['badkey-only'] = { deployments: [{ provider: 'badkey', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' };
  catalog.models['azure-only'] = { deployments: [{ provider: 'azure', upstream_model: 'mini-deploy' }], price_key: 'gpt-4o-mini' };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const PROVIDER_KEYS = {
  openai: 'test-openai-key',
  azure: 'test-azure-key',
  anthropic: 'test-anthropic-key',
  gemini: 'test-gemini-key',
  badkey: 'sk-wrong-key-that-must-never-leak-123456',
};
/** Nothing of these may appear in any response: provider keys, the admin token, and distinctive parts of them. */
const SECRETS = [...Object.values(PROVIDER_KEYS), 'wrong-key-that-must-never-leak', ADMIN_TOKEN, 'admin-token-for-tests'];

/** Every response seen in this file, for the sweeps: {who, what, status, headers, text}. */
const seen = [];

async function send(path, { method = 'GET', body, key = KEYS.acme, headers = {}, who = 'acme', what } = {}) {
  const h = { ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const resp = await fetch(`${r.url}${path}`, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await resp.text();
  const record = { who, what: what ?? `${method} ${path}`, status: resp.status, headers: Object.fromEntries(resp.headers), text };
  seen.push(record);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...record, json };
}

const chatBody = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Say hello' }], ...extra });
const chat = (model, opts = {}) => send('/v1/chat/completions', { method: 'POST', body: chatBody(model, opts.extra), ...opts });
const adminCall = (method, path, body, token = ADMIN_TOKEN) => send(path, { method, body, key: token, who: 'admin' });

function assertError(resp, status, { type, code } = {}) {
  assert.equal(resp.status, status, `${resp.what}: ${resp.text.slice(0, 300)}`);
  assert.ok(resp.json?.error, `${resp.what}: OpenAI-style error body: ${resp.text.slice(0, 300)}`);
  assert.ok(resp.json.error.message.length > 0);
  if (type) assert.equal(resp.json.error.type, type, resp.what);
  if (code) assert.equal(resp.json.error.code, code, resp.what);
}

const ENDPOINTS = [
  ['POST', '/v1/chat/completions', chatBody('gpt-4o-mini')],
  ['POST', '/v1/embeddings', { model: 'text-embedding-3-small', input: 'hi' }],
  ['GET', '/v1/models'],
  ['GET', '/v1/deployments'],
];

test('calls without a valid key are refused with 401', async () => {
  const flip = (k) => `${k.slice(0, -1)}${k.endsWith('1') ? '2' : '1'}`;
  const CREDENTIALS = [
    ['no credentials', {}, 'missing_api_key'],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`x:${KEYS.acme}`).toString('base64')}` }, 'missing_api_key'],
    ['bare Bearer', { authorization: 'Bearer' }, 'missing_api_key'],
    ['Bearer and spaces', { authorization: 'Bearer    ' }, 'missing_api_key'],
    ['key without scheme', { authorization: KEYS.acme }, 'missing_api_key'],
    ['unknown key', { authorization: 'Bearer cr-nobodyTESTkey00000000000000000000000009' }, 'invalid_api_key'],
    ['valid key, last character changed', { authorization: `Bearer ${flip(KEYS.acme)}` }, 'invalid_api_key'],
    ['valid key, upper-cased', { authorization: `Bearer ${KEYS.acme.toUpperCase()}` }, 'invalid_api_key'],
    ['valid key, truncated', { authorization: `Bearer ${KEYS.acme.slice(0, -4)}` }, 'invalid_api_key'],
    ['valid key with a suffix', { authorization: `Bearer ${KEYS.acme}x` }, 'invalid_api_key'],
    ['300-character key', { authorization: `Bearer cr-${'a'.repeat(297)}` }, 'invalid_api_key'],
    ['revoked key', { authorization: `Bearer ${KEYS.revoked}` }, 'invalid_api_key'],
    ['revoked key in api-key', { 'api-key': KEYS.revoked }, 'invalid_api_key'],
    ['unknown key in api-key', { 'api-key': 'nope-nope-nope' }, 'invalid_api_key'],
    ['the admin token as a tenant key', { authorization: `Bearer ${ADMIN_TOKEN}` }, 'invalid_api_key'],
    ['a provider key as a tenant key', { authorization: `Bearer ${PROVIDER_KEYS.openai}` }, 'invalid_api_key'],
  ];
  const failures = [];
  for (const [method, path, body] of ENDPOINTS) {
    for (const [name, headers, code] of CREDENTIALS) {
      const resp = await send(path, { method, body, key: null, headers, who: 'anonymous', what: `${method} ${path} with ${name}` });
      try {
        assertError(resp, 401, { type: 'authentication_error', code });
        assert.ok(!resp.text.includes(KEYS.acme) && !resp.text.includes(KEYS.revoked), 'the presented key is not echoed');
      } catch (err) {
        failures.push(`${resp.what}: ${err.message}`);
      }
    }
  }
  assert.deepEqual(failures, []);
  // The Azure SDKs' `api-key` header is a credential like the bearer token.
  const viaApiKey = await send('/v1/models', { key: null, headers: { 'api-key': KEYS.acme } });
  assert.equal(viaApiKey.status, 200, viaApiKey.text);
  // The health check needs no key and says nothing about tenants.
  const health = await send('/healthz', { key: null, who: 'anonymous' });
  assert.equal(health.status, 200);
});

test('keys in the query string are refused, valid or not, with or without a header', async () => {
  const PARAMS = ['key', 'api_key', 'API_KEY', 'apikey', 'api-key', 'access_token', 'token', 'authorization', 'x-api-key', 'subscription-key'];
  const failures = [];
  for (const [method, path, body] of ENDPOINTS) {
    for (const param of PARAMS) {
      for (const [label, key] of [['alone', null], ['with a valid header', KEYS.acme]]) {
        for (const value of [KEYS.acme, 'not-a-key']) {
          const resp = await send(`${path}?${param}=${encodeURIComponent(value)}`, { method, body, key, what: `${method} ${path}?${param}=... ${label}` });
          try {
            assertError(resp, 400, { code: 'key_in_query_string' });
            assert.ok(!resp.text.includes(KEYS.acme), 'the key is not echoed');
            assert.ok(!Object.keys(resp.headers).some((h) => h.startsWith('x-costrouter-') && h !== 'x-costrouter-request-id'), 'nothing was routed');
          } catch (err) {
            failures.push(`${resp.what}: ${err.message}`);
          }
        }
      }
    }
  }
  // A router key is refused under any name, bare or as a bearer value.
  for (const [name, value] of [['session', KEYS.acme], ['q', `Bearer ${KEYS.globex}`], ['cursor', `x${KEYS.acme}`]]) {
    const resp = await send(`/v1/models?${name}=${encodeURIComponent(value)}`, { key: KEYS.acme, what: `GET /v1/models?${name}=<a router key>` });
    if (resp.status !== 400 || resp.json?.error?.code !== 'key_in_query_string') failures.push(`${resp.what}: ${resp.status} ${resp.text.slice(0, 200)}`);
  }
  // Other query parameters are not credentials.
  const plain = await send('/v1/models?q=hello&cursor=abc', { key: KEYS.acme });
  if (plain.status !== 200) failures.push(`an ordinary query parameter refused: ${plain.status} ${plain.text.slice(0, 200)}`);
  // The admin token in a URL is refused the same way.
  const adminInQuery = await send(`/admin/tenants/acme?token=${ADMIN_TOKEN}`, { key: null, who: 'admin' });
  if (adminInQuery.status !== 400) failures.push(`admin token in the query: ${adminInQuery.status} ${adminInQuery.text.slice(0, 200)}`);
  assert.deepEqual(failures, []);
  assert.equal(r.upstream.requests().length, 0, 'no request with a key in its URL reached a provider');
});

test("one tenant's key cannot read another tenant's reports by naming it", async () => {
  for (const path of ['/v1/usage', '/v1/budgets', '/v1/forecast', '/v1/deployments', '/v1/alerts', '/v1/recommendations']) {
    const resp = await send(`${path}?tenant=globex`, { key: KEYS.acme, what: `GET ${path}?tenant=globex with acme's key` });
    assertError(resp, 403, { code: 'permission_denied' });
    assert.ok(!resp.text.includes('globex') || resp.text.includes('only its own tenant'), `${path}: ${resp.text.slice(0, 200)}`);
    // Its own name is fine.
    const own = await send(`${path}?tenant=acme`, { key: KEYS.acme });
    assert.equal(own.status, 200, `${path}?tenant=acme: ${own.text.slice(0, 200)}`);
  }
});

test('admin endpoints need the admin token: 401 without a credential, 403 with a tenant key', async () => {
  const ADMIN = [
    ['GET', '/admin/tenants'],
    ['GET', '/admin/tenants/acme'],
    ['PUT', '/admin/tenants/intruder', { name: 'x' }],
    ['POST', '/admin/keys', { tenant_id: 'acme', name: 'stolen' }],
    ['GET', '/admin/keys?tenant_id=acme'],
    ['PATCH', '/admin/keys/key_000000000000', { tags: { team: 'x' } }],
    ['DELETE', '/admin/keys/key_000000000000'],
    ['GET', '/admin/tenants/acme/budgets'],
    ['PUT', '/admin/tenants/acme/budgets', { budgets: [] }],
    ['GET', '/admin/tenants/acme/alerts'],
    ['PUT', '/admin/tenants/acme/alerts', {}],
    ['DELETE', '/admin/tenants/acme'],
  ];
  for (const [method, path, body] of ADMIN) {
    assertError(await send(path, { method, body, key: null, who: 'anonymous' }), 401, { type: 'authentication_error' });
    for (const tenantKey of [KEYS.acme, KEYS.globex, KEYS.restricted]) {
      assertError(await send(path, { method, body, key: tenantKey }), 403, { type: 'permission_error', code: 'permission_denied' });
    }
    assertError(await send(path, { method, body, key: `${ADMIN_TOKEN}x`, who: 'anonymous' }), 403, { code: 'permission_denied' });
    assertError(await send(path, { method, body, key: ADMIN_TOKEN.slice(0, -1), who: 'anonymous' }), 403, { code: 'permission_denied' });
    assertError(await send(path, { method, body, key: PROVIDER_KEYS.openai, who: 'anonymous' }), 403, { code: 'permission_denied' });
  }
  // Nothing above changed anything.
  const intruder = await adminCall('GET', '/admin/tenants/intruder');
  assert.equal(intruder.status, 404, intruder.text);
  const ok = await adminCall('GET', '/admin/tenants/acme');
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.id, 'acme');
  // A tenant named `default` would own policy:default, every other tenant's fallback policy.
  const reserved = await adminCall('PUT', '/admin/tenants/default', { name: 'x' });
  assert.equal(reserved.status, 400, reserved.text);
  assert.match(reserved.json.error.message, /'default' is reserved/);
});

test('admin API: a new tenant key works, is listed without its secret, and stops working once revoked', async () => {
  const put = await adminCall('PUT', '/admin/tenants/sec-flow', { name: 'Security flow', plan: 'pro' });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json, { id: 'sec-flow', name: 'Security flow', plan: 'pro', allowed_models: null });
  const got = await adminCall('GET', '/admin/tenants/sec-flow');
  assert.deepEqual(got.json, put.json);
  // Listed with every other tenant, by id.
  const tenants = await adminCall('GET', '/admin/tenants');
  assert.equal(tenants.json.object, 'list');
  assert.ok(tenants.json.data.includes('sec-flow') && tenants.json.data.includes('acme'), tenants.text);
  assert.deepEqual(tenants.json.data, [...tenants.json.data].sort());
  assert.equal((await adminCall('POST', '/admin/tenants', { name: 'x' })).status, 405);
  // An update keeps what it leaves out; null lifts the model limit.
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-flow', { allowed_models: ['fast'] })).status, 200);
  const planOnly = await adminCall('PUT', '/admin/tenants/sec-flow', { plan: 'enterprise' });
  assert.deepEqual(planOnly.json, { id: 'sec-flow', name: 'Security flow', plan: 'enterprise', allowed_models: ['fast'] });
  const lifted = await adminCall('PUT', '/admin/tenants/sec-flow', { plan: 'pro', allowed_models: null });
  assert.deepEqual(lifted.json, put.json);
  // A name the catalog does not know is refused, naming it, and changes nothing.
  const misspelt = await adminCall('PUT', '/admin/tenants/sec-flow', { allowed_models: ['fast', 'gpt4o-mini'] });
  assertError(misspelt, 400);
  assert.equal(misspelt.json.error.param, 'allowed_models');
  assert.match(misspelt.json.error.message, /'gpt4o-mini' names no model or alias/);
  assert.deepEqual((await adminCall('GET', '/admin/tenants/sec-flow')).json, put.json);

  const created = await adminCall('POST', '/admin/keys', { tenant_id: 'sec-flow', name: 'ci' });
  assert.equal(created.status, 201, created.text);
  const { key, key_id: keyId } = created.json;
  assert.match(key, /^cr-[0-9A-Za-z]{40}$/);
  assert.match(keyId, /^key_[0-9a-f]{12}$/);
  assert.equal(created.json.tenant_id, 'sec-flow');
  const other = await adminCall('POST', '/admin/keys', { tenant_id: 'sec-flow', name: 'second' });
  assert.equal(other.status, 201, other.text);
  assert.notEqual(other.json.key, key);

  const models = await send('/v1/models', { key, who: 'sec-flow' });
  assert.equal(models.status, 200, models.text);
  assert.ok(models.json.data.some((m) => m.id === 'gpt-4o-mini'));
  const answered = await chat('gpt-4o-mini', { key, who: 'sec-flow' });
  assert.equal(answered.status, 200, answered.text);
  const lastUse = Date.now();

  const listed = await adminCall('GET', '/admin/keys?tenant_id=sec-flow');
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.json.data.map((k) => k.key_id).sort(), [keyId, other.json.key_id].sort());
  for (const entry of listed.json.data) {
    assert.deepEqual(Object.keys(entry).sort(), ['created_at', 'key_id', 'lock_tags', 'name', 'revoked_at', 'tags']);
    assert.equal(entry.lock_tags, false);
    assert.equal(entry.revoked_at, null);
  }
  assert.ok(!listed.text.includes(key) && !listed.text.includes(other.json.key), 'a listing never shows a key');
  assert.ok(!listed.text.includes(key.slice(3, 20)), 'not even part of one');

  const revoked = await adminCall('DELETE', `/admin/keys/${keyId}`);
  assert.equal(revoked.status, 200, revoked.text);
  assert.equal(revoked.json.key_id, keyId);
  assert.equal(typeof revoked.json.revoked_at, 'number');
  // The key was used (and cached) moments ago: revocation through this isolate must not wait
  // for the 5-second auth cache to expire.
  const after = await send('/v1/models', { key, who: 'sec-flow' });
  const chatAfter = await chat('gpt-4o-mini', { key, who: 'sec-flow' });
  assert.ok(Date.now() - lastUse < 5000, 'checked within the auth cache lifetime');
  assertError(after, 401, { code: 'invalid_api_key' });
  assertError(chatAfter, 401, { code: 'invalid_api_key' });
  // The tenant's other key is untouched.
  assert.equal((await send('/v1/models', { key: other.json.key, who: 'sec-flow' })).status, 200);
  // A record read, edited and sent back (with its id) is taken; an id other than the path's is not.
  const edited = { ...(await adminCall('GET', '/admin/tenants/sec-flow')).json, allowed_models: ['fast'] };
  const saved = await adminCall('PUT', '/admin/tenants/sec-flow', edited);
  assert.equal(saved.status, 200, saved.text);
  assert.deepEqual(saved.json, edited);
  const renamed = await adminCall('PUT', '/admin/tenants/sec-flow', { ...edited, id: 'other-tenant' });
  assertError(renamed, 400);
  assert.equal(renamed.json.error.param, 'id');
  // Narrowed through this isolate: applied to the next request here, not 5 s later (the key
  // was used, and cached, just before).
  const narrowed = await chat('gpt-4o-mini', { key: other.json.key, who: 'sec-flow' });
  assertError(narrowed, 404, { code: 'model_not_found' });
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-flow', { allowed_models: null })).status, 200);

  const relisted = await adminCall('GET', '/admin/keys?tenant_id=sec-flow');
  const entry = relisted.json.data.find((k) => k.key_id === keyId);
  assert.equal(entry.revoked_at, revoked.json.revoked_at);
  assert.equal(relisted.json.data.find((k) => k.key_id === other.json.key_id).revoked_at, null);
  // A tag update that read the key's record from a stale KV copy (revoked_at still null, as
  // another location may serve for up to 60 s) writes it back whole: the key stays revoked.
  const tenantsKv = await r.mf.getKVNamespace('TENANTS');
  const hash = createHash('sha256').update(key).digest('hex');
  const stale = JSON.parse(await tenantsKv.get(`key:${hash}`));
  await tenantsKv.put(`key:${hash}`, JSON.stringify({ ...stale, revoked_at: null }));
  const patched = await adminCall('PATCH', `/admin/keys/${keyId}`, { tags: { team: 'core' } });
  assert.equal(patched.status, 200, patched.text);
  assertError(await send('/v1/models', { key, who: 'sec-flow' }), 401, { code: 'invalid_api_key' });
  assert.equal((await adminCall('GET', '/admin/keys?tenant_id=sec-flow')).json.data.find((k) => k.key_id === keyId).revoked_at, revoked.json.revoked_at);
  // Revoking again changes nothing.
  const again = await adminCall('DELETE', `/admin/keys/${keyId}`);
  assert.equal(again.status, 200);
  assert.equal(again.json.revoked_at, revoked.json.revoked_at);
  // A key for a tenant that does not exist is refused.
  assertError(await adminCall('POST', '/admin/keys', { tenant_id: 'no-such-tenant' }), 404);
});

test('admin API: a tenant\'s keys are listed a page at a time', async () => {
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-pages', { name: 'Pages' })).status, 200);
  const ids = [];
  for (const name of ['k1', 'k2', 'k3']) ids.push((await adminCall('POST', '/admin/keys', { tenant_id: 'sec-pages', name })).json.key_id);
  const first = await adminCall('GET', '/admin/keys?tenant_id=sec-pages&limit=2');
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.data.length, 2);
  assert.equal(first.json.has_more, true);
  assert.equal(typeof first.json.next_cursor, 'string');
  const rest = await adminCall('GET', `/admin/keys?tenant_id=sec-pages&limit=2&cursor=${encodeURIComponent(first.json.next_cursor)}`);
  assert.equal(rest.status, 200, rest.text);
  assert.equal(rest.json.has_more, false);
  assert.equal(rest.json.next_cursor, null);
  assert.deepEqual([...first.json.data, ...rest.json.data].map((k) => k.key_id).sort(), [...ids].sort(), 'every key once');
  const whole = await adminCall('GET', '/admin/keys?tenant_id=sec-pages');
  assert.equal(whole.json.data.length, 3);
  assert.equal(whole.json.has_more, false);
  for (const limit of ['0', '101', 'ten', '-1']) {
    const bad = await adminCall('GET', `/admin/keys?tenant_id=sec-pages&limit=${limit}`);
    assertError(bad, 400);
    assert.equal(bad.json.error.param, 'limit');
  }
});

test('admin API: deleting a tenant revokes its keys, and its id is not given again', async () => {
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-gone', { name: 'Leaving', plan: 'pro' })).status, 200);
  const keys = [];
  for (const name of ['a', 'b', 'c']) keys.push((await adminCall('POST', '/admin/keys', { tenant_id: 'sec-gone', name })).json);
  assert.equal((await adminCall('DELETE', `/admin/keys/${keys[2].key_id}`)).status, 200, 'one revoked already');
  // Used (and so cached in this isolate) just before the delete.
  assert.equal((await chat('gpt-4o-mini', { key: keys[0].key, who: 'sec-gone' })).status, 200);
  const deleted = await adminCall('DELETE', '/admin/tenants/sec-gone');
  assert.equal(deleted.status, 200, deleted.text);
  assert.equal(deleted.json.deleted, true);
  assert.equal(deleted.json.has_more, false);
  assert.equal(deleted.json.keys_revoked, 3);
  for (const { key } of keys) assertError(await send('/v1/models', { key, who: 'sec-gone' }), 401, { code: 'invalid_api_key' });
  assertError(await adminCall('GET', '/admin/tenants/sec-gone'), 404);
  assert.deepEqual((await adminCall('GET', '/admin/keys?tenant_id=sec-gone')).json.data, []);
  // The id is not given again: a new tenant under it would inherit the old one's ledger and any
  // key a stale location made for it.
  const again = await adminCall('PUT', '/admin/tenants/sec-gone', { name: 'Back', plan: 'free' });
  assertError(again, 409, { code: 'conflict' });
  assert.match(again.json.error.message, /was deleted/);
  assertError(await adminCall('POST', '/admin/keys', { tenant_id: 'sec-gone', name: 'new' }), 404);
  // Deleting it again, or an id that never was, is a 404; another tenant is untouched.
  assertError(await adminCall('DELETE', '/admin/tenants/sec-gone'), 404);
  assertError(await adminCall('DELETE', '/admin/tenants/sec-never'), 404);
  assert.equal((await send('/v1/models', { key: KEYS.acme })).status, 200);
});

test('admin API: a delete that stopped half way is finished by asking again', async () => {
  // A delete cut off after revoking some keys (a KV outage, the per-call cap) left this state:
  // the tenant record and the listing entries of the keys it had not reached.
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-half', { name: 'Half' })).status, 200);
  const keys = [];
  for (const name of ['a', 'b']) keys.push((await adminCall('POST', '/admin/keys', { tenant_id: 'sec-half', name })).json);
  const tenantsKv = await r.mf.getKVNamespace('TENANTS');
  await tenantsKv.delete(`tenantkey:sec-half:${keys[0].key_id}`);
  await tenantsKv.put(`revoked:${createHash('sha256').update(keys[0].key).digest('hex')}`, '1');
  const finished = await adminCall('DELETE', '/admin/tenants/sec-half');
  assert.equal(finished.status, 200, finished.text);
  assert.equal(finished.json.keys_revoked, 1);
  for (const { key } of keys) assertError(await send('/v1/models', { key, who: 'sec-half' }), 401, { code: 'invalid_api_key' });
  assertError(await adminCall('GET', '/admin/tenants/sec-half'), 404);
});

test('admin API: a tenant with more keys than one delete revokes is deleted over several calls', async () => {
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-many', { name: 'Many' })).status, 200);
  const tenantsKv = await r.mf.getKVNamespace('TENANTS');
  const hashes = Array.from({ length: 260 }, (_, i) => createHash('sha256').update(`sec-many-${i}`).digest('hex'));
  await Promise.all(hashes.map((h) => tenantsKv.put(`tenantkey:sec-many:key_${h.slice(0, 12)}`, h)));
  const first = await adminCall('DELETE', '/admin/tenants/sec-many');
  assert.equal(first.status, 200, first.text);
  assert.deepEqual([first.json.keys_revoked, first.json.has_more, first.json.deleted], [250, true, false]);
  assert.equal((await adminCall('GET', '/admin/tenants/sec-many')).status, 200, 'kept until its last key is revoked');
  const second = await adminCall('DELETE', '/admin/tenants/sec-many');
  assert.deepEqual([second.json.keys_revoked, second.json.has_more, second.json.deleted], [10, false, true]);
  const marked = await Promise.all(hashes.map((h) => tenantsKv.get(`revoked:${h}`)));
  assert.ok(marked.every((m) => m !== null), 'every key revoked');
  assertError(await adminCall('GET', '/admin/tenants/sec-many'), 404);
});

test('a key with locked tags files its requests under them whatever the request sends', async () => {
  assert.equal((await adminCall('PUT', '/admin/tenants/sec-locked', { name: 'locked', plan: 'pro' })).status, 200);
  const created = await adminCall('POST', '/admin/keys', { tenant_id: 'sec-locked', name: 'payments', tags: { team: 'payments', environment: 'prod' }, lock_tags: true });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.lock_tags, true);
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], metadata: { team: 'growth' } },
    { key: created.json.key, headers: { 'x-costrouter-team': 'other', 'x-costrouter-env': 'dev', 'x-costrouter-feature': 'checkout' } });
  assert.equal(resp.status, 200, await resp.clone().text());
  await resp.text();
  const ev = await r.eventFor(resp);
  assert.equal(ev.attribution.team, 'payments');
  assert.equal(ev.attribution.environment, 'prod');
  assert.equal(ev.attribution.feature, 'checkout', 'a tag the key leaves empty the request may set');
  // Unlocked again, the request's own tags win over the key's defaults.
  const unlocked = await adminCall('PATCH', `/admin/keys/${created.json.key_id}`, { lock_tags: false });
  assert.equal(unlocked.status, 200, unlocked.text);
  assert.equal(unlocked.json.lock_tags, false);
  assert.deepEqual(unlocked.json.tags, { feature: '', team: 'payments', environment: 'prod', user: '' }, 'tags left as they were');
  const after = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    { key: created.json.key, headers: { 'x-costrouter-team': 'other' } });
  assert.equal(after.status, 200, await after.clone().text());
  await after.text();
  const afterEvent = await r.eventFor(after);
  assert.equal(afterEvent.attribution.team, 'other', 'the request\'s own tag wins');
  assert.equal(afterEvent.attribution.environment, 'prod', 'the key\'s default fills what the request leaves empty');
});

test('a key with locked tags reads only its slice of the reports, through a dashboard session too', async () => {
  const tenant = 'sec-scope';
  assert.equal((await adminCall('PUT', `/admin/tenants/${tenant}`, { name: tenant, plan: 'pro' })).status, 200);
  const locked = await adminCall('POST', '/admin/keys', { tenant_id: tenant, name: 'payments', tags: { team: 'payments', environment: 'prod' }, lock_tags: true });
  const open = await adminCall('POST', '/admin/keys', { tenant_id: tenant, name: 'everyone' });
  assert.equal(locked.status, 201, locked.text);
  const budgets = [
    { id: 'all', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '100' },
    { id: 'pay', scope: { kind: 'team', value: 'payments' }, window: 'monthly', hard_limit: '50' },
    { id: 'search', scope: { kind: 'team', value: 'search' }, window: 'monthly', hard_limit: '50' },
    { id: 'checkout', scope: { kind: 'feature', value: 'checkout' }, window: 'monthly', hard_limit: '50' },
    { id: 'mine', scope: { kind: 'key', value: locked.json.key_id } , window: 'monthly', hard_limit: '5' },
  ];
  assert.equal((await adminCall('PUT', `/admin/tenants/${tenant}/budgets`, { budgets, limits: {} })).status, 200);
  for (const [key, team, user] of [[locked.json.key, 'payments', 'pat'], [open.json.key, 'search', 'sam'], [open.json.key, 'search', 'sue']]) {
    const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key, headers: { 'x-costrouter-team': team, 'x-costrouter-user': user, 'x-costrouter-feature': 'checkout' } });
    assert.equal(resp.status, 200, await resp.clone().text());
    await resp.text();
  }
  const as = (key) => ({ key, who: key === locked.json.key ? 'locked' : 'open' });
  // Spend reaches the reports once the ledger has taken the batch.
  let whole;
  for (let i = 0; i < 100 && whole?.json?.totals?.requests !== 3; i++) {
    if (i) await new Promise((res) => setTimeout(res, 100));
    whole = await send('/v1/usage?group_by=team,user', as(open.json.key));
  }
  assert.equal(whole.json.totals.requests, 3, whole.text);

  const mine = await send('/v1/usage?group_by=team,user', as(locked.json.key));
  assert.equal(mine.status, 200, mine.text);
  assert.deepEqual(mine.json.data.map((row) => [row.team, row.user, row.requests]), [['payments', 'pat', 1]], 'no other team, none of its users');
  assert.equal(mine.json.totals.requests, 1);
  assert.deepEqual(mine.json.filters, { team: 'payments', env: 'prod' }, 'the answer says what it was limited to');
  assert.equal((await send('/v1/usage?team=payments&feature=checkout', as(locked.json.key))).json.totals.requests, 1, 'a filter inside the slice');
  for (const path of ['/v1/usage?team=search', '/v1/usage?env=dev', '/v1/forecast?team=search']) {
    const refused = await send(path, as(locked.json.key));
    assertError(refused, 403, { type: 'permission_error', code: 'permission_denied' });
    assert.match(refused.json.error.message, /locked to team 'payments', env 'prod'/);
    assert.equal(refused.json.error.param, path.includes('env=') ? 'env' : 'team');
  }
  const forecast = await send('/v1/forecast', as(locked.json.key));
  assert.equal(forecast.status, 200, forecast.text);
  assert.equal(forecast.json.spent_usd, (await send('/v1/forecast?team=payments&env=prod', as(open.json.key))).json.spent_usd);
  assert.notEqual(forecast.json.spent_usd, (await send('/v1/forecast', as(open.json.key))).json.spent_usd, 'not the tenant\'s');

  // Budgets: those whose spend is all inside its slice. Locked to a team and an environment, that
  // is its own key's: the team's budget counts the team's other environments too, and neither the
  // tenant's, another team's, nor a feature's it shares with other teams is its own.
  const ownBudgets = await send('/v1/budgets', as(locked.json.key));
  assert.equal(ownBudgets.status, 200, ownBudgets.text);
  assert.deepEqual(ownBudgets.json.budgets.map((b) => b.id), ['mine']);
  assert.deepEqual(Object.keys(ownBudgets.json.states), ['mine']);
  assert.equal(ownBudgets.json.open_reservations, undefined);
  assert.deepEqual(ownBudgets.json.scope, { team: 'payments', env: 'prod' });
  // A key locked to the team alone sees the team's budget.
  const teamKey = await adminCall('POST', '/admin/keys', { tenant_id: tenant, name: 'payments-all', tags: { team: 'payments' }, lock_tags: true });
  assert.deepEqual((await send('/v1/budgets', as(teamKey.json.key))).json.budgets.map((b) => b.id), ['pay']);
  const allBudgets = await send('/v1/budgets', as(open.json.key));
  assert.deepEqual(allBudgets.json.budgets.map((b) => b.id), ['all', 'pay', 'search', 'checkout', 'mine']);
  assert.equal(allBudgets.json.open_reservations, 0);

  // Alerts are the whole tenant's: refused, not filtered into something misleading.
  assertError(await send('/v1/alerts', as(locked.json.key)), 403, { code: 'permission_denied' });
  assert.equal((await send('/v1/alerts', as(open.json.key))).status, 200);
  assert.equal((await send('/v1/recommendations', as(locked.json.key))).status, 200);

  // A dashboard session opened with the key reads what the key reads.
  const login = await fetch(`${r.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: locked.json.key }) });
  assert.equal(login.status, 200, await login.clone().text());
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const viaSession = await send('/v1/usage?group_by=team', { key: null, headers: { cookie }, who: 'locked session' });
  assert.equal(viaSession.status, 200, viaSession.text);
  assert.deepEqual(viaSession.json.data.map((row) => row.team), ['payments']);
  assertError(await send('/v1/usage?team=search', { key: null, headers: { cookie }, who: 'locked session' }), 403);
});

test('a restricted tenant sees only its allowed alias and gets 404 model_not_found for the rest', async () => {
  const key = KEYS.restricted;
  const models = await send('/v1/models', { key, who: 'restricted' });
  assert.equal(models.status, 200, models.text);
  assert.deepEqual(models.json.data.map((m) => m.id), ['fast']);
  // Deployment health only for the model its alias serves.
  const deployments = await send('/v1/deployments', { key, who: 'restricted' });
  assert.equal(deployments.status, 200, deployments.text);
  assert.deepEqual([...new Set(deployments.json.data.map((d) => d.model))], ['gpt-4o-mini']);
  const fast = await chat('fast', { key, who: 'restricted' });
  assert.equal(fast.status, 200, fast.text);
  assert.equal(fast.headers['x-costrouter-model'], 'gpt-4o-mini');
  for (const model of ['gpt-4o-mini', 'gpt-4o', 'gpt4o', 'claude-haiku-4-5', 'gemini-2.5-flash', 'mistral-small', 'badkey-model', 'FAST', 'no-such-model']) {
    for (const stream of [false, true]) {
      const resp = await chat(model, { key, who: 'restricted', extra: { stream } });
      assertError(resp, 404, { code: 'model_not_found' });
      assert.equal(resp.json.error.param, 'model');
    }
  }
  const emb = await send('/v1/embeddings', { method: 'POST', body: { model: 'text-embedding-3-small', input: 'hi' }, key, who: 'restricted' });
  assertError(emb, 404, { code: 'model_not_found' });
});

test('tenant isolation: nothing in a response to one tenant carries another tenant\'s id or data', async () => {
  const TENANTS = {
    acme: { key: KEYS.acme, feature: 'acme-secret-feature', user: 'acme-user-42', text: 'acme confidential merger plans' },
    globex: { key: KEYS.globex, feature: 'globex-secret-feature', user: 'globex-user-7', text: 'globex confidential launch codes' },
  };
  const start = seen.length;
  const eventsBefore = r.events.length;
  const requestIds = {};
  let sent = 0;
  for (let round = 0; round < 2; round += 1) {
    for (const [who, t] of Object.entries(TENANTS)) {
      const headers = { 'x-costrouter-feature': t.feature, 'x-costrouter-team': `${who}-team` };
      const body = (model, extra = {}) => ({ model, user: t.user, messages: [{ role: 'user', content: t.text }], ...extra });
      const calls = [
        send('/v1/chat/completions', { method: 'POST', body: body('gpt-4o-mini'), key: t.key, headers, who }),
        send('/v1/chat/completions', { method: 'POST', body: body('claude-haiku-4-5', { stream: true }), key: t.key, headers, who }),
        send('/v1/chat/completions', { method: 'POST', body: body('gemini-2.5-flash'), key: t.key, headers, who }),
        send('/v1/embeddings', { method: 'POST', body: { model: 'text-embedding-3-small', input: t.text, user: t.user }, key: t.key, headers, who }),
        send('/v1/models', { key: t.key, who }),
        send('/v1/deployments', { key: t.key, who }),
        send('/v1/chat/completions', { method: 'POST', body: body('no-such-model'), key: t.key, headers, who }),
        send('/v1/chat/completions', { method: 'POST', body: body('gpt-4o-mini', { temperature: 9 }), key: t.key, headers, who }),
      ];
      // Both tenants' requests are in flight together.
      for (const resp of await Promise.all(calls)) {
        sent += 1;
        const id = resp.headers['x-costrouter-request-id'];
        // /v1/models and /v1/deployments record no event; every chat and embeddings call does.
        if (resp.what.startsWith('POST')) {
          assert.ok(id, `${resp.what} has a request id`);
          requestIds[id] = who;
        }
      }
    }
  }
  const failures = [];
  for (const resp of seen.slice(start)) {
    const others = Object.entries(TENANTS).filter(([who]) => who !== resp.who);
    const haystack = `${JSON.stringify(resp.headers)}\n${resp.text}`;
    for (const [otherId, o] of others) {
      for (const needle of [otherId, o.key, o.feature, o.user, o.text, `${otherId}-team`]) {
        if (haystack.includes(needle)) failures.push(`${resp.who} ${resp.what} (${resp.status}) carries '${needle}'`);
      }
    }
  }
  assert.deepEqual(failures, []);
  // Each request's cost event is filed under the tenant that sent it, with its own tags.
  assert.equal(Object.keys(requestIds).length, 24);
  await r.eventsSettled(eventsBefore + Object.keys(requestIds).length);
  for (const [id, who] of Object.entries(requestIds)) {
    const ev = r.events.find((e) => e.request_id === id);
    assert.ok(ev, `an event for ${who}'s request ${id}`);
    assert.equal(ev.tenant, who, `event for ${id}`);
    assert.equal(ev.attribution.feature, TENANTS[who].feature, `feature of ${id}: ${JSON.stringify(ev)}`);
    assert.equal(ev.attribution.team, `${who}-team`, `team of ${id}`);
  }
  assert.equal(sent, 32);

  // Key listings are per tenant, even for ids that share a prefix.
  for (const id of ['iso', 'iso-b']) assert.equal((await adminCall('PUT', `/admin/tenants/${id}`, { name: id })).status, 200);
  const a = await adminCall('POST', '/admin/keys', { tenant_id: 'iso', name: 'a' });
  const b = await adminCall('POST', '/admin/keys', { tenant_id: 'iso-b', name: 'b' });
  const listA = await adminCall('GET', '/admin/keys?tenant_id=iso');
  const listB = await adminCall('GET', '/admin/keys?tenant_id=iso-b');
  assert.deepEqual(listA.json.data.map((k) => k.key_id), [a.json.key_id]);
  assert.deepEqual(listB.json.data.map((k) => k.key_id), [b.json.key_id]);
  // One tenant's key cannot revoke or read another's: those are admin-only.
  assertError(await send(`/admin/keys/${b.json.key_id}`, { method: 'DELETE', key: a.json.key, who: 'iso' }), 403);
  assert.equal((await send('/v1/models', { key: b.json.key, who: 'iso-b' })).status, 200);
});

test('provider keys, the admin token and router keys never appear in any response, even when an upstream echoes them', async () => {
  r.upstream.reset();
  const start = seen.length;
  const ok = async (model, extra = {}) => chat(model, { extra, what: `chat ${model} ${JSON.stringify(extra)}` });
  // Ordinary traffic on every provider, whole and streamed.
  for (const model of ['gpt-4o-mini', 'gpt-4o', 'claude-haiku-4-5', 'gemini-2.5-flash', 'mistral-small', 'azure-only']) {
    assert.equal((await ok(model)).status, 200, model);
    const streamed = await ok(model, { stream: true, stream_options: { include_usage: true } });
    assert.equal(streamed.status, 200, model);
  }
  for (const model of ['text-embedding-3-small', 'gemini-embedding']) {
    await send('/v1/embeddings', { method: 'POST', body: { model, input: ['a', 'b'] } });
  }
  await send('/v1/models');
  await send('/v1/deployments');
  // A deployment whose key the upstream refuses: with a fallback, and without one.
  const fellBack = await ok('badkey-model');
  assert.equal(fellBack.status, 200, fellBack.text);
  assert.match(fellBack.headers['x-costrouter-route-reason'], /badkey/);
  const refused = await ok('badkey-only');
  assert.equal(refused.status, 502, refused.text);
  await ok('badkey-only', { stream: true });
  await ok('nokey-model');

  // Upstream errors of every kind, some echoing the key they were sent in full.
  const MODEL_OF = { openai: 'gpt-4o', azure: 'azure-only', anthropic: 'claude-haiku-4-5', gemini: 'gemini-2.5-flash' };
  const redactedSeen = [];
  for (const [provider, model] of Object.entries(MODEL_OF)) {
    const k = PROVIDER_KEYS[provider];
    const SCRIPTS = [
      { status: 401 },
      { status: 403 },
      { status: 400, message: `Invalid key ${k} given` },
      { status: 401, message: `Incorrect API key provided: ${k}. Authorization: Bearer ${k}` },
      { status: 422, message: `{"api_key":"${k}","x-api-key":"${k}"}` },
      { status: 500, message: `upstream auth header was 'Bearer ${k}'` },
      { status: 429, message: `rate limited for key=${k}` },
    ];
    for (const [i, script] of SCRIPTS.entries()) {
      for (const stream of [false, true]) {
        r.upstream.script({ provider, response: script });
        const resp = await ok(model, stream ? { stream: true } : {});
        assert.ok(resp.status >= 400, `${provider} ${JSON.stringify(script)}: ${resp.status}`);
        if (script.message && resp.text.includes('[redacted]')) redactedSeen.push(`${provider} ${i}`);
      }
      // A success between failures keeps the circuit breaker closed.
      if (i % 2 === 1) await ok(model);
    }
    if (provider === 'openai') {
      for (const status of [400, 401, 500]) {
        r.upstream.script({ provider, response: { status, message: `bad input for ${k}` } });
        const emb = await send('/v1/embeddings', { method: 'POST', body: { model: 'text-embedding-3-small', input: 'x' }, what: `embeddings, upstream ${status}` });
        assert.ok(emb.status >= 400, emb.text);
        if (emb.text.includes('[redacted]')) redactedSeen.push(`embeddings ${status}`);
      }
    }
    r.upstream.reset();
  }
  // Each provider's 429 asked for `retry-after: 1`, which holds its deployment that second: the
  // tests after this one need them back.
  await new Promise((res) => setTimeout(res, 1_100));
  // The echoes reached the client as the provider's explanation, masked.
  assert.ok(redactedSeen.length >= 8, `echoed keys were relayed (masked) in ${redactedSeen.length} answers: ${redactedSeen.join(', ')}`);

  const leaks = [];
  const routerKeys = Object.values(KEYS);
  // Responses in this test and in every test before it.
  for (const resp of seen) {
    const haystack = `${JSON.stringify(resp.headers)}\n${resp.text}`;
    for (const secret of SECRETS) if (haystack.includes(secret)) leaks.push(`${resp.who} ${resp.what} (${resp.status}) carries '${secret}'`);
    if (resp.who !== 'admin') {
      for (const key of routerKeys) if (haystack.includes(key)) leaks.push(`${resp.who} ${resp.what} (${resp.status}) carries a router key`);
    }
  }
  assert.deepEqual(leaks, []);
  assert.ok(seen.length - start >= 80, `${seen.length - start} responses in the sweep`);

  // Nor does the router forward a router key or the admin token to a provider.
  for (const q of r.upstream.requests()) {
    const sentUp = JSON.stringify(q);
    for (const key of [...routerKeys, ADMIN_TOKEN]) assert.ok(!sentUp.includes(key), `${q.method} ${q.path} carried a router credential upstream`);
  }
});

test('streams carry no secrets either (cost trailer and events)', async () => {
  const resp = await fetch(`${r.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.acme}` },
    body: JSON.stringify(chatBody('badkey-model', { stream: true, stream_options: { include_usage: true } })),
  });
  assert.equal(resp.status, 200);
  const { text } = await readSse(resp);
  for (const secret of [...SECRETS, ...Object.values(KEYS)]) assert.ok(!text.includes(secret), `stream carries '${secret}'`);
});

test('no provider key, router key, admin token or prompt text appears in any log line', async () => {
  // Requests that make the worker log, carrying a prompt marker: a connection reset (logged with
  // the runtime's message), a refused key with a fallback, a provider echoing its key.
  const marker = 'prompt-text-that-must-never-be-logged-5c1e';
  const ask = (model, extra = {}) => ({ model, max_tokens: 16, messages: [{ role: 'user', content: `${marker} hello` }], ...extra });
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { fault: 'reset' } });
  assert.ok((await r.chat(ask('gpt-4o'))).status >= 500);
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { status: 401, message: `Incorrect API key provided: ${PROVIDER_KEYS.openai}` } });
  await (await r.chat(ask('gpt-4o', { stream: true }))).text();
  await (await r.chat(ask('badkey-model'))).text();
  r.upstream.reset();
  await (await r.chat(ask('gpt-4o-mini'))).text();
  await new Promise((res) => setTimeout(res, 300)); // lines written after the response
  const lines = r.logs();
  // The capture works: the reset above was logged.
  assert.ok(lines.some((l) => l.includes('upstream connection failed')), `captured ${lines.length} log lines`);
  const leaks = [];
  for (const line of lines) {
    for (const secret of [...SECRETS, ...Object.values(KEYS), marker]) if (line.includes(secret)) leaks.push(`'${secret}' in: ${line.slice(0, 200)}`);
  }
  assert.deepEqual(leaks, []);
});

test('a provider that redirects is not followed: its key and the prompt go nowhere else', async () => {
  r.upstream.reset();
  // Pointing back at the fake Anthropic makes a followed redirect visible as a second request
  // (and as a 200); a real one would point at a host the operator never configured.
  r.upstream.script({ provider: 'anthropic', response: { fault: 'redirect', location: `${r.upstream.url}/anthropic/v1/messages` } });
  const resp = await r.chat({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
  const body = await resp.json();
  assert.equal(resp.status, 502, JSON.stringify(body));
  assert.equal(body.error.code, 'upstream_error');
  assert.match(body.error.message, /redirect, which the router does not follow/);
  assert.equal(r.upstream.requests().filter((q) => q.path.startsWith('/anthropic/')).length, 1, 'the redirect was not followed');
});

test('providers get a per-tenant opaque end-user id, never the client\'s own (an email here)', async () => {
  r.upstream.reset();
  const send = (key, model, n) => r.chat({ model, max_tokens: 8, user: 'ana@example.com', safety_identifier: 'ana@example.com', messages: [{ role: 'user', content: `hello ${n}` }] }, { key });
  for (const [key, model, n] of [[KEYS.acme, 'gpt-4o-mini', 1], [KEYS.acme, 'gpt-4o-mini', 2], [KEYS.globex, 'gpt-4o-mini', 3], [KEYS.acme, 'claude-haiku-4-5', 4]]) {
    const resp = await send(key, model, n);
    assert.equal(resp.status, 200, await resp.text());
  }
  const emb = await fetch(`${r.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.acme}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hi', user: 'ana@example.com' }) });
  assert.equal(emb.status, 200, await emb.text());
  const sent = r.upstream.requests();
  assert.ok(!JSON.stringify(sent.map((q) => q.body)).includes('ana@example.com'), 'the raw id reached a provider');
  const openai = sent.filter((q) => q.path.endsWith('/chat/completions')).map((q) => q.body);
  assert.equal(openai.length, 3);
  const [acme1, acme2, globex] = openai;
  assert.match(acme1.user, /^eu_[0-9a-f]{32}$/);
  assert.equal(acme1.safety_identifier, acme1.user);
  assert.equal(acme2.user, acme1.user, 'the same end user of a tenant keeps one id');
  assert.notEqual(globex.user, acme1.user, 'another tenant\'s user of the same name is someone else to the provider');
  const anthropic = sent.find((q) => q.path.endsWith('/messages')).body;
  assert.equal(anthropic.metadata.user_id, acme1.user);
  assert.equal(sent.find((q) => q.path.endsWith('/embeddings')).body.user, acme1.user);
});
