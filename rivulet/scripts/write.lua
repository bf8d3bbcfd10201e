-- write.lua: append a batch of messages to one channel in one atomic step.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms, and
--                          w:<writer> -> "<token> <first id> ..." of its last
--                          RECENT_TOKENS writes, newest first
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (history), oldest first
-- KEYS[6] rvl:hcfg:{C}     hash: history settings, last snapshot time
-- KEYS[7] rvl:bell:{C}     stream: the doorbell blocked readers wait on
-- ARGV[1] mode: "sub" (writer must be subscribed), "exists" (channel must
--         exist) or "create"
-- ARGV[2] writer's id (checked in "sub" mode; names its last-write field)
-- ARGV[3] src, already encoded as a JSON string literal
-- ARGV[4] write token: a retry of one of the writer's last RECENT_TOKENS
--         writes (same token) returns that write's ids instead of storing it
--         again
-- ARGV[5] pub/sub channel to wake blocked readers on
-- ARGV[6] publish command for it: "spublish" (Redis >= 7) or "publish"
-- ARGV[7..] each message's data, already encoded as a JSON string literal
-- Returns {first_id, count, duplicate 0|1}. Every check comes before the
-- first write (the ZADD), so a refused write changes nothing and burns no id.
--
-- Each redis.call costs about 1.2 us on top of its command, so the type
-- checks ride on the reads the write needs anyway (GET of the counter,
-- ZSCORE, HMGET, the first ZADD, each under pcall); only when one fails does
-- broken_keys run, for its precise error. The counter is read first and SET
-- last, so the ZADD, which checks the messages key's type, is the first write.

local id_key, msg_key, sub_key, meta_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, writer, src, token, wake = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local publish = ARGV[6]
local count = #ARGV - 6
local last_field = 'w:' .. writer
-- Enough for a producer's calls in flight plus the client's own writes.
local RECENT_TOKENS = 8

-- The precise error for a failed check; else the failed reply itself.
local function broken(reply)
  return broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset', meta_key, 'hash'})
    or reply or redis.error_reply('RIVULET_WRONGTYPE a key of this channel is broken')
end

local function failed(reply)
  return type(reply) == 'table' and reply.err ~= nil
end

local head = redis.pcall('GET', id_key)
if failed(head) then return broken() end
if head then
  if not string.match(head, '^%d+$') or tonumber(head) > MAX_INT then return broken() end
  head = tonumber(head)
else
  head = 0
end

if mode == 'sub' then
  local subscribed = redis.pcall('ZSCORE', sub_key, writer)
  if failed(subscribed) then return broken() end
  if not subscribed then
    return redis.error_reply('RIVULET_NOTSUBSCRIBED client is not subscribed to this channel')
  end
else
  local found = redis.call('TYPE', sub_key)
  found = found.ok or found
  if found ~= 'none' and found ~= 'zset' then return broken() end
  if mode == 'exists' and not channel_exists(id_key, msg_key, sub_key) then
    return redis.error_reply('RIVULET_NOCHANNEL')
  end
end

-- One read for the retry check and the caps.
local meta = redis.pcall('HMGET', meta_key, last_field, 'max_messages', 'max_age_ms')
if failed(meta) then return broken() end
-- "<token> <first> <token> <first> ...": a plain find, no pattern per pair
-- (tokens hold no spaces, so ' token ' only matches a whole token).
local recent = meta[1] or ''
local at = string.find(' ' .. recent, ' ' .. token .. ' ', 1, true)
if at then
  return {tonumber(string.match(recent, '^%d+', at + #token + 1)), count, 1}
end

local now = now_ms()
local first, last = head + 1, head + count
local prefix = ',"ts":' .. int(now) .. ',"src":' .. src .. ',"data":'
local args = {}
local sent = false
for i = 1, count do
  local id = first + i - 1
  args[#args + 1] = id
  args[#args + 1] = '{"id":' .. int(id) .. prefix .. ARGV[6 + i] .. '}'
  if #args >= 4000 or i == count then  -- stay well inside Lua's stack for unpack
    if not sent then
      -- The first write: a messages key of the wrong type fails it, and then
      -- nothing has changed.
      local added = redis.pcall('ZADD', msg_key, unpack(args))
      if failed(added) then return broken(added) end
      sent = true
    else
      redis.call('ZADD', msg_key, unpack(args))
    end
    args = {}
  end
end
redis.call('SET', id_key, int(last))
clamp_to_head(sub_key, head)

-- This write's token first, then the newest RECENT_TOKENS - 1 earlier ones:
-- cut after the (2 * RECENT_TOKENS - 2)th space.
local cut = 0
for _ = 1, 2 * RECENT_TOKENS - 2 do
  cut = string.find(recent, ' ', cut + 1, true)
  if not cut then break end
end
if cut then recent = string.sub(recent, 1, cut - 1) end
local tokens = token .. ' ' .. int(first)
if recent ~= '' then tokens = tokens .. ' ' .. recent end
redis.call('HSET', meta_key, 'last_write_ts', now, last_field, tokens)
if meta[2] or meta[3] then
  apply_caps(msg_key, tonumber(meta[2]), tonumber(meta[3]), now)
end

record_history(id_key, sub_key, KEYS[5], KEYS[6])
wake_readers(publish, wake, last, KEYS[7])
return {first, count, 0}
