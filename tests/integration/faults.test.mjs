// The fault matrix through the real worker: each upstream failure (429, 500, 503, too slow,
// connection reset, truncated body or stream, invalid JSON), streaming and not, with a fallback
// deployment available (gpt-4o-mini: openai, then azure) and without one (gpt-4o: openai only).
// Every request must end in a clean answer or a clean OpenAI-style error, never a worker
// exception, and must produce exactly one cost event. A provider key the upstream refuses must
// never be echoed to the client.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, testCatalog, KEYS } from './harness.mjs';

let r;
/** Request ids of every request sent to the router, in order. */
const sent = [];

before(async () => {
  r = await startRouter();
  // The catalog is read on the first request, so it can still be extended: a model whose first
  // deployment times out (the `slow` provider gives up after 400 ms) with Azure behind it, and a
  // model served only by the deployment whose key the upstream refuses.
  const catalog = testCatalog(r.upstream.url);
  catalog.models['slow-fallback'] = {
    deployments: [{ provider: 'slow', upstream_model: 'slow-model' }, { provider: 'azure', upstream_model: 'mini-deploy' }],
    price_key: 'gpt-4o-mini',
  };
  catalog.models['badkey-only'] = { deployments: [{ provider: 'badkey', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' };
  // A deployment of its own for the breaker test, so no other test's failures count toward it.
  catalog.models['flaky-stream'] = {
    deployments: [{ provider: 'anthropic', upstream_model: 'claude-flaky' }, { provider: 'azure', upstream_model: 'mini-deploy' }],
    price_key: 'claude-haiku-4-5',
  };
  // Gemini first, Azure behind it: for the refusals Gemini words as a 400.
  catalog.models['gemini-then-azure'] = {
    deployments: [{ provider: 'gemini', upstream_model: 'gemini-keyless' }, { provider: 'azure', upstream_model: 'mini-deploy' }],
    price_key: 'gemini-2.5-flash',
  };
  // Deployments of their own for the rate-limit tests, whose refusals would otherwise open the
  // breakers other tests rely on, and hold the deployments for the wait they ask: one pair per case.
  for (let i = 0; i < 5; i++) {
    catalog.models[`limited-twice-${i}`] = {
      deployments: [{ provider: 'openai', upstream_model: `limited-a-${i}` }, { provider: 'azure', upstream_model: `limited-deploy-${i}` }],
      price_key: 'gpt-4o-mini',
    };
  }
  catalog.models['limited-then-flaky'] = {
    deployments: [{ provider: 'openai', upstream_model: 'limited-model' }, { provider: 'anthropic', upstream_model: 'claude-limited' }],
    price_key: 'gpt-4o-mini',
  };
  catalog.models['too-large-first'] = {
    deployments: [{ provider: 'openai', upstream_model: 'too-large-a' }, { provider: 'azure', upstream_model: 'mini-deploy' }],
    price_key: 'gpt-4o-mini',
  };
  catalog.models['too-large-only'] = { deployments: [{ provider: 'openai', upstream_model: 'too-large-b' }], price_key: 'gpt-4o-mini' };
  catalog.models['thinker'] = { deployments: [{ provider: 'openai', upstream_model: 'o4-mini' }], price_key: 'o4-mini' };
  catalog.models['early-fail-stream'] = {
    deployments: [{ provider: 'anthropic', upstream_model: 'claude-early' }, { provider: 'azure', upstream_model: 'mini-deploy' }],
    price_key: 'claude-haiku-4-5',
  };
  // Anthropic alone, for its 529 overload (a deployment of its own: the failures count).
  catalog.models['claude-overloaded'] = { deployments: [{ provider: 'anthropic', upstream_model: 'claude-overloaded' }], price_key: 'claude-haiku-4-5' };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });
beforeEach(() => r.upstream.reset());

const WRONG_KEY = 'sk-wrong-key-that-must-never-leak-123456';

async function chat(body) {
  const resp = await r.chat(body);
  const id = resp.headers.get('x-costrouter-request-id');
  assert.match(id ?? '', /^req_[0-9a-f]+$/, 'every response names its request');
  assert.equal(resp.headers.get('x-request-id'), id, 'under the name the OpenAI SDKs read too');
  sent.push(id);
  return resp;
}

const ask = (model, stream) => ({ model, stream, messages: [{ role: 'user', content: 'Say hello' }] });

const eventFor = (requestId) => r.eventFor(requestId);

/**
 * A clean OpenAI-style error: exactly `{"error":{"message","type","param","code"}}`, and its
 * event. `cost(message)`: what the failed request was charged (nothing, unless a call it made is
 * billed all the same).
 */
async function assertCleanError(resp, { status, type, code, cost = () => 0 }) {
  assert.notEqual(resp.status, 500, 'never a worker exception');
  assert.match(resp.headers.get('content-type') ?? '', /^application\/json/);
  const body = await resp.json();
  assert.equal(resp.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.type, type);
  assert.equal(body.error.code, code);
  assert.equal(body.error.param, null);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  for (const name of resp.headers.keys()) {
    assert.ok(!name.startsWith('x-costrouter-') || name === 'x-costrouter-request-id', `no routing header on a failure: ${name}`);
  }
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, status);
  assert.equal(ev.error_code, code);
  assert.equal(ev.cost_usd, cost(body.error.message));
  assert.equal(ev.baseline_cost_usd, ev.cost_usd, 'a failure saves nothing');
  assert.equal(ev.input_tokens + ev.output_tokens, 0);
  return body.error;
}

/** A whole answer served by Azure after OpenAI failed; `why` must appear in the route reason. */
async function assertServedByAzure(resp, stream, why, requested = 'gpt-4o-mini') {
  assert.equal(resp.status, 200, resp.status === 200 ? '' : await resp.text());
  assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
  assert.equal(resp.headers.get('x-costrouter-model'), 'mini-deploy');
  const reason = resp.headers.get('x-costrouter-route-reason');
  assert.match(reason, new RegExp(`requested model ${requested}`));
  assert.match(reason, /; fell back to azure after: /);
  assert.match(reason, why);
  let cost;
  if (stream) {
    const { data, comments } = await readSse(resp);
    assert.equal(data.at(-1), '[DONE]');
    assert.ok(!data.some((d) => d.error), 'no error event');
    const text = data.filter((d) => d !== '[DONE]').flatMap((d) => d.choices.map((c) => c.delta.content ?? '')).join('');
    assert.match(text, /Hello from fake azure mini-deploy/);
    const trailer = JSON.parse(comments.find((c) => c.startsWith('costrouter ')).slice('costrouter '.length));
    assert.equal(trailer.provider, 'azure');
    cost = trailer.cost_usd;
  } else {
    const body = await resp.json();
    assert.match(body.choices[0].message.content, /Hello from fake azure mini-deploy/);
    cost = resp.headers.get('x-costrouter-cost-usd');
  }
  assert.ok(Number(cost) > 0);
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, 200);
  assert.equal(ev.error_code, '');
  assert.equal(ev.provider, 'azure');
  assert.equal(ev.cost_usd, Number(cost));
  return { reason, cost: Number(cost), ev };
}

// A whole answer the router stopped waiting for is charged the most it could cost (the provider
// bills what it went on writing): for slow-model, priced as gpt-4o-mini with no max_tokens asked,
// at least every output token of its 16,384 cap at $0.60 a million. A stream that sent nothing
// in its timeout had not begun, and is charged nothing.
const TIMED_OUT_CHARGE = /slow: timed out, and was charged its most possible cost, \$([\d.]+),/;
function assertTimeoutCharge(text, stream) {
  const charged = TIMED_OUT_CHARGE.exec(text);
  if (stream) {
    assert.equal(charged, null, text);
    return 0;
  }
  assert.ok(charged, text);
  const usd = Number(charged[1]);
  assert.ok(usd >= 16_384 * 0.6e-6 && usd < 0.0099, `charged $${usd}`);
  return usd;
}

/**
 * A plain request to `model` that must be answered by its first deployment: proves the scripted
 * fault was used up, and resets the deployment's failure count so a circuit breaker never opens
 * in the middle of the matrix.
 */
async function healthy(model, provider = 'openai') {
  const resp = await chat(ask(model, false));
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(resp.headers.get('x-costrouter-provider'), provider);
  assert.ok(!/fell back/.test(resp.headers.get('x-costrouter-route-reason')));
}

// ---- the matrix -------------------------------------------------------------------------------------

/** A refusal that asked for a wait holds its deployment that long: the next test waits it out. */
const waitOutHold = (fault) => new Promise((res) => setTimeout(res, fault.holdsMs ? fault.holdsMs + 100 : 0));

/**
 * Faults that happen before the answer starts: the router can still try the next deployment.
 * `error` is what the client gets when there is none; `why` is how the route reason explains it.
 */
const EARLY_FAULTS = [
  // The fake's 429 asks for `retry-after: 1`, which holds the deployment that second.
  { name: 'HTTP 429', response: { status: 429 }, why: /openai: HTTP 429 \(Rate limit reached/, error: { status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited' }, holdsMs: 1_000 },
  { name: 'HTTP 500', response: { status: 500 }, why: /openai: HTTP 500 \(The server had an error/, error: { status: 502, type: 'api_error', code: 'upstream_error' } },
  { name: 'HTTP 503', response: { status: 503 }, why: /openai: HTTP 503 \(The server is overloaded/, error: { status: 503, type: 'service_unavailable', code: 'upstream_unavailable' } },
  { name: 'connection reset', response: { fault: 'reset' }, why: /openai: connection failed/, error: { status: 502, type: 'api_error', code: 'upstream_error' } },
  // A whole answer that cannot be read was written, and is charged (below); a stream's was not.
  { name: 'invalid JSON', response: { fault: 'invalid_json' }, why: /openai.*(invalid JSON|instead of an event stream)/, error: { status: 502, type: 'api_error', code: 'upstream_error' }, charged: true },
];

/** What a failure's message says an unreadable whole answer was charged (0 where none was). */
const unreadCharge = (fault, stream) => (fault.charged && !stream ? (message) => Number(UNREAD_CHARGE.exec(message)[1]) : undefined);

for (const fault of EARLY_FAULTS) {
  for (const stream of [false, true]) {
    const mode = stream ? 'streaming' : 'non-streaming';

    test(`${fault.name}, ${mode}, with a fallback: served by azure, and the reason says why`, async () => {
      r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: fault.response });
      await assertServedByAzure(await chat(ask('gpt-4o-mini', stream)), stream, fault.why);
      await waitOutHold(fault);
      await healthy('gpt-4o-mini');
    });

    test(`${fault.name}, ${mode}, without a fallback: a clean ${fault.error.status}`, async () => {
      r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: fault.response });
      const error = await assertCleanError(await chat(ask('gpt-4o', stream)), { ...fault.error, cost: unreadCharge(fault, stream) });
      assert.match(error.message, /^Every deployment for 'gpt-4o' failed: /);
      assert.match(error.message, fault.why);
      await waitOutHold(fault);
      await healthy('gpt-4o');
    });
  }
}

// The same faults from Anthropic's and Gemini's own APIs (each the only deployment of its model):
// the client hears OpenAI's error shape and the status the SDKs act on, whatever wire format failed.
for (const [provider, model] of [['anthropic', 'claude-haiku-4-5'], ['gemini', 'gemini-2.5-flash']]) {
  for (const fault of EARLY_FAULTS) {
    for (const stream of [false, true]) {
      test(`${fault.name} from ${provider}, ${stream ? 'streaming' : 'non-streaming'}, without a fallback: a clean ${fault.error.status}`, async () => {
        r.upstream.script({ provider, model, response: fault.response });
        const resp = await chat(ask(model, stream));
        const id = resp.headers.get('x-costrouter-request-id');
        const error = await assertCleanError(resp, { ...fault.error, cost: unreadCharge(fault, stream) });
        assert.match(error.message, new RegExp(`^Every deployment for '${model}' failed: ${provider}`), error.message);
        const ev = await eventFor(id);
        assert.equal(ev.status, fault.error.status);
        await waitOutHold(fault);
        await healthy(model, provider);
      });
    }
  }
}

for (const stream of [false, true]) {
  test(`Anthropic's 529 overloaded_error, ${stream ? 'streaming' : 'non-streaming'}, without a fallback: a 503 the SDKs retry, not a 502`, async () => {
    r.upstream.script({ provider: 'anthropic', model: 'claude-overloaded', response: { status: 529 } });
    const error = await assertCleanError(await chat(ask('claude-overloaded', stream)), { status: 503, type: 'service_unavailable', code: 'upstream_unavailable' });
    assert.match(error.message, /anthropic: HTTP 529 \(Overloaded\)/);
  });
}

test('a failure through an alias names the model the request was routed to', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { status: 500, message: 'boom' } });
  const error = await assertCleanError(await chat(ask('gpt4o', false)), { status: 502, type: 'api_error', code: 'upstream_error' });
  assert.match(error.message, /^Every deployment for 'gpt4o' \(routed to gpt-4o\) failed: /);
  await healthy('gpt-4o');
});

