#!/usr/bin/env bash
# Builds the worker bundle (build/worker/shim.mjs + wasm) with local tools: worker-build's own
# downloads of wasm-bindgen, wasm-opt and esbuild cannot reach the internet here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/binaryen/bin/wasm-opt}"
profile="${COSTROUTER_PROFILE:---release}"
# `make dev` has just built the bundle, and wrangler runs this again as its [build] command (and on
# every source change it watches): with COSTROUTER_BUILD_IF_STALE=1, a bundle newer than every
# source it is built from is kept (the same list as the Makefile's build/index.js rule).
if [ "${COSTROUTER_BUILD_IF_STALE:-}" = 1 ] && [ -f build/index.js ] \
   && [ -z "$(find src dashboard Cargo.toml Cargo.lock kv-seed/catalog.json kv-seed/pricing.json package-lock.json policies/default.toml scripts/build-worker.sh scripts/wasm-names.mjs -newer build/index.js -print -quit)" ]; then
  echo "[build-worker] build/index.js is up to date"
  exit 0
fi
# The dashboard's script with Chart.js (pinned in package-lock.json): a static asset
# (wrangler.toml's [assets], build/assets/), served by src/edge/dashboard.rs through the ASSETS
# binding, outside the script size the Workers plans limit.
rm -rf build/dashboard
mkdir -p build/assets/dashboard
"$ESBUILD_BIN" dashboard/app.js --bundle --minify --format=iife --target=es2020 --legal-comments=eof \
  --outfile=build/assets/dashboard/app.js --log-level=warning
worker-build $profile
# The deployed module goes without its function names (98 KiB of the gzipped bundle, capped at
# 3 MiB on the Free plan); build/index_bg.names.wasm keeps them for traces and profiles
# (scripts/wasm-names.mjs says how to read a trace with it).
node scripts/wasm-names.mjs strip build/index_bg.wasm build/index_bg.names.wasm
