-- keys.lua: the key helper. Every key of a shard is named here and nowhere else in Lua (keys.rs
-- names the same keys in Rust; a test pins the two lists together). KEYS[1] is the shard prefix
-- `<ns>:{<shard>}:`, so every key a script touches shares one hash tag.
local P = KEYS[1]

-- The keys of the shard itself, built on first use: K.leases, K.delayed, ... (a name not listed
-- here is an error, never a stray key).
local SHARD_KEYS = {
  leases = 'leases',   -- zset: running job ids by lease deadline (ms)
  delayed = 'delayed', -- zset: job ids by run-at (ms)
  done = 'done',       -- zset: completed and cancelled job ids kept, by end time
  failed = 'failed',   -- zset: failed job ids kept, by end time
  seq = 'seq',         -- string: the counter of sequence numbers and fencing tokens
  uniq = 'uniq',       -- hash: unique key -> the live job that holds it
  seen = 'seen',       -- zset: job types by when a worker last asked for them
  outbox = 'outbox',   -- list: REPLACE children waiting to be forwarded to their shards
  fwd = 'fwd',         -- zset: ids of forwarded REPLACE children, by when they arrived
  rx = 'rx',           -- set: resources that exist
  rc = 'rc',           -- hash: resource -> the create or delete that left without completing
  rv = 'rv',           -- zset: resources whose blocked heads still need a check
}
local K = setmetatable({}, { __index = function(keys, name)
  local suffix = SHARD_KEYS[name]
  if not suffix then
    error('ERR job: no shard key named `' .. tostring(name) .. '`')
  end
  local key = P .. suffix
  rawset(keys, name, key)
  return key
end })

-- The keys of one job, one queue, one type or one resource.
function K.job(id) return P .. 'j:' .. id end          -- hash: the job's fields
function K.args(id) return P .. 'a:' .. id end         -- string: arguments kept apart
function K.history(id) return P .. 'e:' .. id end      -- list: failure records
function K.list(queue) return P .. 'l:' .. queue end   -- list: ready priority-0 jobs, FIFO
function K.ready(queue) return P .. 'r:' .. queue end  -- zset: ready prioritized jobs
function K.wake(queue) return P .. 'w:' .. queue end   -- zset: wake markers workers block on
function K.sets(jtype) return P .. 'q:' .. jtype end   -- set: a type's requirement sets in use
function K.fifo(rk) return P .. 'res:' .. rk end       -- zset: a resource's jobs by position
function K.effects(rk) return P .. 'rfx:' .. rk end    -- zset: its creates and deletes

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
