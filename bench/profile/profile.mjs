// Driven by bench/profile/run.sh (which starts the nginx mock on 127.0.0.1:9100 first).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Miniflare } from 'miniflare';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// ws comes with miniflare (a dependency of it, not of this project).
const require = createRequire(ROOT + '/node_modules/miniflare/package.json');
const WebSocket = require('ws');
const KEY = 'cr-benchKEY00000000000000000000000000000001';
// PROFILE_BUILD: a copy of build/ whose module has its function names (run.sh makes it), so that
// the profile names Rust's functions.
const bundle = process.env.PROFILE_BUILD ?? ROOT + '/build';
const mf = new Miniflare({
  modules: true, scriptPath: bundle + '/index.js', modulesRoot: bundle,
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  compatibilityDate: '2025-09-01',
  compatibilityFlags: ['enable_request_signal'], // as wrangler.toml
  host: '127.0.0.1', port: 0, inspectorPort: 9333,
  // Straight into the worker, as in production: no Miniflare entry worker in front (see
  // bench/latency/serve-worker.mjs).
  unsafeDirectSockets: [{ host: '127.0.0.1', port: 9201 }],
  // As in production and under `workerd serve`: no JS worker in front of every outbound fetch.
  stripCfConnectingIp: false,
  kvNamespaces: ['CONFIG', 'TENANTS'], analyticsEngineDatasets: { COST_EVENTS: { dataset: 'costrouter_cost_events' } }, durableObjects: { LEDGER: { className: 'Ledger', useSQLite: true } },
  bindings: { OPENAI_API_KEY: 'sk-bench-upstream', ADMIN_TOKEN: 'bench-admin-token-0123456789' },
});
await mf.ready;
const provider = (p) => ({ kind: 'openai', base_url: `http://127.0.0.1:${p}/v1`, key_secret: 'OPENAI_API_KEY' });
const config = await mf.getKVNamespace('CONFIG');
await config.put('catalog', JSON.stringify({ version: 1, providers: { mock_json: provider(9100) }, models: { 'bench-json': { deployments: [{ provider: 'mock_json', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' } }, aliases: {} }));
await config.put('pricing', readFileSync(ROOT + '/kv-seed/pricing.json', 'utf8'));
const tenants = await mf.getKVNamespace('TENANTS');
const hash = createHash('sha256').update(KEY).digest('hex');
await tenants.put('tenant:bench', JSON.stringify({ id: 'bench', name: 'bench', plan: 'pro' }));
await tenants.put(`key:${hash}`, JSON.stringify({ key_id: `key_${hash.slice(0, 12)}`, tenant_id: 'bench', name: 'bench', created_at: 0 }));
const body = JSON.stringify({ model: 'bench-json', max_tokens: 64, messages: [{ role: 'user', content: 'Write a haiku about the sea.' }] });
const wrk = (secs) => execFileSync('wrk', ['-t1', '-c10', `-d${secs}s`, '-s', ROOT + '/bench/latency/wrk-post.lua', 'http://127.0.0.1:9201/v1/chat/completions'], { env: { ...process.env, BENCH_BODY: body, BENCH_AUTH: `Bearer ${KEY}` } }).toString();
console.log(wrk(3).split('\n').filter((l) => /Requests\/sec|Latency/.test(l)).join('\n'));
const targets = await (await fetch('http://127.0.0.1:9333/json')).json();
console.log('targets', targets.map((x) => x.title).join(' | '));
const t = targets.find((x) => x.title.includes('core:user')) ?? targets[0];
const ws = new WebSocket(t.webSocketDebuggerUrl);
await new Promise((r) => ws.on('open', r));
let id = 0; const pending = new Map();
ws.on('message', (m) => { const d = JSON.parse(m); if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 100 });
await send('Profiler.start');
console.log(wrk(5).split('\n').filter((l) => /Requests\/sec|Latency/.test(l)).join('\n'));
const { result } = await send('Profiler.stop');
const p = result.profile;
writeFileSync(ROOT + '/bench/out/worker.cpuprofile', JSON.stringify(p));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map(); const counts = new Map();
for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
let total = 0;
for (const [nid, c] of counts) { const n = byId.get(nid); const name = n.callFrame.functionName || `(${n.callFrame.url.split('/').pop()})`; self.set(name, (self.get(name) ?? 0) + c); total += c; }
for (const [name, c] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 50)) console.log((100 * c / total).toFixed(1).padStart(5), name.slice(0, 150));
ws.close();
await mf.dispose();
