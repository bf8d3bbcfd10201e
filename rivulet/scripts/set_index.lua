-- set_index.lua: move one subscriber's index (an operator's action).
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- ARGV[1] client id
-- ARGV[2] "id", "earliest" or "latest"
-- ARGV[3] the id, with "id"
-- Returns {code, index, head}: code 1 moved, 0 not subscribed, -1 id outside
-- [0, head], -2 no such channel. Moving forward deletes what every
-- subscriber has now read, before the index is written, so it works on a
-- full Redis too; moving back deletes nothing (and a full Redis refuses it).
-- A key of the wrong type fails the call before anything is written.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
local client, how = ARGV[1], ARGV[2]
if not channel_exists(id_key, msg_key, sub_key) then
  return {-2, 0, 0}
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset'})
if broken then return broken end
local head = head_of(id_key)
local current = tonumber(redis.call('ZSCORE', sub_key, client))
if not current then
  return {0, 0, head}
end
local index
if how == 'latest' then
  index = head
elseif how == 'earliest' then
  local oldest = redis.call('ZRANGE', msg_key, 0, 0, 'WITHSCORES')
  index = head
  if #oldest > 0 then index = math.min(tonumber(oldest[2]) - 1, head) end
else
  index = tonumber(ARGV[3])
  if index < 0 or index > head then
    return {-1, current, head}
  end
end
if index > current then
  -- Delete first what every subscriber has read once it moves: the same as
  -- pruning after the move, and a full Redis (maxmemory) then allows the
  -- index's write too (see prune_before_move).
  prune_before_move(sub_key, msg_key, client, index)
end
redis.call('ZADD', sub_key, index, client)
return {1, index, head}
