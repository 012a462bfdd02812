#!/usr/bin/env node
/**
 * Fake LLM upstream for costrouter.
 *
 * One HTTP server that plays four providers, each under its own path prefix
 * and speaking that provider's own wire format (bodies, SSE framing, errors):
 *
 *   /openai/v1/...                        OpenAI chat completions, embeddings, models
 *                                         (as Mistral for mistral-* models: stream usage unasked)
 *   /azure/openai/deployments/{dep}/...   Azure OpenAI (api-key header, api-version query)
 *   /anthropic/v1/messages                Anthropic Messages API
 *   /gemini/v1beta/models/{model}:...     Gemini generateContent / streamGenerateContent
 *
 * Real providers cannot be reached from tests, so this server stands in for
 * them in integration tests and is the "demo upstream" for local development.
 * Answers are deterministic (text, token counts, ids) so tests can assert exact
 * numbers, and a small control API (/__control/...) scripts errors and faults.
 *
 * Plain Node 20 ESM, only `node:` built-ins.
 *
 * Usage as a module:
 *   const up = await startFakeUpstream({ port: 0 });
 *   up.script({ provider: 'openai', response: { status: 429 } });
 *   ... point the router at `${up.url}/openai/v1` ...
 *   up.requests(); up.reset(); await up.close();
 *
 * Usage as a CLI:
 *   node tests/fake-upstream/server.mjs [--port N] [--demo [--seed DIR]]
 *   → prints {"listening":"http://127.0.0.1:PORT"} and runs until SIGINT/SIGTERM.
 *   --seed names a kv-seed directory whose catalog.json and pricing.json give each model's
 *   context window (see contextWindowsFromSeed).
 */

import http from 'node:http';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

export const PROVIDERS = Object.freeze(['openai', 'azure', 'anthropic', 'gemini']);

/** Outside demo mode each provider only accepts `test-<provider>-key`. */
export const TEST_KEYS = Object.freeze(
  Object.fromEntries(PROVIDERS.map((p) => [p, `test-${p}-key`])),
);

/** Demo answers are labelled so nobody mistakes them for a real model. */
export const DEMO_PREFIX = '[costrouter demo upstream: not a real model] ';

/** Fixed `created` timestamp (2025-01-01T00:00:00Z) keeps whole bodies snapshot-stable. */
const CREATED = 1735689600;
const SYSTEM_FINGERPRINT = 'fp_fake0000';
/** Pause between SSE events so clients observe a real, incremental stream. */
const EVENT_DELAY_MS = 3;
const DEFAULT_EMBEDDING_DIMENSIONS = 8;
/** Arguments of every default tool call (the brief's "weather" scenario). */
const TOOL_ARGUMENTS = JSON.stringify({ city: 'Paris' });
const ANTHROPIC_VERSION_HEADER = 'anthropic-version';

const OPENAI_MODELS = [
  ['gpt-4o', 'system'],
  ['gpt-4o-mini', 'system'],
  ['gpt-4.1', 'system'],
  ['gpt-4.1-mini', 'system'],
  ['o3-mini', 'system'],
  ['text-embedding-3-small', 'system'],
  ['text-embedding-3-large', 'system'],
];

/** Azure attaches content-filter verdicts to prompts and choices; all "safe" here. */
const AZURE_SAFE_FILTERS = Object.freeze({
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
});

/**
 * Finish reasons are planned in OpenAI vocabulary and translated per provider.
 * `refusal` is an internal token (OpenAI signals refusals via `message.refusal`,
 * not the finish reason). Unknown values pass through unchanged, so a script
 * may also give a provider-native reason such as `stop_sequence` or `RECITATION`.
 */
const FINISH_REASONS = {
  openai: { refusal: 'stop' },
  azure: { refusal: 'stop' },
  anthropic: {
    stop: 'end_turn',
    length: 'max_tokens',
    tool_calls: 'tool_use',
    function_call: 'tool_use',
    content_filter: 'refusal',
    refusal: 'refusal',
  },
  gemini: {
    stop: 'STOP',
    length: 'MAX_TOKENS',
    tool_calls: 'STOP', // Gemini ends function calls with a plain STOP
    function_call: 'STOP',
    content_filter: 'SAFETY',
    refusal: 'SAFETY',
  },
};

