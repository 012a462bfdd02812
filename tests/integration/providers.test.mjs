// Every provider through the real worker: plain and streamed answers, tool calls, JSON mode,
// stream usage, images, parameter pass-through and presets, exact cost headers and trailers,
// embeddings and /v1/models.
//
// Costs are computed here by hand from the usage the fake upstream is scripted to report and the
// prices in kv-seed/pricing.json, in integer picodollars like the router, and compared as strings.
//
// The fake upstream does not implement Gemini's `batchEmbedContents`, so a few lines below stand
// in for it (the `gemini-embedding` model is pointed at them); everything else is the shared fake.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startRouter, readSse, testCatalog, KEYS } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PRICES = JSON.parse(readFileSync(path.join(ROOT, 'kv-seed/pricing.json'), 'utf8')).models;

// ---- money, as the router computes it ----------------------------------------------------------

const PICOS_PER_USD = 10n ** 12n;
/** A price per million tokens is a whole number of picodollars per token. */
const perToken = (usdPerMillion) => BigInt(Math.round(usdPerMillion * 1e6));

/** Rust's `Usd` Display: plain decimal dollars, no trailing zeros. */
function formatUsd(picos) {
  const whole = picos / PICOS_PER_USD;
  const frac = picos % PICOS_PER_USD;
  return frac === 0n ? `${whole}` : `${whole}.${frac.toString().padStart(12, '0').replace(/0+$/, '')}`;
}

/** `input` counts every prompt token (cached and cache writes included); `output` every output token. */
function expectedCost(priceKey, { input = 0, cached = 0, cacheWrite = 0, output = 0 }) {
  const p = PRICES[priceKey];
  assert.ok(p, `no price row ${priceKey}`);
  assert.ok(!p.tiers && !p.reasoning, `hand pricing assumes flat rates for ${priceKey}`);
  const picos = BigInt(input - cached - cacheWrite) * perToken(p.input)
    + BigInt(cached) * perToken(p.cached_input ?? p.input)
    + BigInt(cacheWrite) * perToken(p.cache_write ?? p.input)
    + BigInt(output) * perToken(p.output ?? 0);
  return formatUsd(picos);
}

/** The cost of an OpenAI-shaped `usage` object (what the router returns to clients). */
const costOfOpenAiUsage = (priceKey, u) => expectedCost(priceKey, {
  input: u.prompt_tokens,
  cached: u.prompt_tokens_details?.cached_tokens ?? 0,
  output: u.completion_tokens,
});

// ---- a stand-in for Gemini's batchEmbedContents --------------------------------------------------

/** Unit length (the router scales Gemini's vectors to it, as OpenAI's are) and exactly
 * representable as float32, so a base64 round trip compares exactly; differs by position. */
const geminiVector = (i) => [0, 1, 2, 3].map((k) => (k === i % 4 ? 1 : 0));

function startGeminiEmbeddings() {
  const log = [];
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw || '{}');
    log.push({ path: req.url, headers: req.headers, body });
    // Google takes at most 100 requests in one batch.
    // A batch holding this text is answered 503, as an overloaded Google would.
    if (body.requests?.some((q) => q.content?.parts?.[0]?.text === 'OVERLOAD-THIS-BATCH')) {
      res.writeHead(503, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }));
    }
    if (req.headers['x-goog-api-key'] !== 'test-gemini-key' || !/^\/v1beta\/models\/[^/]+:batchEmbedContents$/.test(req.url) || !(body.requests?.length <= 100)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 400, message: 'bad request', status: 'INVALID_ARGUMENT' } }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ embeddings: body.requests.map((_, i) => ({ values: geminiVector(i) })) }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
  })));
}

// ---- set-up -------------------------------------------------------------------------------------

let r;
let gemEmb;
before(async () => {
  gemEmb = await startGeminiEmbeddings();
  r = await startRouter();
  // The worker reads its catalog on the first request, so it can still be changed here.
  const catalog = testCatalog(r.upstream.url);
  catalog.providers['gemini-embed'] = { kind: 'gemini', base_url: `${gemEmb.url}/v1beta`, key_secret: 'GEMINI_API_KEY' };
  catalog.models['gemini-embedding'].deployments = [{ provider: 'gemini-embed', upstream_model: 'text-embedding-004' }];
  catalog.models['gemini-then-openai-embedding'] = {
    mode: 'embedding',
    price_key: catalog.models['gemini-embedding'].price_key,
    deployments: [{ provider: 'gemini-embed', upstream_model: 'text-embedding-004' }, { provider: 'openai', upstream_model: 'text-embedding-3-small' }],
  };
  catalog.models['openai-then-azure-embedding'] = {
    mode: 'embedding',
    price_key: 'text-embedding-3-small',
    deployments: [{ provider: 'openai', upstream_model: 'emb-strict' }, { provider: 'azure', upstream_model: 'emb-deploy' }],
  };
  // Mistral's embeddings, through the fake OpenAI playing Mistral (it validates as Mistral does).
  catalog.models['mistral-embed'] = {
    mode: 'embedding',
    price_key: 'text-embedding-3-small',
    deployments: [{ provider: 'mistral', upstream_model: 'mistral-embed' }],
  };
  // A Claude model of the adaptive-thinking generation (Opus 4.7 and later), priced by its own
  // seeded row.
  catalog.models['claude-opus-4-7'] = { deployments: [{ provider: 'anthropic', upstream_model: 'claude-opus-4-7' }] };
  // The harness's `slow` host (a 400 ms limit) in front of Azure, for the timeout test.
  catalog.models['slow-then-azure-embedding'] = {
    mode: 'embedding',
    price_key: 'text-embedding-3-small',
    deployments: [{ provider: 'slow', upstream_model: 'emb-slow' }, { provider: 'azure', upstream_model: 'emb-deploy' }],
  };
  // Deployments of their own for the rate-limit test: a wait a provider asks for holds its
  // deployment (up to a minute), which the other embeddings tests would otherwise meet.
  for (const i of [0, 1]) {
    catalog.models[`emb-limited-${i}`] = { mode: 'embedding', price_key: 'text-embedding-3-small', deployments: [{ provider: 'openai', upstream_model: `emb-limited-${i}` }] };
  }
  // OpenRouter (its preset, served by the fake OpenAI), which says what it charged.
  catalog.providers.openrouter = { preset: 'openrouter', base_url: `${r.upstream.url}/openai/v1`, key_secret: 'OPENAI_API_KEY' };
  catalog.models['or-llama'] = { deployments: [{ provider: 'openrouter', upstream_model: 'meta-llama/llama-3.3-70b-instruct' }], price_key: 'mistral-small' };
  // A Gemini deployment of its own for the quota test (a refusal holds its deployment).
  catalog.models['gemini-limited'] = { deployments: [{ provider: 'gemini', upstream_model: 'gemini-limited' }], price_key: 'gemini-2.5-flash' };
  // Gemini 3, whose function calls carry thought signatures it wants back.
  catalog.models['gemini-3-flash-preview'] = { deployments: [{ provider: 'gemini', upstream_model: 'gemini-3-flash-preview' }], price_key: 'gemini-2.5-flash' };
  // Claude, Gemini and Groq first, OpenAI behind them: for what only OpenAI takes.
  catalog.providers.groq = { preset: 'groq', base_url: `${r.upstream.url}/openai/v1`, key_secret: 'OPENAI_API_KEY' };
  catalog.models['claude-then-openai'] = {
    deployments: [{ provider: 'anthropic', upstream_model: 'claude-haiku-4-5' }, { provider: 'gemini', upstream_model: 'gemini-2.5-flash' }, { provider: 'groq', upstream_model: 'llama-3.1-8b-instant' }, { provider: 'openai', upstream_model: 'gpt-4o-mini' }],
    price_key: 'gpt-4o-mini',
  };
  catalog.models['groq-only'] = { deployments: [{ provider: 'groq', upstream_model: 'llama-3.1-8b-instant' }], price_key: 'gpt-4o-mini' };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => {
  await r?.close();
  await gemEmb?.close();
});
beforeEach(() => r.upstream.reset());

// ---- helpers ------------------------------------------------------------------------------------

const WEATHER_TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const weatherAsk = (model, extra = {}) => ({
  model,
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  tools: WEATHER_TOOLS,
  ...extra,
});
const hello = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Say hello' }], ...extra });

/** The providers, each with the model that reaches it and how (Azure through a fallback). */
const PROVIDERS = [
  { name: 'openai', model: 'gpt-4o-mini', upstreamModel: 'gpt-4o-mini', priceKey: 'gpt-4o-mini' },
  {
    name: 'azure', model: 'gpt-4o-mini', upstreamModel: 'mini-deploy', priceKey: 'gpt-4o-mini',
    // The first deployment of gpt-4o-mini is OpenAI; an overloaded OpenAI sends the request on to Azure.
    prepare: () => r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { status: 503 } }),
  },
  { name: 'anthropic', model: 'claude-haiku-4-5', upstreamModel: 'claude-haiku-4-5', priceKey: 'claude-haiku-4-5' },
  { name: 'gemini', model: 'gemini-2.5-flash', upstreamModel: 'gemini-2.5-flash', priceKey: 'gemini-2.5-flash' },
  { name: 'mistral', model: 'mistral-small', upstreamModel: 'mistral-small-latest', priceKey: 'mistral-small' },
];

/** The fake upstream's log entries that are chat calls (any provider). */
const upstreamChats = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$|:(stream)?[gG]enerateContent$/.test(q.path));

const eventFor = (requestId) => r.eventFor(requestId);

