#!/usr/bin/env bash
# Installs every tool the build and the tests need, from the package registries only, and skips
# what is already there. Safe to run repeatedly; `make` targets call it first.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[ensure-tools] %s\n' "$*" >&2; }

# Rust's wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
want_bindgen=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
have_bindgen=$( (wasm-bindgen --version 2>/dev/null || true) | awk '{print $NF}')
if [ "$have_bindgen" != "$want_bindgen" ]; then
  say "installing wasm-bindgen-cli $want_bindgen (have: ${have_bindgen:-none})"
  # Not --locked: the CLI's own lockfile can name crate versions a registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$want_bindgen" --force
fi

# worker-build, pinned to the version that matches the worker crate.
want_wb=$(awk '/^name = "worker"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
have_wb=$( (worker-build --version 2>/dev/null || true) | awk '{print $NF}')
if [ "$have_wb" != "$want_wb" ]; then
  say "installing worker-build $want_wb (have: ${have_wb:-none})"
  cargo install worker-build --version "$want_wb" --locked --force || cargo install worker-build --version "$want_wb" --force
fi

# cargo-fuzz, for `make fuzz-short` / `make fuzz-long` (scripts/fuzz.sh runs it with RUSTC_BOOTSTRAP=1
# on this stable toolchain, since its sanitizer flags are nightly-only).
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

# JS tooling (wrangler, miniflare, esbuild, binaryen, the OpenAI SDK for tests), pinned in package-lock.json.
if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/esbuild ] || [ ! -e node_modules/binaryen/bin/wasm-opt ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The official OpenAI Python SDK, for the SDK compatibility tests.
if ! python3 -c 'import openai' 2>/dev/null; then
  say "installing the openai Python package"
  python3 -m pip install --quiet "openai==$(cat tests/sdk/python-openai-version.txt)"
fi

# Chromium, for the dashboard's browser test (tests/integration/dashboard.test.mjs drives it with
# playwright-core; Playwright's own browser download does not work here). Debian's package.
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (apt-get)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y chromium; else sudo apt-get install -y chromium; fi
fi
