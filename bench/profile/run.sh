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
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
command -v nginx >/dev/null && command -v wrk >/dev/null || { apt-get install -y nginx-light wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx-light wrk >/dev/null; }; }
make -s build >/dev/null
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  [[ -f "$work/nginx/nginx.pid" ]] && nginx -p "$work/nginx" -c "$root/bench/latency/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/nginx/tmp" "$work/nginx/payloads" bench/out
cp bench/latency/payloads/* "$work/nginx/payloads/"
chmod -R a+rX "$work/nginx"
nginx -p "$work/nginx" -c "$root/bench/latency/nginx.conf" </dev/null >/dev/null 2>&1
node bench/profile/profile.mjs
