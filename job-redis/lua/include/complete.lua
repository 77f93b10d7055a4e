-- complete.lua (part): ending held jobs as completed, each with its result. COMPLETE calls it;
-- so does GRAB for the completions a worker sends with its next grab (one round trip for both).
--@include keys
--@include finish

-- Completes the `count` rows of 3 (id, token, result: '' for none) from ARGV[first], at `now`;
-- returns one integer per row (1 completed, 0 lost: a stale token, nothing changed) and how
-- many completed. The retention step is the caller's (`prune_ended('done', now, completed)`).
local function complete_rows(first, count, now)
  local out, batch, ended = {}, new_batch(), {}
  local completed = 0
  for i = 0, count - 1 do
    local b = first + i * 3
    local id, token, result = ARGV[b], ARGV[b + 1], ARGV[b + 2]
    if not result then error('ERR job: short completion row') end
    -- One read for the token check and everything `finish` needs.
    local f = redis.call('HMGET', K.job(id), 's', 'tk', unpack(FINISH_FIELDS))
    -- `ended`: a row repeated in one call finds the job still stored until the flush.
    if f[1] == 'running' and f[2] == token and not ended[id] then
      if result ~= '' and S.done_keep > 0 then
        redis.call('HSET', K.job(id), 'r', result)
      end
      finish(id, 'completed', now, { f[3], f[4], f[5], f[6], f[7], f[8] }, batch)
      ended[id] = true
      completed = completed + 1
      out[i + 1] = 1
    else
      out[i + 1] = 0
    end
  end
  flush(batch)
  return out, completed
end
