-- grab.lua: GRAB: reap expired leases, promote due delayed jobs, go on with resource checks left
-- over, then lease up to `limit` ready jobs of the given types that the caller's capabilities
-- allow, each with a new fencing token: higher priority first; within a priority, each queue in
-- FIFO order, the queues taking turns. With a filter, only jobs whose attributes match are
-- taken, and only the first `window` ready jobs over all the queues are looked at. A grab that
-- leases nothing also prunes the retention indexes by a bounded step, so an idle namespace
-- forgets expired jobs too. It first completes the jobs the worker finished since its last
-- grab, if it sends any: one round trip for both.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] limit  ARGV[3] default lease_ms  ARGV[4] holder (JSON)
-- ARGV[5] capabilities (comma-separated)  ARGV[6] filter (JSON object, or '')  ARGV[7] window
-- ARGV[8] completions  ARGV[9..] that many rows of 3 (see complete.lua), then the types
-- returns: {next_wake_ms (-1: none, or jobs were leased), completions, a flag per completion (as COMPLETE answers),
--           then per job: id, type, payload, attempt, max_attempts, token, lease_ms, since when
--           it was ready (ms)}; records in `seen` that the types were asked for now
--@include queues
--@include leases
--@include complete
load_settings()
local limit = int(ARGV[2], 'limit')
local default_lease = int(ARGV[3], 'lease_ms')
local holder = ARGV[4]
local window = int(ARGV[7], 'window')
local filter = nil
if ARGV[6] ~= '' then
  filter = cjson.decode(ARGV[6])
end
local done_count = int(ARGV[8], 'completions')
local FIRST_TYPE = 9 + done_count * 3
local now = now_ms()
local now_s = fmt(now)

-- 0. The completions the worker sends with this grab.
local done_flags, completed = complete_rows(9, done_count, now)
if completed > 0 then
  prune_ended('done', now, completed)
end

-- 1. Expired leases: back to the front of their queue, or failed past the expiry limit.
local expired = redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, 100)
local failed = 0
for _, id in ipairs(expired) do
  local f = redis.call('HMGET', K.job(id), 's', 't', 'a', 'x', 'p', 'q', 'w', 'rq')
  if f[1] ~= 'running' then
    redis.call('ZREM', K.leases, id)
  else
    local attempt = tonumber(f[3]) or 0
    local expiries = redis.call('HINCRBY', K.job(id), 'x', 1)
    redis.call('HSET', K.job(id), 'a', attempt - 1)
    push_failure(id, now, attempt, 'lease_expired', 'lease expired before the job finished', f[7])
    if expiries > S.max_expiries then
      finish(id, 'failed', now)
      failed = failed + 1
    else
      local job = { jtype = f[2], reqs = f[8], priority = tonumber(f[5]), seq = tonumber(f[6]) }
      unlease(id, job, now, 0, true)
    end
  end
end

