// A corpus of malformed requests against the real worker, generated from tables. Each category
// is one test that sends every case and reports every case that failed, not just the first.
// Every case must be refused with a 4xx and an OpenAI-style error body
// (`{"error":{"message","type","param","code"}}` with a non-empty message, type and code), never
// a 5xx, and the worker must still serve a normal request after each category.
//
// Header values with CR, LF or NUL cannot be sent with fetch (undici refuses them client-side),
// so those go over raw `node:net` sockets, as do bodies whose framing fetch will not produce.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { startRouter, KEYS, ADMIN_TOKEN } from './harness.mjs';

let r;
// Cases checked for a 4xx in OpenAI's shape (runCases), and the others: refused by the HTTP
// layer before the worker (a plain-text 400), HEAD refused (a 405 has no body to check), and HEAD
// and split-header requests that are served.
const sent = { openaiShape: 0, protocol: 0, headRefused: 0, served: 0 };
before(async () => { r = await startRouter(); });
after(async () => {
  await r?.close();
  process.stdout.write(`# bad_input: ${sent.openaiShape} malformed requests refused in OpenAI's shape, ${sent.protocol} refused by the HTTP layer, ${sent.headRefused} HEAD refused (405, no body), ${sent.served} served\n`);
});

const LIMIT = 262144; // MAX_BODY_BYTES in the harness
const OK_BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const OK_TEXT = JSON.stringify(OK_BODY);

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/** A response reduced to what the checks read; `text` is the whole body. */
async function viaFetch(path, { method = 'POST', body, headers = {}, key = KEYS.acme, contentType = 'application/json', duplex } = {}) {
  const h = { ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  if (contentType !== null && body !== undefined) h['content-type'] = contentType;
  const init = { method, headers: h, body, signal: AbortSignal.timeout(15000) };
  if (duplex) init.duplex = duplex;
  const resp = await fetch(`${r.url}${path}`, init);
  const text = await resp.text();
  return { status: resp.status, contentType: resp.headers.get('content-type') ?? '', headers: resp.headers, text };
}

/** Strings, Buffers and streams are sent as they are; anything else as JSON. */
const asBody = (body) => (body === undefined || typeof body === 'string' || Buffer.isBuffer(body) || body instanceof ReadableStream ? body : JSON.stringify(body));
const chat = (body, opts = {}) => viaFetch('/v1/chat/completions', { body: asBody(body), ...opts });
const embed = (body, opts = {}) => viaFetch('/v1/embeddings', { body: asBody(body), ...opts });
const admin = (method, path, body, opts = {}) => viaFetch(path, { method, key: ADMIN_TOKEN, body: asBody(body), ...opts });

/**
 * Sends raw bytes over a fresh TCP connection and parses one HTTP/1.1 response (content-length
 * or chunked). `keepOpen` leaves the request unfinished: the response must come without it.
 */
function rawRequest(bytes, { timeoutMs = 10000 } = {}) {
  const u = new URL(r.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ status: 0, contentType: '', headers: new Map(), text: `no complete response within ${timeoutMs} ms: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}` }), timeoutMs);
    const tryParse = (ended) => {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return ended ? finish({ status: 0, contentType: '', headers: new Map(), text: `connection closed: ${JSON.stringify(buf.toString('latin1'))}` }) : undefined;
      const [statusLine, ...lines] = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const headers = new Map();
      for (const line of lines) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${line.slice(i + 1).trim()}` : line.slice(i + 1).trim());
      }
      const rest = buf.subarray(headEnd + 4);
      let body;
      if (headers.has('content-length')) {
        const len = Number(headers.get('content-length'));
        if (rest.length < len) return ended ? finish({ status, contentType: headers.get('content-type') ?? '', headers, text: rest.toString('utf8') }) : undefined;
        body = rest.subarray(0, len);
      } else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
        const parts = [];
        let at = 0;
        for (;;) {
          const eol = rest.indexOf('\r\n', at);
          if (eol < 0) return ended ? finish({ status, contentType: headers.get('content-type') ?? '', headers, text: Buffer.concat(parts).toString('utf8') }) : undefined;
          const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
          if (size === 0) break;
          if (rest.length < eol + 2 + size + 2) return ended ? finish({ status, contentType: headers.get('content-type') ?? '', headers, text: Buffer.concat(parts).toString('utf8') }) : undefined;
          parts.push(rest.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      } else {
        if (!ended) return undefined;
        body = rest;
      }
      return finish({ status, contentType: headers.get('content-type') ?? '', headers: { get: (n) => headers.get(n.toLowerCase()) ?? null, has: (n) => headers.has(n.toLowerCase()), keys: () => headers.keys() }, text: body.toString('utf8') });
    };
    socket.on('data', (c) => { buf = Buffer.concat([buf, c]); tryParse(false); });
    socket.on('end', () => tryParse(true));
    socket.on('error', () => tryParse(true));
    socket.on('connect', () => {
      for (const part of Array.isArray(bytes) ? bytes : [bytes]) socket.write(part);
    });
  });
}

/** A raw POST with the given extra header lines (already containing whatever bytes they carry). */
function rawPost(path, { headerLines = [], body = OK_TEXT, key = KEYS.acme } = {}) {
  const bodyBuf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: 127.0.0.1`,
    `Content-Type: application/json`,
    `Authorization: Bearer ${key}`,
    ...headerLines,
    `Content-Length: ${bodyBuf.length}`,
    `Connection: close`,
  ].join('\r\n');
  return rawRequest([Buffer.from(`${head}\r\n\r\n`, 'latin1'), bodyBuf]);
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

/** What is wrong with `resp` as a refusal, or null when it is a clean OpenAI-style 4xx. */
function problemWith(resp, expect = {}) {
  const shown = `${resp.status} ${resp.text.slice(0, 300)}`;
  if (resp.status >= 500) return `server error ${shown}`;
  if (resp.status < 400) return `not refused: ${shown}`;
  const wanted = expect.status === undefined ? null : [expect.status].flat();
  if (wanted && !wanted.includes(resp.status)) return `status ${resp.status}, wanted ${wanted.join(' or ')}: ${shown}`;
  if (!/^application\/json/.test(resp.contentType)) return `content-type '${resp.contentType}': ${shown}`;
  let body;
  try {
    body = JSON.parse(resp.text);
  } catch {
    return `body is not JSON: ${shown}`;
  }
  const e = body?.error;
  if (!e || typeof e !== 'object') return `no error object: ${shown}`;
  for (const field of ['message', 'type', 'code']) {
    if (typeof e[field] !== 'string' || e[field].length === 0) return `error.${field} is not a non-empty string: ${shown}`;
  }
  if (!('param' in e)) return `error.param missing: ${shown}`;
  if (expect.code && ![expect.code].flat().includes(e.code)) return `code '${e.code}', wanted ${[expect.code].flat().join(' or ')}: ${shown}`;
  if (expect.param !== undefined && e.param !== expect.param) return `param ${JSON.stringify(e.param)}, wanted ${JSON.stringify(expect.param)}: ${shown}`;
  return null;
}

/** Sends every case in order; fails once, listing every case that went wrong. */
async function runCases(cases) {
  assert.ok(cases.length > 0);
  const failures = [];
  for (const c of cases) {
    sent.openaiShape += 1;
    let problem;
    try {
      const resp = await c.send();
      problem = problemWith(resp, c.expect);
      if (!problem && c.check) problem = c.check(resp);
    } catch (err) {
      problem = `request threw: ${err?.cause?.message ?? err.message}`;
    }
    if (problem) failures.push(`  - ${c.name}: ${problem}`);
  }
  await assertStillServing();
  assert.equal(failures.length, 0, `${failures.length} of ${cases.length} cases failed:\n${failures.join('\n')}`);
  return cases.length;
}

async function assertStillServing() {
  const resp = await chat(OK_BODY);
  assert.equal(resp.status, 200, `the worker stopped serving: ${resp.status} ${resp.text.slice(0, 300)}`);
  assert.match(JSON.parse(resp.text).choices[0].message.content, /Hello from fake openai/);
}