function costrouterHeaders(resp) {
  return Object.fromEntries([...resp.headers].filter(([k]) => k.startsWith('x-costrouter-')));
}

/** Checks the routing headers every answer carries. */
function assertRoutingHeaders(resp, p) {
  const h = costrouterHeaders(resp);
  assert.match(h['x-costrouter-request-id'] ?? '', /^req_[0-9a-f]+$/);
  assert.equal(h['x-costrouter-provider'], p.name);
  assert.equal(h['x-costrouter-model'], p.upstreamModel);
  assert.equal(h['x-costrouter-route'], 'direct');
  assert.equal(h['x-costrouter-cache'], 'bypass', 'caching is off unless a policy turns it on');
  assert.match(h['x-costrouter-route-reason'], new RegExp(`requested model ${p.model}`));
  if (p.name === 'azure') assert.match(h['x-costrouter-route-reason'], /fell back to azure after: openai: HTTP 503/);
  return h;
}

/** The SSE trailer `: costrouter {json}`. */
function trailerOf(comments) {
  const found = comments.filter((c) => c.startsWith('costrouter '));
  assert.equal(found.length, 1, `one cost trailer, got ${JSON.stringify(comments)}`);
  return JSON.parse(found[0].slice('costrouter '.length));
}

/** Reassembles a streamed answer (content, tool calls by index, finish reason). */
function assemble(data) {
  let content = '';
  let finish = null;
  const calls = [];
  for (const chunk of data) {
    if (chunk === '[DONE]') continue;
    assert.ok(!chunk.error, `unexpected stream error ${JSON.stringify(chunk)}`);
    for (const choice of chunk.choices ?? []) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      const d = choice.delta ?? {};
      if (typeof d.content === 'string') content += d.content;
      for (const tc of d.tool_calls ?? []) {
        assert.equal(typeof tc.index, 'number', 'every tool call delta has an index');
        const slot = (calls[tc.index] ??= { id: undefined, type: undefined, function: { name: '', arguments: '' } });
        if (tc.id) slot.id = tc.id;
        if (tc.type) slot.type = tc.type;
        if (tc.function?.name) slot.function.name += tc.function.name;
        if (tc.function?.arguments) slot.function.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { content, calls, finish };
}

/** Usage chunks are the data events that carry a `usage` key. */
const usageChunks = (data) => data.filter((d) => d !== '[DONE]' && d.usage != null);
// OpenAI's contract for `include_usage`: "all other chunks will also include a usage field, but
// with a null value"; without it, no chunk has one.
const assertUsageFields = (data, asked) => {
  for (const d of data.filter((d) => d !== '[DONE]' && d.usage == null)) {
    assert.equal(Object.hasOwn(d, 'usage'), asked, JSON.stringify(d));
  }
};

// ---- plain and streamed answers, per provider -----------------------------------------------------

for (const p of PROVIDERS) {
  test(`${p.name}: non-streaming answer with exact cost headers and one cost event`, async () => {
    p.prepare?.();
    const resp = await r.chat(hello(p.model));
    const body = await resp.json();
    assert.equal(resp.status, 200, JSON.stringify(body));
    const h = assertRoutingHeaders(resp, p);
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.role, 'assistant');
    const provider = p.name === 'mistral' ? 'openai' : p.name; // the preset is served by the fake OpenAI
    assert.match(body.choices[0].message.content, new RegExp(`Hello from fake ${provider} ${p.upstreamModel}`));
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.ok(body.created > 0);
    const cost = costOfOpenAiUsage(p.priceKey, body.usage);
    assert.equal(h['x-costrouter-cost-usd'], cost);
    assert.equal(h['x-costrouter-baseline-cost-usd'], cost, 'served the requested model: baseline = cost');
    const ev = await eventFor(h['x-costrouter-request-id']);
    assert.equal(ev.status, 200);
    assert.equal(ev.error_code, '');
    assert.equal(ev.provider, p.name);
    assert.equal(ev.model, p.upstreamModel);
    assert.equal(ev.input_tokens, body.usage.prompt_tokens);
    assert.equal(ev.output_tokens, body.usage.completion_tokens);
    assert.equal(ev.cost_usd, Number(cost));
  });

  test(`${p.name}: streaming answer ends with the cost trailer and [DONE]`, async () => {
    p.prepare?.();
    const resp = await r.chat(hello(p.model, { stream: true }));
    assert.equal(resp.status, 200);
    assert.match(resp.headers.get('content-type'), /^text\/event-stream/);
    const h = assertRoutingHeaders(resp, p);
    assert.equal(h['x-costrouter-cost-usd'], 'in-stream-trailer');
    const { data, comments, text } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    assert.ok(text.indexOf(': costrouter ') < text.lastIndexOf('data: [DONE]'), 'trailer before [DONE]');
    const answer = assemble(data);
    const provider = p.name === 'mistral' ? 'openai' : p.name;
    assert.match(answer.content, new RegExp(`Hello from fake ${provider} ${p.upstreamModel}`));
    assert.equal(answer.finish, 'stop');
    assert.equal(usageChunks(data).length, 0, 'no usage chunk unless asked');
    const trailer = trailerOf(comments);
    assert.equal(trailer.request_id, h['x-costrouter-request-id']);
    assert.equal(trailer.provider, p.name);
    const cost = costOfOpenAiUsage(p.priceKey, trailer.usage);
    assert.equal(trailer.cost_usd, cost);
    assert.equal(trailer.baseline_cost_usd, cost);
    // Mistral reports usage on its last content chunk unasked; the others when asked, as the
    // router always asks: every stream is billed from reported usage.
    assert.equal(trailer.usage_basis, 'reported');
    const ev = await eventFor(h['x-costrouter-request-id']);
    assert.equal(ev.status, 200);
    assert.equal(ev.cost_usd, Number(cost));
  });

  test(`${p.name}: tool call, non-streaming, in OpenAI's shape`, async () => {
    p.prepare?.();
    const resp = await r.chat(weatherAsk(p.model));
    const body = await resp.json();
    assert.equal(resp.status, 200, JSON.stringify(body));
    assertRoutingHeaders(resp, p);
    const choice = body.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(typeof call.id, 'string');
    assert.ok(call.id.length > 0);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof call.function.arguments, 'string');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const sent = upstreamChats().at(-1).body;
    if (p.name === 'anthropic') assert.deepEqual(sent.tools.map((t) => t.name), ['get_weather']);
    else if (p.name === 'gemini') assert.deepEqual(sent.tools[0].functionDeclarations.map((t) => t.name), ['get_weather']);
    else assert.deepEqual(sent.tools, WEATHER_TOOLS);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });

  test(`${p.name}: tool call, streaming, in OpenAI's shape`, async () => {
    p.prepare?.();
    const resp = await r.chat(weatherAsk(p.model, { stream: true }));
    assert.equal(resp.status, 200);
    assertRoutingHeaders(resp, p);
    const { data, comments } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    const answer = assemble(data);
    assert.equal(answer.finish, 'tool_calls');
    assert.equal(answer.content, '');
    assert.equal(answer.calls.length, 1);
    const [call] = answer.calls;
    assert.ok(call.id, 'the first delta of a call carries its id');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const trailer = trailerOf(comments);
    assert.equal(trailer.cost_usd, costOfOpenAiUsage(p.priceKey, trailer.usage));
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });
}

// ---- stream usage ---------------------------------------------------------------------------------

for (const p of PROVIDERS) {
  test(`${p.name}: include_usage true gives exactly one final usage chunk with choices []`, async () => {
    p.prepare?.();
    const resp = await r.chat(hello(p.model, { stream: true, stream_options: { include_usage: true } }));
    assert.equal(resp.status, 200);
    const { data, comments } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    const withUsage = usageChunks(data);
    assert.equal(withUsage.length, 1, JSON.stringify(withUsage));
    assertUsageFields(data, true);
    const last = data.at(-2);
    assert.equal(last, withUsage[0], 'the usage chunk is the last data event before [DONE]');
    assert.deepEqual(last.choices, []);
    assert.equal(last.object, 'chat.completion.chunk');
    const ids = new Set(data.filter((d) => d !== '[DONE]' && d.choices.length > 0).map((d) => d.id));
    assert.equal(ids.size, 1, 'one id across the chunks');
    assert.equal(last.id, [...ids][0], 'the usage chunk has the stream id');
    const u = last.usage;
    assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    const trailer = trailerOf(comments);
    // The trailer has the counts the router billed; the usage chunk has the same counts, and from
    // an OpenAI-dialect host it is the host's own object, with the details it adds.
    for (const f of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(trailer.usage[f], u[f], f);
    assert.equal(trailer.usage.prompt_tokens_details.cached_tokens, u.prompt_tokens_details?.cached_tokens ?? 0);
    if (p.name === 'openai' || p.name === 'azure') assert.equal(u.completion_tokens_details.accepted_prediction_tokens, 0, 'the host\'s own usage object');
    assert.equal(trailer.cost_usd, costOfOpenAiUsage(p.priceKey, u));
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });
}

for (const [label, streamOptions] of [['absent', undefined], ['false', { include_usage: false }]]) {
  test(`openai: include_usage ${label} gives no usage chunk, yet the router asked the upstream for usage`, async () => {
    const resp = await r.chat(hello('gpt-4o-mini', { stream: true, ...(streamOptions ? { stream_options: streamOptions } : {}) }));
    assert.equal(resp.status, 200);
    const { data, comments } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(usageChunks(data).length, 0);
    assertUsageFields(data, false);
    assert.ok(data.every((d) => d === '[DONE]' || d.choices.length > 0), 'no choices-less chunk reaches the client');
    const sent = upstreamChats().at(-1);
    assert.equal(sent.body.stream, true);
    assert.deepEqual(sent.body.stream_options, { include_usage: true });
    // ... so the cost is the provider's count, not an estimate.
    const trailer = trailerOf(comments);
    assert.equal(trailer.usage_basis, 'reported');
    assert.equal(trailer.cost_usd, costOfOpenAiUsage('gpt-4o-mini', trailer.usage));
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });
}

test('azure: a streamed request also asks Azure for usage', async () => {
  PROVIDERS[1].prepare();
  const resp = await r.chat(hello('gpt-4o-mini', { stream: true }));
  const { data } = await readSse(resp);
  assert.equal(data.at(-1), '[DONE]');
  const sent = upstreamChats().filter((q) => q.path.startsWith('/azure/'));
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].body.stream_options, { include_usage: true });
  assert.equal(sent[0].headers['api-key'], 'test-azure-key');
  assert.equal(sent[0].query['api-version'], '2024-10-21');
  assert.equal(sent[0].body.model, undefined, 'Azure names the deployment in the URL');
  assert.equal(usageChunks(data).length, 0);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

// ---- exact costs from scripted usage ---------------------------------------------------------------

const OPENAI_CACHED_USAGE = { prompt_tokens: 2000, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1500 } };
// 500 × $0.15/M + 1500 × $0.075/M + 300 × $0.60/M = $0.0003675
const OPENAI_CACHED_COST = '0.0003675';

