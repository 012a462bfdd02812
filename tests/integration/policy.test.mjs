// Policy routing through the real worker: fixed answers, blocks, EU residency (open and fail
// closed), hostname aliases, sticky A/B splits, and cheapest-capable with savings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, testCatalog, KEYS } from './harness.mjs';

// Kolkata's weekday now, and the days that are neither it nor next to it (a rule on those days
// cannot match while the test runs, even across a local midnight).
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const kolkata = (date) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(date);
const kolkataNow = (date = new Date()) => {
  const part = (type) => kolkata(date).find((p) => p.type === type).value;
  return `${part('weekday').toLowerCase()} ${part('hour')}:${part('minute')}`;
};
const today = DAYS.indexOf(kolkataNow().slice(0, 3));
const FAR_DAYS = DAYS.filter((_, i) => ![today, (today + 1) % 7, (today + 6) % 7].includes(i));

const POLICY = `
version = 1
name = "policyco"

[[hosts]]
host = "gpt4o.router.test"
model = "gpt4o"

[[rules]]
name = "faq"
when = { feature = ["faq"] }
respond = "We are open 9-5."

[[rules]]
name = "office-hours"
when = { feature = ["office"], local_time = { zone = "Asia/Kolkata", hours = [0, 24] } }
respond = "Open."

[[rules]]
name = "far-days"
when = { feature = ["far-days"], local_time = { zone = "Asia/Kolkata", days = ${JSON.stringify(FAR_DAYS)} } }
respond = "Not today."

[[rules]]
name = "payments"
when = { feature = ["payments"] }
block = "Payments need a human."

[[rules]]
name = "eu-strict"
when = { eu = true, model = ["gpt-4o"] }
route = { strategy = "fallback", candidates = ["gpt-4o"], regions = ["eu"] }

[[rules]]
name = "eu"
when = { eu = true }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"], regions = ["eu"] }

[[rules]]
name = "ab"
when = { feature = ["search"] }
route = { strategy = "split", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], weights = [50, 50] }

[[rules]]
name = "cheap"
when = { feature = ["cheap"] }
route = { strategy = "cheapest", candidates = ["gpt-4o", "claude-haiku-4-5", "gpt-4o-mini"] }

[[rules]]
name = "cascade"
when = { feature = ["cascade"] }
route = { strategy = "cascade", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], buffer_streams = true }

[[rules]]
name = "cascade-live"
when = { feature = ["cascade-live"] }
route = { strategy = "cascade", candidates = ["gpt-4o-mini", "claude-haiku-4-5"] }

[[rules]]
name = "translated"
when = { feature = ["translated"] }
route = { strategy = "fallback", candidates = ["claude-haiku-4-5", "gemini-2.5-flash"] }

[[rules]]
name = "reasoning"
when = { feature = ["reasoning"] }
route = { strategy = "fallback", candidates = ["thinker", "gpt-4o-mini"] }

[[rules]]
name = "default"
route = { strategy = "requested" }
`;

