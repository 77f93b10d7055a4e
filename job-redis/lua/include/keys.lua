-- keys.lua: the key helper. Every key of a shard is named here and nowhere else in Lua (keys.rs
-- names the same keys in Rust; a test pins the two lists together). KEYS[1] is the shard prefix
-- `<ns>:{<shard>}:`, so every key a script touches shares one hash tag.
local P = KEYS[1]

-- The keys of the shard itself (K.leases, K.delayed, ...) and of one job, queue, type or
-- resource (K.job(id), K.list(queue), ...), built on first use in a call. A name not listed here
-- is an error, never a stray key.
local SHARD_KEYS = {
  leases = 'leases',   -- zset: running job ids by lease deadline (ms)
  delayed = 'delayed', -- zset: job ids by run-at (ms)
  done = 'done',       -- zset: completed job ids kept, by end time
  failed = 'failed',   -- zset: failed job ids kept, by end time
  cancelled = 'cancelled', -- zset: cancelled job ids kept, by end time
  kept = 'kept',       -- zset: ended jobs kept by their own policy (a type's or a job's), by expiry
  seq = 'seq',         -- string: the counter of sequence numbers and fencing tokens
  uniq = 'uniq',       -- hash: unique key -> the live job that holds it
  seen = 'seen',       -- zset: job types by when a worker last asked for them
  outbox = 'outbox',   -- list: REPLACE children waiting to be forwarded to their shards
  fwd = 'fwd',         -- zset: ids of forwarded REPLACE children, by when they arrived
  rx = 'rx',           -- set: resources that exist
  rc = 'rc',           -- hash: resource -> the create or delete that left without completing
  rv = 'rv',           -- zset: resources whose blocked heads still need a check
  due = 'sd',          -- zset: unpaused schedules by when a scheduler should look at them (ms)
  schedules = 'sn',    -- zset: every schedule's name, score 0 (listed in name order)
  tick = 'sw',         -- zset: the schedulers' wake marker, set by a schedule's change
  paused = 'paused',   -- set: job types whose jobs no grab takes (an operator paused them)
  workers = 'wk',      -- hash: worker id -> what it registered (JSON); on the first shard
  workers_seen = 'wl', -- zset: worker id -> when it last registered (ms); on the first shard
  types = 'ty',        -- hash: job type -> its options as workers register them (JSON)
}
local ITEM_KEYS = {
  job = 'j:',          -- hash: a job's fields
  args = 'a:',         -- string: a job's arguments kept apart
  history = 'e:',      -- list: a job's failure records
  list = 'l:',         -- list: a queue's ready priority-0 jobs, FIFO
  ready = 'r:',        -- zset: a queue's ready prioritized jobs
  wake = 'w:',         -- zset: a queue's wake markers, which workers block on
  sets = 'q:',         -- set: a type's requirement sets in use
  fifo = 'res:',       -- zset: a resource's jobs by position
  effects = 'rfx:',    -- zset: a resource's creates and deletes
  schedule = 's:',     -- hash: a schedule: its spec, job template, last tick and counts
  fires = 'sf:',       -- list: a schedule's latest fires, newest first
}
local KEY_NAMES = { __index = function(keys, name)
  local key
  if ITEM_KEYS[name] then
    local stem = P .. ITEM_KEYS[name]
    key = function(item) return stem .. item end
  elseif SHARD_KEYS[name] then
    key = P .. SHARD_KEYS[name]
  else
    error('ERR job: no key named `' .. tostring(name) .. '`')
  end
  rawset(keys, name, key)
  return key
end }

-- The key helper of a call on the shard with prefix `P` (a library of functions, loaded
-- without a call, makes its own in each call).
local function new_keys()
  return setmetatable({}, KEY_NAMES)
end
local K = P and new_keys()

-- A job's queue: its type, plus the capabilities it requires (`<type>|gpu,region=eu`). Each
-- queue has its own ready list, ready set and wake markers, so a grab never scans jobs it
-- cannot take. Types never contain `|` and capabilities never `|` or `,` (the client refuses
-- them), so queues never collide. `keys::queue` is the same rule in Rust.
local function queue_of(jtype, reqs)
  if reqs and reqs ~= '' then
    return jtype .. '|' .. reqs
  end
  return jtype
end
