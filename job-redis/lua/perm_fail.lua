-- perm_fail.lua: PERM_FAIL: record a failure and end the job for good.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see common.lua)  ARGV[2] id  ARGV[3] token  ARGV[4] kind  ARGV[5] message
-- returns: 'failed' or 'lost'
load_settings()
local id, token = ARGV[2], ARGV[3]
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
push_failure(id, now, job.attempts, ARGV[4], ARGV[5], job.holder)
finish(id, 'failed', now)
prune('failed', now, 1)
return 'failed'