let r;
before(async () => {
  r = await startRouter({ policies: { policyco: POLICY } });
  // A reasoning model (o4-mini's pricing row says so) for the rule that routes to one, on the
  // `openai` preset, whose reasoning-model rules drop what o4-mini refuses.
  const catalog = testCatalog(r.upstream.url);
  catalog.providers['openai-preset'] = { preset: 'openai', base_url: `${r.upstream.url}/openai/v1`, key_secret: 'OPENAI_API_KEY' };
  catalog.models.thinker = { deployments: [{ provider: 'openai-preset', upstream_model: 'o4-mini' }], price_key: 'o4-mini' };
  // A reasoning model whose default effort is "none" (its seeded row says so).
  catalog.models['gpt-5.4-mini'] = { deployments: [{ provider: 'openai-preset', upstream_model: 'gpt-5.4-mini' }] };
  // A model whose seeded row bills half off-peak (DeepSeek's windows), served by the fake OpenAI.
  catalog.models['deepseek-v4-flash'] = { deployments: [{ provider: 'openai-preset', upstream_model: 'deepseek-v4-flash' }] };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const ask = (extra = {}) => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello there' }], ...extra });
const as = (feature, { headers = {}, ...more } = {}) => ({ ...more, key: KEYS.policyco, headers: { 'x-costrouter-feature': feature, ...headers } });

test('a respond rule answers without a model, streaming and not', async () => {
  const before = r.upstream.requests().length;
  const resp = await r.chat(ask(), as('faq'));
  const body = await resp.json();
  assert.equal(resp.status, 200);
  assert.equal(body.choices[0].message.content, 'We are open 9-5.');
  assert.equal(resp.headers.get('x-costrouter-cost-usd'), '0');
  assert.equal(resp.headers.get('x-costrouter-route'), 'respond');
  assert.equal(resp.headers.get('x-costrouter-cache'), 'none');
  // What the rule matched on, as a routed request's reason says it.
  assert.equal(resp.headers.get('x-costrouter-route-reason'), "rule 'faq' (feature faq) answers without a model");
  const streamed = await r.chat(ask({ stream: true }), as('faq'));
  // A replayed answer's cost is known before it is sent: a number, not in-stream-trailer.
  assert.equal(streamed.headers.get('x-costrouter-cost-usd'), '0');
  assert.equal(streamed.headers.get('x-costrouter-route'), 'respond');
  const s = await readSse(streamed);
  assert.equal(s.data.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), 'We are open 9-5.');
  assert.equal(s.data.at(-1), '[DONE]');
  // Through the Responses API: the answer replayed as its event stream.
  const viaResponses = await r.chat({ model: 'gpt-4o', input: 'Hello there', stream: true }, { ...as('faq'), path: '/v1/responses' });
  assert.equal(viaResponses.status, 200);
  assert.equal(viaResponses.headers.get('x-costrouter-route'), 'respond');
  const events = (await readSse(viaResponses)).data;
  assert.equal(events.at(-1).type, 'response.completed');
  assert.equal(events.at(-1).response.output[0].content[0].text, 'We are open 9-5.');
  // And through Anthropic's Messages API, whole and streamed.
  const viaMessages = await r.chat({ model: 'gpt-4o', max_tokens: 50, messages: [{ role: 'user', content: 'Hello there' }] }, { ...as('faq'), path: '/v1/messages' });
  assert.equal(viaMessages.headers.get('x-costrouter-route'), 'respond');
  const message = await viaMessages.json();
  assert.deepEqual([message.type, message.content, message.stop_reason], ['message', [{ type: 'text', text: 'We are open 9-5.' }], 'end_turn']);
  const streamedMessage = await r.chat({ model: 'gpt-4o', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'Hello there' }] }, { ...as('faq'), path: '/v1/messages' });
  const anthropicEvents = (await readSse(streamedMessage)).data;
  assert.deepEqual([anthropicEvents[0].type, anthropicEvents.at(-1).type], ['message_start', 'message_stop']);
  assert.equal(anthropicEvents.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), 'We are open 9-5.');
  // n choices asked, n given, as a model's answer would have them.
  const three = await (await r.chat(ask({ n: 3 }), as('faq'))).json();
  assert.deepEqual(three.choices.map((c) => [c.index, c.message.content]), [0, 1, 2].map((i) => [i, 'We are open 9-5.']));
  assert.equal(r.upstream.requests().length, before, 'no upstream call');
});

test("a local_time rule is judged at the request's time in its zone", async () => {
  const before = kolkataNow();
  const resp = await r.chat(ask(), as('office'));
  const after = kolkataNow();
  assert.equal(resp.status, 200);
  const reason = resp.headers.get('x-costrouter-route-reason');
  const said = reason.match(/^rule 'office-hours' \(feature office, (\w{3} \d\d:\d\d) in Asia\/Kolkata\) answers without a model$/);
  assert.ok(said && [before, after].includes(said[1]), `${reason} (Kolkata was ${before} to ${after})`);
  // Days that are not today there: the rule is passed, the default serves.
  const passed = await r.chat(ask(), as('far-days'));
  assert.equal(passed.status, 200);
  assert.notEqual(passed.headers.get('x-costrouter-route'), 'respond', passed.headers.get('x-costrouter-route-reason'));
});

test('a block rule refuses with 403 and says which rule', async () => {
  const resp = await r.chat(ask(), as('payments'));
  const body = await resp.json();
  assert.equal(resp.status, 403);
  assert.equal(body.error.code, 'blocked_by_policy');
  assert.equal(body.error.message, "Blocked by policy rule 'payments' (feature payments): Payments need a human.");
  // Its cost event names the rule, as a routed request's does.
  const id = resp.headers.get('x-costrouter-request-id');
  assert.equal((await r.eventFor(id)).shape.rule, 'payments');
});

