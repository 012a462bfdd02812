// Anthropic's Messages API (`/v1/messages`) through the real worker, with the official Anthropic
// SDKs unmodified but for their base URL: Node's (`@anthropic-ai/sdk`) in-process, Python's
// (`anthropic`) as tests/sdk/python_anthropic_check.py. The request is translated to chat, routed
// to any provider (an Anthropic model and an OpenAI one here) and the answer translated back; the
// SDKs' stream helpers accumulate every event into the final message, so a malformed event
// sequence fails them.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startRouter, runInRepo, KEYS } from './harness.mjs';

const MODELS = ['claude-haiku-4-5', 'gpt-4o-mini'];
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const WEATHER_QUESTION = [{ role: 'user', content: 'What is the weather in Paris?' }];

let r;
let client;
before(async () => {
  r = await startRouter();
  client = new Anthropic({ baseURL: r.url, apiKey: KEYS.acme, maxRetries: 0, timeout: 20000 });
});
after(async () => { await r?.close(); });
beforeEach(() => r.upstream.reset());

const upstreamChats = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$/.test(q.path));

test('the official Anthropic Python SDK (tests/sdk/python_anthropic_check.py)', async () => {
  const { code, output } = await runInRepo('python3', ['tests/sdk/python_anthropic_check.py'], { env: { ROUTER_URL: r.url, ROUTER_KEY: KEYS.acme, PYTHONUNBUFFERED: '1' }, timeoutMs: 60000 });
  assert.equal(code, 0, `python_anthropic_check.py failed (exit ${code}):\n${output}`);
  assert.match(output, /checks passed/);
});

for (const model of MODELS) {
  test(`Node SDK: messages.create() with ${model}, whole and streamed, priced and counted once`, async () => {
    const { data, response } = await client.messages
      .create({ model, max_tokens: 200, system: 'Be friendly.', messages: [{ role: 'user', content: 'Say hello' }] })
      .withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.match(data.id, /^msg_[0-9a-f]+$/);
    assert.equal(data.id.slice('msg_'.length), response.headers.get('x-costrouter-request-id').slice('req_'.length));
    assert.equal(data.content.length, 1, JSON.stringify(data.content));
    assert.equal(data.content[0].type, 'text');
    assert.match(data.content[0].text, /Hello from fake/);
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0, JSON.stringify(data.usage));
    assert.ok(Number(response.headers.get('x-costrouter-cost-usd')) > 0);
    const event = await r.eventFor(response);
    assert.equal(event.status, 200);

    const stream = client.messages.stream({ model, max_tokens: 200, messages: [{ role: 'user', content: 'Say hello' }] });
    const seen = [];
    let deltas = '';
    stream.on('streamEvent', (e) => seen.push(e.type));
    stream.on('text', (t) => { deltas += t; });
    const final = await stream.finalMessage();
    assert.match(final.content[0].text, /Hello from fake/);
    assert.equal(deltas, final.content[0].text);
    assert.equal(final.stop_reason, 'end_turn');
    // The usage comes at the end of the chat stream; the final message_delta carries it all.
    assert.ok(final.usage.input_tokens > 0 && final.usage.output_tokens > 0, JSON.stringify(final.usage));
    assert.deepEqual(seen.slice(0, 2), ['message_start', 'content_block_start']);
    assert.deepEqual(seen.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  });

  test(`Node SDK: a tool loop with ${model}, whole and streamed`, async () => {
    const first = await client.messages.create({ model, max_tokens: 300, tools: [WEATHER_TOOL], messages: WEATHER_QUESTION });
    assert.equal(first.stop_reason, 'tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    assert.ok(call, JSON.stringify(first.content));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.input, { city: 'Paris' });
    const followUp = await client.messages.create({
      model,
      max_tokens: 300,
      tools: [WEATHER_TOOL],
      messages: [...WEATHER_QUESTION, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '{"temperature_c":21}' }] }],
    });
    assert.equal(followUp.stop_reason, 'end_turn');
    assert.equal(followUp.content.at(-1).type, 'text');

    const streamed = await client.messages.stream({ model, max_tokens: 300, tools: [WEATHER_TOOL], messages: WEATHER_QUESTION }).finalMessage();
    const streamedCall = streamed.content.find((b) => b.type === 'tool_use');
    assert.equal(streamedCall?.name, 'get_weather', JSON.stringify(streamed.content));
    assert.deepEqual(streamedCall.input, { city: 'Paris' });
    assert.equal(streamed.stop_reason, 'tool_use');
  });
}

