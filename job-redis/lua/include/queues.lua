-- queues.lua: moving a job into its queue (ready now) or into `delayed` (ready later).
--@include keys
--@include base

-- Ready-set score: priority first (higher runs first), then FIFO by sequence number.
local function ready_score(priority, seq)
  return (127 - (priority or 0)) * 17592186044416 + seq
end

-- Scores below this are priority > 0; priority-0 jobs never enter a ready set (see `push_ready`).
local P0 = 127 * 17592186044416

-- Records that a type has jobs with requirement set `reqs`, so workers look at that queue. A new
-- set wakes the type's workers, so they learn to wait on its markers too. A grab forgets sets
-- whose queues are empty; this adds them back whenever a job of theirs becomes ready.
local function use_requirements(jtype, reqs)
  if reqs and reqs ~= '' and redis.call('SADD', K.sets(jtype), reqs) == 1 then
    redis.call('ZADD', K.wake(jtype), 0, 'r')
  end
end

-- Puts a ready job in its queue: priority-0 jobs (nearly all) in the list of the queue, at the
-- back, or at the front (`front`: a job handed back or whose lease ran out); prioritized jobs in
-- the queue's sorted set by (priority, seq). A list entry costs a few bytes where a sorted set
-- entry costs about a hundred, and pushing and popping it is O(1). A list may also hold entries
-- of jobs that are no longer ready there (cancelled): a grab skips them.
local function push_ready(id, queue, priority, seq, front)
  if (priority or 0) == 0 then
    redis.call(front and 'LPUSH' or 'RPUSH', K.list(queue), id)
  else
    redis.call('ZADD', K.ready(queue), fmt(ready_score(priority, seq)), id)
  end
end

local function make_ready(id, jtype, reqs, priority, seq, front)
  local queue = queue_of(jtype, reqs)
  use_requirements(jtype, reqs)
  push_ready(id, queue, priority, seq, front)
  redis.call('ZADD', K.wake(queue), 0, 'r')
  -- `rs`: since when it is ready, for the wait a worker reports (`c` stands in until then).
  redis.call('HSET', K.job(id), 's', 'ready', 'rs', fmt(now_ms()))
  redis.call('HDEL', K.job(id), 'ra')
end

local function make_delayed(id, queue, run_at)
  redis.call('ZADD', K.delayed, fmt(run_at), id)
  redis.call('ZADD', K.wake(queue), 'LT', fmt(run_at), 'd')
  redis.call('HSET', K.job(id), 's', 'delayed', 'ra', fmt(run_at))
end

-- Makes a job that may run (or its resource's head) ready, or delayed when its run-at is ahead.
local function make_eligible(id, now)
  local f = redis.call('HMGET', K.job(id), 't', 'rq', 'p', 'q', 'ra')
  local run_at = tonumber(f[5])
  if run_at and run_at > now then
    make_delayed(id, queue_of(f[1], f[2]), run_at)
  else
    make_ready(id, f[1], f[2], tonumber(f[3]), tonumber(f[4]))
  end
end
