-- base.lua: the Redis clock, argument checks, number formatting, long commands in slices, and
-- the client's settings.

-- The Redis clock in ms, read once per call (the library's `enter` forgets it between calls).
local NOW = nil
local function now_ms()
  if not NOW then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
end

local function int(value, name)
  local n = tonumber(value)
  if n == nil or n ~= math.floor(n) then
    error('ERR job: argument `' .. name .. '` is not an integer: ' .. tostring(value))
  end
  return n
end

local function fmt(n)
  return string.format('%.0f', n)
end

-- Runs `command` [`key`] with `items` as its arguments, 1000 at a time (Lua's stack limits
-- `unpack`); nothing when `items` is empty.
local function sliced(command, key, items)
  for first = 1, #items, 1000 do
    local last = math.min(first + 999, #items)
    if key then
      redis.call(command, key, unpack(items, first, last))
    else
      redis.call(command, unpack(items, first, last))
    end
  end
end

-- The client's settings, ARGV[1] of every script that may insert or end jobs: nine integers,
-- comma-separated:
-- history cap, completed keep count, completed max age ms, failed keep count, failed max age ms,
-- max lease expiries, inline args max (bytes), cancelled keep count, cancelled max age ms. Read
-- once per call by `load_settings`.
local S = nil

-- The last settings text parsed, and what it gave: a library of functions keeps them between
-- calls, so the same settings, sent with every call, are parsed once (3 us a call otherwise).
-- Read only: no script changes `S`.
local parsed_text, parsed = nil, nil

local function load_settings()
  local text = ARGV[1] or ''
  if text ~= parsed_text then
    local v = {}
    for n in string.gmatch(text, '[^,]+') do
      v[#v + 1] = int(n, 'settings')
    end
    if #v ~= 9 then
      error('ERR job: bad settings `' .. text .. '`')
    end
    parsed_text = text
    parsed = { cap = v[1], done_keep = v[2], done_age = v[3], failed_keep = v[4],
               failed_age = v[5], max_expiries = v[6], inline_max = v[7], cancelled_keep = v[8],
               cancelled_age = v[9] }
  end
  S = parsed
end
