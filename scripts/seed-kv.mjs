#!/usr/bin/env node
// Seeds the KV namespaces from kv-seed/.
//   --local [--demo-url URL]  local KV used by `wrangler dev` (make dev): also creates the dev
//                             tenant and key, and points every provider whose key is missing
//                             from .dev.vars at the demo upstream, labelled as a demo.
//   --remote                  your account's KV (make seed-remote): catalog, pricing, policies
//                             and the semantic cache's embedder weights;
//                             tenants and keys are created with the admin API.
//   --local --watch           (make dev, beside wrangler dev) pushes the catalog, pricing and
//                             policies again whenever a file under policies/ or kv-seed/ changes,
//                             and deletes the KV entry of a policy file removed: the router reads
//                             them from KV, so an edit is otherwise seen only by the next make dev.
import { readFileSync, readdirSync, writeFileSync, existsSync, mkdtempSync, rmSync, watch } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const remote = args.includes('--remote');
const demoUrl = args.includes('--demo-url') ? args[args.indexOf('--demo-url') + 1] : null;

/** The key `make dev` prints; it exists only in local KV. */
export const DEV_KEY = 'cr-dev-local-only-not-a-secret-000000000000';

function devVars() {
  const file = path.join(ROOT, '.dev.vars');
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && l.includes('='))
      .map((l) => {
        const i = l.indexOf('=');
        return [l.slice(0, i).trim(), l.slice(i + 1).trim().replace(/^"(.*)"$/, '$1')];
      }),
  );
}

/** Where the demo upstream serves each wire format. */
const DEMO_PATHS = { openai: '/openai/v1', anthropic: '/anthropic/v1', gemini: '/gemini/v1beta', azure: '/azure/openai' };

function devCatalog(catalog, vars) {
  const demoed = [];
  for (const [id, p] of Object.entries(catalog.providers)) {
    const secret = p.key_secret ?? (p.preset ? presetSecret(p.preset) : undefined);
    if (secret && vars[secret]) continue;
    const kind = p.kind ?? 'openai';
    catalog.providers[id] = { kind, base_url: demoUrl + DEMO_PATHS[kind], no_key: true, demo: true, region: p.region, ...(kind === 'azure' ? { api_version: p.api_version ?? '2024-10-21' } : {}) };
    demoed.push(id);
  }
  return demoed;
}

function presetSecret(preset) {
  const presets = JSON.parse(readFileSync(path.join(ROOT, 'src/providers/openai_compatible_hosts.json'), 'utf8'));
  return presets[preset]?.key_secret;
}

function bulkPut(binding, entries) {
  const dir = mkdtempSync(path.join(tmpdir(), 'costrouter-seed-'));
  const file = path.join(dir, `${binding}.json`);
  writeFileSync(file, JSON.stringify(entries));
  const wrangler = path.join(ROOT, 'node_modules/.bin/wrangler');
  try {
    execFileSync(wrangler, ['kv', 'bulk', 'put', file, '--binding', binding, remote ? '--remote' : '--local'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    });
  } finally {
    // The CONFIG file holds the embedder (several MB of base64).
    rmSync(dir, { recursive: true, force: true });
  }
}

// policies/<tenant>.toml → KV `policy:<tenant>` (default.toml → `policy:default`).
const policyDir = path.join(ROOT, 'policies');
const readCatalog = () => JSON.parse(readFileSync(path.join(ROOT, 'kv-seed/catalog.json'), 'utf8'));
const readPricing = () => readFileSync(path.join(ROOT, 'kv-seed/pricing.json'), 'utf8');
// example.toml is a sample to read and check: pushed to an account, it would become the policy
// of any tenant named "example".
const readPolicies = () => readdirSync(policyDir)
  .filter((f) => f.endsWith('.toml') && !(remote && f === 'example.toml'))
  .map((f) => ({ key: `policy:${f.slice(0, -5)}`, value: readFileSync(path.join(policyDir, f), 'utf8') }));
