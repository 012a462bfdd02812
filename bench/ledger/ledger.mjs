// The ledger Durable Object's cost per request as the number of requests in flight grows: a
// fresh ledger with a budget is warmed up, given `inflight` open reservations, then timed over
// `ops` sequential admit + finish pairs (what each budgeted request costs it). One JSON line per run.
//   node bench/ledger/ledger.mjs <inflight> <ops>
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [inflight, ops] = [Number(process.argv[2]), Number(process.argv[3] ?? 300)];
const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(ROOT, 'build/index.js'),
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
  compatibilityDate: '2025-09-01',
  compatibilityFlags: ['enable_request_signal'],
  kvNamespaces: ['CONFIG', 'TENANTS'],
  durableObjects: { LEDGER: { className: 'Ledger', useSQLite: true } },
});
await mf.ready;
const ns = await mf.getDurableObjectNamespace('LEDGER');
const ledger = ns.get(ns.idFromName('bench'));
const now = Math.floor(Date.now() / 1000);
async function call(op, body) {
  const resp = await ledger.fetch(`https://ledger/${op}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await resp.text();
  if (resp.status !== 200) throw new Error(`${op}: ${resp.status} ${text}`);
  return text;
}
// Amounts in picodollars, as the worker sends them; request ids as long as the worker's.
const admit = (id) => call('admit', { request_id: id, amount: 1_000_000_000, key_id: 'key_bench', tokens: 10, now });
await call('config', { budgets: [{ id: 'daily', scope: { kind: 'tenant' }, window: 'daily', hard_limit: '1000000' }] });
const pair = async (id) => {
  await admit(id);
  await call('finish', { items: [{ request_id: id, key_id: 'key_bench', actual: 1_000_000_000 }], now });
};
// Warm-up, untimed and the same for every N: the JIT's tier-up would otherwise favour the rows
// whose filling ran the code first.
for (let i = 0; i < ops; i++) await pair(`req_warm_${String(i).padStart(25, '0')}`);
for (let i = 0; i < inflight; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, inflight - i) }, (_, j) => admit(`req_held_${String(i + j).padStart(24, '0')}`)));
}
const t0 = performance.now();
for (let i = 0; i < ops; i++) await pair(`req_timed_${String(i).padStart(24, '0')}`);
console.log(JSON.stringify({ inflight, ops, ms_per_request: (performance.now() - t0) / ops }));
await mf.dispose();