test('EU traffic is served only by EU deployments, and fails closed when there are none', async () => {
  const eu = { country: 'DE', continent: 'EU', isEUCountry: '1' };
  const ok = await r.chat(ask({ model: 'gpt-4o-mini' }), { key: KEYS.policyco, cf: eu });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal(ok.headers.get('x-costrouter-provider'), 'azure');
  assert.equal(ok.headers.get('x-costrouter-route'), 'fallback');
  assert.match(ok.headers.get('x-costrouter-route-reason'), /rule 'eu' \(eu true\).*regions eu/);
  const closed = await r.chat(ask({ model: 'gpt-4o' }), { key: KEYS.policyco, cf: eu });
  const body = await closed.json();
  assert.equal(closed.status, 503);
  assert.equal(body.error.code, 'no_available_route');
  assert.match(body.error.message, /data residency requires eu/);
  assert.equal(closed.headers.get('x-should-retry'), 'false', 'the regions will not change within the SDKs\' retries');
  const us = await r.chat(ask({ model: 'gpt-4o' }), { key: KEYS.policyco, cf: { country: 'US', continent: 'NA' } });
  assert.equal(us.status, 200);
  assert.equal(us.headers.get('x-costrouter-provider'), 'openai');
  // No location (another Worker calling through a service binding sends no request.cf): the
  // EU rule takes it, failing closed rather than sending it anywhere.
  const unknown = await r.chat(ask({ model: 'gpt-4o-mini' }), { key: KEYS.policyco, cf: { country: '' } });
  assert.equal(unknown.status, 200, await unknown.clone().text());
  assert.equal(unknown.headers.get('x-costrouter-provider'), 'azure');
  assert.match(unknown.headers.get('x-costrouter-route-reason'), /rule 'eu' \(location unknown \(no request.cf country\), taken as EU\)/);
  // Cloudflare's XX (no location data) and T1 (a Tor exit) say no more.
  for (const country of ['XX', 'T1']) {
    const resp = await r.chat(ask({ model: 'gpt-4o-mini' }), { key: KEYS.policyco, cf: { country, continent: 'T1', isEUCountry: undefined } });
    assert.equal(resp.headers.get('x-costrouter-provider'), 'azure', country);
    assert.match(resp.headers.get('x-costrouter-route-reason'), new RegExp(`rule 'eu' \\(location unknown \\(request.cf country ${country}\\), taken as EU\\)`));
    await resp.text();
  }
});

test('a hostname alias picks the model whatever the body says', async () => {
  const resp = await r.chat(ask({ model: 'claude-haiku-4-5' }), { key: KEYS.policyco, host: 'gpt4o.router.test' });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-model'), 'gpt-4o');
  assert.match(resp.headers.get('x-costrouter-route-reason'), /^host gpt4o\.router\.test names 'gpt4o'; .*alias 'gpt4o' serves gpt-4o/);
  assert.equal(resp.headers.get('x-costrouter-route'), 'alias');
});

test('an A/B split is sticky per user and uses both arms across users', async () => {
  const pick = async (user) => {
    const resp = await r.chat(ask(), as('search', { headers: { 'x-costrouter-user': user } }));
    assert.equal(resp.headers.get('x-costrouter-route'), 'split');
    return resp.headers.get('x-costrouter-model');
  };
  const first = await pick('user-1');
  for (let i = 0; i < 5; i++) assert.equal(await pick('user-1'), first);
  const arms = new Set();
  for (let i = 0; i < 30; i++) arms.add(await pick(`user-${i}`));
  assert.deepEqual([...arms].sort(), ['claude-haiku-4-5', 'gpt-4o-mini']);
  // Without a user, requests are drawn one by one: a tenant's traffic reaches both arms.
  const anonymous = new Set();
  for (let i = 0; i < 30; i++) anonymous.add((await r.chat(ask(), as('search'))).headers.get('x-costrouter-model'));
  assert.deepEqual([...anonymous].sort(), ['claude-haiku-4-5', 'gpt-4o-mini']);
});

