// The current generation through the real worker, at the seeded prices (kv-seed/pricing.json):
// Claude 5's thinking defaults, which the fake Anthropic keeps as LiteLLM 1.110.2 flags them
// (Opus 5 and Haiku 5.5 think unless told not to; Opus and Sonnet 5.5 always think and refuse
// `thinking: disabled`), GPT-5.6's prompt-cache writes, billed by their lifetime, and GPT-6.1
// Sol's ultrafast processing, at six times standard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, testCatalog, KEYS } from './harness.mjs';

let r;
before(async () => {
  r = await startRouter();
  const catalog = testCatalog(r.upstream.url);
  for (const model of ['claude-opus-5', 'claude-sonnet-5-5', 'claude-opus-5-5', 'claude-haiku-5-5']) {
    catalog.models[model] = { deployments: [{ provider: 'anthropic', upstream_model: model }] };
  }
  for (const model of ['gpt-5.6', 'gpt-6.1-sol']) catalog.models[model] = { deployments: [{ provider: 'openai', upstream_model: model }] };
  catalog.models['gemini-3.8-flash'] = { deployments: [{ provider: 'gemini', upstream_model: 'gemini-3.8-flash' }] };
  catalog.models['gemini-3.1-pro'] = { deployments: [{ provider: 'gemini', upstream_model: 'gemini-3.1-pro-preview' }] };
  catalog.models['gemini-3-flash'] = { deployments: [{ provider: 'gemini', upstream_model: 'gemini-3-flash-preview' }] };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const ask = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'What is the weather in Oslo?' }], ...extra });
const sentLast = () => r.upstream.requests().filter((q) => /\/messages$|chat\/completions$|:(stream)?[gG]enerateContent/.test(q.path)).at(-1).body;
const TOOLS = [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

test('a forced tool choice on a model that thinks by default tells it not to think, which Anthropic then takes', async () => {
  for (const model of ['claude-opus-5', 'claude-haiku-5-5']) {
    const resp = await r.chat(ask(model, { tools: TOOLS, tool_choice: 'required' }));
    assert.equal(resp.status, 200, `${model}: ${await resp.clone().text()}`);
    assert.deepEqual(sentLast().thinking, { type: 'disabled' }, model);
    assert.equal((await resp.json()).choices[0].message.tool_calls[0].function.name, 'weather', model);
    await r.eventFor(resp);
  }
});

test('a model that always thinks is never sent thinking: disabled, and thinks at the effort asked', async () => {
  for (const model of ['claude-sonnet-5-5', 'claude-opus-5-5']) {
    // `none` cannot turn it off: the request goes with thinking unsaid, and the model thinks.
    const resp = await r.chat(ask(model, { reasoning_effort: 'none' }));
    assert.equal(resp.status, 200, `${model}: ${await resp.clone().text()}`);
    assert.equal(sentLast().thinking, undefined, model);
    const body = await resp.json();
    assert.ok(body.choices[0].message.reasoning_content, `${model} thought: ${JSON.stringify(body.choices[0].message)}`);
    await r.eventFor(resp);
    const low = await r.chat(ask(model, { reasoning_effort: 'low', stream: true }));
    assert.equal(low.status, 200, model);
    assert.deepEqual([sentLast().thinking, sentLast().output_config], [{ type: 'adaptive' }, { effort: 'low' }], model);
    assert.equal((await readSse(low)).data.at(-1), '[DONE]');
    await r.eventFor(low);
  }
});

test('a model that thinks by default told none is sent thinking: disabled', async () => {
  const resp = await r.chat(ask('claude-opus-5', { reasoning_effort: 'none' }));
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.deepEqual(sentLast().thinking, { type: 'disabled' });
  assert.equal((await resp.json()).choices[0].message.reasoning_content, undefined);
  await r.eventFor(resp);
});

// 5,000 prompt tokens: 1,000 read from the cache, 1,000 written for thirty minutes and 2,000 for
// twelve hours, 1,000 plain; 100 out. At gpt-5.6's seeded prices: 1,000 × $4 + 1,000 × $0.40 +
// 1,000 × $5 + 2,000 × $10 + 100 × $20 a million = $0.0314 (all twelve-hour writes at $5 would
// be $0.0214).
const GPT_5_6_USAGE = { prompt_tokens: 5000, completion_tokens: 100, prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 3000, cache_write_tokens_details: { ttl_30m_tokens: 1000, ttl_12h_tokens: 2000 } } };

