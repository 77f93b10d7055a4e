-- history.lua: a job's failure history.
--@include keys
--@include base

-- Appends a failure record and trims the history to the newest `S.cap` entries (none at 0).
local function push_failure(id, now, attempt, kind, message, holder)
  if S.cap <= 0 then
    return
  end
  local record = cjson.encode({ t = now, a = attempt, k = kind, m = message, w = holder or '' })
  local key = K.history(id)
  redis.call('RPUSH', key, record)
  redis.call('LTRIM', key, -S.cap, -1)
  -- Marks that the history key exists, so deleting the job knows which keys it has.
  redis.call('HSET', K.job(id), 'e', 1)
end
