// Driven by bench/stalls/run.sh: a closed-loop client (CONNS keep-alive connections, each sending
// the next request when its answer ends) that records every request's latency as it was, without
// wrk's coordinated-omission correction, and every moment no answer came back while requests
// were out: a stall of the target as a whole. Prints one JSON line.
//   node client.mjs <port> <model> <auth header or ""> <seconds> [conns]
import http from 'node:http';

const [port, model, auth, seconds, conns] = [Number(process.argv[2]), process.argv[3], process.argv[4], Number(process.argv[5]), Number(process.argv[6] ?? 10)];
const body = JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
if (auth) headers.authorization = auth;
// Extra headers (Portkey's provider and host), as bench/latency/wrk-post.lua takes them: "name: value|name: value".
for (const pair of (process.env.BENCH_HEADERS ?? '').split('|')) {
  const at = pair.indexOf(':');
  if (at > 0) headers[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
}
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
const STALL_MS = 20;

const latencies = []; const completions = []; let errors = 0;
const send = () => new Promise((resolve) => {
  const start = performance.now();
  const req = http.request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, headers }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      const end = performance.now();
      if (res.statusCode !== 200) errors++;
      latencies.push(end - start); completions.push(end);
      resolve();
    });
  });
  req.on('error', () => { errors++; resolve(); });
  req.end(body);
});
const loop = async (until) => { while (performance.now() < until) await send(); };
// Two seconds of warm-up (the JIT, the worker's caches), not counted.
await Promise.all(Array.from({ length: conns }, () => loop(performance.now() + 2000)));
latencies.length = 0; completions.length = 0; errors = 0;
const began = performance.now();
await Promise.all(Array.from({ length: conns }, () => loop(began + seconds * 1000)));
const elapsed = (performance.now() - began) / 1000;

latencies.sort((a, b) => a - b);
const q = (f) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))];
completions.sort((a, b) => a - b);
// With every connection waiting on an answer (a closed loop never leaves one idle for long), a
// gap between two consecutive answers is time the target answered nobody.
const stalls = [];
for (let i = 1; i < completions.length; i++) if (completions[i] - completions[i - 1] > STALL_MS) stalls.push(completions[i] - completions[i - 1]);
stalls.sort((a, b) => a - b);
const stalled = stalls.reduce((s, x) => s + x, 0);
console.log(JSON.stringify({
  requests: latencies.length, rps: latencies.length / elapsed, errors,
  p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: q(1),
  stalls: stalls.length, stalls_per_s: stalls.length / elapsed,
  stall_median_ms: stalls.length ? stalls[Math.floor(stalls.length / 2)] : 0, stall_max_ms: stalls.length ? stalls[stalls.length - 1] : 0,
  stalled_share: stalled / (elapsed * 1000),
}));
agent.destroy();
