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
-- `w:<queue>`, so a grab never scans jobs it cannot take.
local function queue_of(jtype, reqs)
  if reqs and reqs ~= '' then
    return jtype .. '|' .. reqs
  end
  return jtype
end

-- Puts a ready job in its queue: priority-0 jobs (nearly all) in the list `l:<queue>`, at the
-- back, or at the front (`front`: a job handed back or whose lease ran out); prioritized jobs in
-- the sorted set `r:<queue>` by (priority, seq). A list entry costs a few bytes where a sorted
-- set entry costs about a hundred, and pushing and popping it is O(1).
local function push_ready(id, queue, priority, seq, front)
  if (priority or 0) == 0 then
    redis.call(front and 'LPUSH' or 'RPUSH', P .. 'l:' .. queue, id)
  else
    redis.call('ZADD', P .. 'r:' .. queue, fmt(ready_score(priority, seq)), id)
  end
end

-- Takes a ready job out of its queue. For a priority-0 job that is an LREM, which walks the list:
-- only cancel and a failed resource creation do it, never the hot path.
local function unready(id, queue, priority)
  if (tonumber(priority) or 0) == 0 then
    redis.call('LREM', P .. 'l:' .. queue, 1, id)
  else
    redis.call('ZREM', P .. 'r:' .. queue, id)
  end
end

local function make_ready(id, queue, priority, seq, front)
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
  local queue = queue_of(f[1], f[2])
  local run_at = tonumber(f[5])
  if run_at and run_at > now then
    make_delayed(id, queue, run_at)
  else
    make_ready(id, queue, tonumber(f[3]), tonumber(f[4]))
  end
end

-- Appends a failure record and trims the history to `cap` entries.
local function push_failure(id, now, attempt, kind, message, holder, cap)
  local record = cjson.encode({ t = now, a = attempt, k = kind, m = message, w = holder or '' })
  local key = P .. 'e:' .. id
  redis.call('RPUSH', key, record)
  if cap > 0 then
    redis.call('LTRIM', key, -cap, -1)
  end
  -- Marks that the history key exists, so deleting the job knows which keys it has.
  redis.call('HSET', P .. 'j:' .. id, 'e', 1)
end

-- Deletes a job's keys, whichever of them exist.
local function delete_job(id)
  redis.call('UNLINK', P .. 'j:' .. id, P .. 'a:' .. id, P .. 'e:' .. id)
end

-- Removes the oldest entries of a retention index (`done` or `failed`) beyond `keep` entries or
-- older than `max_age` ms, deleting their jobs; bounded per call so a script never runs long.
-- Every script that ends jobs calls it once, at its end.
local function prune(index, now, keep, max_age)
  if keep <= 0 then
    return
  end
  index = P .. index
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

-- Frees a job's unique key, if the job still owns it.
local function free_unique(id, ukey)
  if ukey and redis.call('HGET', P .. 'uniq', ukey) == id then
    redis.call('HDEL', P .. 'uniq', ukey)
  end
end

-- Whether a resource exists now.
local function resource_exists(rk)
  return redis.call('SISMEMBER', P .. 'rx', rk) == 1
end

-- Makes the head of a resource's FIFO eligible to run, if it waits for its turn.
local function promote_head(rk, now)
  local head = redis.call('LINDEX', P .. 'res:' .. rk, 0)
  if head and redis.call('HGET', P .. 'j:' .. head, 's') == 'blocked' then
    make_eligible(head, now)
  end
end

local finish

