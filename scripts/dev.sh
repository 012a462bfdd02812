#!/usr/bin/env bash
# `make dev`: the router in workerd on 127.0.0.1:8787 (wrangler dev), local KV seeded from
# kv-seed/, and the bundled demo upstream on 127.0.0.1:8788 for providers without keys.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
DEMO_PORT="${DEMO_UPSTREAM_PORT:-8788}"
ROUTER_PORT="${ROUTER_PORT:-8787}"
DEMO_URL="http://127.0.0.1:${DEMO_PORT}"
ADMIN="${ADMIN_TOKEN:-dev-admin-token-local-only}"

demo_log=$(mktemp)
# --seed: the demo refuses a prompt over a model's context window, read from the seeded pricing.
node tests/fake-upstream/server.mjs --port "$DEMO_PORT" --demo --seed kv-seed > "$demo_log" &
demo_pid=$!
trap 'kill $demo_pid 2>/dev/null || true; rm -f "$demo_log"' EXIT INT TERM
# The catalog seeded below points at the demo upstream: stop here unless it says it is listening
# (its port taken by an earlier run, it exits instead) rather than seed a catalog pointing at
# whatever holds the port.
for _ in $(seq 100); do
  grep -q '"listening"' "$demo_log" && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '"listening"' "$demo_log" || ! kill -0 "$demo_pid" 2>/dev/null; then
  echo "the demo upstream could not start on port $DEMO_PORT (in use?)" >&2
  exit 1
fi

node scripts/seed-kv.mjs --local --demo-url "$DEMO_URL"
# Edits to policies/ and kv-seed/ are pushed to local KV as they are saved (the router reads
# them from KV, not from the bundle), and read within CONFIG_TTL_SECS, 1 s here.
node scripts/seed-kv.mjs --local --demo-url "$DEMO_URL" --watch &
watch_pid=$!
trap 'kill $demo_pid $watch_pid 2>/dev/null || true; rm -f "$demo_log"' EXIT INT TERM
cat <<MSG

  costrouter is starting on http://127.0.0.1:${ROUTER_PORT}
  Router key (local only):  cr-dev-local-only-not-a-secret-000000000000
  Admin token (local only): ${ADMIN}

  curl -s http://127.0.0.1:${ROUTER_PORT}/v1/chat/completions -i \\
    -H 'authorization: Bearer cr-dev-local-only-not-a-secret-000000000000' \\
    -H 'content-type: application/json' \\
    -d '{"model":"fast","messages":[{"role":"user","content":"Hello!"}]}'

MSG
COSTROUTER_BUILD_IF_STALE=1 node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$ROUTER_PORT" --var "ADMIN_TOKEN:${ADMIN}" --var "CONFIG_TTL_SECS:1" --show-interactive-dev-session=false --test-scheduled
