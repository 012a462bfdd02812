// SDK compatibility: the official OpenAI SDKs, unmodified but for their base URL, against the
// real worker. The Python SDK runs tests/sdk/python_sdk_check.py as a subprocess; the Node SDK
// (the `openai` npm package) runs in-process. Chat, streaming and tool calls go through both an
// OpenAI-dialect model (gpt-4o-mini) and a translated one (claude-haiku-4-5).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startRouter, runInRepo, KEYS } from './harness.mjs';

const CHAT_MODELS = ['gpt-4o-mini', 'claude-haiku-4-5'];
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const WEATHER_QUESTION = [{ role: 'user', content: 'What is the weather in Paris?' }];
const HELLO = [{ role: 'user', content: 'Say hello' }];

let r;
let client;
before(async () => {
  r = await startRouter();
  client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEYS.acme, maxRetries: 0, timeout: 20000 });
});
after(async () => { await r?.close(); });

test('the official Python SDK (tests/sdk/python_sdk_check.py)', async () => {
  const { code, output } = await runInRepo('python3', ['tests/sdk/python_sdk_check.py'], { env: { ROUTER_URL: r.url, ROUTER_KEY: KEYS.acme, PYTHONUNBUFFERED: '1' }, timeoutMs: 60000 });
  assert.equal(code, 0, `python_sdk_check.py failed (exit ${code}):\n${output}`);
  assert.match(output, /checks passed/);
});

for (const model of CHAT_MODELS) {
  test(`Node SDK: chat with ${model}, and the cost header through .withResponse()`, async () => {
    const { data, response } = await client.chat.completions.create({ model, messages: HELLO }).withResponse();
    assert.match(data.choices[0].message.content, /Hello from fake/);
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.object, 'chat.completion');
    assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
    const cost = response.headers.get('x-costrouter-cost-usd');
    assert.ok(Number(cost) > 0, `x-costrouter-cost-usd: ${cost}`);
    assert.match(response.headers.get('x-costrouter-request-id'), /^req_/);
    // The SDK's own view of the request id is the provider's; the router's is in its header.
    const raw = await client.chat.completions.create({ model, messages: HELLO }).asResponse();
    assert.equal(raw.status, 200);
    assert.ok(Number(raw.headers.get('x-costrouter-cost-usd')) > 0);
  });

  test(`Node SDK: streaming with ${model}`, async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model, messages: HELLO, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(response.headers.get('x-costrouter-cost-usd'), 'in-stream-trailer');
    let text = '';
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.delta?.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
    }
    assert.ok(chunks >= 2, `${chunks} chunks`);
    assert.match(text, /Hello from fake/);
    assert.equal(finish, 'stop');
    assert.ok(usage?.completion_tokens > 0, `usage chunk: ${JSON.stringify(usage)}`);
  });

  test(`Node SDK: tool calls with ${model}, whole and streamed, and the tool result round trip`, async () => {
    const resp = await client.chat.completions.create({ model, messages: WEATHER_QUESTION, tools: [WEATHER_TOOL] });
    const choice = resp.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.ok(call.id);

    const followUp = await client.chat.completions.create({
      model,
      tools: [WEATHER_TOOL],
      messages: [...WEATHER_QUESTION, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"temperature_c":21}' }],
    });
    assert.equal(followUp.choices[0].finish_reason, 'stop');
    assert.ok(followUp.choices[0].message.content);

    // The SDK's stream helper accumulates tool-call deltas into a final message.
    const runner = client.chat.completions.stream({ model, messages: WEATHER_QUESTION, tools: [WEATHER_TOOL] });
    const final = await runner.finalChatCompletion();
    const streamedCall = final.choices[0].message.tool_calls?.[0];
    assert.equal(streamedCall?.function.name, 'get_weather', JSON.stringify(final));
    assert.deepEqual(JSON.parse(streamedCall.function.arguments), { city: 'Paris' });
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });
}

// The Responses API (`/v1/responses`), translated to chat by the router and back; the SDK's
// stream helper checks every event against the response it accumulates.
const WEATHER_FUNCTION = { type: 'function', name: 'get_weather', description: WEATHER_TOOL.function.description, parameters: WEATHER_TOOL.function.parameters };
for (const model of CHAT_MODELS) {
  test(`Node SDK: responses.create() with ${model}, whole and streamed`, async () => {
    const { data, response } = await client.responses.create({ model, instructions: 'Be friendly.', input: 'Say hello', max_output_tokens: 200 }).withResponse();
    assert.equal(data.object, 'response');
    assert.equal(data.status, 'completed');
    assert.match(data.id, /^resp_[0-9a-f]+$/);
    assert.equal(data.id.slice('resp_'.length), response.headers.get('x-costrouter-request-id').slice('req_'.length));
    assert.match(data.output_text, /Hello from fake/);
    assert.equal(data.output[0].type, 'message');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0 && data.usage.total_tokens === data.usage.input_tokens + data.usage.output_tokens, JSON.stringify(data.usage));
    assert.equal(data.instructions, 'Be friendly.');
    assert.equal(data.max_output_tokens, 200);
    assert.equal(data.store, true, "its items are kept for reference, OpenAI's default");
    assert.ok(Number(response.headers.get('x-costrouter-cost-usd')) > 0);
    // The next turn names the answer by reference, as the Vercel AI SDK does by default.
    const next = await client.responses.create({ model, input: [{ role: 'user', content: 'Say hello' }, { type: 'item_reference', id: data.output[0].id }, { role: 'user', content: 'Once more' }] });
    assert.equal(next.status, 'completed');

    const stream = client.responses.stream({ model, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say hello' }] }] });
    const seen = [];
    let deltas = '';
    stream.on('event', (e) => seen.push(e.type));
    stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
    const final = await stream.finalResponse();
    assert.equal(final.status, 'completed');
    assert.match(final.output_text, /Hello from fake/);
    assert.equal(deltas, final.output_text);
    assert.ok(final.usage?.output_tokens > 0, JSON.stringify(final.usage));
    assert.deepEqual(seen.slice(0, 2), ['response.created', 'response.in_progress']);
    assert.equal(seen.at(-1), 'response.completed');
  });

  test(`Node SDK: responses with function tools and ${model}, the call's output sent back as items`, async () => {
    const first = await client.responses.create({ model, input: 'What is the weather in Paris?', tools: [WEATHER_FUNCTION] });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.ok(call, JSON.stringify(first.output));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    assert.ok(call.call_id);
    const followUp = await client.responses.create({
      model,
      tools: [WEATHER_FUNCTION],
      input: [{ role: 'user', content: 'What is the weather in Paris?' }, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: '{"temperature_c":21}' }],
    });
    assert.equal(followUp.status, 'completed');
    assert.ok(followUp.output_text, JSON.stringify(followUp.output));

    const streamed = await client.responses.stream({ model, input: 'What is the weather in Paris?', tools: [WEATHER_FUNCTION] }).finalResponse();
    const streamedCall = streamed.output.find((item) => item.type === 'function_call');
    assert.equal(streamedCall?.name, 'get_weather', JSON.stringify(streamed.output));
    assert.deepEqual(JSON.parse(streamedCall.arguments), { city: 'Paris' });
  });
}

