// Serves a built worker in workerd through Miniflare on a fixed port, as `make dev` would but
// without wrangler's development proxy or Miniflare's entry worker, and stays up until killed.
//   node serve-worker.mjs costrouter <port>   the router, configured to route two models to the nginx mock
//                                             (the bundle in $COSTROUTER_BUILD when set, else build/)
//   node serve-worker.mjs trivial <port>      bench/latency/trivial-worker (the runtime's own limit)
//   node serve-worker.mjs relay <port>        a few lines of plain JS that pass each request to the
//                                             nginx mock and its answer back: the runtime's limit
//                                             for any worker that makes one upstream call
// Prints "ready <url>" once it accepts requests. No EVENT_SINK binding: as in production, the
// Analytics Engine write is the only event sink (a no-op locally).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [which, port] = [process.argv[2], Number(process.argv[3])];
export const BENCH_KEY = 'cr-benchKEY00000000000000000000000000000001';

const common = {
  modules: true,
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  compatibilityDate: '2025-09-01',
  compatibilityFlags: ['enable_request_signal'], // as wrangler.toml
  host: '127.0.0.1',
  // Miniflare's own entry (a JS worker in front of every request: it injects a development `cf`
  // object and pretty error pages) listens on a spare port; the benchmark's port is a socket
  // straight into the worker, as in production and under `workerd serve`. Measured on this
  // machine, that entry worker alone cut the trivial worker's rate to about 40%.
  port: 0,
  unsafeDirectSockets: [{ host: '127.0.0.1', port }],
  // Miniflare otherwise puts a JS worker in front of every outbound fetch to strip the
  // CF-Connecting-IP header; production and `workerd serve` have no such hop.
  stripCfConnectingIp: false,
};

let mf;
if (which === 'trivial') {
  mf = new Miniflare({ ...common, scriptPath: path.join(ROOT, 'bench/latency/trivial-worker/build/index.js') });
  await mf.ready;
} else if (which === 'relay') {
  mf = new Miniflare({
    ...common,
    script: `export default { async fetch(request) {
      const body = await request.text();
      const port = body.includes('"stream":true') ? 9101 : 9100;
      const upstream = await fetch('http://127.0.0.1:' + port + '/v1/chat/completions', { method: 'POST', body,
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-upstream' } });
      return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    } }`,
  });
  await mf.ready;
} else if (which === 'costrouter') {
  mf = new Miniflare({
    ...common,
    // COSTROUTER_BUILD: another build's directory (bench/compare runs two side by side).
    scriptPath: path.join(process.env.COSTROUTER_BUILD ?? path.join(ROOT, 'build'), 'index.js'),
    modulesRoot: process.env.COSTROUTER_BUILD ?? path.join(ROOT, 'build'),
    kvNamespaces: ['CONFIG', 'TENANTS'],
    // Bound as in production, so each request pays for writing its cost event (Miniflare's
    // dataset keeps nothing, but the worker's side of the write is the same).
    analyticsEngineDatasets: { COST_EVENTS: { dataset: 'costrouter_cost_events' } },
    durableObjects: { LEDGER: { className: 'Ledger', useSQLite: true } },
    bindings: { OPENAI_API_KEY: 'sk-bench-upstream', ADMIN_TOKEN: 'bench-admin-token-0123456789' },
  });
  await mf.ready;
  const provider = (p) => ({ kind: 'openai', base_url: `http://127.0.0.1:${p}/v1`, key_secret: 'OPENAI_API_KEY' });
  const catalog = {
    version: 1,
    providers: { mock_json: provider(9100), mock_stream: provider(9101) },
    models: {
      'bench-json': { deployments: [{ provider: 'mock_json', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' },
      'bench-stream': { deployments: [{ provider: 'mock_stream', upstream_model: 'gpt-4o-mini' }], price_key: 'gpt-4o-mini' },
    },
    aliases: {},
  };
  const config = await mf.getKVNamespace('CONFIG');
  await config.put('catalog', JSON.stringify(catalog));
  await config.put('pricing', readFileSync(path.join(ROOT, 'kv-seed/pricing.json'), 'utf8'));
  const tenants = await mf.getKVNamespace('TENANTS');
  const hash = createHash('sha256').update(BENCH_KEY).digest('hex');
  await tenants.put('tenant:bench', JSON.stringify({ id: 'bench', name: 'bench', plan: 'pro' }));
  await tenants.put(`key:${hash}`, JSON.stringify({ key_id: `key_${hash.slice(0, 12)}`, tenant_id: 'bench', name: 'bench', created_at: 0 }));
} else {
  console.error('usage: serve-worker.mjs costrouter|trivial|relay <port>');
  process.exit(2);
}
console.log(`ready http://127.0.0.1:${port}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