-- Re-checks a resource's FIFO from its real state, after a create or delete left the queue
-- (failed or cancelled): jobs that need the resource and will not have it fail for good,
-- naming `cause`. Records the new prediction. Walks the whole FIFO: this is the rare path.
local function revalidate(rk, cause, now, keep, age, cap)
  local list = P .. 'res:' .. rk
  local exists = resource_exists(rk)
  local ids = redis.call('LRANGE', list, 0, -1)
  for _, id in ipairs(ids) do
    local fx = redis.call('HGET', P .. 'j:' .. id, 'fx')
    if (fx == 'update' or fx == 'delete') and not exists then
      redis.call('LREM', list, 1, id)
      local attempts = tonumber(redis.call('HGET', P .. 'j:' .. id, 'a')) or 0
      push_failure(id, now, attempts, 'resource',
        'resource `' .. rk .. '` will not exist: job ' .. cause .. ' that would create it (or keep it) did not complete',
        nil, cap)
      redis.call('ZREM', P .. 'delayed', id)
      local f = redis.call('HMGET', P .. 'j:' .. id, 't', 'rq', 'p', 's')
      if f[4] == 'ready' then
        unready(id, queue_of(f[1], f[2]), f[3])
      end
      finish(id, 'failed', now, keep, age, cap, true)
    elseif fx == 'create' then
      exists = true
    elseif fx == 'delete' then
      exists = false
    end
  end
  if redis.call('LLEN', list) == 0 then
    redis.call('HDEL', P .. 'rp', rk)
  else
    redis.call('HSET', P .. 'rp', rk, exists and 1 or 0)
  end
end

-- Takes a job out of its resource's FIFO; when it was the head, the next job gets its turn.
local function leave_resource(id, rk, now)
  local list = P .. 'res:' .. rk
  redis.call('LREM', list, 1, id)
  if redis.call('LLEN', list) == 0 then
    redis.call('HDEL', P .. 'rp', rk)
  else
    promote_head(rk, now)
  end
end

-- Ends a job that is running, ready, delayed or blocked: out of every live place, into its
-- retention index (`done` or `failed`), or deleted at once when that index keeps nothing. Frees
-- its unique key and its resource (recording a completed create or delete). `cap` is the history
-- cap for jobs failed by a revalidation; `quiet` skips the resource (the caller handles it);
-- `f`, when given, is the job's `FINISH_FIELDS`, already read. With `batch` (from `new_batch`),
-- the lease removal, the deletion and the index entry wait for the caller's `flush(batch)`, so
-- ending many jobs costs one command each for all of them, not per job.
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

finish = function(id, state, now, keep, max_age, cap, quiet, f, batch)
  local own = batch == nil
  batch = batch or new_batch()
  local key = P .. 'j:' .. id
  f = f or redis.call('HMGET', key, unpack(FINISH_FIELDS))
  batch.leases[#batch.leases + 1] = id
  free_unique(id, f[1])
  local rk, fx = f[2], f[3]
  if rk and not quiet then
    if state == 'completed' and fx == 'create' then
      redis.call('SADD', P .. 'rx', rk)
    elseif state == 'completed' and fx == 'delete' then
      redis.call('SREM', P .. 'rx', rk)
    end
    leave_resource(id, rk, now)
    if state ~= 'completed' and (fx == 'create' or fx == 'delete') then
      revalidate(rk, id, now, keep, max_age, cap or 50)
      promote_head(rk, now)
    end
  end
  if keep <= 0 then
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

-- The history cap and the failed-job retention: the three ARGV from `i` of every script that
-- may fail a job.
local function failure_args(i)
  return int(ARGV[i], 'history_cap'), int(ARGV[i + 1], 'failed_keep'), int(ARGV[i + 2], 'failed_age')
end

-- The fields of a held job, or nil when `token` does not hold it (stale, ended, missing).
local function held(id, token)
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 'tk', 't', 'a', 'm', 'p', 'q', 'w', 'rq')
  if f[1] ~= 'running' or f[2] ~= token then
    return nil
  end
  return { jtype = f[3], attempts = tonumber(f[4]) or 0, max = tonumber(f[5]), priority = tonumber(f[6]),
           seq = tonumber(f[7]), holder = f[8], queue = queue_of(f[3], f[9]) }
end

