-- write.lua: append a batch of messages to one channel in one atomic step.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms
-- KEYS[5] rvl:dedup:{C}    zset: write token -> expiry (ms)
-- KEYS[6] rvl:dedupid:{C}  hash: write token -> first id of that write
-- ARGV[1] mode: "sub" (writer must be subscribed), "exists" (channel must
--         exist) or "create"
-- ARGV[2] writer's client id (checked in "sub" mode)
-- ARGV[3] src, already encoded as a JSON string literal
-- ARGV[4] write token, "" for none: a retried call with the same token
--         returns the first call's ids instead of writing again
-- ARGV[5] how long a token is remembered (ms)
-- ARGV[6] pub/sub channel to wake blocked readers on
-- ARGV[7..] each message's data, already encoded as a JSON string literal
-- Returns {first_id, count, duplicate 0|1}.

local id_key, msg_key, sub_key, meta_key, tok_key, tok_ids_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local mode, writer, src, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local token_ms, wake = tonumber(ARGV[5]), ARGV[6]
local count = #ARGV - 6

if mode == 'sub' then
  if not redis.call('ZSCORE', sub_key, writer) then
    return redis.error_reply('RIVULET_NOTSUBSCRIBED client is not subscribed to this channel')
  end
elseif mode == 'exists' then
  if not channel_exists(id_key, msg_key, sub_key) then
    return redis.error_reply('RIVULET_NOCHANNEL')
  end
end

local now = now_ms()
if token ~= '' then
  local seen = redis.call('HGET', tok_ids_key, token)
  if seen then
    return {tonumber(seen), count, 1}
  end
end

local head = head_of(id_key)
clamp_to_head(sub_key, head)
local last = redis.call('INCRBY', id_key, count)
local first = last - count + 1

local prefix = ',"ts":' .. now .. ',"src":' .. src .. ',"data":'
local args = {}
for i = 1, count do
  local id = first + i - 1
  args[#args + 1] = id
  args[#args + 1] = '{"id":' .. id .. prefix .. ARGV[6 + i] .. '}'
  if #args >= 4000 then  -- stay well inside Lua's stack for unpack
    redis.call('ZADD', msg_key, unpack(args))
    args = {}
  end
end
if #args > 0 then
  redis.call('ZADD', msg_key, unpack(args))
end
redis.call('HSET', meta_key, 'last_write_ts', now)
enforce_caps(msg_key, meta_key, now)

if token ~= '' then
  local expired = redis.call('ZRANGEBYSCORE', tok_key, '-inf', now, 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('ZREM', tok_key, unpack(expired))
    redis.call('HDEL', tok_ids_key, unpack(expired))
  end
  redis.call('ZADD', tok_key, now + token_ms, token)
  redis.call('HSET', tok_ids_key, token, first)
end

redis.call('PUBLISH', wake, last)
return {first, count, 0}
