-- commit.lua: move a client's index forward to an id it has processed, then
-- delete what every subscriber has read.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:read:{C}     zset: client id -> last read time (ms)
-- ARGV[1] client id
-- ARGV[2] id of the last message processed
-- Returns {state, index}: state 0 when not subscribed, 1 otherwise. The index
-- never moves back and never past the head.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, upto = ARGV[1], tonumber(ARGV[2])

local index = tonumber(redis.call('ZSCORE', sub_key, client))
if not index then
  return {0, 0}
end
local target = math.min(upto, head_of(id_key))
if target > index then
  index = target
  redis.call('ZADD', sub_key, index, client)
  prune_consumed(sub_key, msg_key)
end
redis.call('ZADD', read_key, now_ms(), client)
return {1, index}
