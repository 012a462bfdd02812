import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse } from './harness.mjs';

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

test('streaming chat through Anthropic', async () => {
  const resp = await r.chat({ model: 'claude-haiku-4-5', stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
  assert.equal(resp.status, 200);
  const { data, comments } = await readSse(resp);
  assert.equal(data.at(-1), '[DONE]');
  assert.ok(comments.some((c) => c.startsWith('costrouter ')), comments.join('|'));
});
