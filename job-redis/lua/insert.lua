-- insert.lua: INSERT / INSERT_MANY: store jobs, ready now or delayed.
-- KEYS[1] shard prefix
-- ARGV[1] inline_max (bytes of arguments kept in the job hash)  ARGV[2] count
-- ARGV[3..] count rows of 9: id, type, priority, max_attempts, lease_ms, delay_ms, at_ms, payload, parent
-- returns: one integer per row: 1 stored, 0 exists (retried insert; nothing changed)
local inline_max = int(ARGV[1], 'inline_max')
local count = int(ARGV[2], 'count')
for i = 0, count - 1 do
  check_row(3 + i * 9)
end
local now = now_ms()
local out = {}
for i = 0, count - 1 do
  out[i + 1] = insert_row(3 + i * 9, now, inline_max)
end
return out
