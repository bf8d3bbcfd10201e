-- info.lua: one channel's numbers for the management API. Reads only.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms
-- KEYS[5] rvl:read:{C}     zset: client id -> last read time (ms); only
--                          checked, so a broken one shows in the listing
-- Returns {exists 0|1, head, count, oldest_id, oldest_ts, newest_id,
-- newest_ts, subscribers, min_index, oldest_unread_ts, last_write_ts,
-- max_messages, max_age_ms, now_ms, problem}; -1 stands for "none"
-- throughout. problem is "" or says how many members are scored outside
-- the ids rivulet issues (planted around the library; reads skip them):
-- the numbers leave those out. A key of the wrong type is an error naming it.

local id_key, msg_key, sub_key, meta_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not channel_exists(id_key, msg_key, sub_key) then
  return {0}
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset',
  meta_key, 'hash', KEYS[5], 'zset'})
if broken then return broken end
local outside = redis.call('ZCOUNT', msg_key, '-inf', '(0')
  + redis.call('ZCOUNT', msg_key, '(' .. int(MAX_INT), '+inf')
local problem = ''
if outside > 0 then
  problem = msg_key .. ' holds ' .. outside .. ' member(s) scored outside 0..' .. int(MAX_INT)
    .. ', which no message id is (written around the library?); reads skip them'
end

local function first_of(range)
  if #range == 0 then return -1, -1 end
  return tonumber(range[2]), msg_ts(range[1]) or -1
end

local head = head_of(id_key)
local oldest_id, oldest_ts = first_of(redis.call('ZRANGEBYSCORE', msg_key, 0, int(MAX_INT),
  'WITHSCORES', 'LIMIT', 0, 1))
local newest_id, newest_ts = first_of(redis.call('ZREVRANGEBYSCORE', msg_key, int(MAX_INT), 0,
  'WITHSCORES', 'LIMIT', 0, 1))
oldest_id, newest_id = shown_id(oldest_id), shown_id(newest_id)
local subscribers = redis.call('ZCARD', sub_key)
local min_index, unread_ts = -1, -1
if subscribers > 0 then
  min_index = shown_id(score_of(redis.call('ZRANGE', sub_key, 0, 0, 'WITHSCORES')[2]))
  local _, ts = first_of(redis.call('ZRANGEBYSCORE', msg_key, '(' .. int(min_index), '+inf',
    'WITHSCORES', 'LIMIT', 0, 1))
  unread_ts = ts
end
local meta = redis.call('HMGET', meta_key, 'last_write_ts', 'max_messages', 'max_age_ms')
return {1, head, redis.call('ZCARD', msg_key) - outside, oldest_id, oldest_ts, newest_id,
  newest_ts, subscribers, min_index, unread_ts, tonumber(meta[1]) or -1,
  tonumber(meta[2]) or -1, tonumber(meta[3]) or -1, now_ms(), problem}
