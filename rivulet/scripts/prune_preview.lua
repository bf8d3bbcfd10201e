-- prune_preview.lua: what prune.lua would delete with the same criteria,
-- without deleting anything: how many messages, the highest id among them,
-- and how many of them each subscriber has not read yet.
-- The criteria are computed exactly as prune.lua does (keep the two alike);
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

local upto = -1
local function raise_to(id)
  if id and id > upto then upto = id end
end

raise_to(tonumber(ARGV[1]))
local older_ms = tonumber(ARGV[2])
if older_ms then
  raise_to(last_id_at_or_before(msg_key, now_ms() - older_ms))
end
if ARGV[3] == '1' then
  local low = redis.call('ZRANGE', sub_key, 0, 0, 'WITHSCORES')
  if #low > 0 then raise_to(tonumber(low[2])) end
end
local keep = tonumber(ARGV[4])
if keep then
  local boundary = redis.call('ZRANGE', msg_key, -(keep + 1), -(keep + 1), 'WITHSCORES')
  if #boundary > 0 then raise_to(tonumber(boundary[2])) end
end
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
