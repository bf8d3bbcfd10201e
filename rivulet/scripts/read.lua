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
-- Returns {state, index, skipped, member1, id1, member2, id2, ...} oldest
-- first: state 0 when the client is not subscribed (nothing else follows),
-- 1 otherwise; index is the client's index after this call; skipped counts
-- members met whose score is no message id (2.5, inf: planted around the
-- library), which are neither returned nor ever become an index. Each id is
-- the member's score, the authority over any "id" inside the member.
-- A key of the wrong type fails the call before anything is written.
-- Deletes come before adds, so a full Redis (maxmemory) can still be drained.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, limit, commit = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'

local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset',
  read_key, 'zset'})
if broken then return broken end

local stored = tonumber(redis.call('ZSCORE', sub_key, client))
if not stored then
  return {0}
end
local head = head_of(id_key)
local index = sane_index(stored, head)

local rows = redis.call('ZRANGEBYSCORE', msg_key, '(' .. int(index), '+inf',
  'WITHSCORES', 'LIMIT', 0, limit)
local reply = {1, index, 0}
local skipped = 0
local last = nil
for i = 1, #rows, 2 do
  local score = tonumber(rows[i + 1])
  if is_id(score) then
    reply[#reply + 1] = rows[i]
    reply[#reply + 1] = score
    last = score
  else
    skipped = skipped + 1
  end
end
reply[3] = skipped

if commit and last then
  index = last
end
-- Delete first even when the index stays: the read time written next is
-- then allowed on a full Redis too.
prune_before_move(sub_key, msg_key, client, index)
if index ~= stored then
  redis.call('ZADD', sub_key, index, client)
end
redis.call('ZADD', read_key, now_ms(), client)
reply[2] = index
return reply
