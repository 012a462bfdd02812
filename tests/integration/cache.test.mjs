// The exact response cache through the real worker: hits and misses, stream replay both ways,
// client controls, tenant isolation, multi-turn safety, and the accounting of a hit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, testCatalog, KEYS, ADMIN_TOKEN } from './harness.mjs';

const CACHING = `
version = 1
name = "caching"

[cache]
enabled = true
ttl_secs = 600

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

// Caching, and a rule that sends one feature's traffic to a cheaper model than the one asked for.
const ROUTED_CACHING = `
version = 1
name = "routed-caching"

[cache]
enabled = true
ttl_secs = 600

[[rules]]
name = "cheap-feature"
when = { feature = ["cheap"] }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"] }

[[rules]]
name = "ab"
when = { feature = ["ab"] }
route = { strategy = "split", candidates = ["gpt-4o-mini", "claude-haiku-4-5"], weights = [50, 50] }

# Two cascades over the same models, judging answers differently.
[[rules]]
name = "strict-cascade"
when = { feature = ["strict"] }
route = { strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"], min_logprob = -0.1 }

[[rules]]
name = "lax-cascade"
when = { feature = ["lax"] }
route = { strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"] }

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

let r;
before(async () => {
  r = await startRouter({ policies: { acme: CACHING, globex: CACHING, policyco: ROUTED_CACHING } });
  // A demo upstream, as `make dev` without keys sets one up, read on the first request.
  const catalog = testCatalog(r.upstream.url);
  catalog.providers['demo-openai'] = { kind: 'openai', base_url: `${r.upstream.url}/openai/v1`, key_secret: 'OPENAI_API_KEY', demo: true };
  catalog.models['demo-model'] = { deployments: [{ provider: 'demo-openai', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const chats = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$/.test(q.path)).length;
let n = 0;
/** A request no other test sends (the cache outlives tests). */
const fresh = (extra = {}) => ({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: `What is ${++n} plus ${n}?` }], ...extra });
/** The request's cost events (exactly one, or the harness fails the test). */
const eventOf = async (resp) => [await r.eventFor(resp)];
/** Stores happen after the response; a second request may arrive before, so give them a moment. */
const stored = () => new Promise((res) => setTimeout(res, 150));

test('an identical request is answered from the cache: no provider call, no cost, the saving recorded', async () => {
  const body = fresh();
  const before = chats();
  const first = await r.chat(body);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  const original = await first.json();
  const cost = Number(first.headers.get('x-costrouter-cost-usd'));
  assert.ok(cost > 0);
  await stored();
  const second = await r.chat(body);
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-costrouter-cache'), 'hit-exact');
  assert.equal(second.headers.get('x-costrouter-provider'), 'cache');
  assert.equal(Number(second.headers.get('x-costrouter-cost-usd')), 0);
  assert.equal(Number(second.headers.get('x-costrouter-baseline-cost-usd')), cost, 'the saving is what the answer cost');
  assert.match(second.headers.get('x-costrouter-route-reason'), /exact cache hit/);
  const replay = await second.json();
  assert.deepEqual(replay.choices, original.choices);
  assert.notEqual(replay.id, original.id);
  assert.deepEqual([replay.usage.prompt_tokens, replay.usage.completion_tokens, replay.usage.total_tokens], [0, 0, 0], 'a hit used no tokens, and says so');
  assert.equal(chats() - before, 1, 'one provider call for two requests');
  const [event] = await eventOf(second);
  assert.equal(event.cache, 'hit-exact');
  // Delivery and bookkeeping fields do not change the key.
  const again = await r.chat({ ...body, user: 'someone', metadata: { feature: 'x' } });
  assert.equal(again.headers.get('x-costrouter-cache'), 'hit-exact');
  await again.arrayBuffer();
});

test('a cached answer replays as a stream, and a streamed answer is cached once whole', async () => {
  const body = fresh();
  const first = await r.chat(body);
  const original = await first.json();
  await stored();
  const replay = await readSse(await r.chat({ ...body, stream: true, stream_options: { include_usage: true } }));
  const text = replay.data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta?.content ?? '').join('');
  assert.equal(text, original.choices[0].message.content);
  assert.equal(replay.data.at(-1), '[DONE]');
  assert.equal(replay.data.at(-2).usage.total_tokens, 0, 'the usage chunk the client asked for is an object');
  assert.ok(replay.comments.some((c) => c.includes('"cache":"hit-exact"')));
  // The cost trailer says no tokens were used, as the usage chunk does (it said `usage: null`).
  const trailer = JSON.parse(replay.comments.find((c) => c.startsWith('costrouter ')).slice('costrouter '.length));
  assert.deepEqual([trailer.usage?.total_tokens, trailer.usage_basis, trailer.cost_usd], [0, 'reported', '0']);

  const streamed = fresh({ stream: true });
  const before = chats();
  const live = await readSse(await r.chat(streamed));
  const liveText = live.data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta?.content ?? '').join('');
  await stored();
  const { stream, ...plain } = streamed;
  const hit = await r.chat(plain);
  assert.equal(hit.headers.get('x-costrouter-cache'), 'hit-exact', 'the stream was stored once complete');
  const hitBody = await hit.json();
  assert.equal(hitBody.choices[0].message.content, liveText);
  assert.equal(hitBody.usage.total_tokens, 0, 'stored from a stream without usage, served with it');
  assert.equal(chats() - before, 1);
});

test('a Responses API request is answered from the cache, whole and replayed as its event stream', async () => {
  const RESPONSES = { path: '/v1/responses' };
  const body = { model: 'gpt-4o-mini', temperature: 0, input: `What is ${++n} plus ${n}?` };
  const before = chats();
  const first = await r.chat(body, RESPONSES);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  const original = await first.json();
  assert.equal(original.status, 'completed');
  await stored();
  const streamed = await r.chat({ ...body, stream: true }, RESPONSES);
  assert.equal(streamed.status, 200);
  assert.equal(streamed.headers.get('x-costrouter-cache'), 'hit-exact');
  const replay = await readSse(streamed);
  const types = replay.data.map((d) => d.type);
  assert.deepEqual([types[0], types.at(-1)], ['response.created', 'response.completed'], replay.text);
  assert.equal(replay.data.filter((d) => d.type === 'response.output_text.delta').map((d) => d.delta).join(''), original.output[0].content[0].text);
  assert.equal(replay.data.at(-1).response.output[0].content[0].text, original.output[0].content[0].text);
  assert.ok(replay.comments.some((c) => c.includes('"cache":"hit-exact"')), 'the cost trailer passes');
  const whole = await r.chat(body, RESPONSES);
  assert.equal(whole.headers.get('x-costrouter-cache'), 'hit-exact');
  const hit = await whole.json();
  assert.deepEqual(hit.output[0].content, original.output[0].content);
  assert.notEqual(hit.id, original.id, 'each answer its own id');
  assert.notEqual(hit.output[0].id, original.output[0].id);
  assert.equal(chats() - before, 1, 'one provider call for three requests');
  const [event] = await eventOf(streamed);
  assert.equal(event.cache, 'hit-exact');
});

test('a Messages API request is answered from the cache, whole and replayed as Anthropic\'s event stream', async () => {
  const MESSAGES = { path: '/v1/messages' };
  const body = { model: 'gpt-4o-mini', max_tokens: 100, temperature: 0, messages: [{ role: 'user', content: `What is ${++n} plus ${n}?` }] };
  const before = chats();
  const first = await r.chat(body, MESSAGES);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  const original = await first.json();
  assert.equal(original.type, 'message');
  await stored();
  const streamed = await r.chat({ ...body, stream: true }, MESSAGES);
  assert.equal(streamed.status, 200);
  assert.equal(streamed.headers.get('x-costrouter-cache'), 'hit-exact');
  const replay = await readSse(streamed);
  const types = replay.data.map((d) => d.type);
  assert.deepEqual([types[0], types.at(-1)], ['message_start', 'message_stop'], replay.text);
  assert.equal(replay.data.filter((d) => d.type === 'content_block_delta').map((d) => d.delta.text).join(''), original.content[0].text);
  assert.ok(replay.comments.some((c) => c.includes('"cache":"hit-exact"')), 'the cost trailer passes');
  const whole = await r.chat(body, MESSAGES);
  assert.equal(whole.headers.get('x-costrouter-cache'), 'hit-exact');
  const hit = await whole.json();
  assert.deepEqual(hit.content, original.content);
  assert.notEqual(hit.id, original.id, 'each answer its own id');
  assert.equal(chats() - before, 1, 'one provider call for three requests');
  const [event] = await eventOf(streamed);
  assert.equal(event.cache, 'hit-exact');
  // The same request through chat is not served that entry: on /v1/messages the cap is a
  // ceiling lowered to what the model writes, on chat it is room the client needs.
  const viaChat = await r.chat(body);
  assert.equal(viaChat.headers.get('x-costrouter-cache'), 'miss');
});

test('a cut-off stream is not cached', async () => {
  // Cut after some text, so the client has had a 200 and content (a stream cut before its first
  // token is a 502 and could never be cached anyway).
  const body = fresh({ model: 'claude-haiku-4-5', stream: true });
  const story = 'The tide came in over the flats and the gulls rose all at once, '.repeat(6);
  r.upstream.script({ provider: 'anthropic', response: { fault: 'truncated', truncate_after: 12, text: story } });
  const cut = await r.chat(body);
  assert.equal(cut.status, 200);
  const partial = await readSse(cut);
  const sent = partial.data.filter((d) => typeof d === 'object').map((d) => d.choices?.[0]?.delta?.content ?? '').join('');
  assert.ok(sent.length > 0, 'some text arrived before the cut');
  assert.ok(partial.data.some((d) => d.error), 'the stream ends with an error event');
  await stored();
  const { stream, ...plain } = body;
  const before = chats();
  const next = await r.chat(plain);
  assert.equal(next.headers.get('x-costrouter-cache'), 'miss');
  await next.arrayBuffer();
  assert.equal(chats() - before, 1, 'the request went to the provider');
});

test('cache-control: max-age refuses stored answers older than it', async () => {
  const body = fresh();
  const first = await r.chat(body);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  await first.arrayBuffer();
  await stored();
  await new Promise((res) => setTimeout(res, 2100));
  const young = await r.chat(body, { headers: { 'cache-control': 'max-age=1' } });
  assert.equal(young.headers.get('x-costrouter-cache'), 'miss', 'the stored answer is 2 s old');
  await young.arrayBuffer();
  await stored();
  const old = await r.chat(body, { headers: { 'cache-control': 'max-age=3600' } });
  assert.equal(old.headers.get('x-costrouter-cache'), 'hit-exact');
  await old.arrayBuffer();
});

test('cache-control and x-costrouter-cache-ttl are obeyed; sampling is cached only when asked', async () => {
  const body = fresh();
  const noStore = await r.chat(body, { headers: { 'cache-control': 'no-store' } });
  assert.equal(noStore.headers.get('x-costrouter-cache'), 'bypass');
  assert.match(noStore.headers.get('x-costrouter-route-reason'), /; not cached: cache-control: no-store$/);
  await noStore.arrayBuffer();
  await stored();
  const m1 = await r.chat(body, { headers: { 'x-costrouter-cache-ttl': '0' } });
  assert.equal(m1.headers.get('x-costrouter-cache'), 'miss', 'no-store stored nothing');
  await m1.arrayBuffer();
  await stored();
  const m2 = await r.chat(body);
  assert.equal(m2.headers.get('x-costrouter-cache'), 'miss', 'ttl 0 stored nothing');
  await m2.arrayBuffer();
  await stored();
  const noCache = await r.chat(body, { headers: { 'cache-control': 'no-cache' } });
  assert.equal(noCache.headers.get('x-costrouter-cache'), 'miss', 'no-cache skips the lookup');
  await noCache.arrayBuffer();
  const hit = await r.chat(body);
  assert.equal(hit.headers.get('x-costrouter-cache'), 'hit-exact');
  await hit.arrayBuffer();
  const bad = await r.chat(body, { headers: { 'x-costrouter-cache-ttl': 'forever' } });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /x-costrouter-cache-ttl/);

  const sampled = fresh({ temperature: 0.8 });
  const s1 = await r.chat(sampled);
  assert.equal(s1.headers.get('x-costrouter-cache'), 'bypass');
  assert.match(s1.headers.get('x-costrouter-route-reason'), /not cached: the request samples/);
  assert.match(await s1.text(), /choices/);
  const optIn = fresh({ temperature: 0.8 });
  await (await r.chat(optIn, { headers: { 'x-costrouter-cache-sampled': 'allow' } })).arrayBuffer();
  await stored();
  const s2 = await r.chat(optIn, { headers: { 'x-costrouter-cache-sampled': 'allow' } });
  assert.equal(s2.headers.get('x-costrouter-cache'), 'hit-exact');
  await s2.arrayBuffer();
});

test('another tenant never gets a cached answer; a different earlier turn is a miss', async () => {
  const body = fresh();
  await (await r.chat(body)).arrayBuffer();
  await stored();
  const other = await r.chat(body, { key: KEYS.globex });
  assert.equal(other.headers.get('x-costrouter-cache'), 'miss');
  await other.arrayBuffer();
  const turns = (earlier) => ({ model: 'gpt-4o-mini', temperature: 0, messages: [
    { role: 'system', content: 'Be brief.' }, { role: 'user', content: earlier }, { role: 'assistant', content: 'Sure.' }, { role: 'user', content: `And ${++n}?` }] });
  const a = turns('Talk about cats.');
  await (await r.chat(a)).arrayBuffer();
  await stored();
  const b = { ...a, messages: [...a.messages] };
  b.messages[1] = { role: 'user', content: 'Talk about dogs.' };
  const diff = await r.chat(b);
  assert.equal(diff.headers.get('x-costrouter-cache'), 'miss');
  await diff.arrayBuffer();
  const sys = { ...a, messages: [{ role: 'system', content: 'Be verbose.' }, ...a.messages.slice(1)] };
  const diffSys = await r.chat(sys);
  assert.equal(diffSys.headers.get('x-costrouter-cache'), 'miss');
  await diffSys.arrayBuffer();
  const tools = await r.chat({ ...a, tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }] });
  assert.equal(tools.headers.get('x-costrouter-cache'), 'miss');
  await tools.arrayBuffer();
  const same = await r.chat(a);
  assert.equal(same.headers.get('x-costrouter-cache'), 'hit-exact');
  await same.arrayBuffer();
});

