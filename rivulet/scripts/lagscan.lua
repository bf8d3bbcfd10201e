-- lagscan.lua: one channel's numbers for /metrics, compactly. Reads only.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:meta:{C}     hash: only checked (its type), as info.lua does
-- KEYS[5] rvl:read:{C}     zset: only checked (its type), as info.lua does
-- Returns 0 for no such channel, else one string of fields joined by "\n"
-- (names hold no control characters): head, count, planted 0|1, then per
-- subscriber: client, index, ts of its oldest unread stored
-- message (-1: none, or not stamped). One string, not an array of them:
-- parsing 22 reply elements a channel was most of the scan's client time. count leaves out members scored outside the ids
-- rivulet issues; planted says there are some (info.lua's "problem"). A
-- key of the wrong type is an error (the row is then shown as broken).
--
-- info.lua + subscribers.lua give all this too, in 17 + 4 per subscriber
-- redis.calls and two scripts per channel; this is one script and about
-- 6 + 1 per distinct index, which /metrics over every channel adds up. The
-- caller reads the server's TIME once for the whole scan, not per channel.

local id_key, msg_key, sub_key, meta_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
for _, key in ipairs({meta_key, read_key}) do
  local found = redis.call('TYPE', key)
  found = found.ok or found
  if found ~= 'none' and found ~= (key == meta_key and 'hash' or 'zset') then
    return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. key .. ' holds a ' .. found)
  end
end
local head = redis.call('GET', id_key)
if head and (not string.match(head, '^%d+$') or tonumber(head) > MAX_INT) then
  return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. id_key
    .. ' holds no message id counter')
end
local total = redis.call('ZCARD', msg_key)
local count = redis.call('ZCOUNT', msg_key, 0, int(MAX_INT))
local rows = redis.call('ZRANGE', sub_key, 0, -1, 'WITHSCORES')
if not head and total == 0 and #rows == 0 then
  return 0  -- no such channel (what channel_exists says, without its EXISTS)
end
local reply = {int(tonumber(head or '0')), int(count), total ~= count and '1' or '0'}
local seen = {}  -- subscribers often share an index: look each one up once
for i = 1, #rows, 2 do
  local index = rows[i + 1]
  local ts = seen[index]
  if not ts then
    local first = redis.call('ZRANGEBYSCORE', msg_key, '(' .. index, '+inf', 'LIMIT', 0, 1)
    ts = first[1] and msg_ts(first[1]) or -1
    seen[index] = ts
  end
  reply[#reply + 1] = rows[i]
  reply[#reply + 1] = int(shown_id(score_of(index)))
  reply[#reply + 1] = int(ts)
end
return table.concat(reply, '\n')
