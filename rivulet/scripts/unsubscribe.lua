-- unsubscribe.lua: remove a client's index from one channel; when the last
-- subscriber leaves, delete the channel.
--
-- KEYS[1..8] the channel's keys: rvl:id, msg, channel, meta, read, lock,
--            hist, hcfg (all {C})
-- KEYS[9]    rvl:bell:{C}, its doorbell stream
-- ARGV[1] client id
-- ARGV[2] pub/sub channel of the channel's wake-ups: a reader blocked on it
--         looks again and finds it has been removed
-- ARGV[3] publish command for it: "spublish" (Redis >= 7) or "publish"
-- Returns {was_subscribed 0|1, channel_deleted 0|1, channel_existed 0|1}.

local msg_key, sub_key, meta_key, read_key = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local client = ARGV[1]

if not channel_exists(KEYS[1], msg_key, sub_key) then
  return {0, 0, 0}
end
-- The id counter is not checked: a channel whose last subscriber leaves is
-- deleted whatever it holds.
local broken = broken_keys({msg_key, 'zset', sub_key, 'zset', meta_key, 'hash',
  read_key, 'zset'})
if broken then return broken end
local removed = redis.call('ZREM', sub_key, client)
redis.call('ZREM', read_key, client)
redis.call('HDEL', meta_key, 'w:' .. client)
redis.pcall('HDEL', KEYS[8], 's:' .. client)
if removed == 0 then
  return {0, 0, 1}
end
wake_readers(ARGV[3], ARGV[2], 0, KEYS[9])
if redis.call('ZCARD', sub_key) == 0 then
  redis.call('DEL', unpack(KEYS))
  return {1, 1, 1}
end
prune_consumed(sub_key, msg_key)
return {1, 0, 1}
