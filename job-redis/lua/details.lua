-- details.lua: DETAILS: everything stored about one job, read atomically.
-- KEYS[1] shard prefix
-- ARGV[1] id
-- returns: {} when missing, else {fields (flat HGETALL), args (or false), history (list),
--          served (when a worker last asked for the job's type, ms, from `seen`; or false)}
--@include keys
local id = ARGV[1]
local fields = redis.call('HGETALL', K.job(id))
if #fields == 0 then
  return {}
end
local args = redis.call('GET', K.args(id))
local history = redis.call('LRANGE', K.history(id), 0, -1)
local jtype = redis.call('HGET', K.job(id), 't')
local served = jtype and redis.call('ZSCORE', K.seen, jtype) or false
return { fields, args, history, served }