for (const stream of [false, true]) {
  test(`gpt-5.6's twelve-hour cache writes are billed at their own price (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    r.upstream.script({ provider: 'openai', model: 'gpt-5.6', response: { text: 'Cached.', usage: GPT_5_6_USAGE } });
    const resp = await r.chat(ask('gpt-5.6', stream ? { stream: true, stream_options: { include_usage: true } } : {}));
    assert.equal(resp.status, 200, await resp.clone().text());
    if (stream) {
      const { data } = await readSse(resp);
      const usage = data.filter((d) => typeof d === 'object' && d.usage).at(-1).usage;
      assert.equal(usage.prompt_tokens_details.cache_write_tokens, 3000);
    } else {
      assert.equal(resp.headers.get('x-costrouter-cost-usd'), '0.0314');
      assert.equal((await resp.json()).usage.prompt_tokens_details.cache_write_tokens, 3000);
    }
    const ev = await r.eventFor(resp);
    assert.equal(ev.cost_usd, 0.0314);
    assert.equal(ev.input_tokens, 5000);
  });
}

// 10,000 prompt tokens (1,000 cached), 1,000 out. GPT-6.1 Sol's seeded ultrafast rates: 9,000 ×
// $12 + 1,000 × $0.60 + 1,000 × $60 a million = $0.1686 (standard: $0.0281). `fast` is priority's
// other name: at priority, 9,000 × $4 + 1,000 × $0.20 + 1,000 × $20 = $0.0562.
const TIER_USAGE = { prompt_tokens: 10000, completion_tokens: 1000, prompt_tokens_details: { cached_tokens: 1000 } };

for (const stream of [false, true]) {
  test(`a request served ultrafast or fast is billed at that tier's rates (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    for (const [tier, cost] of [['ultrafast', 0.1686], ['fast', 0.0562], ['default', 0.0281]]) {
      r.upstream.script({ provider: 'openai', model: 'gpt-6.1-sol', response: { text: 'Fast.', usage: TIER_USAGE } });
      const resp = await r.chat(ask('gpt-6.1-sol', { service_tier: tier, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) }));
      assert.equal(resp.status, 200, await resp.clone().text());
      if (stream) await readSse(resp);
      else assert.equal((await resp.json()).service_tier, tier);
      assert.equal((await r.eventFor(resp)).cost_usd, cost, `${tier}`);
    }
  });
}

// Gemini's thinking levels by generation (the fake refuses a level its model does not take, as
// Google does): 3.8 Flash takes no `minimal`, which a small cap or `none` used to send it; 3.1
// Pro takes `medium`, which was sent as `high` (more thinking, billed, than asked).
const levelSent = () => sentLast().generationConfig?.thinkingConfig?.thinkingLevel;