test('a cache hit reserves and charges no budget', async () => {
  const admin = (method, path, b) => fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(b) });
  assert.equal((await admin('PUT', '/admin/tenants/acme/budgets', { budgets: [{ id: 'day', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '100' }] })).status, 200);
  const budget = async () => {
    let s;
    for (let i = 0; i < 100; i++) {
      s = await (await fetch(`${r.url}/v1/budgets`, { headers: { authorization: `Bearer ${KEYS.acme}` } })).json();
      if (s.open_reservations === 0) return s;
      await new Promise((res) => setTimeout(res, 20));
    }
    return s;
  };
  const body = fresh();
  const miss = await r.chat(body);
  const cost = Number(miss.headers.get('x-costrouter-cost-usd'));
  await miss.arrayBuffer();
  await stored();
  const before = await budget();
  assert.ok(Number(before.states.day.spent) >= cost && cost > 0, 'the miss was charged');
  const hit = await r.chat(body);
  assert.equal(hit.headers.get('x-costrouter-cache'), 'hit-exact');
  assert.equal(hit.headers.get('x-ratelimit-reset-requests'), null, 'not even admitted through the ledger');
  await hit.arrayBuffer();
  await stored();
  const after = await budget();
  assert.equal(after.states.day.spent, before.states.day.spent, 'a hit charges nothing');
  const [event] = await eventOf(hit);
  assert.equal(event.cache, 'hit-exact');
  assert.equal(Number(event.cost_usd ?? 0), 0);
  assert.equal(await admin('PUT', '/admin/tenants/acme/budgets', { budgets: [] }).then((x) => x.status), 200);
});

