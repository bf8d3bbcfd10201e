-- commit.lua: move a client's index forward to an id it has processed, then
-- delete what every subscriber has read.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:read:{C}     zset: client id -> last read time (ms)
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (history), oldest first
-- KEYS[6] rvl:hcfg:{C}     hash: history settings, last snapshot time
-- ARGV[1] client id
-- ARGV[2] id of the last message processed
-- Returns {state, index}: state 0 when not subscribed, 1 otherwise. The index
-- never moves back and never past the head. A key of the wrong type fails
-- the call before anything is written; deletes come before adds, so a full
-- Redis (maxmemory) can still be drained.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, upto = ARGV[1], tonumber(ARGV[2])

local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset',
  read_key, 'zset'})
if broken then return broken end
if not is_id(upto) then
  return redis.error_reply('RIVULET_RANGE commit needs a message id, not ' .. ARGV[2])
end

local stored = score_of(redis.call('ZSCORE', sub_key, client))
if not stored then
  return {0, 0}
end
local head = head_of(id_key)
local index = sane_index(stored, head)
index = math.max(index, math.min(upto, head))
store_index(sub_key, msg_key, read_key, client, stored, index)
record_history(id_key, sub_key, KEYS[5], KEYS[6])
return {1, index}
