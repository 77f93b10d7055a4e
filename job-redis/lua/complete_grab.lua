-- complete_grab.lua: COMPLETE_GRAB: COMPLETE, then GRAB (grab.lua follows this file), in one
-- script: a worker that ends jobs and has slots to fill makes one round trip, not two.
-- KEYS[1] shard prefix
-- ARGV[1..3 + 3 * count]: COMPLETE's (see complete.lua); then GRAB's, from `A`
-- returns: {COMPLETE's flags, GRAB's reply}
local acks = complete_rows()
local A = 3 + 3 * int(ARGV[3], 'count')