for (const stream of [false, true]) {
  const mode = stream ? 'streaming' : 'non-streaming';

  test(`too slow (beyond the 400 ms timeout), ${mode}, with a fallback: served by azure`, async () => {
    r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'slow', delay_ms: 5000 } });
    const started = Date.now();
    const { reason, cost, ev } = await assertServedByAzure(await chat(ask('slow-fallback', stream)), stream, /slow: timed out/, 'slow-fallback');
    assert.ok(Date.now() - started < 3000, 'the router gave up on the slow deployment');
    const charged = assertTimeoutCharge(reason, stream);
    assert.ok(cost > charged, `the answer's cost ${cost} comes on top of the timed-out call's ${charged}`);
    // Filed under the deployment that timed out (its model's spend), not under azure's answer.
    const others = (ev.shape.other_calls ?? []).map((c) => [c.provider, c.model, Math.round((c.cost / 1e12) * 1e8) / 1e8]);
    assert.deepEqual(others, stream ? [] : [['slow', 'slow-model', charged]], JSON.stringify(ev.shape));
    await healthy('slow-model', 'slow');
  });

  test(`too slow (beyond the 400 ms timeout), ${mode}, without a fallback: a clean 504`, async () => {
    r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'slow', delay_ms: 5000 } });
    const started = Date.now();
    const cost = (message) => assertTimeoutCharge(message, stream);
    const error = await assertCleanError(await chat(ask('slow-model', stream)), { status: 504, type: 'api_error', code: 'upstream_timeout', cost });
    const took = Date.now() - started;
    assert.ok(took >= 350 && took < 3000, `timed out after ${took} ms`);
    assert.match(error.message, /slow: timed out/);
    await healthy('slow-model', 'slow');
  });

  test(`a body that never ends (${stream ? 'an error status' : 'a 200'}), ${mode}, with a fallback: timed out and served by azure`, async () => {
    // Whole bodies (an answer, or an error's on a stream request) are read within the timeout.
    r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'stalled_body', ...(stream ? { status: 503 } : {}) } });
    const { reason } = await assertServedByAzure(await chat(ask('slow-fallback', stream)), stream, /slow: timed out/, 'slow-fallback');
    // A 200 whose body stalls was being written; a refusal's stalled body (the stream case) was not.
    assertTimeoutCharge(reason, stream);
    await healthy('slow-model', 'slow');
  });

  test(`slow but within the timeout, ${mode}: answered by the slow deployment itself`, async () => {
    r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'slow', delay_ms: 100 } });
    const resp = await chat(ask('slow-fallback', stream));
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('x-costrouter-provider'), 'slow');
    await resp.text();
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.status, 200);
  });
}

