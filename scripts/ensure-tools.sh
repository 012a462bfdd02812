#!/usr/bin/env bash
# Installs every tool the build and the tests need, from the package registries only, and skips
# what is already there. Safe to run repeatedly; `make` targets call it first.
#   bash scripts/ensure-tools.sh          what building and running the worker need (make dev, build)
#   bash scripts/ensure-tools.sh --test   that, and what only the tests need (cargo-fuzz, the Python
#                                         OpenAI SDK, Chromium): make test
# Expects rustup, node and npm, python3 and a C toolchain (see README: Prerequisites).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[ensure-tools] %s\n' "$*" >&2; }
for_tests=0
[ "${1:-}" = "--test" ] && for_tests=1
for tool in rustup cargo node npm; do
  command -v "$tool" >/dev/null || { say "$tool is missing: install it first (README: Prerequisites)"; exit 1; }
done

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
  # --locked where the registry has every version the CLI's own lockfile names; a mirror that
  # lacks one (this one lacks webpki-roots 1.0.11) gets the newest compatible versions instead.
  cargo install wasm-bindgen-cli --version "$want_bindgen" --locked --force \
    || cargo install wasm-bindgen-cli --version "$want_bindgen" --force
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
# Pinned like the other tools; an installed cargo-fuzz of another version is kept (the fuzz
# targets use nothing version-specific).
want_fuzz=0.13.2
if [ "$for_tests" = 1 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz $want_fuzz"
  cargo install cargo-fuzz --version "$want_fuzz" --locked || cargo install cargo-fuzz --version "$want_fuzz"
fi

# JS tooling (wrangler, miniflare, esbuild, binaryen, the OpenAI SDK for tests), pinned in package-lock.json.
if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/esbuild ] || [ ! -e node_modules/binaryen/bin/wasm-opt ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

[ "$for_tests" = 1 ] || exit 0

# The official OpenAI and Anthropic Python SDKs at the pinned versions, for the SDK
# compatibility tests.
for sdk in openai anthropic; do
  want=$(cat "tests/sdk/python-$sdk-version.txt")
  have=$(python3 -c "import $sdk; print($sdk.__version__)" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    say "installing the $sdk Python package $want (have: ${have:-none})"
    # A system Python that refuses pip installs (Debian's, PEP 668) takes it for this user.
    python3 -m pip install --quiet "$sdk==$want" 2>/dev/null \
      || python3 -m pip install --quiet --user --break-system-packages "$sdk==$want"
  fi
done

# Chromium, for the dashboard's browser test (tests/integration/dashboard.test.mjs drives it with
# playwright-core; Playwright's own browser download does not work here). Debian's package, or
# any build named by CHROMIUM_PATH.
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  say "installing chromium (apt-get)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get install -y chromium || { as_root apt-get update && as_root apt-get install -y chromium; }
fi
