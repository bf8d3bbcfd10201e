-- prune_preview.lua: what prune.lua would delete with the same criteria,
-- without deleting anything: how many messages, the highest id among them,
-- and how many of them each subscriber has not read yet.
-- The criteria are prune.lua's (one function, prune_upto in _lib.lua);
-- the dashboard then prunes "up to that id", so the confirmed prune removes
-- no message the preview did not count.
--
-- KEYS[1] rvl:id:{C}       message id counter (never changed)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- ARGV[1] delete ids <= this, or ""
-- ARGV[2] delete messages at least this old (ms), or ""
-- ARGV[3] "1": delete what every subscriber has read
-- ARGV[4] keep only the newest this many, or ""
-- Returns {count, upto, client1, unread1, client2, unread2, ...}: upto is -1
-- when nothing would go (count 0); only subscribers with unread messages are listed.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
if not channel_exists(id_key, msg_key, sub_key) then
  return redis.error_reply('RIVULET_NOCHANNEL')
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset'})
if broken then return broken end

local upto = prune_upto(msg_key, sub_key, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if upto < 0 then
  return {0, -1}
end
local count = redis.call('ZCOUNT', msg_key, '-inf', int(upto))
if count == 0 then
  return {0, -1}
end
local reply = {count, int(upto)}
-- Subscribers whose index is below upto lose the messages in (index, upto].
local readers = redis.call('ZRANGEBYSCORE', sub_key, '-inf', '(' .. int(upto), 'WITHSCORES')
for i = 1, #readers, 2 do
  local unread = redis.call('ZCOUNT', msg_key, '(' .. readers[i + 1], int(upto))
  if unread > 0 then
    reply[#reply + 1] = readers[i]
    reply[#reply + 1] = unread
  end
end
return reply