-- Insert rows: 9 ARGV each: id, type, priority, max_attempts, lease_ms, delay_ms, at_ms,
-- payload, extras. `extras` is '' for a plain job, else a JSON object with any of: `parent`,
-- `resource`, `effect`, `unique`, `unique_while`, `requires` (sorted, comma-separated) and
-- `attributes` (an object).
local ROW = 9

-- Reads and validates `count` rows from ARGV[first] without writing; returns them as tables.
local function read_rows(first, count)
  local rows = {}
  for i = 0, count - 1 do
    local b = first + i * ROW
    local id, jtype, payload, extras = ARGV[b], ARGV[b + 1], ARGV[b + 7], ARGV[b + 8]
    if not extras then error('ERR job: short insert row') end
    if id == '' then error('ERR job: missing job id') end
    if jtype == '' then error('ERR job: missing job type') end
    local row = { id = id, jtype = jtype, payload = payload, priority = int(ARGV[b + 2], 'priority'),
                  max = ARGV[b + 3], lease = ARGV[b + 4], delay = int(ARGV[b + 5], 'delay_ms'),
                  at = int(ARGV[b + 6], 'at_ms') }
    int(row.max, 'max_attempts')
    int(row.lease, 'lease_ms')
    if extras ~= '' then
      local x = cjson.decode(extras)
      row.parent, row.rk, row.fx, row.reqs, row.attrs = x.parent, x.resource, x.effect, x.requires, x.attributes
      -- `home`: a REPLACE child that lives in another shard (see replace.lua), or one being
      -- forwarded there; `raw` keeps its row to put in the outbox as it came.
      if x.home then
        row.home = x.home
        row.raw = { unpack(ARGV, b, b + ROW - 1) }
      end
      if x.unique then
        row.ukey = jtype .. '\0' .. x.unique
        row.queued_only = x.unique_while == 'queued'
      end
      local fx = row.fx
      if fx and fx ~= 'create' and fx ~= 'update' and fx ~= 'delete' then
        error('ERR job: unknown resource effect `' .. tostring(fx) .. '`')
      end
    end
    rows[i + 1] = row
  end
  return rows
end

