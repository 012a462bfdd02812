# Sourced by the benchmarks that drive workers against the nginx mock upstream (bench/latency,
# bench/sustained, bench/stalls, bench/compare, bench/profile), with `root` set to the repository and the working directory
# there.

# nginx (the mock) and wrk, installed when missing. Package lists may be empty or stale on a
# fresh machine: updated once if the install fails.
ensure_nginx_wrk() {
  local need_apt=()
  command -v nginx >/dev/null || need_apt+=(nginx-light)
  command -v wrk >/dev/null || need_apt+=(wrk)
  if ((${#need_apt[@]})); then apt-get install -y "${need_apt[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null; }; fi
}

# bench/latency/trivial-worker (the runtime's own limit), built when missing or older than its source.
build_trivial_worker() {
  if [[ ! -f bench/latency/trivial-worker/build/index.js || bench/latency/trivial-worker/src/lib.rs -nt bench/latency/trivial-worker/build/index.js ]]; then
    (cd bench/latency/trivial-worker && CARGO_TARGET_DIR="$root/target/trivial-worker" WASM_BINDGEN_BIN="$(command -v wasm-bindgen)" \
      ESBUILD_BIN="$root/node_modules/.bin/esbuild" WASM_OPT_BIN="$root/node_modules/binaryen/bin/wasm-opt" worker-build --release >/dev/null)
  fi
}

# With two or more cores, every target runs on core 0 and the load generators and the mock on
# core 1 (BENCH_PIN=0 turns this off). Unpinned, the scheduler moves them across both cores and
# a target's figures swing with whatever wrk and nginx happen to take; pinned, each target has
# one whole core, as a Worker isolate has one thread. Sets `gateway_cpu` and `client_cpu`: the
# command prefixes (empty when unpinned).
pin_cpus() {
  gateway_cpu=() client_cpu=()
  if [[ "${BENCH_PIN:-1}" == 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
    gateway_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
  fi
}

# Starts the mock (bench/latency/nginx.conf: 127.0.0.1:9100 whole answers, 9101 streams) in the
# directory $1/nginx, on `client_cpu`'s core when set.
start_mock() {
  mkdir -p "$1/nginx/tmp" "$1/nginx/payloads"
  cp bench/latency/payloads/* "$1/nginx/payloads/"
  chmod -R a+rX "$1/nginx"
  ${client_cpu[@]+"${client_cpu[@]}"} nginx -p "$1/nginx" -c "$root/bench/latency/nginx.conf" </dev/null >/dev/null
}

# Stops the mock started under $1, if it runs.
stop_mock() {
  [[ -f "$1/nginx/nginx.pid" ]] && nginx -p "$1/nginx" -c "$root/bench/latency/nginx.conf" -s stop 2>/dev/null || true
}

# The gateways bench/sustained and bench/stalls measure one at a time on 127.0.0.1:9501, as
# `name|command|model|auth|header|header` lines: costrouter, the plain JS relay and the trivial
# worker (workerd through Miniflare), and Portkey (a Node process) when bench/.peers has it.
solo_targets() {
  local portkey=bench/.peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
  local key="Bearer cr-benchKEY00000000000000000000000000000001"
  echo "costrouter|node bench/latency/serve-worker.mjs costrouter 9501|bench-json|$key||"
  echo "JS relay|node bench/latency/serve-worker.mjs relay 9501|gpt-4o-mini|||"
  echo "trivial worker|node bench/latency/serve-worker.mjs trivial 9501|gpt-4o-mini|||"
  if [[ -f "$portkey" ]]; then
    echo "Portkey|env PORT=9501 node $portkey --port=9501|gpt-4o-mini|Bearer sk-bench-upstream|x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:9100/v1"
  fi
}

# Starts the target line $1 (see solo_targets) on `gateway_cpu`'s core, its output in $2, and
# waits up to a minute for it to answer a chat request. Sets target_name, target_model,
# target_auth and target_pid, and exports BENCH_AUTH and BENCH_HEADERS as wrk-post.lua and
# bench/stalls/client.mjs take them. Fails if the target never answered.
start_solo_target() {
  local cmd h1 h2
  IFS='|' read -r target_name cmd target_model target_auth h1 h2 <<< "$1"
  # shellcheck disable=SC2086 # the command line is split on purpose
  ${gateway_cpu[@]+"${gateway_cpu[@]}"} $cmd > "$2" 2>&1 &
  target_pid=$!
  export BENCH_AUTH="$target_auth" BENCH_HEADERS="$h1|$h2"
  local hdr=(-H 'content-type: application/json') h
  [[ -n "$target_auth" ]] && hdr+=(-H "authorization: $target_auth")
  for h in "$h1" "$h2"; do [[ -n "$h" ]] && hdr+=(-H "$h"); done
  for _ in $(seq 1 120); do
    if curl -s -m 5 "${hdr[@]}" -d "{\"model\":\"$target_model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" http://127.0.0.1:9501/v1/chat/completions | grep -q '"choices"'; then return 0; fi
    sleep 0.5
  done
  return 1
}

# Stops the target start_solo_target started and whatever it started (workerd under Miniflare),
# then waits until its port is free for the next one.
stop_solo_target() {
  [[ -n "${target_pid:-}" ]] || return 0
  pkill -P "$target_pid" 2>/dev/null || true
  kill "$target_pid" 2>/dev/null || true
  wait "$target_pid" 2>/dev/null || true
  target_pid=
  for _ in $(seq 1 40); do curl -s -o /dev/null -m 1 http://127.0.0.1:9501/ || break; sleep 0.25; done
}

# What bench/sustained and bench/stalls set up alike: the tools and builds they drive, the cores
# (pin_cpus), a scratch directory `work` removed on exit with the mock and any target stopped,
# and the mock started.
prepare_solo_bench() {
  ensure_nginx_wrk
  make -s build >/dev/null
  build_trivial_worker
  pin_cpus
  work=$(mktemp -d)
  chmod 755 "$work"
  trap 'stop_solo_target; stop_mock "$work"; rm -rf "$work"' EXIT
  start_mock "$work"
}

# Runs the function named $1 once for each of solo_targets, started alone on 127.0.0.1:9501 with
# the target_* variables set (see start_solo_target); a target that never answers is skipped.
each_solo_target() {
  local t targets
  mapfile -t targets < <(solo_targets)
  for t in "${targets[@]}"; do
    if start_solo_target "$t" "$work/target.log"; then "$1"; else echo "skip: $target_name did not answer" >&2; fi
    # The target and whatever it started (workerd under Miniflare) go before the next one binds the port.
    stop_solo_target
  done
}
