// `make check-remote` (scripts/check-kv.mjs) against local KV: what KV holds now is checked as
// this release would load it, so a document an earlier release served and this one refuses is
// found before a deploy leaves every new isolate without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
let state;
before(() => { state = mkdtempSync(path.join(tmpdir(), 'costrouter-check-kv-')); });
after(() => rmSync(state, { recursive: true, force: true }));

const put = (key, text) => {
  const file = path.join(state, 'value');
  writeFileSync(file, text);
  execFileSync(path.join(ROOT, 'node_modules/.bin/wrangler'), ['kv', 'key', 'put', key, '--path', file, '--binding', 'CONFIG', '--local', '--persist-to', state], { cwd: ROOT, env, stdio: 'ignore' });
};
const check = () => {
  const run = spawnSync('node', [path.join(ROOT, 'scripts/check-kv.mjs'), '--local', '--persist-to', state], { cwd: ROOT, env, encoding: 'utf8' });
  return { status: run.status, out: run.stdout + run.stderr };
};

test('what KV holds is checked as this release loads it, and named by its key', () => {
  // Empty KV: the built-in catalog, pricing and default policy.
  let { status, out } = check();
  assert.equal(status, 0, out);
  assert.match(out, /catalog built in, pricing built in, 0 policies/);

  // A catalog an earlier release served (a provider with both a key secret and no_key).
  const catalog = JSON.parse(readFileSync(path.join(ROOT, 'kv-seed/catalog.json'), 'utf8'));
  put('catalog', JSON.stringify({ ...catalog, providers: { ...catalog.providers, local: { preset: 'ollama', key_secret: 'K', no_key: true } } }));
  ({ status, out } = check());
  assert.notEqual(status, 0, out);
  assert.match(out, /providers\.local\.no_key: conflicts with key_secret/);
  assert.match(out, /CONFIG KV holds configuration that fails this release's check/);

  // A sound catalog, and a tenant's policy this release refuses (a logprob bound above 0).
  put('catalog', JSON.stringify(catalog));
  put('policy:acme', 'version = 1\nname = "acme"\n[[rules]]\nname = "c"\nroute = { strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"], min_logprob = 0.7 }\n');
  ({ status, out } = check());
  assert.equal(status, 1, out);
  assert.match(out, /catalog from KV, pricing built in, 1 policy/);
  assert.match(out, /error policy:acme:3: rule 'c': min_logprob is a mean log probability/);

  put('policy:acme', 'version = 1\nname = "acme"\n[[rules]]\nname = "c"\nroute = { strategy = "cascade", candidates = ["gpt-4o-mini", "gpt-4o"], min_logprob = -0.7 }\n');
  ({ status, out } = check());
  assert.equal(status, 0, out);
  assert.match(out, /ok {4}policy:acme \(1 rules\)/);
  assert.match(out, /ok {4}policy:default \(built in\) \(1 rules\)/);
});

test('a key that names no tenant id is reported, never used as a file name', () => {
  // Anyone who can write KV chooses key names: one must not reach outside the script's folder.
  const outside = path.join(state, 'escaped');
  put(`policy:${path.relative(path.join(tmpdir(), 'x', 'policies'), outside)}`, 'version = 1\nname = "x"\n[[rules]]\nname = "d"\nroute = { strategy = "requested" }\n');
  put('policy:team/a', 'not toml at all');
  const { status, out } = check();
  assert.equal(status, 0, out);
  assert.equal(existsSync(`${outside}.toml`), false, 'nothing written outside the temporary folder');
  assert.match(out, /note {2}"policy:[^"]*escaped" names no tenant id/);
  assert.match(out, /note {2}"policy:team\/a" names no tenant id/);
});