/** A raw JSON value, spliced into a body as is (numbers JSON.stringify cannot produce). */
const raw = (text) => ({ raw: text });
const enc = (v) => (v && typeof v === 'object' && 'raw' in v && Object.keys(v).length === 1 ? v.raw : JSON.stringify(v));
const show = (v) => {
  const s = enc(v) ?? 'undefined';
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** The OK body with `field` set to `value` (raw JSON text allowed), as a string. */
function bodyWith(field, value, base = OK_BODY) {
  const rest = Object.fromEntries(Object.entries(base).filter(([k]) => k !== field));
  const text = JSON.stringify(rest);
  return `${text.slice(0, -1)},${JSON.stringify(field)}:${enc(value)}}`;
}

const msgBody = (message) => JSON.stringify({ model: 'gpt-4o-mini', messages: [message] });

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

test('broken JSON bodies are refused with 400 invalid_json', async () => {
  const valid = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.5}';
  const bodies = [];
  // Every truncation of a valid body.
  for (let cut = 1; cut < valid.length; cut += 1) bodies.push([`truncated at ${cut}`, valid.slice(0, cut)]);
  const deep = (n, open = '[', close = ']') => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${open.repeat(n)}"x"${close.repeat(n)}}]}`;
  const deepObj = (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`;
  bodies.push(
    ['trailing comma in object', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],}'],
    ['trailing comma in array', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"},]}'],
    ['trailing comma in message', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi",}]}'],
    ['NaN', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":NaN}'],
    ['Infinity', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":Infinity}'],
    ['-Infinity', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":-Infinity}'],
    ['undefined', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":undefined}'],
    ['line comment before', `// a comment\n${valid}`],
    ['block comment inside', '{/* c */"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'],
    ['trailing line comment', `${valid} // done`],
    ['hash comment', `# comment\n${valid}`],
    ['UTF-8 BOM', `\uFEFF${valid}`],
    ['single quotes', "{'model':'gpt-4o-mini','messages':[{'role':'user','content':'hi'}]}"],
    ['unquoted keys', '{model:"gpt-4o-mini",messages:[{role:"user",content:"hi"}]}'],
    ['hex number', bodyWith('seed', raw('0x10'))],
    ['leading zero', bodyWith('seed', raw('010'))],
    ['leading plus', bodyWith('temperature', raw('+1'))],
    ['bare decimal point', bodyWith('temperature', raw('.5'))],
    ['trailing decimal point', bodyWith('temperature', raw('1.'))],
    ['garbage after object', `${valid}x`],
    ['two objects', `${valid}${valid}`],
    ['object then array', `${valid}[]`],
    ['raw newline in string', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\nb"}]}'],
    ['raw tab in string', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\tb"}]}'],
    ['raw NUL in string', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a\u0000b"}]}'],
    ['NUL outside strings', `{"model":"gpt-4o-mini",\u0000"messages":[{"role":"user","content":"hi"}]}`],
    ['invalid escape \\x', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\\x41"}]}'],
    ['short unicode escape', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\\u12"}]}'],
    ['lone high surrogate escape', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\\ud800"}]}'],
    ['lone low surrogate escape', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\\udc00x"}]}'],
    ['missing colon', '{"model" "gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'],
    ['missing comma', '{"model":"gpt-4o-mini" "messages":[{"role":"user","content":"hi"}]}'],
    ['missing value', '{"model":,"messages":[{"role":"user","content":"hi"}]}'],
    ['missing key', '{:"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'],
    ['key without value', '{"model"}'],
    ['unterminated string', '{"model":"gpt-4o-mini,"messages":[]}'],
    ['mismatched brackets', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}}]'],
    ['extra closing brace', `${valid}}`],
    ['only an opening brace', '{'],
    ['only a closing brace', '}'],
    ['empty body', ''],
    ['whitespace body', ' \n\t\r '],
    ['null', 'null'],
    ['true', 'true'],
    ['number', '42'],
    ['string', '"gpt-4o-mini"'],
    ['array', '[]'],
    ['array of the body', `[${valid}]`],
    ['capitalised literal', bodyWith('stream', raw('True'))],
    ['python None', bodyWith('stream', raw('None'))],
    ['nesting 65 levels (arrays)', deep(65)],
    ['nesting 1000 levels (arrays)', deep(1000)],
    ['nesting 1000 levels (objects)', deepObj(1000)],
    ['nesting 100000 levels (arrays)', deep(100000)],
    ['nesting 1000 levels, unclosed', `{"model":"gpt-4o-mini","messages":${'['.repeat(1000)}`],
    ['nesting 1000 levels at the top', `${'['.repeat(1000)}${']'.repeat(1000)}`],
    ['form encoding', 'model=gpt-4o-mini&messages=hi'],
    ['XML', '<request><model>gpt-4o-mini</model></request>'],
    ['YAML', 'model: gpt-4o-mini\nmessages:\n  - role: user\n    content: hi\n'],
    ['JSON lines', `${valid}\n${valid}\n`],
  );
  const cases = bodies.map(([name, body]) => ({
    name,
    send: () => chat(body),
    // Non-objects that parse are refused as invalid requests; everything else as invalid JSON.
    expect: { status: 400, code: ['invalid_json', 'invalid_request_error'] },
  }));
  assert.ok(cases.length >= 100);
  await runCases(cases);
});

test('wrong types for every chat field are refused with 400 naming the field', async () => {
  const WRONG = {
    model: [1, 1.5, true, false, [], ['gpt-4o-mini'], {}, { name: 'gpt-4o-mini' }],
    messages: ['hi', 1, true, {}, { role: 'user', content: 'hi' }, [1], ['hi'], [null], [[]], [true]],
    temperature: ['hot', '0.5', true, [], [0.5], {}],
    top_p: ['1', true, [], {}],
    n: ['2', 1.5, true, [], {}],
    stop: [1, true, [1], [null], {}, [[]], [{}]],
    max_tokens: ['10', 1.5, true, [], {}],
    max_completion_tokens: ['10', 2.5, false],
    presence_penalty: ['x', [], true],
    frequency_penalty: ['x', {}],
    tools: ['x', 1, true, {}, [1], ['x'], [null], [{}], [{ type: 'function' }], [{ type: 'function', function: {} }],
      [{ type: 'function', function: { name: 1 } }], [{ type: 'function', function: 'get_weather' }], [{ function: { name: 'get_weather' } }],
      [{ type: 1, function: { name: 'get_weather' } }], [{ type: 'function', function: { name: 'f', parameters: 'x' } }]],
    tool_choice: [1, 1.5, true, false, [], ['auto'], {}, { type: 1 }, { type: 'function' }, { type: 'function', function: { name: 1 } },
      { type: 'function', function: 'get_weather' }],
    response_format: ['json', 'json_object', 1, true, [], {}, { type: 1 }, { type: 'json_schema' }, { type: 'json_schema', json_schema: 'x' },
      { type: 'json_schema', json_schema: {} }, { type: 'json_schema', json_schema: { name: 1 } }],
    stream: ['true', 1, 0, 'yes', [], {}],
    seed: ['1', 1.5, true, [], {}],
    user: [1, true, [], {}, ['u']],
    logprobs: ['yes', 'true', 1, [], {}],
    top_logprobs: ['5', 1.5, true],
    parallel_tool_calls: ['no', 0],
  };
  const cases = [];
  for (const [field, values] of Object.entries(WRONG)) {
    for (const v of values) {
      cases.push({ name: `${field} = ${show(v)}`, send: () => chat(bodyWith(field, v)), expect: { status: 400, paramPrefix: field } });
    }
  }
  // stream_options is only checked with stream: true.
  for (const v of ['x', 1, true, [], { include_usage: 'yes' }, { include_usage: 1 }]) {
    cases.push({ name: `stream_options = ${show(v)}`, send: () => chat(bodyWith('stream_options', v, { ...OK_BODY, stream: true })), expect: { status: 400, paramPrefix: 'stream_options' } });
  }
  // Message fields.
  const MESSAGE = {
    role: [1, true, null, [], {}, 'wizard', 'USER', ''],
    content: [5, 1.5, true, {}, [1], [null], ['x'], [[]], [{}], [{ type: 'unknown' }], [{ type: 'text' }], [{ type: 'text', text: 1 }],
      [{ type: 'image_url' }], [{ type: 'image_url', image_url: 1 }], [{ type: 'image_url', image_url: { url: 1 } }], [{ text: 'no type' }]],
    name: [1, true, {}, []],
  };
  for (const [field, values] of Object.entries(MESSAGE)) {
    for (const v of values) {
      const message = { role: 'user', content: 'hi', [field]: v };
      cases.push({ name: `messages[0].${field} = ${show(v)}`, send: () => chat(msgBody(message)), expect: { status: 400, paramPrefix: 'messages[0]' } });
    }
  }
  for (const v of [1, {}, [], true]) {
    cases.push({ name: `tool message tool_call_id = ${show(v)}`, send: () => chat(msgBody({ role: 'tool', content: 'r', tool_call_id: v })), expect: { status: 400, paramPrefix: 'messages[0]' } });
  }
  for (const v of ['x', 1, {}, [1], [null], [{}], [{ id: 'c1', type: 'function', function: { name: 'f' } }], [{ id: 1, type: 'function', function: { name: 'f', arguments: '{}' } }],
    [{ id: 'c1', type: 'function', function: { name: 'f', arguments: {} } }], [{ id: 'c1', type: 'function', function: 'f' }]]) {
    cases.push({ name: `assistant tool_calls = ${show(v)}`, send: () => chat(msgBody({ role: 'assistant', content: null, tool_calls: v })), expect: { status: 400, paramPrefix: 'messages[0]' } });
  }
  for (const c of cases) {
    const prefix = c.expect.paramPrefix;
    delete c.expect.paramPrefix;
    c.check = (resp) => {
      const param = JSON.parse(resp.text).error.param;
      return typeof param === 'string' && param.startsWith(prefix) ? null : `param ${JSON.stringify(param)} does not name '${prefix}': ${resp.text.slice(0, 200)}`;
    };
  }
  assert.ok(cases.length >= 150, `${cases.length} cases`);
  await runCases(cases);
});

test('out-of-range values are refused with 4xx', async () => {
  const RANGE = {
    model: ['', '   ', '\n'],
    temperature: [-0.1, 2.01, 100, -1e308, raw('1e309')],
    top_p: [-0.01, 1.01, 2],
    n: [0, -1, 129, 100000, raw('4294967296')],
    max_tokens: [0, -1, raw('18446744073709551616'), raw('1e20')],
    max_completion_tokens: [0, -5],
    presence_penalty: [2.5, -2.01],
    frequency_penalty: [2.1, -3],
    top_logprobs: [21, -1, 1000],
    stop: [['a', 'b', 'c', 'd', 'e'], Array.from({ length: 100 }, (_, i) => `s${i}`)],
    seed: [raw('9223372036854775808'), raw('-9223372036854775809')],
    user: ['u'.repeat(257), 'u'.repeat(10000)],
    tool_choice: ['sometimes', 'AUTO', '', 'any'],
    tools: [
      [{ type: 'retrieval', function: { name: 'f' } }],
      [{ type: 'code_interpreter', function: { name: 'f' } }],
      [{ type: 'function', function: { name: '' } }],
      [{ type: 'function', function: { name: 'bad name' } }],
      [{ type: 'function', function: { name: 'naïve' } }],
      [{ type: 'function', function: { name: 'f'.repeat(65) } }],
      [{ type: 'function', function: { name: 'a/b' } }],
      Array.from({ length: 513 }, (_, i) => ({ type: 'function', function: { name: `f${i}` } })),
    ],
    response_format: [{ type: 'xml' }, { type: 'JSON_OBJECT' }, { type: '' }],
    messages: [[]],
  };
  const cases = [];
  for (const [field, values] of Object.entries(RANGE)) {
    for (const v of values) cases.push({ name: `${field} = ${show(v)}`, send: () => chat(bodyWith(field, v)), expect: { status: 400 } });
  }
  // stream_options without stream.
  cases.push({ name: 'stream_options without stream', send: () => chat({ ...OK_BODY, stream_options: { include_usage: true } }), expect: { status: 400, param: 'stream_options' } });
  cases.push({ name: 'stream_options with stream false', send: () => chat({ ...OK_BODY, stream: false, stream_options: { include_usage: true } }), expect: { status: 400, param: 'stream_options' } });
  // More messages than the router accepts (4096), still under the body limit.
  cases.push({ name: '5000 messages', send: () => chat({ model: 'gpt-4o-mini', messages: Array.from({ length: 5000 }, () => ({ role: 'user', content: 'x' })) }), expect: { status: 400, param: 'messages' } });
  // Models that do not exist, or cannot chat.
  for (const model of ['no-such-model', 'GPT-4O-MINI', 'gpt-4o-mini ', 'openai/gpt-4o-mini', 'text-embedding-3-small', 'x'.repeat(1000), '../../etc/passwd', 'gpt-4o-mini\r\nx-evil: 1']) {
    cases.push({ name: `model ${show(model)}`, send: () => chat({ ...OK_BODY, model }), expect: { status: [400, 404] } });
  }
  await runCases(cases);
});

test('missing required fields are refused with 400 naming the field', async () => {
  const M = (messages) => JSON.stringify({ model: 'gpt-4o-mini', messages });
  const table = [
    ['empty object', '{}', 'model'],
    ['no model', JSON.stringify({ messages: OK_BODY.messages }), 'model'],
    ['model null', JSON.stringify({ model: null, messages: OK_BODY.messages }), 'model'],
    ['no messages', JSON.stringify({ model: 'gpt-4o-mini' }), 'messages'],
    ['messages null', JSON.stringify({ model: 'gpt-4o-mini', messages: null }), 'messages'],
    ['only stream', JSON.stringify({ stream: true }), 'model'],
    ['message without role', M([{ content: 'hi' }]), 'messages[0]'],
    ['empty message', M([{}]), 'messages[0]'],
    ['user without content', M([{ role: 'user' }]), 'messages[0].content'],
    ['user with null content', M([{ role: 'user', content: null }]), 'messages[0].content'],
    ['system without content', M([{ role: 'system' }]), 'messages[0].content'],
    ['developer without content', M([{ role: 'developer' }]), 'messages[0].content'],
    ['second message without content', M([{ role: 'user', content: 'a' }, { role: 'user' }]), 'messages[1].content'],
    ['tool without tool_call_id', M([{ role: 'tool', content: 'x' }]), 'messages[0].tool_call_id'],
    ['tool without content', M([{ role: 'tool', tool_call_id: 'c1' }]), 'messages[0].content'],
    ['assistant with nothing', M([{ role: 'assistant' }]), 'messages[0].content'],
    ['tool call without id', M([{ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] }]), 'messages[0]'],
    ['tool call without function', M([{ role: 'assistant', tool_calls: [{ id: 'c1', type: 'function' }] }]), 'messages[0]'],
    ['tool call function without name', M([{ role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { arguments: '{}' } }] }]), 'messages[0]'],
    ['tool call function without arguments', M([{ role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f' } }] }]), 'messages[0]'],
    ['text part without text', M([{ role: 'user', content: [{ type: 'text' }] }]), 'messages[0]'],
    ['image part without image_url', M([{ role: 'user', content: [{ type: 'image_url' }] }]), 'messages[0]'],
    ['image part without url', M([{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }]), 'messages[0]'],
    ['content part without type', M([{ role: 'user', content: [{ text: 'hi' }] }]), 'messages[0]'],
    ['tool without function', bodyWith('tools', [{ type: 'function' }]), 'tools'],
    ['tool function without name', bodyWith('tools', [{ type: 'function', function: { description: 'd' } }]), 'tools'],
    ['tool without type', bodyWith('tools', [{ function: { name: 'f' } }]), 'tools'],
    ['json_schema without json_schema', bodyWith('response_format', { type: 'json_schema' }), 'response_format'],
    ['json_schema without name', bodyWith('response_format', { type: 'json_schema', json_schema: { schema: { type: 'object' } } }), 'response_format'],
    ['response_format without type', bodyWith('response_format', { json_schema: { name: 'x' } }), 'response_format'],
    ['tool_choice function without function', bodyWith('tool_choice', { type: 'function' }, { ...OK_BODY, tools: [{ type: 'function', function: { name: 'f' } }] }), 'tool_choice'],
    ['tool_choice function without name', bodyWith('tool_choice', { type: 'function', function: {} }, { ...OK_BODY, tools: [{ type: 'function', function: { name: 'f' } }] }), 'tool_choice'],
    ['tool_choice object without type', bodyWith('tool_choice', { function: { name: 'f' } }, { ...OK_BODY, tools: [{ type: 'function', function: { name: 'f' } }] }), 'tool_choice'],
  ];
  const cases = table.map(([name, body, param]) => ({
    name,
    send: () => chat(body),
    expect: { status: 400 },
    check: (resp) => {
      const got = JSON.parse(resp.text).error.param;
      return typeof got === 'string' && got.startsWith(param) ? null : `param ${JSON.stringify(got)} does not name '${param}'`;
    },
  }));
  await runCases(cases);
});

test('invalid UTF-8 bodies (raw bytes) are refused with 400 invalid_json', async () => {
  const SEQUENCES = {
    'lone 0xff': [0xff],
    'lone 0xfe': [0xfe],
    'lone continuation byte': [0x80],
    'overlong slash (2 bytes)': [0xc0, 0xaf],
    'overlong NUL': [0xc0, 0x80],
    'overlong slash (3 bytes)': [0xe0, 0x80, 0xaf],
    'UTF-16 surrogate as UTF-8': [0xed, 0xa0, 0x80],
    'above U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
    'truncated 2-byte sequence': [0xc3],
    'truncated 3-byte sequence': [0xe2, 0x82],
    'truncated 4-byte sequence': [0xf0, 0x9f, 0x98],
    '5-byte sequence': [0xf8, 0x88, 0x80, 0x80, 0x80],
    'Latin-1 e-acute': [0xe9],
  };
  const cases = [];
  for (const [name, seq] of Object.entries(SEQUENCES)) {
    const bad = Buffer.from(seq);
    const positions = {
      'in content': [Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a'), bad, Buffer.from('b"}]}')],
      'in model': [Buffer.from('{"model":"gpt-4o-'), bad, Buffer.from('mini","messages":[{"role":"user","content":"hi"}]}')],
      'in a key': [Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"x'), bad, Buffer.from('":1}')],
      'before the body': [bad, Buffer.from(OK_TEXT)],
      'after the body': [Buffer.from(OK_TEXT), bad],
    };
    for (const [where, parts] of Object.entries(positions)) {
      const body = Buffer.concat(parts);
      cases.push({ name: `${name} ${where}`, send: () => chat(body), expect: { status: 400, code: 'invalid_json' } });
    }
  }
  cases.push({ name: 'UTF-16LE body', send: () => chat(Buffer.from(OK_TEXT, 'utf16le')), expect: { status: 400 } });
  cases.push({ name: 'UTF-16LE body with BOM', send: () => chat(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(OK_TEXT, 'utf16le')])), expect: { status: 400 } });
  cases.push({ name: 'UTF-16BE body', send: () => chat(Buffer.from(OK_TEXT, 'utf16le').swap16()), expect: { status: 400 } });
  cases.push({ name: 'random binary', send: () => chat(Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 73 + 41) % 256))), expect: { status: 400 } });
  cases.push({ name: 'gzip magic without content-encoding', send: () => chat(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03])), expect: { status: 400 } });
  cases.push({ name: 'embeddings: invalid UTF-8', send: () => embed(Buffer.concat([Buffer.from('{"model":"text-embedding-3-small","input":"a'), Buffer.from([0xff]), Buffer.from('"}')])), expect: { status: 400, code: 'invalid_json' } });
  cases.push({ name: 'admin: invalid UTF-8', send: () => admin('PUT', '/admin/tenants/utf8-test', Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xc3]), Buffer.from('"}')])), expect: { status: 400, code: 'invalid_json' } });
  assert.ok(cases.length >= 60);
  await runCases(cases);
});

