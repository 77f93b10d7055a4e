-- rows.lua: insert rows, for the scripts that insert jobs (insert.lua, replace.lua). Only those
-- scripts pay for defining these functions.
--@include keys
--@include base
--@include queues
--@include history
--@include resources

-- Insert rows: 9 ARGV each: id, type, priority, max_attempts, lease_ms, delay_ms, at_ms,
-- payload, extras. `extras` is '' for a plain job, else a JSON object with any of: `parent`,
-- `resource`, `effect`, `unique`, `unique_while`, `requires` (sorted, comma-separated),
-- `attributes` (an object) and `keep` (the job's own retention per way it ends: `c`, `f`, `x`
-- for completed, failed, cancelled, in ms, 0 for none). The client checks names and sizes
-- before it sends a row.
local ROW = 9

-- Reads and validates `count` rows from `args` (ARGV unless given) at `first`, without writing;
-- returns them as tables.
local function read_rows(first, count, args)
  local ARGV = args or ARGV
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
      if x.keep then
        -- Stored as one field, `<completed>,<failed>,<cancelled>`: ms each, 0 for none, empty
        -- for the namespace's policy (see finish.lua).
        local own = {}
        for i, name in ipairs({ 'c', 'f', 'x' }) do
          own[i] = x.keep[name] ~= nil and fmt(int(x.keep[name], 'keep')) or ''
        end
        row.keep = table.concat(own, ',')
      end
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

-- Whether `key` holds the type `want` or nothing; `checked` caches each key's type for the call.
local function type_problem(checked, key, want)
  local kind = checked[key]
  if not kind then
    kind = redis.call('TYPE', key).ok
    checked[key] = kind
  end
  if kind ~= 'none' and kind ~= want then
    return 'key `' .. key .. '` is a ' .. kind .. ', expected a ' .. want
      .. ' (a stray write under the namespace?); nothing was stored'
  end
end

-- The type a row's keys must have, checked before the first write (Lua does not roll back, so a
-- command failing half-way would leave jobs half-stored): nil when they are free or right, else
-- the refusal's message. One TYPE per distinct key, cached in `checked`; rows of a queue already
-- found right cost one table lookup.
local function key_problem(row, checked)
  local queue = queue_of(row.jtype, row.reqs)
  local delayed = row.delay > 0 or row.at > 0
  local seen = (row.priority == 0 and 'l' or 'r') .. (delayed and 'd' or '') .. queue
  if not row.rk and checked[seen] then
    return nil
  end
  local bad = type_problem(checked, K.wake(queue), 'zset')
    or (row.priority == 0 and type_problem(checked, K.list(queue), 'list'))
    or (row.priority ~= 0 and type_problem(checked, K.ready(queue), 'zset'))
    or (row.reqs and type_problem(checked, K.sets(row.jtype), 'set'))
    or (row.reqs and type_problem(checked, K.wake(row.jtype), 'zset'))
    or (delayed and type_problem(checked, K.delayed, 'zset'))
    or nil
  if bad then
    return bad
  end
  checked[seen] = true
  if row.rk then
    return type_problem(checked, K.fifo(row.rk), 'zset')
  end
  return nil
end

-- Plans rows without writing: each is 'new', 'exists' (its id is stored or earlier in the
-- batch), a duplicate of a live unique job, or refused. `pred` seeds predicted resource states
-- (rk -> bool). A unique key held by `parent` counts as free (a REPLACE parent ends in the same
-- step, so its children may take its key). A row that needs a resource that will not exist, or whose keys have the
-- wrong type, refuses the whole batch when `atomic` (returns nil and the row index and the
-- reason), or only itself otherwise.
local function plan_rows(rows, pred, atomic, parent)
  local plan, ids, uniques, checked = {}, {}, {}, {}
  -- One EXISTS over every row's key answers the common case (all new) at once.
  local keys = {}
  for i, row in ipairs(rows) do
    keys[i] = K.job(row.id)
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
    local forwarded = row.home and redis.call('ZSCORE', K.fwd, id)
    if ids[id] or forwarded or (any_stored and redis.call('EXISTS', keys[i]) == 1) then
      plan[i] = { kind = 'exists' }
    else
      local ukey = row.ukey
      local live = ukey and (uniques[ukey] or redis.call('HGET', K.uniq, ukey))
      if live and live == parent and not uniques[ukey] then
        live = nil
      end
      if live then
        plan[i] = { kind = 'dup', of = live }
      else
        local entry = { kind = 'new' }
        local bad = key_problem(row, checked)
        if bad then
          if atomic then
            return nil, i - 1, bad
          end
          entry = { kind = 'badkey', why = bad }
        end
        local rk, fx = row.rk, row.fx
        -- Only jobs that declare an effect read or change the prediction.
        if rk and fx and entry.kind == 'new' then
          local exists = pred[rk]
          if exists == nil then
            exists = predicted(rk)
          end
          if (fx == 'update' or fx == 'delete') and not exists then
            if atomic then
              return nil, i - 1, 'resource:' .. rk
            end
            entry = { kind = 'refused', rk = rk }
          else
            if fx == 'create' then exists = true elseif fx == 'delete' then exists = false end
            pred[rk] = exists
          end
        end
        if entry.kind == 'new' then
          ids[id] = true
          if ukey then uniques[ukey] = id end
        end
        plan[i] = entry
      end
    end
  end
  return plan
end

-- Takes `count` sequence numbers at once; returns the first.
local function take_seqs(count)
  return redis.call('INCRBY', K.seq, count) - count + 1
end

