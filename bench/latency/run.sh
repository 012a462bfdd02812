#!/usr/bin/env bash
# Added latency, side by side: the same chat requests sent straight to a mock OpenAI upstream
# (nginx) and through costrouter (the real built worker in workerd, via Miniflare with a socket
# straight into the worker, as in production), a trivial
# workers-rs worker (the runtime's own limit), a plain JS relay worker (the limit for a worker
# that makes one upstream call), LiteLLM proxy, Portkey gateway and TensorZero, all
# in the same run on 127.0.0.1. Non-streaming (wrk) and streaming (time to first token, a Node
# client) at 1, 10 and 50 connections, repeated; medians into bench/RESULTS.md (latency section).
#
#   bash bench/latency/run.sh            # 5 s per measurement, 3 repeats (about 12 minutes)
#   bash bench/latency/run.sh --quick    # 2 s, 1 repeat (about 2 minutes)
#
# Peers are installed into bench/.peers (git-ignored) on first use: litellm[proxy]==1.106.2 and
# tensorzero (PyPI, a venv), @portkey-ai/gateway with @hono/node-server pinned to 1.13.5 (npm).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source bench/latency/mock.sh
export PATH="$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
seconds=5 repeats=3
if [[ "${1:-}" == "--quick" ]]; then seconds=2 repeats=1; fi
peers=bench/.peers
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_mock "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# --- tools and peers (skipped when present) --------------------------------------------------
ensure_nginx_wrk
mkdir -p "$peers"
if ! "$peers/venv/bin/python" -c 'import litellm, tensorzero' 2>/dev/null; then
  python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install -q "litellm[proxy]==1.106.2" "tensorzero==2026.6.0"
