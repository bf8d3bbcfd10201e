-- write.lua: append a batch of messages to one channel in one atomic step.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms,
--                          w:<writer> -> "<token> <first id> ..." of its last
--                          8 writes or more, newest first, and hist_last,
--                          hist_interval: when the history was last recorded
--                          and its interval, as record_history last said
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (history), oldest first
-- KEYS[6] rvl:hcfg:{C}     hash: history settings, last snapshot time
-- KEYS[7] rvl:bell:{C}     stream: the doorbell blocked readers wait on
-- ARGV[1] mode: "sub" (writer must be subscribed), "exists" (channel must
--         exist) or "create"
-- ARGV[2] writer's id (checked in "sub" mode; names its last-write field)
-- ARGV[3] src, already encoded as a JSON string literal
-- ARGV[4] pub/sub channel to wake blocked readers on
-- ARGV[5] publish command for it: "spublish" (Redis >= 7) or "publish"
-- ARGV[6] write token: a retry of one of the writer's last 8 (or more)
--         writes (same token) returns that write's ids instead of storing it
--         again. Last of the fixed arguments, so a client can send the ones
--         before it packed once per channel.
-- ARGV[7..] each message's data, already encoded as a JSON string literal
-- Returns the first id issued (the batch's ids are first .. first + count - 1),
-- or minus the first id of the earlier write a retried token names (nothing
-- stored): one integer is the cheapest reply to send and parse. Every check
-- comes before the first write (the ZADD), so a refused write changes
-- nothing and burns no id.
--
-- This is the hot path (bench/core.py; issue 9), measured per line with
-- commandstats: each redis.call costs 0.2-0.4 us on top of its command, and
-- the Lua around them as much again. So the type checks ride on the reads the
-- write needs anyway (GET of the counter, ZSCORE, HMGET, the first ZADD, each
-- under pcall); only when one fails does broken_keys run, for its precise
-- error. The counter is read first and SET after the ZADD, which checks the
-- messages key's type and so is the first write. The beyond-head repair asks
-- ZCOUNT (an integer) and fetches the clients only when there are some.

local id_key, msg_key, sub_key, meta_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, writer, src, token = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local count = #ARGV - 6
local last_field = 'w:' .. writer
-- At least a writer's last 8 tokens are kept: enough for a producer's calls
-- in flight plus the client's own writes. The pattern keeps the newest 7
-- "<token> <first>" pairs (with this write's, 8); matching it costs more than
-- the rest of the bookkeeping, so it runs only once the field is past
-- TRIM_AT characters (about 16 pairs of the client's tokens), which keeps
-- between 8 and about twice as many.
local KEEP = '^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+'
local TRIM_AT = 400

-- The precise error for a failed check; else the failed reply itself.
local function broken(reply)
  return broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset', meta_key, 'hash'})
    or reply or redis.error_reply('RIVULET_WRONGTYPE a key of this channel is broken')
end

local head = redis.pcall('GET', id_key)
if head then
  -- A failed GET (wrong type) is a table; a planted counter is no whole number.
  if type(head) ~= 'string' or not string.match(head, '^%d+$') then return broken() end
  head = tonumber(head)
  if head > MAX_INT then return broken() end
else
  head = 0
end

if mode == 'sub' then
  local subscribed = redis.pcall('ZSCORE', sub_key, writer)
  if not subscribed then
    return redis.error_reply('RIVULET_NOTSUBSCRIBED client is not subscribed to this channel')
  end
  if type(subscribed) == 'table' then return broken() end
else
  local found = redis.call('TYPE', sub_key)
  found = found.ok or found
  if found ~= 'none' and found ~= 'zset' then return broken() end
  if mode == 'exists' and not channel_exists(id_key, msg_key, sub_key) then
    return redis.error_reply('RIVULET_NOCHANNEL')
  end
end

-- One read for the retry check, the caps and whether history is due.
local meta = redis.pcall('HMGET', meta_key, last_field, 'max_messages', 'max_age_ms',
  'hist_last', 'hist_interval')
if meta.err then return broken() end
-- "<token> <first> <token> <first> ...": a plain find, no pattern per pair
-- (tokens hold no spaces, so ' token ' only matches a whole token).
local recent = meta[1]
if recent then
  -- First the plain find of "<token> " (a miss, the common case, then costs
  -- no copy of the field); a hit inside a word asks the exact question.
  local at = string.find(recent, token .. ' ', 1, true)
  if at and at > 1 and string.byte(recent, at - 1) ~= 32 then
    at = string.find(' ' .. recent, ' ' .. token .. ' ', 1, true)
  end
  if at then
    -- Its first id, as this script wrote it: a whole number 1..MAX_INT.
    -- Anything else was written around the library, and answering it
    -- would hand the caller a wrong id.
    local word = string.match(recent, '^[^ ]*', at + #token + 1)
    local earlier = string.match(word, '^[1-9]%d*$') and #word <= 16 and tonumber(word)
    if not earlier or earlier > MAX_INT then
      return redis.error_reply('RIVULET_WRONGTYPE the write record ' .. last_field .. ' in '
        .. meta_key .. ' is not rivulet\'s (written around the library?)')
    end
    return -earlier
  end
end

-- Ids and stamps go to redis.call as text made once: a Lua number argument
-- is formatted by Redis ("%.17g") on every call, about 0.3 us each.
local now = now_ms()
local now_s = int(now)
local first = head + 1
local first_s = int(first)
local added
if count == 1 then
  added = redis.pcall('ZADD', msg_key, first_s, '{"id":' .. first_s .. ',"ts":' .. now_s
    .. ',"src":' .. src .. ',"data":' .. ARGV[7] .. '}')
else
  local prefix = ',"ts":' .. now_s .. ',"src":' .. src .. ',"data":'
  local args = {}
  for i = 1, count do
    local id = int(head + i)
    args[#args + 1] = id
    args[#args + 1] = '{"id":' .. id .. prefix .. ARGV[6 + i] .. '}'
    if #args >= 4000 or i == count then  -- stay well inside Lua's stack for unpack
      -- The first ZADD is the first write: a messages key of the wrong type
      -- fails it, and then nothing has changed.
      added = redis.pcall('ZADD', msg_key, unpack(args))
      if type(added) == 'table' then return broken(added) end
      args = {}
    end
  end
end
if type(added) == 'table' then return broken(added) end
local last = count == 1 and first_s or int(head + count)
redis.call('SET', id_key, last)
if redis.call('ZCOUNT', sub_key, '(' .. int(head), '+inf') > 0 then
  clamp_to_head(sub_key, head)
end

-- This write's token first, then the earlier ones (the newest 7 of them,
-- once the field has grown past TRIM_AT).
local tokens = token .. ' ' .. first_s
if recent then
  if #recent > TRIM_AT then recent = string.match(recent, KEEP) or recent end
  tokens = tokens .. ' ' .. recent
end
redis.call('HSET', meta_key, 'last_write_ts', now_s, last_field, tokens)
if meta[2] or meta[3] then
  apply_caps(msg_key, tonumber(meta[2]), tonumber(meta[3]), now)
end

-- History: record_history asks its settings hash (one more HMGET per call);
-- the write remembers in its meta hash what it answered, and asks only once
-- that says a snapshot is due. set_history.lua forgets it, with the settings.
local h_last, h_interval = tonumber(meta[4]), tonumber(meta[5])
if not h_interval or (h_interval > 0 and not (h_last and now >= h_last
    and now - h_last < h_interval)) then
  local last_snapshot, interval = record_history(id_key, sub_key, KEYS[5], KEYS[6])
  if interval then
    redis.pcall('HSET', meta_key, 'hist_interval', interval, 'hist_last', last_snapshot or 0)
  end
end
wake_readers(ARGV[5], ARGV[4], last, KEYS[7])
return first
