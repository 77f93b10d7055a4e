-- release.lua: hand a held job back to waiting without spending an attempt: a defer (counted,
-- limited) or a shutdown hand-back (not counted, back at its old place).
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id  ARGV[3] token  ARGV[4] delay_ms
-- ARGV[5] defer limit (-1: shutdown)
-- returns: 'ok', 'failed' (defer limit passed) or 'lost'
--@include leases
--@include finish
load_settings()
local id, token = ARGV[2], ARGV[3]
local delay = int(ARGV[4], 'delay_ms')
local limit = int(ARGV[5], 'defer_limit')
local job = held(id, token)
if not job then
  return 'lost'
end
local now = now_ms()
local key = K.job(id)
redis.call('HSET', key, 'a', job.attempts - 1)
if limit >= 0 then
  local defers = redis.call('HINCRBY', key, 'df', 1)
  if defers > limit then
    fail_for_good(id, now, job.attempts, 'defer_limit',
      'deferred ' .. defers .. ' times, over the limit of ' .. limit, job.holder)
    return 'failed'
  end
end
-- A shutdown hand-back goes back to the front; a defer to the back.
unlease(id, job, now, delay, limit < 0)
return 'ok'