test('cheapest capable routes gpt-4o traffic to the cheapest candidate and reports the savings', async () => {
  const resp = await r.chat(ask(), as('cheap'));
  assert.equal(resp.status, 200);
  assert.equal(resp.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  assert.equal(resp.headers.get('x-costrouter-route'), 'cheapest');
  const cost = Number(resp.headers.get('x-costrouter-cost-usd'));
  const baseline = Number(resp.headers.get('x-costrouter-baseline-cost-usd'));
  assert.ok(cost > 0 && baseline > cost, `cost ${cost} baseline ${baseline}`);
  // gpt-4o costs 2.5/10 per million against gpt-4o-mini's 0.15/0.6: the same usage is 16.67x dearer.
  assert.ok(Math.abs(baseline / cost - 2.5 / 0.15) < 0.01, `ratio ${baseline / cost}`);
});

test('through /v1/messages, max_tokens is a ceiling: the cheapest candidate serves a Claude Code-sized cap, sent its own most', async () => {
  const upstreamChats = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$/.test(q.path));
  // Claude Code asks for 32,000 output tokens on every call; gpt-4o-mini writes 16,384 at most.
  const viaMessages = await r.chat({ model: 'gpt-4o', max_tokens: 32000, messages: [{ role: 'user', content: 'Hello there' }] }, { ...as('cheap'), path: '/v1/messages' });
  assert.equal(viaMessages.status, 200, await viaMessages.clone().text());
  assert.equal(viaMessages.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  const sent = upstreamChats().at(-1).body;
  assert.equal(sent.max_completion_tokens ?? sent.max_tokens, 16384);
  // The same cap through chat is room the client needs: the models that cannot write it are
  // passed over, and Claude, which can, serves.
  const viaChat = await r.chat(ask({ max_tokens: 32000 }), as('cheap'));
  assert.equal(viaChat.status, 200, await viaChat.clone().text());
  assert.equal(viaChat.headers.get('x-costrouter-model'), 'claude-haiku-4-5');
  assert.equal(upstreamChats().at(-1).body.max_tokens, 32000);
});

test('a model priced without supports_reasoning is sent no reasoning params, routed or named', async () => {
  const upstreamBody = () => r.upstream.requests().filter((q) => q.path.endsWith('/chat/completions')).at(-1).body;
  // Routed by the rule to gpt-4o-mini, which answers 400 to reasoning_effort and verbosity.
  const routed = await r.chat(ask({ reasoning_effort: 'high', verbosity: 'low' }), as('cheap'));
  assert.equal(routed.status, 200, await routed.clone().text());
  assert.equal(routed.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  assert.equal(upstreamBody().reasoning_effort, undefined);
  assert.equal(upstreamBody().verbosity, undefined);
  await routed.arrayBuffer();
  // Named by the client: the model it named answers (no refusal, no fallback to another model).
  const named = await r.chat({ model: 'gpt-4o', reasoning_effort: 'high', messages: [{ role: 'user', content: 'Hello there' }] }, { key: KEYS.policyco });
  assert.equal(named.status, 200, await named.clone().text());
  assert.equal(named.headers.get('x-costrouter-model'), 'gpt-4o');
  assert.equal(upstreamBody().reasoning_effort, undefined);
  await named.arrayBuffer();
});

test('a parameter one deployment does not take goes to the next; if none takes it, the client hears the refusal', async () => {
  const refusal = { status: 400, code: 'unsupported_parameter', param: 'prompt_cache_key', message: "Unsupported parameter: 'prompt_cache_key' is not supported with this model." };
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: refusal });
  const moved = await r.chat({ model: 'gpt-4o-mini', prompt_cache_key: 'k1', messages: [{ role: 'user', content: 'Hello there' }] }, { key: KEYS.policyco });
  assert.equal(moved.status, 200, await moved.clone().text());
  assert.equal(moved.headers.get('x-costrouter-provider'), 'azure');
  assert.match(moved.headers.get('x-costrouter-route-reason'), /openai: HTTP 400 \(Unsupported parameter: 'prompt_cache_key'/);
  await moved.arrayBuffer();
  // gpt-4o has one deployment.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: refusal });
  const refused = await r.chat({ model: 'gpt-4o', prompt_cache_key: 'k1', messages: [{ role: 'user', content: 'Hello there' }] }, { key: KEYS.policyco });
  assert.equal(refused.status, 400);
  const { error } = await refused.json();
  assert.deepEqual([error.code, error.param, error.type], ['unsupported_parameter', 'prompt_cache_key', 'invalid_request_error']);
  assert.match(error.message, /openai rejected the request: Unsupported parameter/);
});

test("a host's 404 or 403 for what it will not serve (OpenRouter's) goes to the next deployment without a breaker failure", async () => {
  const failuresOf = async (model) => {
    const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.policyco}` } })).json();
    return list.data.find((d) => d.provider === 'openai' && d.model === model).health.consecutive_failures;
  };
  const noEndpoint = { status: 404, code: null, message: 'No endpoints found that support tool use. To learn more about provider routing, visit: https://openrouter.ai/docs/provider-routing' };
  const before = await failuresOf('gpt-4o-mini');
  for (let i = 0; i < 6; i++) {
    r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: noEndpoint });
    const moved = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Hello there ${i}` }] }, { key: KEYS.policyco });
    assert.equal(moved.status, 200, await moved.clone().text());
    assert.equal(moved.headers.get('x-costrouter-provider'), 'azure');
    assert.match(moved.headers.get('x-costrouter-route-reason'), /openai: HTTP 404 \(No endpoints found that support tool use/);
    await moved.arrayBuffer();
  }
  assert.equal(await failuresOf('gpt-4o-mini'), before, 'six such refusals open no breaker');
  // With no other deployment, the client hears the host's refusal rather than a 502.
  const flagged = { status: 403, code: null, message: 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "harassment". No credits were charged.' };
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: flagged });
  const refused = await r.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello there' }] }, { key: KEYS.policyco });
  assert.equal(refused.status, 403);
  assert.match((await refused.json()).error.message, /openai rejected the request: openai\/gpt-4o requires moderation/);
  // Any other 404 is still the deployment's failure.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { status: 404, code: 'model_not_found', message: 'The model `gpt-4o-mini` does not exist or you do not have access to it.' } });
  const gone = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello again' }] }, { key: KEYS.policyco });
  assert.equal(gone.status, 200);
  await gone.arrayBuffer();
  assert.equal(await failuresOf('gpt-4o-mini'), before + 1);
});