const FAULTS = new Set(['slow', 'reset', 'truncated', 'invalid_json', 'redirect', 'stalled_body', 'stalled_stream', 'cut_mid_event', 'bad_event']);
/** The stream faults that act after `truncate_after` good events. */
const STREAM_CUT_FAULTS = ['truncated', 'stalled_stream', 'cut_mid_event', 'bad_event'];

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** Characters are counted as Unicode code points (Rust's `str::chars().count()`). */
const charCount = (s) => Array.from(s).length;
const firstChars = (s, n) => Array.from(s).slice(0, n).join('');
/** The fake tokenizer: one token per four characters, rounded up. */
const tokensForChars = (chars) => Math.ceil(chars / 4);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => structuredClone(v);

/** Merge `patch` over `base`; nested objects merge, everything else replaces. */
function deepMerge(base, patch) {
  const out = { ...base };
  for (const [k, v] of Object.entries(patch ?? {})) {
    out[k] = isObject(v) && isObject(base[k]) ? deepMerge(base[k], v) : v;
  }
  return out;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (client gone / server closing). */
async function sleep(ms, signal) {
  if (signal?.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Split text into word-sized deltas (OpenAI/Anthropic style); at least `min` when possible. */
function splitIntoDeltas(text, min = 3) {
  if (text === '') return [];
  const words = text.match(/\s*\S+\s*|\s+/g);
  return words.length >= min ? words : splitEvenly(text, min);
}

/** Split text into `parts` roughly equal pieces on code-point boundaries. */
function splitEvenly(text, parts) {
  const cps = Array.from(text);
  if (cps.length === 0) return [];
  const size = Math.ceil(cps.length / Math.min(parts, cps.length));
  const out = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

/** Interleave per-choice lists round-robin (how OpenAI streams n > 1 choices). */
function interleave(lists) {
  const out = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

/** FNV-1a: a tiny stable string hash to seed embedding vectors. */
function fnv1a(str) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(str, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h || 1;
}

/** Deterministic unit-length vector for `seed`: same input, same embedding. */
function embeddingVector(seed, dimensions) {
  let h = fnv1a(seed);
  const v = [];
  for (let i = 0; i < dimensions; i++) {
    // xorshift32 step
    h ^= h << 13; h >>>= 0;
    h ^= h >>> 17;
    h ^= h << 5; h >>>= 0;
    v.push((h / 0xffffffff) * 2 - 1);
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

/**
 * Build a value that satisfies (the common subset of) a JSON schema, so
 * `json_schema` / `responseSchema` requests get structurally valid output.
 * Gemini's OpenAPI-style schemas use upper-case type names, hence toLowerCase.
 */
function sampleFromSchema(schema, depth = 0) {
  if (!isObject(schema) || depth > 8) return 'fake';
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(schema[key]) && schema[key].length) return sampleFromSchema(schema[key][0], depth + 1);
  }
  let type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  type = typeof type === 'string' ? type.toLowerCase() : schema.properties ? 'object' : 'string';
  switch (type) {
    case 'object':
      return Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([k, s]) => [k, sampleFromSchema(s, depth + 1)]),
      );
    case 'array':
      return [sampleFromSchema(schema.items, depth + 1)];
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return 'fake';
  }
}

// ---------------------------------------------------------------------------
// Script queue (scripted errors, faults and answers)
// ---------------------------------------------------------------------------

/** What a scripted response may set: an error (`status` and the provider error body's
 * `message`, `code`, `type`, `param`, `details`, Gemini's `retryDelay`, extra `headers`, or a whole `body`), a fault
 * (`fault`, `delay_ms`, `location`, `truncate_after`; `stalled_body` sends its status, 200 unless
 * `status` says, and the start of a body it never ends; `stalled_stream` sends a stream's first
 * `truncate_after` events, then nothing, holding the connection open; `cut_mid_event` sends them and
 * half of the next before the cut; `bad_event` sends them, then the next with its JSON broken, then
 * the rest), or the answer (`text`, `usage`,
 * `finish_reason`, `refusal`, `event_delay_ms`, `body`). */
const RESPONSE_KEYS = new Set(['status', 'message', 'code', 'type', 'param', 'details', 'retryDelay', 'headers', 'body', 'fault', 'delay_ms', 'location', 'truncate_after', 'text', 'usage', 'finish_reason', 'refusal', 'event_delay_ms']);

/** Validate a control rule and normalise it; throws TypeError with a readable message. */
function normaliseRule(rule) {
  if (!isObject(rule)) throw new TypeError('rule must be a JSON object');
  const { provider, model, times = 1, response } = rule;
  if (provider !== undefined && !PROVIDERS.includes(provider)) {
    throw new TypeError(`provider must be one of ${PROVIDERS.join(', ')}`);
  }
  if (model !== undefined && typeof model !== 'string') throw new TypeError('model must be a string');
  if (!Number.isInteger(times) || times < 1) throw new TypeError('times must be a positive integer');
  if (!isObject(response)) throw new TypeError('response must be a JSON object');
  // A misspelt or unsupported key would be ignored and the test would check nothing.
  const unknown = Object.keys(response).filter((k) => !RESPONSE_KEYS.has(k));
  if (unknown.length > 0) throw new TypeError(`response has unknown keys: ${unknown.join(', ')} (known: ${[...RESPONSE_KEYS].join(', ')})`);
  if (response.status !== undefined && !(Number.isInteger(response.status) && response.status >= 400 && response.status <= 599)) {
    throw new TypeError('response.status must be an integer HTTP error status (400-599)');
  }
  if (response.fault !== undefined && !FAULTS.has(response.fault)) {
    throw new TypeError(`response.fault must be one of ${[...FAULTS].join(', ')}`);
  }
  if (response.fault === 'slow' && !(Number.isFinite(response.delay_ms) && response.delay_ms >= 0)) {
    throw new TypeError('a "slow" fault needs delay_ms >= 0');
  }
  if (response.delay_ms !== undefined && !(Number.isFinite(response.delay_ms) && response.delay_ms >= 0 && (response.fault === 'slow' || response.status !== undefined))) {
    throw new TypeError('delay_ms (>= 0) goes with fault "slow" or an error status (a slow error)');
  }
  if (response.fault === 'redirect' && typeof response.location !== 'string') {
    throw new TypeError('a "redirect" fault needs location (the URL a 307 points to)');
  }
  if (response.truncate_after !== undefined && !(STREAM_CUT_FAULTS.includes(response.fault) && Number.isInteger(response.truncate_after) && response.truncate_after >= 1)) {
    throw new TypeError(`truncate_after (events sent before the fault, default 2) needs fault ${STREAM_CUT_FAULTS.map((f) => `"${f}"`).join(', ')} and an integer >= 1`);
  }
  if (response.text !== undefined && typeof response.text !== 'string') throw new TypeError('response.text must be a string');
  if (response.usage !== undefined && !isObject(response.usage)) throw new TypeError('response.usage must be an object');
  return { provider, model, remaining: times, response: clone(response) };
}

class ScriptQueue {
  #rules = [];

  add(rule) {
    this.#rules.push(normaliseRule(rule));
    return this.#rules.length;
  }

  /** First-in first-out: the oldest rule matching this request answers it (and is used up). */
  take(provider, model) {
    const i = this.#rules.findIndex(
      (r) => (r.provider === undefined || r.provider === provider) && (r.model === undefined || r.model === model),
    );
    if (i < 0) return null;
    const rule = this.#rules[i];
    if (--rule.remaining === 0) this.#rules.splice(i, 1);
    return clone(rule.response);
  }

  get size() {
    return this.#rules.length;
  }

  clear() {
    this.#rules = [];
  }
}

// ---------------------------------------------------------------------------
// Provider error bodies (each provider's real shape)
// ---------------------------------------------------------------------------

function openaiError(status, ctx, o) {
  const model = ctx.model ?? 'unknown';
  const defaults = {
    400: ['invalid_request_error', null, 'Invalid request.'],
    401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.'],
    403: ['invalid_request_error', 'unsupported_country_region_territory', 'Country, region, or territory not supported'],
    404: ['invalid_request_error', 'model_not_found', `The model \`${model}\` does not exist or you do not have access to it.`],
    429: ['requests', 'rate_limit_exceeded', `Rate limit reached for ${model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.`],
    500: ['server_error', null, 'The server had an error while processing your request. Sorry about that!'],
    503: ['server_error', null, 'The server is overloaded or not ready yet.'],
  };
  const [type, code, message] = defaults[status] ?? [status >= 500 ? 'server_error' : 'invalid_request_error', null, `HTTP ${status}`];
  return {
    error: {
      message: o.message ?? message,
      type: o.type ?? type,
      param: o.param ?? null,
      code: o.code !== undefined ? o.code : code,
    },
  };
}

function azureError(status, ctx, o) {
  const defaults = {
    401: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
    404: 'Resource not found',
    429: `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${ctx.query?.['api-version'] ?? 'unknown'} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.`,
    500: 'The server had an error while processing your request. Sorry about that!',
    503: 'The service is temporarily unable to process your request. Please try again later.',
  };
  return { error: { code: o.code ?? String(status), message: o.message ?? defaults[status] ?? `HTTP ${status}` } };
}

function anthropicError(status, ctx, o) {
  const defaults = {
    400: ['invalid_request_error', 'Invalid request.'],
    401: ['authentication_error', 'invalid x-api-key'],
    402: ['billing_error', 'Your credit balance is too low to access the Anthropic API.'],
    403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
    404: ['not_found_error', 'Not found'],
    413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
    429: ['rate_limit_error', 'This request would exceed the rate limit for your organization. Please try again later.'],
    500: ['api_error', 'Internal server error'],
    503: ['overloaded_error', 'Overloaded'],
    504: ['timeout_error', 'Request timed out'],
    529: ['overloaded_error', 'Overloaded'],
  };
  const [type, message] = defaults[status] ?? [status >= 500 ? 'api_error' : 'invalid_request_error', `HTTP ${status}`];
  return {
    type: 'error',
    error: { type: o.type ?? type, message: o.message ?? message },
    request_id: `req_${nextId(ctx.state)}`,
  };
}

const GEMINI_STATUS_NAMES = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  409: 'ABORTED', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

function geminiError(status, ctx, o) {
  const defaults = {
    400: 'Request contains an invalid argument.',
    401: 'Request had invalid authentication credentials.',
    403: 'The caller does not have permission',
    404: `models/${ctx.model ?? 'unknown'} is not found for API version v1beta, or is not supported for generateContent.`,
    429: 'Resource has been exhausted (e.g. check quota).',
    500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
    503: 'The model is overloaded. Please try again later.',
    504: 'Deadline expired before operation could complete.',
  };
  const error = {
    code: status,
    message: o.message ?? defaults[status] ?? `HTTP ${status}`,
    status: o.status ?? GEMINI_STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION'),
  };
  if (o.details) error.details = o.details;
  // A quota refusal says how long to wait in its details (google.rpc.RetryInfo), not in a header.
  else if (status === 429) {
    error.details = [
      { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
      { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: o.retryDelay ?? '1s' },
    ];
  }
  return { error };
}

const ERROR_BUILDERS = { openai: openaiError, azure: azureError, anthropic: anthropicError, gemini: geminiError };

/**
 * A provider-shaped error result; 429s carry `retry-after: 1` like the real services, but
 * Gemini's, which says it in the body (`RetryInfo.retryDelay`, 1 s unless scripted).
 */
function errorResult(ctx, status, overrides = {}) {
  const headers = { ...providerHeaders(ctx) };
  if (status === 429 && ctx.provider !== 'gemini') headers['retry-after'] = '1';
  return { status, headers, body: ERROR_BUILDERS[ctx.provider](status, ctx, overrides) };
}

// ---------------------------------------------------------------------------
// Authentication and request validation
// ---------------------------------------------------------------------------

function bearerToken(value) {
  const m = /^Bearer\s+(.+)$/i.exec(value ?? '');
  return m ? m[1].trim() : undefined;
}

/** Where each provider expects its key. */
const KEY_LOCATIONS = {
  openai: (ctx) => bearerToken(ctx.headers.authorization),
  azure: (ctx) => ctx.headers['api-key'],
  anthropic: (ctx) => ctx.headers['x-api-key'],
  // Gemini also accepts the legacy `?key=` query parameter.
  gemini: (ctx) => ctx.headers['x-goog-api-key'] ?? ctx.query.key,
};

/** Each provider's real answer to a missing vs. a wrong key. */
function authError(ctx, key) {
  switch (ctx.provider) {
    case 'openai':
      return errorResult(ctx, 401, key === undefined
        ? { code: null, message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys." }
        : { message: `Incorrect API key provided: ${redactKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.` });
    case 'azure':
      return errorResult(ctx, 401, key === undefined
        ? { message: 'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.' }
        : {});
    case 'anthropic':
      return errorResult(ctx, 401, { message: key === undefined ? 'x-api-key header is required' : 'invalid x-api-key' });
    case 'gemini':
      // Gemini never answers 401 for API keys: a missing key is 403, a wrong one is 400.
      if (key === undefined) {
        return errorResult(ctx, 403, {
          message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        });
      }
      return errorResult(ctx, 400, {
        message: 'API key not valid. Please pass a valid API key.',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
          {
            '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
            locale: 'en-US',
            message: 'API key not valid. Please pass a valid API key.',
          },
        ],
      });
    default:
      throw new Error(`unknown provider ${ctx.provider}`);
  }
}

/** OpenAI echoes a masked key: first 3 and last 4 characters. */
function redactKey(key) {
  return key.length <= 8 ? '*'.repeat(key.length) : `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

function checkAuth(ctx) {
  if (ctx.state.demo) return null; // the demo upstream accepts any key, or none
  const key = KEY_LOCATIONS[ctx.provider](ctx);
  return key === TEST_KEYS[ctx.provider] ? null : authError(ctx, key);
}

/** The provider's answer to a body that is not JSON (or not a JSON object). */
function malformedBodyError(ctx) {
  switch (ctx.provider) {
    case 'openai':
    case 'azure':
      return errorResult(ctx, 400, {
        code: ctx.provider === 'azure' ? 'BadRequest' : null,
        message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
      });
    case 'anthropic':
      return errorResult(ctx, 400, { message: 'There was an issue with your request body: the request body is not valid JSON.' });
    case 'gemini':
      return errorResult(ctx, 400, { message: 'Invalid JSON payload received. Unexpected token.' });
    default:
      throw new Error(`unknown provider ${ctx.provider}`);
  }
}

/** Missing required field, in the provider's vocabulary. */
function missingFieldError(ctx, field) {
  switch (ctx.provider) {
    case 'openai':
      return errorResult(ctx, 400, field === 'model'
        ? { message: 'you must provide a model parameter', code: null }
        : { message: `Missing required parameter: '${field}'.`, param: field, code: 'missing_required_parameter' });
    case 'azure':
      return errorResult(ctx, 400, { code: 'BadRequest', message: `Missing required parameter: '${field}'.` });
    case 'anthropic':
      return errorResult(ctx, 400, { message: `${field}: Field required` });
    case 'gemini':
      return errorResult(ctx, 400, { message: `* GenerateContentRequest.${field}: ${field} is not specified` });
    default:
      throw new Error(`unknown provider ${ctx.provider}`);
  }
}

/** Checks a real provider does before looking at the request's content. */
function checkPreconditions(ctx) {
  if (ctx.provider === 'azure' && !ctx.query['api-version']) {
    // Note: today's Azure answers a missing api-version with 404 "Resource not found";
    // the router contract asks for a 400, in Azure's {error:{code,message}} shape.
    return errorResult(ctx, 400, {
      code: 'MissingApiVersionParameter',
      message: 'The api-version query parameter (?api-version=) is required for all requests.',
    });
  }
  if (ctx.provider === 'anthropic' && !ctx.headers[ANTHROPIC_VERSION_HEADER]) {
    return errorResult(ctx, 400, { message: 'anthropic-version: header is required' });
  }
  if (ctx.route.hasBody && !isObject(ctx.body)) return malformedBodyError(ctx);
  for (const field of ctx.route.required ?? []) {
    if (ctx.body[field] === undefined || ctx.body[field] === null) return missingFieldError(ctx, field);
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'openai' && ctx.body.stream_options != null && ctx.body.stream !== true) {
    return errorResult(ctx, 400, {
      message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      param: 'stream_options',
      code: null,
    });
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'openai' && ctx.body.metadata != null && ctx.body.store !== true) {
    return errorResult(ctx, 400, { message: "The 'metadata' parameter is only allowed when 'store' is enabled.", param: 'metadata', code: null });
  }
  // Only OpenAI's reasoning models (o-series, gpt-5) take these.
  if (ctx.route.kind === 'chat' && ctx.provider === 'openai' && !/^(o\d|gpt-5)/.test(String(ctx.body.model))) {
    for (const param of ['reasoning_effort', 'verbosity']) {
      if (ctx.body[param] !== undefined) {
        return errorResult(ctx, 400, { message: `Unsupported parameter: '${param}' is not supported with this model.`, param, code: 'unsupported_parameter' });
      }
    }
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'anthropic') {
    const refusal = anthropicShapeRefusal(ctx.body);
    if (refusal) return errorResult(ctx, 400, { message: refusal });
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'anthropic') {
    const refusal = anthropicThinkingRefusal(ctx.body);
    if (refusal) return errorResult(ctx, 400, { message: refusal });
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'gemini' && /^gemini-[3-9]/.test(String(ctx.model))) {
    const refusal = geminiSignatureRefusal(ctx.body) ?? geminiThinkingLevelRefusal(String(ctx.model), ctx.body);
    if (refusal) return errorResult(ctx, 400, { message: refusal });
  }
  if (ctx.route.kind === 'chat' && ctx.provider === 'anthropic' && ctx.body.output_config?.format != null) {
    const refusal = anthropicOutputFormatRefusal(ctx.body);
    if (refusal) return errorResult(ctx, 400, { message: refusal });
  }
  if (ctx.route.kind === 'embeddings' && ['openai', 'azure'].includes(ctx.provider) && ctx.body.metadata !== undefined) {
    return errorResult(ctx, 400, { message: 'Unrecognized request argument supplied: metadata', code: null });
  }
  return null;
}

/** The fields Mistral's API takes in a message, by role, and in an embeddings request. */
const MISTRAL_MESSAGE_FIELDS = {
  system: ['role', 'content'],
  user: ['role', 'content'],
  assistant: ['role', 'content', 'tool_calls', 'prefix'],
  tool: ['role', 'content', 'tool_call_id', 'name'],
};
const MISTRAL_EMBEDDINGS_FIELDS = ['model', 'input', 'output_dimension', 'output_dtype', 'encoding_format', 'metadata'];

/**
 * Mistral validates with pydantic and forbids what it does not know, even a null: a 422 whose
 * `message` holds the details (`{"message": {"detail": [...]}}`), each with where it points.
 */
function mistralValidation(ctx) {
  const extra = [];
  if (ctx.route.kind === 'chat') {
    (Array.isArray(ctx.body.messages) ? ctx.body.messages : []).forEach((m, i) => {
      const allowed = MISTRAL_MESSAGE_FIELDS[m?.role] ?? [];
      for (const field of Object.keys(m ?? {})) if (!allowed.includes(field)) extra.push(['messages', i, m.role, field]);
    });
  } else if (ctx.route.kind === 'embeddings') {
    for (const field of Object.keys(ctx.body)) if (!MISTRAL_EMBEDDINGS_FIELDS.includes(field)) extra.push([field]);
  }
  if (!extra.length) return null;
  const detail = extra.map((loc) => ({ type: 'extra_forbidden', loc: ['body', ...loc], msg: 'Extra inputs are not permitted', input: null }));
  return { status: 422, body: { object: 'error', message: { detail }, type: 'invalid_request_message_error', param: null, code: null } };
}

/** Per-request ids a real provider would send back in headers. */
function providerHeaders(ctx) {
  const id = ctx.requestId;
  switch (ctx.provider) {
    case 'openai':
      return { 'x-request-id': id, 'openai-processing-ms': '1' };
    case 'azure':
      return { 'apim-request-id': id, 'x-request-id': id };
    case 'anthropic':
      return { 'request-id': id };
    default:
      return {};
  }
}

function nextId(state) {
  state.seq += 1;
  return `fake${String(state.seq).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------
// Conversation summaries: what each dialect's request says, in neutral form
// ---------------------------------------------------------------------------
//
// A summary is { messageTexts, lastUserText, endsWithToolResult, toolName, json, n, outputCap }.
// "Message text" is every text part of a message concatenated (plus tool-call
// arguments and tool results, which also cost prompt tokens); a system prompt
// counts as one message. A conversation whose last turn is a tool result gets a
// text answer, so agent loops terminate instead of calling the tool forever.

function openaiContentText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (typeof p?.text === 'string' ? p.text : typeof p?.refusal === 'string' ? p.refusal : '')).join('');
}

function openaiMessageText(m) {
  let text = openaiContentText(m?.content);
  for (const call of m?.tool_calls ?? []) text += call?.function?.arguments ?? '';
  if (m?.function_call?.arguments) text += m.function_call.arguments;
  return text;
}

function summariseOpenAI(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const lastUser = messages.findLast((m) => m?.role === 'user');
  const lastRole = messages.at(-1)?.role;
  const firstTool = (Array.isArray(body.tools) ? body.tools : []).find((t) => t?.function?.name)?.function.name
    ?? (Array.isArray(body.functions) ? body.functions[0]?.name : undefined);
  const format = body.response_format?.type;
  return {
    messageTexts: messages.map(openaiMessageText),
    lastUserText: lastUser ? openaiContentText(lastUser.content) : '',
    endsWithToolResult: lastRole === 'tool' || lastRole === 'function',
    toolName: body.tool_choice === 'none' ? undefined : firstTool,
    json: format === 'json_schema'
      ? { schema: body.response_format.json_schema?.schema }
      : format === 'json_object' ? {} : undefined,
    n: Number.isInteger(body.n) && body.n > 1 ? body.n : 1,
    outputCap: body.max_completion_tokens ?? body.max_tokens,
  };
}

function anthropicBlocksText(content, { textOnly = false } = {}) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((b) => {
    if (b?.type === 'text') return b.text ?? '';
    if (textOnly) return '';
    if (b?.type === 'tool_use') return JSON.stringify(b.input ?? {});
    if (b?.type === 'tool_result') return anthropicBlocksText(b.content);
    return '';
  }).join('');
}

function summariseAnthropic(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const system = anthropicBlocksText(body.system);
  const userTexts = messages.filter((m) => m?.role === 'user').map((m) => anthropicBlocksText(m.content, { textOnly: true }));
  const last = messages.at(-1);
  return {
    messageTexts: [...(system ? [system] : []), ...messages.map((m) => anthropicBlocksText(m?.content))],
    lastUserText: userTexts.findLast((t) => t !== '') ?? '',
    endsWithToolResult: Array.isArray(last?.content) && last.content.some((b) => b?.type === 'tool_result'),
    toolName: body.tool_choice?.type === 'none' ? undefined : (Array.isArray(body.tools) ? body.tools[0]?.name : undefined),
    // Structured outputs: the grammar makes the answer match the schema.
    json: body.output_config?.format?.type === 'json_schema' ? { schema: body.output_config.format.schema } : undefined,
    n: 1,
    outputCap: body.max_tokens,
  };
}

/** Gemini accepts both camelCase and snake_case field names (proto JSON mapping). */
const pick = (obj, camel, snake) => obj?.[camel] ?? obj?.[snake];

function geminiPartsText(parts, { textOnly = false } = {}) {
  if (!Array.isArray(parts)) return '';
  return parts.map((p) => {
    if (typeof p?.text === 'string') return p.text;
    if (textOnly) return '';
    const call = pick(p, 'functionCall', 'function_call');
    if (call) return JSON.stringify(call.args ?? {});
    const result = pick(p, 'functionResponse', 'function_response');
    if (result) return JSON.stringify(result.response ?? {});
    return '';
  }).join('');
}

function summariseGemini(body) {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  const system = geminiPartsText(pick(body, 'systemInstruction', 'system_instruction')?.parts);
  const userTexts = contents
    .filter((c) => c?.role === undefined || c.role === 'user')
    .map((c) => geminiPartsText(c.parts, { textOnly: true }));
  const lastParts = contents.at(-1)?.parts;
  const declarations = (Array.isArray(body.tools) ? body.tools : [])
    .flatMap((t) => pick(t, 'functionDeclarations', 'function_declarations') ?? []);
  const callingMode = pick(pick(body, 'toolConfig', 'tool_config'), 'functionCallingConfig', 'function_calling_config')?.mode;
  const config = pick(body, 'generationConfig', 'generation_config') ?? {};
  const wantsJson = pick(config, 'responseMimeType', 'response_mime_type') === 'application/json';
  return {
    messageTexts: [...(system ? [system] : []), ...contents.map((c) => geminiPartsText(c?.parts))],
    lastUserText: userTexts.findLast((t) => t !== '') ?? '',
    endsWithToolResult: Array.isArray(lastParts) && lastParts.some((p) => pick(p, 'functionResponse', 'function_response')),
    toolName: callingMode === 'NONE' ? undefined : declarations[0]?.name,
    json: wantsJson
      ? { schema: pick(config, 'responseSchema', 'response_schema') ?? pick(config, 'responseJsonSchema', 'response_json_schema') }
      : undefined,
    n: 1,
    outputCap: pick(config, 'maxOutputTokens', 'max_output_tokens'),
  };
}

// ---------------------------------------------------------------------------
// Answer planning (provider-neutral)
// ---------------------------------------------------------------------------

function defaultText(ctx, lastUserText) {
  const text = `Hello from fake ${ctx.provider} ${ctx.model}. You said: ${firstChars(lastUserText, 40)}`;
  return ctx.state.demo ? DEMO_PREFIX + text : text;
}

function jsonText(ctx, json) {
  if (isObject(json.schema) && (json.schema.properties || json.schema.type)) {
    return JSON.stringify(sampleFromSchema(json.schema));
  }
  // A demo answer cannot carry the text prefix without breaking JSON, so it gets a note.
  return JSON.stringify(ctx.state.demo ? { answer: 'fake', note: DEMO_PREFIX.trim() } : { answer: 'fake' });
}

/**
 * Decide what to answer. Returns
 *   { kind: 'text'|'tool', text, tool: {name, arguments}, refusal, finish,
 *     promptTokens, completionTokens (per choice), usageOverride }.
 * Precedence: scripted text > tool call ("weather" + declared tools) > JSON mode > greeting.
 */
function planAnswer(ctx, summary) {
  const script = ctx.script ?? {};
  const plan = {
    kind: 'text',
    text: '',
    tool: null,
    refusal: false,
    promptTokens:
      tokensForChars(summary.messageTexts.reduce((n, t) => n + charCount(t), 0)) + 3 * summary.messageTexts.length,
    usageOverride: script.usage,
  };
  if (typeof script.text === 'string') {
    plan.text = script.text;
    plan.refusal = script.refusal === true;
  } else if (summary.toolName && !summary.endsWithToolResult && /\bweather\b/i.test(summary.lastUserText)) {
    plan.kind = 'tool';
    plan.tool = { name: summary.toolName, arguments: TOOL_ARGUMENTS };
  } else if (summary.json) {
    plan.text = jsonText(ctx, summary.json);
  } else {
    plan.text = defaultText(ctx, summary.lastUserText);
    plan.refusal = script.refusal === true;
  }
  // A tool call "costs" its name plus its JSON arguments.
  const answerTokens = () => tokensForChars(charCount(plan.kind === 'tool' ? plan.tool.name + plan.tool.arguments : plan.text));
  plan.completionTokens = answerTokens();
  plan.finish = script.finish_reason ?? (plan.kind === 'tool' ? 'tool_calls' : plan.refusal ? 'refusal' : 'stop');
  // The demo stops where a real model would, at the request's output cap, so a budget that
  // reserved by the cap is never billed past it. Only the demo: the integration tests rely on
  // the fixed answers whatever cap they send.
  const cap = summary.outputCap;
  if (ctx.state.demo && Number.isInteger(cap) && cap >= 0 && plan.completionTokens > cap) {
    const chars = cap * 4;
    if (plan.kind === 'tool') plan.tool.arguments = firstChars(plan.tool.arguments, Math.max(0, chars - charCount(plan.tool.name)));
    else plan.text = firstChars(plan.text, chars);
    // A tool's name alone may be longer than the cap: the call is billed the cap all the same.
    plan.completionTokens = Math.min(cap, answerTokens());
    plan.finish = script.finish_reason ?? 'length';
  }
  return plan;
}

/** A tool call's arguments as an object; a call cut at the output cap has whatever parsed ({}). */
const toolInput = (plan) => {
  const input = tryParseJson(plan.tool.arguments);
  return isObject(input) ? input : {};
};

/**
 * In demo mode, the provider's own refusal of a prompt longer than the model's context window
 * (`state.contextWindows`, by the model name the request names), or null.
 */
function contextWindowRefusal(ctx, plan) {
  const window = ctx.state.demo ? ctx.state.contextWindows.get(ctx.model) : undefined;
  if (!(plan.promptTokens > window)) return null;
  const prompt = plan.promptTokens;
  switch (ctx.provider) {
    case 'openai':
    case 'azure':
      return errorResult(ctx, 400, {
        message: `This model's maximum context length is ${window} tokens. However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`,
        param: 'messages',
        code: 'context_length_exceeded',
      });
    case 'anthropic':
      return errorResult(ctx, 400, { message: `prompt is too long: ${prompt} tokens > ${window} maximum` });
    case 'gemini':
      return errorResult(ctx, 400, { message: `The input token count (${prompt}) exceeds the maximum number of tokens allowed (${window}).` });
    default:
      throw new Error(`unknown provider ${ctx.provider}`);
  }
}

const nativeFinish = (provider, finish) => FINISH_REASONS[provider]?.[finish] ?? finish;

// ---------------------------------------------------------------------------
// SSE framing
// ---------------------------------------------------------------------------

/** OpenAI/Azure: bare `data:` lines, LF framing, terminated by `data: [DONE]`. */
const openaiEvent = (obj) => `data: ${JSON.stringify(obj)}\n\n`;
const OPENAI_DONE = 'data: [DONE]\n\n';
/** Anthropic: named events (`event:` line mirrors the JSON `type`). */
const anthropicEvent = (obj) => `event: ${obj.type}\ndata: ${JSON.stringify(obj)}\n\n`;
/** Gemini (alt=sse): `data:` lines framed with CRLF, no terminator - the stream just ends. */
const geminiEvent = (obj) => `data: ${JSON.stringify(obj)}\r\n\r\n`;

// ---------------------------------------------------------------------------
// OpenAI and Azure OpenAI
// ---------------------------------------------------------------------------

function openaiUsage(plan, n) {
  const base = {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens * n, // every choice is billed
    total_tokens: 0,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  const usage = deepMerge(base, plan.usageOverride);
  if (plan.usageOverride?.total_tokens === undefined) usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  return usage;
}

function openaiMessage(plan, toolCallId) {
  if (plan.kind === 'tool') {
    return {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: toolCallId, type: 'function', function: { name: plan.tool.name, arguments: plan.tool.arguments } }],
      refusal: null,
      annotations: [],
    };
  }
  if (plan.refusal) return { role: 'assistant', content: null, refusal: plan.text, annotations: [] };
  return { role: 'assistant', content: plan.text, refusal: null, annotations: [] };
}

function openaiChatCompletion(ctx, plan, n) {
  const azure = ctx.provider === 'azure';
  const choices = Array.from({ length: n }, (_, index) => ({
    index,
    message: openaiMessage(plan, `call_${nextId(ctx.state)}`),
    logprobs: null,
    finish_reason: nativeFinish(ctx.provider, plan.finish),
    ...(azure ? { content_filter_results: AZURE_SAFE_FILTERS } : {}),
  }));
  return {
    id: `chatcmpl-${nextId(ctx.state)}`,
    object: 'chat.completion',
    created: CREATED,
    model: ctx.model,
    choices,
    usage: openaiUsage(plan, n),
    ...(azure
      ? { prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_SAFE_FILTERS }] }
      : { service_tier: servedTier(ctx) }),
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

/** The sequence of `delta`s for one choice: role first, then content pieces, then finish. */
function openaiChoiceDeltas(ctx, plan, index) {
  const finish = nativeFinish(ctx.provider, plan.finish);
  const entry = (delta, finish_reason = null) => ({ index, delta, logprobs: null, finish_reason });
  if (plan.kind === 'tool') {
    const id = `call_${nextId(ctx.state)}`;
    return [
      entry({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name: plan.tool.name, arguments: '' } }], refusal: null }),
      ...splitEvenly(plan.tool.arguments, 3).map((args) => entry({ tool_calls: [{ index: 0, function: { arguments: args } }] })),
      entry({}, finish),
    ];
  }
  const field = plan.refusal ? 'refusal' : 'content';
  const first = plan.refusal
    ? { role: 'assistant', content: null, refusal: '' }
    : { role: 'assistant', content: '', refusal: null };
  return [entry(first), ...splitIntoDeltas(plan.text).map((piece) => entry({ [field]: piece })), entry({}, finish)];
}

