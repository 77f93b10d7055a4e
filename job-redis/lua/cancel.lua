-- cancel.lua: CANCEL: end a job that has not started (ready, delayed, or blocked behind its
-- resource).
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] done keep count  ARGV[3] done max age ms
-- returns: 'cancelled', 'missing', or the state that prevents it ('running', 'completed', ...)
local id = ARGV[1]
local keep, age = int(ARGV[2], 'done_keep'), int(ARGV[3], 'done_age')
local f = redis.call('HMGET', P .. 'j:' .. id, 's', 't', 'rq', 'p')
if not f[1] then
  return 'missing'
end
if f[1] == 'ready' then
  unready(id, queue_of(f[2], f[3]), f[4])
elseif f[1] == 'delayed' then
  redis.call('ZREM', P .. 'delayed', id)
elseif f[1] ~= 'blocked' then
  return f[1]
end
local now = now_ms()
finish(id, 'cancelled', now, keep, age)
prune('done', now, keep, age)
return 'cancelled'
