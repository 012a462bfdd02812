-- wrk script: POSTs the chat request in $BENCH_BODY with $BENCH_AUTH and any extra headers in
-- $BENCH_HEADERS ("name: value|name: value"), counts non-2xx answers, and prints one JSON line.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["content-type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["authorization"] = auth end
local extra = os.getenv("BENCH_HEADERS") or ""
for pair in string.gmatch(extra, "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; bad_status = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1; bad_status = status end
end

function done(summary, latency, requests)
  local bad_total, bad_status = 0, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    if (t:get("bad_status") or 0) > 0 then bad_status = t:get("bad_status") end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"non2xx":%d,"socket_errors":%d,"timeouts":%d,"last_non2xx_status":%d,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    bad_total, errors, summary.errors.timeout, bad_status, latency.max / 1000))
end