test("a refusal OpenRouter wraps is judged by the provider's own words inside it", async () => {
  const raw = JSON.stringify({ error: { message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
  const wrapped = { status: 400, body: { error: { message: 'Provider returned error', code: 400, metadata: { raw, provider_name: 'OpenAI' } } } };
  // Too long for this deployment's window: the next deployment is tried.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: wrapped });
  const moved = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello wrapped' }] }, { key: KEYS.policyco });
  assert.equal(moved.status, 200, await moved.clone().text());
  assert.equal(moved.headers.get('x-costrouter-provider'), 'azure');
  await moved.arrayBuffer();
  // With no other deployment the client is told the provider's words and OpenAI's code.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: wrapped });
  const refused = await r.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello wrapped' }] }, { key: KEYS.policyco });
  assert.equal(refused.status, 400);
  const { error } = await refused.json();
  assert.equal(error.code, 'context_length_exceeded');
  assert.match(error.message, /Provider returned error \(OpenAI\): This model's maximum context length is 128000 tokens/);
});

const SCHEMA_FORMAT = {
  type: 'json_schema',
  json_schema: { name: 'verdict', schema: { type: 'object', required: ['label', 'score'], properties: { label: { type: 'string' }, score: { type: 'number' } } } },
};
const dollars = (usage, [inp, out]) => (usage.in * inp + usage.out * out) / 1e6;

test('a cascade keeps a good cheap answer and escalates one that fails the schema, paying for both', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: '{"label":"spam","score":0.9}', usage: { prompt_tokens: 100, completion_tokens: 10 } } });
  const good = await r.chat(ask({ response_format: SCHEMA_FORMAT }), as('cascade'));
  assert.equal(good.status, 200, await good.clone().text());
  assert.equal(good.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(JSON.parse((await good.json()).choices[0].message.content).score, 0.9);

  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: '{"label":"spam"}', usage: { prompt_tokens: 100, completion_tokens: 10 } } });
  r.upstream.script({ provider: 'anthropic', response: { text: '{"label":"ham","score":0.2}', usage: { input_tokens: 120, output_tokens: 12 } } });
  const escalated = await r.chat(ask({ response_format: SCHEMA_FORMAT }), as('cascade'));
  const body = await escalated.json();
  assert.equal(escalated.status, 200, JSON.stringify(body));
  assert.equal(escalated.headers.get('x-costrouter-provider'), 'anthropic');
  assert.equal(escalated.headers.get('x-costrouter-route'), 'cascade');
  assert.equal(JSON.parse(body.choices[0].message.content).label, 'ham');
  const reason = escalated.headers.get('x-costrouter-route-reason');
  assert.match(reason, /cascade: gpt-4o-mini escalated \(answer fails the JSON schema: \$ is missing required 'score'/);
  // gpt-4o-mini 100 in / 10 out at 0.15/0.6, plus claude-haiku-4-5 120 in / 12 out at 1/5.
  const expected = dollars({ in: 100, out: 10 }, [0.15, 0.6]) + dollars({ in: 120, out: 12 }, [1, 5]);
  assert.ok(Math.abs(Number(escalated.headers.get('x-costrouter-cost-usd')) - expected) < 1e-12, escalated.headers.get('x-costrouter-cost-usd'));
  // The escalated answer is a call of its own in the event, which the rollups file under
  // gpt-4o-mini rather than under the model that answered.
  const ev = await r.eventFor(escalated);
  assert.equal(ev.shape.other_calls.length, 1, JSON.stringify(ev.shape));
  const [call] = ev.shape.other_calls;
  assert.deepEqual([call.provider, call.model, call.input_tokens, call.output_tokens], ['openai', 'gpt-4o-mini', 100, 10]);
  assert.ok(Math.abs(call.cost / 1e12 - dollars({ in: 100, out: 10 }, [0.15, 0.6])) < 1e-12, String(call.cost));
});

test('a cascade whose stronger model fails serves the escalated answer it paid for, not a 502', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: '{"label":"spam"}', usage: { prompt_tokens: 100, completion_tokens: 10 } } });
  r.upstream.script({ provider: 'anthropic', response: { status: 500 } });
  const resp = await r.chat(ask({ response_format: SCHEMA_FORMAT }), as('cascade'));
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(resp.headers.get('x-costrouter-provider'), 'openai');
  assert.equal(body.choices[0].message.content, '{"label":"spam"}');
  const reason = resp.headers.get('x-costrouter-route-reason');
  assert.match(reason, /cascade: gpt-4o-mini escalated \(answer fails the JSON schema/);
  assert.match(reason, /fell back to openai after: anthropic: HTTP 500/);
  // Billed once, as the answer: gpt-4o-mini 100 in / 10 out at 0.15/0.6.
  const expected = dollars({ in: 100, out: 10 }, [0.15, 0.6]);
  assert.ok(Math.abs(Number(resp.headers.get('x-costrouter-cost-usd')) - expected) < 1e-12, resp.headers.get('x-costrouter-cost-usd'));
  assert.equal((await r.eventFor(resp)).shape.other_calls, undefined, 'the answer, not a call beside it');

  // A stronger model that rejects the request (4xx) likewise leaves the weaker answer standing.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: '{"label":"ham"}', usage: { prompt_tokens: 100, completion_tokens: 10 } } });
  r.upstream.script({ provider: 'anthropic', response: { status: 400 } });
  const rejected = await r.chat(ask({ response_format: SCHEMA_FORMAT }), as('cascade'));
  assert.equal(rejected.status, 200);
  assert.equal((await rejected.json()).choices[0].message.content, '{"label":"ham"}');
});