const catalog = readCatalog();
const pricing = readPricing();
const policies = readPolicies();
// The semantic cache's static embedder weights (binary, see kv-seed/embedder.LICENSE).
const embedderFile = path.join(ROOT, 'kv-seed/embedder.bin');
const embedder = { key: 'embedder', value: readFileSync(embedderFile).toString('base64'), base64: true };

/** Writes a file's bytes under `key`. For local KV: wrangler's local bulk put decodes a base64
 * value and stores it as a UTF-8 string, which garbles binary (every byte from 0x80 up). */
function putFile(binding, key, file) {
  const wrangler = path.join(ROOT, 'node_modules/.bin/wrangler');
  execFileSync(wrangler, ['kv', 'key', 'put', key, '--path', file, '--binding', binding, remote ? '--remote' : '--local'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
}

/** `--watch`: pushes the catalog, pricing and policies again on every change (no first push:
 * `make dev` seeds before starting this), until the process is stopped. */
function watchConfig() {
  const wrangler = path.join(ROOT, 'node_modules/.bin/wrangler');
  let pushed = new Set(policies.map((p) => p.key));
  let timer;
  const push = () => {
    try {
      const current = readPolicies();
      const latest = readCatalog();
      devCatalog(latest, devVars());
      bulkPut('CONFIG', [{ key: 'catalog', value: JSON.stringify(latest) }, { key: 'pricing', value: readPricing() }, ...current]);
      const now = new Set(current.map((p) => p.key));
      for (const gone of [...pushed].filter((k) => !now.has(k))) {
        execFileSync(wrangler, ['kv', 'key', 'delete', gone, '--binding', 'CONFIG', '--local'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
      }
      pushed = now;
      console.log(`[seed-kv] pushed the catalog, pricing and ${current.length} ${current.length === 1 ? 'policy' : 'policies'} to local KV; the router reads them within CONFIG_TTL_SECS`);
    } catch (e) {
      // A file saved half-way (invalid JSON) is pushed again on its next save.
      console.error(`[seed-kv] not pushed: ${e.message}`);
    }
  };
  for (const dir of [policyDir, path.join(ROOT, 'kv-seed')]) {
    watch(dir, (_, file) => {
      if (file && !/\.(toml|json)$/.test(file)) return;
      clearTimeout(timer);
      timer = setTimeout(push, 300);
    });
  }
}

if (args.includes('--watch')) {
  if (remote || !demoUrl) throw new Error('--watch is for --local --demo-url (make dev)');
  watchConfig();
} else if (remote) {
  bulkPut('CONFIG', [{ key: 'catalog', value: JSON.stringify(catalog) }, { key: 'pricing', value: pricing }, embedder, ...policies]);
  console.log('Seeded catalog, pricing, policies and the embedder into the CONFIG namespace of your account.');
} else {
  if (!demoUrl) throw new Error('--local needs --demo-url');
  const demoed = devCatalog(catalog, devVars());
  bulkPut('CONFIG', [{ key: 'catalog', value: JSON.stringify(catalog) }, { key: 'pricing', value: pricing }, ...policies]);
  putFile('CONFIG', 'embedder', embedderFile);
  const hash = createHash('sha256').update(DEV_KEY).digest('hex');
  bulkPut('TENANTS', [
    { key: 'tenant:dev', value: JSON.stringify({ id: 'dev', name: 'Local development', plan: 'pro' }) },
    { key: `key:${hash}`, value: JSON.stringify({ key_id: `key_${hash.slice(0, 12)}`, tenant_id: 'dev', name: 'make dev', created_at: 0 }) },
  ]);
  console.log(demoed.length
    ? `Demo upstream (${demoUrl}) stands in for: ${demoed.join(', ')} (no key in .dev.vars).`
    : 'Every provider has a key in .dev.vars: real providers will be called.');
}
