-- wrk: single-recipient triggers with a cancellation key, one key per request, unique per
-- thread (<prefix><thread>-<n>). Prints a WRK line with the figures and how many each thread sent.
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  n, prefix = 0, args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("HERALD_BENCH_KEY")
end

function request()
  local key = prefix .. id .. "-" .. n
  n = n + 1
  return wrk.format(nil, "/v1/workflows/delayed/trigger", nil,
    '{"recipients":["' .. key .. '"],"cancellation_key":"' .. key .. '"}')
end

function done(summary, latency, requests)
  local sent = {}
  for _, t in ipairs(threads) do sent[#sent + 1] = t:get("n") end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"sent":[%s]}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(sent, ",")))
end