test('openai: cached input is priced at the cached rate (non-streaming)', async () => {
  assert.equal(expectedCost('gpt-4o-mini', { input: 2000, cached: 1500, output: 300 }), OPENAI_CACHED_COST);
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'From the cache.', usage: OPENAI_CACHED_USAGE } });
  const resp = await r.chat(hello('gpt-4o-mini'));
  const body = await resp.json();
  assert.equal(resp.status, 200);
  assert.equal(body.choices[0].message.content, 'From the cache.');
  assert.equal(body.usage.prompt_tokens_details.cached_tokens, 1500);
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), OPENAI_CACHED_COST);
  assert.equal(resp.headers.get('x-costrouter-baseline-cost-usd'), OPENAI_CACHED_COST);
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.input_tokens, 2000);
  assert.equal(ev.cached_input_tokens, 1500);
  assert.equal(ev.output_tokens, 300);
  assert.equal(ev.cost_usd, Number(OPENAI_CACHED_COST));
});

test('openai: cached input is priced at the cached rate (streaming trailer)', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'From the cache.', usage: OPENAI_CACHED_USAGE } });
  const resp = await r.chat(hello('gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }));
  const { data, comments } = await readSse(resp);
  assert.equal(data.at(-1), '[DONE]');
  const [usage] = usageChunks(data);
  assert.equal(usage.usage.prompt_tokens, 2000);
  assert.equal(usage.usage.prompt_tokens_details.cached_tokens, 1500);
  const trailer = trailerOf(comments);
  assert.equal(trailer.cost_usd, OPENAI_CACHED_COST);
  assert.equal(trailer.savings_usd, '0');
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.cost_usd, Number(OPENAI_CACHED_COST));
  assert.equal(ev.cached_input_tokens, 1500);
});

for (const stream of [false, true]) {
  test(`anthropic: reasoning_effort asks Claude to think, and its thinking comes back as reasoning_content (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'It is 42.', usage: { input_tokens: 20, output_tokens: 300 } } });
    // The fake refuses, as Anthropic does, thinking beside temperature 0.3 or a budget not below max_tokens.
    const resp = await r.chat(hello('claude-haiku-4-5', { reasoning_effort: 'high', temperature: 0.3, ...(stream ? { stream: true } : {}) }));
    assert.equal(resp.status, 200, stream ? '' : await resp.clone().text());
    const sent = upstreamChats().at(-1).body;
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.equal(sent.max_tokens, 8192);
    assert.equal(sent.temperature, undefined);
    if (stream) {
      const { data } = await readSse(resp);
      assert.equal(assemble(data).content, 'It is 42.');
      const reasoning = data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta?.reasoning_content ?? '').join('');
      assert.equal(reasoning, 'The user wants an answer; work it out step by step first.');
      // The signature only inside thinking_blocks, for the client to send back in a tool loop.
      const withoutBlocks = data.map((d) => (typeof d === 'object' ? { ...d, choices: d.choices?.map((c) => ({ ...c, delta: { ...c.delta, thinking_blocks: undefined } })) } : d));
      assert.ok(!JSON.stringify(withoutBlocks).includes('EqQBCgIYAhIM'), 'the signature is in thinking_blocks alone');
    } else {
      const body = await resp.json();
      assert.equal(body.choices[0].message.content, 'It is 42.');
      assert.equal(body.choices[0].message.reasoning_content, 'The user wants an answer; work it out step by step first.');
      const { thinking_blocks: blocks, ...rest } = body.choices[0].message;
      assert.equal(blocks[0].signature.slice(0, 12), 'EqQBCgIYAhIM');
      assert.ok(!JSON.stringify(rest).includes('EqQBCgIYAhIM'), 'the signature is in thinking_blocks alone');
      // Thinking is billed as output; Anthropic's output count includes it.
      assert.equal(body.usage.completion_tokens, 300);
    }
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });
}

for (const stream of [false, true]) {
  test(`anthropic: a JSON schema constrains Claude 4.5 through structured outputs (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: '{"name":"Ann","age":31,"pet":{"kind":"cat"}}' } });
    // As Pydantic writes it: $defs, bounds, a title. The fake refuses, as Anthropic does, an
    // object left open or a bound the grammar does not take.
    const schema = {
      title: 'Person', type: 'object',
      properties: { name: { type: 'string', maxLength: 40 }, age: { type: 'integer', minimum: 0 }, pet: { $ref: '#/$defs/Pet' } },
      required: ['name', 'age'],
      $defs: { Pet: { type: 'object', properties: { kind: { enum: ['cat', 'dog'] } }, required: ['kind'] } },
    };
    const resp = await r.chat({
      model: 'claude-haiku-4-5', ...(stream ? { stream: true } : {}),
      messages: [{ role: 'system', content: 'Extract the person.' }, { role: 'user', content: 'Ann is 31 and has a cat.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
    });
    assert.equal(resp.status, 200, stream ? '' : await resp.clone().text());
    const content = stream ? assemble((await readSse(resp)).data).content : (await resp.json()).choices[0].message.content;
    assert.deepEqual(JSON.parse(content), { name: 'Ann', age: 31, pet: { kind: 'cat' } });
    const sent = upstreamChats().at(-1).body;
    assert.equal(sent.output_config.format.type, 'json_schema');
    assert.equal(sent.output_config.format.schema.additionalProperties, false);
    assert.equal(sent.output_config.format.schema.$defs.Pet.additionalProperties, false);
    assert.equal(sent.output_config.format.schema.properties.age.description, '(minimum: 0)');
    assert.equal(sent.system, 'Extract the person.', 'no instruction beside the grammar');
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  });
}

