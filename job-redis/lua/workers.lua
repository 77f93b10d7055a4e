-- workers.lua: WORKERS: the workers seen within the expiry, each with when it was last seen.
-- KEYS[1] shard prefix
-- ARGV[1] expiry ms  ARGV[2] limit
-- returns: pairs: worker (JSON), last seen (ms)
--@include keys
--@include base
local now = now_ms()
local seen = redis.call('ZRANGEBYSCORE', K.workers_seen, fmt(now - int(ARGV[1], 'expiry')), '+inf',
  'WITHSCORES', 'LIMIT', 0, int(ARGV[2], 'limit'))
local out = {}
for i = 1, #seen, 2 do
  local info = redis.call('HGET', K.workers, seen[i])
  if info then
    out[#out + 1] = info
    out[#out + 1] = seen[i + 1]
  end
end
return out
