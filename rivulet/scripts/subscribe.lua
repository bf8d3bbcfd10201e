-- subscribe.lua: create the channel if needed and place a client's index.
--
-- KEYS[1] rvl:id:{C}       message id counter (created at 0)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- ARGV[1] client id
-- ARGV[2] policy: "earliest", "latest" or "current"
-- Returns the client's index. Moving an index forward deletes what every
-- subscriber has now read.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
local client, policy = ARGV[1], ARGV[2]

redis.call('SET', id_key, 0, 'NX')
local head = head_of(id_key)
local index = tonumber(redis.call('ZSCORE', sub_key, client))
local before = index

if policy == 'earliest' then
  local oldest = redis.call('ZRANGE', msg_key, 0, 0, 'WITHSCORES')
  if #oldest > 0 then
    index = math.min(tonumber(oldest[2]) - 1, head)
  else
    index = head
  end
elseif policy == 'latest' or not index then
  index = head
else
  index = math.min(index, head)
end
redis.call('ZADD', sub_key, index, client)
if before and index > before then
  prune_consumed(sub_key, msg_key)  -- it may have been the last to read those
end
return index
