// Runs the real built worker (build/index.js + wasm) in workerd through Miniflare, against the
// fake provider server, with in-memory KV seeded for two tenants. Cost events are collected
// through the EVENT_SINK service binding, which only test configuration defines.
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Miniflare } from 'miniflare';

// Miniflare would fetch request.cf's placeholder from workers.cloudflare.com on every start
// (outside the registries here; 3 s timeout each): its built-in placeholder serves.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
import { startFakeUpstream } from '../fake-upstream/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const KEYS = Object.freeze({
  acme: 'cr-acmeTESTkey000000000000000000000000000001',
  globex: 'cr-globexTESTkey0000000000000000000000000002',
  revoked: 'cr-revokedTESTkey000000000000000000000000003',
  restricted: 'cr-restrictedTESTkey000000000000000000000004',
  policyco: 'cr-policycoTESTkey00000000000000000000000005',
});
export const ADMIN_TOKEN = 'admin-token-for-tests-only-0123456789';

import { createHash } from 'node:crypto';
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/** The catalog the tests route over: every provider kind, pointed at the fake upstream. */
export function testCatalog(up) {
  return {
    version: 1,
    providers: {
      openai: { kind: 'openai', base_url: `${up}/openai/v1`, key_secret: 'OPENAI_API_KEY', region: 'us', quirks: { openai_types_only: true } },
      azure: { kind: 'azure', base_url: `${up}/azure/openai`, key_secret: 'AZURE_OPENAI_API_KEY', api_version: '2024-10-21', region: 'eu' },
      anthropic: { kind: 'anthropic', base_url: `${up}/anthropic/v1`, key_secret: 'ANTHROPIC_API_KEY' },
      gemini: { kind: 'gemini', base_url: `${up}/gemini/v1beta`, key_secret: 'GEMINI_API_KEY' },
      // An OpenAI-compatible host as a preset row, with Mistral's quirks, served by the fake OpenAI.
      mistral: { preset: 'mistral', base_url: `${up}/openai/v1`, key_secret: 'OPENAI_API_KEY' },
      slow: { kind: 'openai', base_url: `${up}/openai/v1`, key_secret: 'OPENAI_API_KEY', timeout_ms: 400, answer_timeout_ms: 400 },
      nokey: { kind: 'openai', base_url: `${up}/openai/v1`, key_secret: 'UNSET_SECRET' },
      badkey: { kind: 'openai', base_url: `${up}/openai/v1`, key_secret: 'WRONG_OPENAI_KEY' },
    },
    models: {
      'gpt-4o-mini': { deployments: [{ provider: 'openai', upstream_model: 'gpt-4o-mini' }, { provider: 'azure', upstream_model: 'mini-deploy' }] },
      'gpt-4o': { deployments: [{ provider: 'openai', upstream_model: 'gpt-4o' }] },
      'claude-haiku-4-5': { deployments: [{ provider: 'anthropic', upstream_model: 'claude-haiku-4-5' }] },
      'gemini-2.5-flash': { deployments: [{ provider: 'gemini', upstream_model: 'gemini-2.5-flash' }] },
      'mistral-small': { deployments: [{ provider: 'mistral', upstream_model: 'mistral-small-latest' }] },
      'slow-model': { deployments: [{ provider: 'slow', upstream_model: 'slow-model' }], price_key: 'gpt-4o-mini' },
      'nokey-model': { deployments: [{ provider: 'nokey', upstream_model: 'x' }], price_key: 'gpt-4o-mini' },
      'badkey-model': { deployments: [{ provider: 'badkey', upstream_model: 'gpt-4o-mini' }, { provider: 'anthropic', upstream_model: 'claude-haiku-4-5' }], price_key: 'gpt-4o-mini' },
      'text-embedding-3-small': { mode: 'embedding', deployments: [{ provider: 'openai', upstream_model: 'text-embedding-3-small' }] },
      'gemini-embedding': { mode: 'embedding', deployments: [{ provider: 'gemini', upstream_model: 'text-embedding-004' }], price_key: 'text-embedding-3-small' },
    },
    aliases: { fast: 'gpt-4o-mini', gpt4o: 'gpt-4o' },
  };
}

/** The provider keys every router is given (secrets the logs must never hold). */
const PROVIDER_KEY_BINDINGS = Object.freeze({
  OPENAI_API_KEY: 'test-openai-key',
  AZURE_OPENAI_API_KEY: 'test-azure-key',
  ANTHROPIC_API_KEY: 'test-anthropic-key',
  GEMINI_API_KEY: 'test-gemini-key',
  WRONG_OPENAI_KEY: 'sk-wrong-key-that-must-never-leak-123456',
});

