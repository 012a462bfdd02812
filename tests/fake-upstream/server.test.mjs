// Self-test for the fake upstream: `node --test tests/fake-upstream/`.
// Starts the server in-process on port 0 and drives every endpoint and fault with fetch.

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { DEMO_PREFIX, TEST_KEYS, contextWindowsFromSeed, startFakeUpstream } from './server.mjs';

let up;
before(async () => {
  up = await startFakeUpstream();
});
after(() => up.close());
beforeEach(() => up.reset());

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const AUTH = {
  openai: { authorization: `Bearer ${TEST_KEYS.openai}` },
  azure: { 'api-key': TEST_KEYS.azure },
  anthropic: { 'x-api-key': TEST_KEYS.anthropic, 'anthropic-version': '2023-06-01' },
  gemini: { 'x-goog-api-key': TEST_KEYS.gemini },
};

const AZURE_CHAT = '/azure/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21';
const GEMINI_GENERATE = '/gemini/v1beta/models/gemini-2.0-flash:generateContent';
const GEMINI_STREAM = '/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse';

function post(path, body, headers = {}, base = up.url) {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A minimal chat request for each provider saying `text`. */
function chat(provider, text, extra = {}) {
  switch (provider) {
    case 'openai':
      return post('/openai/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra }, AUTH.openai);
    case 'azure':
      return post(AZURE_CHAT, { messages: [{ role: 'user', content: text }], ...extra }, AUTH.azure);
    case 'anthropic':
      return post('/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: text }], ...extra }, AUTH.anthropic);
    case 'gemini':
      return post(extra.stream ? GEMINI_STREAM : GEMINI_GENERATE, { contents: [{ role: 'user', parts: [{ text }] }] }, AUTH.gemini);
    default:
      throw new Error(provider);
  }
}

const tokens = (chars) => Math.ceil(chars / 4);
/** The documented formula: ceil(all message chars / 4) + 3 per message. */
const promptTokens = (...texts) => tokens(texts.join('').length) + 3 * texts.length;

/** Parse an SSE body into [{event?, data}] (accepts LF and CRLF framing). */
function parseSSE(text) {
  return text.split(/\r?\n\r?\n/).filter((b) => b.trim()).map((block) => {
    const ev = {};
    for (const line of block.split(/\r?\n/)) {
      const i = line.indexOf(':');
      ev[line.slice(0, i)] = line.slice(i + 1).replace(/^ /, '');
    }
    return ev;
  });
}
const sseJson = (events) => events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));

/** Read a body chunk by chunk; returns what arrived and any error that cut it short. */
async function readTolerant(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let reads = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, reads, error: null };
      reads += 1;
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    return { text, reads, error };
  }
}

// ---------------------------------------------------------------------------
// OpenAI
// ---------------------------------------------------------------------------

