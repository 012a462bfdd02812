// /v1/responses answers' output items kept per tenant and named by reference in a later request
// (`{"type": "item_reference", "id": ...}`), as the Vercel AI SDK sends earlier turns by default
// (`store` unset, so true): whole and streamed, each answer's items kept before its last bytes;
// `store: false`, another tenant, a policy's `responses.store_days = 0` and a route held to
// regions keep nothing.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, tool, stepCountIs, jsonSchema } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { startRouter, readSse, KEYS } from './harness.mjs';
import { STORE_NOTHING, LOOKUP_TOOLS, recordingAiSdk, responseItems, streamedToolCall, untilGone } from './response_store.mjs';


const ACME = `
version = 1
name = "acme"

[[rules]]
name = "eu"
when = { feature = ["eu"] }
route = { strategy = "fallback", candidates = ["gpt-4o-mini"], regions = ["eu"] }

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

let r;
// `restricted` keeps nothing too, for the one test that needs a tenant no request has told yet.
before(async () => { r = await startRouter({ policies: { acme: ACME, policyco: STORE_NOTHING, restricted: STORE_NOTHING } }); });
after(async () => { await r?.close(); });
beforeEach(() => r.upstream.reset());

const respond = (body, options) => r.chat(body, { path: '/v1/responses', ...options });
const sentToProvider = () => r.upstream.requests().filter((q) => /chat\/completions$|\/messages$/.test(q.path)).map((q) => q.body);

async function answered(body, options) {
  const resp = await respond(body, options);
  const json = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(json));
  return json;
}

test('a whole answer is stored by default and its message named by reference is sent as the assistant turn', async () => {
  const first = await answered({ model: 'gpt-4o-mini', input: 'Say hello' });
  assert.equal(first.store, true);
  const message = first.output.find((i) => i.type === 'message');
  assert.match(message.id, /^msg_/);
  r.upstream.reset();
  const next = await answered({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'Say hello' }, { type: 'item_reference', id: message.id }, { role: 'user', content: 'Again?' }] });
  assert.equal(next.status, 'completed');
  const [sent] = sentToProvider();
  assert.deepEqual(sent.messages.map((m) => [m.role, m.content]), [['user', 'Say hello'], ['assistant', message.content[0].text], ['user', 'Again?']]);
});

test('a streamed answer is stored before its last event: the next request names its items at once, its tool call too', async () => {
  const { response, call } = await streamedToolCall(respond, readSse);
  assert.equal(response.store, true);
  r.upstream.reset();
  // AI SDK 5 names its function calls by reference too.
  const next = await answered({
    model: 'gpt-4o-mini',
    input: [{ role: 'user', content: 'What is the weather in Paris?' }, ...response.output.map((i) => ({ type: 'item_reference', id: i.id })), { type: 'function_call_output', call_id: call.call_id, output: 'found' }],
    tools: LOOKUP_TOOLS,
  });
  assert.equal(next.status, 'completed');
  const [sent] = sentToProvider();
  const assistant = sent.messages.find((m) => m.role === 'assistant');
  assert.deepEqual(assistant.tool_calls.map((c) => [c.id, c.function.name, c.function.arguments]), [[call.call_id, 'lookup', '{"city":"Paris"}']]);
  assert.deepEqual(sent.messages.at(-1), { role: 'tool', tool_call_id: call.call_id, content: 'found' });
});

test('the Vercel AI SDK as it comes (6, store unset): a tool loop, then a second turn naming the earlier answer by reference, whole and streamed', async () => {
  const { openai, sent } = recordingAiSdk(r, createOpenAI, KEYS.acme);
  const weather = tool({
    description: 'The weather in a city',
    inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
    execute: async ({ city }) => `Sunny in ${city}`,
  });
  const references = (body) => body.input.filter((i) => i.type === 'item_reference').map((i) => i.id);
  for (const run of [generateText, streamText]) {
    sent.length = 0;
    // The fake provider calls the tool when asked about the weather, and answers once it has the result.
    const first = await run({ model: openai('gpt-4o-mini'), tools: { weather }, stopWhen: stepCountIs(3), prompt: 'What is the weather in Paris?' });
    const steps = await first.steps;
    assert.equal(steps.length, 2, `${run.name}: a tool call, then the answer`);
    assert.equal(steps[0].toolCalls[0].toolName, 'weather');
    assert.match(await first.text, /./);
    assert.equal(sent.length, 2);
    assert.equal(sent[0].store, undefined, 'the SDK leaves store unset');
    // AI SDK 6 sends its own function calls whole (AI SDK 5 named them by reference too: see the
    // streamed test above); text and reasoning it names.
    assert.deepEqual(references(sent[1]), [], JSON.stringify(sent[1].input));

    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }, ...(await first.response).messages, { role: 'user', content: 'Thanks. And tomorrow?' }];
    const second = await run({ model: openai('gpt-4o-mini'), tools: { weather }, messages });
    assert.match(await second.text, /./, `${run.name}: the second turn is answered`);
    assert.equal(sent.length, 3);
    const answerId = (await first.response).messages.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((p) => p.type === 'text').providerOptions.openai.itemId;
    assert.match(answerId, /^msg_/);
    assert.deepEqual(references(sent[2]), [answerId], `${run.name}: the second turn names the earlier answer by reference: ${JSON.stringify(sent[2].input)}`);
  }
});

test('store: false keeps nothing, and a reference to what was not kept is a 400 naming the item', async () => {
  const first = await answered({ model: 'gpt-4o-mini', input: 'Say hello', store: false });
  assert.equal(first.store, false);
  const id = first.output.find((i) => i.type === 'message').id;
  const resp = await respond({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id }, { role: 'user', content: 'Again?' }] });
  const body = await resp.json();
  assert.equal(resp.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, 'input[0]');
  assert.match(body.error.message, new RegExp(`Item with id '${id}' not found`));
  assert.equal(sentToProvider().length, 1, 'only the first request reached a provider');
});

test("one tenant's items are not found by another", async () => {
  const first = await answered({ model: 'gpt-4o-mini', input: 'Say hello' });
  const id = first.output.find((i) => i.type === 'message').id;
  const resp = await respond({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id }, { role: 'user', content: 'Again?' }] }, { key: KEYS.globex });
  const body = await resp.json();
  assert.equal(resp.status, 400, JSON.stringify(body));
  assert.match(body.error.message, /not found/);
});

test('a policy with responses.store_days = 0 keeps nothing and refuses references, saying how to send the items instead', async () => {
  const first = await answered({ model: 'gpt-4o-mini', input: 'Say hello' }, { key: KEYS.policyco });
  assert.equal(first.store, false);
  const resp = await respond({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: 'msg_anything' }] }, { key: KEYS.policyco });
  const body = await resp.json();
  assert.equal(resp.status, 400, JSON.stringify(body));
  assert.match(body.error.message, /store_days is 0.*store' to false/);
});

test('an answer on a route held to regions is kept nowhere: its response says store false', async () => {
  const first = await answered({ model: 'gpt-4o-mini', input: 'Say hello' }, { headers: { 'x-costrouter-feature': 'eu' } });
  assert.equal(first.store, false);
  const id = first.output.find((i) => i.type === 'message').id;
  const resp = await respond({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id }] });
  assert.equal(resp.status, 400, await resp.text());
});

test("the items a request names count toward its body limit (the router's MAX_BODY_BYTES, 256 KiB here): past it a 413", async () => {
  // Two answers of about 150 KB each.
  const longAnswer = async () => {
    r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'word '.repeat(30_000) } });
    const long = await answered({ model: 'gpt-4o-mini', input: 'Write at length' });
    return { type: 'item_reference', id: long.output.find((i) => i.type === 'message').id };
  };
  const [first, second] = [await longAnswer(), await longAnswer()];
  const ask = (...refs) => respond({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'Write at length' }, ...refs, { role: 'user', content: 'Shorter?' }] });
  const once = await ask(first);
  assert.equal(once.status, 200, await once.text());
  // Each reference is a copy of its item in the request: the same one twice is over too.
  for (const refs of [[first, second], [first, first]]) {
    const over = await ask(...refs);
    const refused = await over.json();
    assert.equal(over.status, 413, JSON.stringify(refused));
    assert.equal(refused.error.code, 'request_too_large');
    assert.match(refused.error.message, /by reference/);
  }
});

test('references without a usable id are 400s by place, and a body naming nothing by reference is served as before', async () => {
  for (const [reference, param] of [[{ type: 'item_reference' }, 'input[1].id'], [{ type: 'item_reference', id: 7 }, 'input[1].id'], [{ type: 'item_reference', id: '' }, 'input[1].id']]) {
    const resp = await respond({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'hi' }, reference] });
    const body = await resp.json();
    assert.equal(resp.status, 400, JSON.stringify(body));
    assert.equal(body.error.param, param);
  }
  // The words alone, in a prompt, are no reference.
  const plain = await answered({ model: 'gpt-4o-mini', input: 'What is an item_reference?' });
  assert.equal(plain.status, 'completed');
});

// A tenant's ResponseItems object, called straight: `found(ids, now, lifetime_secs)` lists the
// ids a read finds (a read without a lifetime uses the object's and changes nothing).
async function itemsObject(name) {
  const call = await responseItems(r, name);
  const found = async (ids, now, lifetime_secs) => Object.keys((await call('get', { ids, now, lifetime_secs, max_bytes: 1e6 })).items);
  return { call, found };
}

test('expired items are not found, and an alarm deletes them without waiting for another write', async () => {
  // Straight to the object: an item can only expire in a test if it was kept "in the past" (a
  // policy keeps them a day at the least). Reads judge expiry by the `now` they are sent.
  const { call, found } = await itemsObject('sweep-test');
  const now = Math.floor(Date.now() / 1000);
  const day = 86_400;
  await call('put', { items: [['msg_gone', { type: 'message', id: 'msg_gone' }]], now: now - 70, lifetime_secs: 60 });
  await call('put', { items: [['msg_live', { type: 'message', id: 'msg_live' }]], now, lifetime_secs: day });
  assert.deepEqual(await found(['msg_gone', 'msg_live'], now, day), ['msg_live'], 'an expired item is not found');
  await untilGone(() => found(['msg_gone'], now - 65, day), 'the expired item is still stored 5 s later');
  const live = await call('get', { ids: ['msg_live'], now, lifetime_secs: day, max_bytes: 1e6 });
  assert.deepEqual(live, { items: { msg_live: JSON.stringify({ type: 'message', id: 'msg_live' }) }, over: false }, 'the live item is kept');
  assert.equal((await call('get', { ids: ['msg_live'], now, lifetime_secs: day, max_bytes: 10 })).over, true, 'more bytes than the request may hold');
});

test('a lowered store_days holds at once: older items are not found, and the alarm sweeps them', async () => {
  const { call, found } = await itemsObject('lowered-test');
  const now = Math.floor(Date.now() / 1000);
  const [day, keptAt] = [86_400, now - 2 * 86_400];
  // Kept two days ago for thirty days.
  await call('put', { items: [['msg_old', { type: 'message', id: 'msg_old' }]], now: keptAt, lifetime_secs: 30 * day });
  assert.deepEqual(await found(['msg_old'], now, 30 * day), ['msg_old']);
  assert.deepEqual(await found(['msg_old'], now, day), [], 'not found once the tenant keeps items a day');
  // Still stored, as a read dated when it was kept sees, until the sweep the lowered lifetime set.
  await untilGone(() => found(['msg_old'], keptAt + 10), 'the item a day no longer covers is still stored 5 s later');
});

test("store_days = 0: the tenant's object is told once and sweeps what it held", async () => {
  const { call, found } = await itemsObject('restricted');
  const now = Math.floor(Date.now() / 1000);
  // Items kept before the policy said 0 (put straight into the tenant's object).
  await call('put', { items: [['msg_before', { type: 'message', id: 'msg_before' }]], now: now - 60, lifetime_secs: 30 * 86_400 });
  assert.deepEqual(await found(['msg_before'], now - 50, 30 * 86_400), ['msg_before']);
  await answered({ model: 'fast', input: 'Say hello' }, { key: KEYS.restricted });
  // A read dated before the item was kept that says no lifetime finds it for as long as it is stored.
  await untilGone(() => found(['msg_before'], now - 100), 'the item is still stored 5 s after the tenant kept nothing');
});
