// The semantic cache through the real worker: a paraphrased last turn is answered from the
// cache (static embedder from KV, the tenant's SemanticCache Durable Object), and nothing else
// is: not an unrelated question, another tenant, another model, a different earlier turn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, readSse, testCatalog, KEYS, ADMIN_TOKEN } from './harness.mjs';

const SEMANTIC = `
version = 1
name = "semantic"

[cache]
enabled = true
ttl_secs = 600
semantic = true

[[rules]]
name = "eu-held"
when = { feature = ["eu-held"] }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"], regions = ["eu"] }

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

let r;
// A stored question's guard (`MatchGuard::to_bytes`) for a text with no words, for the tests that
// call the object directly: a figures hash, negations, polar and content bits (42 bytes of 0);
// no ordered words (a count of 0, 16 unused 2-byte ids) and so every relation's neighbours
// "none" (its mask, then 14 relations' 4 bytes, all 0xff: 133 bytes in); no proper names (a count
// of 0, then 16 unused 2-byte slots); no accented words (a count of 0, then 16 unused 4-byte slots).
const NO_WORDS_GUARD = Buffer.from([...new Array(42).fill(0), 0, ...new Array(133 - 43).fill(0xff), 0, ...new Array(32).fill(0), 0, ...new Array(64).fill(0)]).toString('hex');

const PROVIDER_EMBEDDER = SEMANTIC.replace('semantic = true', 'semantic = true\nsemantic_embedder = "text-embedding-3-small"').replace('[[rules]]', `[[rules]]
name = "eu-only"
when = { feature = ["eu-only"] }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"], regions = ["eu"] }

