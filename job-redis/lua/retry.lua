-- retry.lua: RETRY: put a failed or cancelled job back at the end of its queue (and of its
-- resource's FIFO), with fresh attempt, lease-expiry and defer counts; its failure history
-- stays. It claims its unique key again when no other live job holds it.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id
-- returns: 'ok', 'missing', {'refused', type, resource} (it needs a resource that will not
--          exist), or the state that prevents it
--@include queues
--@include resources
--@include finish
load_settings()
local id = ARGV[2]
local key = K.job(id)
local f = redis.call('HMGET', key, 's', 't', 'p', 'rq', 'rk', 'fx', 'uk')
if not f[1] then
  return 'missing'
end
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then
  return f[1]
end
local rk, fx, ukey = f[5], f[6], f[7]
if rk and (fx == 'update' or fx == 'delete') and not predicted(rk) then
  return {'refused', f[2], rk}
end
local now = now_ms()
redis.call('ZREM', K.failed, id)
redis.call('ZREM', K.cancelled, id)
redis.call('ZREM', K.kept, id)
local seq = redis.call('INCR', K.seq)
redis.call('HSET', key, 'a', 0, 'x', 0, 'df', 0, 'q', seq)
redis.call('HDEL', key, 'f', 'r', 'ra')
if ukey and not redis.call('HGET', K.uniq, ukey) then
  redis.call('HSET', K.uniq, ukey, id)
end
if rk and not join_resource(id, rk, fx, seq) then
  redis.call('HSET', key, 's', 'blocked')
  return 'ok'
end
make_ready(id, f[2], f[4], tonumber(f[3]), seq)
return 'ok'
