-- prune.lua: delete the oldest messages of one channel by any of several
-- criteria (their union).
--
-- KEYS[1] rvl:id:{C}       message id counter (never changed)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- ARGV[1] delete ids <= this, or ""
-- ARGV[2] delete messages at least this old (ms), or ""
-- ARGV[3] "1": delete what every subscriber has read
-- ARGV[4] keep only the newest this many, or ""
-- Returns how many messages were deleted.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
if not channel_exists(id_key, msg_key, sub_key) then
  return redis.error_reply('RIVULET_NOCHANNEL')
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset'})
if broken then return broken end

local upto = prune_upto(msg_key, sub_key, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if upto < 0 then
  return 0
end
return redis.call('ZREMRANGEBYSCORE', msg_key, '-inf', upto)