// (The streaming case is the loop's stalled body above: a stream is never charged for a timeout.)
test('a refusal whose body never ends (HTTP 503), non-streaming, with a fallback: timed out, not charged, served by azure', async () => {
  r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'stalled_body', status: 503 } });
  const { reason } = await assertServedByAzure(await chat(ask('slow-fallback', false)), false, /slow: timed out/, 'slow-fallback');
  assert.doesNotMatch(reason, /charged/);
  await healthy('slow-model', 'slow');
});

// Truncation: a non-streaming body cut off mid-way can still be retried elsewhere, a stream that
// has started cannot (its headers and first chunks already reached the client).

// A whole answer comes once the provider has written it all, which it bills: one cut off or
// garbled is charged the most it could cost (gpt-4o-mini with no max_tokens: its 16,384-token cap
// at $0.60 a million and more), on top of the answer that serves the request, filed under openai.
const UNREAD_CHARGE = /and was charged its most possible cost, \$([\d.]+), as the provider bills an answer it wrote/;
function assertUnreadCharge({ reason, cost, ev }) {
  const charged = Number(UNREAD_CHARGE.exec(reason)?.[1]);
  assert.ok(charged >= (16_384 * 0.6) / 1e6, reason);
  assert.ok(cost > charged, `the answer's cost ${cost} comes on top of the unread answer's ${charged}`);
  const others = (ev.shape.other_calls ?? []).map((c) => [c.provider, c.model, Math.round((c.cost / 1e12) * 1e8) / 1e8]);
  assert.deepEqual(others, [['openai', 'gpt-4o-mini', charged]], JSON.stringify(ev.shape));
}

