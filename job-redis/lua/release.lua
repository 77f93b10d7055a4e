-- release.lua: hand a held job back to waiting without spending an attempt: a defer (counted,
-- limited) or a shutdown hand-back (not counted, back at its old place).
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] delay_ms  ARGV[4] defer limit (-1: shutdown)
-- ARGV[5] history cap  ARGV[6] failed keep count  ARGV[7] failed max age ms
-- returns: 'ok', 'failed' (defer limit passed) or 'lost'
local id, token = ARGV[1], ARGV[2]
local delay = int(ARGV[3], 'delay_ms')
local limit = int(ARGV[4], 'defer_limit')
local cap, keep, age = failure_args(5)
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
local key = P .. 'j:' .. id
redis.call('HSET', key, 'a', job.attempts - 1)
if limit >= 0 then
  local defers = redis.call('HINCRBY', key, 'df', 1)
  if defers > limit then
    push_failure(id, now, job.attempts, 'defer_limit',
      'deferred ' .. defers .. ' times, over the limit of ' .. limit, job.holder, cap)
    finish(id, 'failed', now, keep, age, cap)
    prune('failed', now, keep, age)
    return 'failed'
  end
end
redis.call('ZREM', P .. 'leases', id)
redis.call('HDEL', key, 'w')
if delay <= 0 then
  -- A shutdown hand-back goes back to the front; a defer to the back.
  make_ready(id, job.queue, job.priority, job.seq, limit < 0)
else
  make_delayed(id, job.queue, now + delay)
end
return 'ok'