/**
 * Mistral's API speaks OpenAI's dialect with one difference that matters here: its streams carry
 * `usage` on the last content chunk (the one with the finish reason) whether asked or not, and
 * it has no `stream_options`. The OpenAI route plays Mistral for `mistral-*` models.
 */
const isMistral = (ctx) => ctx.provider === 'openai' && /^(open-)?mi[sx]tral|^codestral|^ministral/.test(ctx.model ?? '');

function openaiChatChunks(ctx, plan, n) {
  const id = `chatcmpl-${nextId(ctx.state)}`;
  const mistral = isMistral(ctx);
  const includeUsage = !mistral && ctx.body.stream_options?.include_usage === true;
  const chunk = (choices) => ({
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model: ctx.model,
    ...(ctx.provider === 'openai' && !mistral ? { service_tier: servedTier(ctx) } : {}),
    ...(mistral ? {} : { system_fingerprint: SYSTEM_FINGERPRINT }),
    choices,
    // With include_usage every chunk carries `usage: null` until the final usage chunk.
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [];
  if (ctx.provider === 'azure') {
    // Azure opens its streams with a prompt-filter chunk that has no choices, id or model.
    events.push(openaiEvent({
      choices: [], created: 0, id: '', model: '', object: '',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_SAFE_FILTERS }],
    }));
  }
  const perChoice = Array.from({ length: n }, (_, i) => openaiChoiceDeltas(ctx, plan, i));
  const choices = interleave(perChoice);
  choices.forEach((choice, i) => {
    const last = i === choices.length - 1;
    events.push(openaiEvent(mistral && last ? { ...chunk([choice]), usage: openaiUsage(plan, n) } : chunk([choice])));
  });
  if (includeUsage) events.push(openaiEvent({ ...chunk([]), usage: openaiUsage(plan, n) }));
  events.push(OPENAI_DONE);
  return events;
}

