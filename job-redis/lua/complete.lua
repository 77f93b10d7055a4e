-- complete.lua: COMPLETE / COMPLETE_MANY: end held jobs, storing each one's result.
-- KEYS[1] shard prefix
-- ARGV[1] done keep count  ARGV[2] done max age ms  ARGV[3] count
-- ARGV[4..] count rows of 3: id, token, result ('' for none)
-- returns: one integer per row: 1 completed, 0 lost (stale token; nothing changed)
local keep, age = int(ARGV[1], 'done_keep'), int(ARGV[2], 'done_age')
local count = int(ARGV[3], 'count')
local now = now_ms()
local out, batch, ended = {}, new_batch(), {}
for i = 0, count - 1 do
  local id, token, result = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  -- One read for the token check and everything `finish` needs.
  local f = redis.call('HMGET', P .. 'j:' .. id, 's', 'tk', unpack(FINISH_FIELDS))
  -- `ended`: a row repeated in one call finds the job still stored until the flush.
  if f[1] == 'running' and f[2] == token and not ended[id] then
    if result ~= '' and keep > 0 then
      redis.call('HSET', P .. 'j:' .. id, 'r', result)
    end
    finish(id, 'completed', now, keep, age, nil, false, { f[3], f[4], f[5], f[6], f[7] }, batch)
    ended[id] = true
    out[i + 1] = 1
  else
    out[i + 1] = 0
  end
end
flush(batch)
prune('done', now, keep, age)
return out
