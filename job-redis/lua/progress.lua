-- progress.lua: PROGRESS: stores a held job's progress, fenced by its token.
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] progress (JSON, size-checked by the client)
-- returns: 1 stored, 0 lost (the token no longer holds the job: nothing stored)
--@include keys
--@include base
local id, token = ARGV[1], ARGV[2]
local f = redis.call('HMGET', K.job(id), 's', 'tk')
if f[1] ~= 'running' or f[2] ~= token then
  return 0
end
redis.call('HSET', K.job(id), 'pg', ARGV[3], 'pt', fmt(now_ms()))
return 1
