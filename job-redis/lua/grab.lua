-- grab.lua: GRAB: reap expired leases, promote due delayed jobs, then lease up to `limit` ready
-- jobs of the given types that the caller's capabilities allow, each with a new fencing token:
-- higher priority first; within a priority, each queue in FIFO order, the queues taking turns.
-- With a filter, only jobs whose attributes match are taken, and only the first `window` jobs of
-- each queue are looked at.
-- KEYS[1] shard prefix
-- ARGV[1] limit  ARGV[2] default lease_ms  ARGV[3] holder (JSON)  ARGV[4] max lease expiries
-- ARGV[5] history cap  ARGV[6] failed keep count  ARGV[7] failed max age ms
-- ARGV[8] capabilities (comma-separated)  ARGV[9] filter (JSON object, or '')  ARGV[10] window
-- ARGV[11..] types
-- returns: {next_wake_ms (-1: none), then per job: id, type, payload, attempt, max_attempts,
--           token, lease_ms}; records in `seen` that the types were asked for now
local limit = int(ARGV[1], 'limit')
local default_lease = int(ARGV[2], 'lease_ms')
local holder = ARGV[3]
local max_expiries = int(ARGV[4], 'max_lease_expiries')
local cap, failed_keep, failed_age = failure_args(5)
local window = int(ARGV[10], 'window')
local filter = nil
if ARGV[9] ~= '' then
  filter = cjson.decode(ARGV[9])
end
local now = now_ms()

-- 1. Expired leases: back to the front of their queue, or failed past the expiry limit.
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 't', 'a', 'x', 'p', 'q', 'w', 'rq')
  if f[1] ~= 'running' then
    redis.call('ZREM', P .. 'leases', id)
  else
    local attempt = tonumber(f[3]) or 0
    local expiries = redis.call('HINCRBY', P .. 'j:' .. id, 'x', 1)
    redis.call('HSET', P .. 'j:' .. id, 'a', attempt - 1)
    push_failure(id, now, attempt, 'lease_expired', 'lease expired before the job finished', f[7], cap)
    if expiries > max_expiries then
      finish(id, 'failed', now, failed_keep, failed_age, cap)
      prune('failed', now, failed_keep, failed_age)
    else
      redis.call('ZREM', P .. 'leases', id)
      redis.call('HDEL', P .. 'j:' .. id, 'w')
      make_ready(id, queue_of(f[2], f[8]), tonumber(f[5]), tonumber(f[6]), true)
    end
  end
end

-- 2. Due delayed jobs: to the back of their queues.
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(due) do
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 't', 'p', 'q', 'rq')
  if f[1] == 'delayed' then
    -- Into its queue first: a queue key of the wrong type fails here, leaving the job delayed.
    make_ready(id, queue_of(f[2], f[5]), tonumber(f[3]), tonumber(f[4]))
  end
  redis.call('ZREM', P .. 'delayed', id)
end

-- 3. The queues this caller may take: each type, plus each of its requirement sets that the
--    capabilities cover.
local has = {}
for capability in string.gmatch(ARGV[8], '[^,]+') do
  has[capability] = true
