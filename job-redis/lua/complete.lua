-- complete.lua: COMPLETE / COMPLETE_MANY: end held jobs, storing each one's result.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] count
-- ARGV[3..] count rows of 3: id, token, result ('' for none)
-- returns: one integer per row: 1 completed, 0 lost (stale token; nothing changed)
--@include finish
load_settings()
local count = int(ARGV[2], 'count')
local now = now_ms()
local out, batch, ended = {}, new_batch(), {}
local completed = 0
for i = 0, count - 1 do
  local id, token, result = ARGV[3 + i * 3], ARGV[4 + i * 3], ARGV[5 + i * 3]
  -- One read for the token check and everything `finish` needs.
  local f = redis.call('HMGET', K.job(id), 's', 'tk', unpack(FINISH_FIELDS))
  -- `ended`: a row repeated in one call finds the job still stored until the flush.
  if f[1] == 'running' and f[2] == token and not ended[id] then
    if result ~= '' and S.done_keep > 0 then
      redis.call('HSET', K.job(id), 'r', result)
    end
    finish(id, 'completed', now, { f[3], f[4], f[5], f[6], f[7] }, batch)
    ended[id] = true
    completed = completed + 1
    out[i + 1] = 1
  else
    out[i + 1] = 0
  end
end
flush(batch)
prune('done', now, completed)
return out
