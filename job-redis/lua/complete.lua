-- complete.lua: COMPLETE / COMPLETE_MANY: end held jobs, storing each one's result.
-- KEYS[1] shard prefix
-- ARGV[1] settings (see base.lua)  ARGV[2] count
-- ARGV[3..] count rows of 3: id, token, result ('' for none)
-- returns: one integer per row: 1 completed, 0 lost (stale token; nothing changed)
--@include complete
load_settings()
local now = now_ms()
local out, completed = complete_rows(3, int(ARGV[2], 'count'), now)
prune_ended('done', now, completed)
return out