test('an answer is shared only between requests the policy routes alike', async () => {
  // The same body, sent for the 'cheap' feature (routed to gpt-4o-mini) and without it (served by
  // the gpt-4o asked for): neither may be answered with the other's cached answer.
  const body = fresh({ model: 'gpt-4o' });
  const cheap = { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'cheap' } };
  const plain = { key: KEYS.policyco, headers: {} };
  const first = await r.chat(body, cheap);
  assert.equal(first.headers.get('x-costrouter-model'), 'gpt-4o-mini');
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  await first.arrayBuffer();
  await stored();
  const other = await r.chat(body, plain);
  assert.equal(other.headers.get('x-costrouter-cache'), 'miss', 'a request routed to gpt-4o is not served gpt-4o-mini\'s answer');
  assert.equal(other.headers.get('x-costrouter-model'), 'gpt-4o');
  await other.arrayBuffer();
  await stored();
  for (const [opts, model] of [[cheap, 'gpt-4o-mini'], [plain, 'gpt-4o']]) {
    const again = await r.chat(body, opts);
    assert.equal(again.headers.get('x-costrouter-cache'), 'hit-exact');
    assert.equal((await again.json()).model, model, 'each route gets its own answer back');
  }
});

test('the arms of a split share no cached answers', async () => {
  const ab = (user) => ({ key: KEYS.policyco, headers: { 'x-costrouter-feature': 'ab' }, user });
  const send = (body, user) => r.chat({ ...body, user }, ab(user));
  // Each user sticks to an arm: find one user on each (bodies of their own, so no cache is involved).
  const armOf = {};
  for (let i = 0; i < 40 && new Set(Object.values(armOf)).size < 2; i++) {
    const resp = await send(fresh({ max_tokens: 8 }), `user-${i}`);
    assert.equal(resp.status, 200);
    armOf[`user-${i}`] = resp.headers.get('x-costrouter-model');
    await resp.arrayBuffer();
  }
  const userOn = (model) => Object.keys(armOf).find((u) => armOf[u] === model);
  const [a, b] = [userOn('gpt-4o-mini'), userOn('claude-haiku-4-5')];
  assert.ok(a && b, `40 users all landed on one arm: ${JSON.stringify(armOf)}`);
  const body = fresh({ max_tokens: 8 });
  const first = await send(body, a);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  await first.arrayBuffer();
  await stored();
  const other = await send(body, b);
  assert.equal(other.headers.get('x-costrouter-cache'), 'miss', 'the other arm is not served this arm\'s answer');
  assert.equal(other.headers.get('x-costrouter-model'), 'claude-haiku-4-5');
  await other.arrayBuffer();
  await stored();
  const again = await send(body, a);
  assert.equal(again.headers.get('x-costrouter-cache'), 'hit-exact', 'the same arm still shares its answers');
  assert.equal((await again.json()).model, 'gpt-4o-mini');
});

