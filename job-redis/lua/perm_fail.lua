-- perm_fail.lua: PERM_FAIL: record a failure and end the job for good.
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] kind  ARGV[4] message  ARGV[5] history cap
-- ARGV[6] failed keep count  ARGV[7] failed max age ms
-- returns: 'failed' or 'lost'
local id, token = ARGV[1], ARGV[2]
local cap, keep, age = failure_args(5)
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
push_failure(id, now, job.attempts, ARGV[3], ARGV[4], job.holder, cap)
finish(id, 'failed', now, keep, age, cap)
prune('failed', now, keep, age)
return 'failed'
