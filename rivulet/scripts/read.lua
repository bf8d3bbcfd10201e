-- read.lua: fetch a client's unread messages from one channel and, when
-- committing, advance its index and delete what every subscriber has read.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:read:{C}     zset: client id -> last read time (ms)
-- ARGV[1] client id
-- ARGV[2] most messages to return
-- ARGV[3] "1" to advance the index past what is returned, "0" not to
-- Returns {state, index, member1, member2, ...} oldest first: state 0 when
-- the client is not subscribed (nothing else follows), 1 otherwise; index is
-- the client's index after this call.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, limit, commit = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'

local index = tonumber(redis.call('ZSCORE', sub_key, client))
if not index then
  return {0}
end
local head = head_of(id_key)
if index > head then
  index = head
  redis.call('ZADD', sub_key, index, client)
end

local rows = redis.call('ZRANGEBYSCORE', msg_key, '(' .. int(index), '+inf', 'LIMIT', 0, limit)
if commit and #rows > 0 then
  index = tonumber(redis.call('ZSCORE', msg_key, rows[#rows]))
  redis.call('ZADD', sub_key, index, client)
  prune_consumed(sub_key, msg_key)
end
redis.call('ZADD', read_key, now_ms(), client)

local reply = {1, index}
for i = 1, #rows do
  reply[i + 2] = rows[i]
end
return reply
