-- wrk: cancels by key, the even-numbered keys trigger.lua sent (HERALD_BENCH_SENT: how many each
-- of its threads sent, comma-separated). Prints a WRK line; "exhausted" counts cancels sent past
-- the keys (cancelling nothing), which the run is sized to avoid: a figure with any is not valid.
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  m, prefix, exhausted = 0, args[1], 0
  local i = 0
  for count in string.gmatch(os.getenv("HERALD_BENCH_SENT"), "%d+") do
    if i == id then limit = tonumber(count) end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("HERALD_BENCH_KEY")
end

function request()
  local n = 2 * m
  m = m + 1
  if n >= limit then exhausted = exhausted + 1 end
  return wrk.format(nil, "/v1/workflows/delayed/cancel", nil,
    '{"cancellation_key":"' .. prefix .. id .. "-" .. n .. '"}')
end

function done(summary, latency, requests)
  local sent, out = {}, 0
  for _, t in ipairs(threads) do
    sent[#sent + 1] = t:get("m") - t:get("exhausted")
    out = out + t:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"sent":[%s],"exhausted":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(sent, ","), out))
end