end
local queues = {}
for i = 11, #ARGV do
  queues[#queues + 1] = ARGV[i]
  for _, reqs in ipairs(redis.call('SMEMBERS', P .. 'q:' .. ARGV[i])) do
    local ok = true
    for need in string.gmatch(reqs, '[^,]+') do
      if not has[need] then ok = false break end
    end
    if ok then queues[#queues + 1] = queue_of(ARGV[i], reqs) end
  end
end

-- 4. Pop up to `limit` jobs across those queues: prioritized jobs (priority > 0) first, then the
--    priority-0 lists, then the rest (priority < 0). The cost grows with the queues and the jobs
--    taken, never with the backlog.
local picked = {}

-- The ready sets' heads, for a merge in score order.
local heads = {}
local function load_heads()
  for _, queue in ipairs(queues) do
    local head = redis.call('ZRANGE', P .. 'r:' .. queue, 0, 0, 'WITHSCORES')
    if head[1] then
      heads[#heads + 1] = { queue = queue, score = tonumber(head[2]) }
    end
  end
end

-- A merge over the ready sets' heads, of jobs scored below `bound`: from the queue with the best
-- head, take every job that beats the runner-up's head, then look at that queue's new head.
local function merge_sets(bound)
  while #picked < limit do
    local best = nil
    for i, head in ipairs(heads) do
      if head.score < bound and (best == nil or head.score < heads[best].score) then
        best = i
      end
    end
    if best == nil then
      return
    end
    local second = bound
    for i, head in ipairs(heads) do
      if i ~= best and head.score < second then
        second = head.score
      end
    end
    local key = P .. 'r:' .. heads[best].queue
    local below = second == math.huge and '+inf' or ('(' .. fmt(second))
    local ids = redis.call('ZRANGEBYSCORE', key, '-inf', below, 'LIMIT', 0, limit - #picked)
    if #ids == 0 then
      return -- cannot happen (the head scores below `second`); never remove a set by accident
    end
    redis.call('ZREMRANGEBYRANK', key, 0, #ids - 1)
    for _, id in ipairs(ids) do
      picked[#picked + 1] = { id = id, queue = heads[best].queue }
    end
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if head[1] then
      heads[best].score = tonumber(head[2])
    else
      table.remove(heads, best)
    end
  end
end

-- The priority-0 lists take turns: each gives an equal share of the free slots, starting at a
-- queue that moves on with every grab, so a type with a deep backlog never starves another.
local function take_lists()
  local active, broken = {}, nil
  local start = 0
  if #queues > 1 then
    start = tonumber(redis.call('GET', P .. 'seq') or '0') % #queues
  end
  for i = 1, #queues do
    active[i] = queues[(start + i - 1) % #queues + 1]
  end
  while #picked < limit and #active > 0 do
    local share = math.ceil((limit - #picked) / #active)
    local still = {}
    for _, queue in ipairs(active) do
      local want = math.min(share, limit - #picked)
      if want == 0 then
        break
      end
      local ids = redis.pcall('LPOP', P .. 'l:' .. queue, want)
      if type(ids) == 'table' and ids.err then
        -- Not a list (a stray write): skip it, so the other queues are still served.
        broken = broken or { queue = queue, err = ids.err }
      elseif ids then
        for _, id in ipairs(ids) do
          picked[#picked + 1] = { id = id, queue = queue }
        end
        if #ids == want then still[#still + 1] = queue end
      end
    end
    active = still
  end
  -- Jobs already popped must be leased below, never dropped (Lua does not roll back); with none
  -- popped, nothing was written since the reads, so the grab is refused, naming the key.
  if broken and #picked == 0 then
    local key = P .. 'l:' .. broken.queue
    local kind = redis.call('TYPE', key).ok
    error({ err = kind == 'list' and broken.err
      or ('ERR job: key `' .. key .. '` is a ' .. kind .. ', expected a list') })
  end
end

local function matches(id)
  for name, value in pairs(filter) do
    if redis.call('HGET', P .. 'j:' .. id, '@' .. name) ~= tostring(value) then
      return false
    end
  end
  return true
end

if limit > 0 and filter then
  -- Filtered: look at the first `window` jobs of each queue's set and list, take the matching
  -- ones in (priority, position) order.
  local candidates = {}
  for _, queue in ipairs(queues) do
    local rows = redis.call('ZRANGE', P .. 'r:' .. queue, 0, window - 1, 'WITHSCORES')
    local taken = 0
    for j = 1, #rows, 2 do
      if taken < limit and matches(rows[j]) then
        candidates[#candidates + 1] = { id = rows[j], score = tonumber(rows[j + 1]), queue = queue }
        taken = taken + 1
      end
    end
    local ids = redis.call('LRANGE', P .. 'l:' .. queue, 0, window - 1)
    taken = 0
    for j, id in ipairs(ids) do
      if taken < limit and matches(id) then
        candidates[#candidates + 1] = { id = id, score = P0 + j, queue = queue, list = true }
        taken = taken + 1
      end
    end
  end
  table.sort(candidates, function(a, b) return a.score < b.score end)
  for i = 1, math.min(limit, #candidates) do
    local c = candidates[i]
    if c.list then
      redis.call('LREM', P .. 'l:' .. c.queue, 1, c.id)
    else
      redis.call('ZREM', P .. 'r:' .. c.queue, c.id)
    end
    picked[#picked + 1] = c
  end
elseif limit > 0 then
  load_heads()
  merge_sets(P0)
  take_lists()
  merge_sets(math.huge)
end

-- 5. Lease each one: tokens from one INCRBY, each larger than any issued before.
local out = { -1 }
local last = 0
if #picked > 0 then
  last = redis.call('INCRBY', P .. 'seq', #picked)
end
local now_s = fmt(now)
local deadlines = {} -- score, id, score, id, ...: one ZADD to `leases` for the whole grab
for i, c in ipairs(picked) do
  local key = P .. 'j:' .. c.id
  local token = last - #picked + i
  local f = redis.call('HMGET', key, 'd', 'm', 'l', 't', 'uw', 'uk', 'a')
  local attempt = (tonumber(f[7]) or 0) + 1
  local lease = tonumber(f[3]) or 0
  if lease <= 0 then lease = default_lease end
  redis.call('HSET', key, 's', 'running', 'tk', token, 'w', holder, 'st', now_s, 'a', attempt)
  deadlines[#deadlines + 1] = fmt(now + lease)
  deadlines[#deadlines + 1] = c.id
  if f[5] == 'q' then
    free_unique(c.id, f[6])
  end
  local payload = f[1]
  if not payload then
    payload = redis.call('GET', P .. 'a:' .. c.id) or ''
  end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = c.id, f[4], payload, attempt
  out[n + 5], out[n + 6], out[n + 7] = tonumber(f[2]) or 1, token, lease
end
sliced('ZADD', P .. 'leases', deadlines)

-- 6. Re-arm the wake marker of every queue with work left (one waiter wakes the next), and
--    tell the caller when the next delayed job or lease falls due.
for _, queue in ipairs(queues) do
  if redis.call('EXISTS', P .. 'l:' .. queue, P .. 'r:' .. queue) > 0 then
    redis.call('ZADD', P .. 'w:' .. queue, 0, 'r')
  end
end
local next_at = nil
for _, index in ipairs({ 'delayed', 'leases' }) do
  local first = redis.call('ZRANGE', P .. index, 0, 0, 'WITHSCORES')
  if first[2] and (next_at == nil or tonumber(first[2]) < next_at) then
    next_at = tonumber(first[2])
  end
end
if next_at then
  out[1] = math.max(0, next_at - now)
end

-- 7. Record when each type was last asked for, in one command (DETAILS tells whether any worker
--    serves a waiting job's type).
local seen = {}
for i = 11, #ARGV do
  seen[#seen + 1] = now_s
  seen[#seen + 1] = ARGV[i]
end
sliced('ZADD', P .. 'seen', seen)
return out