[[rules]]`);
// An embedding model with deployments of two models (the fake provider's vectors depend on the
// text alone, so the two make the same vector: any similarity across them would be a hit).
const TWO_SPACES = SEMANTIC.replace('semantic = true', 'semantic = true\nsemantic_embedder = "two-spaces-embedding"');
before(async () => {
  r = await startRouter({ policies: { acme: SEMANTIC, globex: SEMANTIC, policyco: PROVIDER_EMBEDDER, twospaces: TWO_SPACES } });
  // The worker reads its catalog on the first request, so it can still be changed here.
  const catalog = testCatalog(r.upstream.url);
  catalog.models['two-spaces-embedding'] = {
    mode: 'embedding',
    price_key: 'text-embedding-3-small',
    deployments: [{ provider: 'openai', upstream_model: 'emb-space-a' }, { provider: 'openai', upstream_model: 'emb-space-b' }],
  };
  await (await r.mf.getKVNamespace('CONFIG')).put('catalog', JSON.stringify(catalog));
});
after(async () => { await r?.close(); });

const chats = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$/.test(q.path)).length;
const ask = (text, extra = {}) => ({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: text }], ...extra });
const stored = () => new Promise((res) => setTimeout(res, 300));
/** The request's cost events (exactly one, or the harness fails the test). */
const eventOf = async (resp) => [await r.eventFor(resp)];

// Similarities with the shipped embedder (checked natively): 0.981 and 0.995, above the 0.97
// default; the weather question scores 0.35.
const RESET = 'How do I reset my password?';
const RESET_PARAPHRASE = 'How can I reset my password?';

test('a paraphrased question is a semantic hit: cached answer, no provider call, no cost, the saving recorded', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'Use the "Forgot password" link.', usage: { prompt_tokens: 12, completion_tokens: 8 } } });
  const first = await r.chat(ask(RESET));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  const cost = Number(first.headers.get('x-costrouter-cost-usd'));
  await stored();
  const before = chats();
  const second = await r.chat(ask(RESET_PARAPHRASE));
  assert.equal(second.status, 200, await second.clone().text());
  assert.equal(second.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.equal(second.headers.get('x-costrouter-provider'), 'cache');
  assert.equal(Number(second.headers.get('x-costrouter-cost-usd')), 0);
  assert.equal(Number(second.headers.get('x-costrouter-baseline-cost-usd')), cost);
  assert.match(second.headers.get('x-costrouter-route-reason'), /semantic cache hit \(similarity 0\.9\d\d\)/);
  assert.equal((await second.json()).choices[0].message.content, 'Use the "Forgot password" link.');
  assert.equal(chats(), before, 'no provider call');
  // eventFor fails unless the request has exactly one event.
  const events = await eventOf(second);
  assert.equal(events[0].cache, 'hit-semantic');
  assert.equal(events[0].cost_usd, 0);
  assert.equal(events[0].baseline_cost_usd, cost);
});

test('an unrelated question, another tenant, another model and a different earlier turn all miss', async () => {
  await r.chat(ask(RESET)); // stored already by the first test, or now
  await stored();
  const unrelated = await r.chat(ask('What is the weather in Paris today?'));
  assert.equal(unrelated.headers.get('x-costrouter-cache'), 'miss');
  const otherTenant = await r.chat(ask(RESET_PARAPHRASE), { key: KEYS.globex });
  assert.equal(otherTenant.headers.get('x-costrouter-cache'), 'miss', 'never another tenant\'s answer');
  const otherModel = await r.chat(ask(RESET_PARAPHRASE, { model: 'gpt-4o' }));
  assert.equal(otherModel.headers.get('x-costrouter-cache'), 'miss');
  // An alias is filed under its own name: it never shares entries with the model it serves.
  assert.equal((await r.chat(ask(RESET_PARAPHRASE, { model: 'fast' }))).headers.get('x-costrouter-cache'), 'miss');
  const withTools = ask(RESET_PARAPHRASE, { tools: [{ type: 'function', function: { name: 'lookup_account', parameters: { type: 'object', properties: {} } } }] });
  assert.equal((await r.chat(withTools)).headers.get('x-costrouter-cache'), 'miss', 'tools change the bucket');
  const withSystem = { ...ask(RESET_PARAPHRASE), messages: [{ role: 'system', content: 'Answer in French.' }, { role: 'user', content: RESET_PARAPHRASE }] };
  assert.equal((await r.chat(withSystem)).headers.get('x-costrouter-cache'), 'miss', 'a system prompt changes the bucket');

  const convo = (earlier, last) => ({ model: 'gpt-4o-mini', temperature: 0, messages: [
    { role: 'system', content: 'You are the support bot of Example Inc.' },
    { role: 'user', content: earlier },
    { role: 'assistant', content: 'Sure.' },
    { role: 'user', content: last },
  ] });
  assert.equal((await r.chat(convo('I use the mobile app.', RESET))).headers.get('x-costrouter-cache'), 'miss');
  await stored();
  const same = await r.chat(convo('I use the mobile app.', RESET_PARAPHRASE));
  assert.equal(same.headers.get('x-costrouter-cache'), 'hit-semantic', 'same earlier turns: a hit');
  const different = await r.chat(convo('I use the website.', RESET_PARAPHRASE));
  assert.equal(different.headers.get('x-costrouter-cache'), 'miss', 'a different earlier turn is a miss');
});

test('a semantic hit is replayed as a stream, and a streamed answer is cached once whole', async () => {
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'Plants turn light into sugar.', usage: { prompt_tokens: 10, completion_tokens: 6 } } });
  const streamed = await r.chat(ask('Can you explain how photosynthesis works?', { stream: true }));
  assert.equal(streamed.headers.get('x-costrouter-cache'), 'miss');
  await readSse(streamed);
  await stored();
  const before = chats();
  const replay = await r.chat(ask('Could you explain how photosynthesis works?', { stream: true }));
  assert.equal(replay.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.match(replay.headers.get('content-type'), /text\/event-stream/);
  const { data } = await readSse(replay);
  assert.equal(data.at(-1), '[DONE]');
  assert.equal(data.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), 'Plants turn light into sugar.');
  assert.equal(chats(), before);
  const plain = await r.chat(ask('Could you explain how photosynthesis works?'));
  assert.equal(plain.headers.get('x-costrouter-cache'), 'hit-semantic', 'and as JSON');
});

test('client controls: no-store bypasses, no-cache refreshes without reading', async () => {
  await r.chat(ask(RESET));
  await stored();
  const noStore = await r.chat(ask(RESET_PARAPHRASE), { headers: { 'cache-control': 'no-store' } });
  assert.equal(noStore.headers.get('x-costrouter-cache'), 'bypass');
  const noCache = await r.chat(ask(RESET_PARAPHRASE), { headers: { 'cache-control': 'no-cache' } });
  assert.equal(noCache.headers.get('x-costrouter-cache'), 'miss');
  const sampled = await r.chat(ask(RESET_PARAPHRASE, { temperature: 0.7 }));
  assert.equal(sampled.headers.get('x-costrouter-cache'), 'bypass', 'sampling requests are not cached unless opted in');
});

test('a route held to regions (data residency) neither reads nor writes either cache', async () => {
  // Both caches store outside any region: the Cache API of whichever location served, global KV,
  // and the tenant's Durable Object wherever it lives. An answer from the EU route is kept in none.
  const held = { headers: { 'x-costrouter-feature': 'eu-held' } };
  const kv = await r.mf.getKVNamespace('RESPONSE_CACHE');
  await stored();
  const keysBefore = (await kv.list()).keys.length;
  const before = chats();
  for (const text of [RESET, RESET, RESET_PARAPHRASE]) {
    const resp = await r.chat(ask(text), held);
    assert.equal(resp.status, 200, await resp.clone().text());
    assert.equal(resp.headers.get('x-costrouter-provider'), 'azure', 'served in the EU');
    assert.equal(resp.headers.get('x-costrouter-cache'), 'bypass', text);
    assert.match(resp.headers.get('x-costrouter-route-reason'), /regions eu; not cached: data residency/);
    const [event] = await eventOf(resp);
    assert.equal(event.cache, 'bypass');
    await resp.arrayBuffer();
    await stored();
  }
  assert.equal(chats() - before, 3, 'every request went to the provider: no exact, no semantic hit');
  assert.equal((await kv.list()).keys.length, keysBefore, 'nothing written to the global KV tier');
  // A stream is no different.
  const streamed = await r.chat(ask(RESET, { stream: true }), held);
  assert.equal(streamed.headers.get('x-costrouter-cache'), 'bypass');
  assert.ok((await readSse(streamed)).comments.some((c) => c.includes('"cache":"bypass"')));
  await stored();
  assert.equal((await kv.list()).keys.length, keysBefore);
});

test('with a provider embedder, vectors come from its embeddings endpoint', async () => {
  // The fake provider's embeddings are a hash of the text: only the same text is similar, so a
  // turn that differs from a cached one only in surrounding spaces (an exact-cache miss) is a
  // semantic hit, and the embeddings endpoint is what made it.
  const embeddings = () => r.upstream.requests().filter((q) => q.path.endsWith('/embeddings')).length;
  const before = embeddings();
  const first = await r.chat(ask('Where is my order?'), { key: KEYS.policyco });
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  await stored();
  const second = await r.chat(ask('  Where is my order?  '), { key: KEYS.policyco });
  assert.equal(second.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.equal(embeddings() - before, 2, 'one embedding per request');
  const other = await r.chat(ask('Where is my parcel?'), { key: KEYS.policyco });
  assert.equal(other.headers.get('x-costrouter-cache'), 'miss');
});

test("a provider embedder's vector is compared only with the same deployment's: one from a fallback to another model does not hit", async () => {
  const admin = (method, path, body) => fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal((await admin('PUT', '/admin/tenants/twospaces', { name: 'twospaces', plan: 'pro' })).status, 200);
  const key = (await (await admin('POST', '/admin/keys', { tenant_id: 'twospaces', name: 'test' })).json()).key;
  const first = await r.chat(ask('Where is my invoice?'), { key });
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  await first.arrayBuffer();
  await stored();
  // The same deployment: a hit (the spaces make it an exact-cache miss).
  const same = await r.chat(ask(' Where is my invoice? '), { key });
  assert.equal(same.headers.get('x-costrouter-cache'), 'hit-semantic');
  await same.arrayBuffer();
  // The first deployment fails: the vector comes from the other model, in another space.
  r.upstream.script({ provider: 'openai', model: 'emb-space-a', response: { status: 500 } });
  const other = await r.chat(ask('  Where is my invoice?  '), { key });
  assert.equal(other.status, 200, await other.clone().text());
  assert.equal(other.headers.get('x-costrouter-cache'), 'miss');
  assert.ok(r.upstream.requests().some((q) => q.path.endsWith('/embeddings') && q.body.model === 'emb-space-b'), 'embedded by the second deployment');
  await other.arrayBuffer();
});

test('a provider embedder outside the route\'s regions is not called: the text stays where the rule keeps it', async () => {
  // text-embedding-3-small is served only by the 'us' OpenAI provider; the rule holds the request
  // to 'eu', and so out of the caches altogether.
  const embeddings = () => r.upstream.requests().filter((q) => q.path.endsWith('/embeddings')).length;
  const before = embeddings();
  const resp = await r.chat(ask('Where is my EU order?'), { key: KEYS.policyco, headers: { 'x-costrouter-feature': 'eu-only' } });
  assert.equal(resp.status, 200, await resp.clone().text());
  assert.equal(resp.headers.get('x-costrouter-provider'), 'azure', 'served in the EU');
  assert.equal(resp.headers.get('x-costrouter-cache'), 'bypass');
  assert.equal(embeddings(), before, 'no embedding call to a US provider');
  await resp.arrayBuffer();
});

test("a provider embedder's call is charged to the request it looked up, hit or miss, and to the tenant's budget", async () => {
  const budget = await fetch(`${r.url}/admin/tenants/policyco/budgets`, {
    method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ budgets: [{ id: 'month', scope: { kind: 'tenant' }, window: 'monthly', hard_limit: '100' }] }),
  });
  assert.equal(budget.status, 200, await budget.text());
  const spent = async () => Number((await (await fetch(`${r.url}/v1/budgets`, { headers: { authorization: `Bearer ${KEYS.policyco}` } })).json()).states.month.spent);
  // The previous test's last requests settle up to 100 ms after their responses (group commit).
  await new Promise((res) => setTimeout(res, 300));
  const before = await spent();
  // 50,000 input tokens of text-embedding-3-small at $0.02/M: $0.001 per lookup.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', times: 2, response: { usage: { prompt_tokens: 50000, total_tokens: 50000 } } });
  const first = await r.chat(ask('What are your opening hours?'), { key: KEYS.policyco });
  const answer = await first.json();
  assert.equal(first.headers.get('x-costrouter-cache'), 'miss');
  // gpt-4o-mini at $0.15/M in and $0.60/M out, plus the lookup.
  const chatCost = (answer.usage.prompt_tokens * 0.15 + answer.usage.completion_tokens * 0.6) / 1e6;
  assert.ok(Math.abs(Number(first.headers.get('x-costrouter-cost-usd')) - (chatCost + 0.001)) < 1e-12, first.headers.get('x-costrouter-cost-usd'));
  assert.match(first.headers.get('x-costrouter-route-reason'), /besides this answer, \$0\.001 for calls it does not show \(a semantic cache lookup's embedding/);
  const [missEvent] = await eventOf(first);
  assert.ok(Math.abs(missEvent.cost_usd - (chatCost + 0.001)) < 1e-12);
  await stored();
  const hit = await r.chat(ask('  What are your opening hours?  '), { key: KEYS.policyco });
  assert.equal(hit.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.equal(hit.headers.get('x-costrouter-cost-usd'), '0.001');
  const [hitEvent] = await eventOf(hit);
  assert.equal(hitEvent.cost_usd, 0.001);
  // The hit reserved nothing, yet its lookup reaches the budget: the miss's cost plus 0.001.
  const expected = before + chatCost + 0.001 + 0.001;
  let seen;
  for (let i = 0; i < 100 && Math.abs((seen = await spent()) - expected) > 1e-12; i++) await new Promise((res) => setTimeout(res, 30));
  assert.ok(Math.abs(seen - expected) < 1e-12, `budget spent ${seen}, expected ${expected}`);

  // A request whose model then fails still paid for its lookup: its failure event and the budget say so.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { usage: { prompt_tokens: 50000, total_tokens: 50000 } } });
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { status: 400, message: 'bad request' } });
  const failed = await r.chat(ask('Do you ship to Norway?'), { key: KEYS.policyco });
  assert.equal(failed.status, 400, await failed.clone().text());
  const [failEvent] = await eventOf(failed);
  assert.equal(failEvent.cost_usd, 0.001, 'the lookup is in the failure event');
  for (let i = 0; i < 100 && Math.abs((seen = await spent()) - (expected + 0.001)) > 1e-12; i++) await new Promise((res) => setTimeout(res, 30));
  assert.ok(Math.abs(seen - (expected + 0.001)) < 1e-12, `budget spent ${seen}, expected ${expected + 0.001}`);
});

test("a provider embedder's refusal leaves the chat answer as it is: no wait the chat request did not meet", async () => {
  // Refused with a wait (which then holds the embedder), the lookup is skipped: the chat request
  // is answered by its model, and must not carry the embedder's retry-after or x-should-retry.
  r.upstream.script({ provider: 'openai', model: 'text-embedding-3-small', response: { status: 429, headers: { 'retry-after': '2' } } });
  for (const question of ['Do you deliver on Sundays?', 'Do you deliver on Mondays?']) {
    const resp = await r.chat(ask(question), { key: KEYS.policyco });
    assert.equal(resp.status, 200, await resp.clone().text());
    assert.equal(resp.headers.get('retry-after'), null, question);
    assert.equal(resp.headers.get('x-should-retry'), null, question);
    await resp.arrayBuffer();
  }
  // The embedder's hold ends before the tests after this one use it.
  await new Promise((res) => setTimeout(res, 2_100));
});

test('a refreshed answer (no-cache) replaces the old one for paraphrases too', async () => {
  // The `gpt4o` alias is a scope no other test here uses.
  const askFast = (text) => ({ ...ask(text), model: 'gpt4o' });
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { text: 'Old answer.' } });
  assert.equal((await r.chat(askFast(RESET))).headers.get('x-costrouter-cache'), 'miss');
  await stored();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { text: 'New answer.' } });
  const refreshed = await r.chat(askFast(RESET), { headers: { 'cache-control': 'no-cache' } });
  assert.equal(refreshed.headers.get('x-costrouter-cache'), 'miss');
  assert.equal((await refreshed.json()).choices[0].message.content, 'New answer.');
  await stored();
  const paraphrase = await r.chat(askFast(RESET_PARAPHRASE));
  assert.equal(paraphrase.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.equal((await paraphrase.json()).choices[0].message.content, 'New answer.', 'not the answer the refresh replaced');

  // A question whose similarity to itself, after quantization, is below 1 (0.9988 for this one):
  // the refresh still replaces its entry (with both kept, the older won the tie).
  const FRANCE = 'What is the capital of France?';
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { text: 'Old Paris.' } });
  assert.equal((await r.chat(askFast(FRANCE))).headers.get('x-costrouter-cache'), 'miss');
  await stored();
  r.upstream.script({ provider: 'openai', model: 'gpt-4o', response: { text: 'New Paris.' } });
  const again = await r.chat(askFast(FRANCE), { headers: { 'cache-control': 'no-cache' } });
  assert.equal((await again.json()).choices[0].message.content, 'New Paris.');
  await stored();
  // The same words in capitals: another exact key, the same vector.
  const shouted = await r.chat(askFast(FRANCE.toUpperCase()));
  assert.equal(shouted.headers.get('x-costrouter-cache'), 'hit-semantic');
  assert.equal((await shouted.json()).choices[0].message.content, 'New Paris.', 'not the answer the refresh replaced');
});

/** A tenant's SemanticCache object, called directly, with entries of `dims`-number vectors,
 * each in a bucket of its own (no entry replaces another as the same question). */
async function semanticObject(name, dims) {
  const ns = await r.mf.getDurableObjectNamespace('SEMANTIC_CACHE');
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  const vector = hex([...new Uint8Array(new Float32Array([1]).buffer), ...new Array(dims).fill(10)]);
  const guard = NO_WORDS_GUARD;
  const now = Math.floor(Date.now() / 1000);
  const bucket = (i) => hex([...new Uint8Array(new Uint32Array([i]).buffer), ...new Array(28).fill(7)]);
  const cache = ns.get(ns.idFromName(name));
  const call = async (op, body) => (await cache.fetch(`http://semantic/${op}`, { method: 'POST', body: JSON.stringify(body) })).json();
  const insert = (i) => call('insert', { bucket: bucket(i), vector, guard, answer: { i }, ttl_secs: 3600, now });
  return {
    insert,
    found: async (i) => (await call('lookup', { bucket: bucket(i), vector, guard, threshold: 0.9, now })).hit?.answer?.i,
    /** Entries 0 to count-1, none evicted. The first ten one at a time, so that they are the
     * oldest in that order (the tests evict them by age); the rest `batch` at once, whose order
     * among themselves the object may take as their bodies arrive. */
    fill: async (count, batch) => {
      for (let i = 0; i < Math.min(10, count); i++) {
        const one = await insert(i);
        assert.ok(one.stored && one.evicted === 0, JSON.stringify(one));
      }
      for (let next = 10; next < count; next += batch) {
        const some = await Promise.all(Array.from({ length: Math.min(batch, count - next) }, (_, k) => insert(next + k)));
        assert.ok(some.every((b) => b.stored && b.evicted === 0), JSON.stringify(some.find((b) => !b.stored || b.evicted)));
      }
    },
  };
}

