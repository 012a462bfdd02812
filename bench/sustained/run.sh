#!/usr/bin/env bash
# The tail under sustained load: each target alone, saturated at 10 connections for eight 5 s
# rounds back to back (wrk, non-streaming, against the nginx mock of bench/latency), its p99 per
# round into bench/RESULTS.md (section "sustained"). The latency benchmark interleaves its targets,
# so each of its 5 s measurements starts on a worker that has just been idle; this one shows what
# the tail becomes when a worker's isolate never rests (the runtime's collector falls behind, and
# its pauses grow until they level off). costrouter, the trivial worker and the plain JS relay run
# in workerd (Miniflare, as in bench/latency); Portkey, a Node process, for comparison. Targets
# on core 0, wrk and nginx on core 1 (BENCH_PIN=0 turns this off).
#
#   bash bench/sustained/run.sh        # about 4 minutes (needs bench/latency's peers for Portkey)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source bench/latency/mock.sh
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
rounds=8 seconds=5
prepare_solo_bench
results="$work/results.jsonl"
: > "$results"
measure() {
  export BENCH_BODY="{\"model\":\"$target_model\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in one short sentence.\"}]}"
  ${client_cpu[@]+"${client_cpu[@]}"} wrk -t1 -c10 -d2s --timeout 10s -s bench/latency/wrk-post.lua http://127.0.0.1:9501/v1/chat/completions >/dev/null # JIT warm-up
  for round in $(seq 1 "$rounds"); do
    line=$(${client_cpu[@]+"${client_cpu[@]}"} wrk -t1 -c10 -d"${seconds}s" --timeout 10s -s bench/latency/wrk-post.lua http://127.0.0.1:9501/v1/chat/completions | tail -1)
    echo "{\"target\":\"$target_name\",\"round\":$round,\"r\":$line}" >> "$results"
  done
}
each_solo_target measure

python3 - "$results" "$rounds" "$seconds" > "$work/section.md" <<'PY'
import json, statistics, subprocess, sys, datetime, platform
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rounds, seconds = int(sys.argv[2]), int(sys.argv[3])
by = {}
for r in rows:
    by.setdefault(r["target"], []).append(r["r"])
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print("## Sustained load: the tail when a worker never rests\n")
print(f"Written by `bash bench/sustained/run.sh` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit `{commit}`, {cpu}, {platform.system()}.")
print(f"Each target alone, saturated by wrk at 10 connections (non-streaming, the nginx mock) for {rounds} rounds of {seconds} s back to back after a 2 s warm-up;")
print("the p99 of each round (wrk's, corrected for coordinated omission), the median requests/s over the rounds, and errors (non-2xx and socket) over all of them.\n")
print("| target | req/s (median) | " + " | ".join(f"p99 ms, round {i}" for i in range(1, rounds + 1)) + " | errors |")
print("|---|---|" + "---|" * rounds + "---|")
for name, rs in by.items():
    errors = sum(r["non2xx"] + r["socket_errors"] for r in rs)
    print(f"| {name} | {statistics.median(r['rps'] for r in rs):,.0f} | " + " | ".join(f"{r['p99_ms']:.0f}" for r in rs) + f" | {errors} |")
PY
python3 bench/latency/splice.py bench/RESULTS.md sustained "$work/section.md"
echo "wrote bench/RESULTS.md (sustained)"