describe('openai', () => {
  test('non-streaming chat completion shape, text and usage', async () => {
    const res = await post('/openai/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'What is the capital of France, and why is it famous?' }] },
      ],
    }, AUTH.openai);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /application\/json/);
    assert.ok(res.headers.get('x-request-id'));
    const body = await res.json();
    const text = 'Hello from fake openai gpt-4o-mini. You said: What is the capital of France, and why i';
    assert.equal(body.object, 'chat.completion');
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.model, 'gpt-4o-mini');
    assert.equal(typeof body.created, 'number');
    assert.deepEqual(body.choices[0].message, { role: 'assistant', content: text, refusal: null, annotations: [] });
    assert.equal(body.choices[0].finish_reason, 'stop');
    const prompt = promptTokens('Be brief.', 'What is the capital of France, and why is it famous?');
    assert.deepEqual(body.usage, {
      prompt_tokens: prompt,
      completion_tokens: tokens(text.length),
      total_tokens: prompt + tokens(text.length),
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    });
  });

  test('answers are deterministic', async () => {
    const a = await (await chat('openai', 'same question')).json();
    up.reset();
    const b = await (await chat('openai', 'same question')).json();
    assert.deepEqual(a, b);
  });

  test('streaming: role chunk, 3+ content deltas, finish chunk, [DONE], no usage by default', async () => {
    const res = await chat('openai', 'Tell me a story', { stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const { text, reads, error } = await readTolerant(res);
    assert.equal(error, null);
    assert.ok(reads >= 3, `events should arrive separately (got ${reads} reads)`);
    const events = parseSSE(text);
    assert.equal(events.at(-1).data, '[DONE]');
    const chunks = sseJson(events);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.model, 'gpt-4o-mini');
      assert.equal('usage' in c, false);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const contentDeltas = chunks.filter((c) => c.choices[0]?.delta.content);
    assert.ok(contentDeltas.length >= 3);
    assert.equal(
      chunks.map((c) => c.choices[0].delta.content ?? '').join(''),
      'Hello from fake openai gpt-4o-mini. You said: Tell me a story',
    );
    assert.deepEqual(chunks.at(-1).choices[0].delta, {});
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
  });

  test('streaming with include_usage ends with a choices:[] usage chunk before [DONE]', async () => {
    const res = await chat('openai', 'hi', { stream: true, stream_options: { include_usage: true } });
    const events = parseSSE(await res.text());
    assert.equal(events.at(-1).data, '[DONE]');
    const chunks = sseJson(events);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    const answer = 'Hello from fake openai gpt-4o-mini. You said: hi';
    assert.equal(last.usage.prompt_tokens, promptTokens('hi'));
    assert.equal(last.usage.completion_tokens, tokens(answer.length));
    assert.equal(last.usage.total_tokens, promptTokens('hi') + tokens(answer.length));
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  test('stream_options without stream is rejected like OpenAI does', async () => {
    const res = await chat('openai', 'hi', { stream_options: { include_usage: true } });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.param, 'stream_options');
  });

  const weatherTools = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    { type: 'function', function: { name: 'other_tool', parameters: { type: 'object' } } },
  ];

  test('tool call when tools are declared and the user asks about the weather', async () => {
    const body = await (await chat('openai', "What's the weather like?", { tools: weatherTools })).json();
    const choice = body.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(body.usage.completion_tokens, tokens('get_weather{"city":"Paris"}'.length));
  });

  test('no tool call after a tool result, without tools, or with tool_choice none', async () => {
    const afterResult = await (await post('/openai/v1/chat/completions', {
      model: 'gpt-4o-mini',
      tools: weatherTools,
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
    }, AUTH.openai)).json();
    assert.equal(afterResult.choices[0].finish_reason, 'stop');
    assert.equal(afterResult.choices[0].message.content, 'Hello from fake openai gpt-4o-mini. You said: weather in Paris?');
    assert.equal(afterResult.usage.prompt_tokens, promptTokens('weather in Paris?', '{"city":"Paris"}', 'sunny'));

    const noTools = await (await chat('openai', 'weather?')).json();
    assert.equal(noTools.choices[0].finish_reason, 'stop');
    const none = await (await chat('openai', 'weather?', { tools: weatherTools, tool_choice: 'none' })).json();
    assert.equal(none.choices[0].finish_reason, 'stop');
  });

  test('streamed tool call: id and name first, then argument fragments', async () => {
    const res = await chat('openai', 'weather please', { tools: weatherTools, stream: true });
    const chunks = sseJson(parseSSE(await res.text()));
    const first = chunks[0].choices[0].delta;
    assert.equal(first.role, 'assistant');
    assert.equal(first.tool_calls[0].index, 0);
    assert.match(first.tool_calls[0].id, /^call_/);
    assert.equal(first.tool_calls[0].function.name, 'get_weather');
    const fragments = chunks.slice(1, -1).map((c) => c.choices[0].delta.tool_calls[0].function.arguments);
    assert.ok(fragments.length >= 2);
    assert.deepEqual(JSON.parse(fragments.join('')), { city: 'Paris' });
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  test('response_format json_object and json_schema produce JSON text', async () => {
    const obj = await (await chat('openai', 'give json', { response_format: { type: 'json_object' } })).json();
    assert.deepEqual(JSON.parse(obj.choices[0].message.content), { answer: 'fake' });
    const schema = await (await chat('openai', 'give json', {
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person', strict: true,
          schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['name', 'age', 'tags'], additionalProperties: false },
        },
      },
    })).json();
    assert.deepEqual(JSON.parse(schema.choices[0].message.content), { name: 'fake', age: 0, tags: ['fake'] });
  });

  test('n > 1 returns n choices and bills each', async () => {
    const body = await (await chat('openai', 'hi', { n: 3 })).json();
    assert.deepEqual(body.choices.map((c) => c.index), [0, 1, 2]);
    const answer = 'Hello from fake openai gpt-4o-mini. You said: hi';
    assert.equal(body.usage.completion_tokens, 3 * tokens(answer.length));

    const streamed = sseJson(parseSSE(await (await chat('openai', 'hi', { n: 2, stream: true })).text()));
    for (const index of [0, 1]) {
      const mine = streamed.filter((c) => c.choices[0].index === index);
      assert.equal(mine.map((c) => c.choices[0].delta.content ?? '').join(''), answer);
      assert.equal(mine.at(-1).choices[0].finish_reason, 'stop');
    }
  });

  test('embeddings: deterministic unit vectors, dimensions, base64, usage', async () => {
    const embed = (body) => post('/openai/v1/embeddings', { model: 'text-embedding-3-small', ...body }, AUTH.openai).then((r) => r.json());
    const one = await embed({ input: 'hello world' });
    assert.equal(one.object, 'list');
    assert.equal(one.model, 'text-embedding-3-small');
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].object, 'embedding');
    assert.equal(one.data[0].embedding.length, 8);
    const norm = Math.hypot(...one.data[0].embedding);
    assert.ok(Math.abs(norm - 1) < 1e-4);
    assert.deepEqual(one.usage, { prompt_tokens: tokens(11), total_tokens: tokens(11) });

    const many = await embed({ input: ['hello world', 'another text'], dimensions: 16 });
    assert.deepEqual(many.data.map((d) => d.index), [0, 1]);
    assert.equal(many.data[0].embedding.length, 16);
    assert.notDeepEqual(many.data[0].embedding, many.data[1].embedding);
    assert.equal(many.usage.prompt_tokens, tokens(11) + tokens(12));

    const again = await embed({ input: 'hello world' });
    assert.deepEqual(again.data[0].embedding, one.data[0].embedding);

    const b64 = await embed({ input: 'hello world', encoding_format: 'base64' });
    const floats = new Float32Array(new Uint8Array(Buffer.from(b64.data[0].embedding, 'base64')).buffer);
    assert.equal(floats.length, 8);
    floats.forEach((x, i) => assert.ok(Math.abs(x - one.data[0].embedding[i]) < 1e-6));
  });

  test('models list', async () => {
    const res = await fetch(`${up.url}/openai/v1/models`, { headers: AUTH.openai });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, 'list');
    assert.ok(body.data.some((m) => m.id === 'gpt-4o-mini' && m.object === 'model'));
  });

  test('unknown path gets OpenAI 404 shape', async () => {
    const res = await post('/openai/v1/nope', {}, AUTH.openai);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.type, 'invalid_request_error');
  });
});

// ---------------------------------------------------------------------------
// Azure OpenAI
// ---------------------------------------------------------------------------

describe('azure', () => {
  test('chat completion: model is the deployment, content filter results present', async () => {
    const res = await chat('azure', 'hello azure');
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'my-gpt4o');
    assert.equal(body.choices[0].message.content, 'Hello from fake azure my-gpt4o. You said: hello azure');
    assert.ok(body.prompt_filter_results[0].content_filter_results);
    assert.ok(body.choices[0].content_filter_results);
    assert.equal(body.usage.prompt_tokens, promptTokens('hello azure'));
  });

  test('api-version is required', async () => {
    const res = await post('/azure/openai/deployments/my-gpt4o/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, AUTH.azure);
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(typeof body.error.code, 'string');
    assert.match(body.error.message, /api-version/);
  });

  test('streaming starts with the prompt-filter chunk and supports include_usage', async () => {
    const res = await chat('azure', 'stream me', { stream: true, stream_options: { include_usage: true } });
    const events = parseSSE(await res.text());
    assert.equal(events.at(-1).data, '[DONE]');
    const chunks = sseJson(events);
    assert.deepEqual(chunks[0].choices, []);
    assert.ok(chunks[0].prompt_filter_results);
    assert.equal(chunks[1].choices[0].delta.role, 'assistant');
    assert.equal(chunks[1].model, 'my-gpt4o');
    assert.equal(chunks.at(-1).usage.prompt_tokens, promptTokens('stream me'));
  });

  test('embeddings', async () => {
    const res = await post('/azure/openai/deployments/emb-small/embeddings?api-version=2024-10-21', { input: ['a', 'b'] }, AUTH.azure);
    const body = await res.json();
    assert.equal(body.model, 'emb-small');
    assert.equal(body.data.length, 2);
    assert.equal(body.usage.prompt_tokens, 2);
  });
});

// ---------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------