test('a buffered cascade answers a streaming client with a replayed stream', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'I am sorry, but I cannot do that.', usage: { prompt_tokens: 10, completion_tokens: 5 } } });
  const resp = await r.chat(ask({ stream: true, stream_options: { include_usage: true } }), as('cascade'));
  assert.equal(resp.status, 200);
  // Buffered, so its cost and baseline are known before the stream goes out.
  assert.ok(Number(resp.headers.get('x-costrouter-cost-usd')) > 0, resp.headers.get('x-costrouter-cost-usd'));
  assert.ok(Number(resp.headers.get('x-costrouter-baseline-cost-usd')) > 0, resp.headers.get('x-costrouter-baseline-cost-usd'));
  const { data, comments } = await readSse(resp);
  assert.equal(data.at(-1), '[DONE]');
  assert.match(data.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), /Hello from fake anthropic/);
  assert.ok(data.some((c) => c.usage && c.choices.length === 0), 'usage chunk');
  assert.ok(comments.some((c) => c.includes('"cost_usd"')));
  const sent = r.upstream.requests().filter((q) => q.path.includes('chat/completions') || q.path.includes('messages'));
  assert.ok(sent.every((q) => q.body.stream !== true), 'upstream calls are not streamed');
});

test('a streaming cascade without buffer_streams says it does not judge the stream', async () => {
  r.upstream.reset();
  const resp = await r.chat(ask({ model: 'gpt-4o-mini', stream: true }), as('cascade-live'));
  assert.equal(resp.status, 200);
  assert.match(resp.headers.get('x-costrouter-route-reason'), /starting at gpt-4o-mini.*not judged and never escalated/);
  assert.equal(resp.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  // Recorded as the fallback chain it is, not as an answer the cascade judged (the
  // recommendations count a cascade's answers as ones its first model passed).
  assert.equal(resp.headers.get('x-costrouter-route'), 'fallback');
  await readSse(resp);
});

test('a request every candidate\'s adapter refuses is the client\'s to fix: 400 naming the field, nothing sent', async () => {
  r.upstream.reset();
  const resp = await r.chat(ask({ tools: [{ type: 'custom', custom: { name: 'code_exec' } }] }), as('translated'));
  const body = await resp.json();
  assert.equal(resp.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, 'tools[0]');
  assert.match(body.error.message, /Custom tools are served by OpenAI models only/);
  assert.equal(r.upstream.requests().length, 0);
});

test('a deployment that keeps failing opens its circuit, which /v1/deployments shows', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', times: 5, response: { status: 500 } });
  for (let i = 0; i < 5; i++) assert.equal((await r.chat(ask(), { key: KEYS.policyco })).status, 502);
  const skipped = await r.chat(ask(), { key: KEYS.policyco });
  const body = await skipped.json();
  assert.equal(skipped.status, 503, 'nothing was sent: unavailable for now, not an upstream error');
  assert.equal(body.error.code, 'no_available_route');
  assert.match(body.error.message, /circuit open/);
  assert.equal(skipped.headers.get('x-should-retry'), null, 'a breaker closes again: the SDKs may retry');
  const list = await (await fetch(`${r.url}/v1/deployments`, { headers: { authorization: `Bearer ${KEYS.policyco}` } })).json();
  const entry = list.data.find((d) => d.deployment === 'openai/gpt-4o');
  assert.equal(entry.health.breaker.state, 'open');
  assert.equal(entry.health.consecutive_failures, 5);
});

test('a tenant policy that fails validation is not replaced by a more general one: the tenant is refused until it is fixed', async () => {
  // globex has made no request on this isolate, so there is no last valid version to keep.
  const config = await r.mf.getKVNamespace('CONFIG');
  await config.put('policy:globex', POLICY.replace('candidates = ["gpt-4o-mini"], regions = ["eu"]', 'candidates = ["claude-haiku-9"], regions = ["eu"]'));
  const resp = await r.chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { key: KEYS.globex, cf: { country: 'DE', continent: 'EU', isEUCountry: '1' } });
  const body = await resp.json();
  assert.equal(resp.status, 500, JSON.stringify(body));
  assert.equal(body.error.code, 'router_misconfigured');
  assert.match(body.error.message, /policy:globex.*claude-haiku-9/);
  assert.equal(resp.headers.get('x-should-retry'), 'false');
  await config.delete('policy:globex');
});