test('a body sent in chunks without a content-length is read whole and answered', async () => {
  const text = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in chunks.' }] });
  const body = new ReadableStream({
    start(controller) {
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.subarray(i, i + 7));
      controller.close();
    },
  });
  const resp = await chat(body, { duplex: 'half' });
  assert.equal(resp.status, 200, resp.text);
  const answer = JSON.parse(resp.text);
  assert.equal(answer.object, 'chat.completion');
  assert.ok(answer.choices[0].message.content.length > 0);
});

test('huge fields and oversized bodies are refused (413 over 256 KiB, with or without content-length)', async () => {
  const big = (n) => 'x'.repeat(n);
  const chunked = (text, chunkSize = 16384) =>
    new ReadableStream({
      start(controller) {
        const bytes = Buffer.from(text);
        for (let i = 0; i < bytes.length; i += chunkSize) controller.enqueue(bytes.subarray(i, i + chunkSize));
        controller.close();
      },
    });
  const megaContent = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: big(1024 * 1024) }] });
  const tenK = JSON.stringify({ model: 'gpt-4o-mini', messages: Array.from({ length: 10000 }, () => ({ role: 'user', content: 'x' })) });
  const cases = [
    { name: '1 MB content (content-length)', send: () => chat(megaContent), expect: { status: 413, code: 'request_too_large' } },
    { name: 'just over the limit', send: () => chat(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: big(LIMIT) }] })), expect: { status: 413 } },
    { name: '10k messages', send: () => chat(tenK), expect: { status: [400, 413] } },
    { name: '1 MB content, chunked (no content-length)', send: () => chat(chunked(megaContent), { duplex: 'half' }), expect: { status: 413, code: 'request_too_large' } },
    { name: '10k messages, chunked', send: () => chat(chunked(tenK), { duplex: 'half' }), expect: { status: [400, 413] } },
    { name: '8 MB, chunked', send: () => chat(chunked(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${big(8 * 1024 * 1024)}"}]}`, 65536), { duplex: 'half' }), expect: { status: 413 } },
    { name: '1 MB user field', send: () => chat({ ...OK_BODY, user: big(1024 * 1024) }), expect: { status: 413 } },
    { name: '200 KB user field (under the limit)', send: () => chat({ ...OK_BODY, user: big(200 * 1024) }), expect: { status: 400, param: 'user' } },
    { name: '200 KB model name (under the limit)', send: () => chat({ ...OK_BODY, model: big(200 * 1024) }), expect: { status: [400, 404] } },
    { name: '600 tools (under the limit)', send: () => chat({ ...OK_BODY, tools: Array.from({ length: 600 }, (_, i) => ({ type: 'function', function: { name: `f${i}` } })) }), expect: { status: 400, param: 'tools' } },
    { name: '1 MB of whitespace', send: () => chat(' '.repeat(1024 * 1024)), expect: { status: 413 } },
    { name: 'embeddings: 1 MB input', send: () => embed({ model: 'text-embedding-3-small', input: big(1024 * 1024) }), expect: { status: 413 } },
    { name: 'embeddings: 1 MB input, chunked', send: () => embed(chunked(JSON.stringify({ model: 'text-embedding-3-small', input: big(1024 * 1024) })), { duplex: 'half' }), expect: { status: 413 } },
    { name: 'embeddings: 10k inputs', send: () => embed({ model: 'text-embedding-3-small', input: Array.from({ length: 10000 }, () => 'x') }), expect: { status: [400, 413] } },
    { name: 'embeddings: 3000 inputs (under the limit)', send: () => embed({ model: 'text-embedding-3-small', input: Array.from({ length: 3000 }, () => 'x') }), expect: { status: 400, param: 'input' } },
    { name: 'admin: 100 KB tenant body (limit 64 KiB)', send: () => admin('PUT', '/admin/tenants/big-test', { name: big(100 * 1024) }), expect: { status: 413 } },
    { name: 'admin: 100 KB tenant body, chunked', send: () => admin('PUT', '/admin/tenants/big-test', chunked(JSON.stringify({ name: big(100 * 1024) })), { duplex: 'half' }), expect: { status: 413 } },
    // Raw framing fetch will not produce.
    {
      name: 'content-length claims 100 MB, body never sent',
      send: () => rawRequest(Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${KEYS.acme}\r\nContent-Length: 100000000\r\n\r\n{"model"`, 'latin1')),
      expect: { status: 413 },
    },
    {
      name: 'chunked body that never ends (over the limit, no content-length)',
      send: () => {
        const head = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${KEYS.acme}\r\nTransfer-Encoding: chunked\r\n\r\n`, 'latin1');
        const chunk = Buffer.concat([Buffer.from(`${(32768).toString(16)}\r\n`), Buffer.from(big(32768)), Buffer.from('\r\n')]);
        // 12 chunks of 32 KiB = 384 KiB, and no terminating chunk: the answer cannot wait for the end.
        return rawRequest([head, ...Array(12).fill(chunk)]);
      },
      expect: { status: 413 },
    },
    {
      name: 'chunked 1 MB body, complete',
      send: () => {
        const head = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${KEYS.acme}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, 'latin1');
        const payload = Buffer.from(megaContent);
        return rawRequest([head, Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
      },
      expect: { status: 413 },
    },
  ];
  await runCases(cases);
});

test('header injection attempts in attribution headers are refused, never reflected', async () => {
  const HEADERS = ['x-costrouter-feature', 'x-costrouter-team', 'x-costrouter-env', 'x-costrouter-user'];
  // Values the worker sees and must refuse (400 invalid_value naming the header). Strings are
  // written byte for byte (latin1), so 'caf\xc3\xa9' is UTF-8 on the wire.
  const REFUSED = [
    ['space', 'a b'],
    ['semicolon', 'a;b'],
    ['markup', '<script>alert(1)</script>'],
    ['quotes', '"quoted"'],
    ['template', '${jndi:ldap://x/a}'],
    ['tab', 'a\tb'],
    ['DEL', 'a\x7fb'],
    ['Latin-1 byte', 'caf\xe9'],
    ['UTF-8 bytes', 'caf\xc3\xa9'],
    ['65 characters', 'a'.repeat(65)],
    ['obs-fold continuation line', 'a\r\n b'],
    ['CRLF after an invalid value', 'a b\r\nx-injected: 1'],
    ['comma list', 'a,b'],
    ['backslash', 'a\\b'],
    ['percent-encoded CRLF', 'a%0d%0ax-injected:%201'],
  ];
  const cases = [];
  for (const header of HEADERS) {
    for (const [name, value] of REFUSED) {
      cases.push({
        name: `${header}: ${name}`,
        send: () => rawPost('/v1/chat/completions', { headerLines: [`${header}: ${value}`] }),
        expect: { status: 400, code: 'invalid_value', param: header },
        check: (resp) => (resp.headers.has('x-injected') ? 'x-injected was reflected' : null),
      });
    }
  }
  // A CRLF that ends the head early and smuggles a second request: the first request is cut
  // off at the injected blank line (so its body is empty) and the second is answered on its own.
  for (const header of HEADERS) {
    cases.push({
      name: `${header}: CRLF smuggling a second request`,
      send: () => rawPost('/v1/chat/completions', { headerLines: [`${header}: a b\r\nContent-Length: 0\r\n\r\nGET /admin/tenants/acme HTTP/1.1\r\nHost: x`] }),
      expect: { status: 400, code: ['invalid_value', 'invalid_json'] },
    });
  }
  for (const [name, value] of REFUSED.slice(0, 4)) {
    cases.push({
      name: `embeddings x-costrouter-feature: ${name}`,
      send: () => rawPost('/v1/embeddings', { headerLines: [`x-costrouter-feature: ${value}`], body: '{"model":"text-embedding-3-small","input":"hi"}' }),
      expect: { status: 400, code: 'invalid_value', param: 'x-costrouter-feature' },
    });
  }
  await runCases(cases);

  // Bare CR, bare LF and NUL are refused by the HTTP layer itself (workerd, as Cloudflare's edge
  // would): the worker never sees the request, so the answer is a plain-text 400, not ours.
  const PROTOCOL = [['bare CR', 'a\rb'], ['bare LF', 'a\nb'], ['NUL', 'a\x00b'], ['CR then LF inside', 'a\r\rb\n']];
  const failures = [];
  for (const header of HEADERS) {
    for (const [name, value] of PROTOCOL) {
      sent.protocol += 1;
      const resp = await rawPost('/v1/chat/completions', { headerLines: [`${header}: ${value}`] });
      const ours = /^application\/json/.test(resp.contentType);
      const problem = resp.status !== 400 ? `status ${resp.status}: ${resp.text.slice(0, 200)}` : ours ? problemWith(resp, { code: 'invalid_value' }) : null;
      if (problem) failures.push(`  - ${header}: ${name}: ${problem}`);
    }
  }
  assert.equal(failures.length, 0, failures.join('\n'));

  // A CRLF that splits into two well-formed headers is just two headers (that is HTTP): the
  // request is served, nothing is reflected, and the tag recorded is the part before the CRLF.
  const before = r.events.length;
  const resp = await rawPost('/v1/chat/completions', { headerLines: ['x-costrouter-feature: search\r\nx-injected: yes'] });
  sent.served += 1;
  assert.equal(resp.status, 200, resp.text);
  for (const name of resp.headers.keys()) assert.ok(!/injected/.test(name), `reflected header ${name}`);
  const requestId = resp.headers.get('x-costrouter-request-id');
  await r.eventsSettled(before + 1);
  const ev = r.events.find((e) => e.request_id === requestId);
  assert.ok(ev, 'a cost event for the split-header request');
  assert.equal(ev.attribution.feature, 'search');
  await assertStillServing();
});

test('wrong content types are refused with 415', async () => {
  const TYPES = ['text/html', 'application/xml', 'text/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz',
    'application/octet-stream', 'image/png', 'text/csv', 'garbage', 'application/graphql', 'audio/wav', 'text/event-stream'];
  const cases = [];
  for (const ct of TYPES) {
    cases.push({ name: `chat ${ct}`, send: () => chat(OK_TEXT, { contentType: ct }), expect: { status: 415, code: 'unsupported_media_type' } });
    cases.push({ name: `embeddings ${ct}`, send: () => embed({ model: 'text-embedding-3-small', input: 'hi' }, { contentType: ct }), expect: { status: 415, code: 'unsupported_media_type' } });
  }
  for (const ct of TYPES.slice(0, 4)) {
    cases.push({ name: `admin ${ct}`, send: () => admin('PUT', '/admin/tenants/ct-test', { name: 'x' }, { contentType: ct }), expect: { status: 415 } });
  }
  cases.push({ name: 'form body with form content-type', send: () => chat('model=gpt-4o-mini&messages[0][role]=user', { contentType: 'application/x-www-form-urlencoded' }), expect: { status: 415 } });
  cases.push({
    name: 'multipart body',
    send: () => chat('--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o-mini\r\n--xyz--\r\n', { contentType: 'multipart/form-data; boundary=xyz' }),
    expect: { status: 415 },
  });
  // Content types that are allowed still need a JSON body.
  cases.push({ name: 'text/plain with a non-JSON body', send: () => chat('hello', { contentType: 'text/plain' }), expect: { status: 400 } });
  cases.push({ name: 'no content-type with a non-JSON body', send: () => chat('hello', { contentType: null }), expect: { status: 400 } });
  await runCases(cases);
  // A compressed body (workers do not decompress requests) is named, not read as broken JSON.
  const gzipped = await rawPost('/v1/chat/completions', { headerLines: ['Content-Encoding: gzip'], body: gzipSync(Buffer.from(OK_TEXT)) });
  assert.equal(gzipped.status, 415, gzipped.text);
  assert.match(JSON.parse(gzipped.text).error.message, /Content-Encoding 'gzip' is not supported/);
});

test('unknown endpoints are 404 and wrong methods 405, in the error shape', async () => {
  const UNKNOWN = ['/', '/v1', '/v1/', '/v1/completions', '/v1/chat', '/v1/chat/completions/extra', '/v1/chat/completions/', '/v2/chat/completions',
    '/V1/CHAT/COMPLETIONS', '/v1/audio/speech', '/v1/images/generations', '/v1/files', '/v1/batches', '/v1/embeddings/x',
    '/.env', '/admin', '/%00', '/v1/chat%2Fcompletions', `/${'a'.repeat(4000)}`, '/healthz/x', '/v1//chat/completions', '/favicon.ico', '/v1/chat/completions;x'];
  const cases = [];
  for (const path of UNKNOWN) {
    for (const method of ['GET', 'POST']) {
      cases.push({ name: `${method} ${path.slice(0, 60)}`, send: () => viaFetch(path, { method, body: method === 'POST' ? OK_TEXT : undefined }), expect: { status: 404, code: 'unknown_url' } });
    }
  }
  // A model's URL takes GET alone (the SDKs' models.delete is a 405 saying so, not a 404 that
  // blames the base URL); a method workerd passes on but the router does not route (WebDAV's) is
  // a 405 too, not served as a GET.
  for (const [method, path, allow] of [['POST', '/v1/models/gpt-4o-mini', 'GET, HEAD'], ['DELETE', '/v1/models/gpt-4o-mini', 'GET, HEAD'],
    ['PROPFIND', '/v1/models', 'GET, HEAD'], ['PROPFIND', '/v1/chat/completions', 'POST'], ['PROPFIND', '/dashboard/login', 'POST']]) {
    cases.push({
      name: `${method} ${path}`,
      send: () => viaFetch(path, { method, body: method === 'POST' ? OK_TEXT : undefined }),
      expect: { status: 405, code: 'method_not_allowed' },
      check: (resp) => (resp.headers.get('allow') !== allow ? `Allow ${resp.headers.get('allow')}, wanted ${allow}` : null),
    });
  }
  cases.push({ name: 'PROPFIND an unknown path', send: () => viaFetch('/v1/nothing', { method: 'PROPFIND' }), expect: { status: 404, code: 'unknown_url' } });
  cases.push({ name: 'GET an unknown model', send: () => viaFetch('/v1/models/no-such-model', { method: 'GET' }), expect: { status: 404, code: 'model_not_found' } });
  cases.push({ name: 'unknown path without a key', send: () => viaFetch('/v1/nothing', { method: 'GET', key: null }), expect: { status: 404 } });
  const KNOWN = { '/v1/chat/completions': 'POST', '/v1/embeddings': 'POST', '/v1/responses': 'POST', '/v1/models': 'GET', '/healthz': 'GET', '/v1/deployments': 'GET',
    // The same endpoints as a bare-host base URL and the Azure SDKs name them.
    '/chat/completions': 'POST', '/openai/deployments/gpt-4o-mini/chat/completions': 'POST' };
  for (const [path, allowed] of Object.entries(KNOWN)) {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      if (method === allowed) continue;
      const body = ['POST', 'PUT', 'PATCH'].includes(method) ? OK_TEXT : undefined;
      cases.push({ name: `${method} ${path}`, send: () => viaFetch(path, { method, body }), expect: { status: 405, code: 'method_not_allowed' } });
    }
  }
  // A known admin path asked with another method is a 405 naming the methods it takes; an
  // unknown one a 404.
  for (const [method, path, status, allow] of [['POST', '/admin/tenants/acme', 405, 'DELETE, GET, HEAD, PUT'], ['PATCH', '/admin/tenants/acme', 405, 'DELETE, GET, HEAD, PUT'],
    ['PUT', '/admin/keys', 405, 'GET, HEAD, POST'], ['GET', '/admin/keys/x/y', 404], ['DELETE', '/admin/tenants/acme/budgets', 405, 'GET, HEAD, PUT'],
    ['GET', '/admin/', 404], ['GET', '/admin/unknown', 404], ['POST', '/admin/keys/x', 405, 'PATCH, DELETE'], ['DELETE', '/admin/keys', 405, 'GET, HEAD, POST'],
    // A method the router takes nowhere (WebDAV's), as another: never served as the GET it was read as.
    ['MKCOL', '/admin/tenants/acme', 405, 'DELETE, GET, HEAD, PUT'], ['PROPFIND', '/admin/unknown', 404]]) {
    cases.push({
      name: `admin ${method} ${path}`,
      send: () => admin(method, path, ['POST', 'PUT', 'PATCH'].includes(method) ? '{}' : undefined),
      expect: { status },
      check: (resp) => (allow && resp.headers.get('allow') !== allow ? `Allow ${resp.headers.get('allow')}, wanted ${allow}` : null),
    });
  }
  await runCases(cases);

  // HEAD has no body by definition: only its status and headers can be checked. It is answered
  // as GET where GET is (uptime probes send it); a 405 says what the path takes.
  for (const [path, allowed] of Object.entries(KNOWN)) {
    sent[allowed === 'GET' ? 'served' : 'headRefused'] += 1;
    const resp = await fetch(`${r.url}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${KEYS.acme}` } });
    if (allowed === 'GET') {
      assert.equal(resp.status, 200, `HEAD ${path}`);
    } else {
      assert.equal(resp.status, 405, `HEAD ${path}`);
      assert.equal(resp.headers.get('allow'), allowed, `HEAD ${path}`);
    }
  }
  // The admin API too.
  sent.served += 1;
  const adminHead = await fetch(`${r.url}/admin/tenants/acme`, { method: 'HEAD', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(adminHead.status, 200, 'HEAD /admin/tenants/acme');
  const wrong = await fetch(`${r.url}/v1/models`, { method: 'DELETE', headers: { authorization: `Bearer ${KEYS.acme}` } });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
});

