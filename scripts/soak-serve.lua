-- soak-serve.lua: mixed traffic for scripts/soak-serve (wrk -s). Args:
-- TOKEN SEED ACTORS DELAY_MS. Each request is, by weight: a fire-and-forget
-- message (202), a stored one (201), an idempotent one (201; now and then
-- a repeat of the thread's last key and body: 200), an ask (200), one
-- actor's state (200), a page of the listing (200), /metrics (200). The
-- status codes seen are counted per thread; done() prints them as lines
-- "SOAK-CODE STATUS COUNT" and the socket errors as "SOAK-ERRORS ...".
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  math.randomseed(tonumber(args[2]) + id)
  actors = tonumber(args[3])
  pause = tonumber(args[4])
  codes = {}
  last_key, last_body = nil, nil
  hdr = {["Authorization"] = "Bearer " .. token,
         ["Content-Type"] = "application/json"}
end

local function actor()
  return "/v1/actors/tally/s" .. math.random(0, actors - 1)
end

local function with(extra)
  local h = {}
  for k, v in pairs(hdr) do h[k] = v end
  for k, v in pairs(extra) do h[k] = v end
  return h
end

function request()
  local r = math.random(100)
  counter = counter + 1
  local body = '{"type":1,"json":{"n":' .. counter .. ',"t":' .. id .. '}}'
  if r <= 25 then
    return wrk.format("POST", actor() .. "/messages", hdr, body)
  elseif r <= 40 then
    return wrk.format("POST", actor() .. "/messages?durable=1", hdr, body)
  elseif r <= 50 then
    if last_key and math.random(4) == 1 then
      return wrk.format("POST", last_path, with({["Idempotency-Key"] = last_key}), last_body)
    end
    last_key = "soak-" .. id .. "-" .. counter
    last_body = body
    last_path = actor() .. "/messages"
    return wrk.format("POST", last_path, with({["Idempotency-Key"] = last_key}), body)
  elseif r <= 65 then
    return wrk.format("POST", actor() .. "/ask?timeout_ms=5000", hdr, '{"type":2}')
  elseif r <= 85 then
    return wrk.format("GET", actor(), hdr)
  elseif r <= 95 then
    return wrk.format("GET", "/v1/actors?kind=tally&limit=20&after=" .. math.random(0, actors), hdr)
  else
    return wrk.format("GET", "/metrics", hdr)
  end
end

function delay()
  return pause
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do
    io.write(string.format("SOAK-CODE %d %d\n", k, v))
  end
  local e = summary.errors
  io.write(string.format("SOAK-ERRORS %d %d %d %d %d\n", e.connect, e.read,
    e.write, e.timeout, summary.requests))
  io.write(string.format("SOAK-LATENCY %.1f %.1f\n", latency:percentile(50),
    latency:percentile(99)))
end