test('anthropic: a schema structured outputs cannot hold (a free-form map) is asked for by instruction instead', async () => {
  r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: '{"labels":{"a":"b"}}' } });
  const schema = { type: 'object', properties: { labels: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['labels'] };
  const resp = await r.chat({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Label it.' }], response_format: { type: 'json_schema', json_schema: { name: 'labels', schema } } });
  assert.equal(resp.status, 200, await resp.clone().text());
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.output_config, undefined);
  assert.match(sent.system, /Respond with only a valid JSON object.*\n\{"type":"object"/s);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

for (const stream of [false, true]) {
  test(`anthropic: a tool loop keeps thinking when the client sends the message back with its thinking_blocks (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const question = { role: 'user', content: 'What is the weather in Rome?' };
    const first = await r.chat({ model: 'claude-haiku-4-5', reasoning_effort: 'low', tools, messages: [question], ...(stream ? { stream: true } : {}) });
    assert.equal(first.status, 200, stream ? '' : await first.clone().text());
    let message;
    if (stream) {
      // As a client rebuilding the message from the stream's deltas would.
      const { data } = await readSse(first);
      const deltas = data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta ?? {});
      const { content, calls } = assemble(data);
      message = { role: 'assistant', content: content || null, tool_calls: calls, thinking_blocks: deltas.flatMap((d) => d.thinking_blocks ?? []) };
    } else {
      message = (await first.json()).choices[0].message;
    }
    assert.equal(message.thinking_blocks.length, 1);
    assert.equal(message.thinking_blocks[0].type, 'thinking');
    assert.ok(message.thinking_blocks[0].signature, 'with its signature');
    assert.equal(message.tool_calls[0].function.name, 'get_weather');
    // The fake refuses, as Anthropic does, thinking in a tool loop whose last assistant turn does
    // not open with the thinking block it gave (signature checked).
    r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'Sunny, 24C.' } });
    const second = await r.chat({
      model: 'claude-haiku-4-5', reasoning_effort: 'low', tools,
      messages: [question, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '24C, sunny' }],
    });
    assert.equal(second.status, 200, await second.clone().text());
    assert.equal((await second.json()).choices[0].message.content, 'Sunny, 24C.');
    const sent = upstreamChats().at(-1).body;
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 1024 });
    // As Anthropic gave it; the router's mark of the model that wrote it stays with the router.
    const { model: writtenBy, ...block } = message.thinking_blocks[0];
    assert.equal(writtenBy, 'claude-haiku-4-5');
    assert.deepEqual(sent.messages[1].content[0], block);
    await eventFor(second.headers.get('x-costrouter-request-id'));
  });
}

test('gemini 3: a tool call\'s thought signature goes to the client and back to the deployment that wrote it', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const question = { role: 'user', content: 'What is the weather in Rome?' };
  const first = await r.chat({ model: 'gemini-3-flash-preview', tools, messages: [question] });
  assert.equal(first.status, 200, await first.clone().text());
  const message = (await first.json()).choices[0].message;
  const call = message.tool_calls[0];
  // Where Gemini's own OpenAI-compatible endpoint puts it, with the router's mark of its writer.
  assert.equal(call.extra_content.google.thought_signature, 'Q2lRQjBlMmtiNGZha2Vfc2lnbmF0dXJl');
  assert.deepEqual(call.extra_content.costrouter, { provider: 'gemini', model: 'gemini-3-flash-preview' });
  r.upstream.script({ provider: 'gemini', response: { text: 'Sunny, 24C.' } });
  const again = await r.chat({ model: 'gemini-3-flash-preview', tools, messages: [question, message, { role: 'tool', tool_call_id: call.id, content: '24C, sunny' }] });
  assert.equal(again.status, 200, await again.clone().text());
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.contents[1].parts[0].thoughtSignature, 'Q2lRQjBlMmtiNGZha2Vfc2lnbmF0dXJl', 'the real signature, not the placeholder');
  // A client that rebuilt the call without it: the placeholder Google documents, still accepted.
  const rebuilt = { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: call.function }] };
  r.upstream.script({ provider: 'gemini', response: { text: 'Sunny, 24C.' } });
  const rebuiltResp = await r.chat({ model: 'gemini-3-flash-preview', tools, messages: [question, rebuilt, { role: 'tool', tool_call_id: call.id, content: '24C, sunny' }] });
  assert.equal(rebuiltResp.status, 200, await rebuiltResp.clone().text());
  assert.equal(upstreamChats().at(-1).body.contents[1].parts[0].thoughtSignature, 'skip_thought_signature_validator');
  await eventFor(rebuiltResp.headers.get('x-costrouter-request-id'));
  // Streamed: the call's delta carries it the same way.
  const streamed = await r.chat({ model: 'gemini-3-flash-preview', tools, messages: [question], stream: true });
  assert.equal(streamed.status, 200);
  const { data } = await readSse(streamed);
  const callDelta = data.filter((d) => typeof d === 'object').flatMap((d) => d.choices?.[0]?.delta?.tool_calls ?? [])[0];
  assert.equal(callDelta.extra_content.google.thought_signature, 'Q2lRQjBlMmtiNGZha2Vfc2lnbmF0dXJl');
});

test('anthropic: the call after a tool call goes without thinking (its thinking blocks cannot be sent back)', async () => {
  r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'Sunny, 24C.' } });
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const resp = await r.chat({
    model: 'claude-haiku-4-5', reasoning_effort: 'medium', tools,
    messages: [
      { role: 'user', content: 'Weather in Rome?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '24C, sunny' },
    ],
  });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal((await resp.json()).choices[0].message.content, 'Sunny, 24C.');
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.thinking, undefined);
  assert.equal(sent.max_tokens, 4096);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

test('anthropic: Opus 4.7 and later think adaptively at the effort asked, and are sent no sampling parameters', async () => {
  for (const stream of [false, true]) {
    const resp = await r.chat({ model: 'claude-opus-4-7', reasoning_effort: 'high', temperature: 0.2, top_p: 0.9, stream, messages: [{ role: 'user', content: 'Prove it.' }] });
    const text = await resp.text();
    assert.equal(resp.status, 200, text);
    const sent = upstreamChats().at(-1).body;
    assert.deepEqual(sent.thinking, { type: 'adaptive' });
    assert.deepEqual(sent.output_config, { effort: 'high' });
    assert.equal(sent.temperature, undefined);
    assert.equal(sent.top_p, undefined);
    if (!stream) assert.ok(JSON.parse(text).choices[0].message.reasoning_content, text);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
});

test('anthropic: a tool loop\'s last call without tools declares the tools its history called, and the answer comes', async () => {
  r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'Rome: sunny, 24C.' } });
  const resp = await r.chat({
    model: 'claude-haiku-4-5',
    messages: [
      { role: 'user', content: 'Weather in Rome?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '24C, sunny' },
      { role: 'user', content: 'Summarise that in one line.' },
    ],
  });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal((await resp.json()).choices[0].message.content, 'Rome: sunny, 24C.');
  const sent = upstreamChats().at(-1).body;
  assert.deepEqual(sent.tools, [{ name: 'get_weather', input_schema: { type: 'object' } }]);
  assert.deepEqual(sent.tool_choice, { type: 'none' });
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

test('anthropic: a prefill ending in a space is sent without it (Anthropic refuses trailing whitespace)', async () => {
  const resp = await r.chat({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Name a colour.' }, { role: 'assistant', content: 'The colour is: ' }] });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.deepEqual(upstreamChats().at(-1).body.messages.at(-1).content, [{ type: 'text', text: 'The colour is:' }]);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

const ANTHROPIC_CACHE_USAGE = { input_tokens: 100, cache_read_input_tokens: 2000, cache_creation_input_tokens: 1000, output_tokens: 50 };
// 100 × $1/M + 2000 × $0.10/M (read) + 1000 × $1.25/M (write) + 50 × $5/M = $0.0018
const ANTHROPIC_CACHE_COST = '0.0018';

for (const stream of [false, true]) {
  test(`anthropic: cache reads and writes are priced separately (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    assert.equal(expectedCost('claude-haiku-4-5', { input: 3100, cached: 2000, cacheWrite: 1000, output: 50 }), ANTHROPIC_CACHE_COST);
    r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { text: 'Cached context.', usage: ANTHROPIC_CACHE_USAGE } });
    const resp = await r.chat(hello('claude-haiku-4-5', stream ? { stream: true, stream_options: { include_usage: true } } : {}));
    assert.equal(resp.status, 200);
    let usage;
    if (stream) {
      const { data, comments } = await readSse(resp);
      assert.equal(assemble(data).content, 'Cached context.');
      usage = usageChunks(data)[0].usage;
      assert.equal(trailerOf(comments).cost_usd, ANTHROPIC_CACHE_COST);
    } else {
      const body = await resp.json();
      assert.equal(body.choices[0].message.content, 'Cached context.');
      usage = body.usage;
      assert.equal(resp.headers.get('x-costrouter-cost-usd'), ANTHROPIC_CACHE_COST);
      assert.equal(resp.headers.get('x-costrouter-baseline-cost-usd'), ANTHROPIC_CACHE_COST);
    }
    // OpenAI's convention: prompt_tokens counts every prompt token, cache reads among them.
    assert.equal(usage.prompt_tokens, 3100);
    assert.equal(usage.prompt_tokens_details.cached_tokens, 2000);
    // The writes apart, in OpenRouter's name (a client prices its own calls with them).
    assert.equal(usage.prompt_tokens_details.cache_write_tokens, 1000);
    assert.equal(usage.completion_tokens, 50);
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.input_tokens, 3100);
    assert.equal(ev.cached_input_tokens, 2000);
    assert.equal(ev.cache_write_tokens, 1000);
    assert.equal(ev.output_tokens, 50);
    assert.equal(ev.cost_usd, Number(ANTHROPIC_CACHE_COST));
  });
}

const GEMINI_USAGE = { promptTokenCount: 1000, cachedContentTokenCount: 400, candidatesTokenCount: 50, thoughtsTokenCount: 120 };
// 600 × $0.30/M + 400 × $0.03/M (cached) + (50 + 120 thoughts) × $2.50/M = $0.000617
const GEMINI_COST = '0.000617';

for (const stream of [false, true]) {
  test(`gemini: thoughts are billed as output and cached tokens at the cached rate (${stream ? 'streaming' : 'non-streaming'})`, async () => {
    assert.equal(expectedCost('gemini-2.5-flash', { input: 1000, cached: 400, output: 170 }), GEMINI_COST);
    r.upstream.script({ provider: 'gemini', model: 'gemini-2.5-flash', response: { text: 'Thought about it.', usage: GEMINI_USAGE } });
    const resp = await r.chat(hello('gemini-2.5-flash', stream ? { stream: true, stream_options: { include_usage: true } } : {}));
    assert.equal(resp.status, 200);
    let usage;
    if (stream) {
      const { data, comments } = await readSse(resp);
      assert.equal(assemble(data).content, 'Thought about it.');
      usage = usageChunks(data)[0].usage;
      assert.equal(trailerOf(comments).cost_usd, GEMINI_COST);
    } else {
      const body = await resp.json();
      assert.equal(body.choices[0].message.content, 'Thought about it.');
      usage = body.usage;
      assert.equal(resp.headers.get('x-costrouter-cost-usd'), GEMINI_COST);
    }
    assert.equal(usage.prompt_tokens, 1000);
    assert.equal(usage.prompt_tokens_details.cached_tokens, 400);
    assert.equal(usage.completion_tokens, 170);
    assert.equal(usage.completion_tokens_details.reasoning_tokens, 120);
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.reasoning_tokens, 120);
    assert.equal(ev.cached_input_tokens, 400);
    assert.equal(ev.cost_usd, Number(GEMINI_COST));
  });
}