describe('anthropic', () => {
  test('non-streaming message shape, text and usage (system counts as a message)', async () => {
    const res = await post('/anthropic/v1/messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      system: 'You are terse.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi Claude' }] }],
    }, AUTH.anthropic);
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('request-id'));
    const body = await res.json();
    const text = 'Hello from fake anthropic claude-sonnet-4-5. You said: Hi Claude';
    assert.equal(body.type, 'message');
    assert.equal(body.role, 'assistant');
    assert.match(body.id, /^msg_/);
    assert.equal(body.model, 'claude-sonnet-4-5');
    assert.deepEqual(body.content, [{ type: 'text', text }]);
    assert.equal(body.stop_reason, 'end_turn');
    assert.equal(body.stop_sequence, null);
    assert.equal(body.usage.input_tokens, promptTokens('You are terse.', 'Hi Claude'));
    assert.equal(body.usage.output_tokens, tokens(text.length));
    assert.equal(body.usage.cache_creation_input_tokens, 0);
    assert.equal(body.usage.cache_read_input_tokens, 0);
  });

  test('requires anthropic-version and max_tokens', async () => {
    const noVersion = await post('/anthropic/v1/messages', { model: 'm', max_tokens: 5, messages: [] }, { 'x-api-key': TEST_KEYS.anthropic });
    assert.equal(noVersion.status, 400);
    assert.equal((await noVersion.json()).error.type, 'invalid_request_error');

    const noMax = await post('/anthropic/v1/messages', { model: 'm', messages: [{ role: 'user', content: 'x' }] }, AUTH.anthropic);
    assert.equal(noMax.status, 400);
    const body = await noMax.json();
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /max_tokens/);
  });

  test('structured outputs: a JSON answer from output_config.format, refusals as Anthropic gives them', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'], additionalProperties: false };
    const ask = (model, format, extra = {}) => post('/anthropic/v1/messages', { model, max_tokens: 100, messages: [{ role: 'user', content: 'Plan a trip' }], output_config: { format }, ...extra }, AUTH.anthropic);
    const ok = await ask('claude-haiku-4-5', { type: 'json_schema', schema });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse((await ok.json()).content[0].text), { city: 'fake', days: 0 });
    const refused = async (res, pattern) => {
      assert.equal(res.status, 400);
      const body = await res.json();
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, pattern);
    };
    await refused(await ask('claude-opus-4-1', { type: 'json_schema', schema }), /does not support output_config.format/);
    await refused(await ask('claude-sonnet-4-5', { type: 'json_schema', schema: { ...schema, additionalProperties: true } }), /additionalProperties/);
    await refused(await ask('claude-sonnet-4-5', { type: 'json_schema', schema: { ...schema, properties: { days: { type: 'integer', minimum: 1 } } } }), /'minimum' is not supported/);
    const prefill = { messages: [{ role: 'user', content: 'Plan a trip' }, { role: 'assistant', content: '{' }] };
    await refused(await ask('claude-sonnet-4-5', { type: 'json_schema', schema }, prefill), /Prefilling/);
  });

  test('streaming event sequence with event: lines', async () => {
    const res = await chat('anthropic', 'Stream please', { stream: true });
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const events = parseSSE(await res.text());
    const types = events.map((e) => e.event);
    for (const e of events) assert.equal(JSON.parse(e.data).type, e.event);
    assert.deepEqual(types.slice(0, 3), ['message_start', 'content_block_start', 'ping']);
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    const deltas = events.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta);
    assert.ok(deltas.length >= 3);
    assert.ok(deltas.every((d) => d.type === 'text_delta'));
    assert.equal(deltas.map((d) => d.text).join(''), 'Hello from fake anthropic claude-sonnet-4-5. You said: Stream please');

    const start = JSON.parse(events[0].data).message;
    assert.equal(start.usage.input_tokens, promptTokens('Stream please'));
    assert.equal(start.usage.output_tokens, 1);
    assert.equal(start.usage.cache_read_input_tokens, 0);
    assert.equal(start.usage.cache_creation_input_tokens, 0);
    assert.deepEqual(start.content, []);
    const messageDelta = JSON.parse(events.at(-2).data);
    assert.equal(messageDelta.delta.stop_reason, 'end_turn');
    assert.equal(messageDelta.usage.output_tokens, tokens('Hello from fake anthropic claude-sonnet-4-5. You said: Stream please'.length));
  });

  const tools = [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];

  test('tool_use block, non-streaming and streaming', async () => {
    const body = await (await chat('anthropic', 'weather in town?', { tools })).json();
    assert.equal(body.stop_reason, 'tool_use');
    assert.equal(body.content[0].type, 'tool_use');
    assert.match(body.content[0].id, /^toolu_/);
    assert.equal(body.content[0].name, 'get_weather');
    assert.deepEqual(body.content[0].input, { city: 'Paris' });

    const events = parseSSE(await (await chat('anthropic', 'weather in town?', { tools, stream: true })).text());
    const block = JSON.parse(events[1].data).content_block;
    assert.deepEqual({ type: block.type, name: block.name, input: block.input }, { type: 'tool_use', name: 'get_weather', input: {} });
    const partial = events.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta);
    assert.ok(partial.every((d) => d.type === 'input_json_delta'));
    assert.deepEqual(JSON.parse(partial.map((d) => d.partial_json).join('')), { city: 'Paris' });
    assert.equal(JSON.parse(events.at(-2).data).delta.stop_reason, 'tool_use');
  });

  test('no tool call once the last turn is a tool_result', async () => {
    const body = await (await post('/anthropic/v1/messages', {
      model: 'claude-sonnet-4-5', max_tokens: 50, tools,
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
      ],
    }, AUTH.anthropic)).json();
    assert.equal(body.stop_reason, 'end_turn');
    assert.equal(body.content[0].text, 'Hello from fake anthropic claude-sonnet-4-5. You said: weather?');
  });
});

// ---------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------