test('an answer in content parts (Mistral\'s reasoning models) replays as a stream with its parts; a call that is not an object is not stored', async () => {
  const parts = [{ type: 'thinking', thinking: [{ type: 'text', text: '6 times 7' }] }, { type: 'text', text: '42' }];
  const answer = (message) => ({ id: 'cmpl-m', object: 'chat.completion', created: 7, model: 'magistral-small', choices: [{ index: 0, message, finish_reason: 'stop' }],
    usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } });
  const body = fresh({ model: 'mistral-small' });
  r.upstream.script({ provider: 'openai', model: 'mistral-small-latest', response: { body: answer({ role: 'assistant', content: parts }) } });
  const first = await r.chat(body);
  assert.deepEqual((await first.json()).choices[0].message.content, parts);
  await stored();
  const replay = await readSse(await r.chat({ ...body, stream: true }));
  const deltas = replay.data.filter((d) => typeof d === 'object').map((d) => d.choices[0].delta);
  assert.ok(replay.comments.some((c) => c.includes('"cache":"hit-exact"')));
  assert.deepEqual(deltas.map((d) => d.content).filter((c) => Array.isArray(c)), [parts], JSON.stringify(deltas));

  const odd = fresh({ model: 'mistral-small' });
  r.upstream.script({ provider: 'openai', model: 'mistral-small-latest', response: { body: answer({ role: 'assistant', content: null, tool_calls: ['x'] }) } });
  assert.equal((await r.chat(odd)).status, 200);
  await stored();
  const again = await r.chat({ ...odd, stream: true });
  assert.equal(again.headers.get('x-costrouter-cache'), 'miss', 'never stored, so never replayed (where it would have failed the worker)');
  await again.text();
});

