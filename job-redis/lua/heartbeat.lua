-- heartbeat.lua: HEARTBEAT: renew many leases.
-- KEYS[1] shard prefix
-- ARGV[1] count  ARGV[2..] count rows of 3: id, token, lease_ms
-- returns: one integer per row: 1 renewed, 0 lost
--@include keys
--@include base
local count = int(ARGV[1], 'count')
for i = 0, count - 1 do
  int(ARGV[4 + i * 3], 'lease_ms')
end
local now = now_ms()
local out, renewed = {}, {}
for i = 0, count - 1 do
  local id, token, lease = ARGV[2 + i * 3], ARGV[3 + i * 3], tonumber(ARGV[4 + i * 3])
  local f = redis.call('HMGET', K.job(id), 's', 'tk')
  if f[1] == 'running' and f[2] == token then
    renewed[#renewed + 1] = fmt(now + lease)
    renewed[#renewed + 1] = id
    out[i + 1] = 1
  else
    out[i + 1] = 0
  end
end
-- One ZADD for all of them (XX: only leases still there), in slices that fit Lua's stack.
for first = 1, #renewed, 1000 do
  redis.call('ZADD', K.leases, 'XX', unpack(renewed, first, math.min(first + 999, #renewed)))
end
return out