describe('gemini', () => {
  test('generateContent shape, text and usageMetadata', async () => {
    const res = await post(GEMINI_GENERATE, {
      systemInstruction: { parts: [{ text: 'Be nice.' }] },
      contents: [{ role: 'user', parts: [{ text: 'Bonjour Gemini' }] }],
    }, AUTH.gemini);
    assert.equal(res.status, 200);
    const body = await res.json();
    const text = 'Hello from fake gemini gemini-2.0-flash. You said: Bonjour Gemini';
    const candidate = body.candidates[0];
    assert.deepEqual(candidate.content, { parts: [{ text }], role: 'model' });
    assert.equal(candidate.finishReason, 'STOP');
    assert.equal(body.modelVersion, 'gemini-2.0-flash');
    assert.ok(body.responseId);
    const prompt = promptTokens('Be nice.', 'Bonjour Gemini');
    const { promptTokensDetails, ...usage } = body.usageMetadata;
    assert.deepEqual(usage, {
      promptTokenCount: prompt,
      candidatesTokenCount: tokens(text.length),
      totalTokenCount: prompt + tokens(text.length),
      cachedContentTokenCount: 0,
      thoughtsTokenCount: 0,
    });
    assert.deepEqual(promptTokensDetails, [{ modality: 'TEXT', tokenCount: prompt }]);
  });

  test('key in ?key= query parameter is accepted too', async () => {
    const res = await post(`${GEMINI_GENERATE}?key=${TEST_KEYS.gemini}`, { contents: [{ parts: [{ text: 'q' }] }] });
    assert.equal(res.status, 200);
  });

  test('streamGenerateContent?alt=sse: CRLF-framed events, last one finishes with full usage', async () => {
    const res = await chat('gemini', 'Stream it', { stream: true });
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const raw = await res.text();
    assert.ok(raw.includes('\r\n\r\n'), 'Gemini frames SSE events with CRLF');
    const events = sseJson(parseSSE(raw));
    assert.ok(events.length >= 3);
    const text = 'Hello from fake gemini gemini-2.0-flash. You said: Stream it';
    assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), text);
    for (const e of events) {
      assert.equal(e.candidates[0].content.role, 'model');
      assert.equal(e.modelVersion, 'gemini-2.0-flash');
      assert.ok(e.usageMetadata);
    }
    assert.ok(events.slice(0, -1).every((e) => e.candidates[0].finishReason === undefined));
    const last = events.at(-1);
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.equal(last.usageMetadata.candidatesTokenCount, tokens(text.length));
    assert.equal(last.usageMetadata.totalTokenCount, promptTokens('Stream it') + tokens(text.length));
    assert.equal(last.usageMetadata.thoughtsTokenCount, 0);
    assert.equal(last.usageMetadata.cachedContentTokenCount, 0);
  });

  test('streamGenerateContent without alt=sse streams a JSON array', async () => {
    const res = await post('/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent', { contents: [{ parts: [{ text: 'arr' }] }] }, AUTH.gemini);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const body = await res.json();
    assert.ok(Array.isArray(body) && body.length >= 3);
    assert.equal(body.at(-1).candidates[0].finishReason, 'STOP');
  });

  test('functionCall part when function declarations are present', async () => {
    const req = {
      contents: [{ role: 'user', parts: [{ text: 'How is the weather?' }] }],
      tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }],
    };
    const body = await (await post(GEMINI_GENERATE, req, AUTH.gemini)).json();
    assert.deepEqual(body.candidates[0].content.parts, [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }]);
    assert.equal(body.candidates[0].finishReason, 'STOP');

    const streamed = sseJson(parseSSE(await (await post(GEMINI_STREAM, req, AUTH.gemini)).text()));
    assert.deepEqual(streamed.at(-1).candidates[0].content.parts[0].functionCall, { name: 'get_weather', args: { city: 'Paris' } });
  });

  test('responseMimeType application/json produces JSON from responseSchema', async () => {
    const body = await (await post(GEMINI_GENERATE, {
      contents: [{ parts: [{ text: 'json' }] }],
      generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', properties: { ok: { type: 'BOOLEAN' } } } },
    }, AUTH.gemini)).json();
    assert.deepEqual(JSON.parse(body.candidates[0].content.parts[0].text), { ok: true });
  });

  test('a thinking level the model does not take is a 400 naming the levels it does', async () => {
    const at = (model, thinkingLevel) => post(`/gemini/v1beta/models/${model}:generateContent`, {
      contents: [{ parts: [{ text: 'q' }] }], generationConfig: { thinkingConfig: { thinkingLevel } },
    }, AUTH.gemini);
    for (const [model, level] of [['gemini-3.8-flash', 'minimal'], ['gemini-3.1-pro-preview', 'minimal'], ['gemini-3-pro-preview', 'medium'], ['gemini-4-argon', 'xhigh']]) {
      const res = await at(model, level);
      assert.equal(res.status, 400, `${model} ${level}`);
      const { error } = await res.json();
      assert.equal(error.status, 'INVALID_ARGUMENT');
      assert.match(error.message, new RegExp(`Thinking level ${level.toUpperCase()} is not supported`));
    }
    for (const [model, level] of [['gemini-3-flash-preview', 'minimal'], ['gemini-3.6-flash', 'MINIMAL'], ['gemini-3.8-flash', 'low'], ['gemini-3.1-pro-preview', 'medium'], ['gemini-4-hydrogen', 'xhigh']]) {
      assert.equal((await at(model, level)).status, 200, `${model} ${level}`);
    }
  });
});

// ---------------------------------------------------------------------------
// Authentication and malformed bodies (each provider's real error shape)
// ---------------------------------------------------------------------------

describe('auth failures', () => {
  test('openai: 401 invalid_api_key, and missing key', async () => {
    const wrong = await post('/openai/v1/chat/completions', { model: 'x', messages: [] }, { authorization: 'Bearer nope-nope-nope' });
    assert.equal(wrong.status, 401);
    const body = await wrong.json();
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.code, 'invalid_api_key');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.ok(!body.error.message.includes('nope-nope-nope'), 'key is redacted');

    const missing = await post('/openai/v1/chat/completions', { model: 'x', messages: [] });
    assert.equal(missing.status, 401);
    assert.match((await missing.json()).error.message, /didn't provide an API key/);
  });

  test('azure: 401 with {error:{code,message}}', async () => {
    const res = await post(AZURE_CHAT, { messages: [] }, { 'api-key': 'wrong' });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.error.code, '401');
    assert.match(body.error.message, /Access denied/);
  });

  test('anthropic: 401 authentication_error', async () => {
    const res = await post('/anthropic/v1/messages', {}, { 'x-api-key': 'wrong', 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.type, 'error');
    assert.deepEqual(body.error, { type: 'authentication_error', message: 'invalid x-api-key' });
  });

  test('gemini: wrong key is 400 API_KEY_INVALID, missing key is 403', async () => {
    const wrong = await post(GEMINI_GENERATE, { contents: [] }, { 'x-goog-api-key': 'wrong' });
    assert.equal(wrong.status, 400);
    const body = await wrong.json();
    assert.equal(body.error.code, 400);
    assert.equal(body.error.status, 'INVALID_ARGUMENT');
    assert.equal(body.error.details[0].reason, 'API_KEY_INVALID');

    const missing = await post(GEMINI_GENERATE, { contents: [] });
    assert.equal(missing.status, 403);
    assert.equal((await missing.json()).error.status, 'PERMISSION_DENIED');
  });
});

