-- replace.lua: REPLACE: complete a held job and insert its children (any types), atomically.
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] done keep count  ARGV[4] done max age ms
-- ARGV[5] inline_max  ARGV[6] count  ARGV[7..] count rows of 9 as in insert.lua
-- returns: {'ok', then 1 stored / 0 exists per child} or {'lost'}
local id, token = ARGV[1], ARGV[2]
local keep, age = int(ARGV[3], 'done_keep'), int(ARGV[4], 'done_age')
local inline_max = int(ARGV[5], 'inline_max')
local count = int(ARGV[6], 'count')
for i = 0, count - 1 do
  check_row(7 + i * 9)
end
if not held(id, token) then
  return { 'lost' }
end
local now = now_ms()
local out = { 'ok' }
for i = 0, count - 1 do
  out[i + 2] = insert_row(7 + i * 9, now, inline_max)
end
finish(id, 'completed', now, keep, age)
return out
