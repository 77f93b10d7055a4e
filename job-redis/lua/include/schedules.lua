-- schedules.lua: a schedule's stored template job, built into an insert row, and its fires.
--@include keys
--@include rows

-- The fields of a schedule's hash that hold its job template, in insert-row order (see
-- rows.lua): type, priority, max_attempts, lease_ms, payload, extras.
local TEMPLATE = { 'tt', 'tp', 'tm', 'tl', 'td', 'tx' }

-- How many fires a schedule remembers (`fires` list, newest first).
local FIRES_KEPT = 50

-- The insert row of a tick's job: the template `t` (values of TEMPLATE) under `id`, ready now.
local function template_row(t, id)
  return read_rows(1, 1, { id, t[1], t[2], t[3], t[4], '0', '0', t[5], t[6] })[1]
end

-- Whether job `id` is live: waiting, delayed, blocked or running.
local function is_live(id)
  if not id then
    return false
  end
  local state = redis.call('HGET', K.job(id), 's')
  return state == 'ready' or state == 'delayed' or state == 'blocked' or state == 'running'
end

-- Inserts the template's job under `id` now, as INSERT would one row; returns how it went:
-- 'new', 'exists', 'dup:<live id>', 'refused:<resource>' or 'badkey:<message>'.
local function insert_template(t, id, now, now_s)
  local row = template_row(t, id)
  local plan = plan_rows({ row }, {}, false)
  local entry = plan[1]
  if entry.kind == 'new' then
    local woken = {}
    insert_row(row, now, now_s, take_seqs(1), woken)
    wake(woken)
  end
  return plan_reply(plan, {})[1]
end

-- Records a fire in the schedule's list: `<tick ms> <job id or -> <how it went>`.
local function record_fire(name, tick, id, outcome)
  redis.call('LPUSH', K.fires(name), tick .. ' ' .. (id or '-') .. ' ' .. outcome)
end

local function trim_fires(name)
  redis.call('LTRIM', K.fires(name), 0, FIRES_KEPT - 1)
end
