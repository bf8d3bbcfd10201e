-- retention.lua: set or clear a channel's caps and apply them at once.
-- Every later write applies them too.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:meta:{C}     hash: max_messages, max_age_ms
-- ARGV[1] most messages to keep, or "" for no cap
-- ARGV[2] oldest age to keep (ms), or "" for no cap
-- Returns how many messages the caps deleted now.

local id_key, msg_key, sub_key, meta_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not channel_exists(id_key, msg_key, sub_key) then
  return redis.error_reply('RIVULET_NOCHANNEL')
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset', meta_key, 'hash'})
if broken then return broken end
local fields = {'max_messages', 'max_age_ms'}
for i = 1, 2 do
  if ARGV[i] == '' then
    redis.call('HDEL', meta_key, fields[i])
  else
    redis.call('HSET', meta_key, fields[i], ARGV[i])
  end
end
return apply_caps(msg_key, tonumber(ARGV[1]), tonumber(ARGV[2]), now_ms())