test('a tenant keeps at most 10,000 entries: the oldest goes first, and a replaced entry takes no extra room', async () => {
  const { insert, found, fill } = await semanticObject('limit-test', 128);
  await fill(10_000, 50);
  const over = await insert(10_000);
  assert.deepEqual([over.stored, over.evicted], [true, 1]);
  assert.equal(await found(0), undefined, 'the oldest went');
  assert.deepEqual([await found(1), await found(10_000)], [1, 10_000]);
  // The same question stored again replaces its entry: still 10,000, nothing evicted.
  const replaced = await insert(5);
  assert.deepEqual([replaced.stored, replaced.evicted], [true, 0]);
  const next = await insert(10_001);
  assert.deepEqual([next.stored, next.evicted], [true, 1]);
  assert.equal(await found(1), undefined);
  assert.deepEqual([await found(2), await found(5), await found(10_001)], [2, 5, 10_001]);
});

test("a provider embedder's long vectors are kept fewer: 1,666 of 3,072 numbers", async () => {
  // Ten thousand of them, loaded when the object wakes, passed its 128 MB.
  const { insert, found, fill } = await semanticObject('long-vectors', 3072);
  await fill(1_666, 49);
  const over = await insert(1_666);
  assert.deepEqual([over.stored, over.evicted], [true, 1]);
  assert.equal(await found(0), undefined, 'the oldest went');
  assert.deepEqual([await found(1), await found(1_666)], [1, 1_666]);
});

