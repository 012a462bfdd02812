// What the tests of /v1/responses' kept answers share (stored_items, previous_response): a
// policy that keeps nothing, a tenant's ResponseItems object called straight, and a poll for
// what its alarm sweeps.
import assert from 'node:assert/strict';

export const STORE_NOTHING = `
version = 1
name = "no-store"

[responses]
store_days = 0

[[rules]]
name = "requested"
route = { strategy = "requested" }
`;

/**
 * The ResponseItems object of tenant `name` in router `r`, called straight (to keep things "in
 * the past", or read them as of a moment): `call(op, body)` checks the answer is a 200 and
 * returns its JSON, or its text when it is none.
 */
export async function responseItems(r, name) {
  const ns = await r.mf.getDurableObjectNamespace('RESPONSE_ITEMS');
  const items = ns.get(ns.idFromName(name));
  return async (op, body) => {
    const resp = await items.fetch(`http://response-items/${op}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await resp.text();
    assert.equal(resp.status, 200, text);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
}

/** Polls `read` until the list it gives is empty, failing with `what` after 5 s. */
export async function untilGone(read, what) {
  const start = Date.now();
  while ((await read()).length > 0) {
    assert.ok(Date.now() - start < 5000, what);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** A function tool the fake provider calls when asked about the weather. */
export const LOOKUP_TOOLS = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];

/**
 * Asks `respond` (a /v1/responses caller) about the weather, streamed, with the lookup tool:
 * the `response.completed` event's response, and the function call it holds.
 */
export async function streamedToolCall(respond, readSse) {
  const resp = await respond({ model: 'gpt-4o-mini', input: 'What is the weather in Paris?', stream: true, tools: LOOKUP_TOOLS });
  assert.equal(resp.status, 200);
  const { data } = await readSse(resp);
  const done = data.find((e) => e?.type === 'response.completed');
  assert.ok(done, JSON.stringify(data));
  const call = done.response.output.find((i) => i.type === 'function_call');
  assert.ok(call, JSON.stringify(done.response.output));
  return { response: done.response, call };
}

/**
 * The Vercel AI SDK's OpenAI provider pointed at router `r` with `key`, unmodified but for a
 * fetch that records each body it sends (`sent`, in order).
 */
export function recordingAiSdk(r, createOpenAI, key) {
  const sent = [];
  const openai = createOpenAI({
    baseURL: `${r.url}/v1`,
    apiKey: key,
    fetch: async (url, init) => {
      sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  return { openai, sent };
}