test('a reasoning model a rule routes to is passed over for a stop sequence it would drop; asked by name, it answers without it', async () => {
  r.upstream.reset();
  const routed = await r.chat(ask({ stop: ['\n\n'] }), as('reasoning'));
  assert.equal(routed.status, 200, await routed.clone().text());
  assert.equal(routed.headers.get('x-costrouter-model'), 'gpt-4o-mini', 'the model that takes stop');
  assert.match(routed.headers.get('x-costrouter-route-reason'), /'stop' is not taken by thinker \(a reasoning model\)/);
  await routed.arrayBuffer();
  const plain = await r.chat(ask(), as('reasoning'));
  assert.equal(plain.headers.get('x-costrouter-model'), 'o4-mini', 'without stop, the rule\'s first model');
  await plain.arrayBuffer();
  r.upstream.reset();
  const named = await r.chat({ model: 'thinker', messages: [{ role: 'user', content: 'hi' }], stop: ['END'] }, { key: KEYS.policyco });
  assert.equal(named.status, 200, await named.clone().text());
  assert.equal(named.headers.get('x-costrouter-model'), 'o4-mini');
  assert.equal(r.upstream.requests()[0].body.stop, undefined, 'named by the client: answered, stop left out as o4-mini requires');
  await named.arrayBuffer();
});

test('gpt-5.4-mini, which reasons only when asked, keeps temperature and logprobs unless asked to think', async () => {
  const sent = async (extra) => {
    r.upstream.reset();
    const resp = await r.chat({ model: 'gpt-5.4-mini', temperature: 0.2, top_p: 0.9, logprobs: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...extra }, { key: KEYS.policyco });
    assert.equal(resp.status, 200, await resp.clone().text());
    await resp.arrayBuffer();
    const { body } = r.upstream.requests()[0];
    return [body.temperature, body.top_p, body.logprobs, body.max_completion_tokens, body.max_tokens, body.reasoning_effort];
  };
  // At its default effort ("none") it samples as other models do; its cap is still max_completion_tokens.
  assert.deepEqual(await sent({}), [0.2, 0.9, true, 50, undefined, undefined]);
  assert.deepEqual(await sent({ reasoning_effort: 'none' }), [0.2, 0.9, true, 50, undefined, 'none']);
  // Thinking, it refuses them: they are left out.
  assert.deepEqual(await sent({ reasoning_effort: 'low' }), [undefined, undefined, undefined, 50, undefined, 'low']);
});

