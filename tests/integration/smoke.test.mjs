import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, KEYS } from './harness.mjs';

let r;
before(async () => { r = await startRouter(); });
after(async () => { await r?.close(); });

test('non-streaming chat through OpenAI carries cost headers', async () => {
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.match(body.choices[0].message.content, /Hello from fake openai gpt-4o-mini/);
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.ok(Number(resp.headers.get('x-costrouter-cost-usd')) > 0);
});

// Miniflare's dataset keeps nothing and refuses nothing: this checks the write path runs (the
// point's JSON parses, the binding is called); the limits the real dataset enforces are held by
// a native test of CostEvent::data_point.
test('cost events go through the Analytics Engine write path without an error', async () => {
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(resp.status, 200);
  await resp.arrayBuffer();
  assert.ok(!r.logs().some((l) => l.includes('cost event not written')), r.logs().filter((l) => l.includes('cost event')).join('\n'));
});

test("each cost event names the API the client called (blob15), refusals and streams too; count_tokens writes none", async () => {
  const hello = [{ role: 'user', content: 'Say hello' }];
  const calls = [
    ['chat.completions', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: hello }, 200],
    ['chat.completions', '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21', { messages: hello }, 200],
    ['responses', '/v1/responses', { model: 'gpt-4o-mini', input: 'Say hello', stream: true }, 200],
    ['messages', '/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 50, messages: hello }, 200],
    ['messages', '/v1/messages', { model: 'no-such-model', max_tokens: 50, messages: hello }, 404],
    ['embeddings', '/v1/embeddings', { model: 'text-embedding-3-small', input: 'hello' }, 200],
    ['embeddings', '/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21', { input: 'hello' }, 200],
  ];
  for (const [api, path, body, status] of calls) {
    const resp = await r.chat(body, { path });
    const text = await resp.text();
    assert.equal(resp.status, status, `${path}: ${text}`);
    const event = await r.eventFor(resp);
    assert.equal(event.shape.api, api, `${path}: ${JSON.stringify(event.shape)}`);
  }
  const before = r.events.length;
  const counted = await r.chat({ model: 'claude-haiku-4-5', messages: hello }, { path: '/v1/messages/count_tokens' });
  assert.equal(counted.status, 200, await counted.text());
  await new Promise((done) => setTimeout(done, 200));
  assert.equal(r.events.length, before, 'counting tokens calls no model');
});

test('streaming chat through Anthropic', async () => {
  const resp = await r.chat({ model: 'claude-haiku-4-5', stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal(resp.status, 200);
  const { data, comments } = await readSse(resp);
  assert.equal(data.at(-1), '[DONE]');
  assert.ok(comments.some((c) => c.startsWith('costrouter ')), comments.join('|'));
});

test('browser clients: the API answers CORS preflights and lets any origin read its answers; the dashboard does not', async () => {
  const origin = 'https://app.example.com';
  const preflight = await fetch(`${r.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization, content-type, x-stainless-os');
  // A list too long to echo whole is not cut mid-name: any header, and authorization by name.
  const many = Array.from({ length: 40 }, (_, i) => `x-app-header-number-${i}`).join(', ');
  const long = await fetch(`${r.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': `authorization, content-type, ${many}` },
  });
  assert.equal(long.status, 204);
  assert.equal(long.headers.get('access-control-allow-headers'), '*, authorization');
  const answered = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { origin } });
  assert.equal(answered.status, 200);
  assert.equal(answered.headers.get('access-control-allow-origin'), '*');
  assert.match(answered.headers.get('access-control-expose-headers'), /x-request-id.*x-costrouter-cost-usd/);
  await answered.text();
  // Errors too, or a browser script could not read why it was refused.
  const refused = await fetch(`${r.url}/v1/models`, { headers: { origin, authorization: 'Bearer nope' } });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('access-control-allow-origin'), '*');
  // Azure's v1 API paths are the same API.
  const azureV1 = await fetch(`${r.url}/openai/v1/models`, { headers: { origin, authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(azureV1.status, 200);
  assert.ok((await azureV1.json()).data.length > 0);
  const dashboard = await fetch(`${r.url}/dashboard`, { headers: { origin } });
  assert.equal(dashboard.headers.get('access-control-allow-origin'), null, 'the cookie-authenticated dashboard stays same-origin');
  await dashboard.text();
});

test("a deployment without wrangler.toml's [assets] section answers the dashboard's script with a 500 saying so, in OpenAI's shape", async () => {
  const resp = await fetch(`${r.url}/dashboard/app.js`);
  assert.equal(resp.status, 500);
  const body = await resp.json();
  assert.equal(body.error.code, 'router_misconfigured');
  assert.match(body.error.message, /no ASSETS binding: add wrangler\.toml's \[assets\] section/);
});
