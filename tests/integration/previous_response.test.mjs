// /v1/responses answers kept as turns: a later request continues the conversation by
// `previous_response_id` (the earlier turns' input and output read back, oldest first, before its
// own input; their instructions not carried over), whole and streamed, through the OpenAI Node
// SDK; and a kept response retrieved and deleted by id. What is not kept (`store: false`, another
// tenant, `responses.store_days = 0`, an expired earlier turn, a chain past the body limit) is
// refused with OpenAI's `previous_response_not_found` or a 404.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { startRouter, readSse, KEYS, ADMIN_TOKEN } from './harness.mjs';
import { STORE_NOTHING, LOOKUP_TOOLS, recordingAiSdk, responseItems, streamedToolCall, untilGone } from './response_store.mjs';


let r;
let client;
before(async () => {
  // `restricted` keeps nothing too, for the test that needs a tenant no request has told yet.
  r = await startRouter({ policies: { policyco: STORE_NOTHING, restricted: STORE_NOTHING } });
  client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEYS.acme, maxRetries: 0, timeout: 20000 });
});
after(async () => { await r?.close(); });
beforeEach(() => r.upstream.reset());

// Any method to a path of the router, with a tenant's key.
const send = (path, { method = 'GET', key = KEYS.acme, body } = {}) => fetch(`${r.url}${path}`, { method, body, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) } });
const respond = (body, options) => r.chat(body, { path: '/v1/responses', ...options });
const sentToProvider = () => r.upstream.requests().filter((q) => /chat\/completions$/.test(q.path)).map((q) => q.body);
// Each message sent to the provider as [role, its text] (text parts joined).
const text = (content) => (typeof content === 'string' ? content : Array.isArray(content) && content.every((p) => p.type === 'text') ? content.map((p) => p.text).join('') : JSON.stringify(content));
const turns = (sent) => sent.messages.map((m) => [m.role, text(m.content)]);

async function refused(body, status, options) {
  const resp = await respond(body, options);
  const json = await resp.json();
  assert.equal(resp.status, status, JSON.stringify(json));
  return json.error;
}

test('the OpenAI SDK continues a conversation by previous_response_id: the earlier turns come first, their instructions do not', async () => {
  const first = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'What is 2+2?' });
  assert.equal(first.store, true);
  const second = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'And 3+3?' });
  assert.equal(second.previous_response_id, first.id);
  const third = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'Answer in French.', previous_response_id: second.id, input: [{ role: 'user', content: 'And 4+4?' }] });
  assert.equal(third.status, 'completed');
  const sent = sentToProvider();
  assert.equal(sent.length, 3);
  assert.deepEqual(turns(sent[1]), [['user', 'What is 2+2?'], ['assistant', first.output_text], ['user', 'And 3+3?']]);
  assert.deepEqual(turns(sent[2]), [
    ['system', 'Answer in French.'],
    ['user', 'What is 2+2?'],
    ['assistant', first.output_text],
    ['user', 'And 3+3?'],
    ['assistant', second.output_text],
    ['user', 'And 4+4?'],
  ]);
});

test("the Vercel AI SDK's previousResponseId, whole and streamed: the new turn alone is sent, and the router puts the earlier ones before it", async () => {
  const { openai, sent } = recordingAiSdk(r, createOpenAI, KEYS.acme);
  for (const run of [generateText, streamText]) {
    sent.length = 0;
    r.upstream.reset();
    const first = await run({ model: openai('gpt-4o-mini'), prompt: 'My name is Ada.' });
    const responseId = (await first.providerMetadata).openai.responseId;
    assert.match(responseId, /^resp_/, run.name);
    const second = await run({ model: openai('gpt-4o-mini'), prompt: 'What is my name?', providerOptions: { openai: { previousResponseId: responseId } } });
    assert.match(await second.text, /What is my name\?/, run.name);
    assert.equal(sent[1].previous_response_id, responseId);
    assert.equal(sent[1].input.length, 1, `${run.name}: the SDK sends the new turn alone: ${JSON.stringify(sent[1].input)}`);
    const [, toProvider] = sentToProvider();
    assert.deepEqual(turns(toProvider), [['user', 'My name is Ada.'], ['assistant', await first.text], ['user', 'What is my name?']], run.name);
  }
});

