-- insert.lua: INSERT / INSERT_MANY: store jobs, ready now, delayed, or blocked behind their
-- resource's FIFO; a job whose unique key is live answers the live job instead; a job that needs
-- a resource that will not exist refuses the whole batch, and nothing is stored.
-- KEYS[1] shard prefix
-- ARGV[1] inline_max (bytes of arguments kept in the job hash)  ARGV[2] count
-- ARGV[3..] count rows of 15 (see common.lua)
-- returns: {'ok', per row 'new' | 'exists' | 'dup:<id>'} or {'refused', row index, resource}
local inline_max = int(ARGV[1], 'inline_max')
local count = int(ARGV[2], 'count')
for i = 0, count - 1 do
  check_row(3 + i * ROW)
end
local plan, bad, rk = plan_rows(3, count, {})
if not plan then
  return { 'refused', bad, rk }
end
local now = now_ms()
for i, entry in ipairs(plan) do
  if entry.kind == 'new' then
    insert_row(3 + (i - 1) * ROW, now, inline_max, entry, nil)
  end
end
return plan_reply(plan, { 'ok' })