test('expired entries are deleted by an alarm, without waiting for another insert', async () => {
  // Straight to the object: an entry can only expire in a test if it was stored "in the past"
  // (the shortest lifetime a policy allows is a minute). The object's lookups judge expiry by the
  // `now` they are sent, so a lookup dated at the store time still finds an entry that exists.
  const ns = await r.mf.getDurableObjectNamespace('SEMANTIC_CACHE');
  const cache = ns.get(ns.idFromName('sweep-test'));
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  const vector = hex([...new Uint8Array(new Float32Array([1]).buffer), ...new Array(128).fill(10)]);
  const guard = NO_WORDS_GUARD;
  const storedAt = Math.floor(Date.now() / 1000) - 700;
  const call = async (op, body) => (await cache.fetch(`http://semantic/${op}`, { method: 'POST', body: JSON.stringify(body) })).json();
  const entry = (fill, ttl_secs) => ({ bucket: hex(new Array(32).fill(fill)), vector, guard, answer: { fill }, ttl_secs, now: storedAt });
  // Expired 100 s ago by the clock, and one still live (an hour from its store time).
  assert.equal((await call('insert', entry(1, 600))).stored, true);
  assert.equal((await call('insert', entry(2, 3600))).stored, true);
  const lookup = (fill) => call('lookup', { bucket: hex(new Array(32).fill(fill)), vector, guard, threshold: 0.9, now: storedAt });
  const start = Date.now();
  while ((await lookup(1)).hit !== null) {
    assert.ok(Date.now() - start < 5000, 'the expired entry is still stored 5 s later');
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual((await lookup(2)).hit?.answer, { fill: 2 }, 'the live entry is kept');
});

test('a fresh answer to the same question replaces the stored one, though the embedder gave it another vector', async () => {
  // Straight to the object, as the worker stores: a provider embedder's vector for one text can
  // differ in its last bits from one call to the next, past what quantization lets a similarity
  // tell (scores about 0.999 against itself); the question's id (a hash of its text) does not.
  const ns = await r.mf.getDurableObjectNamespace('SEMANTIC_CACHE');
  const cache = ns.get(ns.idFromName('refresh-by-text'));
  const hex = (bytes) => Buffer.from(bytes).toString('hex');
  // Unit vectors (the scale makes the int8 values' norm 1), as an embedder's are.
  const unit = (values) => hex([...new Uint8Array(new Float32Array([1 / Math.hypot(...values)]).buffer), ...values]);
  const first = unit(new Array(128).fill(10));
  // The second call's vector: some numbers moved, similarity about 0.99.
  const second = unit([...new Array(112).fill(10), ...new Array(8).fill([14, 6]).flat()]);
  const guard = NO_WORDS_GUARD;
  const now = Math.floor(Date.now() / 1000);
  const bucket = hex(new Array(32).fill(7));
  const call = async (op, body) => (await cache.fetch(`http://semantic/${op}`, { method: 'POST', body: JSON.stringify(body) })).json();
  const insert = (vector, answer) => call('insert', { bucket, vector, guard, question: 'q-1', answer, ttl_secs: 3600, now });
  assert.equal((await insert(first, { v: 'old' })).stored, true);
  assert.equal((await insert(second, { v: 'new' })).stored, true);
  // Looked up by the first vector, the old answer would score higher than the new one: it is gone.
  const hit = await call('lookup', { bucket, vector: first, guard, threshold: 0.9, now });
  assert.deepEqual(hit.hit?.answer, { v: 'new' }, JSON.stringify(hit));
});
