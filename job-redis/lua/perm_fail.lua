-- perm_fail.lua: PERM_FAIL: record a failure and end the job for good.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id  ARGV[3] token  ARGV[4] kind  ARGV[5] message
-- returns: 'failed' or 'lost'
--@include leases
--@include finish
load_settings()
local id, token = ARGV[2], ARGV[3]
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
fail_for_good(id, now, job.attempts, ARGV[4], ARGV[5], job.holder)
return 'failed'
