-- temp_fail.lua: TEMP_FAIL: record a failure and retry in `retry_ms`, or fail for good once the
-- attempts are spent.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id  ARGV[3] token  ARGV[4] retry_ms  ARGV[5] kind
-- ARGV[6] message
-- returns: 'retry', 'failed' (attempts spent) or 'lost'
--@include leases
--@include finish
load_settings()
local id, token = ARGV[2], ARGV[3]
local retry_ms = int(ARGV[4], 'retry_ms')
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
if job.attempts >= job.max then
  fail_for_good(id, now, job.attempts, ARGV[5], ARGV[6], job.holder)
  return 'failed'
end
push_failure(id, now, job.attempts, ARGV[5], ARGV[6], job.holder)
unlease(id, job, now, retry_ms, false)
return 'retry'
