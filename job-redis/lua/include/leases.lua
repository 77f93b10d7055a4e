-- leases.lua: a job a worker holds, checked by its fencing token, and handed back to waiting.
--@include keys
--@include queues

-- The fields of a held job, or nil when `token` does not hold it (stale, ended, missing).
local function held(id, token)
  local f = redis.call('HMGET', K.job(id), 's', 'tk', 't', 'a', 'm', 'p', 'q', 'w', 'rq')
  if f[1] ~= 'running' or f[2] ~= token then
    return nil
  end
  return { jtype = f[3], attempts = tonumber(f[4]) or 0, max = tonumber(f[5]), priority = tonumber(f[6]),
           seq = tonumber(f[7]), holder = f[8], reqs = f[9], queue = queue_of(f[3], f[9]) }
end

-- Puts a held job back to waiting: ready now (at the front with `front`) or delayed by `delay`.
local function unlease(id, job, now, delay, front)
  redis.call('ZREM', K.leases, id)
  redis.call('HDEL', K.job(id), 'w')
  if delay <= 0 then
    make_ready(id, job.jtype, job.reqs, job.priority, job.seq, front)
  else
    make_delayed(id, job.queue, now + delay)
  end
end
