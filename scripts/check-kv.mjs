#!/usr/bin/env node
// Checks the configuration CONFIG KV holds now (catalog, pricing, every policy) against this
// release, as `costrouter policy check` checks the files: run it before deploying an upgrade.
// Each release's checks at load grow, and a document an earlier release served that this one
// refuses is not served: after `wrangler deploy` every isolate is new and has no earlier valid
// copy to keep, so every request would be answered 503 configuration_unavailable (a catalog or
// pricing defect) or 500 router_misconfigured (that tenant's policy) until KV is fixed.
//   --remote                     your account's KV (make check-remote)
//   --local [--persist-to DIR]   local KV (make dev's, or the one under DIR)
// Exits 0 when everything passes, 1 with the check's errors otherwise.
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const where = args.includes('--remote') ? ['--remote'] : ['--local', ...(args.includes('--persist-to') ? ['--persist-to', args[args.indexOf('--persist-to') + 1]] : [])];
const wrangler = path.join(ROOT, 'node_modules/.bin/wrangler');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };

function kv(...command) {
  return execFileSync(wrangler, ['kv', ...command, '--binding', 'CONFIG', ...where], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 });
}

const names = JSON.parse(kv('key', 'list')).map((k) => k.name);
const dir = mkdtempSync(path.join(tmpdir(), 'costrouter-kv-'));
try {
  // A document KV does not hold is the one built into the worker (kv-seed/), as the worker reads it.
  const document = (key, builtIn) => {
    const file = path.join(dir, `${key}.json`);
    if (names.includes(key)) writeFileSync(file, kv('key', 'get', key, '--text'));
    else copyFileSync(path.join(ROOT, builtIn), file);
    return file;
  };
  const catalog = document('catalog', 'kv-seed/catalog.json');
  const pricing = document('pricing', 'kv-seed/pricing.json');
  const policies = path.join(dir, 'policies');
  mkdirSync(policies);
  const tenants = names.filter((n) => n.startsWith('policy:')).map((n) => n.slice('policy:'.length));
  for (const tenant of tenants) writeFileSync(path.join(policies, `${tenant}.toml`), kv('key', 'get', `policy:${tenant}`, '--text'));
  // Without a policy of its own a tenant has the one built into the worker.
  if (!tenants.includes('default')) copyFileSync(path.join(ROOT, 'policies/default.toml'), path.join(policies, 'default.toml'));
  console.log(`checking what CONFIG KV (${where[0].slice(2)}) holds against this release: catalog ${names.includes('catalog') ? 'from KV' : 'built in'}, pricing ${names.includes('pricing') ? 'from KV' : 'built in'}, ${tenants.length} ${tenants.length === 1 ? 'policy' : 'policies'}`);
  const check = spawnSync('cargo', ['run', '--quiet', '--locked', '--bin', 'costrouter', '--', 'policy', 'check', '--catalog', catalog, '--pricing', pricing, policies], { cwd: ROOT, env, encoding: 'utf8' });
  // The files are temporary: name them as KV keys.
  const escaped = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const policyFile = new RegExp(`${escaped(policies + path.sep)}([A-Za-z0-9_-]+)\\.toml`, 'g');
  const named = (text) => text.replace(policyFile, 'policy:$1').replaceAll(catalog, 'catalog').replaceAll(pricing, 'pricing');
  process.stdout.write(named(check.stdout ?? ''));
  process.stderr.write(named(check.stderr ?? ''));
  if (check.status !== 0) {
    console.error('CONFIG KV holds configuration this release refuses: fix it (make seed-remote pushes the files, checked) before deploying, or every new isolate answers without it.');
  }
  process.exitCode = check.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
