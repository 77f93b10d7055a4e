-- resource.lua: a resource's state, read atomically: whether it exists, and its FIFO.
-- KEYS[1] shard prefix
-- ARGV[1] resource key  ARGV[2] most ids to return
-- returns: {exists (0/1), jobs queued in all, head state (or ''), ids from the head...}
--@include keys
--@include base
local rk = ARGV[1]
local fifo = K.fifo(rk)
local ids = redis.call('ZRANGE', fifo, 0, int(ARGV[2], 'limit') - 1)
local head_state = ''
if ids[1] then
  head_state = redis.call('HGET', K.job(ids[1]), 's') or ''
end
local out = { redis.call('SISMEMBER', K.rx, rk), redis.call('ZCARD', fifo), head_state }
for _, id in ipairs(ids) do
  out[#out + 1] = id
end
return out