for (const stream of [false, true]) {
  test(`each Gemini generation is sent a thinking level it takes (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    const cases = [
      ['gemini-3.8-flash', { max_tokens: 50 }, 'low'],
      ['gemini-3.8-flash', { reasoning_effort: 'none' }, 'low'],
      ['gemini-3.8-flash', { reasoning_effort: 'minimal' }, 'low'],
      ['gemini-3.1-pro', { reasoning_effort: 'medium' }, 'medium'],
      ['gemini-3.1-pro', { reasoning_effort: 'minimal' }, 'low'],
      ['gemini-3-flash', { reasoning_effort: 'none' }, 'minimal'],
    ];
    for (const [model, extra, level] of cases) {
      const resp = await r.chat(ask(model, { ...extra, ...(stream ? { stream: true } : {}) }));
      assert.equal(resp.status, 200, `${model} ${JSON.stringify(extra)}: ${await resp.clone().text()}`);
      assert.equal(levelSent(), level, `${model} ${JSON.stringify(extra)}`);
      if (stream) assert.equal((await readSse(resp)).data.at(-1), '[DONE]');
      await r.eventFor(resp);
    }
  });
}

// 10,000 prompt tokens, 1,000 out and 500 thought, at 3.8 Flash's seeded prices: 10,000 × $0.75
// + 1,500 × $3.75 a million = $0.013125. Its sampling parameters are not sent (Google ignores them).
test('gemini-3.8-flash is served at its seeded price, without the sampling parameters it ignores', async () => {
  r.upstream.script({ provider: 'gemini', model: 'gemini-3.8-flash', response: { text: 'Sunny.', usage: { promptTokenCount: 10000, candidatesTokenCount: 1000, thoughtsTokenCount: 500 } } });
  const resp = await r.chat(ask('gemini-3.8-flash', { temperature: 0.2, top_p: 0.9, seed: 7 }));
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.deepEqual(sentLast().generationConfig, { seed: 7 });
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), '0.013125');
  const body = await resp.json();
  assert.equal(body.usage.completion_tokens_details.reasoning_tokens, 500);
  assert.equal((await r.eventFor(resp)).cost_usd, 0.013125);
});

// Claude that always thinks (Opus 5.5) refuses a tool loop's next call unless given back the
// thinking it wrote with the call, and clients built on OpenAI's types (LangChain, most agent
// frameworks) drop the `thinking_blocks` the router adds to the message: the router keeps them
// for the tenant, and gives them back.
const dropped = ({ role, content, tool_calls }) => ({ role, content, tool_calls });
const loopAfter = (model, assistant) => ({
  model,
  tools: TOOLS,
  messages: [
    { role: 'user', content: 'What is the weather in Oslo?' },
    dropped(assistant),
    { role: 'tool', tool_call_id: assistant.tool_calls[0].id, content: 'Sunny, 21 °C' },
  ],
});

/** The assistant message a stream carried: its tool calls whole, and its thinking blocks. */
async function streamedMessage(resp) {
  const message = { role: 'assistant', content: null, tool_calls: [], thinking_blocks: [] };
  for (const d of (await readSse(resp)).data.filter((d) => typeof d === 'object')) {
    const delta = d.choices?.[0]?.delta ?? {};
    for (const call of delta.tool_calls ?? []) {
      const whole = (message.tool_calls[call.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
      whole.id ||= call.id ?? '';
      whole.function.name += call.function?.name ?? '';
      whole.function.arguments += call.function?.arguments ?? '';
    }
    message.thinking_blocks.push(...(delta.thinking_blocks ?? []));
  }
  return message;
}

for (const stream of [false, true]) {
  test(`a tool loop whose client dropped the thinking gets it back on a model that always thinks (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    const first = await r.chat(ask('claude-opus-5-5', { tools: TOOLS, ...(stream ? { stream: true } : {}) }));
    assert.equal(first.status, 200, await first.clone().text());
    const assistant = stream ? await streamedMessage(first) : (await first.json()).choices[0].message;
    assert.match(assistant.tool_calls[0].id, /^toolu_/);
    assert.equal(assistant.thinking_blocks.length, 1, 'it thought');
    await r.eventFor(first);
    const next = await r.chat(loopAfter('claude-opus-5-5', assistant));
    assert.equal(next.status, 200, await next.clone().text());
    const [thinking, call] = sentLast().messages[1].content;
    assert.deepEqual([thinking.type, thinking.signature, call.type, call.id], ['thinking', assistant.thinking_blocks[0].signature, 'tool_use', assistant.tool_calls[0].id]);
    await r.eventFor(next);
    // Another tenant naming the same call finds nothing of the first's: Anthropic's refusal.
    const other = await r.chat(loopAfter('claude-opus-5-5', assistant), { key: KEYS.globex });
    assert.equal(other.status, 400, await other.clone().text());
    assert.match((await other.json()).error.message, /must start with a thinking block/);
    await r.eventFor(other);
  });
}

/** A whole answer of `model` calling a tool, with the thinking it came with; its event awaited. */
async function thoughtToolCall(model, extra = {}) {
  const first = await r.chat(ask(model, { tools: TOOLS, ...extra }));
  assert.equal(first.status, 200, await first.clone().text());
  const assistant = (await first.json()).choices[0].message;
  assert.equal(assistant.thinking_blocks.length, 1, `${model} thought`);
  await r.eventFor(first);
  return assistant;
}

test('a model that can go without thinking is not given kept thinking: it is told not to think, as before', async () => {
  const assistant = await thoughtToolCall('claude-opus-5');
  const next = await r.chat(loopAfter('claude-opus-5', assistant));
  assert.equal(next.status, 200, await next.clone().text());
  assert.deepEqual(sentLast().thinking, { type: 'disabled' });
  assert.equal(sentLast().messages[1].content[0].type, 'tool_use');
  await r.eventFor(next);
});

test('a Responses answer keeps its thinking unless its request said store: false', async () => {
  const tools = [{ type: 'function', name: 'weather', parameters: TOOLS[0].function.parameters }];
  for (const store of [false, undefined]) {
    const resp = await r.chat({ model: 'claude-opus-5-5', input: 'What is the weather in Oslo?', tools, ...(store === false ? { store } : {}) }, { path: '/v1/responses' });
    assert.equal(resp.status, 200, await resp.clone().text());
    const call = (await resp.json()).output.find((i) => i.type === 'function_call');
    await r.eventFor(resp);
    const assistant = { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: call.name, arguments: call.arguments } }] };
    const next = await r.chat(loopAfter('claude-opus-5-5', assistant));
    assert.equal(next.status, store === false ? 400 : 200, `store ${store}: ${await next.clone().text()}`);
    await r.eventFor(next);
  }
});

test('a chat request that says store: false keeps no thinking', async () => {
  const assistant = await thoughtToolCall('claude-opus-5-5', { store: false });
  const next = await r.chat(loopAfter('claude-opus-5-5', assistant));
  assert.equal(next.status, 400, await next.clone().text());
  await r.eventFor(next);
});
