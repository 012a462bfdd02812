#!/usr/bin/env bash
# Every benchmark, one command. Each script writes its own results file (or its own section of
# bench/RESULTS.md); nothing here asserts on time.
#
#   bash bench/run.sh            # full runs (about 30 minutes on a 2-core machine)
#   bash bench/run.sh --quick    # shorter latency runs, skips the classifier evaluation
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
bash bench/latency/run.sh $quick                      # bench/RESULTS.md: added latency vs peers
bash bench/route/run.sh                               # bench/route/RESULTS.md: route decision CPU in wasm
bash bench/tokenizer/run.sh                           # bench/tokenizer/RESULTS.md: exact tokenizer vs tiktoken-rs
[[ -f bench/load/run.sh ]] && bash bench/load/run.sh  # bench/RESULTS.md: 10,000 requests at 100 concurrent
[[ -f bench/semantic/run.sh ]] && bash bench/semantic/run.sh
bash bench/ledger/run.sh                              # bench/RESULTS.md: ledger cost per request vs requests in flight
bash bench/sustained/run.sh                           # bench/RESULTS.md: the tail under sustained load
bash bench/stalls/run.sh                              # bench/RESULTS.md: uncorrected latencies and the runtime's stalls
[[ "$quick" == --quick ]] || bash bench/classifier/run.sh
echo "done: see bench/RESULTS.md and bench/*/RESULTS.md"