test('truncated body, non-streaming, with a fallback: served by azure, the cut answer charged', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'truncated' } });
  assertUnreadCharge(await assertServedByAzure(await chat(ask('gpt-4o-mini', false)), false, /openai: connection lost while reading the answer, and was charged/));
  await healthy('gpt-4o-mini');
});

test("a 200 whose JSON is an error (OpenRouter's once the model has begun), non-streaming: not an answer, not charged", async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { body: { error: { code: 502, message: 'Provider returned error' } } } });
  const { reason, ev } = await assertServedByAzure(await chat(ask('gpt-4o-mini', false)), false, /openai sent a response that could not be read/);
  assert.doesNotMatch(reason, /charged/);
  assert.deepEqual(ev.shape.other_calls ?? [], [], JSON.stringify(ev.shape));
  await healthy('gpt-4o-mini');
});

test('invalid JSON in a 200, non-streaming, with a fallback: the unreadable answer charged', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { fault: 'invalid_json' } });
  assertUnreadCharge(await assertServedByAzure(await chat(ask('gpt-4o-mini', false)), false, /invalid JSON.*and was charged/));
  await healthy('gpt-4o-mini');
});

test('truncated body, non-streaming, without a fallback: a clean 502', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { fault: 'truncated' } });
  const cost = (message) => Number(UNREAD_CHARGE.exec(message)[1]);
  const error = await assertCleanError(await chat(ask('gpt-4o', false)), { status: 502, type: 'api_error', code: 'upstream_error', cost });
  assert.match(error.message, /openai: connection lost while reading the answer, and was charged/);
  await healthy('gpt-4o');
});

const TRUNCATED_STREAMS = [
  { model: 'gpt-4o', provider: 'openai', upstreamModel: 'gpt-4o' },
  { model: 'gpt-4o-mini', provider: 'openai', upstreamModel: 'gpt-4o-mini', note: 'a fallback exists but the stream had started' },
  // Anthropic's first text arrives in its fourth event (message_start, content_block_start, ping).
  { model: 'claude-haiku-4-5', provider: 'anthropic', upstreamModel: 'claude-haiku-4-5', truncateAfter: 4 },
  { model: 'gemini-2.5-flash', provider: 'gemini', upstreamModel: 'gemini-2.5-flash' },
];

test('a stream whose host stops sending after its first text is ended after the deployment\'s answer time: an error event, a failure, one cost event', async () => {
  // The `slow` provider's answer_timeout_ms is 400: its stream may be silent that long.
  r.upstream.script({ provider: 'openai', model: 'slow-model', response: { fault: 'stalled_stream', truncate_after: 2 } });
  const started = Date.now();
  const resp = await chat({ ...ask('slow-model', true), stream_options: { include_usage: true } });
  assert.equal(resp.status, 200, await resp.clone().text());
  const { data, comments } = await readSse(resp);
  assert.ok(Date.now() - started < 5000, 'ended by the router, not by the test\'s patience');
  assert.ok(data.some((d) => d.choices?.[0]?.delta?.content), 'the first text reached the client');
  assert.ok(!data.includes('[DONE]'));
  const last = data.at(-1);
  assert.equal(last.error?.code, 'upstream_stream_error', JSON.stringify(last));
  assert.match(last.error.message, /sent nothing for 0\.4 s/);
  assert.equal(comments.filter((c) => c.startsWith('costrouter ')).length, 1);
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, 502);
  assert.equal(ev.error_code, 'upstream_stream_error');
  assert.ok(ev.output_tokens > 0, 'billed for the text that came');
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  const health = list.data.find((d) => d.deployment === 'slow/slow-model').health;
  assert.ok(health.consecutive_failures >= 1, JSON.stringify(health));
});

