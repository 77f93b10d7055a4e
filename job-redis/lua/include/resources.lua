-- resources.lua: resource FIFOs. Each resource has a FIFO (K.fifo), a sorted set of its jobs by
-- position (only the head may be ready, delayed or running; the rest are `blocked`), and
-- K.effects, the create and delete jobs among them. `rx` holds the resources that exist, `rc`
-- the last create or delete of a resource that left its FIFO without completing (named when the
-- jobs that needed it fail), and `rv` the resources whose heads still need a check (see
-- `promote_head`). Failing a head ends it: `finish` is declared here and defined by finish.lua,
-- which every script that promotes heads includes too.
--@include keys
--@include base
--@include queues
--@include history

local finish

local function is_effect(fx)
  return fx == 'create' or fx == 'delete'
end

-- Whether a resource exists now.
local function resource_exists(rk)
  return redis.call('SISMEMBER', K.rx, rk) == 1
end

-- Whether a resource will exist once every job in its FIFO has run: the last create or delete
-- queued decides (a create is predicted to succeed; after a delete it is gone either way), else
-- whether it exists now. Checked at enqueue by jobs that need it.
local function predicted(rk)
  local last = redis.call('ZRANGE', K.effects(rk), -1, -1)[1]
  if last then
    return redis.call('HGET', K.job(last), 'fx') == 'create'
  end
  return resource_exists(rk)
end

-- Adds a job to the back of its resource's FIFO at position `pos`; true when it is the head.
local function join_resource(id, rk, fx, pos)
  redis.call('ZADD', K.fifo(rk), fmt(pos), id)
  if is_effect(fx) then
    redis.call('ZADD', K.effects(rk), fmt(pos), id)
  end
  return redis.call('ZCARD', K.fifo(rk)) == 1
end

-- How many blocked heads a call may fail for a missing resource (each about fifteen commands);
-- the rest wait in `rv` for the next grab.
local heads_left = 60

-- Fails a head that needs a resource that does not exist, now that its turn came.
local function fail_missing(id, rk, now)
  redis.call('ZREM', K.fifo(rk), id)
  redis.call('ZREM', K.effects(rk), id)
  local cause = redis.call('HGET', K.rc, rk)
  local why = 'resource `' .. rk .. '` does not exist when this job\'s turn came'
  if cause then
    why = why .. ': job ' .. cause .. ' that would create it (or keep it) did not complete'
  end
  local attempts = tonumber(redis.call('HGET', K.job(id), 'a')) or 0
  push_failure(id, now, attempts, 'resource', why, nil)
  finish(id, 'failed', now, nil, nil, true)
end

-- Gives the head of a resource's FIFO its turn: made ready (or delayed) when it waits blocked.
-- A head that needs the resource (update, delete) when it does not exist fails for good, and the
-- next head is looked at, up to `heads_left` per call; past that the resource waits in `rv` and
-- the next grab goes on, so the jobs behind a failed create fail in order, in bounded steps.
local function promote_head(rk, now)
  local fifo = K.fifo(rk)
  while true do
    local head = redis.call('ZRANGE', fifo, 0, 0)[1]
    if not head then
      redis.call('HDEL', K.rc, rk)
      return
    end
    local f = redis.call('HMGET', K.job(head), 's', 'fx', 't', 'rq')
    if f[1] ~= 'blocked' then
      return
    end
    if (f[2] == 'update' or f[2] == 'delete') and not resource_exists(rk) then
      if heads_left <= 0 then
        -- The next grab goes on; wake the workers of the head's type to make one now.
        redis.call('ZADD', K.rv, now, rk)
        redis.call('ZADD', K.wake(queue_of(f[3], f[4])), 0, 'r')
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
    redis.call('SADD', K.rx, rk)
  elseif state == 'completed' and fx == 'delete' then
    redis.call('SREM', K.rx, rk)
  end
  if is_effect(fx) then
    if state == 'completed' then
      redis.call('HDEL', K.rc, rk)
    else
      redis.call('HSET', K.rc, rk, id)
    end
    redis.call('ZREM', K.effects(rk), id)
  end
  redis.call('ZREM', K.fifo(rk), id)
  promote_head(rk, now)
end
