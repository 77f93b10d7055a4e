-- finish.lua: ending jobs (into their retention index, or deleted), and retention: how many
-- ended jobs each index keeps and for how long, pruned in bounded steps.
--@include keys
--@include base
--@include history
--@include resources

-- Each call prunes what it added to a retention index plus this many, so a backlog drains.
local PRUNE_EXTRA = 100

-- The count and age (ms) a retention index (`done`, `failed` or `cancelled`) keeps.
local function retention(index)
  if index == 'failed' then
    return S.failed_keep, S.failed_age
  elseif index == 'cancelled' then
    return S.cancelled_keep, S.cancelled_age
  end
  return S.done_keep, S.done_age
end

-- The retention index of each way a job ends.
local INDEX_OF = { completed = 'done', failed = 'failed', cancelled = 'cancelled' }

-- Deletes ended jobs, every key of each (in the background: UNLINK); returns how many.
local function forget(ids)
  local keys = {}
  for _, id in ipairs(ids) do
    keys[#keys + 1] = K.job(id)
    keys[#keys + 1] = K.args(id)
    keys[#keys + 1] = K.history(id)
  end
  sliced('UNLINK', nil, keys)
  return #ids
end

-- Deletes the oldest jobs of a retention index (`done`, `failed` or `cancelled`) beyond its
-- count or older than its age, or the expired jobs of `kept`: at most `added + PRUNE_EXTRA` per
-- call, so the index never grows past its count by more than one call's additions, and a call
-- never runs long. `added` is how many jobs the calling script put in the index. Returns how
-- many it deleted.
local function prune(index, now, added)
  if index == 'kept' then
    -- Jobs kept by their own policy, scored by when they expire.
    local ids = redis.call('ZRANGEBYSCORE', K.kept, '-inf', now, 'LIMIT', 0, added + PRUNE_EXTRA)
    sliced('ZREM', K.kept, ids)
    return forget(ids)
  end
  local keep, age = retention(index)
  if keep <= 0 then
    return 0 -- such jobs are deleted when they end
  end
  local key = K[index]
  -- Both the surplus and the expired are the lowest-scored entries: one prefix to remove.
  local n = math.max(redis.call('ZCARD', key) - keep, redis.call('ZCOUNT', key, '-inf', fmt(now - age)))
  n = math.min(n, added + PRUNE_EXTRA)
  if n <= 0 then
    return 0
  end
  local ids = redis.call('ZRANGE', key, 0, n - 1)
  redis.call('ZREMRANGEBYRANK', key, 0, n - 1)
  return forget(ids)
end

-- The retention step of a call that ended `added` jobs into `index`: that index's, and one of the
-- jobs kept by their own policy (ended anywhere). Returns how many it deleted from `index`.
local function prune_ended(index, now, added)
  local pruned = prune(index, now, added)
  prune('kept', now, 0)
  return pruned
end

-- When the oldest job of a retention index expires (ms), or nil when it keeps none.
local function next_expiry(index)
  if index == 'kept' then
    local first = redis.call('ZRANGE', K.kept, 0, 0, 'WITHSCORES')
    return tonumber(first[2])
  end
  local keep, age = retention(index)
  if keep <= 0 then
    return nil
  end
  local first = redis.call('ZRANGE', K[index], 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) + age
end

-- Frees a job's unique key, if the job still owns it.
local function free_unique(id, ukey)
  if ukey and redis.call('HGET', K.uniq, ukey) == id then
    redis.call('HDEL', K.uniq, ukey)
  end
end

-- Ends a job that is running, ready, delayed or blocked: out of every live place, into its
-- retention index (`done`, `failed` or `cancelled` for `state` `completed`, `failed` or
-- `cancelled`), or `kept` by its own policy (a type's or job's, field `k`:
-- `<completed>,<failed>,<cancelled>`, ms each, 0 for none, empty for the namespace's), or
-- deleted at once when its policy keeps nothing. Frees its unique key and its
-- resource (recording a completed create or delete). `quiet` skips the resource (the caller
-- handles it); `f`, when given, is the job's `FINISH_FIELDS`, already read. With `batch` (from
-- `new_batch`), the lease removal, the deletion and the index entry wait for the caller's
-- `flush(batch)`, so ending many jobs costs one command each for all of them. A ready job in a
-- list is not taken out of it: the grab that pops it skips it.
local FINISH_FIELDS = { 'uk', 'rk', 'fx', 'd', 'e', 'k' }
-- Where a job's own policy for each way it ends sits in its `k` field.
local OWN_POLICY = { completed = 1, failed = 2, cancelled = 3 }

-- The job's own retention (ms; 0: none) for ending in `state`, from its `k` field, or nil.
local function own_policy(k, state)
  if not k then
    return nil
  end
  local i = 0
  for ms in string.gmatch(k .. ',', '([^,]*),') do
    i = i + 1
    if i == OWN_POLICY[state] then
      return tonumber(ms)
    end
  end
  return nil
end

local function new_batch()
  return { leases = {}, keys = {}, done = {}, failed = {}, cancelled = {}, kept = {} }
end

local function flush(batch)
  sliced('ZREM', K.leases, batch.leases)
  sliced('DEL', nil, batch.keys)
  sliced('ZADD', K.done, batch.done)
  sliced('ZADD', K.failed, batch.failed)
  sliced('ZADD', K.cancelled, batch.cancelled)
  sliced('ZADD', K.kept, batch.kept)
end

finish = function(id, state, now, f, batch, quiet)
  local own = batch == nil
  batch = batch or new_batch()
  local key = K.job(id)
  f = f or redis.call('HMGET', key, unpack(FINISH_FIELDS))
  batch.leases[#batch.leases + 1] = id
  free_unique(id, f[1])
  if f[2] and not quiet then
    leave_resource(id, f[2], f[3], state, now)
  end
  local index = INDEX_OF[state]
  local own_keep = own_policy(f[6], state)
  if own_keep == 0 or (own_keep == nil and retention(index) <= 0) then
    -- Only the keys the job has: its arguments' when not inline, its history's when it has one.
    local keys = batch.keys
    keys[#keys + 1] = key
    if not f[4] then keys[#keys + 1] = K.args(id) end
    if f[5] then keys[#keys + 1] = K.history(id) end
  else
    redis.call('HSET', key, 's', state, 'f', fmt(now))
    redis.call('HDEL', key, 'w', 'ra')
    local entries = own_keep and batch.kept or batch[index]
    entries[#entries + 1] = fmt(own_keep and now + own_keep or now)
    entries[#entries + 1] = id
  end
  if own then
    flush(batch)
  end
end

-- Ends a job as failed for good, with a last failure record, and takes the retention step.
local function fail_for_good(id, now, attempt, kind, message, holder)
  push_failure(id, now, attempt, kind, message, holder)
  finish(id, 'failed', now)
  prune_ended('failed', now, 1)
end