test('malformed embeddings requests are refused with 4xx', async () => {
  const E = (extra) => ({ model: 'text-embedding-3-small', input: 'hi', ...extra });
  const without = (field) => Object.fromEntries(Object.entries(E({})).filter(([k]) => k !== field));
  const table = [
    ['missing model', without('model'), 400],
    ['missing input', without('input'), 400],
    ['model null', E({ model: null }), 400],
    ['input null', E({ input: null }), 400],
    ['model number', E({ model: 1 }), 400],
    ['model empty', E({ model: '' }), 400],
    ['model unknown', E({ model: 'no-such-embedder' }), 404],
    ['chat model', E({ model: 'gpt-4o-mini' }), 400],
    ['input number', E({ input: 1 }), 400],
    ['input bool', E({ input: true }), 400],
    ['input object', E({ input: { text: 'hi' } }), 400],
    ['input empty array', E({ input: [] }), 400],
    ['input empty string', E({ input: '' }), 400],
    ['input floats', E({ input: [1.5] }), 400],
    ['input negative tokens', E({ input: [-1] }), 400],
    ['input token above u32', E({ input: [4294967296] }), 400],
    ['input negative token batch', E({ input: [[-1]] }), 400],
    ['input nested strings', E({ input: [['a']] }), 400],
    ['input null item', E({ input: [null] }), 400],
    ['input mixed', E({ input: ['a', 1] }), 400],
    ['input mixed batches', E({ input: [[1], 'a'] }), 400],
    ['input object items', E({ input: [{}] }), 400],
    ['input too many', E({ input: Array.from({ length: 3000 }, () => 'x') }), 400],
    ['encoding_format hex', E({ encoding_format: 'hex' }), 400],
    ['encoding_format number', E({ encoding_format: 1 }), 400],
    ['encoding_format empty', E({ encoding_format: '' }), 400],
    ['dimensions zero', E({ dimensions: 0 }), 400],
    ['dimensions negative', E({ dimensions: -1 }), 400],
    ['dimensions string', E({ dimensions: '8' }), 400],
    ['dimensions float', E({ dimensions: 1.5 }), 400],
    ['dimensions bool', E({ dimensions: true }), 400],
    ['user number', E({ user: 1 }), 400],
    ['user object', E({ user: {} }), 400],
  ];
  const cases = table.map(([name, body, status]) => ({ name, send: () => embed(body), expect: { status } }));
  for (const [name, body] of [['truncated', '{"model":"text-embedding-3-small","input":"hi"'], ['trailing comma', '{"model":"text-embedding-3-small","input":"hi",}'],
    ['array body', '["hi"]'], ['empty body', ''], ['NaN', '{"model":"text-embedding-3-small","input":NaN}'], ['deep nesting', `{"model":"text-embedding-3-small","input":${'['.repeat(1000)}${']'.repeat(1000)}}`]]) {
    cases.push({ name: `JSON: ${name}`, send: () => embed(body), expect: { status: 400 } });
  }
  await runCases(cases);
});

