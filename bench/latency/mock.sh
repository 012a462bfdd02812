# Sourced by the benchmarks that drive workers against the nginx mock upstream (bench/latency,
# bench/sustained, bench/profile), with `root` set to the repository and the working directory
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
