-- retry.lua: RETRY: put a failed or cancelled job back at the end of its ready set (and of its
-- resource's FIFO), with fresh attempt, lease-expiry and defer counts; its failure history
-- stays. It claims its unique key again when no other live job holds it.
-- KEYS[1] shard prefix
-- ARGV[1] id
-- returns: 'ok', 'missing', 'refused' (it needs a resource that will not exist), or the state
--          that prevents it
local id = ARGV[1]
local key = P .. 'j:' .. id
local f = redis.call('HMGET', key, 's', 't', 'p', 'rq', 'rk', 'fx', 'uk')
if not f[1] then
  return 'missing'
end
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then
  return f[1]
end
local rk, fx, ukey = f[5], f[6], f[7]
local exists = nil
if rk then
  local stored = redis.call('HGET', P .. 'rp', rk)
  if stored then exists = stored == '1' else exists = resource_exists(rk) end
  if (fx == 'update' or fx == 'delete') and not exists then
    return 'refused'
  end
end
local now = now_ms()
redis.call('ZREM', P .. 'failed', id)
redis.call('ZREM', P .. 'done', id)
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', key, 'a', 0, 'x', 0, 'df', 0, 'q', seq)
redis.call('HDEL', key, 'f', 'r', 'ra')
if ukey and not redis.call('HGET', P .. 'uniq', ukey) then
  redis.call('HSET', P .. 'uniq', ukey, id)
end
if rk then
  if fx == 'create' then exists = true elseif fx == 'delete' then exists = false end
  redis.call('HSET', P .. 'rp', rk, exists and 1 or 0)
  if redis.call('RPUSH', P .. 'res:' .. rk, id) > 1 then
    redis.call('HSET', key, 's', 'blocked')
    return 'ok'
  end
end
make_ready(id, queue_of(f[2], f[4]), tonumber(f[3]), seq)
return 'ok'