-- 2. Due delayed jobs: to the back of their queues.
local due = redis.call('ZRANGEBYSCORE', K.delayed, '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(due) do
  local f = redis.call('HMGET', K.job(id), 's', 't', 'p', 'q', 'rq')
  if f[1] == 'delayed' then
    -- Into its queue first: a queue key of the wrong type fails here, leaving the job delayed.
    make_ready(id, f[2], f[5], tonumber(f[3]), tonumber(f[4]))
  end
  redis.call('ZREM', K.delayed, id)
end

-- 3. Resources whose heads a call before could not all check (too many failing at once).
local checks = redis.call('ZRANGE', K.rv, 0, 9)
for _, rk in ipairs(checks) do
  if heads_left <= 0 then
    break
  end
  redis.call('ZREM', K.rv, rk)
  promote_head(rk, now)
end
local checks_left = #checks > 0 and redis.call('EXISTS', K.rv) == 1

-- 4. The queues this caller may take: each type that is not paused, plus each of its
--    requirement sets that the capabilities cover. A requirement set whose queue is empty is
--    forgotten (a job of its becoming ready records it again), so grabs never pay for sets no
--    job uses any more. A paused type's queues are neither taken nor re-armed: a worker that a
--    marker woke takes nothing of them.
local has = {}
for capability in string.gmatch(ARGV[5], '[^,]+') do
  has[capability] = true
end
local paused = {}
for _, jtype in ipairs(redis.call('SMEMBERS', K.paused)) do
  paused[jtype] = true
end
local queues = {}
for i = FIRST_TYPE, #ARGV do
  local jtype = ARGV[i]
  if not paused[jtype] then
    queues[#queues + 1] = jtype
    for _, reqs in ipairs(redis.call('SMEMBERS', K.sets(jtype))) do
      local queue = queue_of(jtype, reqs)
      if redis.call('EXISTS', K.list(queue), K.ready(queue)) == 0 then
        redis.call('SREM', K.sets(jtype), reqs)
        redis.call('DEL', K.wake(queue))
      else
        local ok = true
        for need in string.gmatch(reqs, '[^,]+') do
          if not has[need] then ok = false break end
        end
        if ok then queues[#queues + 1] = queue end
      end
    end
  end
end

-- 5. Pick up to `want` jobs across those queues: prioritized jobs (priority > 0) first, then the
--    priority-0 lists, then the rest (priority < 0). The cost grows with the queues and the jobs
--    taken, never with the backlog.
local picked = {}

-- The ready sets' heads, for a merge in score order.
local function load_heads()
  local heads = {}
  for _, queue in ipairs(queues) do
    local head = redis.call('ZRANGE', K.ready(queue), 0, 0, 'WITHSCORES')
    if head[1] then
      heads[#heads + 1] = { queue = queue, score = tonumber(head[2]) }
    end
  end
  return heads
end

-- A merge over the ready sets' heads, of jobs scored below `bound`: from the queue with the best
-- head, take every job that beats the runner-up's head, then look at that queue's new head.
local function merge_sets(heads, bound, want)
  while #picked < want do
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
    local key = K.ready(heads[best].queue)
    local below = second == math.huge and '+inf' or ('(' .. fmt(second))
    local ids = redis.call('ZRANGEBYSCORE', key, '-inf', below, 'LIMIT', 0, want - #picked)
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
local function take_lists(want)
  local active, broken = {}, nil
  local start = 0
  if #queues > 1 then
    start = tonumber(redis.call('GET', K.seq) or '0') % #queues
  end
  for i = 1, #queues do
    active[i] = queues[(start + i - 1) % #queues + 1]
  end
  while #picked < want and #active > 0 do
    local share = math.ceil((want - #picked) / #active)
    local still = {}
    for _, queue in ipairs(active) do
      local n = math.min(share, want - #picked)
      if n == 0 then
        break
      end
      local ids = redis.pcall('LPOP', K.list(queue), n)
      if type(ids) == 'table' and ids.err then
        -- Not a list (a stray write): skip it, so the other queues are still served.
        broken = broken or { queue = queue, err = ids.err }
      elseif ids then
        for _, id in ipairs(ids) do
          picked[#picked + 1] = { id = id, queue = queue }
        end
        if #ids == n then still[#still + 1] = queue end
      end
    end
    active = still
  end
  return broken
end

-- The filtered pick: the first `window` ready jobs over all queues (an equal share each), the
-- matching ones in (priority, position) order.
local function take_filtered(want)
  local function matches(id)
    for name, value in pairs(filter) do
      if redis.call('HGET', K.job(id), '@' .. name) ~= tostring(value) then
        return false
      end
    end
    return true
  end
  local share = math.max(1, math.floor(window / math.max(1, #queues)))
  local candidates = {}
  for _, queue in ipairs(queues) do
    local rows = redis.call('ZRANGE', K.ready(queue), 0, share - 1, 'WITHSCORES')
    local taken = 0
    for j = 1, #rows, 2 do
      if taken < want and matches(rows[j]) then
        candidates[#candidates + 1] = { id = rows[j], score = tonumber(rows[j + 1]), queue = queue }
        taken = taken + 1
      end
    end
    local rest = share - #rows / 2
    local ids = rest > 0 and redis.call('LRANGE', K.list(queue), 0, rest - 1) or {}
    taken = 0
    for j, id in ipairs(ids) do
      if taken < want and matches(id) then
        candidates[#candidates + 1] = { id = id, score = P0 + j, queue = queue, list = true }
        taken = taken + 1
      end
    end
  end
  table.sort(candidates, function(a, b) return a.score < b.score end)
  for i = 1, math.min(want, #candidates) do
    local c = candidates[i]
    if c.list then
      redis.call('LREM', K.list(c.queue), 1, c.id)
    else
      redis.call('ZREM', K.ready(c.queue), c.id)
    end
    picked[#picked + 1] = c
  end
end

-- 6. Lease the picked jobs that are still ready (a list may hold entries of cancelled jobs,
--    counted in their `sk` field: skipped), with
--    tokens from one INCRBY, each larger than any issued before. Returns how many it leased.
local out = { -1, done_count }
for i = 1, done_count do
  out[#out + 1] = done_flags[i]
end
local deadlines = {} -- score, id, score, id, ...: one ZADD to `leases` for the whole grab
local function lease_picked()
  local ready = {}
  for _, c in ipairs(picked) do
    local f = redis.call('HMGET', K.job(c.id), 's', 'd', 'm', 'l', 't', 'uw', 'uk', 'a', 'sk', 'rs', 'c')
    if f[9] then
      -- An entry a cancel left behind (the job was retried since, or not): skip it.
      if redis.call('HINCRBY', K.job(c.id), 'sk', -1) <= 0 then
        redis.call('HDEL', K.job(c.id), 'sk')
      end
    elseif f[1] == 'ready' then
      ready[#ready + 1] = { id = c.id, f = f }
    end
  end
  if #ready == 0 then
    return 0
  end
  local last = redis.call('INCRBY', K.seq, #ready)
  for i, r in ipairs(ready) do
    local id, f = r.id, r.f
    local token = last - #ready + i
    local attempt = (tonumber(f[8]) or 0) + 1
    local lease = tonumber(f[4]) or 0
    if lease <= 0 then lease = default_lease end
    redis.call('HSET', K.job(id), 's', 'running', 'tk', token, 'w', holder, 'st', now_s, 'a', attempt)
    deadlines[#deadlines + 1] = fmt(now + lease)
    deadlines[#deadlines + 1] = id
    if f[6] == 'q' then
      free_unique(id, f[7])
    end
    local payload = f[2]
    if not payload then
      payload = redis.call('GET', K.args(id)) or ''
    end
    local n = #out
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = id, f[5], payload, attempt
    out[n + 5], out[n + 6], out[n + 7] = tonumber(f[3]) or 1, token, lease
    out[n + 8] = f[10] or f[11] or now_s
  end
  return #ready
end

-- Skipped entries (cancelled jobs) leave slots free: pick again, a few rounds at most.
local leased, broken = 0, nil
for _ = 1, 4 do
  if leased >= limit then
    break
  end
  picked = {}
  local want = limit - leased
  if filter then
    take_filtered(want)
  else
    local heads = load_heads()
    merge_sets(heads, P0, want)
    broken = broken or take_lists(want)
    merge_sets(heads, math.huge, want)
  end
  if #picked == 0 then
    break
  end
  local got = lease_picked()
  leased = leased + got
  if got == #picked then
    break
  end
end
sliced('ZADD', K.leases, deadlines)
-- Jobs already popped are leased, never dropped (Lua does not roll back); with none leased,
-- nothing was written since the reads but skipped entries, so the grab is refused, naming the key.
if broken and leased == 0 then
  local key = K.list(broken.queue)
  local kind = redis.call('TYPE', key).ok
  return error({ err = kind == 'list' and broken.err
    or ('ERR job: key `' .. key .. '` is a ' .. kind .. ', expected a list') })
end

-- 7. Re-arm the wake marker of every queue with work left (one waiter wakes the next), and,
--    when this grab leased nothing (the caller is about to wait), tell it when the next
--    delayed job, lease or retention expiry falls due (at once while resource checks are left
--    over). A caller that got jobs grabs again before it waits, so it is not told.
for _, queue in ipairs(queues) do
  if redis.call('EXISTS', K.list(queue), K.ready(queue)) > 0 then
    redis.call('ZADD', K.wake(queue), 0, 'r')
  end
end
local next_at = nil
local function sooner(at)
  if at and (next_at == nil or at < next_at) then
    next_at = at
  end
end
if leased == 0 then
  for _, index in ipairs({ 'delayed', 'leases' }) do
    local first = redis.call('ZRANGE', K[index], 0, 0, 'WITHSCORES')
    sooner(tonumber(first[2]))
  end
  if checks_left then
    sooner(now)
  end
end

-- 8. Retention: the failures ended here, and, when this grab leased nothing (an idle
--    namespace), a bounded step over every index, and the `seen` entries of types no worker
--    asked for in 30 days.
local pruned_failed = 0
if failed > 0 or leased == 0 then
  pruned_failed = prune('failed', now, failed)
end
if leased == 0 then
  local pruned_done = prune('done', now, 0)
  local pruned_cancelled = prune('cancelled', now, 0)
  local pruned_kept = prune('kept', now, 0)
  if pruned_done >= PRUNE_EXTRA or pruned_failed >= PRUNE_EXTRA + failed
      or pruned_cancelled >= PRUNE_EXTRA or pruned_kept >= PRUNE_EXTRA then
    sooner(now) -- a backlog left: come back at once
  end
  for _, index in ipairs({ 'done', 'failed', 'cancelled', 'kept' }) do
    sooner(next_expiry(index))
  end
  local stale = redis.call('ZRANGEBYSCORE', K.seen, '-inf', fmt(now - 30 * 86400000), 'LIMIT', 0, 100)
  sliced('ZREM', K.seen, stale)
end
if next_at then
  out[1] = math.max(0, next_at - now)
end

-- 9. Record when each type was last asked for, in one command (DETAILS tells whether any worker
--    serves a waiting job's type).
local seen = {}
for i = FIRST_TYPE, #ARGV do
  seen[#seen + 1] = now_s
  seen[#seen + 1] = ARGV[i]
end
sliced('ZADD', K.seen, seen)
return out
