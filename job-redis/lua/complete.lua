-- complete.lua: COMPLETE / COMPLETE_MANY: end held jobs, storing each one's result.
-- KEYS[1] shard prefix
-- ARGV[1] done keep count  ARGV[2] done max age ms  ARGV[3] count
-- ARGV[4..] count rows of 3: id, token, result ('' for none)
-- returns: one integer per row: 1 completed, 0 lost (stale token; nothing changed)
return complete_rows()
