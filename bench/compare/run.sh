#!/usr/bin/env bash
# Two builds of the router side by side: is a change to the hot path faster or slower? Both
# bundles are served at once in workerd (Miniflare, as in bench/latency, on core 0), and wrk
# (core 1, 10 connections, non-streaming, the nginx mock) drives them in turn, A then B, for
# several short rounds, so that the machine's drift over the run falls on both alike. Prints each
# round and the medians of requests/s and p99 and B's ratio to A. This VM's run-to-run noise is
# several percent: a difference is real when it holds in most rounds.
#
#   bash bench/compare/run.sh DIR_A DIR_B [rounds] [seconds]
#       DIR_A, DIR_B: directories holding a built bundle (index.js + index_bg.wasm), such as a
#       copy of build/ made before a change (cp -r build /tmp/build-before) and build/ after it.
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n 2,11p "$0"; exit 2; }
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-8} seconds=${4:-3}
cd "$(dirname "$0")/../.."
root=$(pwd)
source bench/latency/mock.sh
ensure_nginx_wrk
pin_cpus
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  stop_mock "$work"
  rm -rf "$work"
}
trap cleanup EXIT
start_mock "$work"
COSTROUTER_BUILD="$a" ${gateway_cpu[@]+"${gateway_cpu[@]}"} node bench/latency/serve-worker.mjs costrouter 9601 > "$work/a.log" 2>&1 & pids+=($!)
COSTROUTER_BUILD="$b" ${gateway_cpu[@]+"${gateway_cpu[@]}"} node bench/latency/serve-worker.mjs costrouter 9602 > "$work/b.log" 2>&1 & pids+=($!)
export BENCH_AUTH="Bearer cr-benchKEY00000000000000000000000000000001" BENCH_HEADERS=
export BENCH_BODY='{"model":"bench-json","max_tokens":64,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
for port in 9601 9602; do
  for _ in $(seq 1 120); do
    curl -s -m 5 -H 'content-type: application/json' -H "authorization: $BENCH_AUTH" -d "$BENCH_BODY" "http://127.0.0.1:$port/v1/chat/completions" | grep -q '"choices"' && continue 2
    sleep 0.5
  done
  echo "the build on port $port did not answer:" >&2; cat "$work"/*.log >&2; exit 1
done
drive() { ${client_cpu[@]+"${client_cpu[@]}"} wrk -t1 -c10 -d"$2" --timeout 10s -s bench/latency/wrk-post.lua "http://127.0.0.1:$1/v1/chat/completions" | tail -1; }
drive 9601 2s > /dev/null; drive 9602 2s > /dev/null # JIT warm-up
for round in $(seq 1 "$rounds"); do
  echo "{\"round\":$round,\"a\":$(drive 9601 "${seconds}s"),\"b\":$(drive 9602 "${seconds}s")}" | tee -a "$work/rounds.jsonl" >&2
done
python3 - "$work/rounds.jsonl" "$a" "$b" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda side, k: statistics.median(r[side][k] for r in rows)
wins = sum(r["b"]["rps"] > r["a"]["rps"] for r in rows)
errors = sum(r[s]["non2xx"] + r[s]["socket_errors"] for r in rows for s in "ab")
print(f"A {sys.argv[2]}: {med('a','rps'):,.0f} req/s, p99 {med('a','p99_ms'):.1f} ms")
print(f"B {sys.argv[3]}: {med('b','rps'):,.0f} req/s, p99 {med('b','p99_ms'):.1f} ms")
print(f"B / A req/s {med('b','rps') / med('a','rps'):.3f} (B faster in {wins} of {len(rows)} rounds); errors {errors}")
PY