test('an answer of the demo upstream, replayed from the cache, still says it is one', async () => {
  const body = fresh({ model: 'demo-model' });
  const first = await r.chat(body);
  assert.equal(first.status, 200, await first.clone().text());
  assert.match(first.headers.get('x-costrouter-provider'), /demo upstream/);
  await first.arrayBuffer();
  await stored();
  const hit = await r.chat(body);
  assert.equal(hit.headers.get('x-costrouter-cache'), 'hit-exact');
  assert.match(hit.headers.get('x-costrouter-provider'), /^cache .*demo upstream/);
  await hit.arrayBuffer();
});

test("a cascade's answer is not served to a cascade that judges answers otherwise", async () => {
  const body = fresh();
  const ask = (feature) => r.chat(body, { key: KEYS.policyco, headers: { 'x-costrouter-feature': feature } });
  const lax = await ask('lax');
  assert.equal(lax.status, 200, await lax.clone().text());
  assert.equal(lax.headers.get('x-costrouter-cache'), 'miss');
  await lax.arrayBuffer();
  await new Promise((res) => setTimeout(res, 300)); // stored after the response
  const again = await ask('lax');
  assert.equal(again.headers.get('x-costrouter-cache'), 'hit-exact', 'the same cascade hits');
  await again.arrayBuffer();
  // The same models with a min_logprob: the lax cascade's accepted answer was never judged so.
  const strict = await ask('strict');
  assert.equal(strict.status, 200, await strict.clone().text());
  assert.equal(strict.headers.get('x-costrouter-cache'), 'miss');
  await strict.arrayBuffer();
});

