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
# The dashboard's script with Chart.js (pinned in package-lock.json), bundled first: the worker
# embeds build/dashboard/app.js (src/edge/dashboard.rs), so it must exist before the Rust build.
mkdir -p build/dashboard
"$ESBUILD_BIN" dashboard/app.js --bundle --minify --format=iife --target=es2020 --legal-comments=eof \
  --outfile=build/dashboard/app.js --log-level=warning
exec worker-build $profile