test('Node SDK: extended thinking through Claude, its signed block sent back in a tool loop', async () => {
  const model = 'claude-haiku-4-5';
  const first = await client.messages.create({ model, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2048 }, tools: [WEATHER_TOOL], messages: WEATHER_QUESTION });
  assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'tool_use'], JSON.stringify(first.content));
  // The signature comes back marked with the model that wrote it (only it can verify it).
  assert.match(first.content[0].signature, /^costrouter:claude-haiku-4-5 \S+$/);
  // The budget asked for was sent as the effort whose budget holds it.
  assert.deepEqual(upstreamChats().at(-1).body.thinking, { type: 'enabled', budget_tokens: 2048 });
  const call = first.content[1];
  const followUp = await client.messages.create({
    model,
    max_tokens: 4000,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    tools: [WEATHER_TOOL],
    messages: [...WEATHER_QUESTION, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '21 C' }] }],
  });
  assert.equal(followUp.stop_reason, 'end_turn', JSON.stringify(followUp));
  // The signed block went back to Anthropic at the head of the assistant turn (it refuses a tool
  // loop with thinking whose turn does not start with it).
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.thinking?.type, 'enabled');
  assert.equal(sent.messages[1].content[0].type, 'thinking');

  // Streamed, the thinking arrives as thinking deltas and its block is signed before the
  // tool call starts, as Anthropic streams it: the loop keeps thinking.
  const seen = [];
  const stream = client.messages.stream({ model, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2048 }, tools: [WEATHER_TOOL], messages: WEATHER_QUESTION });
  stream.on('streamEvent', (e) => seen.push(e.type === 'content_block_delta' ? e.delta.type : e.type));
  const streamed = await stream.finalMessage();
  assert.deepEqual(streamed.content.map((b) => b.type), ['thinking', 'tool_use'], JSON.stringify(streamed.content));
  assert.ok(streamed.content[0].thinking.length > 0);
  assert.match(streamed.content[0].signature, /^costrouter:claude-haiku-4-5 \S+$/);
  const signedAt = seen.indexOf('signature_delta');
  assert.ok(signedAt > 0 && signedAt < seen.indexOf('input_json_delta'), seen.join(' '));
  const afterStream = await client.messages.create({
    model,
    max_tokens: 4000,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    tools: [WEATHER_TOOL],
    messages: [...WEATHER_QUESTION, { role: 'assistant', content: streamed.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: streamed.content[1].id, content: '21 C' }] }],
  });
  assert.equal(afterStream.stop_reason, 'end_turn', JSON.stringify(afterStream));
  const sentAfterStream = upstreamChats().at(-1).body;
  assert.equal(sentAfterStream.thinking?.type, 'enabled', 'the loop kept thinking');
  assert.deepEqual(sentAfterStream.messages[1].content[0], { type: 'thinking', thinking: streamed.content[0].thinking, signature: first.content[0].signature.split(' ')[1] });
});

test('Node SDK: Claude Code\'s way in: x-api-key or a bearer token, ?beta=true, cache_control marks and count_tokens', async () => {
  // The SDK sends the key as x-api-key; Claude Code with ANTHROPIC_AUTH_TOKEN sends a bearer.
  const bearer = new Anthropic({ baseURL: r.url, authToken: KEYS.acme, apiKey: null, maxRetries: 0 });
  const marked = {
    model: 'claude-haiku-4-5',
    max_tokens: 100,
    system: [{ type: 'text', text: 'You are a coding assistant.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello', cache_control: { type: 'ephemeral' } }] }],
  };
  const answer = await bearer.beta.messages.create({ ...marked, betas: ['interleaved-thinking-2025-05-14'] });
  assert.match(answer.content[0].text, /Hello from fake/);
  const sent = upstreamChats().at(-1);
  assert.match(sent.path, /\/messages$/);
  assert.deepEqual(sent.body.system.at(-1).cache_control, { type: 'ephemeral' }, JSON.stringify(sent.body.system));
  assert.deepEqual(sent.body.messages[0].content.at(-1).cache_control, { type: 'ephemeral' });

  // x-api-key is a credential on the Messages API's paths only.
  const elsewhere = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-api-key': KEYS.acme, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(elsewhere.status, 401);
  assert.equal((await elsewhere.json()).error.code, 'missing_api_key');
  const counted = await client.messages.countTokens({ model: 'claude-haiku-4-5', system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello to everyone in the room' }] });
  assert.ok(counted.input_tokens > 5 && counted.input_tokens < 100, JSON.stringify(counted));
});