function handleOpenAIChat(ctx) {
  const summary = summariseOpenAI(ctx.body);
  const plan = planAnswer(ctx, summary);
  const tooLong = contextWindowRefusal(ctx, plan);
  if (tooLong) return tooLong;
  if (ctx.stream) return { events: openaiChatChunks(ctx, plan, summary.n) };
  return { body: openaiChatCompletion(ctx, plan, summary.n) };
}

/** Embedding inputs may be a string, strings, a token array, or token arrays. */
function embeddingInputs(input) {
  const one = (x) => (typeof x === 'string'
    ? { seed: x, tokens: tokensForChars(charCount(x)) }
    : { seed: JSON.stringify(x), tokens: Array.isArray(x) ? x.length : 0 });
  if (typeof input === 'string') return [one(input)];
  if (Array.isArray(input) && input.length && input.every((x) => typeof x === 'number')) return [one(input)];
  return Array.isArray(input) ? input.map(one) : [];
}

function handleOpenAIEmbeddings(ctx) {
  const inputs = embeddingInputs(ctx.body.input);
  const asked = isMistral(ctx) ? ctx.body.output_dimension : ctx.body.dimensions;
  const dims = Number.isInteger(asked) && asked > 0 ? asked : DEFAULT_EMBEDDING_DIMENSIONS;
  const base64 = ctx.body.encoding_format === 'base64'; // the official SDKs ask for base64 by default
  const promptTokens = inputs.reduce((n, x) => n + x.tokens, 0);
  const usage = deepMerge({ prompt_tokens: promptTokens, total_tokens: promptTokens }, ctx.script?.usage);
  return {
    body: {
      object: 'list',
      data: inputs.map((x, index) => {
        const vector = embeddingVector(x.seed, dims);
        return {
          object: 'embedding',
          index,
          embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
        };
      }),
      model: ctx.model,
      usage,
    },
  };
}