-- Plans rows without writing: each is 'new', 'exists' (its id is stored or earlier in the
-- batch) or a duplicate of a live unique job. `pred` seeds predicted resource states
-- (rk -> bool). A row that needs a resource that will not exist refuses the whole batch when
-- `atomic` (returns nil, the row index and the resource), or only itself otherwise.
local function plan_rows(rows, pred, atomic)
  local plan, ids, uniques = {}, {}, {}
  -- One EXISTS over every row's key answers the common case (all new) at once.
  local keys = {}
  for i, row in ipairs(rows) do
    keys[i] = P .. 'j:' .. row.id
  end
  local any_stored = false
  for first = 1, #keys, 1000 do
    if redis.call('EXISTS', unpack(keys, first, math.min(first + 999, #keys))) > 0 then
      any_stored = true
    end
  end
  for i, row in ipairs(rows) do
    local id = row.id
    -- A forwarded REPLACE child answers `exists` for days after it was first forwarded, even
    -- once it ended and was deleted: a forward repeated after a crash inserts nothing twice.
    local forwarded = row.home and redis.call('ZSCORE', P .. 'fwd', id)
    if ids[id] or forwarded or (any_stored and redis.call('EXISTS', keys[i]) == 1) then
      plan[i] = { kind = 'exists' }
    else
      ids[id] = true
      local ukey = row.ukey
      local live = ukey and (uniques[ukey] or redis.call('HGET', P .. 'uniq', ukey))
      if live then
        plan[i] = { kind = 'dup', of = live }
      else
        local rk, fx = row.rk, row.fx
        local entry = { kind = 'new' }
        if rk then
          local exists = pred[rk]
          if exists == nil then
            local stored = redis.call('HGET', P .. 'rp', rk)
            if stored then exists = stored == '1' else exists = resource_exists(rk) end
          end
          if (fx == 'update' or fx == 'delete') and not exists then
            if atomic then
              return nil, i - 1, rk
            end
            entry = { kind = 'refused', rk = rk }
          end
          if entry.kind == 'new' then
            if fx == 'create' then exists = true elseif fx == 'delete' then exists = false end
            pred[rk] = exists
            entry.pred = exists
          end
        end
        if ukey and entry.kind == 'new' then uniques[ukey] = id end
        plan[i] = entry
      end
    end
  end
  return plan
end

-- Takes `count` sequence numbers at once; returns the first.
local function take_seqs(count)
  return redis.call('INCRBY', P .. 'seq', count) - count + 1
end

-- Adds the jobs gathered per queue in `woken` (queue -> {list = {id, ...}, set = {score, id,
-- ...}}) to their queues, one RPUSH and one ZADD per queue (in slices that fit Lua's stack), and
-- sets each queue's `r` wake marker: once per script, not per job.
local function wake(woken)
  for queue, batch in pairs(woken) do
    sliced('RPUSH', P .. 'l:' .. queue, batch.list)
    sliced('ZADD', P .. 'r:' .. queue, batch.set)
    redis.call('ZADD', P .. 'w:' .. queue, 0, 'r')
  end
end

-- Writes a planned new row with sequence number `seq` (`now_s` is `now` formatted); when it is
-- ready at once, adds it to `woken` for `wake` to put in its ready set. With `head_rk`, a row
-- bound to that resource is left for the caller to put at the head of the FIFO (REPLACE) and
-- starts blocked.
local function insert_row(row, now, now_s, inline_max, entry, head_rk, seq, woken)
  local id, jtype, priority = row.id, row.jtype, row.priority
  local key = P .. 'j:' .. id
  local payload = row.payload
  if row.home then
    redis.call('ZADD', P .. 'fwd', now_s, id)
  end
  local inline = #payload <= inline_max
  if priority == 0 and row.lease == '0' and inline then
    -- The common case: one HSET of fixed shape, without default-valued fields.
    redis.call('HSET', key, 't', jtype, 'q', seq, 'c', now_s, 'm', row.max, 's', 'ready', 'd', payload)
  else
    local fields = { 't', jtype, 'q', seq, 'c', now_s, 'm', row.max, 's', 'ready' }
    if priority ~= 0 then
      fields[#fields + 1], fields[#fields + 2] = 'p', priority
    end
    if row.lease ~= '0' then
      fields[#fields + 1], fields[#fields + 2] = 'l', row.lease
    end
    if inline then
      fields[#fields + 1], fields[#fields + 2] = 'd', payload
    else
      redis.call('SET', P .. 'a:' .. id, payload)
    end
    redis.call('HSET', key, unpack(fields))
  end
  if row.parent then redis.call('HSET', key, 'pa', row.parent) end
  local reqs = row.reqs
  if reqs then
    redis.call('HSET', key, 'rq', reqs)
    if redis.call('SADD', P .. 'q:' .. jtype, reqs) == 1 then
      -- A new requirement set: wake the type's workers so they learn to wait on it too.
      redis.call('ZADD', P .. 'w:' .. jtype, 0, 'r')
    end
  end
  if row.ukey then
    redis.call('HSET', key, 'uk', row.ukey)
    if row.queued_only then redis.call('HSET', key, 'uw', 'q') end
    redis.call('HSET', P .. 'uniq', row.ukey, id)
  end
  if row.attrs then
    for name, value in pairs(row.attrs) do
      redis.call('HSET', key, '@' .. name, tostring(value))
    end
  end
  local run_at = now + row.delay
  if row.at > run_at then run_at = row.at end
  if run_at > now then redis.call('HSET', key, 'ra', fmt(run_at)) end
  local rk = row.rk
  if rk then
    redis.call('HSET', key, 'rk', rk)
    if row.fx then redis.call('HSET', key, 'fx', row.fx) end
    if rk == head_rk then
      redis.call('HSET', key, 's', 'blocked')
      return
    end
    redis.call('HSET', P .. 'rp', rk, entry.pred and 1 or 0)
    if redis.call('RPUSH', P .. 'res:' .. rk, id) > 1 then
      redis.call('HSET', key, 's', 'blocked')
      return
    end
  end
  local queue = queue_of(jtype, reqs)
  if run_at > now then
    make_delayed(id, queue, run_at)
  else
    -- `s` is already `ready`: the caller adds it to its ready set, with the others of the batch.
    local batch = woken[queue]
    if not batch then
      batch = { list = {}, set = {} }
      woken[queue] = batch
    end
    if priority == 0 then
      batch.list[#batch.list + 1] = id
    else
      batch.set[#batch.set + 1] = fmt(ready_score(priority, seq))
      batch.set[#batch.set + 1] = id
    end
  end
end

-- The reply for planned rows: 'new', 'exists', 'dup:<live id>' or 'refused:<resource>' each.
local function plan_reply(plan, out)
  for i, entry in ipairs(plan) do
    if entry.kind == 'dup' then
      out[#out + 1] = 'dup:' .. entry.of
    elseif entry.kind == 'refused' then
      out[#out + 1] = 'refused:' .. entry.rk
    else
      out[#out + 1] = entry.kind
    end
  end
  return out
end

-- Refuses an insert whose queue keys hold another type (a stray `SET` on `l:<queue>`, say)
-- before its first write: Lua does not roll back, so a command failing half-way would leave
-- jobs half-stored. One TYPE per distinct key the planned new rows will write to.
local function check_key_types(rows, plan)
  local checked = {}
  local function expect(key, want)
    if checked[key] then return end
    checked[key] = true
    local kind = redis.call('TYPE', key).ok
    if kind ~= 'none' and kind ~= want then
      error({ err = 'ERR job: key `' .. key .. '` is a ' .. kind .. ', expected a ' .. want
        .. ' (a stray write under the namespace?); nothing was stored' })
    end
  end
  for i, row in ipairs(rows) do
    if plan[i].kind == 'new' then
      local queue = queue_of(row.jtype, row.reqs)
      if row.priority == 0 then
        expect(P .. 'l:' .. queue, 'list')
      else
        expect(P .. 'r:' .. queue, 'zset')
      end
      expect(P .. 'w:' .. queue, 'zset')
      if row.reqs then
        expect(P .. 'q:' .. row.jtype, 'set')
        expect(P .. 'w:' .. row.jtype, 'zset')
      end
      if row.delay > 0 or row.at > 0 then expect(P .. 'delayed', 'zset') end
      if row.rk then expect(P .. 'res:' .. row.rk, 'list') end
    end
  end
end

-- How long a forwarded REPLACE child's id is remembered (`fwd`), in ms: 7 days.
local FORWARD_MEMORY = 7 * 86400000

-- Forgets forwarded ids older than `FORWARD_MEMORY`.
local function prune_forwarded(now)
  redis.call('ZREMRANGEBYSCORE', P .. 'fwd', '-inf', fmt(now - FORWARD_MEMORY))
end

-- Stores a forwarded REPLACE child that its resource refuses (it needs a resource that will
-- not exist) as failed for good, with the reason in its history: its parent has completed, so
-- refusing it would lose it.
local function store_refused(row, now, now_s, rk)
  local key = P .. 'j:' .. row.id
  redis.call('HSET', key, 't', row.jtype, 'q', 0, 'c', now_s, 'm', row.max, 's', 'failed', 'f', now_s,
    'd', row.payload, 'rk', rk)
  if row.fx then redis.call('HSET', key, 'fx', row.fx) end
  if row.parent then redis.call('HSET', key, 'pa', row.parent) end
  push_failure(row.id, now, 0, 'resource',
    'resource `' .. rk .. '` will not exist: refused when this REPLACE child reached its shard', nil, 50)
  redis.call('ZADD', P .. 'failed', now_s, row.id)
  redis.call('ZADD', P .. 'fwd', now_s, row.id)
end
