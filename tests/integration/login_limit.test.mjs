// Dashboard logins are rate limited per client address through the LOGIN_LIMITER binding
// (wrangler.toml: 10 a minute; here 3, so the test is short), and admin calls through
// ADMIN_LIMITER (300 a minute; here 3). Every attempt counts, good or bad:
// a guesser cannot reset the count by logging in with a key of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, KEYS, ADMIN_TOKEN } from './harness.mjs';

let r;
before(async () => {
  r = await startRouter({ miniflare: { ratelimits: { LOGIN_LIMITER: { simple: { limit: 3, period: 60 } }, ADMIN_LIMITER: { simple: { limit: 3, period: 60 } } } } });
});
after(async () => {
  await r?.close();
});

const login = (key, { form = false, ip = '203.0.113.7' } = {}) =>
  fetch(`${r.url}/dashboard/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', 'cf-connecting-ip': ip },
    body: form ? `key=${encodeURIComponent(key)}` : JSON.stringify({ key }),
  });

test('after the limit, logins from the same address are refused, even with a good key', async () => {
  for (let i = 0; i < 3; i++) {
    const resp = await login('cr-guessTESTkey0000000000000000000000000' + i);
    assert.equal(resp.status, 401, `attempt ${i + 1}`);
    await resp.arrayBuffer();
  }
  const good = await login(KEYS.acme);
  const body = await good.json();
  assert.equal(good.status, 429);
  assert.equal(body.error.code, 'rate_limit_exceeded');
  assert.equal(body.error.type, 'rate_limit_error');
  assert.match(body.error.message, /Too many login attempts/);
  assert.equal(good.headers.get('set-cookie'), null);
  assert.equal(good.headers.get('retry-after'), '60');
  assert.equal(good.headers.get('x-should-retry'), 'false', 'a wait the SDKs would not honour');

  // The login form shows the same refusal on the page.
  const form = await login(KEYS.acme, { form: true });
  assert.equal(form.status, 429);
  assert.match(form.headers.get('content-type'), /text\/html/);
  assert.match(await form.text(), /Too many login attempts/);
  assert.equal(form.headers.get('set-cookie'), null);

  // API calls with the key are not dashboard logins and are not limited by it.
  const api = await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(api.status, 200);
});

test('admin calls are limited per address too, so the admin token cannot be guessed by trying', async () => {
  const adminCall = (token, ip = '198.51.100.9') => fetch(`${r.url}/admin/tenants/acme`, { headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': ip } });
  for (let i = 0; i < 3; i++) {
    const resp = await adminCall(`guess-${i}-of-the-admin-token`);
    assert.equal(resp.status, 403, `guess ${i + 1}`);
    await resp.arrayBuffer();
  }
  const right = await adminCall(ADMIN_TOKEN);
  assert.equal(right.status, 429, 'a right guess past the limit is refused like a wrong one');
  assert.equal((await right.json()).error.code, 'rate_limit_exceeded');
  assert.equal(right.headers.get('retry-after'), '60');
  const elsewhere = await adminCall(ADMIN_TOKEN, '198.51.100.10');
  assert.equal(elsewhere.status, 200, 'another address is not limited by it');
  await elsewhere.arrayBuffer();
});