test('Node SDK: models.list() and retrieve() in Anthropic\'s shape (Claude Code\'s model discovery), chat models only', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.type, 'model');
    assert.equal(model.display_name, model.id);
    assert.equal(model.created_at, '1970-01-01T00:00:00Z');
    ids.push(model.id);
  }
  assert.ok(ids.includes('claude-haiku-4-5') && ids.includes('gpt-4o-mini') && ids.includes('fast'), ids.join(', '));
  assert.ok(!ids.includes('text-embedding-3-small'), 'an embedding model answers no messages');
  const one = await client.models.retrieve('claude-haiku-4-5');
  assert.deepEqual([one.type, one.id], ['model', 'claude-haiku-4-5']);
  await assert.rejects(client.models.retrieve('no-such-model'), (err) => {
    assert.ok(err instanceof Anthropic.NotFoundError);
    assert.equal(err.type, 'not_found_error');
    return true;
  });
});

test('Node SDK: refusals are the SDK\'s typed errors, in Anthropic\'s shape with the request id', async () => {
  await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err instanceof Anthropic.NotFoundError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.type, 'not_found_error');
    assert.equal(err.error.type, 'error');
    assert.match(err.requestID ?? '', /^req_/);
    return true;
  });
  await assert.rejects(client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], mcp_servers: [{ type: 'url', url: 'https://example.com', name: 'x' }] }), (err) => {
    assert.ok(err instanceof Anthropic.BadRequestError);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /MCP/);
    return true;
  });
  const stranger = new Anthropic({ baseURL: r.url, apiKey: 'not-a-router-key', maxRetries: 0 });
  await assert.rejects(stranger.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err instanceof Anthropic.AuthenticationError, `${err.constructor.name}: ${err.message}`);
    assert.equal(err.type, 'authentication_error');
    return true;
  });
  // A provider's failure before any answer: the SDK's retryable overloaded / server error.
  r.upstream.script([{ provider: 'anthropic', model: 'claude-haiku-4-5', response: { status: 500 }, times: 5 }]);
  await assert.rejects(client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (err) => {
    assert.ok(err.status >= 500, `${err.status}: ${err.message}`);
    assert.equal(err.error?.type, 'error', JSON.stringify(err.error));
    return true;
  });
});

for (const stream of [false, true]) {
  test(`Anthropic's cache reads and writes come back as Anthropic counts them (${stream ? 'streamed' : 'whole'})`, async () => {
    r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'Cached context.', usage: { input_tokens: 100, cache_read_input_tokens: 2000, cache_creation_input_tokens: 1000, output_tokens: 50 } } });
    const asked = { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }] };
    const message = stream ? await client.messages.stream(asked).finalMessage() : await client.messages.create(asked);
    assert.equal(message.content[0].text, 'Cached context.');
    assert.deepEqual(
      { input: message.usage.input_tokens, read: message.usage.cache_read_input_tokens, written: message.usage.cache_creation_input_tokens, output: message.usage.output_tokens },
      { input: 100, read: 2000, written: 1000, output: 50 },
    );
  });
}

test('a stream cut by the provider ends in Anthropic\'s error event, with one cost event', async () => {
  // Anthropic's first text arrives in its fourth event (message_start, content_block_start, ping).
  r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { fault: 'truncated', truncate_after: 4 } });
  const resp = await r.chat({ model: 'claude-haiku-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Say hello there, friend' }] }, { path: '/v1/messages' });
  assert.equal(resp.status, 200);
  const text = await resp.text();
  const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.equal(types[0], 'message_start', text);
  assert.ok(types.includes('content_block_delta'), `the first text reached the client: ${text}`);
  assert.equal(types.at(-1), 'error', text);
  assert.ok(!types.includes('message_stop'), text);
  assert.match(text, /^: costrouter /m, 'the cost trailer passes');
  await r.eventFor(resp);
});