// A stream cut between events, cut in the middle of one, or carrying an event whose JSON is broken.
const STREAM_FAULTS = [
  { fault: 'truncated', what: 'truncated stream', error: /ended the stream before it was complete/ },
  { fault: 'cut_mid_event', what: 'stream cut in the middle of an event', error: /ended the stream before it was complete/ },
  { fault: 'bad_event', what: 'stream with an event of invalid JSON', error: /invalid JSON in stream/ },
];
for (const t of TRUNCATED_STREAMS) for (const f of STREAM_FAULTS) {
  if (t.note && f.fault !== 'truncated') continue;
  test(`${f.what} after 200 (${t.provider} ${t.model}${t.note ? `; ${t.note}` : ''}): error event and trailer, no [DONE]`, async () => {
    r.upstream.script({ provider: t.provider, model: t.upstreamModel, response: { fault: f.fault, ...(t.truncateAfter ? { truncate_after: t.truncateAfter } : {}) } });
    const resp = await chat({ ...ask(t.model, true), stream_options: { include_usage: true } });
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('x-costrouter-provider'), t.provider);
    const { data, comments, text } = await readSse(resp);
    assert.ok(!data.includes('[DONE]'), 'a cut-off stream must not look complete');
    const last = data.at(-1);
    assert.deepEqual(Object.keys(last), ['error']);
    assert.deepEqual(Object.keys(last.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(last.error.code, 'upstream_stream_error');
    assert.equal(last.error.type, 'api_error');
    assert.ok(!data.some((d) => d.usage), 'no usage chunk after an error');
    assert.ok(data.length >= 2, 'the first chunks reached the client before the cut');
    const trailers = comments.filter((c) => c.startsWith('costrouter '));
    assert.equal(trailers.length, 1);
    assert.ok(text.trimEnd().endsWith(`: ${trailers[0]}`), 'the trailer is the last thing sent');
    const trailer = JSON.parse(trailers[0].slice('costrouter '.length));
    assert.equal(trailer.request_id, resp.headers.get('x-costrouter-request-id'));
    assert.match(trailer.error, f.error);
    assert.equal(typeof trailer.cost_usd, 'string');
    // What was generated before the cut was billed by the provider: the event records it, and
    // marks the request as failed.
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.status, 502);
    assert.equal(ev.error_code, 'upstream_stream_error');
    assert.equal(ev.provider, t.provider);
    assert.equal(ev.cost_usd, Number(trailer.cost_usd));
    await healthy(t.model, t.provider);
  });
}

// ---- the same faults through the Responses API ---------------------------------------------------

