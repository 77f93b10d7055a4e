-- schedule_upsert.lua: UPSERT_SCHEDULE: stores a schedule, or changes it. The same spec and
-- template change nothing (an upsert is idempotent); a new or changed one gets a new version,
-- so a scheduler that planned ticks from the old one is refused, and counts its ticks from now:
-- a tick at or before the change never fires. Paused stays paused. Wakes the schedulers.
-- KEYS[1] shard prefix
-- ARGV[1] settings  ARGV[2] name  ARGV[3] spec (JSON)  ARGV[4] overlap skip (1/0)
-- ARGV[5..10] the job template: type, priority, max_attempts, lease_ms, payload, extras
-- returns: {'created' | 'changed' | 'same', version}
--@include schedules
load_settings()
local name, spec, overlap = ARGV[2], ARGV[3], ARGV[4]
local template = { ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10] }
if not template[6] then error('ERR job: short schedule template') end
-- The template must make a valid row (a bad one is refused here, not at every tick).
template_row(template, 'check')
local key = K.schedule(name)
local stored = redis.call('HMGET', key, 'spec', 'ov', unpack(TEMPLATE))
local same = stored[1] == spec and stored[2] == overlap
for i = 1, #TEMPLATE do
  same = same and stored[i + 2] == template[i]
end
if same then
  return { 'same', tonumber(redis.call('HGET', key, 'ver')) }
end
local now = now_ms()
local now_s = fmt(now)
local fields = { 'spec', spec, 'ov', overlap, 'last', now_s, 'updated', now_s }
for i = 1, #TEMPLATE do
  fields[#fields + 1] = TEMPLATE[i]
  fields[#fields + 1] = template[i]
end
local created = stored[1] == false
if created then
  fields[#fields + 1] = 'created'
  fields[#fields + 1] = now_s
end
redis.call('HSET', key, unpack(fields))
local version = redis.call('HINCRBY', key, 'ver', 1)
redis.call('ZADD', K.schedules, 0, name)
if redis.call('HGET', key, 'paused') ~= '1' then
  -- Due at once: a scheduler works out its next tick, by the new spec.
  redis.call('ZADD', K.due, now_s, name)
  redis.call('ZADD', K.tick, 0, 'r')
end
return { created and 'created' or 'changed', version }
