#!/usr/bin/env bash
# Where the p99 at 10 connections comes from: each target alone, driven by a closed-loop Node
# client (bench/stalls/client.mjs, 10 connections, non-streaming, the nginx mock of bench/latency)
# that keeps every latency as measured (no coordinated-omission correction, unlike wrk's
# percentiles) and every stall: a time over 20 ms in which the target answered no one while all
# ten connections waited. costrouter, the plain JS relay and the trivial worker run in workerd
# (Miniflare, as in bench/latency); Portkey, a Node process, for comparison when installed.
# Targets on core 0, the client and nginx on core 1 (BENCH_PIN=0 turns this off). Writes its
# section of bench/RESULTS.md ("stalls").
#
#   bash bench/stalls/run.sh        # about 2 minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source bench/latency/mock.sh
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
repeats=3 seconds=5
prepare_solo_bench
results="$work/results.jsonl"
: > "$results"
measure() {
  for repeat in $(seq 1 "$repeats"); do
    line=$(${client_cpu[@]+"${client_cpu[@]}"} node bench/stalls/client.mjs 9501 "$target_model" "$target_auth" "$seconds" 10)
    echo "{\"target\":\"$target_name\",\"repeat\":$repeat,\"r\":$line}" | tee -a "$results"
  done
}
each_solo_target measure

python3 - "$results" "$repeats" "$seconds" > "$work/section.md" <<'PY'
import json, statistics, subprocess, sys, datetime, platform
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
repeats, seconds = int(sys.argv[2]), int(sys.argv[3])
by = {}
for r in rows:
    by.setdefault(r["target"], []).append(r["r"])
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("## Stalls: where the p99 at 10 connections comes from\n")
print(f"Written by `bash bench/stalls/run.sh` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit `{commit}`, {cpu}, {platform.system()}.")
print(f"Each target alone, driven for {seconds} s ({repeats} times, after 2 s of warm-up) by a closed-loop Node client with 10 keep-alive connections")
print("(non-streaming, the nginx mock). Latencies as measured, without wrk's coordinated-omission correction. A **stall** is a gap of more than")
print("20 ms between two consecutive answers while all ten connections waited: the target answered no one. Medians over the repeats.\n")
print("| target | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | stalls / s | stall median ms | longest stall ms | share of the time stalled | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, rs in by.items():
    print(f"| {name} | {med(rs, 'rps'):,.0f} | {med(rs, 'p50_ms'):.2f} | {med(rs, 'p90_ms'):.2f} | {med(rs, 'p99_ms'):.2f} | {med(rs, 'p999_ms'):.1f} | {med(rs, 'max_ms'):.0f} "
          f"| {med(rs, 'stalls_per_s'):.1f} | {med(rs, 'stall_median_ms'):.0f} | {med(rs, 'stall_max_ms'):.0f} | {100 * med(rs, 'stalled_share'):.1f}% | {sum(r['errors'] for r in rs)} |")
PY
python3 bench/latency/splice.py bench/RESULTS.md stalls "$work/section.md"
echo "wrote bench/RESULTS.md (stalls)"
