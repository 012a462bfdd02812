#!/usr/bin/env bash
# What a budgeted request costs the tenant's ledger Durable Object, with 0 to 3,000 other
# requests in flight (each holding a reservation): admit + finish pairs timed in workerd
# (Miniflare), 3 runs each, medians and ratios to the empty ledger into bench/RESULTS.md
# (section "ledger"). The goal is a flat line: a request's cost must not grow with the others.
#
#   bash bench/ledger/run.sh        # about 2 minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
make -s build >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for rep in 1 2 3; do
  for n in 0 300 1000 3000; do node bench/ledger/ledger.mjs "$n" 300 >> "$out"; done
done
python3 - "$out" > "$out.md" <<'PY'
import json, statistics, subprocess, sys, datetime, platform
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r["inflight"], []).append(r["ms_per_request"])
base = statistics.median(by[0])
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print("## Ledger: a budgeted request's cost with others in flight\n")
print(f"Written by `bash bench/ledger/run.sh` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit `{commit}`, {cpu}.")
print("A fresh ledger Durable Object (workerd through Miniflare, SQLite storage) with one budget is warmed up")
print("(300 untimed pairs), given N open reservations, then 300 sequential `/admit` + `/finish` pairs are timed from Node (the")
print("round trips into workerd included, the same in every row). Medians of 3 runs.\n")
print("| requests in flight | ms per request (admit + finish) | ratio to none in flight |")
print("|---|---|---|")
for n in sorted(by):
    m = statistics.median(by[n])
    print(f"| {n:,} | {m:.2f} | {m / base:.2f} |")
PY
python3 bench/latency/splice.py bench/RESULTS.md ledger "$out.md"
rm -f "$out.md"
echo "wrote bench/RESULTS.md (ledger)"
