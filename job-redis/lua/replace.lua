-- replace.lua: REPLACE: complete a held job and insert its children (any types), atomically.
-- Children bound to the parent's resource take the parent's place at the head of its FIFO, in
-- order, so a chain keeps its resource. A child whose unique key is live is answered as a
-- duplicate and the rest goes through; a child that needs a resource that will not exist refuses
-- the whole REPLACE (nothing changes).
-- KEYS[1] shard prefix
-- ARGV[1] id  ARGV[2] token  ARGV[3] done keep count  ARGV[4] done max age ms
-- ARGV[5] inline_max  ARGV[6] count  ARGV[7..] count rows of 9 (see common.lua); a row whose
-- extras name a `home` shard prefix goes to `outbox` as `[home, row]` instead
-- returns: {'ok', per child 'new' | 'exists' | 'dup:<id>'}, {'lost'} or {'refused', index, resource}
local id, token = ARGV[1], ARGV[2]
local keep, age = int(ARGV[3], 'done_keep'), int(ARGV[4], 'done_age')
local inline_max = int(ARGV[5], 'inline_max')
local count = int(ARGV[6], 'count')
local rows = read_rows(7, count)
if not held(id, token) then
  return { 'lost' }
end
local parent = redis.call('HMGET', P .. 'j:' .. id, 'rk', 'fx')
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
local plan, bad, bad_rk = plan_rows(here, pred, true)
if not plan then
  return { 'refused', here[bad + 1].index, bad_rk }
end
check_key_types(here, plan)
local now = now_ms()
local heads, effects = {}, false
local seq, woken = take_seqs(#here), {}
local now_s = fmt(now)
for _, row in ipairs(away) do
  redis.call('RPUSH', P .. 'outbox', cjson.encode({ row.home, row.raw }))
end
for i, entry in ipairs(plan) do
  local row = here[i]
  if entry.kind == 'new' then
    insert_row(row, now, now_s, inline_max, entry, rk, seq, woken)
    seq = seq + 1
    if rk and row.rk == rk then
      heads[#heads + 1] = row.id
      if row.fx == 'create' or row.fx == 'delete' then effects = true end
    end
  end
end
if rk and #heads > 0 then
  local list = P .. 'res:' .. rk
  redis.call('LREM', list, 1, id)
  for i = #heads, 1, -1 do
    redis.call('LPUSH', list, heads[i])
  end
end
wake(woken)
finish(id, 'completed', now, keep, age)
if rk and effects then
  revalidate(rk, id, now, keep, age, 50)
  promote_head(rk, now)
end
prune('done', now, keep, age)
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