test('malformed Responses API requests are refused with 4xx naming the field', async () => {
  const R = (extra) => ({ model: 'gpt-4o-mini', input: 'hi', ...extra });
  const without = (field) => Object.fromEntries(Object.entries(R({})).filter(([k]) => k !== field));
  const table = [
    ['missing model', without('model'), 400, 'model'],
    ['missing input', without('input'), 400, 'input'],
    ['model number', R({ model: 1 }), 400, 'model'],
    ['model empty', R({ model: '' }), 400, 'model'],
    ['model unknown', R({ model: 'no-such-model' }), 404, 'model'],
    ['input number', R({ input: 1 }), 400, 'input'],
    ['input object', R({ input: { role: 'user' } }), 400, 'input'],
    ['input empty array', R({ input: [] }), 400, 'input'],
    ['input item string', R({ input: ['hi'] }), 400, 'input[0]'],
    ['input item role tool', R({ input: [{ role: 'tool', content: 'x' }] }), 400, 'input[0].role'],
    ['input item without content', R({ input: [{ role: 'user' }] }), 400, 'input[0].content'],
    ['input item content number', R({ input: [{ role: 'user', content: 1 }] }), 400, 'input[0].content'],
    ['input part without type', R({ input: [{ role: 'user', content: [{ text: 'x' }] }] }), 400, 'input[0].content[0].type'],
    ['input part unknown type', R({ input: [{ role: 'user', content: [{ type: 'input_video', url: 'x' }] }] }), 400, 'input[0].content[0].type'],
    ['input image by file id', R({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }), 400, 'input[0].content[0].file_id'],
    ['input item type number', R({ input: [{ type: 1 }] }), 400, 'input[0].type'],
    ['input item by reference to an item never kept', R({ input: [{ type: 'item_reference', id: 'msg_1' }] }), 400, 'input[0]'],
    ['input item by reference without an id', R({ input: [{ type: 'item_reference' }] }), 400, 'input[0].id'],
    ['input hosted tool call', R({ input: [{ type: 'file_search_call', id: 'fs_1' }] }), 400, 'input[0].type'],
    ['function_call without call_id', R({ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }), 400, 'input[0].call_id'],
    ['function_call_output without output', R({ input: [{ type: 'function_call_output', call_id: 'c' }] }), 400, 'input[0].output'],
    ['instructions number', R({ instructions: 1 }), 400, 'instructions'],
    ['previous_response_id never kept', R({ previous_response_id: 'resp_1' }), 400, 'previous_response_id'],
    ['previous_response_id number', R({ previous_response_id: 1 }), 400, 'previous_response_id'],
    ['previous_response_id empty', R({ previous_response_id: '' }), 400, 'previous_response_id'],
    ['conversation', R({ conversation: 'conv_1' }), 400, 'conversation'],
    ['background', R({ background: true }), 400, 'background'],
    ['unknown parameter', R({ messages: [] }), 400, 'messages'],
    ['hosted tool', R({ tools: [{ type: 'code_interpreter' }] }), 400, 'tools[0].type'],
    ['tool without name', R({ tools: [{ type: 'function' }] }), 400, 'tools[0].name'],
    ['tools object', R({ tools: {} }), 400, 'tools'],
    ['tool_choice hosted', R({ tool_choice: { type: 'web_search_preview' } }), 400, 'tool_choice'],
    ['tool_choice number', R({ tool_choice: 1 }), 400, 'tool_choice'],
    ['text string', R({ text: 'json' }), 400, 'text'],
    ['text.format unknown', R({ text: { format: { type: 'xml' } } }), 400, 'text.format.type'],
    ['json_schema without name', R({ text: { format: { type: 'json_schema', schema: {} } } }), 400, 'text.format.name'],
    ['reasoning string', R({ reasoning: 'high' }), 400, 'reasoning'],
    ['truncation unknown', R({ truncation: 'sometimes' }), 400, 'truncation'],
    ['include string', R({ include: 'x' }), 400, 'include'],
    ['stream_options without stream', R({ stream_options: {} }), 400, 'stream_options'],
    ['temperature out of range', R({ temperature: 5 }), 400, 'temperature'],
    ['max_output_tokens negative', R({ max_output_tokens: -1 }), 400, 'max_output_tokens'],
  ];
  const responses = (body) => viaFetch('/v1/responses', { body: asBody(body) });
  const cases = table.map(([name, body, status, param]) => ({ name, send: () => responses(body), expect: param === undefined ? { status } : { status, param } }));
  for (const [name, body] of [['truncated', '{"model":"gpt-4o-mini","input":"hi"'], ['array body', '["hi"]'], ['empty body', '']]) {
    cases.push({ name: `JSON: ${name}`, send: () => responses(body), expect: { status: 400 } });
  }
  cases.push({ name: 'GET a response never kept', send: () => viaFetch('/v1/responses/resp_1', { method: 'GET' }), expect: { status: 404 },
    check: (resp) => (/Response with id 'resp_1' not found/.test(resp.text) ? null : 'says it is not found') });
  cases.push({ name: 'DELETE a response never kept', send: () => viaFetch('/v1/responses/resp_1', { method: 'DELETE' }), expect: { status: 404 } });
  cases.push({ name: 'POST to a kept response', send: () => viaFetch('/v1/responses/resp_1', { body: asBody(R({})) }), expect: { status: 405 } });
  cases.push({ name: 'GET a response\'s input items', send: () => viaFetch('/v1/responses/resp_1/input_items', { method: 'GET' }), expect: { status: 404 } });
  cases.push({ name: 'POST /v1/responses/input_tokens', send: () => viaFetch('/v1/responses/input_tokens', { body: asBody(R({})) }), expect: { status: 404 },
    check: (resp) => (/serves POST \/v1\/responses, and GET and DELETE/.test(resp.text) ? null : 'names what is served') });
  await runCases(cases);
});

