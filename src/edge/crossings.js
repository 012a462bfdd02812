// Work that costs many calls from wasm into JS when done through workers-rs, done here in one.
// Each call from wasm into a runtime API costs argument conversion both ways (UTF-8 to UTF-16
// strings, handle tables) on top of the API itself; per proxied request they added up to a
// large share of the worker's CPU. Rust decides everything; this file only carries it out.

// wasm-bindgen-futures wakes the Rust futures with a microtask it queues through the global
// `queueMicrotask`, three to four times per proxied request. workerd's `queueMicrotask` wraps every
// callback in a new native function object (to report a throw and carry the async context), which
// the garbage collector must later find and finalize; a profile of the router under load shows
// that wrapping and its clean-up, and finalizing such native objects is what the runtime's
// longest pauses are made of. A settled promise's `then` runs the callback in the same microtask
// checkpoint with no native object at all. Nothing in this worker uses async context. A throw
// (a trap in the wasm) is handed to the runtime's own queueMicrotask to rethrow, so it is reported
// as before, as an `error` event, which workers-rs' glue listens to for its recovery.
const runtimeQueueMicrotask = globalThis.queueMicrotask;
const settled = Promise.resolve();
globalThis.queueMicrotask = (callback) => {
  settled.then(() => {
    try {
      callback();
    } catch (error) {
      runtimeQueueMicrotask(() => {
        throw error;
      });
    }
  });
};

// Calls `visit(name, value)` for each pair of "name\nvalue\nname\nvalue..." (the Rust side never
// passes a newline inside a name or value).
function forEachLinePair(lines, visit) {
  if (lines.length === 0) return;
  const parts = lines.split('\n');
  for (let i = 0; i + 1 < parts.length; i += 2) visit(parts[i], parts[i + 1]);
}

// The lines as a plain object, a later value replacing an earlier one of the same name. `fetch`
// takes it as it takes a Headers object, without one of ours for it to copy and discard. Measured
// in workerd (Request construction with two headers): a plain object 6.5-7 us, a Headers object
// filled with `set` 8-9 us, [name, value] pairs 10-17 us (the runtime converts nested arrays slowly).
function recordFromLines(lines) {
  const record = {};
  forEachLinePair(lines, (name, value) => {
    record[name] = value;
  });
  return record;
}

// The lines as a Headers object. Filled with `set`: the Headers constructor is 4-5 times slower
// with pairs, and slower with a plain object too (measured in workerd, 3 and 12 headers).
export function headersFromLines(lines) {
  const headers = new Headers();
  forEachLinePair(lines, (name, value) => headers.set(name, value));
  return headers;
}

// The values of the named headers ("name\nname..."), read in one call: for each name, "=value"
// when the header is present and "" when it is not, joined by "\n" (a header value never holds
// a line break).
export function headerValues(headers, names) {
  return names
    .split('\n')
    .map((name) => {
      const value = headers.get(name);
      return value === null ? '' : '=' + value;
    })
    .join('\n');
}

// One provider call: build the request, fetch it with a time limit on
// the response headers, and (unless a stream is wanted) read the whole body. Doing this from Rust
// through workers-rs took about twenty JS calls per request (a Headers object filled one header
// at a time, a RequestInit, a Request, an AbortController, a timer, a conversion of the answer
// that reads its headers, status, cf and webSocket, a Response wrapped around the body to read
// it).
//
// `headerLines` as for headersFromLines (the Rust side refuses names or values holding a
// newline). `body` is a view into wasm memory, so it is copied before anything can await.
//
// Answers one of:
//   ["timeout", refused]                           no response headers within `timeoutMs`, or no
//                                                  whole body (`refused`: its status was 3xx-5xx)
//   ["abandoned", sent, refused]                   the client had left: before the call (`sent`
//                                                  false: nothing was sent), or `abandonAfterMs`
//                                                  before an answer came (the call is cancelled;
//                                                  `refused` as for a timeout)
//   ["network", message]                           refused, reset, DNS: the provider never answered
//   ["stream", status, contentType, ReadableStream, null] `wantStream` and a 2xx answer
//   ["whole", status, contentType, Uint8Array | null, retryAfter] the whole body; null if it broke
//                                                  off mid-way; retryAfter: milliseconds a refusing
//                                                  provider asked to wait (retry-after-ms /
//                                                  retry-after), or null
// `retry-after-ms` (OpenAI, Azure) or `retry-after` in seconds; an HTTP date or anything
// unreadable is none.
function retryAfterMs(headers) {
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const s = Number(headers.get('retry-after'));
  return headers.get('retry-after') !== null && Number.isFinite(s) && s >= 0 ? s * 1000 : null;
}