test('a streamed answer is kept before its last event, and a tool loop continues by previous_response_id with the output alone', async () => {
  const { response, call } = await streamedToolCall(respond, readSse);
  r.upstream.reset();
  const next = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: response.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'Sunny' }], tools: LOOKUP_TOOLS });
  assert.equal(next.status, 'completed');
  const [sent] = sentToProvider();
  assert.deepEqual(sent.messages[0], { role: 'user', content: 'What is the weather in Paris?' });
  assert.deepEqual(sent.messages[1].tool_calls.map((c) => [c.id, c.function.name]), [[call.call_id, 'lookup']]);
  assert.deepEqual(sent.messages.at(-1), { role: 'tool', tool_call_id: call.call_id, content: 'Sunny' });
});

test("what is not kept is OpenAI's previous_response_not_found: store false, another tenant, store_days = 0, an unknown id", async () => {
  const notStored = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello', store: false });
  assert.equal(notStored.store, false);
  const kept = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello' });
  for (const [id, options] of [[notStored.id, {}], [kept.id, { key: KEYS.globex }], ['resp_unknown', {}]]) {
    const error = await refused({ model: 'gpt-4o-mini', previous_response_id: id, input: 'Again?' }, 400, options);
    assert.equal(error.code, 'previous_response_not_found');
    assert.equal(error.param, 'previous_response_id');
    assert.match(error.message, new RegExp(`^Previous response with id '${id}' not found: responses are kept only for this tenant`));
  }
  const error = await refused({ model: 'gpt-4o-mini', previous_response_id: kept.id, input: 'Again?' }, 400, { key: KEYS.policyco });
  assert.match(error.message, /store_days is 0/);
  const bad = await refused({ model: 'gpt-4o-mini', previous_response_id: 7, input: 'Again?' }, 400);
  assert.equal(bad.param, 'previous_response_id');
  // A parameter unknown to the API is told first, before anything named is looked for.
  for (const body of [{ previous_response_id: 'resp_stale' }, { input: [{ type: 'item_reference', id: 'msg_stale' }] }]) {
    const unknown = await refused({ model: 'gpt-4o-mini', input: 'x', ...body, messages: [] }, 400);
    assert.equal(unknown.code, 'unknown_parameter', JSON.stringify(body));
  }
  // The SDK's own error for it.
  await assert.rejects(client.responses.create({ model: 'gpt-4o-mini', previous_response_id: notStored.id, input: 'x' }), (e) => e.status === 400 && e.code === 'previous_response_not_found');
  assert.equal(sentToProvider().length, 2, 'no refused request reached a provider');
});

test('a kept response is retrieved and deleted by id through the SDK, by its own tenant only; then it is gone for every use', async () => {
  const created = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello' });
  const retrieved = await client.responses.retrieve(created.id);
  assert.deepEqual(retrieved, created);
  const bare = await send(`/responses/${created.id}`);
  assert.equal((await bare.json()).id, created.id, 'a client whose base URL is the bare host');
  const other = await send(`/v1/responses/${created.id}`, { key: KEYS.globex });
  assert.equal(other.status, 404, await other.text());
  const otherDelete = await send(`/v1/responses/${created.id}`, { method: 'DELETE', key: KEYS.globex });
  assert.equal(otherDelete.status, 404, 'another tenant cannot delete it');
  assert.deepEqual(await client.responses.retrieve(created.id), created, 'still kept');

  const deleted = await send(`/v1/responses/${created.id}`, { method: 'DELETE' });
  assert.deepEqual(await deleted.json(), { id: created.id, object: 'response', deleted: true });
  await assert.rejects(client.responses.retrieve(created.id), (e) => e.status === 404 && /not found/.test(e.message));
  const again = await send(`/v1/responses/${created.id}`, { method: 'DELETE' });
  assert.equal(again.status, 404);
  const error = await refused({ model: 'gpt-4o-mini', previous_response_id: created.id, input: 'Again?' }, 400);
  assert.equal(error.code, 'previous_response_not_found');
  const message = created.output.find((i) => i.type === 'message');
  const reference = await refused({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: message.id }] }, 400);
  assert.match(reference.message, /not found/, 'its output items are deleted with it');
});

