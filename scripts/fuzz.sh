#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each: `scripts/fuzz.sh SECONDS [target...]`.
# `make fuzz-short` (part of `make test`) runs 20 s each from the committed seeds and throws the
# new corpus away; `make fuzz-long` runs an hour each and keeps what it finds in fuzz/corpus/.
# cargo-fuzz needs nightly compiler flags (-Z sanitizer); the one stable toolchain here accepts
# them with RUSTC_BOOTSTRAP=1, which is scoped to this script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:?usage: scripts/fuzz.sh SECONDS [target...]}
shift
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
# An empty list (cargo fuzz failing quietly) would fuzz nothing and pass.
[ ${#targets[@]} -gt 0 ] || { echo "[fuzz] no fuzz targets found" >&2; exit 1; }
keep=${FUZZ_KEEP_CORPUS:-0}
cargo fuzz build
for t in "${targets[@]}"; do
  if [ "$keep" = 1 ]; then
    dirs=("corpus/$t")
  else
    grown=$(mktemp -d)
    trap 'rm -rf "$grown"' EXIT
    dirs=("$grown" "corpus/$t")
  fi
  echo "[fuzz] $t for ${seconds}s" >&2
  # Stream seeds are recorded provider streams of a few KB; 64 KB leaves room to grow them.
  # A crash stops the run with its input in fuzz/artifacts/$t/; replay: cargo fuzz run $t <file>.
  log=$(mktemp)
  rc=0
  cargo fuzz run "$t" "${dirs[@]}" -- -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" >&2 || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "[fuzz] $t FAILED (exit $rc); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -f "$log"
  [ "$keep" = 1 ] || rm -rf "$grown"
done
