-- replace.lua: REPLACE: complete a held job and insert its children (any types), atomically.
-- Children bound to the parent's resource take the parent's place at the head of its FIFO, in
-- order, so a chain keeps its resource. The parent's unique key is free for its children (the
-- parent ends in this same step), so a job may REPLACE itself with its next round. A child whose
-- unique key another live job holds is answered as a duplicate (and recorded on the parent) and
-- the rest goes through; a child that needs a resource that will not exist refuses the whole
-- REPLACE (nothing changes).
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] id  ARGV[3] token  ARGV[4] count
-- ARGV[5..] count rows of 9 (see rows.lua); a row whose extras name a `home` shard prefix goes
-- to `outbox` as `[home, row]` instead
-- returns: {'ok', per child 'new' | 'exists' | 'dup:<id>'}, {'lost'} or {'refused', index, resource}
--@include rows
--@include leases
--@include finish
load_settings()
local id, token = ARGV[2], ARGV[3]
local count = int(ARGV[4], 'count')
local rows = read_rows(5, count)
if not held(id, token) then
  return { 'lost' }
end
local parent = redis.call('HMGET', K.job(id), 'rk', 'fx')
local rk, fx = parent[1], parent[2]
local pred = {}
if rk then
  -- Children at the head see the resource as the parent leaves it.
  if fx == 'create' then
    pred[rk] = true
  elseif fx == 'delete' then
    pred[rk] = false
  else
    pred[rk] = resource_exists(rk)
  end
end
-- Children of another shard go to this shard's outbox, for the client to forward; the rest
-- are inserted here.
local here, away = {}, {}
for i, row in ipairs(rows) do
  if row.home then
    away[#away + 1] = row
  else
    here[#here + 1] = row
    here[#here].index = i - 1
  end
end
local plan, bad, why = plan_rows(here, pred, true, id)
if not plan then
  return refusal(here[bad + 1].index, why)
end
local now = now_ms()
local heads = {}
local seq, woken = take_seqs(#here), {}
local now_s = fmt(now)
for _, row in ipairs(away) do
  redis.call('RPUSH', K.outbox, cjson.encode({ row.home, row.raw }))
end
local dups = {}
for i, entry in ipairs(plan) do
  local row = here[i]
  if entry.kind == 'new' then
    insert_row(row, now, now_s, seq, woken, rk)
    seq = seq + 1
    if rk and row.rk == rk then
      heads[#heads + 1] = row
    end
  elseif entry.kind == 'dup' then
    dups[#dups + 1] = { row.id, entry.of }
  end
end
if #heads > 0 then
  -- In order, just ahead of the parent (the head), which leaves below.
  local top = tonumber(redis.call('ZRANGE', K.fifo(rk), 0, 0, 'WITHSCORES')[2]) or 0
  local positions, effects = {}, {}
  for i, row in ipairs(heads) do
    local pos = fmt(top - #heads + i - 1)
    positions[#positions + 1], positions[#positions + 2] = pos, row.id
    if is_effect(row.fx) then
      effects[#effects + 1], effects[#effects + 2] = pos, row.id
    end
  end
  sliced('ZADD', K.fifo(rk), positions)
  sliced('ZADD', K.effects(rk), effects)
end
if #dups > 0 then
  -- Children that were not stored because another live job holds their key: kept on the
  -- parent (the first 100), for DETAILS.
  local kept = { unpack(dups, 1, math.min(#dups, 100)) }
  redis.call('HSET', K.job(id), 'cd', cjson.encode(kept))
end
wake(woken)
finish(id, 'completed', now)
prune_ended('done', now, 1)
-- One answer per child, in order: a forwarded child is `new` (it is in the outbox).
local answers = plan_reply(plan, {})
local out, next_here = { 'ok' }, 1
for _, row in ipairs(rows) do
  if row.home then
    out[#out + 1] = 'new'
  else
    out[#out + 1] = answers[next_here]
    next_here = next_here + 1
  end
end
return out