test('azure fallback: priced at the requested model, reason says why', async () => {
  PROVIDERS[1].prepare();
  r.upstream.script({ provider: 'azure', model: 'mini-deploy', response: { text: 'From Azure.', usage: OPENAI_CACHED_USAGE } });
  const resp = await r.chat(hello('gpt-4o-mini'));
  const body = await resp.json();
  assert.equal(body.choices[0].message.content, 'From Azure.');
  assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), OPENAI_CACHED_COST);
  assert.match(resp.headers.get('x-costrouter-route-reason'), /fallback order openai > azure; fell back to azure after: openai: HTTP 503 \(The server is overloaded/);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

// ---- JSON mode ------------------------------------------------------------------------------------

test('response_format json_object: passed to OpenAI, JSON mime type for Gemini, an instruction for Anthropic', async () => {
  const ids = [];
  const ask = async (model) => {
    const resp = await r.chat({ model, messages: [{ role: 'user', content: 'Give me a JSON object' }], response_format: { type: 'json_object' } });
    ids.push(resp.headers.get('x-costrouter-request-id'));
    return resp;
  };

  let resp = await ask('gpt-4o-mini');
  let body = await resp.json();
  assert.equal(resp.status, 200);
  assert.deepEqual(JSON.parse(body.choices[0].message.content), { answer: 'fake' });
  assert.deepEqual(upstreamChats().at(-1).body.response_format, { type: 'json_object' });

  resp = await ask('gemini-2.5-flash');
  body = await resp.json();
  assert.equal(resp.status, 200);
  assert.deepEqual(JSON.parse(body.choices[0].message.content), { answer: 'fake' });
  assert.equal(upstreamChats().at(-1).body.generationConfig.responseMimeType, 'application/json');

  resp = await ask('claude-haiku-4-5');
  await resp.json();
  assert.equal(resp.status, 200);
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.response_format, undefined);
  assert.match(sent.system, /Respond with only a valid JSON object/);

  resp = await ask('mistral-small');
  body = await resp.json();
  assert.deepEqual(JSON.parse(body.choices[0].message.content), { answer: 'fake' });
  assert.deepEqual(upstreamChats().at(-1).body.response_format, { type: 'json_object' });
  for (const id of ids) await eventFor(id);
});

test('response_format json_object while streaming (OpenAI, Gemini)', async () => {
  for (const model of ['gpt-4o-mini', 'gemini-2.5-flash']) {
    const resp = await r.chat({ model, stream: true, messages: [{ role: 'user', content: 'JSON please' }], response_format: { type: 'json_object' } });
    const { data } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    assert.deepEqual(JSON.parse(assemble(data).content), { answer: 'fake' }, model);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
});

// ---- images ---------------------------------------------------------------------------------------

const PNG_DATA = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const IMAGE_MESSAGE = {
  role: 'user',
  content: [
    { type: 'text', text: 'What is in these images?' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_DATA}` } },
    { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
  ],
};

test('images in content parts reach Anthropic as image blocks', async () => {
  for (const stream of [false, true]) {
    const resp = await r.chat({ model: 'claude-haiku-4-5', stream, messages: [IMAGE_MESSAGE] });
    assert.equal(resp.status, 200);
    await resp.text();
    const sent = upstreamChats().at(-1);
    assert.equal(sent.path, '/anthropic/v1/messages');
    assert.deepEqual(sent.body.messages, [{
      role: 'user',
      content: [
        { type: 'text', text: 'What is in these images?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_DATA } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
      ],
    }]);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
});

test('images in content parts reach Gemini as inlineData and fileData parts', async () => {
  for (const stream of [false, true]) {
    const resp = await r.chat({ model: 'gemini-2.5-flash', stream, messages: [IMAGE_MESSAGE] });
    assert.equal(resp.status, 200);
    await resp.text();
    const sent = upstreamChats().at(-1);
    assert.equal(sent.path, `/gemini/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent' : 'generateContent'}`);
    if (stream) assert.equal(sent.query.alt, 'sse');
    assert.deepEqual(sent.body.contents, [{
      role: 'user',
      parts: [
        { text: 'What is in these images?' },
        { inlineData: { mimeType: 'image/png', data: PNG_DATA } },
        { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.png' } },
      ],
    }]);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
});

test('images in content parts reach OpenAI unchanged', async () => {
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [IMAGE_MESSAGE] });
  assert.equal(resp.status, 200);
  await resp.text();
  assert.deepEqual(upstreamChats().at(-1).body.messages, [IMAGE_MESSAGE]);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

// ---- parameter pass-through and presets ------------------------------------------------------------

const SAMPLING = { n: 2, stop: ['END'], seed: 7, user: 'user-42', logprobs: true, top_logprobs: 2, logit_bias: { 50256: -100 } };

test('n, stop, seed and logprobs pass through to OpenAI, user as a per-tenant id', async () => {
  const resp = await r.chat(hello('gpt-4o-mini', SAMPLING));
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.model, 'gpt-4o-mini');
  // `user` goes on as a per-tenant opaque id (security.test.mjs checks which).
  for (const [k, v] of Object.entries(SAMPLING)) if (k !== 'user') assert.deepEqual(sent[k], v, k);
  assert.match(sent.user, /^eu_[0-9a-f]{32}$/);
  assert.equal(body.choices.length, 2);
  assert.deepEqual(body.choices.map((c) => c.index), [0, 1]);
  // Both choices are billed; the header prices the usage the provider reported.
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), costOfOpenAiUsage('gpt-4o-mini', body.usage));
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.attribution.user, 'user-42', 'the OpenAI user field attributes the spend');
});

test('the Mistral preset renames seed to random_seed and drops user (and stream_options)', async () => {
  for (const stream of [false, true]) {
    const resp = await r.chat(hello('mistral-small', { seed: 7, user: 'user-42', stop: ['END'], temperature: 0.3, stream, ...(stream ? { stream_options: { include_usage: false } } : {}) }));
    assert.equal(resp.status, 200);
    await resp.text();
    const sent = upstreamChats().at(-1);
    assert.equal(sent.path, '/openai/v1/chat/completions');
    assert.equal(sent.headers.authorization, 'Bearer test-openai-key');
    assert.equal(sent.body.model, 'mistral-small-latest');
    assert.equal(sent.body.random_seed, 7);
    assert.equal(sent.body.seed, undefined);
    assert.equal(sent.body.user, undefined);
    assert.equal(sent.body.stream_options, undefined);
    assert.deepEqual(sent.body.stop, ['END']);
    assert.equal(sent.body.temperature, 0.3);
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.provider, 'mistral');
  }
});

test('a history as an SDK writes it back reaches Mistral with only the message fields it takes', async () => {
  // Mistral answers 422 to any message field it does not know, null or not: a user's `name`, the
  // `refusal` and `annotations` of OpenAI's answers, the `reasoning_content` of Claude's.
  const messages = [
    { role: 'user', name: 'ann', content: 'What is 2 + 2?' },
    { role: 'assistant', content: '4', refusal: null, annotations: [], reasoning_content: 'simple sum' },
    { role: 'user', content: 'And 3 + 3?' },
  ];
  for (const stream of [false, true]) {
    const resp = await r.chat({ model: 'mistral-small', messages, stream });
    const text = await resp.text();
    assert.equal(resp.status, 200, text);
    const sent = upstreamChats().at(-1).body.messages;
    assert.deepEqual(sent.map((m) => Object.keys(m)), [['role', 'content'], ['role', 'content'], ['role', 'content']]);
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
});

test('Mistral embeddings: dimensions go as output_dimension, fields Mistral does not take stay here', async () => {
  const resp = await embed({ model: 'mistral-embed', input: ['hello'], dimensions: 8, user: 'user-42', encoding_format: 'float' });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(body.data[0].embedding.length, 8);
  const sent = r.upstream.requests().filter((q) => q.path.endsWith('/embeddings')).at(-1).body;
  assert.deepEqual(sent, { model: 'mistral-embed', input: ['hello'], encoding_format: 'float', output_dimension: 8 });
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

test('metadata attributes the request; it reaches OpenAI only beside store: true (OpenAI refuses it otherwise)', async () => {
  const plain = await r.chat(hello('gpt-4o-mini', { metadata: { feature: 'search' } }));
  assert.equal(plain.status, 200, await plain.clone().text());
  assert.equal(upstreamChats().at(-1).body.metadata, undefined);
  assert.equal((await eventFor(plain.headers.get('x-costrouter-request-id'))).attribution.feature, 'search');
  await plain.arrayBuffer();
  const stored = await r.chat(hello('gpt-4o-mini', { metadata: { feature: 'search' }, store: true }));
  assert.equal(stored.status, 200, await stored.clone().text());
  assert.deepEqual(upstreamChats().at(-1).body.metadata, { feature: 'search' });
  await stored.arrayBuffer();
});

test('a host that reports no usage: the answer carries the estimate it is billed at', async () => {
  const body = {
    id: 'chatcmpl-nousage', object: 'chat.completion', created: 1737000000, model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?' }, finish_reason: 'stop' }],
  };
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { body } });
  const resp = await r.chat(hello('gpt-4o-mini'));
  const answer = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(answer));
  assert.equal(resp.headers.get('x-costrouter-usage'), 'estimated');
  const u = answer.usage;
  assert.ok(u && u.prompt_tokens > 0 && u.completion_tokens > 0, JSON.stringify(u));
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), costOfOpenAiUsage('gpt-4o-mini', u), 'the usage shown is the usage billed');
});

// ---- embeddings -----------------------------------------------------------------------------------

