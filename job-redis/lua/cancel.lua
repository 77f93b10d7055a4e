-- cancel.lua: CANCEL: end a job that has not started (ready, delayed, or blocked behind its
-- resource). A cancelled priority-0 job's entry stays in its ready list until a grab pops it and
-- skips it: taking it out would walk the list. Every step here is O(log n).
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id
-- returns: 'cancelled', 'missing', or the state that prevents it ('running', 'completed', ...)
--@include queues
--@include finish
load_settings()
local id = ARGV[2]
local f = redis.call('HMGET', K.job(id), 's', 't', 'rq', 'p')
if not f[1] then
  return 'missing'
end
if f[1] == 'ready' then
  if (tonumber(f[4]) or 0) ~= 0 then
    redis.call('ZREM', K.ready(queue_of(f[2], f[3])), id)
  else
    -- Its list entry stays, counted here: the grab that pops it skips it, even if a retry has
    -- made the job ready again meanwhile (its new entry, further back, is the one that counts).
    redis.call('HINCRBY', K.job(id), 'sk', 1)
  end
elseif f[1] == 'delayed' then
  redis.call('ZREM', K.delayed, id)
elseif f[1] ~= 'blocked' then
  return f[1]
end
local now = now_ms()
finish(id, 'cancelled', now)
prune_ended('cancelled', now, 1)
return 'cancelled'