fi
if [[ ! -f "$peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ]]; then
  mkdir -p "$peers/portkey"
  cat > "$peers/portkey/package.json" <<'JSON'
{ "name": "costrouter-bench-portkey", "private": true,
  "dependencies": { "@portkey-ai/gateway": "1.15.2", "@hono/node-server": "1.13.5" },
  "overrides": { "@hono/node-server": "1.13.5" } }
JSON
  (cd "$peers/portkey" && npm install --no-audit --no-fund >/dev/null)
fi
make -s build >/dev/null
build_trivial_worker

# --- start everything ------------------------------------------------------------------------
# Gateways on core 0, the load generators and the mock on core 1 (see pin_cpus in mock.sh).
# Only one target is under load at a time.
pin_cpus
start_mock "$work"

start() { # name, log file, command...
  local name=$1 log=$2; shift 2
  "${gateway_cpu[@]}" "$@" > "$log" 2>&1 &
  pids+=($!)
  echo "$name $!" >> "$work/pids"
}
start costrouter "$work/costrouter.log" node bench/latency/serve-worker.mjs costrouter 9201
start trivial "$work/trivial.log" node bench/latency/serve-worker.mjs trivial 9200
start relay "$work/relay.log" node bench/latency/serve-worker.mjs relay 9202
start litellm "$work/litellm.log" env LITELLM_LOCAL_MODEL_COST_MAP=True "$peers/venv/bin/litellm" --config bench/latency/peers/litellm.yaml --host 127.0.0.1 --port 9300 --num_workers 1
start portkey "$work/portkey.log" env PORT=9400 node "$peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" --port=9400
start tensorzero "$work/tensorzero.log" env OPENAI_API_KEY=sk-bench-upstream "$peers/venv/bin/python" bench/latency/peers/tensorzero_gateway.py bench/latency/peers/tensorzero.toml

wait_for() { # log file with "ready <url>", or a port to poll
  for _ in $(seq 1 240); do
    if [[ "$1" == *.log ]]; then grep -q '^ready ' "$1" 2>/dev/null && return 0
    else curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; fi
    sleep 0.5
  done
  return 1
}
wait_for "$work/costrouter.log"; wait_for "$work/trivial.log"; wait_for "$work/relay.log"; wait_for 9300 || true; wait_for 9400 || true
wait_for "$work/tensorzero.log" || true
tz=$(sed -n 's/^ready //p' "$work/tensorzero.log" | head -1)

# --- targets: name | url | json model | stream model | auth | extra headers (json) | extra headers (stream)
key="Bearer cr-benchKEY00000000000000000000000000000001"
targets=(
  "direct|http://127.0.0.1:9100/v1/chat/completions|gpt-4o-mini|gpt-4o-mini|||"
  "trivial worker|http://127.0.0.1:9200/v1/chat/completions|gpt-4o-mini|gpt-4o-mini|||"
  "JS relay|http://127.0.0.1:9202/v1/chat/completions|gpt-4o-mini|gpt-4o-mini|||"
  "costrouter|http://127.0.0.1:9201/v1/chat/completions|bench-json|bench-stream|$key||"
  "LiteLLM|http://127.0.0.1:9300/v1/chat/completions|bench-json|bench-stream|Bearer sk-litellm-bench-4f7c2a9e81d34b6a9c0e5f2d7b8a1c3e||"
  "Portkey|http://127.0.0.1:9400/v1/chat/completions|gpt-4o-mini|gpt-4o-mini|Bearer sk-bench-upstream|x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:9100/v1|x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:9101/v1"
  "TensorZero|$tz/chat/completions|tensorzero::model_name::bench_json|tensorzero::model_name::bench_stream|||"
)
body() { printf '{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":"Say hello in one short sentence."}]%s}' "$1" "$2"; }

results="$work/results.jsonl"
: > "$results"
usable=()
for t in "${targets[@]}"; do
  IFS='|' read -r name url jm sm auth h1 h2 h3 h4 <<< "$t"
  json_headers="$h1|$h2"
  hdr=(-H 'content-type: application/json'); [[ -n "$auth" ]] && hdr+=(-H "authorization: $auth")
  IFS='|' read -ra hs <<< "$json_headers"; for h in "${hs[@]}"; do [[ -n "$h" ]] && hdr+=(-H "$h"); done
  # A peer's first answer can take a while (LiteLLM loads lazily on its first request): a few tries.
  answered=false
  for _ in 1 2 3 4 5 6; do
    if [[ "$url" != /* ]] && curl -s -m 20 "${hdr[@]}" -d "$(body "$jm" '')" "$url" | grep -q '"choices"'; then answered=true; break; fi
    sleep 2
  done
  if ! $answered; then
    echo "{\"target\":\"$name\",\"unavailable\":true}" >> "$results"; echo "skip: $name did not answer" >&2; continue
  fi
  usable+=("$t")
done

# Warm-up, unmeasured: a few seconds of load on each target first, so that no target's first
# measurement carries its JIT (V8's tier-up of wasm and JS) or its connection pools filling.
for t in "${usable[@]}"; do
  IFS='|' read -r name url jm sm auth h1 h2 h3 h4 <<< "$t"
  export BENCH_AUTH="$auth" BENCH_HEADERS="$h1|$h2" BENCH_BODY="$(body "$jm" '')"
  "${client_cpu[@]}" wrk -t1 -c10 -d3s --timeout 10s -s bench/latency/wrk-post.lua "$url" >/dev/null 2>&1 || true
done

for mode in json stream; do
  for conns in 1 10 50; do
    for rep in $(seq 1 "$repeats"); do
      for t in "${usable[@]}"; do
        IFS='|' read -r name url jm sm auth h1 h2 h3 h4 <<< "$t"
        if [[ "$name" == Portkey && "$mode" == stream ]]; then headers="$h3|$h4"; else headers="$h1|$h2"; fi
        export BENCH_AUTH="$auth" BENCH_HEADERS="$headers"
        # The mock serves its stream on its own port; the gateways are pointed at it by model.
        [[ "$name" == direct && "$mode" == stream ]] && url=http://127.0.0.1:9101/v1/chat/completions
        if [[ "$mode" == json ]]; then
          export BENCH_BODY="$(body "$jm" '')"
          line=$("${client_cpu[@]}" wrk -t1 -c"$conns" -d"${seconds}s" --timeout 10s -s bench/latency/wrk-post.lua "$url" | tail -1)
        else
          export BENCH_BODY="$(body "$sm" ',"stream":true')"
          line=$("${client_cpu[@]}" node bench/latency/stream-client.mjs "$url" "$conns" "$seconds")
        fi
        echo "{\"target\":\"$name\",\"mode\":\"$mode\",\"conns\":$conns,\"rep\":$rep,\"r\":$line}" >> "$results"
      done
    done
  done
done

# Peak memory of the costrouter isolate's process (workerd under Miniflare) over the run.
cr_pid=$(awk '$1=="costrouter"{print $2}' "$work/pids")
wd=$(pgrep -P "$cr_pid" -f workerd | head -1 || true)
peak_kb=$( [[ -n "$wd" ]] && awk '/VmHWM/{print $2}' "/proc/$wd/status" || echo 0)

# Every measurement as it came (errors by kind, the last non-2xx status), for a look at an error.
mkdir -p bench/out && cp "$results" bench/out/latency-results.jsonl
BENCH_PINNED=$((${#gateway_cpu[@]} > 0)) python3 bench/latency/report.py "$results" "$seconds" "$repeats" "$peak_kb" > "$work/section.md"
python3 bench/latency/splice.py bench/RESULTS.md latency "$work/section.md"
echo "wrote bench/RESULTS.md (latency)"