describe('malformed JSON bodies', () => {
  test('each provider answers 400 in its own shape', async () => {
    const broken = '{"model": "x", ';
    const openai = await post('/openai/v1/chat/completions', broken, AUTH.openai);
    assert.equal(openai.status, 400);
    assert.equal((await openai.json()).error.type, 'invalid_request_error');

    const azure = await post(AZURE_CHAT, broken, AUTH.azure);
    assert.equal(azure.status, 400);
    assert.ok((await azure.json()).error.message);

    const anthropic = await post('/anthropic/v1/messages', broken, AUTH.anthropic);
    assert.equal(anthropic.status, 400);
    const a = await anthropic.json();
    assert.equal(a.type, 'error');
    assert.equal(a.error.type, 'invalid_request_error');

    const gemini = await post(GEMINI_GENERATE, broken, AUTH.gemini);
    assert.equal(gemini.status, 400);
    assert.equal((await gemini.json()).error.status, 'INVALID_ARGUMENT');
  });
});

// ---------------------------------------------------------------------------
// Scripted faults
// ---------------------------------------------------------------------------

async function script(rule) {
  const res = await post('/__control/script', rule);
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

describe('scripted faults', () => {
  test('429 in every provider shape, with retry-after', async () => {
    const expectations = {
      openai: (b) => assert.equal(b.error.code, 'rate_limit_exceeded'),
      azure: (b) => assert.equal(b.error.code, '429'),
      anthropic: (b) => assert.equal(b.error.type, 'rate_limit_error'),
      gemini: (b) => {
        assert.equal(b.error.status, 'RESOURCE_EXHAUSTED');
        assert.equal(b.error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo').retryDelay, '1s');
      },
    };
    for (const [provider, check] of Object.entries(expectations)) {
      await script({ provider, response: { status: 429 } });
      const res = await chat(provider, 'hi');
      assert.equal(res.status, 429, provider);
      assert.equal(res.headers.get('retry-after'), provider === 'gemini' ? null : '1', 'Gemini says it in the body');
      check(await res.json());
      assert.equal((await chat(provider, 'hi')).status, 200, `${provider}: the script is used up`);
    }
  });

  test('500 and 503 errors', async () => {
    await script({ provider: 'openai', response: { status: 500 } });
    const r500 = await chat('openai', 'hi');
    assert.equal(r500.status, 500);
    assert.equal((await r500.json()).error.type, 'server_error');

    await script({ provider: 'anthropic', response: { status: 503 } });
    const r503 = await chat('anthropic', 'hi');
    assert.equal(r503.status, 503);
    assert.equal((await r503.json()).error.type, 'overloaded_error');

    await script({ provider: 'gemini', response: { status: 503 } });
    const g503 = await chat('gemini', 'hi');
    assert.equal(g503.status, 503);
    assert.equal((await g503.json()).error.status, 'UNAVAILABLE');

    await script({ provider: 'azure', response: { status: 500 } });
    assert.equal((await chat('azure', 'hi')).status, 500);
  });

  test('slow: waits delay_ms, then answers normally', async () => {
    await script({ response: { fault: 'slow', delay_ms: 150 } });
    const started = performance.now();
    const res = await chat('openai', 'slowly');
    assert.equal(res.status, 200);
    assert.ok(performance.now() - started >= 140);
    assert.match((await res.json()).choices[0].message.content, /You said: slowly$/);
  });

  test('a slow error: an error status with delay_ms waits, then answers the error', async () => {
    await script({ provider: 'openai', response: { status: 500, delay_ms: 150 } });
    const started = performance.now();
    const res = await chat('openai', 'slowly');
    assert.equal(res.status, 500);
    assert.ok(performance.now() - started >= 140);
    await res.arrayBuffer();
  });

  test('reset: the socket is destroyed without an answer', async () => {
    await script({ response: { fault: 'reset' } });
    await assert.rejects(chat('anthropic', 'hi'));
    assert.equal((await chat('anthropic', 'hi')).status, 200);
  });

  test('truncated stream: two events, then the connection is cut (no [DONE])', async () => {
    await script({ provider: 'openai', response: { fault: 'truncated' } });
    const res = await chat('openai', 'cut me off', { stream: true });
    assert.equal(res.status, 200);
    const { text, error } = await readTolerant(res);
    assert.ok(error, 'reading the body fails');
    const events = parseSSE(text);
    assert.equal(events.length, 2);
    assert.ok(!text.includes('[DONE]'));

    await script({ provider: 'anthropic', response: { fault: 'truncated' } });
    const a = await readTolerant(await chat('anthropic', 'cut', { stream: true }));
    assert.ok(a.error);
    assert.deepEqual(parseSSE(a.text).map((e) => e.event), ['message_start', 'content_block_start']);
  });

  test('truncated non-stream: half a JSON body, then the connection is cut', async () => {
    await script({ provider: 'gemini', response: { fault: 'truncated' } });
    const res = await chat('gemini', 'hi');
    const { text, error } = await readTolerant(res);
    assert.ok(error);
    assert.ok(text.length > 0);
    assert.throws(() => JSON.parse(text));
  });

  test('invalid_json: 200 application/json that does not parse', async () => {
    await script({ response: { fault: 'invalid_json' } });
    const res = await chat('azure', 'hi');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /application\/json/);
    await assert.rejects(res.json());
  });

  test('matching by provider and model, times, first-in first-out', async () => {
    await script({ provider: 'anthropic', response: { status: 500 } });
    await script({ model: 'gpt-4o', times: 2, response: { status: 503 } });
    await script({ response: { status: 429 } });

    // gpt-4o-mini skips the anthropic and gpt-4o rules and takes the catch-all 429.
    assert.equal((await chat('openai', 'a')).status, 429);
    const gpt4o = () => post('/openai/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, AUTH.openai);
    assert.equal((await gpt4o()).status, 503);
    assert.equal((await gpt4o()).status, 503);
    assert.equal((await gpt4o()).status, 200);
    assert.equal((await chat('anthropic', 'b')).status, 500);
    assert.equal((await chat('anthropic', 'b')).status, 200);
  });

  test('invalid rules are refused', async () => {
    for (const rule of [{ provider: 'cohere', response: { status: 500 } }, { response: { fault: 'explode' } }, { times: 0, response: {} }, {}]) {
      const res = await post('/__control/script', rule);
      assert.equal(res.status, 400, JSON.stringify(rule));
    }
    assert.throws(() => up.script({ response: { fault: 'slow' } }), TypeError);
  });

  test('auth and validation failures do not consume scripts', async () => {
    await script({ provider: 'openai', response: { status: 500 } });
    assert.equal((await post('/openai/v1/chat/completions', { model: 'x', messages: [] })).status, 401);
    assert.equal((await chat('openai', 'x')).status, 500);
  });
});

// ---------------------------------------------------------------------------
// Scripted answers: exact text, usage and finish reasons
// ---------------------------------------------------------------------------

describe('scripted answers', () => {
  test('openai: exact text, merged usage, finish_reason, streaming too', async () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 50, prompt_tokens_details: { cached_tokens: 400 }, completion_tokens_details: { reasoning_tokens: 20 } };
    await script({ provider: 'openai', times: 2, response: { text: 'Scripted!', usage, finish_reason: 'length' } });
    const body = await (await chat('openai', 'x')).json();
    assert.equal(body.choices[0].message.content, 'Scripted!');
    assert.equal(body.choices[0].finish_reason, 'length');
    assert.equal(body.usage.prompt_tokens, 1000);
    assert.equal(body.usage.completion_tokens, 50);
    assert.equal(body.usage.total_tokens, 1050);
    assert.equal(body.usage.prompt_tokens_details.cached_tokens, 400);
    assert.equal(body.usage.prompt_tokens_details.audio_tokens, 0, 'defaults kept where not overridden');
    assert.equal(body.usage.completion_tokens_details.reasoning_tokens, 20);

    const chunks = sseJson(parseSSE(await (await chat('openai', 'x', { stream: true, stream_options: { include_usage: true } })).text()));
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Scripted!');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.equal(chunks.at(-1).usage.prompt_tokens_details.cached_tokens, 400);
    assert.equal(chunks.at(-1).usage.total_tokens, 1050);
  });

  test('anthropic: usage with cache fields, length → max_tokens, streamed usage', async () => {
    const usage = { input_tokens: 10, output_tokens: 7, cache_creation_input_tokens: 300, cache_read_input_tokens: 1200 };
    await script({ provider: 'anthropic', times: 2, response: { text: 'Cached answer', usage, finish_reason: 'length' } });
    const body = await (await chat('anthropic', 'x')).json();
    assert.deepEqual(body.content, [{ type: 'text', text: 'Cached answer' }]);
    assert.equal(body.stop_reason, 'max_tokens');
    for (const [k, v] of Object.entries(usage)) assert.equal(body.usage[k], v, k);

    const events = parseSSE(await (await chat('anthropic', 'x', { stream: true })).text());
    const start = JSON.parse(events[0].data).message.usage;
    assert.equal(start.input_tokens, 10);
    assert.equal(start.cache_creation_input_tokens, 300);
    assert.equal(start.cache_read_input_tokens, 1200);
    const messageDelta = JSON.parse(events.find((e) => e.event === 'message_delta').data);
    assert.equal(messageDelta.usage.output_tokens, 7);
    assert.equal(messageDelta.delta.stop_reason, 'max_tokens');
  });

  test('gemini: usageMetadata with cached and thoughts tokens, length → MAX_TOKENS', async () => {
    const usage = { promptTokenCount: 100, candidatesTokenCount: 30, cachedContentTokenCount: 60, thoughtsTokenCount: 12 };
    await script({ provider: 'gemini', times: 2, response: { text: 'Thinking done', usage, finish_reason: 'length' } });
    const body = await (await chat('gemini', 'x')).json();
    assert.equal(body.candidates[0].content.parts[0].text, 'Thinking done');
    assert.equal(body.candidates[0].finishReason, 'MAX_TOKENS');
    assert.equal(body.usageMetadata.totalTokenCount, 142);
    for (const [k, v] of Object.entries(usage)) assert.equal(body.usageMetadata[k], v, k);

    const events = sseJson(parseSSE(await (await chat('gemini', 'x', { stream: true })).text()));
    assert.equal(events.at(-1).usageMetadata.thoughtsTokenCount, 12);
    assert.equal(events.at(-1).candidates[0].finishReason, 'MAX_TOKENS');
  });

  test('refusal in each dialect', async () => {
    await script({ provider: 'openai', response: { text: "I can't help with that.", refusal: true } });
    const o = await (await chat('openai', 'x')).json();
    assert.equal(o.choices[0].message.content, null);
    assert.equal(o.choices[0].message.refusal, "I can't help with that.");

    await script({ provider: 'anthropic', response: { text: 'No.', refusal: true } });
    assert.equal((await (await chat('anthropic', 'x')).json()).stop_reason, 'refusal');

    await script({ provider: 'gemini', response: { text: 'No.', refusal: true } });
    const g = await (await chat('gemini', 'x')).json();
    assert.equal(g.candidates[0].finishReason, 'SAFETY');
    assert.equal(g.candidates[0].content, undefined);
  });

  test('in-process script() helper works like the control endpoint', async () => {
    assert.equal(up.script({ provider: 'azure', response: { text: 'via helper' } }), 1);
    assert.equal((await (await chat('azure', 'x')).json()).choices[0].message.content, 'via helper');
  });
});

