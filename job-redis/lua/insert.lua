-- insert.lua: INSERT / INSERT_MANY: store jobs, ready now, delayed, or blocked behind their
-- resource's FIFO; a job whose unique key is live answers the live job instead; a job that needs
-- a resource that will not exist, or whose keys hold another type, is refused, and with it the
-- whole batch when atomic.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)
-- ARGV[2] atomic: 1 for all-or-nothing (a refused row refuses the batch), 0 for independent rows
--         (a batch of unrelated callers' jobs)  ARGV[3] count  ARGV[4..] count rows of 9
--         (see rows.lua)
-- returns: {'ok', per row 'new' | 'exists' | 'dup:<id>' | 'refused:<resource>' |
--          'badkey:<message>'} or {'refused', row index, resource} (atomic only; a wrong key
--          type in an atomic batch is an error)
--@include rows
load_settings()
local atomic = ARGV[2] == '1'
local rows = read_rows(4, int(ARGV[3], 'count'))
local plan, bad, why = plan_rows(rows, {}, atomic)
if not plan then
  return refusal(bad, why)
end
local now = now_ms()
local now_s = fmt(now)
local fresh = 0
for _, entry in ipairs(plan) do
  if entry.kind == 'new' then fresh = fresh + 1 end
end
local seq, woken = take_seqs(fresh), {}
local forwarded = false
for i, entry in ipairs(plan) do
  local row = rows[i]
  if entry.kind == 'new' then
    insert_row(row, now, now_s, seq, woken)
    seq = seq + 1
  elseif entry.kind == 'refused' and row.home then
    store_refused(row, now, now_s, 'resource', 'resource `' .. entry.rk .. '` will not exist')
  elseif entry.kind == 'badkey' and row.home then
    store_refused(row, now, now_s, 'fatal', entry.why)
  end
  forwarded = forwarded or row.home ~= nil
end
wake(woken)
if forwarded then
  prune_forwarded(now)
end
return plan_reply(plan, { 'ok' })