test('Node SDK: what the Responses API keeps on OpenAI\'s side is refused by name', async () => {
  await assert.rejects(client.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: 'conv_123' }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, err.constructor.name);
    assert.equal(err.param, 'conversation');
    assert.equal(err.code, 'unsupported_parameter');
    return true;
  });
  await assert.rejects(client.responses.create({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'web_search' }] }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.param, 'tools[0].type');
    return true;
  });
  await assert.rejects(client.responses.retrieve('resp_123'), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, err.constructor.name);
    assert.match(err.message, /Response with id 'resp_123' not found/);
    return true;
  });
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'hi' }), (err) => {
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    return true;
  });
});

test('Node SDK: JSON mode', async () => {
  const resp = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: 'Give me a JSON object.' }],
    response_format: { type: 'json_object' },
  });
  const parsed = JSON.parse(resp.choices[0].message.content);
  assert.equal(typeof parsed, 'object');
  assert.ok(parsed !== null && !Array.isArray(parsed));
});

test('Node SDK with the bare host as its base URL (no /v1, as LiteLLM users set it)', async () => {
  const bare = new OpenAI({ baseURL: r.url, apiKey: KEYS.acme, maxRetries: 0, timeout: 20000 });
  const resp = await bare.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(resp.object, 'chat.completion');
  const emb = await bare.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
  assert.equal(emb.data.length, 1);
  assert.equal((await bare.models.retrieve('fast')).id, 'fast');
});

test('a router key in api-key is read past an Authorization of another scheme (a proxy may add one)', async () => {
  const resp = await fetch(`${r.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Basic cHJveHk6c2VjcmV0', 'api-key': KEYS.acme },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(resp.status, 200, await resp.clone().text());
  await resp.arrayBuffer();
  const none = await fetch(`${r.url}/v1/models`, { headers: { authorization: 'Basic cHJveHk6c2VjcmV0' } });
  assert.equal(none.status, 401);
  await none.arrayBuffer();
});

test('Node SDK: models.list()', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const model of [...CHAT_MODELS, 'text-embedding-3-small']) assert.ok(ids.includes(model), `${model} in ${ids.join(', ')}`);
  const restricted = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEYS.restricted, maxRetries: 0 });
  const restrictedIds = [];
  for await (const m of restricted.models.list()) restrictedIds.push(m.id);
  assert.deepEqual(restrictedIds, ['fast']);
  const fast = await client.models.retrieve('fast');
  assert.match(fast._request_id ?? '', /^req_[0-9a-f]+$/, 'the SDK reads x-request-id');
});

test('Node SDK: embeddings.create() (the SDK asks for base64 by default and decodes it)', async () => {
  const { data: resp, response } = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second text'] }).withResponse();
  assert.ok(Number(response.headers.get('x-costrouter-cost-usd')) > 0);
  assert.equal(resp.data.length, 2);
  const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second text'], encoding_format: 'float' });
  for (const [i, item] of resp.data.entries()) {
    assert.equal(item.index, i);
    const vector = Array.from(item.embedding);
    const expected = floats.data[i].embedding;
    assert.equal(vector.length, expected.length, `embedding ${i}: ${vector.length} values, wanted ${expected.length}`);
    assert.ok(vector.length > 0);
    for (const [j, x] of vector.entries()) assert.ok(Math.abs(x - expected[j]) < 1e-6, `embedding ${i}[${j}]: ${x} vs ${expected[j]}`);
  }
  assert.ok(resp.usage.prompt_tokens > 0);
});

test('Node SDK: router errors surface as the SDK\'s typed errors', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: HELLO }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, err.constructor.name);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    assert.equal(err.param, 'model');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: HELLO, temperature: 5 }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, err.constructor.name);
    assert.equal(err.param, 'temperature');
    return true;
  });
  const bad = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'cr-not-a-real-key', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, err.constructor.name);
    assert.equal(err.status, 401);
    return true;
  });
});
