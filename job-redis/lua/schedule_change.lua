-- schedule_change.lua: CHANGE_SCHEDULE: pauses, resumes, removes or triggers a schedule.
-- Paused, no tick fires; resumed, ticks count from now (those that fell while it was paused
-- never fire). Removed, its jobs already made stay. Triggered, its job is inserted now under
-- the given id, outside its ticks (overlap is not checked: a trigger is an explicit run).
-- KEYS[1] shard prefix
-- ARGV[1] settings  ARGV[2] name  ARGV[3] 'pause' | 'resume' | 'remove' | 'trigger'
-- ARGV[4] the job id (trigger)
-- returns: 0 when no such schedule, else 1 (trigger: how the insert went)
--@include schedules
load_settings()
local name, op = ARGV[2], ARGV[3]
local key = K.schedule(name)
if redis.call('EXISTS', key) == 0 then
  return 0
end
local now = now_ms()
local now_s = fmt(now)
if op == 'pause' then
  redis.call('HSET', key, 'paused', '1')
  redis.call('ZREM', K.due, name)
elseif op == 'resume' then
  if redis.call('HGET', key, 'paused') == '1' then
    redis.call('HSET', key, 'last', now_s)
    redis.call('HDEL', key, 'paused')
    redis.call('ZADD', K.due, now_s, name)
    redis.call('ZADD', K.tick, 0, 'r')
  end
elseif op == 'remove' then
  redis.call('DEL', key, K.fires(name))
  redis.call('ZREM', K.due, name)
  redis.call('ZREM', K.schedules, name)
elseif op == 'trigger' then
  local id = ARGV[4]
  local template = redis.call('HMGET', key, unpack(TEMPLATE))
  local outcome = insert_template(template, id, now, now_s)
  if outcome == 'new' then
    redis.call('HSET', key, 'lj', id)
    redis.call('HINCRBY', key, 'fired', 1)
  end
  record_fire(name, now_s, id, 'trigger:' .. outcome)
  trim_fires(name)
  return outcome
else
  error('ERR job: unknown schedule change `' .. tostring(op) .. '`')
end
return 1
