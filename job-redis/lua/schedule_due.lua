-- schedule_due.lua: DUE_SCHEDULES: claims up to `limit` schedules due now, for `claim_ms` (other
-- schedulers skip them meanwhile; a scheduler that dies lets its claims run out), and answers
-- what a scheduler needs to plan their ticks, by the Redis clock.
-- KEYS[1] shard prefix
-- ARGV[1] limit  ARGV[2] claim_ms
-- returns: {now_ms, next_ms (the earliest look-at time left; -1: none), then per schedule:
--           name, spec, version, last tick}
--@include keys
--@include base
local limit = int(ARGV[1], 'limit')
local claim = int(ARGV[2], 'claim_ms')
local now = now_ms()
local names = redis.call('ZRANGEBYSCORE', K.due, '-inf', now, 'LIMIT', 0, limit)
local out = { now, -1 }
local claims = {}
for _, name in ipairs(names) do
  local f = redis.call('HMGET', K.schedule(name), 'spec', 'ver', 'last')
  if f[1] then
    out[#out + 1] = name
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[3]
    claims[#claims + 1] = fmt(now + claim)
    claims[#claims + 1] = name
  else
    redis.call('ZREM', K.due, name) -- removed meanwhile
  end
end
sliced('ZADD', K.due, claims)
local first = redis.call('ZRANGE', K.due, 0, 0, 'WITHSCORES')
if first[2] then
  out[2] = tonumber(first[2])
end
return out