export async function upstreamFetch(url, headerLines, body, timeoutMs, wantStream, clientSignal, abandonAfterMs) {
  // Nobody will read an answer to a client already gone, and a call started now could outlive
  // the runtime's grace, unbilled: it is not made.
  if (clientSignal.aborted) return ['abandoned', false];
  const headers = recordFromLines(headerLines);
  const payload = body.slice();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  // The request is served inside waitUntil, which the runtime ends 30 s after the client has
  // gone: an answer still awaited then would be lost unbilled. So a call still waiting
  // `abandonAfterMs` after the client left is cancelled, and the caller bills it while it can.
  let abandoned = false;
  let abandonTimer = null;
  const abandon = () => {
    abandonTimer = setTimeout(() => {
      abandoned = true;
      controller.abort();
    }, abandonAfterMs);
  };
  clientSignal.addEventListener('abort', abandon, { once: true });
  const stopWatching = () => {
    clientSignal.removeEventListener('abort', abandon);
    if (abandonTimer !== null) clearTimeout(abandonTimer);
  };
  let response;
  try {
    // Never follow a redirect: the provider key headers (x-api-key, api-key, x-goog-api-key)
    // and the prompt would go wherever it points. A 3xx is a failed call like a 5xx.
    response = await fetch(url, { method: 'POST', headers, body: payload, signal: controller.signal, redirect: 'manual' });
  } catch (e) {
    clearTimeout(timer);
    stopWatching();
    if (abandoned) return ['abandoned', true, false];
    return timedOut ? ['timeout', false] : ['network', String((e && e.message) || e)];
  }
  const contentType = response.headers.get('content-type');
  // A refusal (3xx-5xx) whose body never came is not an answer the provider bills: a timeout or
  // an abandon while reading it says so.
  const refused = response.status >= 300;
  // How long a provider asks to be left alone (429, 503): passed on to the client.
  const retryAfter = response.status >= 400 ? retryAfterMs(response.headers) : null;
  if (wantStream && response.status >= 200 && response.status < 300 && response.body) {
    // The limit is on a stream's response headers only: it may then run as long as it needs,
    // watched by its own reader (a client that leaves cancels it).
    clearTimeout(timer);
    stopWatching();
    return ['stream', response.status, contentType, response.body, null];
  }
  // A whole body (an answer, or an error's) is read within the same limit: a host that sends
  // its headers and never ends its body would otherwise hold the call (an alert run past its
  // acknowledgement, a request until its client gives up).
  let bytes = null;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch {
    // The connection broke while the body was being read (or the call timed out or was abandoned).
  }
  clearTimeout(timer);
  stopWatching();
  // An answer read whole before the timer's abort took hold is kept (and billed as it is).
  if (abandoned && bytes === null) return ['abandoned', true, refused];
  if (timedOut && bytes === null) return ['timeout', refused];
  return ['whole', response.status, contentType, bytes, retryAfter];
}

// Writes one Analytics Engine data point, `point` being the JSON of its
// `{"indexes": [...], "blobs": [...], "doubles": [...]}`: one call, where workers-rs' builder
// made about sixty (a string and an array push per field, the binding's type checked by name).
// False when `binding` names no dataset; throws what the dataset throws (a limit exceeded).
export function writeDataPoint(env, binding, point) {
  const dataset = env[binding];
  if (dataset == null || typeof dataset.writeDataPoint !== 'function') return false;
  dataset.writeDataPoint(JSON.parse(point));
  return true;
}

// The stub of the Durable Object named `name` in the namespace bound as `binding`, or null when
// no such binding exists.
export function durableObjectStub(env, binding, name) {
  const namespace = env[binding];
  if (namespace == null || typeof namespace.idFromName !== 'function') return null;
  return namespace.get(namespace.idFromName(name));
}

// One request to a Durable Object: a POST of `body` (a view into wasm memory, copied before
// anything can await), or a GET without one, and the answer's status and text read whole by
// the runtime. Answers [status, text]; rejects when the object cannot be reached.
// Through workers-rs this was a dozen calls, and its `Response::text` reads a body through a
// stream reader that it then releases: the Streams spec has `releaseLock` reject the reader's
// `closed` promise with a new TypeError, and capturing that error's stack walks the wasm frames
// (looking up each one's source position). Once per ledger call, that was 17% of the worker's
// thread in a profile under load (perf, workerd's own frames; the inspector's JS profile hides it).
export async function durableObjectCall(stub, url, body) {
  const init = body == null ? { method: 'GET' } : { method: 'POST', body: body.slice() };
  const response = await stub.fetch(url, init);
  return [response.status, await response.text()];
}

// Runs `work` (a ledger operation and all it writes, in Rust) as one transaction of the Durable
// Object's storage: stored whole, or not at all when `work` reports a failure or a write throws.
export function inTransaction(state, work) {
  state.storage.transactionSync(() => {
    if (!work()) throw new Error('the ledger operation failed; nothing of it was stored');
  });
}

// A key-value write through the synchronous API of a SQLite-backed Durable Object's storage (the
// asynchronous `put` cannot be part of a `transactionSync`); read back by the usual `get`.
export function kvPut(state, key, value) {
  state.storage.kv.put(key, value);
}

// A provider's event stream, read chunk by chunk. The reader is never released (see
// durableObjectCall for what a release costs): it ends with the stream, or is cancelled.
export function streamReader(stream) {
  return stream.getReader();
}

// The next chunk (a Uint8Array), or null once the stream has ended; rejects if it broke off.
export async function readChunk(reader) {
  const { done, value } = await reader.read();
  return done ? null : value;
}

// Stops reading a stream that has not ended, which cancels the call that feeds it.
export function cancelReader(reader) {
  reader.cancel().catch(() => {});
}

// The text of the location's cached response for `url`, or null when none is stored, read whole
// by the runtime (not through a stream reader: see durableObjectCall).
export async function cachedText(url) {
  const response = await caches.default.match(url, { ignoreMethod: true });
  return response === undefined ? null : await response.text();
}

// Whether the rate-limiting binding `limiter` lets one more call under `key` through. True when
// no such binding is configured: callers document what then goes unlimited.
export async function rateLimitAllows(limiter, key) {
  if (limiter == null || typeof limiter.limit !== 'function') return true;
  const outcome = await limiter.limit({ key });
  return outcome.success === true;
}
