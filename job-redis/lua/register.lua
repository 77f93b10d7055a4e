-- register.lua: REGISTER / UNREGISTER: records a running worker and its types' options (on the
-- namespace's first shard), or forgets a worker that stopped. Workers not seen for the expiry
-- are forgotten too, at most 100 per call.
-- KEYS[1] shard prefix
-- ARGV[1] 'register' | 'unregister'  ARGV[2] worker id  ARGV[3] expiry ms
-- ARGV[4] worker (JSON)  ARGV[5..] pairs: type name, type options (JSON)
-- returns: the Redis clock (ms)
--@include keys
--@include base
local id = ARGV[2]
local now = now_ms()
if ARGV[1] == 'unregister' then
  redis.call('HDEL', K.workers, id)
  redis.call('ZREM', K.workers_seen, id)
  return now
elseif ARGV[1] ~= 'register' then
  error('ERR job: unknown registry change `' .. tostring(ARGV[1]) .. '`')
end
redis.call('HSET', K.workers, id, ARGV[4])
redis.call('ZADD', K.workers_seen, fmt(now), id)
if #ARGV >= 6 then
  redis.call('HSET', K.types, unpack(ARGV, 5))
end
local gone = redis.call('ZRANGEBYSCORE', K.workers_seen, '-inf', fmt(now - int(ARGV[3], 'expiry')), 'LIMIT', 0, 100)
sliced('ZREM', K.workers_seen, gone)
sliced('HDEL', K.workers, gone)
return now