const embed = (body, key = KEYS.acme) => fetch(`${r.url}/v1/embeddings`, {
  method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** base64 of little-endian float32s → numbers (what the OpenAI SDKs decode). */
const decodeBase64Floats = (s) => {
  const buf = Buffer.from(s, 'base64');
  assert.equal(buf.length % 4, 0);
  return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
};

test('embeddings through OpenAI: floats, base64, exact cost', async () => {
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { usage: { prompt_tokens: 1234, total_tokens: 1234 } } });
  // `metadata` attributes the request here and goes no further (no embeddings API takes it).
  let resp = await embed({ model: 'text-embedding-3-small', input: ['hello world', 'costrouter'], dimensions: 4, metadata: { feature: 'search' } });
  let body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(body.object, 'list');
  assert.equal(body.data.length, 2);
  for (const [i, d] of body.data.entries()) {
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, i);
    assert.equal(d.embedding.length, 4);
    assert.ok(d.embedding.every((x) => typeof x === 'number'));
  }
  // 1234 × $0.02/M
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), '0.00002468');
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), expectedCost('text-embedding-3-small', { input: 1234 }));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(resp.headers.get('x-costrouter-model'), 'text-embedding-3-small');
  const sent = r.upstream.requests().at(-1);
  assert.equal(sent.path, '/openai/v1/embeddings');
  assert.deepEqual(sent.body, { model: 'text-embedding-3-small', input: ['hello world', 'costrouter'], dimensions: 4 });
  let ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.attribution.feature, 'search');
  assert.equal(ev.input_tokens, 1234);
  assert.equal(ev.cost_usd, 0.00002468);

  const floats = body.data.map((d) => d.embedding);
  resp = await embed({ model: 'text-embedding-3-small', input: ['hello world', 'costrouter'], dimensions: 4, encoding_format: 'base64' });
  body = await resp.json();
  assert.equal(resp.status, 200);
  assert.equal(r.upstream.requests().at(-1).body.encoding_format, 'base64');
  for (const [i, d] of body.data.entries()) {
    assert.equal(typeof d.embedding, 'string');
    const decoded = decodeBase64Floats(d.embedding);
    decoded.forEach((x, j) => assert.ok(Math.abs(x - floats[i][j]) < 1e-6));
  }
  ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, 200);
});

test('embeddings: an empty item is refused before any call; a host reporting only total_tokens is billed for them; a short answer is not served', async () => {
  const calls = () => r.upstream.requests().filter((q) => q.path.endsWith('/embeddings')).length;
  const before = calls();
  for (const input of [['hello', ''], [[1, 2], []]]) {
    const resp = await embed({ model: 'text-embedding-3-small', input });
    const body = await resp.json();
    assert.equal(resp.status, 400, JSON.stringify(body));
    assert.equal(body.error.param, 'input');
  }
  assert.equal(calls(), before, 'nothing sent');

  // Voyage-style usage: total_tokens only. Billed as reported, not as free.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { body: { object: 'list', model: 'text-embedding-3-small',
    data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], usage: { total_tokens: 500 } } } });
  const totalOnly = await embed({ model: 'text-embedding-3-small', input: ['hello'] });
  assert.equal(totalOnly.status, 200);
  await totalOnly.arrayBuffer();
  assert.equal(totalOnly.headers.get('x-costrouter-cost-usd'), expectedCost('text-embedding-3-small', { input: 500 }));
  assert.equal(totalOnly.headers.get('x-costrouter-usage'), null, 'not estimated');

  // One vector for two inputs: which input it belongs to cannot be known.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { body: { object: 'list', model: 'text-embedding-3-small',
    data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], usage: { prompt_tokens: 4, total_tokens: 4 } } } });
  const short = await embed({ model: 'text-embedding-3-small', input: ['one', 'two'] });
  const body = await short.json();
  assert.equal(short.status, 502, JSON.stringify(body));
  assert.match(body.error.message, /1 vectors for 2 inputs/);

  // A host that answers floats to a base64 request, and reports no usage: the answer passed on
  // is changed for both (vectors encoded, usage estimated), not sent as it came.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { body: { object: 'list', model: 'text-embedding-3-small',
    data: [{ object: 'embedding', index: 0, embedding: [0.5, -0.25] }] } } });
  const fixed = await embed({ model: 'text-embedding-3-small', input: ['hello there'], encoding_format: 'base64' });
  const fixedBody = await fixed.json();
  assert.equal(fixed.status, 200, JSON.stringify(fixedBody));
  assert.deepEqual(decodeBase64Floats(fixedBody.data[0].embedding), [0.5, -0.25]);
  assert.ok(fixedBody.usage.prompt_tokens > 0, JSON.stringify(fixedBody.usage));
  assert.equal(fixed.headers.get('x-costrouter-usage'), 'estimated');
  // Not an object: a malformed answer, not a 200.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { body: [[{ embedding: [0.5] }]] } });
  const array = await embed({ model: 'text-embedding-3-small', input: ['hello'] });
  assert.equal(array.status, 502, await array.clone().text());
  await array.arrayBuffer();
});

test('embeddings through Gemini: batchEmbedContents, float arrays, estimated cost', async () => {
  const before = gemEmb.log.length;
  const resp = await embed({ model: 'gemini-embedding', input: ['hello world', 'costrouter'], dimensions: 4 });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  const sent = gemEmb.log.slice(before);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].path, '/v1beta/models/text-embedding-004:batchEmbedContents');
  assert.deepEqual(sent[0].body, {
    requests: ['hello world', 'costrouter'].map((text) => ({ model: 'models/text-embedding-004', content: { parts: [{ text }] }, outputDimensionality: 4 })),
  });
  assert.equal(body.object, 'list');
  assert.deepEqual(body.data, [0, 1].map((i) => ({ object: 'embedding', index: i, embedding: geminiVector(i) })));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'gemini-embed');
  // Gemini reports no token counts: 4 characters a token, so ⌈11/4⌉ + ⌈10/4⌉ = 6 tokens × $0.02/M.
  assert.equal(resp.headers.get('x-costrouter-usage'), 'estimated');
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), expectedCost('text-embedding-3-small', { input: 6 }));
  assert.deepEqual(body.usage, { prompt_tokens: 6, total_tokens: 6 }, 'the body counts what is billed, not zeros');
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.input_tokens, 6);
});

test('embeddings through Gemini go in batches of at most 100, answered as one list in input order', async () => {
  const before = gemEmb.log.length;
  const input = Array.from({ length: 250 }, (_, i) => `text number ${i}`);
  const resp = await embed({ model: 'gemini-embedding', input });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body).slice(0, 300));
  const sent = gemEmb.log.slice(before);
  assert.deepEqual(sent.map((q) => q.body.requests.length), [100, 100, 50]);
  assert.deepEqual(sent.map((q) => q.body.requests[0].content.parts[0].text), ['text number 0', 'text number 100', 'text number 200']);
  assert.deepEqual(body.data.map((d) => d.index), input.map((_, i) => i));
  // Each batch's answers count from 0 at Google; the router renumbers them across batches.
  assert.deepEqual(body.data[249].embedding, geminiVector(49));
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, 200);
});

test('batches a deployment answered before it failed are charged: the next deployment embeds them again', async () => {
  const input = Array.from({ length: 150 }, (_, i) => (i === 120 ? 'OVERLOAD-THIS-BATCH' : `text number ${i}`));
  const resp = await embed({ model: 'gemini-then-openai-embedding', input });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body).slice(0, 300));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(body.data.length, 150);
  // Google answered the first 100 (no token counts: 4 characters a token) and billed them;
  // OpenAI then embedded all 150 and reported its own count.
  const dropped = input.slice(0, 100).reduce((n, t) => n + Math.ceil(t.length / 4), 0);
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), expectedCost('text-embedding-3-small', { input: dropped + body.usage.prompt_tokens }));
  assert.match(resp.headers.get('x-costrouter-route-reason'), /fell back to openai after: gemini[^;]*; \$[0-9.]+ for batches a deployment answered before it failed/);
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.cost_usd, Number(resp.headers.get('x-costrouter-cost-usd')));
});

test('embeddings: a parameter one deployment does not take goes to the next; if none takes it, the client hears the refusal', async () => {
  const refusal = { status: 400, message: 'Unrecognized request argument supplied: dimensions', code: null };
  r.upstream.script({ provider: 'openai', model: 'emb-strict', response: refusal });
  const moved = await embed({ model: 'openai-then-azure-embedding', input: 'hello', dimensions: 4 });
  assert.equal(moved.status, 200, await moved.clone().text());
  assert.equal(moved.headers.get('x-costrouter-provider'), 'azure');
  assert.match(moved.headers.get('x-costrouter-route-reason'), /fell back to azure after: openai: HTTP 400 \(Unrecognized request argument supplied: dimensions\)/);
  await moved.arrayBuffer();
  r.upstream.script({ provider: 'openai', model: 'emb-strict', response: refusal });
  r.upstream.script({ provider: 'azure', model: 'emb-deploy', response: refusal });
  const refused = await embed({ model: 'openai-then-azure-embedding', input: 'hello', dimensions: 4 });
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error.message, /openai rejected the request: Unrecognized request argument supplied: dimensions/);
});

