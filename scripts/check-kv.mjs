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
  // A key is any string: only one naming a tenant id is a policy the worker reads, and each goes
  // to a file of the script's own naming (p0.toml, ...), never one a key names, which could point
  // outside this folder or differ from another only by case.
  const tenantId = /^[A-Za-z0-9_-]{1,64}$/;
  const tenants = names.filter((n) => n.startsWith('policy:')).map((n) => n.slice('policy:'.length));
  for (const other of tenants.filter((t) => !tenantId.test(t))) {
    console.log(`note  ${JSON.stringify(`policy:${other}`)} names no tenant id (letters, digits, '-' and '_', at most 64): the worker never reads it`);
  }
  const keyOf = new Map();
  tenants.filter((t) => tenantId.test(t)).forEach((tenant, i) => {
    keyOf.set(`p${i}`, `policy:${tenant}`);
    writeFileSync(path.join(policies, `p${i}.toml`), kv('key', 'get', `policy:${tenant}`, '--text'));
  });
  // Without a policy of its own a tenant has the one built into the worker.
  if (!tenants.includes('default')) {
    keyOf.set('default', 'policy:default (built in)');
    copyFileSync(path.join(ROOT, 'policies/default.toml'), path.join(policies, 'default.toml'));
  }
  const read = keyOf.size - (keyOf.has('default') ? 1 : 0);
  console.log(`checking what CONFIG KV (${where[0].slice(2)}) holds against this release: catalog ${names.includes('catalog') ? 'from KV' : 'built in'}, pricing ${names.includes('pricing') ? 'from KV' : 'built in'}, ${read} ${read === 1 ? 'policy' : 'policies'}`);
  const check = spawnSync('cargo', ['run', '--quiet', '--locked', '--bin', 'costrouter', '--', 'policy', 'check', '--catalog', catalog, '--pricing', pricing, policies], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (check.error) console.error(`could not run costrouter policy check: ${check.error.message}`);
  // The files are temporary: name them as KV keys.
  const escaped = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const policyFile = new RegExp(`${escaped(policies + path.sep)}(p[0-9]+|default)\\.toml`, 'g');
  const named = (text) => text.replace(policyFile, (_, file) => keyOf.get(file)).replaceAll(catalog, 'catalog').replaceAll(pricing, 'pricing');
  process.stdout.write(named(check.stdout ?? ''));
  process.stderr.write(named(check.stderr ?? ''));
  if (check.status !== 0) {
    console.error('CONFIG KV holds configuration that fails this release\'s check: what it refuses (an error naming a line or field) no new isolate would serve after a deploy, and a defect it serves with a warning; fix it (make seed-remote pushes the files, checked) before deploying.');
  }
  process.exitCode = check.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
