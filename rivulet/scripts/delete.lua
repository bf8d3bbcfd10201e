-- delete.lua: delete one channel: messages, indexes, counter, everything.
--
-- KEYS[1..8] the channel's keys: rvl:id, msg, channel, meta, read, lock,
--            hist, hcfg (all {C})
-- KEYS[9]    rvl:bell:{C}, its doorbell stream
-- ARGV[1] pub/sub channel of the channel's wake-ups: blocked readers look
--         again and find the channel gone
-- ARGV[2] publish command for it: "spublish" (Redis >= 7) or "publish"
-- Returns {existed 0|1, client ids that were subscribed...}; the caller
-- removes the channel from each of those clients' rvl:index: mirrors.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
if not channel_exists(id_key, msg_key, sub_key) then
  return {0}
end
local reply = {1}
for _, client in ipairs(redis.call('ZRANGE', sub_key, 0, -1)) do
  reply[#reply + 1] = client
end
redis.call('DEL', unpack(KEYS))
-- No ring of the doorbell: Redis serves a reader blocked on a stream only if
-- the stream still exists when the script ends, and this one must go. A
-- reader waiting on it finds the channel gone at its next heartbeat; one on
-- pub/sub (a cluster) at once.
wake_readers(ARGV[2], ARGV[1], 0)
return reply
