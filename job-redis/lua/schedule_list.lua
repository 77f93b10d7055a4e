-- schedule_list.lua: SCHEDULES: up to `limit` schedules in name order within a ZRANGEBYLEX
-- range, each with its fields and latest fires, and the state of each fire's job (or '' once
-- deleted).
-- KEYS[1] shard prefix
-- ARGV[1] min  ARGV[2] max (ZRANGEBYLEX bounds)  ARGV[3] limit  ARGV[4] fires per schedule
-- returns: per schedule {name, {the values of FIELDS}, {fire, its job's state, ...}}
--@include keys
--@include base
local names = redis.call('ZRANGEBYLEX', K.schedules, ARGV[1], ARGV[2], 'LIMIT', 0, int(ARGV[3], 'limit'))
local fires_n = int(ARGV[4], 'fires')
local FIELDS = { 'spec', 'ov', 'tt', 'ver', 'last', 'next', 'paused', 'lj', 'fired', 'skipped',
                 'dropped', 'created', 'updated' }
local out = {}
for _, name in ipairs(names) do
  local fields = redis.call('HMGET', K.schedule(name), unpack(FIELDS))
  if fields[1] then
    for i = 1, #FIELDS do
      fields[i] = fields[i] or ''
    end
    local fires = {}
    if fires_n > 0 then
      for _, fire in ipairs(redis.call('LRANGE', K.fires(name), 0, fires_n - 1)) do
        local id = string.match(fire, '^%S+ (%S+)')
        fires[#fires + 1] = fire
        fires[#fires + 1] = (id and id ~= '-' and redis.call('HGET', K.job(id), 's')) or ''
      end
    end
    out[#out + 1] = { name, fields, fires }
  end
end
return out