test('other paths and methods under /v1/responses/ say what is served', async () => {
  const put = await send('/v1/responses/resp_abc', { method: 'PUT', body: '{}' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, DELETE');
  for (const path of ['/v1/responses/resp_abc/input_items', '/v1/responses/resp_abc/cancel', '/v1/responses/compact']) {
    const resp = await send(path, { method: path.endsWith('input_items') ? 'GET' : 'POST', body: path.endsWith('input_items') ? undefined : '{}' });
    const body = await resp.json();
    assert.equal(resp.status, 404, path);
    assert.match(body.error.message, /GET and DELETE \/v1\/responses\/\{id\}/, path);
  }
  const none = await send('/v1/responses/resp_never');
  assert.equal(none.status, 404);
  const long = await send(`/v1/responses/resp_${'x'.repeat(200)}`);
  assert.match((await long.json()).error.message, /is not served by this router/, 'an id past 128 characters is no response id');
  const preflight = await fetch(`${r.url}/v1/responses/resp_abc`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'DELETE' } });
  assert.match(preflight.headers.get('access-control-allow-methods'), /DELETE/, 'a browser may delete a response');
  assert.equal((await send('/v1/responses/resp_never', { key: KEYS.policyco })).status, 404, 'a tenant that keeps nothing has none');
});

const itemsObject = (name) => responseItems(r, name);

const turn = (id, previous_id, text) => ({
  id,
  previous_id,
  input: [{ type: 'message', role: 'user', content: `Q ${text}` }],
  response: { id, object: 'response', output: [{ type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: `A ${text}`, annotations: [] }] }] },
});

test('a chain read back through the object: whole, broken by an expired earlier turn, and held to the bytes the request has left', async () => {
  const call = await itemsObject('acme');
  const now = Math.floor(Date.now() / 1000);
  const month = 30 * 86_400;
  await call('put', { items: [], turn: turn('resp_old', null, 'old'), now: now - month - 60, lifetime_secs: month });
  await call('put', { items: [], turn: turn('resp_a', 'resp_old', 'a'), now, lifetime_secs: month });
  await call('put', { items: [], turn: turn('resp_root', null, 'root'), now, lifetime_secs: month });
  await call('put', { items: [], turn: turn('resp_b', 'resp_root', 'b'), now, lifetime_secs: month });
  const whole = await call('turns', { id: 'resp_b', now, lifetime_secs: month, max_bytes: 1e6 });
  assert.deepEqual(whole.turns.map(([input]) => JSON.parse(input)[0].content), ['Q root', 'Q b'], 'oldest first');
  assert.equal((await call('turns', { id: 'resp_b', now, lifetime_secs: month, max_bytes: 100 })).over, true);

  const served = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: 'resp_b', input: 'And?' });
  assert.equal(served.status, 'completed');
  assert.deepEqual(turns(sentToProvider()[0]), [['user', 'Q root'], ['assistant', 'A root'], ['user', 'Q b'], ['assistant', 'A b'], ['user', 'And?']]);

  const broken = await refused({ model: 'gpt-4o-mini', previous_response_id: 'resp_a', input: 'And?' }, 400);
  assert.equal(broken.code, 'previous_response_not_found');
  assert.match(broken.message, /it follows 'resp_old', which is no longer kept/);
});

test("the earlier turns count toward the request's body limit (MAX_BODY_BYTES, 256 KiB here): past it a 413", async () => {
  // Two answers of about 150 KB each, the second continuing the first.
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'word '.repeat(30_000) } });
  const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'Write at length' });
  const once = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Shorter?' });
  assert.equal(once.status, 'completed');
  r.upstream.script({ provider: 'openai', model: 'gpt-4o-mini', response: { text: 'word '.repeat(30_000) } });
  const second = await client.responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Again at length' });
  const over = await refused({ model: 'gpt-4o-mini', previous_response_id: second.id, input: 'Shorter?' }, 413);
  assert.equal(over.code, 'request_too_large');
  assert.match(over.message, /previous_response_id/);
});

