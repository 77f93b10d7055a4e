-- common.lua: helpers shared by every transition script (prepended to each one when loaded).
-- KEYS[1] is always the shard prefix `<ns>:{<shard>}:`; every key is built from it, so all keys
-- of a script share one hash tag. Every script that may insert or end jobs takes the client's
-- settings as ARGV[1] (see `load_settings`).
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

-- The client's settings, ARGV[1] of every script that may insert or end jobs: seven integers,
-- comma-separated:
-- history cap, completed keep count, completed max age ms, failed keep count, failed max age ms,
-- max lease expiries, inline args max (bytes). Read once per call by `load_settings`.
local S = nil

local function load_settings()
  local v = {}
  for n in string.gmatch(ARGV[1] or '', '[^,]+') do
    v[#v + 1] = int(n, 'settings')
  end
  if #v ~= 7 then
    error('ERR job: bad settings `' .. tostring(ARGV[1]) .. '`')
  end
  S = { cap = v[1], done_keep = v[2], done_age = v[3], failed_keep = v[4], failed_age = v[5],
        max_expiries = v[6], inline_max = v[7] }
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

-- Ready-set score: priority first (higher runs first), then FIFO by sequence number.
local function ready_score(priority, seq)
  return (127 - (priority or 0)) * 17592186044416 + seq
end

-- Scores below this are priority > 0; priority-0 jobs never enter a ready set (see `push_ready`).
local P0 = 127 * 17592186044416

-- A job's queue: its type, plus the capabilities it requires (`<type>|gpu,region=eu`). Each
-- queue has its own ready list `l:<queue>`, ready set `r:<queue>` and wake markers
-- `w:<queue>`, so a grab never scans jobs it cannot take. Types never contain `|` and
-- capabilities never `|` or `,` (the client refuses them), so queues never collide.
local function queue_of(jtype, reqs)
  if reqs and reqs ~= '' then
    return jtype .. '|' .. reqs
  end
  return jtype
end

-- Records that a type has jobs with requirement set `reqs`, so workers look at that queue. A new
-- set wakes the type's workers, so they learn to wait on its markers too. A grab forgets sets
-- whose queues are empty; this adds them back whenever a job of theirs becomes ready.
local function use_requirements(jtype, reqs)
  if reqs and reqs ~= '' and redis.call('SADD', P .. 'q:' .. jtype, reqs) == 1 then
    redis.call('ZADD', P .. 'w:' .. jtype, 0, 'r')
  end
end

-- Puts a ready job in its queue: priority-0 jobs (nearly all) in the list `l:<queue>`, at the
-- back, or at the front (`front`: a job handed back or whose lease ran out); prioritized jobs in
-- the sorted set `r:<queue>` by (priority, seq). A list entry costs a few bytes where a sorted
-- set entry costs about a hundred, and pushing and popping it is O(1). A list may also hold
-- entries of jobs that are no longer ready there (cancelled): a grab skips them.
local function push_ready(id, queue, priority, seq, front)
  if (priority or 0) == 0 then
    redis.call(front and 'LPUSH' or 'RPUSH', P .. 'l:' .. queue, id)
  else
    redis.call('ZADD', P .. 'r:' .. queue, fmt(ready_score(priority, seq)), id)
  end
end

local function make_ready(id, jtype, reqs, priority, seq, front)
  local queue = queue_of(jtype, reqs)
  use_requirements(jtype, reqs)
  push_ready(id, queue, priority, seq, front)
  redis.call('ZADD', P .. 'w:' .. queue, 0, 'r')
  redis.call('HSET', P .. 'j:' .. id, 's', 'ready')
  redis.call('HDEL', P .. 'j:' .. id, 'ra')
end

local function make_delayed(id, queue, run_at)
  redis.call('ZADD', P .. 'delayed', fmt(run_at), id)
  redis.call('ZADD', P .. 'w:' .. queue, 'LT', fmt(run_at), 'd')
  redis.call('HSET', P .. 'j:' .. id, 's', 'delayed', 'ra', fmt(run_at))
end

-- Makes a job that may run (or its resource's head) ready, or delayed when its run-at is ahead.
local function make_eligible(id, now)
  local f = redis.call('HMGET', P .. 'j:' .. id, 't', 'rq', 'p', 'q', 'ra')
  local run_at = tonumber(f[5])
  if run_at and run_at > now then
    make_delayed(id, queue_of(f[1], f[2]), run_at)
  else
    make_ready(id, f[1], f[2], tonumber(f[3]), tonumber(f[4]))
  end
end

-- Appends a failure record and trims the history to the newest `S.cap` entries (none at 0).
local function push_failure(id, now, attempt, kind, message, holder)
  if S.cap <= 0 then
    return
  end
  local record = cjson.encode({ t = now, a = attempt, k = kind, m = message, w = holder or '' })
  local key = P .. 'e:' .. id
  redis.call('RPUSH', key, record)
  redis.call('LTRIM', key, -S.cap, -1)
  -- Marks that the history key exists, so deleting the job knows which keys it has.
  redis.call('HSET', P .. 'j:' .. id, 'e', 1)
end

-- Each call prunes what it added to a retention index plus this many, so a backlog drains.
local PRUNE_EXTRA = 100

-- Deletes the oldest jobs of a retention index (`done` or `failed`) beyond its count or older
-- than its age: at most `added + PRUNE_EXTRA` per call, so the index never grows past its count
-- by more than one call's additions, and a call never runs long. `added` is how many jobs the
-- calling script put in the index. Returns how many it deleted.
-- The count and age (ms) a retention index (`done` or `failed`) keeps.
local function retention(index)
  if index == 'failed' then
    return S.failed_keep, S.failed_age
  end
  return S.done_keep, S.done_age
end

local function prune(index, now, added)
  local keep, age = retention(index)
  if keep <= 0 then
    return 0 -- such jobs are deleted when they end
  end
  local key = P .. index
  -- Both the surplus and the expired are the lowest-scored entries: one prefix to remove.
  local n = math.max(redis.call('ZCARD', key) - keep, redis.call('ZCOUNT', key, '-inf', fmt(now - age)))
  n = math.min(n, added + PRUNE_EXTRA)
  if n <= 0 then
    return 0
  end
  local ids = redis.call('ZRANGE', key, 0, n - 1)
  redis.call('ZREMRANGEBYRANK', key, 0, n - 1)
  local keys = {}
  for _, id in ipairs(ids) do
    keys[#keys + 1] = P .. 'j:' .. id
    keys[#keys + 1] = P .. 'a:' .. id
    keys[#keys + 1] = P .. 'e:' .. id
  end
  sliced('UNLINK', nil, keys)
  return #ids
end

-- When the oldest job of a retention index expires (ms), or nil when it keeps none.
local function next_expiry(index)
  local keep, age = retention(index)
  if keep <= 0 then
    return nil
  end
  local first = redis.call('ZRANGE', P .. index, 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) + age
end

-- Frees a job's unique key, if the job still owns it.
local function free_unique(id, ukey)
  if ukey and redis.call('HGET', P .. 'uniq', ukey) == id then
    redis.call('HDEL', P .. 'uniq', ukey)
  end
end

-- Resources. Each has a FIFO `res:<rk>`, a sorted set of its jobs by position (only the head may
-- be ready, delayed or running; the rest are `blocked`), and `rfx:<rk>`, the create and delete
-- jobs among them. `rx` holds the resources that exist, `rc` the last create or delete of a
-- resource that left its FIFO without completing (named when the jobs that needed it fail), and
-- `rv` the resources whose heads still need a check (see `promote_head`).

local function is_effect(fx)
  return fx == 'create' or fx == 'delete'
end

-- Whether a resource exists now.
local function resource_exists(rk)
  return redis.call('SISMEMBER', P .. 'rx', rk) == 1
end

-- Whether a resource will exist once every job in its FIFO has run: the last create or delete
-- queued decides (a create is predicted to succeed; after a delete it is gone either way), else
-- whether it exists now. Checked at enqueue by jobs that need it.
local function predicted(rk)
  local last = redis.call('ZRANGE', P .. 'rfx:' .. rk, -1, -1)[1]
  if last then
    return redis.call('HGET', P .. 'j:' .. last, 'fx') == 'create'
  end
  return resource_exists(rk)
end

-- Adds a job to the back of its resource's FIFO at position `pos`; true when it is the head.
local function join_resource(id, rk, fx, pos)
  redis.call('ZADD', P .. 'res:' .. rk, fmt(pos), id)
  if is_effect(fx) then
    redis.call('ZADD', P .. 'rfx:' .. rk, fmt(pos), id)
  end
  return redis.call('ZCARD', P .. 'res:' .. rk) == 1
end

-- How many blocked heads a call may fail for a missing resource (each about fifteen commands);
-- the rest wait in `rv` for the next grab.
local heads_left = 60

local finish

-- Fails a head that needs a resource that does not exist, now that its turn came.
local function fail_missing(id, rk, now)
  redis.call('ZREM', P .. 'res:' .. rk, id)
  redis.call('ZREM', P .. 'rfx:' .. rk, id)
  local cause = redis.call('HGET', P .. 'rc', rk)
  local why = 'resource `' .. rk .. '` does not exist when this job\'s turn came'
  if cause then
    why = why .. ': job ' .. cause .. ' that would create it (or keep it) did not complete'
  end
  local attempts = tonumber(redis.call('HGET', P .. 'j:' .. id, 'a')) or 0
  push_failure(id, now, attempts, 'resource', why, nil)
  finish(id, 'failed', now, nil, nil, true)
end

-- Gives the head of a resource's FIFO its turn: made ready (or delayed) when it waits blocked.
-- A head that needs the resource (update, delete) when it does not exist fails for good, and the
-- next head is looked at, up to `heads_left` per call; past that the resource waits in `rv` and
-- the next grab goes on, so the jobs behind a failed create fail in order, in bounded steps.
local function promote_head(rk, now)
  local fifo = P .. 'res:' .. rk
  while true do
    local head = redis.call('ZRANGE', fifo, 0, 0)[1]
    if not head then
      redis.call('HDEL', P .. 'rc', rk)
      return
    end
    local f = redis.call('HMGET', P .. 'j:' .. head, 's', 'fx', 't', 'rq')
    if f[1] ~= 'blocked' then
      return
    end
    if (f[2] == 'update' or f[2] == 'delete') and not resource_exists(rk) then
      if heads_left <= 0 then
        -- The next grab goes on; wake the workers of the head's type to make one now.
        redis.call('ZADD', P .. 'rv', now, rk)
        redis.call('ZADD', P .. 'w:' .. queue_of(f[3], f[4]), 0, 'r')
        return
      end
      heads_left = heads_left - 1
      fail_missing(head, rk, now)
    else
      make_eligible(head, now)
      return
    end
  end
end

-- Takes an ending job out of its resource's FIFO, recording what a create or delete did to the
-- resource, and gives the next job its turn.
local function leave_resource(id, rk, fx, state, now)
  if state == 'completed' and fx == 'create' then
    redis.call('SADD', P .. 'rx', rk)
  elseif state == 'completed' and fx == 'delete' then
    redis.call('SREM', P .. 'rx', rk)
  end
  if is_effect(fx) then
    if state == 'completed' then
      redis.call('HDEL', P .. 'rc', rk)
    else
      redis.call('HSET', P .. 'rc', rk, id)
    end
    redis.call('ZREM', P .. 'rfx:' .. rk, id)
  end
  redis.call('ZREM', P .. 'res:' .. rk, id)
  promote_head(rk, now)
end

-- Ends a job that is running, ready, delayed or blocked: out of every live place, into its
-- retention index (`done` or `failed`), or deleted at once when that index keeps nothing. Frees
-- its unique key and its resource (recording a completed create or delete). `quiet` skips the
-- resource (the caller handles it); `f`, when given, is the job's `FINISH_FIELDS`, already read.
-- With `batch` (from `new_batch`), the lease removal, the deletion and the index entry wait for
-- the caller's `flush(batch)`, so ending many jobs costs one command each for all of them. A
-- ready job in a list is not taken out of it: the grab that pops it skips it.
local FINISH_FIELDS = { 'uk', 'rk', 'fx', 'd', 'e' }

local function new_batch()
  return { leases = {}, keys = {}, done = {}, failed = {} }
end

local function flush(batch)
  sliced('ZREM', P .. 'leases', batch.leases)
  sliced('DEL', nil, batch.keys)
  sliced('ZADD', P .. 'done', batch.done)
  sliced('ZADD', P .. 'failed', batch.failed)
end

finish = function(id, state, now, f, batch, quiet)
  local own = batch == nil
  batch = batch or new_batch()
  local key = P .. 'j:' .. id
  f = f or redis.call('HMGET', key, unpack(FINISH_FIELDS))
  batch.leases[#batch.leases + 1] = id
  free_unique(id, f[1])
  if f[2] and not quiet then
    leave_resource(id, f[2], f[3], state, now)
  end
  if retention(state == 'failed' and 'failed' or 'done') <= 0 then
    -- Only the keys the job has: `a:` when its arguments are not inline, `e:` with a history.
    local keys = batch.keys
    keys[#keys + 1] = key
    if not f[4] then keys[#keys + 1] = P .. 'a:' .. id end
    if f[5] then keys[#keys + 1] = P .. 'e:' .. id end
  else
    redis.call('HSET', key, 's', state, 'f', fmt(now))
    redis.call('HDEL', key, 'w', 'ra')
    local index = state == 'failed' and batch.failed or batch.done
    index[#index + 1] = fmt(now)
    index[#index + 1] = id
  end
  if own then
    flush(batch)
  end
end

-- The fields of a held job, or nil when `token` does not hold it (stale, ended, missing).
local function held(id, token)
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 'tk', 't', 'a', 'm', 'p', 'q', 'w', 'rq')
  if f[1] ~= 'running' or f[2] ~= token then
    return nil
  end
  return { jtype = f[3], attempts = tonumber(f[4]) or 0, max = tonumber(f[5]), priority = tonumber(f[6]),
           seq = tonumber(f[7]), holder = f[8], reqs = f[9], queue = queue_of(f[3], f[9]) }
end

-- Puts a held job back to waiting: ready now (at the front with `front`) or delayed by `delay`.
local function unlease(id, job, now, delay, front)
  redis.call('ZREM', P .. 'leases', id)
  redis.call('HDEL', P .. 'j:' .. id, 'w')
  if delay <= 0 then
    make_ready(id, job.jtype, job.reqs, job.priority, job.seq, front)
  else
    make_delayed(id, job.queue, now + delay)
  end
end
