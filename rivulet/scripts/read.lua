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
-- the member's score, the authority over any "id" inside the member. More
-- than ARGV[2] members come back when others share the last one's id.
-- A key of the wrong type fails the call before anything is written.
-- Deletes come before adds, so a full Redis (maxmemory) can still be drained.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, limit, commit = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'

local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset',
  read_key, 'zset'})
if broken then return broken end

local stored = score_of(redis.call('ZSCORE', sub_key, client))
if not stored then
  return {0}
end
local head = head_of(id_key)
local index = sane_index(stored, head)

-- Members whose score is no id are skipped, and pages are fetched until
-- `limit` messages are found or the channel ends, so planted members
-- neither stall the reader nor count against its limit.
local reply = {1, index, 0}
local skipped, taken, last, offset = 0, 0, nil, 0
while taken < limit do
  local want = limit - taken
  local page = redis.call('ZRANGEBYSCORE', msg_key, '(' .. int(index), '+inf',
    'WITHSCORES', 'LIMIT', int(offset), int(want))
  for i = 1, #page, 2 do
    local score = score_of(page[i + 1])
    if is_id(score) then
      reply[#reply + 1] = page[i]
      reply[#reply + 1] = score
      taken = taken + 1
      last = score
    else
      skipped = skipped + 1
    end
  end
  if #page < 2 * want then break end
  offset = offset + want
end
reply[3] = skipped

-- The index moves past an id only with every member at that id: a member
-- planted beside a message with the same score must not hide it.
if taken == limit and last then
  local same = redis.call('ZRANGEBYSCORE', msg_key, int(last), int(last))
  local have = 0
  for i = 5, #reply, 2 do
    if reply[i] == last then have = have + 1 end
  end
  for i = have + 1, #same do
    reply[#reply + 1] = same[i]
    reply[#reply + 1] = last
  end
end

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
