// Times the route decision in wasm (V8, the engine Workers use): warm per-request CPU for prompts
// of ~100, ~4,000 and ~32,000 tokens, and a cold isolate's first decision. Prints Markdown.
//   node harness.mjs route.wasm catalog.json pricing.json policy.toml corpus.txt [cold-one <tokens>]
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [wasmPath, catalogPath, pricingPath, policyPath, corpusPath, mode, modeArg] = process.argv.slice(2);
const enc = new TextEncoder();
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

function load(bytes) {
  const t0 = now();
  const module = new WebAssembly.Module(bytes);
  const t1 = now();
  const instance = new WebAssembly.Instance(module, {});
  const t2 = now();
  return { ex: instance.exports, compileMs: t1 - t0, instantiateMs: t2 - t1 };
}

function put(ex, text) {
  const b = enc.encode(text);
  const ptr = ex.alloc(b.length);
  new Uint8Array(ex.memory.buffer, ptr, b.length).set(b);
  return [ptr, b.length];
}

function setup(ex) {
  const args = [catalogPath, pricingPath, policyPath].flatMap((p) => put(ex, readFileSync(p, 'utf8')));
  const t0 = now();
  const rc = ex.setup(...args);
  if (rc !== 0) throw new Error(`setup failed: ${rc}`);
  return now() - t0;
}

/** A chat request of about `target` prompt tokens (exact count, o200k_base for gpt-4o-mini). */
function body(ex, target) {
  const corpus = readFileSync(corpusPath, 'utf8');
  const make = (chars) => {
    let text = '';
    while (text.length < chars) text += corpus;
    return JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 512,
      messages: [
        { role: 'system', content: 'You are a careful assistant for an online shop. Answer briefly.' },
        { role: 'user', content: `Summarize the following notes for the support team.\n\n${text.slice(0, chars)}` },
      ],
    });
  };
  const tokens = (chars) => {
    const [p, l] = put(ex, make(chars));
    if (!ex.keep(p, l)) throw new Error('bench request did not parse');
    return Number(ex.prompt_tokens());
  };
  let lo = 1, hi = target * 8;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens(mid) < target) lo = mid + 1; else hi = mid;
  }
  const text = make(lo);
  const [p, l] = put(ex, text);
  ex.keep(p, l);
  return { text, ptr: p, len: l, tokens: Number(ex.prompt_tokens()) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median time of one call: 300 ms of warm-up (so V8 has tiered the code up), then five rounds
 * of about 300 ms each; the median of the rounds' medians. */
function time(fn) {
  const run = (ms) => {
    const samples = [];
    const start = now();
    while (samples.length < 30 || (now() - start < ms && samples.length < 5000)) {
      const t0 = now();
      fn();
      samples.push(now() - t0);
    }
    return median(samples);
  };
  run(300);
  return median([0, 1, 2, 3, 4].map(() => run(300)));
}

const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

if (mode === 'cold-one') {
  // One cold isolate: load, set up, then the first decision on a request of modeArg tokens.
  const bytes = readFileSync(wasmPath);
  const t0 = now();
  const { ex, compileMs, instantiateMs } = load(bytes);
  const setupMs = setup(ex);
  // The request bytes are prepared before timing the first decision (the probe that sizes the
  // prompt runs on a second instance, so this one's tokenizer is still cold).
  const probe = load(bytes).ex;
  setup(probe);
  const { text } = body(probe, Number(modeArg));
  const [p, l] = put(ex, text);
  const t1 = now();
  const r = ex.parse_and_decide(p, l);
  const firstMs = now() - t1;
  if (r === 0n) throw new Error('no route');
  console.log(JSON.stringify({ compileMs, instantiateMs, setupMs, firstMs, totalMs: compileMs + instantiateMs + setupMs + firstMs, wall: now() - t0 }));
  process.exit(0);
}

const { ex } = load(readFileSync(wasmPath));
setup(ex);
const rows = [];
for (const target of [100, 4000, 32000]) {
  const b = body(ex, target);
  const whole = time(() => ex.parse_and_decide(b.ptr, b.len));
  const parse = time(() => ex.parse_only(b.ptr, b.len));
  ex.keep(b.ptr, b.len);
  const decide = time(() => ex.decide());
  const seen = time(() => ex.decide_seen());
  const classify = time(() => ex.classify());
  const tokens = time(() => ex.prompt_tokens());
  rows.push(`| ${b.tokens} | ${b.len} | ${fmt(whole)} | ${fmt(parse)} | ${fmt(decide)} | ${fmt(seen)} | ${fmt(classify)} | ${fmt(tokens)} |`);
}
console.log(`### Warm (one isolate, after 300 ms of warm-up; median of five rounds' medians)\n`);
console.log('| prompt tokens (exact, o200k_base) | body bytes | parse + decide | parse | decide (classify + tokens + policy + plan) | decide, texts the tenant sent before | classify (incl. exact tokens) | exact tokens alone |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

const self = fileURLToPath(import.meta.url);
const colds = [];
for (let i = 0; i < 11; i++) {
  const out = execFileSync(process.execPath, [...process.execArgv, self, wasmPath, catalogPath, pricingPath, policyPath, corpusPath, 'cold-one', '4000'], { encoding: 'utf8' });
  colds.push(JSON.parse(out));
}
const m = (k) => median(colds.map((c) => c[k]));
console.log(`\n### Cold isolate (a fresh node process per sample, median of ${colds.length}; request of ~4,000 tokens)\n`);
console.log('| compile | instantiate | load catalog + prices + policy | first parse + decide (tokenizer tables indexed on first use) | total |');
console.log('|---|---|---|---|---|');
console.log(`| ${fmt(m('compileMs'))} | ${fmt(m('instantiateMs'))} | ${fmt(m('setupMs'))} | ${fmt(m('firstMs'))} | ${fmt(m('totalMs'))} |`);