test('an expired turn is swept by the alarm with the items', async () => {
  const call = await itemsObject('turn-sweep-test');
  const now = Math.floor(Date.now() / 1000);
  await call('put', { items: [['msg_resp_gone', { type: 'message', id: 'msg_resp_gone' }]], turn: turn('resp_gone', null, 'gone'), now: now - 70, lifetime_secs: 60 });
  assert.equal((await call('turns', { id: 'resp_gone', now, lifetime_secs: 60, max_bytes: 1e6 })).missing, 'resp_gone', 'an expired turn is not found');
  // A read dated before it expired, saying no lifetime, finds it for as long as it is stored.
  await untilGone(async () => (await call('turns', { id: 'resp_gone', now: now - 65, max_bytes: 1e6 })).turns, 'the expired turn is still stored 5 s later');
  assert.equal((await call('response', { id: 'resp_gone', now: now - 65 })).response, null);
});

test("store_days = 0: a tenant's first call being a retrieval still tells its object to sweep the turns it holds", async () => {
  const call = await itemsObject('restricted');
  const now = Math.floor(Date.now() / 1000);
  await call('put', { items: [], turn: turn('resp_before', null, 'before'), now: now - 60, lifetime_secs: 30 * 86_400 });
  const resp = await send('/v1/responses/resp_before', { key: KEYS.restricted });
  assert.equal(resp.status, 404, 'a tenant that keeps nothing has nothing to retrieve');
  await untilGone(async () => (await call('turns', { id: 'resp_before', now: now - 50, max_bytes: 1e6 })).turns, 'the turn is still stored 5 s after the tenant kept nothing');
});

test('a turn larger than a row holds (an image in its input) is kept in pieces and read back whole', async () => {
  const call = await itemsObject('large-turn-test');
  const now = Math.floor(Date.now() / 1000);
  const image = `data:image/png;base64,${'iVBORw0KGgo'.repeat(250_000)}`; // ~2.75 MB: past a 2 MB row
  const big = turn('resp_big', null, 'big');
  big.input[0].content = [{ type: 'input_image', image_url: image }];
  await call('put', { items: [], turn: big, now, lifetime_secs: 86_400 });
  const chain = await call('turns', { id: 'resp_big', now, lifetime_secs: 86_400, max_bytes: 5e6 });
  assert.equal(chain.turns.length, 1, JSON.stringify(chain).slice(0, 300));
  assert.deepEqual(JSON.parse(chain.turns[0][0]), big.input);
  assert.deepEqual(JSON.parse(chain.turns[0][1]), big.response.output);
  assert.equal((await call('turns', { id: 'resp_big', now, lifetime_secs: 86_400, max_bytes: 2e6 })).over, true);
});

test("deleting a tenant deletes its kept answers (they hold its prompts) rather than leaving them to expire", async () => {
  const admin = (method, path, body) => fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.equal((await admin('PUT', '/admin/tenants/leaving', { name: 'leaving', plan: 'pro' })).status, 200);
  const { key } = await (await admin('POST', '/admin/keys', { tenant_id: 'leaving', name: 'test' })).json();
  const kept = await (await respond({ model: 'gpt-4o-mini', input: 'My secret plan' }, { key })).json();
  assert.equal(kept.store, true, JSON.stringify(kept));
  const call = await itemsObject('leaving');
  const now = Math.floor(Date.now() / 1000);
  const stored = () => call('turns', { id: kept.id, now, max_bytes: 1e6 }).then((c) => c.turns);
  assert.equal((await stored()).length, 1);
  const deleted = await admin('DELETE', '/admin/tenants/leaving');
  assert.equal(deleted.status, 200, await deleted.clone().text());
  assert.match((await deleted.json()).note, /kept Responses answers are being deleted/);
  await untilGone(stored, "the deleted tenant's turn is still stored 5 s later");
  // An answer that ends after the delete (a stream begun before it; a key a stale cache still
  // honours) says a lifetime again: nothing is kept, nor found.
  const late = turn('resp_late', null, 'late');
  assert.deepEqual(await call('put', { items: [['msg_late', { type: 'message', id: 'msg_late' }]], turn: late, now, lifetime_secs: 30 * 86_400 }), { kept: false });
  assert.equal((await call('turns', { id: 'resp_late', now, lifetime_secs: 30 * 86_400, max_bytes: 1e6 })).missing, 'resp_late');
  assert.deepEqual((await call('get', { ids: ['msg_late'], now, lifetime_secs: 30 * 86_400, max_bytes: 1e6 })).items, {});
});