function handleOpenAIModels() {
  return {
    body: {
      object: 'list',
      data: OPENAI_MODELS.map(([id, owned_by]) => ({ id, object: 'model', created: CREATED, owned_by })),
    },
  };
}

// ---------------------------------------------------------------------------
// Anthropic Messages API
// ---------------------------------------------------------------------------

/** Opus 4.7 and the models after it: adaptive thinking only, no sampling parameters. */
const anthropicAdaptiveOnly = (model) => /claude-(opus-4-([7-9]|[1-9]\d)(?!\d)|(opus|sonnet|haiku|fable|mythos)-([5-9]|[1-9]\d)(?!\d))/.test(String(model));
/** The models that think when a request says nothing of thinking (Claude 5), and those of them
 * that cannot be told not to (Opus and Sonnet 5.5, Fable, Mythos): LiteLLM 1.110.2's flags. */
const anthropicAlwaysThinks = (model) => /claude-(fable|mythos)|claude-(opus|sonnet)-(5-[5-9]|[6-9])(?!\d)/.test(String(model));
const anthropicThinksByDefault = (model) => anthropicAlwaysThinks(model) || /claude-(opus|sonnet|haiku)-[5-9](?!\d)/.test(String(model));
/** Whether the model thinks on this request: asked to, or by default and not told not to. */
const anthropicThinks = (body) => ['enabled', 'adaptive'].includes(body.thinking?.type) || (body.thinking == null && anthropicThinksByDefault(body.model));

/**
 * Why Anthropic would refuse a request for its shape, whatever it asks of thinking: tool blocks
 * without tools declared, a prefill ending in whitespace, and what Opus 4.7 and later refuse
 * (a thinking budget, sampling parameters).
 */
function anthropicShapeRefusal(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const blocks = messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
  if (blocks.some((b) => b.type === 'tool_use' || b.type === 'tool_result') && !(Array.isArray(body.tools) && body.tools.length)) {
    return 'Requests which include `tool_use` or `tool_result` blocks must define tools.';
  }
  const last = messages.at(-1);
  if (last?.role === 'assistant') {
    const text = typeof last.content === 'string' ? last.content : last.content?.filter?.((b) => b.type === 'text').at(-1)?.text;
    if (typeof text === 'string' && /\s$/.test(text)) return 'messages: final assistant content cannot end with trailing whitespace';
  }
  if (anthropicAdaptiveOnly(body.model)) {
    if (body.thinking?.type === 'enabled') return '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.';
    for (const param of ['temperature', 'top_p', 'top_k']) if (body[param] !== undefined) return `\`${param}\` is deprecated for this model.`;
  }
  return null;
}

/**
 * Why Anthropic would refuse a request that thinks (asked to, or by the model's default), if it
 * would (the messages of its 400s): a model that cannot think, a budget under 1,024 or not below
 * max_tokens, sampling settings thinking does not take, a forced tool choice, a prefill, and a
 * tool loop whose last assistant turn does not start with the thinking block it was given; and
 * `disabled` sent to a model that always thinks.
 */
function anthropicThinkingRefusal(body) {
  const { thinking } = body;
  if (thinking?.type === 'disabled' && anthropicAlwaysThinks(body.model)) return '`thinking.type.disabled` is not supported for this model: it always thinks.';
  if (!anthropicThinks(body)) return null;
  if (thinking?.type === 'enabled') {
    if (!/claude-(3-7|(opus|sonnet|haiku)-4|[4-9])/.test(String(body.model))) return `'${body.model}' does not support thinking.`;
    const budget = thinking.budget_tokens;
    if (!Number.isInteger(budget) || budget < 1024) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
    if (!(body.max_tokens > budget)) return '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size';
    if (body.temperature !== undefined && body.temperature !== 1) return '`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
    if (body.top_p !== undefined && body.top_p < 0.95) return '`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
    if (body.top_k !== undefined) return '`top_k` must be unset when thinking is enabled.';
  }
  if (['any', 'tool'].includes(body.tool_choice?.type)) return 'Thinking may not be enabled when tool_choice forces tool use.';
  const messages = body.messages ?? [];
  const last = messages.at(-1);
  if (last?.role === 'assistant') return 'This model does not support assistant message prefill. The conversation must end with a user message.';
  // A thinking block sent back must be one Anthropic gave (it checks the signature).
  for (const m of messages.filter((m) => m.role === 'assistant' && Array.isArray(m.content))) {
    if (m.content.some((b) => b.type === 'thinking' && b.signature !== ANTHROPIC_SIGNATURE)) return 'Invalid `signature` in `thinking` block';
  }
  const lastAssistant = messages.findLast((m) => m.role === 'assistant');
  const blocks = Array.isArray(lastAssistant?.content) ? lastAssistant.content : [];
  if (blocks.some((b) => b.type === 'tool_use') && !['thinking', 'redacted_thinking'].includes(blocks[0]?.type)) {
    return 'messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking';
  }
  return null;
}

