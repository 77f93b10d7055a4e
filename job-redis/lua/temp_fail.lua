-- temp_fail.lua: TEMP_FAIL: record a failure and retry in `retry_ms`, or fail for good once the
-- attempts are spent.
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] retry_ms  ARGV[4] kind  ARGV[5] message  ARGV[6] history cap
-- ARGV[7] failed keep count  ARGV[8] failed max age ms
-- returns: 'retry', 'failed' (attempts spent) or 'lost'
local id, token = ARGV[1], ARGV[2]
local retry_ms = int(ARGV[3], 'retry_ms')
local cap, keep, age = failure_args(6)
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
push_failure(id, now, job.attempts, ARGV[4], ARGV[5], job.holder, cap)
if job.attempts >= job.max then
  finish(id, 'failed', now, keep, age, cap)
  prune('failed', now, keep, age)
  return 'failed'
end
redis.call('ZREM', P .. 'leases', id)
redis.call('HDEL', P .. 'j:' .. id, 'w')
if retry_ms <= 0 then
  make_ready(id, job.queue, job.priority, job.seq)
else
  make_delayed(id, job.queue, now + retry_ms)
end
return 'retry'