// Anthropic's Messages API (`/v1/messages`): refused in Anthropic's error shape, which keeps
// OpenAI's fields (`{"type":"error","error":{"type","message","code","param"}}`).
test('malformed Messages API requests are refused with 4xx in Anthropic\'s shape, naming the field', async () => {
  const M = (extra) => ({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra });
  const without = (field) => Object.fromEntries(Object.entries(M({})).filter(([k]) => k !== field));
  const turn = (content, role = 'user') => M({ messages: [{ role, content }] });
  const table = [
    ['missing model', without('model'), 400, 'model'],
    ['missing max_tokens', without('max_tokens'), 400, 'max_tokens'],
    ['missing messages', without('messages'), 400, 'messages'],
    ['model number', M({ model: 1 }), 400, 'model'],
    ['model unknown', M({ model: 'no-such-model' }), 404, 'model'],
    ['max_tokens string', M({ max_tokens: '64' }), 400, 'max_tokens'],
    ['max_tokens negative', M({ max_tokens: -1 }), 400, 'max_tokens'],
    ['messages object', M({ messages: { role: 'user' } }), 400, 'messages'],
    ['messages empty', M({ messages: [] }), 400, 'messages'],
    ['message string', M({ messages: ['hi'] }), 400, 'messages[0]'],
    ['message role system', M({ messages: [{ role: 'system', content: 'x' }] }), 400, 'messages[0].role'],
    ['message without content', M({ messages: [{ role: 'user' }] }), 400, 'messages[0].content'],
    ['content number', turn(1), 400, 'messages[0].content'],
    ['block without type', turn([{ text: 'x' }]), 400, 'messages[0].content[0].type'],
    ['block unknown type', turn([{ type: 'video', source: {} }]), 400, 'messages[0].content[0].type'],
    ['text block without text', turn([{ type: 'text' }]), 400, 'messages[0].content[0].text'],
    ['image without source', turn([{ type: 'image' }]), 400, 'messages[0].content[0].source'],
    ['image by file id', turn([{ type: 'image', source: { type: 'file', file_id: 'file_1' } }]), 400, 'messages[0].content[0].source.type'],
    ['document by url', turn([{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }]), 400, 'messages[0].content[0].source.type'],
    ['tool_result without id', turn([{ type: 'tool_result', content: 'x' }]), 400, 'messages[0].content[0].tool_use_id'],
    ['tool_use without name', turn([{ type: 'tool_use', id: 't', input: {} }], 'assistant'), 400, 'messages[0].content[0].name'],
    ['server tool use', turn([{ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }], 'assistant'), 400, 'messages[0].content[0].type'],
    ['system number', M({ system: 1 }), 400, 'system'],
    ['system image block', M({ system: [{ type: 'image', source: {} }] }), 400, 'system[0].type'],
    ['unknown parameter', M({ input: 'hi' }), 400, 'input'],
    ['mcp_servers', M({ mcp_servers: [{ type: 'url', url: 'https://example.com', name: 'x' }] }), 400, 'mcp_servers'],
    ['container', M({ container: 'c_1' }), 400, 'container'],
    ['server tool', M({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), 400, 'tools[0].type'],
    ['tool without input_schema', M({ tools: [{ name: 'f' }] }), 400, 'tools[0].input_schema'],
    ['tools object', M({ tools: {} }), 400, 'tools'],
    ['tool_choice string', M({ tool_choice: 'auto' }), 400, 'tool_choice'],
    ['tool_choice unknown', M({ tool_choice: { type: 'sometimes' } }), 400, 'tool_choice.type'],
    ['thinking without budget', M({ thinking: { type: 'enabled' } }), 400, 'thinking.budget_tokens'],
    ['thinking unknown type', M({ thinking: { type: 'deep' } }), 400, 'thinking.type'],
    ['effort unknown', M({ output_config: { effort: 'enormous' } }), 400, 'output_config.effort'],
    ['output_format unknown', M({ output_format: { type: 'xml' } }), 400, 'output_format.type'],
    ['stop_sequences string', M({ stop_sequences: 'END' }), 400, 'stop_sequences'],
    ['metadata.user_id number', M({ metadata: { user_id: 1 } }), 400, 'metadata.user_id'],
    ['stream string', M({ stream: 'yes' }), 400, 'stream'],
    ['temperature out of range', M({ temperature: 5 }), 400, 'temperature'],
  ];
  const messages = (body, path = '/v1/messages') => viaFetch(path, { body: asBody(body) });
  const ANTHROPIC_TYPES = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 405: 'invalid_request_error', 413: 'request_too_large', 415: 'invalid_request_error' };
  const anthropicShape = (resp) => {
    const body = JSON.parse(resp.text);
    if (body.type !== 'error') return `top-level type ${JSON.stringify(body.type)}, wanted "error"`;
    const wanted = ANTHROPIC_TYPES[resp.status];
    return body.error.type === wanted ? null : `error.type ${body.error.type}, wanted ${wanted}`;
  };
  const cases = table.map(([name, body, status, param]) => ({ name, send: () => messages(body), expect: { status, param }, check: anthropicShape }));
  for (const [name, body] of [['truncated', '{"model":"claude-haiku-4-5","max_tokens":5'], ['array body', '["hi"]'], ['empty body', '']]) {
    cases.push({ name: `JSON: ${name}`, send: () => messages(body), expect: { status: 400 }, check: anthropicShape });
  }
  cases.push({ name: 'count_tokens without messages', send: () => messages({ model: 'claude-haiku-4-5' }, '/v1/messages/count_tokens'), expect: { status: 400, param: 'messages' }, check: anthropicShape });
  cases.push({ name: 'without a key', send: () => viaFetch('/v1/messages', { body: asBody(M({})), key: null }), expect: { status: 401 }, check: anthropicShape });
  cases.push({ name: 'GET /v1/messages', send: () => viaFetch('/v1/messages', { method: 'GET' }), expect: { status: 405 }, check: anthropicShape });
  cases.push({ name: 'POST /v1/messages/batches', send: () => messages(M({}), '/v1/messages/batches'), expect: { status: 404 },
    check: (resp) => anthropicShape(resp) ?? (/no batches/.test(resp.text) ? null : 'names what is served') });
  cases.push({ name: 'oversized body', send: () => messages(M({ system: 'x'.repeat(LIMIT) })), expect: { status: 413 }, check: anthropicShape });
  await runCases(cases);
});