/**
 * Why Anthropic would refuse a request with structured outputs (`output_config.format`), if it
 * would: a model before Claude 4.5, a format other than a JSON schema, a prefill, and a schema
 * outside the grammar's subset (an object not closed with `additionalProperties: false`, a
 * numeric or length bound, `maxItems`, `minItems` above 1, an unknown keyword).
 */
function anthropicOutputFormatRefusal(body) {
  const { format } = body.output_config;
  if (!/claude-((opus|sonnet|haiku)-4-[5-9]|(opus|sonnet|haiku)-[5-9]|[5-9])/.test(String(body.model))) return `'${body.model}' does not support output_config.format.`;
  if (format.type !== 'json_schema' || typeof format.schema !== 'object' || format.schema === null) return 'output_config.format: Input tag does not match the expected tag \'json_schema\'';
  if (body.messages?.at(-1)?.role === 'assistant') return 'Prefilling assistant messages is not supported when using structured outputs.';
  const known = new Set(['type', 'properties', 'required', 'items', 'enum', 'const', 'anyOf', 'allOf', '$ref', '$defs', 'definitions', 'default', 'description', 'title', 'additionalProperties', 'format', 'minItems', 'pattern']);
  const check = (s, path) => {
    if (typeof s !== 'object' || s === null) return `${path}: a schema must be an object`;
    for (const k of Object.keys(s)) if (!known.has(k)) return `${path}: The keyword '${k}' is not supported in output format schemas.`;
    if ((s.type === 'object' || s.properties) && s.additionalProperties !== false) return `${path}: For 'object' type, 'additionalProperties' must be explicitly set to false`;
    if (s.minItems !== undefined && s.minItems > 1) return `${path}: minItems values other than 0 or 1 are not supported`;
    for (const [k, v] of Object.entries(s.properties ?? {})) { const e = check(v, `${path}.properties.${k}`); if (e) return e; }
    for (const [k, v] of Object.entries(s.$defs ?? s.definitions ?? {})) { const e = check(v, `${path}.$defs.${k}`); if (e) return e; }
    if (s.items) { const e = check(s.items, `${path}.items`); if (e) return e; }
    for (const [i, v] of (s.anyOf ?? s.allOf ?? []).entries()) { const e = check(v, `${path}.anyOf.${i}`); if (e) return e; }
    return null;
  };
  const problem = check(format.schema, 'output_config.format.schema');
  return problem ? `Invalid schema: ${problem}` : null;
}

/** The thinking block a request with extended thinking gets before its answer. */
const ANTHROPIC_THINKING = 'The user wants an answer; work it out step by step first.';
const ANTHROPIC_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds';
const thinkingRequested = (ctx) => anthropicThinks(ctx.body);

function anthropicUsage(plan) {
  return deepMerge({
    input_tokens: plan.promptTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: plan.completionTokens,
    service_tier: 'standard',
  }, plan.usageOverride);
}

function anthropicContentBlock(ctx, plan) {
  return plan.kind === 'tool'
    ? { type: 'tool_use', id: `toolu_${nextId(ctx.state)}`, name: plan.tool.name, input: toolInput(plan) }
    : { type: 'text', text: plan.text };
}

function anthropicMessage(ctx, plan) {
  return {
    id: `msg_${nextId(ctx.state)}`,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content: [
      ...(thinkingRequested(ctx) ? [{ type: 'thinking', thinking: ANTHROPIC_THINKING, signature: ANTHROPIC_SIGNATURE }] : []),
      anthropicContentBlock(ctx, plan),
    ],
    stop_reason: nativeFinish('anthropic', plan.finish),
    stop_sequence: null,
    usage: anthropicUsage(plan),
  };
}

function anthropicStreamEvents(ctx, plan) {
  const usage = anthropicUsage(plan);
  const block = anthropicContentBlock(ctx, plan);
  // Blocks open empty; their content arrives through deltas.
  const startBlock = block.type === 'tool_use' ? { ...block, input: {} } : { type: 'text', text: '' };
  const deltas = block.type === 'tool_use'
    ? splitEvenly(plan.tool.arguments, 3).map((partial_json) => ({ type: 'input_json_delta', partial_json }))
    : splitIntoDeltas(plan.text).map((text) => ({ type: 'text_delta', text }));
  const { output_tokens: outputTokens, ...inputUsage } = usage;
  const answerIndex = thinkingRequested(ctx) ? 1 : 0;
  return [
    {
      type: 'message_start',
      message: {
        id: `msg_${nextId(ctx.state)}`,
        type: 'message',
        role: 'assistant',
        model: ctx.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // Anthropic reports input (and cache) usage up front, with a placeholder output count.
        usage: { ...inputUsage, output_tokens: 1 },
      },
    },
    // With extended thinking, the thinking block comes first (its text, then its signature).
    ...(thinkingRequested(ctx) ? [
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      ...splitIntoDeltas(ANTHROPIC_THINKING).map((thinking) => ({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking } })),
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: ANTHROPIC_SIGNATURE } },
      { type: 'content_block_stop', index: 0 },
    ] : []),
    { type: 'content_block_start', index: answerIndex, content_block: startBlock },
    { type: 'ping' },
    ...deltas.map((delta) => ({ type: 'content_block_delta', index: answerIndex, delta })),
    { type: 'content_block_stop', index: answerIndex },
    {
      type: 'message_delta',
      delta: { stop_reason: nativeFinish('anthropic', plan.finish), stop_sequence: null },
      usage: { output_tokens: outputTokens },
    },
    { type: 'message_stop' },
  ].map(anthropicEvent);
}

function handleAnthropicMessages(ctx) {
  const plan = planAnswer(ctx, summariseAnthropic(ctx.body));
  const tooLong = contextWindowRefusal(ctx, plan);
  if (tooLong) return tooLong;
  return ctx.stream ? { events: anthropicStreamEvents(ctx, plan) } : { body: anthropicMessage(ctx, plan) };
}

// ---------------------------------------------------------------------------
// Gemini generateContent / streamGenerateContent
// ---------------------------------------------------------------------------

/** A refusal is a SAFETY stop with no content, so nothing was generated. */
const geminiCompletionTokens = (plan) => (plan.refusal ? 0 : plan.completionTokens);

function geminiUsage(plan) {
  const usage = deepMerge({
    promptTokenCount: plan.promptTokens,
    candidatesTokenCount: geminiCompletionTokens(plan),
    totalTokenCount: 0,
    cachedContentTokenCount: 0,
    thoughtsTokenCount: 0,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: plan.promptTokens }],
  }, plan.usageOverride);
  if (plan.usageOverride?.totalTokenCount === undefined) {
    // Gemini's total includes thinking tokens; cached tokens are already part of the prompt.
    usage.totalTokenCount = usage.promptTokenCount + usage.candidatesTokenCount + usage.thoughtsTokenCount;
  }
  return usage;
}

function geminiCandidate(plan, parts, finished) {
  const candidate = {};
  if (!plan.refusal) candidate.content = { parts, role: 'model' };
  if (finished) {
    candidate.finishReason = nativeFinish('gemini', plan.finish);
    if (plan.refusal) {
      candidate.safetyRatings = [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }];
    }
  }
  candidate.index = 0;
  return candidate;
}

/** The thought signature a Gemini 3 model puts on its (first) function call. */
const GEMINI_SIGNATURE = 'Q2lRQjBlMmtiNGZha2Vfc2lnbmF0dXJl';
const GEMINI_SIGNATURE_PLACEHOLDER = 'skip_thought_signature_validator';

/**
 * Why Gemini 3 would refuse a history, if it would: the first function call of each model turn
 * must carry the thought signature it was given (or Google's documented placeholder).
 */
function geminiSignatureRefusal(body) {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  for (const [i, c] of contents.entries()) {
    if (c?.role !== 'model') continue;
    const first = (c.parts ?? []).find((p) => pick(p, 'functionCall', 'function_call'));
    if (!first) continue;
    const signature = pick(first, 'thoughtSignature', 'thought_signature');
    const name = pick(first, 'functionCall', 'function_call').name;
    if (signature === undefined) return `Function call \`${name}\` in the ${i + 1}. content block is missing a \`thought_signature\`.`;
    if (signature !== GEMINI_SIGNATURE && signature !== GEMINI_SIGNATURE_PLACEHOLDER) return 'Thought signature is not valid.';
  }
  return null;
}

/**
 * The thinking levels a Gemini model takes, as Google's thinking guide lists them: 3 Pro low and
 * high, 3.1 Pro also medium, Flash before 3.7 from minimal, Flash from 3.7 and Gemini 4 not
 * minimal, xhigh on Gemini 4 Neon and Hydrogen only. `null`: not a model that thinks by level.
 */
function geminiThinkingLevels(model) {
  const m = /^gemini-(\d+)(?:\.(\d+))?-/.exec(model);
  if (!m || Number(m[1]) < 3) return null;
  const [major, minor] = [Number(m[1]), Number(m[2] ?? 0)];
  if (major === 3 && model.includes('flash')) return minor < 7 ? ['minimal', 'low', 'medium', 'high'] : ['low', 'medium', 'high'];
  if (major === 3 && minor === 0) return ['low', 'high'];
  return /neon|hydrogen/.test(model) ? ['low', 'medium', 'high', 'xhigh'] : ['low', 'medium', 'high'];
}

