-- set_history.lua: a channel's history settings (SPEC section 8).
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:hcfg:{C}     hash: interval_ms, keep_ms, last, s:<client>
-- KEYS[5] rvl:meta:{C}     hash: its hist_last and hist_interval (write.lua's
--                          memory of when a snapshot is due) are forgotten
-- ARGV[1] interval in ms, 0 to stop recording
-- ARGV[2] keep in ms
-- Returns 1, or 0 when there is no such channel (nothing is written: a
-- setting must not outlive, or create, a channel).

local id_key, msg_key, sub_key, cfg_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not channel_exists(id_key, msg_key, sub_key) then
  return 0
end
local broken = broken_keys({cfg_key, 'hash', KEYS[5], 'hash'})
if broken then return broken end
-- Forget the last snapshot time: the new interval applies from the next call.
redis.call('HDEL', cfg_key, 'last')
redis.call('HDEL', KEYS[5], 'hist_last', 'hist_interval')
redis.call('HSET', cfg_key, 'interval_ms', ARGV[1], 'keep_ms', ARGV[2])
return 1