test('embeddings: a 200 whose body cannot be read is charged its estimate; the next deployment serves', async () => {
  r.upstream.script({ provider: 'openai', model: 'emb-strict', response: { fault: 'invalid_json' } });
  const resp = await embed({ model: 'openai-then-azure-embedding', input: 'hello world' });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
  const reason = resp.headers.get('x-costrouter-route-reason');
  assert.match(reason, /fell back to azure after: openai sent a response that could not be read: .*, and was charged its estimate, \$[0-9.]+/);
  const body = await resp.json();
  // Billed twice: the unread answer at its estimate and azure's at its usage.
  const alone = costOfOpenAiUsage('text-embedding-3-small', { prompt_tokens: body.usage.prompt_tokens, completion_tokens: 0 });
  assert.ok(Number(resp.headers.get('x-costrouter-cost-usd')) > alone, `${resp.headers.get('x-costrouter-cost-usd')} against ${alone}`);
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

test('embeddings: a deployment that times out is charged its estimate if it was writing an answer, nothing if it had refused; the next one serves', async () => {
  // The first deployment answers as scripted, too late (a 400 ms limit); azure serves.
  const timedOut = async (response) => {
    r.upstream.script({ provider: 'openai', model: 'emb-slow', response });
    const resp = await embed({ model: 'slow-then-azure-embedding', input: 'hello world' });
    assert.equal(resp.status, 200, await resp.clone().text());
    assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
    await resp.arrayBuffer();
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.cost_usd, Number(resp.headers.get('x-costrouter-cost-usd')));
    return { reason: resp.headers.get('x-costrouter-route-reason'), ev };
  };
  // Writing an answer: billed by its provider, at the estimate.
  const writing = await timedOut({ fault: 'slow', delay_ms: 5000 });
  const charged = /fell back to azure after: slow: timed out, and was charged its estimate, \$([\d.]+)/.exec(writing.reason);
  assert.ok(charged, writing.reason);
  assert.ok(Number(charged[1]) > 0, writing.reason);
  assert.ok(writing.ev.cost_usd > Number(charged[1]), `the answer's cost comes on top: ${writing.ev.cost_usd}`);
  // A 503's headers at once and its body never: the provider refused, so there is nothing it bills.
  const refused = await timedOut({ fault: 'stalled_body', status: 503 });
  assert.match(refused.reason, /fell back to azure after: slow: timed out/);
  assert.doesNotMatch(refused.reason, /charged/, refused.reason);
  // Only the answer's cost: azure's emb-deploy at text-embedding-3-small's $0.02 per million.
  assert.equal(Math.round(refused.ev.cost_usd * 1e12), Math.round(refused.ev.input_tokens * 0.02e-6 * 1e12), JSON.stringify(refused.ev));
});

test('embeddings refused with a wait pass the wait on, as chat does, and hold the deployment', async () => {
  for (const [i, wait, shouldRetry] of [[0, '20', null], [1, '90', 'false']]) {
    r.upstream.script({ provider: 'openai', model: `emb-limited-${i}`, response: { status: 429, headers: { 'retry-after': wait } } });
    const resp = await embed({ model: `emb-limited-${i}`, input: 'hello' });
    assert.equal(resp.status, 429);
    assert.equal(resp.headers.get('retry-after'), wait);
    assert.equal(resp.headers.get('x-should-retry'), shouldRetry);
    await resp.arrayBuffer();
  }
  // Held for the 20 s asked: the next request makes no call and is told the time left.
  const sent = r.upstream.requests().length;
  const held = await embed({ model: 'emb-limited-0', input: 'hello' });
  const body = await held.json();
  assert.deepEqual([held.status, body.error.code], [429, 'upstream_rate_limited'], JSON.stringify(body));
  assert.match(body.error.message, /openai: held \d+ s more, as it asked with its HTTP 429/);
  assert.ok(Number(held.headers.get('retry-after')) > 15 && Number(held.headers.get('retry-after')) <= 20, held.headers.get('retry-after'));
  assert.equal(r.upstream.requests().length, sent, 'no call made');
});

test('Gemini\'s quota refusal says its wait in the body: passed on as retry-after, and the deployment held', async () => {
  r.upstream.script({ provider: 'gemini', model: 'gemini-limited', response: { status: 429, retryDelay: '33.2s' } });
  const refused = await r.chat({ model: 'gemini-limited', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(refused.status, 429, await refused.clone().text());
  assert.equal(refused.headers.get('retry-after'), '34', 'rounded up, not the SDKs\' own 0.5 s');
  assert.match((await refused.json()).error.message, /gemini: HTTP 429/);
  const sent = r.upstream.requests().length;
  const held = await r.chat({ model: 'gemini-limited', messages: [{ role: 'user', content: 'hi' }], stream: true });
  assert.equal(held.status, 429);
  assert.match((await held.json()).error.message, /gemini: held \d+ s more, as it asked with its HTTP 429/);
  assert.ok(Number(held.headers.get('retry-after')) > 30, held.headers.get('retry-after'));
  assert.equal(r.upstream.requests().length, sent, 'no call made');
});

test('token arrays, which Gemini cannot take, go to the next deployment; with none, the refusal is the answer', async () => {
  const sentToGoogle = gemEmb.log.length;
  const input = [[9906, 1917], [1791, 20056]];
  const resp = await embed({ model: 'gemini-then-openai-embedding', input });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body).slice(0, 300));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(body.data.length, 2);
  assert.deepEqual(r.upstream.requests().at(-1).body.input, input, 'sent on as token arrays');
  assert.equal(gemEmb.log.length, sentToGoogle, 'nothing sent to the deployment that cannot take them');
  assert.match(resp.headers.get('x-costrouter-route-reason'), /fell back to openai after: gemini-embed: .*token arrays are not supported/);
  await eventFor(resp.headers.get('x-costrouter-request-id'));

  const alone = await embed({ model: 'gemini-embedding', input });
  const error = (await alone.json()).error;
  assert.equal(alone.status, 400, JSON.stringify(error));
  assert.equal(error.param, 'input');
  assert.equal(error.code, 'invalid_value');
  assert.match(error.message, /token arrays are not supported/);
  await eventFor(alone.headers.get('x-costrouter-request-id'));
});

test('embeddings through Gemini with encoding_format base64 answer base64 float32 vectors', async () => {
  // The OpenAI Node SDK asks for base64 by default and decodes whatever string it gets back:
  // an array where a base64 string is expected silently turns into garbage vectors.
  const resp = await embed({ model: 'gemini-embedding', input: ['hello world', 'costrouter'], encoding_format: 'base64' });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  for (const [i, d] of body.data.entries()) {
    assert.equal(typeof d.embedding, 'string', `data[${i}].embedding should be base64, got ${JSON.stringify(d.embedding)}`);
    assert.deepEqual(decodeBase64Floats(d.embedding), geminiVector(i));
  }
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

// ---- models ---------------------------------------------------------------------------------------

test('/v1/models lists every model and alias with what serves it', async () => {
  const resp = await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  const body = await resp.json();
  assert.equal(resp.status, 200);
  assert.equal(body.object, 'list');
  const byId = Object.fromEntries(body.data.map((m) => [m.id, m]));
  const catalog = testCatalog(r.upstream.url);
  for (const id of [...Object.keys(catalog.models), ...Object.keys(catalog.aliases)]) {
    // A model no deployment can serve (its provider's key secret is unset) is not offered.
    if (id === 'nokey-model') assert.equal(byId[id], undefined, 'a model without a key is listed');
    else assert.ok(byId[id], `missing ${id}`);
  }
  for (const m of body.data) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    assert.equal(typeof m.owned_by, 'string');
  }
  assert.equal(byId.fast.costrouter.serves, 'gpt-4o-mini');
  assert.equal(byId.gpt4o.costrouter.serves, 'gpt-4o');
  assert.deepEqual(byId['gpt-4o-mini'].costrouter.providers, ['openai', 'azure']);
  assert.equal(byId['gpt-4o-mini'].costrouter.context_window, PRICES['gpt-4o-mini'].context_window);
  assert.equal(byId['gpt-4o-mini'].costrouter.max_input_tokens, null);
  // Gemini limits the prompt apart from its output, with no window over both.
  assert.deepEqual([byId['gemini-2.5-flash'].costrouter.max_input_tokens, byId['gemini-2.5-flash'].costrouter.context_window], [1048576, null]);
  assert.equal(byId['text-embedding-3-small'].costrouter.mode, 'embedding');
  assert.equal(byId['claude-haiku-4-5'].costrouter.mode, 'chat');

  // A tenant limited to the alias `fast` sees only it.
  const limited = await (await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEYS.restricted}` } })).json();
  assert.deepEqual(limited.data.map((m) => m.id), ['fast']);

  // `client.models.retrieve(id)`: the same entry, and only what the key may use.
  const one = await fetch(`${r.url}/v1/models/fast`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(one.status, 200);
  assert.deepEqual(await one.json(), byId.fast);
  const hidden = await fetch(`${r.url}/v1/models/gpt-4o`, { headers: { authorization: `Bearer ${KEYS.restricted}` } });
  assert.equal(hidden.status, 404);
  assert.equal((await hidden.json()).error.code, 'model_not_found');
  const unserved = await fetch(`${r.url}/v1/models/nokey-model`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(unserved.status, 404);
  await unserved.arrayBuffer();
  const noKey = await fetch(`${r.url}/v1/models/fast`);
  assert.equal(noKey.status, 401);
  await noKey.arrayBuffer();
});

test('the models and report endpoints name their request under x-request-id too, which the SDKs read as _request_id', async () => {
  for (const p of ['/v1/models', '/v1/models/fast', '/v1/usage', '/v1/budgets', '/v1/forecast', '/v1/deployments', '/v1/recommendations', '/v1/alerts']) {
    const resp = await fetch(`${r.url}${p}`, { headers: { authorization: `Bearer ${KEYS.acme}` } });
    assert.equal(resp.status, 200, `${p}: ${await resp.clone().text()}`);
    await resp.arrayBuffer();
    const id = resp.headers.get('x-costrouter-request-id');
    assert.match(id ?? '', /^req_[0-9a-f]+$/, p);
    assert.equal(resp.headers.get('x-request-id'), id, p);
  }
});

test('a request served at priority is billed at the priority rates, streamed or not', async () => {
  for (const stream of [false, true]) {
    const resp = await r.chat(hello('gpt-4o-mini', { service_tier: 'priority', ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) }));
    assert.equal(resp.status, 200);
    let usage, cost;
    if (stream) {
      const { data, comments } = await readSse(resp);
      usage = data.at(-2).usage;
      cost = trailerOf(comments).cost_usd;
    } else {
      const body = await resp.json();
      assert.equal(body.service_tier, 'priority');
      usage = body.usage;
      cost = resp.headers.get('x-costrouter-cost-usd');
    }
    // gpt-4o-mini at priority: $0.25 in, $1.00 out per million (kv-seed), not $0.15 / $0.60.
    const expected = (usage.prompt_tokens * 0.25 + usage.completion_tokens * 1.0) / 1e6;
    assert.ok(Math.abs(Number(cost) - expected) < 1e-12, `${stream ? 'stream' : 'whole'}: ${cost} vs ${expected}`);
  }
});

test('the Azure OpenAI SDK\'s paths work: the deployment in the path is the model', async () => {
  // What AzureOpenAI(azure_endpoint=<router>, api_key=<router key>, api_version=...) sends.
  const azure = (path, body) => fetch(`${r.url}/openai/deployments/${path}?api-version=2024-10-21`, {
    method: 'POST', headers: { 'api-key': KEYS.acme, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const chat = await azure('fast/chat/completions', { model: 'ignored-on-azure', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
  const body = await chat.json();
  assert.equal(chat.status, 200, JSON.stringify(body));
  assert.equal(body.object, 'chat.completion');
  assert.equal(chat.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  const emb = await azure('text-embedding-3-small/embeddings', { input: 'hello' });
  const embBody = await emb.json();
  assert.equal(emb.status, 200, JSON.stringify(embBody));
  assert.equal(embBody.data.length, 1);
  const unknown = await azure('no-such-model/chat/completions', { messages: [{ role: 'user', content: 'hello' }] });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, 'model_not_found');
  // AzureOpenAI's Responses API: `/openai/responses`, the model in the body (the SDK puts no
  // deployment in this path, whether or not one is set).
  const responses = await fetch(`${r.url}/openai/responses?api-version=2025-04-01-preview`, {
    method: 'POST', headers: { 'api-key': KEYS.acme, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fast', input: 'hello' }),
  });
  const answer = await responses.json();
  assert.equal(responses.status, 200, JSON.stringify(answer));
  assert.equal(answer.object, 'response');
  assert.equal(responses.headers.get('x-costrouter-model'), 'gpt-4o-mini');
});

test("OpenRouter's own charge settles the call, streamed or not", async () => {
  // OpenRouter served the model from a dearer provider than the catalog's row prices: $0.0004.
  // As OpenRouter sends it without a key of the operator's own: upstream_inference_cost repeats cost.
  const usage = { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100, cost: 0.0004, is_byok: false, cost_details: { upstream_inference_cost: 0.0004 } };
  r.upstream.script({ provider: 'openai', model: 'meta-llama/llama-3.3-70b-instruct', times: 2, response: { usage } });
  const resp = await r.chat(hello('or-llama'));
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), '0.0004');
  // The model asked for served it: its baseline is what it cost, no saving.
  assert.equal(resp.headers.get('x-costrouter-baseline-cost-usd'), '0.0004');
  assert.notEqual(costOfOpenAiUsage('mistral-small', usage), '0.0004', 'the row prices it otherwise');
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.cost_usd, 0.0004);
  const streamed = await r.chat(hello('or-llama', { stream: true }));
  const trailer = trailerOf((await readSse(streamed)).comments);
  assert.equal(trailer.cost_usd, '0.0004');
});

test('an alias is served and reported as such', async () => {
  const resp = await r.chat(hello('fast'));
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(resp.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  assert.match(resp.headers.get('x-costrouter-route-reason'), /alias 'fast' serves gpt-4o-mini/);
  assert.equal(resp.headers.get('x-costrouter-route'), 'alias');
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), costOfOpenAiUsage('gpt-4o-mini', body.usage));
  await eventFor(resp.headers.get('x-costrouter-request-id'));
});

// Last in this file: it leaves text-embedding-3-small's breaker open in this router.
test('an embedding deployment that keeps failing opens its circuit and is then passed over', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', times: 5, response: { status: 500 } });
  let lastFailure;
  for (let i = 0; i < 5; i++) {
    const resp = await embed({ model: 'text-embedding-3-small', input: 'hi' });
    assert.equal(resp.status, 502, await resp.text());
    lastFailure = resp.headers.get('x-costrouter-request-id');
  }
  // The request whose failure opened the breaker says so in its cost event, which is what the
  // ledger turns into a circuit-open alert.
  assert.deepEqual((await eventFor(lastFailure)).shape.circuits_opened, ['openai/text-embedding-3-small']);
  const sentBefore = r.upstream.requests().length;
  const skipped = await embed({ model: 'text-embedding-3-small', input: 'hi' });
  const body = await skipped.json();
  assert.equal(skipped.status, 503);
  assert.equal(body.error.code, 'no_available_route');
  assert.match(body.error.message, /circuit open/);
  assert.equal(r.upstream.requests().length, sentBefore, 'an open breaker sends nothing upstream');
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  const entry = list.data.find((d) => d.deployment === 'openai/text-embedding-3-small');
  assert.equal(entry.health.breaker.state, 'open');
  assert.equal(entry.health.consecutive_failures, 5);
});

test('what Claude, Gemini or Groq would drop and change the answer by (audio out, a logit bias, logprobs) goes to the deployment that takes it', async () => {
  const ask = (extra) => r.chat({ model: 'claude-then-openai', messages: [{ role: 'user', content: 'Is the sky blue? yes or no' }], ...extra });
  // Groq passes audio output on (an OpenAI-dialect host's own affair); the adapters refuse it.
  // Gemini translates logprobs (responseLogprobs).
  for (const [extra, passedOver, servedBy] of [
    [{ logit_bias: { 9642: 100, 2822: 100 } }, ['anthropic', 'gemini', 'groq'], ['openai', 'gpt-4o-mini']],
    [{ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }, ['anthropic', 'gemini'], ['groq', 'llama-3.1-8b-instant']],
    [{ logprobs: true, top_logprobs: 2 }, ['anthropic'], ['gemini', 'gemini-2.5-flash']],
  ]) {
    r.upstream.reset();
    const resp = await ask(extra);
    const body = await resp.json();
    assert.equal(resp.status, 200, JSON.stringify(body));
    const calls = r.upstream.requests();
    assert.equal(calls.length, 1, 'a refusal makes no call');
    assert.equal(resp.headers.get('x-costrouter-provider'), servedBy[0]);
    if (servedBy[0] !== 'gemini') {
      assert.equal(calls[0].body.model, servedBy[1]);
      for (const [k, v] of Object.entries(extra)) assert.deepEqual(calls[0].body[k], v, `${k} reaches ${servedBy[0]} as sent`);
    }
    const reason = resp.headers.get('x-costrouter-route-reason');
    for (const p of passedOver) assert.match(reason, new RegExp(`${p}: .*${Object.keys(extra)[0]}`), reason);
  }
  // Unset or empty, they pass nothing over: Claude serves.
  r.upstream.reset();
  const plain = await ask({ logit_bias: {}, logprobs: false, modalities: ['text'] });
  assert.equal(plain.status, 200, await plain.clone().text());
  assert.equal(plain.headers.get('x-costrouter-provider'), 'anthropic');
  await plain.text();
});

test('logprobs asked of a model only Groq serves: a 400 naming the parameter, no call', async () => {
  const resp = await r.chat({ model: 'groq-only', messages: [{ role: 'user', content: 'hi' }], logprobs: true });
  const body = await resp.json();
  assert.equal(resp.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, 'logprobs');
  assert.match(body.error.message, /does not take 'logprobs'/);
  assert.equal(r.upstream.requests().length, 0);
});

test('content parts and formats a host defines go to that host as they came; OpenAI, Azure, Anthropic and Gemini refuse them by name', async () => {
  // Mistral's own document part: sent on whole to the Mistral preset.
  const document = { type: 'document_url', document_url: 'https://example.com/report.pdf' };
  const served = await r.chat({ model: 'mistral-small', messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise it.' }, document] }] });
  assert.equal(served.status, 200, await served.clone().text());
  await served.json();
  assert.deepEqual(upstreamChats().at(-1).body.messages[0].content[1], document);
  // vLLM's video part and structural-tag format, to deployments that take only OpenAI's types:
  // refused before any call, naming what was refused.
  const sent = r.upstream.requests().length;
  for (const [model, body, param, says] of [
    ['gpt-4o-mini', { messages: [{ role: 'user', content: [{ type: 'video_url', video_url: { url: 'https://example.com/v.mp4' } }] }] }, 'messages[0].content[0].type', /'video_url' content parts/],
    ['claude-haiku-4-5', { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'structural_tag', structures: [], triggers: ['<f>'] } }, 'response_format.type', /'structural_tag'/],
    ['gemini-2.5-flash', { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object', schema: { type: 'object' } } }, 'response_format', /'schema'/],
  ]) {
    const resp = await r.chat({ model, ...body });
    const error = (await resp.json()).error;
    assert.deepEqual([resp.status, error.param], [400, param], `${model}: ${JSON.stringify(error)}`);
    assert.match(error.message, says);
  }
  assert.equal(r.upstream.requests().length, sent, 'no call made');
});
