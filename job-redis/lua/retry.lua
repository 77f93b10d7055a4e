-- retry.lua: RETRY: put a failed or cancelled job back at the end of its ready set, with fresh
-- attempt, lease-expiry and defer counts (its failure history stays).
-- KEYS[1] shard prefix
-- ARGV[1] id
-- returns: 'ok', 'missing', or the state that prevents it
local id = ARGV[1]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 's', 't', 'p')
if not f[1] then
  return 'missing'
end
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then
  return f[1]
end
redis.call('ZREM', P .. 'failed', id)
redis.call('ZREM', P .. 'done', id)
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', key, 'a', 0, 'x', 0, 'df', 0, 'q', seq)
redis.call('HDEL', key, 'f', 'r')
make_ready(id, f[2], tonumber(f[3]), seq)
return 'ok'
