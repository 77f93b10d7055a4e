-- common.lua: helpers shared by every transition script (prepended to each one when loaded).
-- KEYS[1] is always the shard prefix `<ns>:{<shard>}:`; every key is built from it, so all keys
-- of a script share one hash tag.
local P = KEYS[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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

-- Ready-set score: priority first (higher runs first), then FIFO by sequence number.
local function ready_score(priority, seq)
  return (127 - priority) * 17592186044416 + seq
end

local function make_ready(id, jtype, priority, seq)
  redis.call('ZADD', P .. 'r:' .. jtype, fmt(ready_score(priority, seq)), id)
  redis.call('ZADD', P .. 'w:' .. jtype, 0, 'r')
  redis.call('HSET', P .. 'j:' .. id, 's', 'ready')
  redis.call('HDEL', P .. 'j:' .. id, 'ra')
end

local function make_delayed(id, jtype, run_at)
  redis.call('ZADD', P .. 'delayed', fmt(run_at), id)
  redis.call('ZADD', P .. 'w:' .. jtype, 'LT', fmt(run_at), 'd')
  redis.call('HSET', P .. 'j:' .. id, 's', 'delayed', 'ra', fmt(run_at))
end

-- Appends a failure record and trims the history to `cap` entries.
local function push_failure(id, now, attempt, kind, message, holder, cap)
  local record = cjson.encode({ t = now, a = attempt, k = kind, m = message, w = holder or '' })
  local key = P .. 'e:' .. id
  redis.call('RPUSH', key, record)
  if cap > 0 then
    redis.call('LTRIM', key, -cap, -1)
  end
end

local function delete_job(id)
  redis.call('UNLINK', P .. 'j:' .. id, P .. 'a:' .. id, P .. 'e:' .. id)
end

-- Removes the oldest entries of a retention index beyond `keep` entries or older than
-- `max_age` ms, deleting their jobs; bounded per call so a script never runs long.
local function prune(index, now, keep, max_age)
  local budget = 20
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', fmt(now - max_age), 'LIMIT', 0, budget)
  for _, id in ipairs(old) do
    redis.call('ZREM', index, id)
    delete_job(id)
  end
  budget = budget - #old
  local over = redis.call('ZCARD', index) - keep
  if over > 0 and budget > 0 then
    local extra = redis.call('ZRANGE', index, 0, math.min(over, budget) - 1)
    for _, id in ipairs(extra) do
      redis.call('ZREM', index, id)
      delete_job(id)
    end
  end
end

-- Ends a job that is running, ready or delayed: out of every live place, into its retention
-- index (`done` or `failed`), or deleted at once when that index keeps nothing.
local function finish(id, state, now, keep, max_age)
  redis.call('ZREM', P .. 'leases', id)
  redis.call('HSET', P .. 'j:' .. id, 's', state, 'f', fmt(now))
  redis.call('HDEL', P .. 'j:' .. id, 'w', 'ra')
  local index = P .. (state == 'failed' and 'failed' or 'done')
  if keep <= 0 then
    delete_job(id)
  else
    redis.call('ZADD', index, fmt(now), id)
  end
  prune(index, now, keep, max_age)
end

-- The history cap and the failed-job retention: the three ARGV from `i` of every script that
-- may fail a job.
local function failure_args(i)
  return int(ARGV[i], 'history_cap'), int(ARGV[i + 1], 'failed_keep'), int(ARGV[i + 2], 'failed_age')
end

-- The fields of a held job, or nil when `token` does not hold it (stale, ended, missing).
local function held(id, token)
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 'tk', 't', 'a', 'm', 'p', 'q', 'w')
  if f[1] ~= 'running' or f[2] ~= token then
    return nil
  end
  return { jtype = f[3], attempts = tonumber(f[4]), max = tonumber(f[5]), priority = tonumber(f[6]),
           seq = tonumber(f[7]), holder = f[8] }
end

-- Validates one insert row (9 fields from ARGV[base]) without writing.
local function check_row(base)
  if ARGV[base] == nil or ARGV[base] == '' then error('ERR job: missing job id') end
  if ARGV[base + 1] == nil or ARGV[base + 1] == '' then error('ERR job: missing job type') end
  int(ARGV[base + 2], 'priority')
  int(ARGV[base + 3], 'max_attempts')
  int(ARGV[base + 4], 'lease_ms')
  int(ARGV[base + 5], 'delay_ms')
  int(ARGV[base + 6], 'at_ms')
  if ARGV[base + 7] == nil then error('ERR job: missing payload') end
end

-- Inserts the row at ARGV[base]: id, type, priority, max_attempts, lease_ms, delay_ms, at_ms,
-- payload, parent. Returns 1, or 0 when the id exists (a retried insert).
local function insert_row(base, now, inline_max)
  local id = ARGV[base]
  local key = P .. 'j:' .. id
  if redis.call('EXISTS', key) == 1 then
    return 0
  end
  local jtype, priority = ARGV[base + 1], tonumber(ARGV[base + 2])
  local delay, at = tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6])
  local payload = ARGV[base + 7]
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('HSET', key, 't', jtype, 'p', priority, 'q', seq, 'c', fmt(now), 'a', 0,
    'm', ARGV[base + 3], 'l', ARGV[base + 4])
  if ARGV[base + 8] ~= '' then
    redis.call('HSET', key, 'pa', ARGV[base + 8])
  end
  if #payload <= inline_max then
    redis.call('HSET', key, 'd', payload)
  else
    redis.call('SET', P .. 'a:' .. id, payload)
  end
  local run_at = now + delay
  if at > run_at then run_at = at end
  if run_at > now then
    make_delayed(id, jtype, run_at)
  else
    make_ready(id, jtype, priority, seq)
  end
  return 1
end