test('a cascade escalates an empty answer, and asks only the models it judges for logprobs', async () => {
  r.upstream.reset();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: '' } });
  const resp = await r.chat(fresh(), { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'strict' } });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.match(resp.headers.get('x-costrouter-route-reason'), /gpt-4o-mini escalated \(empty answer/);
  assert.equal(resp.headers.get('x-costrouter-model'), 'gpt-4o');
  const body = await resp.json();
  assert.ok(body.choices[0].message.content.length > 0);
  const sent = r.upstream.requests().filter((q) => q.path.endsWith('/chat/completions'));
  assert.deepEqual(sent.map((q) => [q.body.model, q.body.logprobs]), [['gpt-4o-mini', true], ['gpt-4o', undefined]],
    'the last model is served unjudged: not asked for logprobs');
});

test("a broken host's answer under a cascade's logprobs is served or refused, never a worker exception", async () => {
  // Choices that are not objects: the router strips the logprobs it asked for from each choice.
  const broken = { id: 'chatcmpl-broken', object: 'chat.completion', model: 'gpt-4o', choices: [0] };
  r.upstream.script([
    { provider: 'openai', model: 'gpt-4o-mini', response: { body: broken } },
    { provider: 'openai', model: 'gpt-4o', response: { body: broken } },
  ]);
  const resp = await r.chat(fresh(), { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'strict' } });
  const text = await resp.text();
  assert.ok(resp.status === 200 || resp.status === 502, `${resp.status} ${text}`);
  assert.doesNotThrow(() => JSON.parse(text), text);
  // The isolate is whole: the next request is served.
  const next = await r.chat(fresh(), { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'strict' } });
  assert.equal(next.status, 200, await next.clone().text());
});
