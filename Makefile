# costrouter: the two commands that matter are `make dev` and `make test` (see README).
SHELL := /bin/bash
export WRANGLER_SEND_METRICS := false
# Miniflare would fetch request.cf's placeholder from workers.cloudflare.com on every start (3 s
# timeout, outside the registries here); the built-in placeholder is what tests expect anyway.
export CLOUDFLARE_CF_FETCH_ENABLED := false
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: tools test-tools build test test-unit test-integration fuzz-short fuzz-long load load-check dev check-remote seed-remote deploy-check bench-check clean

# What building and running the worker need; `test-tools` adds what only the tests need.
tools:
	@bash scripts/ensure-tools.sh

test-tools:
	@bash scripts/ensure-tools.sh --test

# The worker bundle; rebuilt only when sources change.
build/index.js: $(shell find src dashboard -type f) Cargo.toml Cargo.lock kv-seed/catalog.json kv-seed/pricing.json package-lock.json policies/default.toml scripts/build-worker.sh scripts/wasm-names.mjs
	@bash scripts/ensure-tools.sh
	bash scripts/build-worker.sh

build: build/index.js

test-unit:
	cargo test --locked

test-integration: test-tools build/index.js
	node --test --test-concurrency=1 tests/fake-upstream/*.test.mjs tests/integration/*.test.mjs

# Fuzzing of the parsers that read untrusted bytes (fuzz/, see README: Reliability).
# Short: 20 s per target from the committed seeds, part of `make test`. Long: 1 h per target,
# keeping what it finds in fuzz/corpus/.
fuzz-short: test-tools
	bash scripts/fuzz.sh 20

fuzz-long: test-tools
	FUZZ_KEEP_CORPUS=1 bash scripts/fuzz.sh 3600

# 10,000 chat requests at 100 concurrent through workerd; writes its section of bench/RESULTS.md.
load: build/index.js
	bash bench/load/run.sh

# The same load as a pass/fail check in `make test` (no errors, every cost event, nothing more
# held by the idle isolate after 5,000 more requests), without the control run and without
# touching bench/RESULTS.md.
load-check: build/index.js
	rm -f build/load-check.json
	LOAD_BASELINE=0 LOAD_WRITE=0 LOAD_RESULT_FILE=build/load-check.json node bench/load/load.mjs || { cat build/load-check.json 2>/dev/null; exit 1; }
	@node -e 'const r = require("./build/load-check.json").router; console.log(`load check: $${r.errors} errors, $${r.events} cost events ($${r.duplicateEvents} duplicates), held after $${r.held.requests} more: Rust heap $${r.held.rustGrowth >= 0 ? "+" : ""}$${r.held.rustGrowth} B, V8 heap $${r.held.jsGrowth >= 0 ? "+" : ""}$${r.held.jsGrowth} B, $${r.throughput.toFixed(0)} req/s`)'

# The benchmark crates call the core's API and nothing else builds them, so an API change could
# leave them broken until someone next measures; this compiles each (no run, nothing timed).
bench-check: tools
	for crate in bench/route/wasm bench/semantic/wasm bench/tokenizer/wasm bench/latency/trivial-worker; do \
		(cd $$crate && CARGO_TARGET_DIR=$(CURDIR)/target/bench-check cargo check --locked --quiet --target wasm32-unknown-unknown) || exit 1; \
	done

# Every test: native core tests, then the built worker in workerd against the fake providers,
# then the load check, then a short fuzz run.
test: test-tools deploy-check test-unit bench-check test-integration load-check fuzz-short

# Runs the router locally in workerd on 127.0.0.1:8787 with local KV seeded from kv-seed/.
# Providers without a key in .dev.vars are served by the bundled demo upstream (labelled as such).
dev: tools build/index.js
	bash scripts/dev.sh

# What your account's CONFIG KV holds now, checked against this release: run before deploying an
# upgrade (scripts/check-kv.mjs says why).
check-remote: tools
	node scripts/check-kv.mjs --remote

# Pushes kv-seed/ to the KV namespaces of your Cloudflare account (see README: Deploy).
# Policies are checked as the worker will load them before anything is pushed: an invalid
# default.toml would otherwise reach every tenant without a policy of its own. Only the files
# pushed are checked: the sample example.toml stays behind (seed-kv.mjs), so a catalog without
# a model it names must not stop the seeding.
seed-remote: tools
	cargo run --quiet --locked --bin costrouter -- policy check --except example.toml policies
	node scripts/seed-kv.mjs --remote

# The dry run runs wrangler's [build] command too: the bundle just built is kept.
# Also holds the bundle to the Workers Free plan's 3 MiB gzipped ("Your Worker exceeded the size
# limit of 3 MiB" is a first deploy's failure there, which nothing before it would show).
deploy-check: tools build/index.js
	COSTROUTER_BUILD_IF_STALE=1 npx wrangler deploy --dry-run --outdir build/dry-run > build/dry-run.log 2>&1; status=$$?; cat build/dry-run.log; exit $$status
	@gzip_kib=$$(sed -n 's/.*gzip: \([0-9.]*\) KiB.*/\1/p' build/dry-run.log | head -1); \
	if [ -z "$$gzip_kib" ]; then echo "deploy-check: wrangler printed no gzipped size; the Free plan's 3 MiB limit was not checked" >&2; exit 1; fi; \
	if awk -v k="$$gzip_kib" 'BEGIN { exit !(k > 3072) }'; then echo "deploy-check: the bundle is $$gzip_kib KiB gzipped, over the Workers Free plan's 3,072 KiB (3 MiB): it would deploy on the Paid plan only" >&2; exit 1; fi; \
	echo "deploy-check: $$gzip_kib KiB gzipped, within the Workers Free plan's 3,072 KiB"

clean:
	rm -rf build target .wrangler