-- Adds the jobs gathered per queue in `woken` (queue -> {list = {id, ...}, set = {score, id,
-- ...}}) to their queues, one RPUSH and one ZADD per queue (in slices that fit Lua's stack), and
-- sets each queue's `r` wake marker: once per script, not per job.
local function wake(woken)
  for queue, batch in pairs(woken) do
    sliced('RPUSH', K.list(queue), batch.list)
    sliced('ZADD', K.ready(queue), batch.set)
    redis.call('ZADD', K.wake(queue), 0, 'r')
  end
end

-- Writes a planned new row with sequence number `seq` (`now_s` is `now` formatted); when it is
-- ready at once, adds it to `woken` for `wake` to put in its ready set. With `head_rk`, a row
-- bound to that resource is left for the caller to put at the head of the FIFO (REPLACE) and
-- starts blocked.
local function insert_row(row, now, now_s, seq, woken, head_rk)
  local id, jtype, priority = row.id, row.jtype, row.priority
  local key = K.job(id)
  local payload = row.payload
  if row.home then
    redis.call('ZADD', K.fwd, now_s, id)
  end
  local inline = #payload <= S.inline_max
  local run_at = now + row.delay
  if row.at > run_at then run_at = row.at end
  local rk, reqs = row.rk, row.reqs
  -- Bound to a resource, it waits its turn unless it is the FIFO's head (a REPLACE child bound
  -- to its parent's resource is put at the head by the caller).
  local blocked = false
  if rk then
    blocked = rk == head_rk or not join_resource(id, rk, row.fx, seq)
  end
  if priority == 0 and row.lease == '0' and inline and run_at <= now and not (rk or reqs or row.ukey
      or row.parent or row.attrs or row.keep) then
    -- The common case: one HSET of fixed shape, without default-valued fields.
    redis.call('HSET', key, 't', jtype, 'q', seq, 'c', now_s, 'm', row.max, 's', 'ready', 'd', payload)
  else
    -- Every field in one HSET.
    local fields = { 't', jtype, 'q', seq, 'c', now_s, 'm', row.max, 's', blocked and 'blocked' or 'ready' }
    local function put(name, value)
      fields[#fields + 1], fields[#fields + 2] = name, value
    end
    if priority ~= 0 then put('p', priority) end
    if row.lease ~= '0' then put('l', row.lease) end
    if inline then
      put('d', payload)
    else
      redis.call('SET', K.args(id), payload)
    end
    if row.parent then put('pa', row.parent) end
    if reqs then put('rq', reqs) end
    if row.ukey then
      put('uk', row.ukey)
      if row.queued_only then put('uw', 'q') end
    end
    if row.attrs then
      for name, value in pairs(row.attrs) do
        put('@' .. name, tostring(value))
      end
    end
    if row.keep then put('k', row.keep) end
    if run_at > now then put('ra', fmt(run_at)) end
    if rk then
      put('rk', rk)
      if row.fx then put('fx', row.fx) end
    end
    redis.call('HSET', key, unpack(fields))
  end
  if reqs then
    use_requirements(jtype, reqs)
  end
  if row.ukey then
    redis.call('HSET', K.uniq, row.ukey, id)
  end
  if blocked then
    return
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

-- The reply for planned rows: 'new', 'exists', 'dup:<live id>', 'refused:<resource>' or
-- 'badkey:<message>' each.
local function plan_reply(plan, out)
  for _, entry in ipairs(plan) do
    if entry.kind == 'dup' then
      out[#out + 1] = 'dup:' .. entry.of
    elseif entry.kind == 'refused' then
      out[#out + 1] = 'refused:' .. entry.rk
    elseif entry.kind == 'badkey' then
      out[#out + 1] = 'badkey:' .. entry.why
    else
      out[#out + 1] = entry.kind
    end
  end
  return out
end

-- Refuses a whole atomic batch: the reason of row `index` as `plan_rows` gave it.
local function refusal(index, why)
  if string.sub(why, 1, 9) == 'resource:' then
    return { 'refused', index, string.sub(why, 10) }
  end
  return error({ err = 'ERR job: ' .. why })
end

-- How long a forwarded REPLACE child's id is remembered (`fwd`), in ms: 7 days.
local FORWARD_MEMORY = 7 * 86400000

-- Forgets forwarded ids older than `FORWARD_MEMORY`, at most 100 per call.
local function prune_forwarded(now)
  local old = redis.call('ZRANGEBYSCORE', K.fwd, '-inf', fmt(now - FORWARD_MEMORY), 'LIMIT', 0, 100)
  sliced('ZREM', K.fwd, old)
end

-- Stores a forwarded REPLACE child that its shard refuses (it needs a resource that will not
-- exist, or its keys have the wrong type) as failed for good, with the reason in its history:
-- its parent has completed, so refusing it would lose it.
local function store_refused(row, now, now_s, kind, why)
  local key = K.job(row.id)
  redis.call('HSET', key, 't', row.jtype, 'q', 0, 'c', now_s, 'm', row.max, 's', 'failed', 'f', now_s,
    'd', row.payload)
  if row.rk then redis.call('HSET', key, 'rk', row.rk) end
  if row.fx then redis.call('HSET', key, 'fx', row.fx) end
  if row.parent then redis.call('HSET', key, 'pa', row.parent) end
  push_failure(row.id, now, 0, kind, why .. ': refused when this REPLACE child reached its shard', nil)
  redis.call('ZADD', K.failed, now_s, row.id)
  redis.call('ZADD', K.fwd, now_s, row.id)
end