// ---------------------------------------------------------------------------
// Request log and reset
// ---------------------------------------------------------------------------

describe('request log', () => {
  test('records every provider request in order; control endpoints are not recorded', async () => {
    await chat('openai', 'first');
    await post(`${GEMINI_GENERATE}?foo=bar`, 'not json at all', { ...AUTH.gemini, 'X-Custom-Header': 'Yes' });
    await fetch(`${up.url}/openai/v1/models`, { headers: AUTH.openai });

    const log = await (await fetch(`${up.url}/__control/requests`)).json();
    assert.equal(log.length, 3);
    assert.deepEqual(log.map((r) => [r.method, r.path]), [
      ['POST', '/openai/v1/chat/completions'],
      ['POST', '/gemini/v1beta/models/gemini-2.0-flash:generateContent'],
      ['GET', '/openai/v1/models'],
    ]);
    assert.deepEqual(Object.keys(log[0]).sort(), ['body', 'headers', 'method', 'path', 'query']);
    assert.deepEqual(log[0].body.messages, [{ role: 'user', content: 'first' }]);
    assert.equal(log[0].headers.authorization, `Bearer ${TEST_KEYS.openai}`);
    assert.deepEqual(log[1].query, { foo: 'bar' });
    assert.equal(log[1].body, 'not json at all');
    assert.equal(log[1].headers['x-custom-header'], 'Yes');
    assert.equal(log[2].body, null);
    assert.deepEqual(up.requests(), log);
  });

  test('reset clears the log and pending scripts', async () => {
    await script({ response: { status: 500 } });
    await chat('openai', 'x');
    assert.equal(up.requests().length, 1);
    const res = await post('/__control/reset', {});
    assert.deepEqual(await res.json(), { ok: true });
    assert.deepEqual(up.requests(), []);
    up.script({ response: { status: 500 } });
    up.reset();
    assert.equal((await chat('openai', 'x')).status, 200);
  });
});

