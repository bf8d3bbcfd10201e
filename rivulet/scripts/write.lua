-- write.lua: append a batch of messages to one channel in one atomic step.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms, and
--                          w:<writer> -> "<token> <first id>" of its last write
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (history), oldest first
-- KEYS[6] rvl:hcfg:{C}     hash: history settings, last snapshot time
-- ARGV[1] mode: "sub" (writer must be subscribed), "exists" (channel must
--         exist) or "create"
-- ARGV[2] writer's id (checked in "sub" mode; names its last-write field)
-- ARGV[3] src, already encoded as a JSON string literal
-- ARGV[4] write token: the writer's retry of its last write (same token)
--         returns that write's ids instead of storing it again
-- ARGV[5] pub/sub channel to wake blocked readers on
-- ARGV[6] publish command for it: "spublish" (Redis >= 7) or "publish"
-- ARGV[7..] each message's data, already encoded as a JSON string literal
-- Returns {first_id, count, duplicate 0|1}. Every check comes before the
-- first write (INCRBY), so a refused write changes nothing and burns no id.

local id_key, msg_key, sub_key, meta_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, writer, src, token, wake = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local publish = ARGV[6]
local count = #ARGV - 6
local last_field = 'w:' .. writer

local broken = broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset',
  meta_key, 'hash'})
if broken then return broken end

if mode == 'sub' then
  if not redis.call('ZSCORE', sub_key, writer) then
    return redis.error_reply('RIVULET_NOTSUBSCRIBED client is not subscribed to this channel')
  end
elseif mode == 'exists' then
  if not channel_exists(id_key, msg_key, sub_key) then
    return redis.error_reply('RIVULET_NOCHANNEL')
  end
end

-- One read for the retry check and the caps.
local meta = redis.call('HMGET', meta_key, last_field, 'max_messages', 'max_age_ms')
if meta[1] then
  local seen, first_seen = string.match(meta[1], '^(%S+) (%d+)$')
  if seen == token then
    return {tonumber(first_seen), count, 1}
  end
end

local now = now_ms()
local last = redis.call('INCRBY', id_key, count)
local first = last - count + 1
clamp_to_head(sub_key, first - 1)

local prefix = ',"ts":' .. int(now) .. ',"src":' .. src .. ',"data":'
local args = {}
for i = 1, count do
  local id = first + i - 1
  args[#args + 1] = id
  args[#args + 1] = '{"id":' .. int(id) .. prefix .. ARGV[6 + i] .. '}'
  if #args >= 4000 then  -- stay well inside Lua's stack for unpack
    redis.call('ZADD', msg_key, unpack(args))
    args = {}
  end
end
if #args > 0 then
  redis.call('ZADD', msg_key, unpack(args))
end
redis.call('HSET', meta_key, 'last_write_ts', now, last_field, token .. ' ' .. int(first))
if meta[2] or meta[3] then
  apply_caps(msg_key, tonumber(meta[2]), tonumber(meta[3]), now)
end

record_history(id_key, sub_key, KEYS[5], KEYS[6])
wake_readers(publish, wake, last)
return {first, count, 0}