/** `miniflare` adds Miniflare options (the load test's inspector port). `assets`: serve
 * build/assets as wrangler.toml does (the dashboard's script; Miniflare then puts its assets
 * router in front of the worker, which only the dashboard's tests need). */
export async function startRouter({ catalog, extraBindings = {}, policies = {}, miniflare = {}, assets = false } = {}) {
  const upstream = await startFakeUpstream();
  const events = [];
  // Every line workerd writes (the worker's console output, runtime errors), kept for the tests
  // that check what the logs hold, and passed through as Miniflare would.
  const logLines = [];
  const logsEnded = [];
  const capture = (stream, sink) => {
    let rest = '';
    stream.on('data', (chunk) => {
      sink.write(chunk);
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop();
      logLines.push(...lines);
    });
    logsEnded.push(new Promise((resolve) => stream.on('end', () => { if (rest) logLines.push(rest); resolve(); })));
  };
  const mf = new Miniflare({
    handleRuntimeStdio: (stdout, stderr) => { capture(stdout, process.stdout); capture(stderr, process.stderr); },
    modules: true,
    scriptPath: path.join(ROOT, 'build/index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate: '2025-09-01',
    compatibilityFlags: ['enable_request_signal'], // as wrangler.toml
    host: '127.0.0.1',
    port: 0,
    // A socket straight into the worker as well, without Miniflare's entry worker in front: a
    // client that disconnects there is seen by the worker as it would be in production.
    unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    // As wrangler.toml: the dashboard's script from build/assets, the worker answering first.
    ...(assets ? { assets: { directory: path.join(ROOT, 'build/assets'), binding: 'ASSETS', routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true } } } : {}),
    kvNamespaces: ['CONFIG', 'TENANTS', 'RESPONSE_CACHE'],
    // As wrangler.toml binds it (Miniflare's dataset keeps nothing): every event is written
    // through the production path, which logs 'cost event not written' if the dataset refuses it.
    analyticsEngineDatasets: { COST_EVENTS: { dataset: 'costrouter_cost_events' } },
    durableObjects: { LEDGER: { className: 'Ledger', useSQLite: true }, SEMANTIC_CACHE: { className: 'SemanticCache', useSQLite: true }, RESPONSE_ITEMS: { className: 'ResponseItems', useSQLite: true } },
    bindings: {
      ...PROVIDER_KEY_BINDINGS,
      ADMIN_TOKEN,
      MAX_BODY_BYTES: '262144',
      ...extraBindings,
    },
    serviceBindings: {
      EVENT_SINK: async (request) => {
        events.push(await request.json());
        return new Response('ok');
      },
    },
    ...miniflare,
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const directUrl = (await mf.unsafeGetDirectURL()).toString().replace(/\/$/, '');
  const config = await mf.getKVNamespace('CONFIG');
  await config.put('catalog', JSON.stringify(catalog ?? testCatalog(upstream.url)));
  await config.put('pricing', readFileSync(path.join(ROOT, 'kv-seed/pricing.json'), 'utf8'));
  const weights = readFileSync(path.join(ROOT, 'kv-seed/embedder.bin'));
  await config.put('embedder', weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength));
  for (const [tenantId, toml] of Object.entries(policies)) await config.put(`policy:${tenantId}`, toml);
  const tenants = await mf.getKVNamespace('TENANTS');
  const tenant = async (id, extra = {}) => tenants.put(`tenant:${id}`, JSON.stringify({ id, name: id, plan: 'pro', ...extra }));
  const key = async (k, tenant_id, extra = {}) =>
    tenants.put(`key:${sha256(k)}`, JSON.stringify({ key_id: `key_${sha256(k).slice(0, 12)}`, tenant_id, name: 'test', created_at: 0, ...extra }));
  await tenant('acme');
  await tenant('globex');
  await tenant('restricted', { allowed_models: ['fast'] });
  await key(KEYS.acme, 'acme');
  await key(KEYS.globex, 'globex');
  await key(KEYS.revoked, 'acme', { revoked_at: 1 });
  await key(KEYS.restricted, 'restricted');
  await tenant('policyco');
  await key(KEYS.policyco, 'policyco');

  const router = {
    url,
    /** The worker's own socket (no Miniflare entry worker in front), for client disconnects. */
    directUrl,
    upstream,
    events,
    mf,
    /** The lines workerd has logged so far. */
    logs: () => [...logLines],
    /**
     * The one cost event of a request (by id, or by a response carrying it): waits for it (they
     * are sent after the response), then a moment more, and fails unless there is exactly one.
     */
    async eventFor(idOrResponse, timeoutMs = 3000) {
      const id = typeof idOrResponse === 'string' ? idOrResponse : idOrResponse.headers.get('x-costrouter-request-id');
      const start = Date.now();
      while (!events.some((e) => e.request_id === id)) {
        if (Date.now() - start > timeoutMs) throw new Error(`no cost event for ${id}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 30));
      const all = events.filter((e) => e.request_id === id);
      if (all.length !== 1) throw new Error(`${all.length} cost events for ${id}, not one: ${JSON.stringify(all)}`);
      return all[0];
    },
    /** Waits for in-flight event posts (they are sent after the response). */
    async eventsSettled(count, timeoutMs = 3000) {
      const start = Date.now();
      while (events.length < count && Date.now() - start < timeoutMs) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      return events;
    },
    /** `path`: another endpoint that takes a chat-like body (`/v1/responses`). */
    async chat(body, { key = KEYS.acme, headers = {}, cf, host, signal, path = '/v1/chat/completions' } = {}) {
      const init = {
        method: 'POST',
        signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      };
      // `request.cf` and the hostname can only be set through Miniflare's dispatchFetch: the
      // production worker reads them from Cloudflare and nothing in a request can override them.
      if (cf || host) {
        const resp = await mf.dispatchFetch(`http://${host ?? '127.0.0.1'}${path}`, { ...init, cf: cf ?? {} });
        return resp;
      }
      return fetch(`${url}${path}`, init);
    },
    /** Runs the cron trigger (alert evaluation) as if fired at `when`. */
    async scheduled(when = new Date()) {
      const worker = await mf.getWorker();
      return worker.scheduled({ scheduledTime: when, cron: '* * * * *' });
    },
    /** Stops the worker and the fake upstream; fails if any request had more than one cost
     * event over the whole file (eventFor only sees duplicates within 30 ms of the first). */
    async close() {
      await new Promise((r) => setTimeout(r, 200)); // events still on their way after the last response
      await mf.dispose();
      await upstream.close();
      const counts = new Map();
      for (const e of events) if (e.request_id) counts.set(e.request_id, (counts.get(e.request_id) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1);
      if (twice.length > 0) throw new Error(`more than one cost event for ${twice.length} request(s): ${JSON.stringify(twice.slice(0, 5))}`);
      // Every test file's logs, not only the security tests': no secret the harness knows (the
      // provider keys it binds, the router keys, the admin token), nothing shaped as a router key
      // (those tests mint) or a webhook secret, and no exception the worker did not catch (one
      // after the response has left shows in no status). The last lines are in once workerd's
      // output streams have ended.
      await Promise.race([Promise.all(logsEnded), new Promise((r) => setTimeout(r, 2000))]);
      const secrets = [...Object.values(PROVIDER_KEY_BINDINGS), ...Object.values(KEYS), ADMIN_TOKEN, ...Object.entries(extraBindings).filter(([name, v]) => /KEY|SECRET|TOKEN/.test(name) && typeof v === 'string' && v.length >= 8).map(([, v]) => v)];
      const shaped = /cr-[A-Za-z0-9]{40}|whsec-[A-Za-z0-9-]{8,}/;
      const uncaught = /Uncaught|panicked at|RuntimeError|unreachable executed/;
      const bad = logLines.filter((line) => uncaught.test(line) || shaped.test(line) || secrets.some((s) => line.includes(s)));
      if (bad.length > 0) throw new Error(`the worker logged ${bad.length} line(s) it must not: ${bad.slice(0, 5).map((l) => l.slice(0, 300)).join(' | ')}`);
    },
  };
  return router;
}

/** Reads an SSE response into its `data:` payloads (parsed where JSON) and comments. */
/** Runs a command in the repository (an SDK check script), its output gathered; killed after
 * `timeoutMs`. Resolves `{ code, output }`, never rejects. */
export function runInRepo(cmd, args, { env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { output += `\n[killed after ${timeoutMs} ms]`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, output: `${output}\n${err.message}` }); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

export async function readSse(resp) {
  const text = await resp.text();
  const data = [];
  const comments = [];
  for (const block of text.split('\n\n')) {
    for (const line of block.split('\n')) {
      if (line.startsWith('data: ')) {
        const payload = line.slice(6);
        data.push(payload === '[DONE]' ? payload : JSON.parse(payload));
      } else if (line.startsWith(': ')) comments.push(line.slice(2));
    }
  }
  return { text, data, comments };
}