// ---------------------------------------------------------------------------
// Demo mode and CLI
// ---------------------------------------------------------------------------

/** The repository's kv-seed directory, which `make dev` gives the demo upstream. */
const KV_SEED = fileURLToPath(new URL('../../kv-seed/', import.meta.url));

describe('demo mode', () => {
  let demo;
  /** Every model a demo test names has a 100-token window. */
  const WINDOW = 100;
  before(async () => {
    const contextWindows = Object.fromEntries(['gpt-4o-mini', 'my-gpt4o', 'claude-sonnet-4-5', 'gemini-2.0-flash'].map((m) => [m, WINDOW]));
    demo = await startFakeUpstream({ demo: true, contextWindows });
  });
  after(() => demo.close());

  const ANTHROPIC_VERSION = { 'anthropic-version': '2023-06-01' };
  /** The whole answers a cap cuts (10 tokens: the first 40 characters). */
  const answer = (provider, model, said) => `${DEMO_PREFIX}Hello from fake ${provider} ${model}. You said: ${said}`;
  const cut = (text) => text.slice(0, 40);
  const streamOf = async (res) => sseJson(parseSSE(await res.text()));

  test('accepts any key or none, and labels the answers', async () => {
    const noKey = await post('/openai/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, {}, demo.url);
    assert.equal(noKey.status, 200);
    const text = (await noKey.json()).choices[0].message.content;
    assert.equal(text, `${DEMO_PREFIX}Hello from fake openai gpt-4o-mini. You said: hi`);

    const anyKey = await post('/anthropic/v1/messages', { model: 'c', max_tokens: 64, messages: [{ role: 'user', content: 'yo' }] }, { 'x-api-key': 'whatever', 'anthropic-version': '2023-06-01' }, demo.url);
    assert.equal(anyKey.status, 200);
    assert.ok((await anyKey.json()).content[0].text.startsWith(DEMO_PREFIX));
  });

  test('openai and azure: max_completion_tokens / max_tokens cut the answer, finish_reason length', async () => {
    const said = 'please write a long answer';
    const full = answer('openai', 'gpt-4o-mini', said);
    assert.ok(tokens(full.length) > 10);
    const openai = (extra) => post('/openai/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: said }], ...extra }, {}, demo.url);
    for (const cap of [{ max_completion_tokens: 10 }, { max_tokens: 10 }]) {
      const body = await (await openai(cap)).json();
      assert.equal(body.choices[0].message.content, cut(full), JSON.stringify(cap));
      assert.equal(body.choices[0].finish_reason, 'length');
      assert.equal(body.usage.completion_tokens, 10);
      assert.equal(body.usage.total_tokens, promptTokens(said) + 10);
    }
    const chunks = await streamOf(await openai({ max_completion_tokens: 10, stream: true, stream_options: { include_usage: true } }));
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), cut(full));
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.equal(chunks.at(-1).usage.completion_tokens, 10);
    // n choices: each is cut at the cap, and each is billed.
    const n = await (await openai({ max_tokens: 10, n: 2 })).json();
    assert.deepEqual(n.choices.map((c) => [c.message.content, c.finish_reason]), [[cut(full), 'length'], [cut(full), 'length']]);
    assert.equal(n.usage.completion_tokens, 20);
    // A cap the answer fits in changes nothing.
    const roomy = await (await openai({ max_completion_tokens: 1000 })).json();
    assert.equal(roomy.choices[0].message.content, full);
    assert.equal(roomy.choices[0].finish_reason, 'stop');

    const azure = (extra) => post(AZURE_CHAT, { messages: [{ role: 'user', content: said }], max_tokens: 10, ...extra }, {}, demo.url);
    const azureFull = answer('azure', 'my-gpt4o', said);
    const whole = await (await azure()).json();
    assert.deepEqual([whole.choices[0].message.content, whole.choices[0].finish_reason, whole.usage.completion_tokens], [cut(azureFull), 'length', 10]);
    const azureChunks = await streamOf(await azure({ stream: true, stream_options: { include_usage: true } }));
    assert.equal(azureChunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), cut(azureFull));
    assert.equal(azureChunks.at(-2).choices[0].finish_reason, 'length');
    assert.equal(azureChunks.at(-1).usage.completion_tokens, 10);
  });

  test('openai: a tool call cut at the cap is billed no more than the cap', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const body = await (await post('/openai/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: 4, tools, messages: [{ role: 'user', content: 'weather?' }] }, {}, demo.url)).json();
    assert.equal(body.choices[0].finish_reason, 'length');
    assert.deepEqual(body.choices[0].message.tool_calls[0].function, { name: 'get_weather', arguments: '{"cit' });
    assert.equal(body.usage.completion_tokens, 4);
  });

  test('anthropic: max_tokens cuts the answer, stop_reason max_tokens, whole and streamed', async () => {
    const said = 'please write a long answer';
    const full = answer('anthropic', 'claude-sonnet-4-5', said);
    const anthropic = (extra) => post('/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: said }], ...extra }, ANTHROPIC_VERSION, demo.url);
    const body = await (await anthropic()).json();
    assert.deepEqual(body.content, [{ type: 'text', text: cut(full) }]);
    assert.equal(body.stop_reason, 'max_tokens');
    assert.equal(body.usage.output_tokens, 10);
    const events = await streamOf(await anthropic({ stream: true }));
    assert.equal(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), cut(full));
    const end = events.find((e) => e.type === 'message_delta');
    assert.deepEqual([end.delta.stop_reason, end.usage.output_tokens], ['max_tokens', 10]);
    // A tool call cut short: its input is what parsed of it, nothing here.
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' } }];
    const call = await (await anthropic({ max_tokens: 4, tools, messages: [{ role: 'user', content: 'weather?' }] })).json();
    assert.deepEqual([call.content[0].type, call.content[0].input, call.stop_reason, call.usage.output_tokens], ['tool_use', {}, 'max_tokens', 4]);
  });

  test('gemini: generationConfig.maxOutputTokens cuts the answer, finishReason MAX_TOKENS, whole and streamed', async () => {
    const said = 'please write a long answer';
    const full = answer('gemini', 'gemini-2.0-flash', said);
    for (const generationConfig of [{ maxOutputTokens: 10 }, { max_output_tokens: 10 }]) {
      const req = { contents: [{ role: 'user', parts: [{ text: said }] }], generationConfig };
      const body = await (await post(GEMINI_GENERATE, req, {}, demo.url)).json();
      assert.deepEqual(body.candidates[0].content.parts, [{ text: cut(full) }], JSON.stringify(generationConfig));
      assert.equal(body.candidates[0].finishReason, 'MAX_TOKENS');
      assert.equal(body.usageMetadata.candidatesTokenCount, 10);
      const events = await streamOf(await post(GEMINI_STREAM, req, {}, demo.url));
      assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), cut(full));
      assert.equal(events.at(-1).candidates[0].finishReason, 'MAX_TOKENS');
      assert.equal(events.at(-1).usageMetadata.candidatesTokenCount, 10);
    }
  });

  test('outside demo mode the answers ignore the cap (the integration tests rely on them)', async () => {
    const body = await (await chat('openai', 'please write a long answer', { max_tokens: 10 })).json();
    assert.equal(body.choices[0].message.content, 'Hello from fake openai gpt-4o-mini. You said: please write a long answer');
    assert.equal(body.choices[0].finish_reason, 'stop');
    const long = await chat('openai', 'x'.repeat(4 * WINDOW));
    assert.equal(long.status, 200);
  });

  test("a prompt over the model's context window gets the provider's own 400, whole or streamed", async () => {
    // 400 characters and 3 for the one message: 103 tokens, over the 100-token window.
    const long = 'x'.repeat(4 * WINDOW);
    const over = promptTokens(long);
    const openai = (extra) => post('/openai/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: long }], ...extra }, {}, demo.url);
    for (const res of [await openai(), await openai({ stream: true })]) {
      assert.equal(res.status, 400);
      assert.deepEqual((await res.json()).error, {
        message: `This model's maximum context length is ${WINDOW} tokens. However, your messages resulted in ${over} tokens. Please reduce the length of the messages.`,
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      });
    }
    const azure = await post(AZURE_CHAT, { messages: [{ role: 'user', content: long }] }, {}, demo.url);
    assert.equal(azure.status, 400);
    const azureError = (await azure.json()).error;
    assert.equal(azureError.code, 'context_length_exceeded');
    assert.match(azureError.message, new RegExp(`maximum context length is ${WINDOW} tokens\. However, your messages resulted in ${over} tokens`));

    const anthropic = await post('/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: long }] }, ANTHROPIC_VERSION, demo.url);
    assert.equal(anthropic.status, 400);
    const anthropicBody = await anthropic.json();
    assert.equal(anthropicBody.type, 'error');
    assert.deepEqual(anthropicBody.error, { type: 'invalid_request_error', message: `prompt is too long: ${over} tokens > ${WINDOW} maximum` });

    for (const path of [GEMINI_GENERATE, GEMINI_STREAM]) {
      const gemini = await post(path, { contents: [{ role: 'user', parts: [{ text: long }] }] }, {}, demo.url);
      assert.equal(gemini.status, 400, path);
      assert.deepEqual((await gemini.json()).error, {
        code: 400,
        message: `The input token count (${over}) exceeds the maximum number of tokens allowed (${WINDOW}).`,
        status: 'INVALID_ARGUMENT',
      });
    }

    // A prompt that fills the window exactly, and a model without a known window, are answered.
    const fits = 'x'.repeat(4 * (WINDOW - 3));
    assert.equal((await openai({ messages: [{ role: 'user', content: fits }] })).status, 200);
    assert.equal((await openai({ model: 'unknown-model' })).status, 200);
  });

  test('the windows come from the seed: each upstream model gets its pricing row by catalog name', () => {
    const read = (file) => JSON.parse(readFileSync(new URL(file, `file://${KV_SEED}`), 'utf8'));
    const windows = contextWindowsFromSeed(read('catalog.json'), read('pricing.json'));
    assert.equal(windows['gpt-4o'], 128000);
    assert.equal(windows['claude-haiku-4-5'], 200000);
    // Named in the request by its upstream name, priced under the catalog's.
    assert.equal(windows['gemini-3-flash-preview'], 1048576);
    assert.equal(windows['llama-3.3-70b-versatile'], 131072);
    // A deployment's own price_key wins over its model's.
    const catalog = { models: { 'gpt-4.1': { deployments: [{ provider: 'azure-eu', upstream_model: 'my-gpt41', price_key: 'gpt-4.1-eu' }] } } };
    const pricing = { models: { 'gpt-4.1': { context_window: 1047576 }, 'gpt-4.1-eu': { context_window: 128000 } } };
    assert.deepEqual(contextWindowsFromSeed(catalog, pricing), { 'my-gpt41': 128000 });
    // A prompt limit apart from the window (gpt-5.4 mini takes 272,000 of its 400,000 as prompt).
    const limited = { models: { 'gpt-4.1': { context_window: 400000, max_input_tokens: 272000 } } };
    assert.deepEqual(contextWindowsFromSeed({ models: { 'gpt-4.1': { deployments: [{ upstream_model: 'm' }] } } }, limited), { m: 272000 });
  });
});

describe('CLI', () => {
  test('prints the listening URL, serves, and exits cleanly on SIGTERM', async () => {
    const serverPath = fileURLToPath(new URL('./server.mjs', import.meta.url));
    const child = spawn(process.execPath, [serverPath, '--port', '0', '--demo', '--seed', KV_SEED], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(createInterface({ input: child.stdout }), 'line');
      const { listening } = JSON.parse(line);
      assert.match(listening, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await post('/gemini/v1beta/models/g:generateContent', { contents: [{ parts: [{ text: 'cli' }] }] }, {}, listening);
      assert.equal(res.status, 200);
      assert.ok((await res.json()).candidates[0].content.parts[0].text.startsWith(DEMO_PREFIX));
      // --seed gives gpt-4o the seeded 128,000-token window: 128,003 tokens are refused.
      const long = await post('/openai/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(4 * 128000) }] }, {}, listening);
      assert.equal(long.status, 400);
      assert.equal((await long.json()).error.code, 'context_length_exceeded');
    } finally {
      child.kill('SIGTERM');
    }
    const [code, signal] = await once(child, 'exit');
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});
