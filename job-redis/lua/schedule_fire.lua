-- schedule_fire.lua: FIRE: fires a schedule's ticks, once. Compares the schedule's version and
-- last fired tick with what the scheduler planned from, and only when both match inserts each
-- tick's job (its id made from the schedule's name and the tick), advances the last tick and
-- sets when to look next, all in this one step. A second scheduler with the same plan, or a
-- replay of this call, finds the last tick moved and changes nothing. With overlap skip, a
-- tick whose previous job is still live inserts nothing.
-- KEYS[1] shard prefix
-- ARGV[1] settings  ARGV[2] name  ARGV[3] version  ARGV[4] expected last tick
-- ARGV[5] new last tick  ARGV[6] next look-at (ms; -1: no more ticks)  ARGV[7] ticks dropped
-- ARGV[8] count  ARGV[9..] count pairs: tick (ms), job id
-- returns: {'fired', per tick its outcome (as insert answers, or 'overlap')} or {'stale'} or
--          {'gone'}
--@include schedules
load_settings()
local name = ARGV[2]
local key = K.schedule(name)
local f = redis.call('HMGET', key, 'ver', 'last', 'paused', 'ov', 'lj', unpack(TEMPLATE))
if not f[1] then
  return { 'gone' }
end
if f[1] ~= ARGV[3] or f[2] ~= ARGV[4] then
  return { 'stale' }
end
local last = int(ARGV[4], 'last')
local new_last = int(ARGV[5], 'new last')
local next_at = int(ARGV[6], 'next')
local dropped = int(ARGV[7], 'dropped')
local count = int(ARGV[8], 'count')
local now = now_ms()
local now_s = fmt(now)
local template = { f[6], f[7], f[8], f[9], f[10], f[11] }
local live = f[5]
local out = { 'fired' }
local fired, skipped = 0, 0
for i = 0, count - 1 do
  local tick, id = int(ARGV[9 + i * 2], 'tick'), ARGV[10 + i * 2]
  if tick <= last or tick > now or tick > new_last then
    error('ERR job: schedule tick ' .. tostring(tick) .. ' is not due')
  end
  local outcome
  if f[4] == '1' and is_live(live) then
    outcome = 'overlap'
    skipped = skipped + 1
  else
    outcome = insert_template(template, id, now, now_s)
    if outcome == 'new' then
      live = id
      fired = fired + 1
    end
  end
  record_fire(name, ARGV[9 + i * 2], id, outcome)
  out[#out + 1] = outcome
end
if dropped > 0 then
  record_fire(name, ARGV[5], nil, 'dropped:' .. dropped)
end
trim_fires(name)
local fields = { 'last', ARGV[5], 'next', ARGV[6] }
if live then
  fields[#fields + 1] = 'lj'
  fields[#fields + 1] = live
end
redis.call('HSET', key, unpack(fields))
if fired > 0 then redis.call('HINCRBY', key, 'fired', fired) end
if skipped > 0 then redis.call('HINCRBY', key, 'skipped', skipped) end
if dropped > 0 then redis.call('HINCRBY', key, 'dropped', dropped) end
if f[3] ~= '1' then
  if next_at >= 0 then
    redis.call('ZADD', K.due, ARGV[6], name)
  else
    redis.call('ZREM', K.due, name)
  end
end
return out