async function responses(body) {
  const resp = await fetch(`${r.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.acme}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  sent.push(resp.headers.get('x-costrouter-request-id'));
  return resp;
}

for (const f of STREAM_FAULTS) {
  test(`${f.what} after 200, through /v1/responses: an error event and response.failed keeping what came, one cost event`, async () => {
    r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { fault: f.fault } });
    const resp = await responses({ model: 'gpt-4o', input: 'Say hello', stream: true });
    assert.equal(resp.status, 200);
    const { data, comments, text } = await readSse(resp);
    const types = data.map((d) => d.type);
    assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
    assert.deepEqual(types.slice(-2), ['error', 'response.failed'], text);
    assert.ok(!types.includes('response.completed'));
    assert.ok(data.every((d, i) => d.sequence_number === i), 'sequence numbers count from 0');
    assert.match(data.at(-2).message, f.error);
    const failed = data.at(-1).response;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'server_error');
    assert.ok(types.includes('response.output_text.delta'), 'the first text reached the client before the cut');
    assert.match(failed.output[0]?.content?.[0]?.text ?? '', /\S/, 'what came is in the failed response');
    assert.equal(comments.filter((c) => c.startsWith('costrouter ')).length, 1, 'the cost trailer passes');
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.status, 502);
    assert.equal(ev.error_code, 'upstream_stream_error');
    await healthy('gpt-4o');
  });
}

for (const stream of [false, true]) {
  test(`HTTP 500 through /v1/responses, ${stream ? 'streaming' : 'non-streaming'}: served by azure with a fallback, a clean 502 without`, async () => {
    r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { status: 500 } });
    const served = await responses({ model: 'gpt-4o-mini', input: 'Say hello', stream });
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('x-costrouter-provider'), 'azure');
    let answer;
    if (stream) {
      const { data } = await readSse(served);
      assert.equal(data.at(-1).type, 'response.completed');
      answer = data.at(-1).response;
    } else {
      answer = await served.json();
    }
    assert.equal(answer.status, 'completed');
    assert.match(answer.output[0].content[0].text, /Hello from fake azure mini-deploy/);
    assert.ok(answer.usage.output_tokens > 0);
    const ev = await eventFor(served.headers.get('x-costrouter-request-id'));
    assert.equal(ev.provider, 'azure');
    assert.equal(ev.status, 200);
    await healthy('gpt-4o-mini');
    r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { status: 500 } });
    await assertCleanError(await responses({ model: 'gpt-4o', input: 'Say hello', stream }), { status: 502, type: 'api_error', code: 'upstream_error' });
    await healthy('gpt-4o');
  });
}

// ---- a provider key the upstream refuses ----------------------------------------------------------

/** Everything the client received, headers included. */
async function everything(resp) {
  return `${resp.status}\n${[...resp.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${await resp.text()}`;
}

function assertNoKey(text) {
  const masked = `${WRONG_KEY.slice(0, 3)}${'*'.repeat(WRONG_KEY.length - 7)}${WRONG_KEY.slice(-4)}`; // how OpenAI echoes it
  for (const secret of [WRONG_KEY, masked, 'wrong-key-that', 'must-never-leak', 'test-openai-key', 'test-anthropic-key']) {
    assert.ok(!text.includes(secret), `"${secret}" leaked:\n${text}`);
  }
}

for (const stream of [false, true]) {
  test(`refused provider key, ${stream ? 'streaming' : 'non-streaming'}: falls back to anthropic, key never shown`, async () => {
    const resp = await chat(ask('badkey-model', stream));
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('x-costrouter-provider'), 'anthropic');
    assert.match(resp.headers.get('x-costrouter-route-reason'), /fell back to anthropic after: badkey: HTTP 401 \(Incorrect API key provided: \[redacted\]/);
    const all = await everything(resp);
    assertNoKey(all);
    // The upstream did receive the wrong key and echoed it back, masked, in its error.
    const refused = r.upstream.requests().find((q) => q.headers.authorization === `Bearer ${WRONG_KEY}`);
    assert.ok(refused, 'the badkey deployment was tried');
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.status, 200);
    assert.equal(ev.shape.retries, 1, 'one provider call failed before the answer');
  });
}

test('refused provider key without a fallback: a clean 502 that does not show the key', async () => {
  const resp = await chat(ask('badkey-only', false));
  const copy = resp.clone();
  const error = await assertCleanError(resp, { status: 502, type: 'api_error', code: 'upstream_error' });
  assert.match(error.message, /badkey: HTTP 401/);
  assertNoKey(await everything(copy));
  // Filed under the deployment that failed and the route that chose it, as an answer would be.
  const ev = await eventFor(copy.headers.get('x-costrouter-request-id'));
  assert.deepEqual([ev.provider, ev.model, ev.route, ev.status], ['badkey', 'gpt-4o-mini', 'direct', 502]);
});

test('a 400 that is the deployment\'s own fault (an invalid Gemini key) falls back; a prompt too long everywhere is the client\'s 400', async () => {
  const details = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }];
  // Told by the message, and by the error's reason alone (a message that says nothing of keys).
  for (const [badKey, said] of [[{ status: 400, message: 'API key not valid. Please pass a valid API key.', details }, /gemini: HTTP 400 \(API key not valid/], [{ status: 400, message: 'Request contains an invalid argument.', details }, /gemini: HTTP 400 \(Request contains an invalid argument/]]) {
    for (const stream of [false, true]) {
      r.upstream.script({ provider: 'gemini', model: 'gemini-keyless', response: badKey });
      const resp = await chat(ask('gemini-then-azure', stream));
      assert.equal(resp.status, 200, await resp.clone().text());
      assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
      assert.match(resp.headers.get('x-costrouter-route-reason'), said);
      await resp.text();
    }
  }
  // Too long for Gemini's window, and for Azure's: the client is told, with the provider's words
  // and its status, not a 502 (nothing would serve it on a retry).
  r.upstream.script({ provider: 'gemini', model: 'gemini-keyless', response: { status: 400, message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).' } });
  r.upstream.script({ provider: 'azure', model: 'mini-deploy', response: { status: 400, code: 'context_length_exceeded', message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 1200000 tokens." } });
  const azureCalls = () => r.upstream.requests().filter((q) => q.path.startsWith('/azure/')).length;
  const before = azureCalls();
  const tooLong = await chat(ask('gemini-then-azure', false));
  // OpenAI's own code and param, which the SDKs put on BadRequestError and clients trim history on.
  assert.equal(tooLong.status, 400);
  const { error } = await tooLong.json();
  assert.equal(error.type, 'invalid_request_error');
  assert.equal(error.code, 'context_length_exceeded');
  assert.equal(error.param, 'messages');
  assert.match(error.message, /gemini rejected the request: The input token count/);
  assert.equal(azureCalls(), before + 1, 'the next deployment was tried');
});

test('when every deployment is rate limited, the client is told the soonest a provider may take it', async () => {
  // Waits in seconds and in milliseconds (Azure's retry-after-ms, beside the fake's own
  // `retry-after: 1`), the shorter first or second. Only when every refusal asks for more than the
  // SDKs honour (they would ignore it and retry at once) does `x-should-retry: false` come; 300 s
  // is told as 120.
  const cases = [
    [{ 'retry-after': '45' }, { 'retry-after-ms': '5000' }, '5', null],
    [{ 'retry-after': '7' }, { 'retry-after-ms': '30000' }, '7', null],
    [{ 'retry-after': '5' }, { 'retry-after': '90' }, '5', null],
    [{ 'retry-after': '300' }, { 'retry-after-ms': '90000' }, '90', 'false'],
    [{ 'retry-after': '300' }, { 'retry-after': '600' }, '120', 'false'],
  ];
  for (const [i, [openaiWait, azureWait, told, shouldRetry]] of cases.entries()) {
    r.upstream.script({ provider: 'openai', model: `limited-a-${i}`, response: { status: 429, headers: openaiWait } });
    r.upstream.script({ provider: 'azure', model: `limited-deploy-${i}`, response: { status: 429, headers: azureWait } });
    const resp = await chat(ask(`limited-twice-${i}`, false));
    assert.equal(resp.status, 429);
    assert.equal(resp.headers.get('retry-after'), told, 'not a fixed 1 s, which the SDKs would retry into the same limit');
    assert.equal(resp.headers.get('x-should-retry'), shouldRetry, `told ${told} s`);
    await resp.text();
  }
  // Each provider asked for a wait, so its deployment is held that long (at most a minute): a
  // request meanwhile calls neither, and hears the same 429 at once, with the time left.
  const sent = r.upstream.requests().length;
  const held = await chat(ask('limited-twice-0', false));
  const heldBody = await held.json();
  assert.equal(held.status, 429, JSON.stringify(heldBody));
  assert.deepEqual([heldBody.error.type, heldBody.error.code], ['rate_limit_error', 'upstream_rate_limited']);
  assert.match(heldBody.error.message, /is rate limited by its provider for now: openai: held \d+ s more, as it asked with its HTTP 429; azure: held [1-5] s more/);
  assert.ok(Number(held.headers.get('retry-after')) >= 1 && Number(held.headers.get('retry-after')) <= 5, held.headers.get('retry-after'));
  assert.equal(r.upstream.requests().length, sent, 'no call made');
  const ev = await eventFor(held.headers.get('x-costrouter-request-id'));
  assert.deepEqual([ev.status, ev.error_code], [429, 'upstream_rate_limited']);
  // A long wait beside a deployment that failed otherwise (a 500 may answer a retry at once):
  // the wait is told, and the SDKs may still retry.
  r.upstream.script({ provider: 'openai', model: 'limited-model', response: { status: 429, headers: { 'retry-after': '90' } } });
  r.upstream.script({ provider: 'anthropic', model: 'claude-limited', response: { status: 500 } });
  const mixed = await chat(ask('limited-then-flaky', false));
  assert.equal(mixed.status, 429, await mixed.clone().text());
  assert.equal(mixed.headers.get('retry-after'), '90');
  assert.equal(mixed.headers.get('x-should-retry'), null);
  await mixed.text();
});

test('a model none of whose deployments has a key is refused as not worth retrying', async () => {
  const resp = await chat(ask('nokey-model', false));
  const body = await resp.json();
  assert.equal(resp.status, 503, JSON.stringify(body));
  assert.equal(body.error.code, 'no_available_route');
  assert.match(body.error.message, /no API key is configured for nokey/);
  assert.equal(resp.headers.get('x-should-retry'), 'false', 'the SDKs would otherwise retry a configuration twice');
});

test('a stream that fails before its first token is a failed call: the next deployment serves, or a clean 502', async () => {
  // Anthropic's overloaded_error arrives as an event after the 200; here the stream is cut after
  // message_start, before any text.
  r.upstream.script({ provider: 'anthropic', model: 'claude-early', response: { fault: 'truncated', truncate_after: 1 } });
  const served = await chat({ ...ask('early-fail-stream', true), max_tokens: 16 });
  assert.equal(served.status, 200);
  assert.equal(served.headers.get('x-costrouter-provider'), 'azure');
  assert.match(served.headers.get('x-costrouter-route-reason'), /anthropic: the stream failed before its first token/);
  const { data } = await readSse(served);
  assert.equal(data.at(-1), '[DONE]', 'a whole answer from the fallback, nothing of the failed stream');
  assert.ok(!data.some((d) => d.error));
  // Without a fallback: a 502 (which the SDKs retry), whose event is charged the prompt Anthropic
  // reported in message_start before the cut.
  r.upstream.script({ provider: 'anthropic', model: 'claude-haiku-4-5', response: { fault: 'truncated', truncate_after: 2 } });
  const alone = await chat({ ...ask('claude-haiku-4-5', true), max_tokens: 16 });
  const body = await alone.json();
  assert.equal(alone.status, 502, JSON.stringify(body));
  assert.deepEqual([body.error.type, body.error.code], ['api_error', 'upstream_error']);
  assert.match(body.error.message, /anthropic: the stream failed before its first token \(.+; its prompt, billed, \$0\.0000\d+\)/);
  const ev = await eventFor(alone.headers.get('x-costrouter-request-id'));
  assert.equal(ev.status, 502);
  assert.ok(ev.cost_usd > 0 && ev.output_tokens === 0, JSON.stringify(ev));
});

test('streams a host cuts off after its 200 count as failures: five in a row open the breaker', async () => {
  r.upstream.script({ provider: 'anthropic', model: 'claude-flaky', times: 5, response: { fault: 'truncated', truncate_after: 4 } });
  for (let i = 0; i < 5; i++) {
    const resp = await chat({ ...ask('flaky-stream', true), max_tokens: 16 });
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('x-costrouter-provider'), 'anthropic', 'a stream that has started is not retried elsewhere');
    const { data } = await readSse(resp);
    assert.ok(!data.includes('[DONE]'), 'cut off');
  }
  const next = await chat({ ...ask('flaky-stream', true), max_tokens: 16 });
  assert.equal(next.status, 200);
  assert.equal(next.headers.get('x-costrouter-provider'), 'azure', 'the breaker is open: the next deployment serves');
  assert.match(next.headers.get('x-costrouter-route-reason'), /anthropic: circuit open/);
  await next.arrayBuffer();
  const skipped = await eventFor(next.headers.get('x-costrouter-request-id'));
  assert.equal(skipped.shape.retries, 0, 'a deployment passed over behind its breaker was never called: not a retry');
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  assert.equal(list.data.find((d) => d.deployment === 'anthropic/claude-flaky').health.breaker.state, 'open');
});

test('a Gemini answer the model failed (MALFORMED_FUNCTION_CALL) falls back, charges its prompt, and leaves the breaker closed', async () => {
  const health = async () => (await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json())
    .data.find((d) => d.deployment === 'gemini/gemini-keyless').health;
  const before = await health();
  // More failures than the breaker's threshold (5): were they the deployment's, it would open.
  for (let i = 0; i < 6; i++) {
    const stream = i % 2 === 1;
    r.upstream.script({ provider: 'gemini', model: 'gemini-keyless', response: { text: '', finish_reason: 'MALFORMED_FUNCTION_CALL' } });
    const resp = await chat(ask('gemini-then-azure', stream));
    assert.equal(resp.status, 200, await resp.clone().text());
    assert.equal(resp.headers.get('x-costrouter-provider'), 'azure', `attempt ${i}`);
    assert.match(resp.headers.get('x-costrouter-route-reason'), /gemini: .*did not finish an answer/);
    await resp.text();
    const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
    assert.equal(ev.shape.retries, 1, 'the failed call is a retry');
    // The Gemini prompt it billed is charged to the request, on top of Azure's answer.
    const billed = Number(/its prompt, billed, \$([0-9.e-]+)/.exec(resp.headers.get('x-costrouter-route-reason'))?.[1]);
    assert.ok(billed > 0, resp.headers.get('x-costrouter-route-reason'));
    assert.ok(ev.cost_usd > billed, `${ev.cost_usd} > ${billed}`);
  }
  const after = await health();
  assert.equal(after.breaker.state, 'closed', JSON.stringify(after));
  assert.equal(after.consecutive_failures, before.consecutive_failures, 'no failure counted');
});

test('a 429 for a request too large for the account\'s per-minute limit falls back without counting against the breaker', async () => {
  const message = 'Request too large for gpt-4o-mini in organization org-fake on tokens per min (TPM): Limit 30000, Requested 45000. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.';
  r.upstream.script({ provider: 'openai', model: 'too-large-a', times: 6, response: { status: 429, message, type: 'tokens' } });
  for (let i = 0; i < 6; i++) {
    const resp = await chat(ask('too-large-first'));
    assert.equal(resp.status, 200, await resp.clone().text());
    assert.equal(resp.headers.get('x-costrouter-provider'), 'azure');
    assert.match(resp.headers.get('x-costrouter-route-reason'), /openai: HTTP 429 \(Request too large/, 'tried first every time: its breaker stayed closed');
    await eventFor(resp.headers.get('x-costrouter-request-id'));
  }
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
  const health = list.data.find((d) => d.deployment === 'openai/too-large-a').health;
  assert.deepEqual([health.breaker.state, health.consecutive_failures], ['closed', 0]);
  // An ordinary rate limit still counts.
  r.upstream.script({ provider: 'openai', model: 'too-large-a', response: { status: 429 } });
  await (await chat(ask('too-large-first'))).arrayBuffer();
  const after = (await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json()).data.find((d) => d.deployment === 'openai/too-large-a').health;
  assert.equal(after.consecutive_failures, 1);
  // Where every deployment says so, no wait admits the request: the client is told not to retry.
  r.upstream.script({ provider: 'openai', model: 'too-large-b', response: { status: 429, message, type: 'tokens' } });
  const refused = await chat(ask('too-large-only'));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get('x-should-retry'), 'false');
  await refused.arrayBuffer();
});

test('a reasoning model\'s stream cut off before its usage is billed the reasoning its time allowed, not only its text', async () => {
  // o4-mini reasons unseen and reports usage in the last chunk; this stream sends its opening
  // chunk, shows its first text 1.5 s later (the model thought meanwhile: 100 tokens a second)
  // and breaks.
  r.upstream.script({ provider: 'openai', model: 'o4-mini', response: { fault: 'truncated', truncate_after: 2, event_delay_ms: 1500 } });
  const started = Date.now();
  const resp = await chat({ ...ask('thinker', true), stream_options: { include_usage: true } });
  assert.equal(resp.status, 200);
  const { data } = await readSse(resp);
  const elapsed = Date.now() - started;
  const shown = data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta?.content ?? '').join('');
  const ev = await eventFor(resp.headers.get('x-costrouter-request-id'));
  assert.ok(ev.reasoning_tokens >= 140 && ev.reasoning_tokens <= Math.ceil(elapsed / 10), `${ev.reasoning_tokens} reasoning tokens for ${elapsed} ms`);
  assert.ok(shown.length > 0, 'some text was shown');
  const visible = ev.output_tokens - ev.reasoning_tokens;
  assert.ok(visible >= 1 && visible <= Math.ceil(shown.length / 4) + 1, `the thinking, and the text shown on top: ${visible} for ${shown.length} characters`);
});

test('no cost event carries a provider key', async () => {
  await r.eventsSettled(sent.length);
  assertNoKey(JSON.stringify(r.events));
});

// ---- one event per request ---------------------------------------------------------------------------

test('every request produced exactly one cost event', async () => {
  const events = await r.eventsSettled(sent.length);
  assert.ok(sent.length > 40, `the matrix sent ${sent.length} requests`);
  assert.equal(new Set(sent).size, sent.length, 'request ids are unique');
  assert.equal(events.length, sent.length, 'one event per request, no more');
  assert.deepEqual(events.map((e) => e.request_id).sort(), [...sent].sort());
  for (const e of events) {
    assert.equal(e.tenant, 'acme');
    if (e.status === 200) assert.equal(e.error_code, '');
    else assert.notEqual(e.error_code, '', `event ${e.request_id} failed (${e.status}) without an error code`);
  }
});
