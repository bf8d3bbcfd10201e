-- subscribe.lua: create the channel if needed and place a client's index.
--
-- KEYS[1] rvl:id:{C}       message id counter (created at 0)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:hcfg:{C}     hash: s:<client> -> subscribe time (ms) of a new
--                          subscriber, so status never calls it "stopped"
--                          within stop_after of subscribing
-- ARGV[1] client id
-- ARGV[2] policy: "earliest", "latest" or "current"
-- Returns the client's index. Moving an index forward deletes what every
-- subscriber has now read. A key of the wrong type fails the call before
-- anything is written. Nothing is written when nothing changes, and deletes
-- come before adds, so a consumer can resubscribe to drain a full Redis.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
local client, policy = ARGV[1], ARGV[2]

local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset'})
if broken then return broken end

local head = head_of(id_key)
local before = score_of(redis.call('ZSCORE', sub_key, client))
local index

if policy == 'earliest' then
  local oldest = redis.call('ZRANGE', msg_key, 0, 0, 'WITHSCORES')
  if #oldest > 0 then
    index = sane_index(tonumber(oldest[2]) - 1, head)
  else
    index = head
  end
elseif policy == 'latest' or not before then
  index = head
else
  index = sane_index(before, head)
end
if before and index > before then
  -- it may have been the last to read those
  prune_before_move(sub_key, msg_key, client, index)
end
if index ~= before then
  redis.call('ZADD', sub_key, index, client)
end
if redis.call('EXISTS', id_key) == 0 then
  redis.call('SET', id_key, 0)
end
if not before then
  -- Best effort (a broken or full key skips it): only status reads it.
  redis.pcall('HSET', KEYS[4], 's:' .. client, now_ms())
end
return index
