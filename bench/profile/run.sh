#!/usr/bin/env bash
# Where the worker's CPU goes per proxied request: costrouter runs in workerd (Miniflare) with an
# inspector port against the nginx mock of bench/latency, wrk drives it at 10 connections, and
# V8's sampling profiler (over the DevTools protocol) records 5 s. Prints the functions with the
# most self time (Rust functions by name, JS glue as __wbg_*) and writes the whole profile to
# bench/out/worker.cpuprofile (open it in Chrome DevTools, Performance tab).
#
#   bash bench/profile/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source bench/latency/mock.sh
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
ensure_nginx_wrk
make -s build >/dev/null
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  stop_mock "$work"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p bench/out
start_mock "$work"
# The deployed module has no function names (scripts/wasm-names.mjs); the profile runs the named
# copy, the same code.
mkdir "$work/bundle"
cp build/index.js "$work/bundle/"
cp build/index_bg.names.wasm "$work/bundle/index_bg.wasm"
PROFILE_BUILD="$work/bundle" node bench/profile/profile.mjs
