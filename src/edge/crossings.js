// Work that costs many calls from wasm into JS when done through workers-rs, done here in one.
// Each call from wasm into a runtime API costs argument conversion both ways (UTF-8 to UTF-16
// strings, handle tables) on top of the API itself; per proxied request they added up to a
// large share of the worker's CPU. Rust decides everything; this file only carries it out.

// "name\nvalue\nname\nvalue..." (the Rust side never passes a newline inside a name or value)
// as a Headers object.
export function headersFromLines(lines) {
  const headers = new Headers();
  if (lines.length > 0) {
    const parts = lines.split('\n');
    for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
  }
  return headers;
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
//   ["timeout"]                                    no response headers within `timeoutMs`
//   ["network", message]                           refused, reset, DNS: the provider never answered
//   ["stream", status, contentType, ReadableStream] `wantStream` and a 2xx answer
//   ["whole", status, contentType, Uint8Array | null] the whole body; null if it broke off mid-way
export async function upstreamFetch(url, headerLines, body, timeoutMs, wantStream) {
  const headers = headersFromLines(headerLines);
  const payload = body.slice();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  let response;
  try {
    response = await fetch(url, { method: 'POST', headers, body: payload, signal: controller.signal });
  } catch (e) {
    return timedOut ? ['timeout'] : ['network', String((e && e.message) || e)];
  } finally {
    // The limit is on the response headers only: a stream may then run as long as it needs.
    clearTimeout(timer);
  }
  const contentType = response.headers.get('content-type');
  if (wantStream && response.status >= 200 && response.status < 300 && response.body) {
    return ['stream', response.status, contentType, response.body];
  }
  let bytes = null;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch {
    // The connection broke while the body was being read.
  }
  return ['whole', response.status, contentType, bytes];
}

// Whether the rate-limiting binding `limiter` lets one more call under `key` through. True when
// no such binding is configured: callers document what then goes unlimited.
export async function rateLimitAllows(limiter, key) {
  if (limiter == null || typeof limiter.limit !== 'function') return true;
  const outcome = await limiter.limit({ key });
  return outcome.success === true;
}