/** Why Gemini would refuse the request's thinking level, if it would: one its model does not take. */
function geminiThinkingLevelRefusal(model, body) {
  const config = pick(body, 'generationConfig', 'generation_config') ?? {};
  const level = pick(pick(config, 'thinkingConfig', 'thinking_config') ?? {}, 'thinkingLevel', 'thinking_level');
  const levels = geminiThinkingLevels(model);
  if (level == null || !levels || levels.includes(String(level).toLowerCase())) return null;
  return `Thinking level ${String(level).toUpperCase()} is not supported for this model. Supported levels: ${levels.map((l) => l.toUpperCase()).join(', ')}.`;
}

function geminiParts(plan, ctx) {
  const signed = /^gemini-[3-9]/.test(String(ctx?.model)) ? { thoughtSignature: GEMINI_SIGNATURE } : {};
  return plan.kind === 'tool'
    ? [{ functionCall: { name: plan.tool.name, args: toolInput(plan) }, ...signed }]
    : [{ text: plan.text }];
}

function geminiResponse(ctx, plan, responseId) {
  return {
    candidates: [geminiCandidate(plan, geminiParts(plan, ctx), true)],
    usageMetadata: geminiUsage(plan),
    modelVersion: ctx.model,
    responseId,
  };
}

/**
 * Streamed responses are complete GenerateContentResponse objects. Intermediate
 * ones carry only the prompt count; the last one carries finishReason and the
 * full usage (usage is cumulative, so a client must keep the last one).
 * Function calls arrive whole in a single chunk, as Gemini sends them.
 */
function geminiStreamResponses(ctx, plan) {
  const responseId = nextId(ctx.state);
  if (plan.kind === 'tool' || plan.refusal) return [geminiResponse(ctx, plan, responseId)];
  const pieces = splitEvenly(plan.text, 3);
  if (pieces.length === 0) pieces.push('');
  const partialUsage = {
    promptTokenCount: plan.promptTokens,
    totalTokenCount: plan.promptTokens,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: plan.promptTokens }],
  };
  return pieces.map((text, i) => {
    const last = i === pieces.length - 1;
    return {
      candidates: [geminiCandidate(plan, [{ text }], last)],
      usageMetadata: last ? geminiUsage(plan) : partialUsage,
      modelVersion: ctx.model,
      responseId,
    };
  });
}

function handleGeminiGenerate(ctx) {
  const plan = planAnswer(ctx, summariseGemini(ctx.body));
  return contextWindowRefusal(ctx, plan) ?? { body: geminiResponse(ctx, plan, nextId(ctx.state)) };
}

function handleGeminiStream(ctx) {
  const plan = planAnswer(ctx, summariseGemini(ctx.body));
  const tooLong = contextWindowRefusal(ctx, plan);
  if (tooLong) return tooLong;
  const responses = geminiStreamResponses(ctx, plan);
  if (ctx.query.alt === 'sse') return { events: responses.map(geminiEvent) };
  // Without alt=sse Gemini streams one JSON array, element by element.
  return {
    contentType: 'application/json; charset=UTF-8',
    events: responses.map((r, i) => `${i === 0 ? '[' : ',\r\n'}${JSON.stringify(r)}${i === responses.length - 1 ? ']' : ''}`),
  };
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

/**
 * `kind` groups endpoints, `required` lists body fields the provider insists on,
 * `modelOf` says which model a request is for (used in answers and script matching).
 */
const ROUTES = [
  {
    provider: 'openai', method: 'GET', pattern: /^\/openai\/v1\/models$/, kind: 'models',
    hasBody: false, modelOf: () => undefined, handle: handleOpenAIModels,
  },
  {
    provider: 'openai', method: 'POST', pattern: /^\/openai\/v1\/chat\/completions$/, kind: 'chat',
    hasBody: true, required: ['model', 'messages'], modelOf: (m, b) => b.model, handle: handleOpenAIChat,
  },
  {
    provider: 'openai', method: 'POST', pattern: /^\/openai\/v1\/embeddings$/, kind: 'embeddings',
    hasBody: true, required: ['model', 'input'], modelOf: (m, b) => b.model, handle: handleOpenAIEmbeddings,
  },
  {
    // Azure routes by deployment; the body's `model` (if any) is ignored, as Azure does.
    provider: 'azure', method: 'POST', pattern: /^\/azure\/openai\/deployments\/([^/]+)\/chat\/completions$/, kind: 'chat',
    hasBody: true, required: ['messages'], modelOf: (m) => decodeURIComponent(m[1]), handle: handleOpenAIChat,
  },
  {
    provider: 'azure', method: 'POST', pattern: /^\/azure\/openai\/deployments\/([^/]+)\/embeddings$/, kind: 'embeddings',
    hasBody: true, required: ['input'], modelOf: (m) => decodeURIComponent(m[1]), handle: handleOpenAIEmbeddings,
  },
  {
    provider: 'anthropic', method: 'POST', pattern: /^\/anthropic\/v1\/messages$/, kind: 'chat',
    hasBody: true, required: ['model', 'messages', 'max_tokens'], modelOf: (m, b) => b.model, handle: handleAnthropicMessages,
  },
  {
    provider: 'gemini', method: 'POST', pattern: /^\/gemini\/v1(?:beta)?\/models\/([^/:]+):generateContent$/, kind: 'chat',
    hasBody: true, required: ['contents'], modelOf: (m) => decodeURIComponent(m[1]), handle: handleGeminiGenerate,
  },
  {
    provider: 'gemini', method: 'POST', pattern: /^\/gemini\/v1(?:beta)?\/models\/([^/:]+):streamGenerateContent$/, kind: 'chat',
    hasBody: true, required: ['contents'], modelOf: (m) => decodeURIComponent(m[1]), handle: handleGeminiStream, alwaysStreams: true,
  },
];

function matchRoute(method, path) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match && route.method === method) return { route, match };
  }
  return null;
}

/** The provider a path belongs to, from its first segment. */
function providerOfPath(path) {
  const first = path.split('/')[1];
  return PROVIDERS.includes(first) ? first : undefined;
}