test('malformed admin requests are refused with 4xx', async () => {
  const tenantPath = '/admin/tenants/malformed-test';
  const BODIES = [
    ['empty body', ''],
    ['not JSON', 'x'],
    ['array', '[]'],
    ['null', 'null'],
    ['truncated', '{"name":"x"'],
    ['trailing comma', '{"name":"x",}'],
    ['name number', '{"name":1}'],
    ['plan number', '{"plan":5}'],
    ['allowed_models string', '{"allowed_models":"fast"}'],
    ['allowed_models numbers', '{"allowed_models":[1]}'],
    ['allowed_models object', '{"allowed_models":{}}'],
    ['unknown field', '{"unknown":1}'],
    ['id in body', '{"id":"other"}'],
    ['deep nesting', `{"name":${'['.repeat(1000)}${']'.repeat(1000)}}`],
  ];
  const cases = BODIES.map(([name, body]) => ({ name: `PUT tenant: ${name}`, send: () => admin('PUT', tenantPath, body), expect: { status: 400 } }));
  for (const id of ['bad%20id', 'a'.repeat(65), 'x.y', 'caf%C3%A9', '%00', 'a%2Fb', 'a:b', '%0d%0a', 'a'.repeat(1000)]) {
    cases.push({ name: `PUT tenant id ${id.slice(0, 40)}`, send: () => admin('PUT', `/admin/tenants/${id}`, { name: 'x' }), expect: { status: 400, param: 'tenant_id' } });
    cases.push({ name: `GET tenant id ${id.slice(0, 40)}`, send: () => admin('GET', `/admin/tenants/${id}`), expect: { status: 400, param: 'tenant_id' } });
  }
  cases.push({ name: 'GET unknown tenant', send: () => admin('GET', '/admin/tenants/nobody-here'), expect: { status: 404 } });
  const KEY_BODIES = [
    ['empty object', '{}', 400],
    ['tenant_id number', '{"tenant_id":1}', 400],
    ['tenant_id null', '{"tenant_id":null}', 400],
    ['tenant_id array', '{"tenant_id":["acme"]}', 400],
    ['tenant_id invalid', '{"tenant_id":"bad id"}', 400],
    ['tenant_id 1000 chars', JSON.stringify({ tenant_id: 'a'.repeat(1000) }), 400],
    ['tenant unknown', '{"tenant_id":"nobody-here"}', 404],
    ['name number', '{"tenant_id":"acme","name":5}', 400],
    ['unknown field', '{"tenant_id":"acme","scopes":["*"]}', 400],
    ['array', '[{"tenant_id":"acme"}]', 400],
    ['not JSON', 'tenant_id=acme', 400],
    ['empty body', '', 400],
  ];
  for (const [name, body, status] of KEY_BODIES) cases.push({ name: `POST key: ${name}`, send: () => admin('POST', '/admin/keys', body), expect: { status } });
  for (const q of ['', '?tenant_id=', '?tenant_id=bad%20id', `?tenant_id=${'a'.repeat(1000)}`, '?tenant=acme', '?tenant_id=a:b']) {
    cases.push({ name: `GET keys ${q.slice(0, 40)}`, send: () => admin('GET', `/admin/keys${q}`), expect: { status: 400 } });
  }
  for (const id of ['nonexistent', 'key_000000000000', 'k'.repeat(1000), 'key_%00', '%0d%0a', 'x'.repeat(600), 'key_' + 'f'.repeat(508)]) {
    cases.push({ name: `DELETE key ${id.slice(0, 40)}`, send: () => admin('DELETE', `/admin/keys/${id}`), expect: { status: [400, 404] } });
  }
  await runCases(cases);
});

// Last in the file (node:test runs a file's tests in order): the corpus is the size the README
// states, so a table that stops generating cases does not go unnoticed.
test('the corpus: 895 malformed requests refused in OpenAI\'s shape, 16 by the HTTP layer, 5 HEAD with a 405', () => {
  assert.deepEqual(sent, { openaiShape: 895, protocol: 16, headRefused: 5, served: 5 });
});
