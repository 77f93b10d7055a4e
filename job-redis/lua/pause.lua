-- pause.lua: PAUSE / RESUME: stops or restarts the grabbing of job types' jobs on this shard.
-- Paused, no grab takes a job of the types (checked inside GRAB, so a worker blocked on a wake
-- marker takes nothing either); running jobs finish, inserts and schedules go on. Resumed, every
-- queue of the types gets its wake marker, so blocked workers look at once.
-- KEYS[1] shard prefix
-- ARGV[1] 'pause' | 'resume'  ARGV[2..] job types
-- returns: how many of the types changed (were not paused, or were)
--@include keys
local pausing = ARGV[1] == 'pause'
if not pausing and ARGV[1] ~= 'resume' then
  error('ERR job: unknown pause change `' .. tostring(ARGV[1]) .. '`')
end
local changed = 0
for i = 2, #ARGV do
  local jtype = ARGV[i]
  if pausing then
    changed = changed + redis.call('SADD', K.paused, jtype)
  elseif redis.call('SREM', K.paused, jtype) == 1 then
    changed = changed + 1
    redis.call('ZADD', K.wake(jtype), 0, 'r')
    for _, reqs in ipairs(redis.call('SMEMBERS', K.sets(jtype))) do
      redis.call('ZADD', K.wake(queue_of(jtype, reqs)), 0, 'r')
    end
  end
end
return changed