/** Unknown path under a provider prefix: that provider's 404. */
function notFoundResult(ctx, method, path) {
  const inner = path.slice(ctx.provider.length + 1);
  switch (ctx.provider) {
    case 'openai':
      return errorResult(ctx, 404, { message: `Invalid URL (${method} ${inner})`, code: null });
    case 'anthropic':
      return errorResult(ctx, 404, { message: 'Not Found' });
    case 'gemini':
      return errorResult(ctx, 404, { message: `The requested URL ${inner} was not found on this server.` });
    default:
      return errorResult(ctx, 404, {});
  }
}

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Returns the parsed JSON, or undefined if `raw` is not JSON. */
function tryParseJson(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Resolves once `chunk` has been handed to the socket, so a following destroy() can't drop it. */
const writeFlushed = (res, chunk) => new Promise((resolve) => res.write(chunk, () => resolve()));

/** Streams `events` one write at a time. `truncateAfter` cuts the connection after that many;
 * then `cutMidEvent` sends the first half of the next event before the cut, and `badEvent` sends
 * the next event with its JSON broken and the rest of the stream as usual. */
async function sendEvents(ctx, res, result, { truncateAfter, stall = false, cutMidEvent = false, badEvent = false, eventDelayMs }) {
  res.writeHead(200, {
    'content-type': result.contentType ?? 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...providerHeaders(ctx),
  });
  res.flushHeaders();
  const { events } = result;
  const limit = truncateAfter === undefined ? events.length : Math.min(truncateAfter, events.length);
  for (let i = 0; i < limit; i++) {
    if (res.destroyed) return;
    await writeFlushed(res, events[i]);
    if (i < limit - 1 && !(await sleep(eventDelayMs, ctx.signal))) return;
  }
  if (truncateAfter === undefined) return res.end();
  if (badEvent && limit < events.length) {
    // Framed as the provider frames it, its JSON broken: `{` becomes `{ not json`.
    await writeFlushed(res, events[limit].replace('{', '{ not json'));
    for (const event of events.slice(limit + 1)) {
      if (res.destroyed) return;
      await writeFlushed(res, event);
    }
    return res.end();
  }
  if (cutMidEvent && limit < events.length) await writeFlushed(res, events[limit].slice(0, Math.ceil(events[limit].length / 2)));
  // A host stuck after its first events: nothing more, the connection held until the client
  // hangs up.
  if (stall) await new Promise((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', resolve, { once: true })));
  res.destroy(); // no closing chunk: the client sees a connection cut mid-stream
}

/** Sends a JSON result; with `truncate`, promises the full length but sends half and hangs up. */
async function sendBody(ctx, res, result, { truncate }) {
  const headers = { ...providerHeaders(ctx), ...(result.headers ?? {}) };
  if (!truncate) return sendJson(res, result.status ?? 200, result.body, headers);
  const bytes = Buffer.from(JSON.stringify(result.body));
  res.writeHead(result.status ?? 200, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
  await writeFlushed(res, bytes.subarray(0, Math.floor(bytes.length / 2)));
  res.destroy();
}

/** The processing tier OpenAI reports: the one asked for, if it is one it has. */
function servedTier(ctx) {
  return ['priority', 'fast', 'flex', 'ultrafast'].includes(ctx.body?.service_tier) ? ctx.body.service_tier : 'default';
}

/** Applies a scripted error/fault. Returns true if the request has been fully answered. */
async function applyScriptedFault(ctx, req, res, script) {
  if (script.fault === 'stalled_body') {
    // Headers, then the body's first bytes and nothing more until the client hangs up: a
    // host whose body never ends.
    res.writeHead(script.status ?? 200, { 'content-type': 'application/json', ...providerHeaders(ctx) });
    res.write('{"id": "stalled", ');
    await new Promise((resolve) => (ctx.signal.aborted ? resolve() : ctx.signal.addEventListener('abort', resolve, { once: true })));
    res.destroy();
    return true;
  }
  if (script.status !== undefined) {
    if (script.delay_ms !== undefined && !(await sleep(script.delay_ms, ctx.signal))) return true;
    // The error body's fields a test sets; Gemini's `status` name is not one (`status` is HTTP's).
    const fields = Object.fromEntries(['message', 'code', 'type', 'param', 'details', 'retryDelay'].filter((k) => script[k] !== undefined).map((k) => [k, script[k]]));
    const result = errorResult(ctx, script.status, fields);
    sendJson(res, result.status, script.body ?? result.body, { ...result.headers, ...(script.headers ?? {}) });
    return true;
  }
  switch (script.fault) {
    case 'reset':
      req.socket.destroy();
      return true;
    case 'invalid_json': {
      const body = '{"id": "fake", "choices": [ this is not json';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...providerHeaders(ctx) });
      res.end(body);
      return true;
    }
    case 'redirect':
      // A host that moved (or a lapsed domain): a client that follows it sends the request,
      // key headers included, to wherever `location` points.
      res.writeHead(307, { location: script.location, 'content-length': 0 });
      res.end();
      return true;
    case 'slow':
      // Delay before any byte of the answer (time to first byte), then answer normally.
      return !(await sleep(script.delay_ms, ctx.signal));
    default:
      return false;
  }
}

async function handleProviderRequest(state, req, res, url, raw) {
  const path = url.pathname;
  const query = Object.fromEntries(url.searchParams);
  const provider = providerOfPath(path);
  if (!provider) return sendJson(res, 404, { error: `fake upstream: no provider at ${path}` });

  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const ctx = {
    state,
    provider,
    route: null,
    query,
    headers: req.headers,
    body: tryParseJson(raw),
    model: undefined,
    stream: false,
    script: null,
    signal: abort.signal,
    requestId: `req_${nextId(state)}`,
  };

  const found = matchRoute(req.method, path);
  if (!found) {
    const r = notFoundResult(ctx, req.method, path);
    return sendJson(res, r.status, r.body, r.headers);
  }
  ctx.route = found.route;

  const denied = checkAuth(ctx);
  if (denied) return sendJson(res, denied.status, denied.body, denied.headers);
  // Before the checks of the body: some depend on the model (Gemini 3's, which the URL names).
  ctx.model = found.route.modelOf(found.match, isObject(ctx.body) ? ctx.body : {});
  const rejection = checkPreconditions(ctx);
  if (rejection) return sendJson(res, rejection.status, rejection.body, rejection.headers);
  ctx.stream = found.route.alwaysStreams === true || ctx.body?.stream === true;
  const invalid = isMistral(ctx) ? mistralValidation(ctx) : null;
  if (invalid) return sendJson(res, invalid.status, invalid.body, providerHeaders(ctx));
  ctx.script = state.scripts.take(provider, ctx.model);

  if (ctx.script && (await applyScriptedFault(ctx, req, res, ctx.script))) return undefined;
  if (res.destroyed) return undefined;

  const result = found.route.handle(ctx);
  const truncate = ctx.script?.fault === 'truncated';
  const stall = ctx.script?.fault === 'stalled_stream';
  if (result.events) {
    return sendEvents(ctx, res, result, {
      truncateAfter: STREAM_CUT_FAULTS.includes(ctx.script?.fault) ? (ctx.script.truncate_after ?? 2) : undefined,
      stall,
      cutMidEvent: ctx.script?.fault === 'cut_mid_event',
      badEvent: ctx.script?.fault === 'bad_event',
      eventDelayMs: ctx.script?.event_delay_ms ?? EVENT_DELAY_MS,
    });
  }
  // A scripted body replaces a whole (non-streamed) answer: a host's own shape of success.
  if (ctx.script?.body !== undefined && ctx.script.status === undefined) result.body = ctx.script.body;
  return sendBody(ctx, res, result, { truncate });
}

/** /__control/...: scripting, reset and the request log. Never recorded in the log. */
function handleControl(state, req, res, path, raw) {
  const route = `${req.method} ${path}`;
  if (route === 'POST /__control/script') {
    const body = tryParseJson(raw);
    try {
      const rules = Array.isArray(body) ? body : [body];
      for (const rule of rules) normaliseRule(rule); // validate all before queueing any
      for (const rule of rules) state.scripts.add(rule);
    } catch (err) {
      return sendJson(res, 400, { error: err.message });
    }
    return sendJson(res, 200, { ok: true, pending: state.scripts.size });
  }
  if (route === 'POST /__control/reset') {
    resetState(state);
    return sendJson(res, 200, { ok: true });
  }
  if (route === 'GET /__control/requests') return sendJson(res, 200, state.log);
  return sendJson(res, 404, { error: `unknown control endpoint ${route}` });
}

function resetState(state) {
  state.scripts.clear();
  state.log = [];
  state.seq = 0;
}

function createHandler(state) {
  return async (req, res) => {
    try {
      const url = new URL(req.url, 'http://fake-upstream.invalid');
      const raw = await readBody(req);
      if (url.pathname.startsWith('/__control/')) return handleControl(state, req, res, url.pathname, raw);
      state.log.push({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...req.headers }, // Node already lower-cases header names
        body: raw === '' ? null : tryParseJson(raw) ?? raw,
      });
      return await handleProviderRequest(state, req, res, url, raw);
    } catch (err) {
      // A bug in the fake itself: say so loudly rather than imitate a provider.
      console.error('fake upstream internal error:', err);
      if (!res.headersSent) sendJson(res, 500, { error: `fake upstream internal error: ${err.message}` });
      else res.destroy();
      return undefined;
    }
  };
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/**
 * Each served model's context window from a kv-seed catalog and pricing: a deployment's
 * `upstream_model` (the name a request to the demo carries) gets the most prompt tokens its
 * pricing row allows (`max_input_tokens` or `context_window`, the lower), the first deployment
 * of a name winning as in the router's usage records.
 */
export function contextWindowsFromSeed(catalog, pricing) {
  const windows = {};
  for (const [name, model] of Object.entries(catalog.models ?? {})) {
    for (const deployment of model.deployments ?? []) {
      const row = pricing.models?.[deployment.price_key ?? model.price_key ?? name];
      const limits = [row?.max_input_tokens, row?.context_window].filter(Number.isInteger);
      const window = limits.length ? Math.min(...limits) : undefined;
      if (Number.isInteger(window) && !Object.hasOwn(windows, deployment.upstream_model)) windows[deployment.upstream_model] = window;
    }
  }
  return windows;
}

/**
 * Start the fake upstream. In demo mode `contextWindows` ({model: tokens}) makes it refuse a
 * prompt longer than the model's window, as the provider would.
 * @returns {Promise<{url: string, port: number, close(): Promise<void>, reset(): void,
 *   script(rule: object|object[]): number, requests(): object[]}>}
 */
export async function startFakeUpstream({ port = 0, host = '127.0.0.1', demo = false, contextWindows = {} } = {}) {
  const state = { demo: Boolean(demo), contextWindows: new Map(Object.entries(contextWindows)), scripts: new ScriptQueue(), log: [], seq: 0 };
  const server = http.createServer(createHandler(state));
  // Real providers keep idle connections open for a minute or more. Node's 5 s default closes a
  // pooled connection just as workerd reuses it under load ("Network connection lost").
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  let closing;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // don't wait for idle keep-alive sockets or open streams
      });
      return closing;
    },
    reset() {
      resetState(state);
    },
    /** Queue one rule (or an array); returns how many rules are pending. Throws TypeError if invalid. */
    script(rule) {
      const rules = Array.isArray(rule) ? rule : [rule];
      rules.forEach(normaliseRule);
      for (const r of rules) state.scripts.add(r);
      return state.scripts.size;
    },
    requests() {
      return clone(state.log);
    },
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { port: 0, demo: false, contextWindows: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--demo') opts.demo = true;
    else if (arg === '--seed') {
      const dir = argv[++i];
      if (dir === undefined) throw new Error('--seed needs the kv-seed directory');
      const read = (file) => JSON.parse(readFileSync(join(dir, file), 'utf8'));
      opts.contextWindows = contextWindowsFromSeed(read('catalog.json'), read('pricing.json'));
    } else if (arg === '--port' || arg.startsWith('--port=')) {
      const value = arg === '--port' ? argv[++i] : arg.slice('--port='.length);
      opts.port = Number(value);
      if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`invalid --port ${value}`);
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: node tests/fake-upstream/server.mjs [--port N] [--demo [--seed KV_SEED_DIR]]\n');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let upstream;
  // Installed before listening, so a signal during start-up also exits cleanly.
  const stop = async () => {
    await upstream?.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  upstream = await startFakeUpstream(opts);
  process.stdout.write(`${JSON.stringify({ listening: upstream.url })}\n`);
}

function isMainModule() {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