test('an effort the model does not take is sent as the least it takes above it (or its most), routed or named, streamed or not, and the reason says so; none is never raised', async () => {
  const send = async (body, options = { key: KEYS.policyco }) => {
    r.upstream.reset();
    const resp = await r.chat(body, options);
    assert.equal(resp.status, 200, await resp.clone().text());
    const text = await resp.text();
    return { resp, text, sent: r.upstream.requests()[0].body };
  };
  // o4-mini (its seeded row: low, medium, high) named by the client, asked for `minimal`, which it
  // would refuse: sent `low`, it thinks, so the temperature it refuses is left out too.
  const named = await send({ model: 'thinker', reasoning_effort: 'minimal', temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] });
  assert.deepEqual([named.sent.reasoning_effort, named.sent.temperature], ['low', undefined]);
  assert.match(named.resp.headers.get('x-costrouter-route-reason'), /; reasoning_effort 'minimal' sent as 'low' \(thinker takes low, medium, high\)/);
  // Asked not to think, it is not made to (nor billed for it): named, it is sent `none` and its
  // provider answers (the fake takes it); routed there by a rule, it is passed over without a call.
  const off = await send({ model: 'thinker', reasoning_effort: 'none', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(off.sent.reasoning_effort, 'none');
  const passed = await send(ask({ reasoning_effort: 'none' }), as('reasoning'));
  assert.equal(passed.resp.headers.get('x-costrouter-model'), 'gpt-4o-mini', 'the rule\'s next model');
  assert.equal(r.upstream.requests().length, 1, 'o4-mini was not called');
  assert.match(passed.resp.headers.get('x-costrouter-route-reason'), /reasoning_effort 'none' is not taken by thinker \(it always reasons: it takes low, medium, high\)/);
  // Routed there by the rule, at an effort above its most.
  const routed = await send(ask({ reasoning_effort: 'xhigh' }), as('reasoning'));
  assert.equal(routed.resp.headers.get('x-costrouter-model'), 'o4-mini');
  assert.equal(routed.sent.reasoning_effort, 'high');
  assert.match(routed.resp.headers.get('x-costrouter-route-reason'), /reasoning_effort 'xhigh' sent as 'high'/);
  // Streamed: gpt-5.4-mini refuses `minimal`.
  const streamed = await send({ model: 'gpt-5.4-mini', reasoning_effort: 'minimal', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(streamed.sent.reasoning_effort, 'low');
  assert.match(streamed.resp.headers.get('x-costrouter-route-reason'), /reasoning_effort 'minimal' sent as 'low' \(gpt-5.4-mini takes none, low, medium, high, xhigh\)/);
  // An effort the model takes is sent as asked, and the reason says nothing of it.
  const taken = await send({ model: 'gpt-5.4-mini', reasoning_effort: 'xhigh', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(taken.sent.reasoning_effort, 'xhigh');
  assert.doesNotMatch(taken.resp.headers.get('x-costrouter-route-reason'), /reasoning_effort/);
  // A label capped at 50 tokens would be spent thinking and come back empty: routed there, or
  // named without an effort, o4-mini is sent the least it takes; named with one, as asked.
  const label = await send(ask({ max_tokens: 50 }), as('reasoning'));
  assert.deepEqual([label.resp.headers.get('x-costrouter-model'), label.sent.reasoning_effort, label.sent.max_completion_tokens], ['o4-mini', 'low', 50]);
  assert.match(label.resp.headers.get('x-costrouter-route-reason'), /reasoning_effort 'low' sent, the least thinker takes: an output cap of 50 tokens leaves no room to think beside an answer/);
  const namedLabel = await send({ model: 'thinker', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(namedLabel.sent.reasoning_effort, 'low');
  const chosen = await send({ model: 'thinker', reasoning_effort: 'high', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chosen.sent.reasoning_effort, 'high', "the client's own effort on the model it named");
  const roomy = await send({ model: 'thinker', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(roomy.sent.reasoning_effort, undefined, 'room enough: its default');
});

test('a call is charged at the rates of the hour it was sent: DeepSeek half off-peak, streamed or not', async () => {
  // DeepSeek's peak: 01:00-04:00 and 06:00-10:00 UTC on weekdays (kv-seed/pricing.json).
  const offPeak = (ms) => {
    const at = new Date(ms);
    const weekday = at.getUTCDay() || 7;
    const minute = at.getUTCHours() * 60 + at.getUTCMinutes();
    return weekday >= 6 || minute < 60 || (minute >= 240 && minute < 360) || minute >= 600;
  };
  // 1,000 prompt and 1,000 output tokens: 0.3 + 1.2 a million at peak, half off-peak.
  const usage = { prompt_tokens: 1000, completion_tokens: 1000 };
  for (const stream of [false, true]) {
    r.upstream.script({ provider: 'openai', model: 'deepseek-v4-flash', response: { text: 'Done.', usage } });
    const before = Date.now();
    const resp = await r.chat({ model: 'deepseek-v4-flash', stream, ...(stream ? { stream_options: { include_usage: true } } : {}), messages: [{ role: 'user', content: 'hi' }] }, { key: KEYS.policyco });
    assert.equal(resp.status, 200, await resp.clone().text());
    const cost = stream ? JSON.parse((await readSse(resp)).comments.find((c) => c.startsWith('costrouter ')).slice('costrouter '.length)).cost_usd : resp.headers.get('x-costrouter-cost-usd');
    if (!stream) await resp.arrayBuffer();
    // A request sent across a window's edge could be priced either way: nothing to say then.
    if (offPeak(before) !== offPeak(Date.now())) continue;
    assert.equal(cost, offPeak(before) ? '0.00075' : '0.0015', `stream ${stream}, sent ${new Date(before).toISOString()}`);
  }
});

test('a Claude model a rule routes to is passed over for a whitespace stop sequence Anthropic refuses; asked by name, it answers without it', async () => {
  const routed = await r.chat(ask({ stop: ['\n'] }), as('translated'));
  assert.equal(routed.status, 200, await routed.clone().text());
  assert.equal(routed.headers.get('x-costrouter-model'), 'gemini-2.5-flash', 'the next candidate, which takes it');
  assert.match(routed.headers.get('x-costrouter-route-reason'), /'stop' is not taken by claude-haiku-4-5 \(Anthropic refuses stop sequences of whitespace only\)/);
  await routed.arrayBuffer();
  const printable = await r.chat(ask({ stop: ['END'] }), as('translated'));
  assert.equal(printable.headers.get('x-costrouter-model'), 'claude-haiku-4-5', 'a stop Anthropic takes');
  await printable.arrayBuffer();
  r.upstream.reset();
  const named = await r.chat({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }], stop: ['\n', 'END'] }, { key: KEYS.policyco });
  assert.equal(named.status, 200, await named.clone().text());
  assert.deepEqual(r.upstream.requests()[0].body.stop_sequences, ['END'], 'named by the client: answered, the whitespace stop left out');
  await named.arrayBuffer();
});
