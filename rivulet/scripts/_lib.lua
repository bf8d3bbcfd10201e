-- _lib.lua: helpers prepended to every rivulet script when it is loaded.
-- Each script still declares every key it touches in KEYS.

local unpack = table.unpack or unpack

-- An integer as text. Lua's own number-to-text ("%.14g") turns 10^14 into
-- "1e+14"; ids and stamps must keep every digit in JSON and score ranges.
local function int(n)
  return string.format('%d', math.floor(n))
end

-- The largest count or id rivulet handles: doubles are exact up to 2^53.
local MAX_INT = 9007199254740991

-- Redis server time in milliseconds: one clock for every producer. Asked
-- once per script run (these locals live for one call), so history
-- recording reuses the time the script already asked for.
local _now_ms = nil
local function now_ms()
  if not _now_ms then
    local t = redis.call('TIME')
    _now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return _now_ms
end

local function head_of(id_key)
  return tonumber(redis.call('GET', id_key) or '0') or 0
end

-- The "ts" field of a packed message, or nil when the member is not ours.
local function msg_ts(member)
  if not member then return nil end
  return tonumber(string.match(member, '"ts"%s*:%s*(%d+)'))
end

-- Delete what every current subscriber has read; a channel without
-- subscribers keeps its messages.
local function prune_consumed(sub_key, msg_key)
  local low = redis.call('ZRANGE', sub_key, 0, 0, 'WITHSCORES')
  if #low == 0 then return 0 end
  return redis.call('ZREMRANGEBYSCORE', msg_key, '-inf', low[2])
end

-- The highest id among the oldest run of messages stamped at or before
-- cutoff_ms (ids and stamps grow together), or nil when there is none.
-- Members with no stamp (not ours) go with the stamped ones around them.
local function last_id_at_or_before(msg_key, cutoff_ms)
  local found = nil
  local start = 0
  while true do
    local page = redis.call('ZRANGE', msg_key, start, start + 99, 'WITHSCORES')
    if #page == 0 then return found end
    for i = 1, #page, 2 do
      local ts = msg_ts(page[i])
      if ts ~= nil then
        if ts > cutoff_ms then return found end
        found = tonumber(page[i + 1])
      end
    end
    start = start + 100
  end
end

-- Apply retention caps (nil: no cap); returns how many messages went.
-- Caps written around the library are clamped, so a write never fails on one.
local function apply_caps(msg_key, max_messages, max_age_ms, now)
  local removed = 0
  if max_messages then
    max_messages = math.max(0, math.min(max_messages, MAX_INT))
    removed = removed + redis.call('ZREMRANGEBYRANK', msg_key, 0, -(max_messages + 1))
  end
  if max_age_ms then
    max_age_ms = math.max(0, math.min(max_age_ms, MAX_INT))
    local upto = last_id_at_or_before(msg_key, now - max_age_ms)
    if upto then
      removed = removed + redis.call('ZREMRANGEBYSCORE', msg_key, '-inf', upto)
    end
  end
  return removed
end

-- The highest id a prune with these criteria (their union) deletes up to, or
-- -1 for none: ids <= upto_id, messages at least older_ms old, what every
-- subscriber has read (consumed == '1'), all but the newest keep. Each is a
-- string argument, '' for "not this criterion". Shared by prune.lua and
-- prune_preview.lua, so the preview counts exactly what the prune deletes.
local function prune_upto(msg_key, sub_key, upto_id, older_ms, consumed, keep)
  local upto = -1
  local function raise_to(id)
    if id and id > upto then upto = id end
  end
  raise_to(tonumber(upto_id))
  older_ms = tonumber(older_ms)
  if older_ms then
    raise_to(last_id_at_or_before(msg_key, now_ms() - older_ms))
  end
  if consumed == '1' then
    local low = redis.call('ZRANGE', sub_key, 0, 0, 'WITHSCORES')
    if #low > 0 then raise_to(tonumber(low[2])) end
  end
  keep = tonumber(keep)
  if keep then
    local boundary = redis.call('ZRANGE', msg_key, -(keep + 1), -(keep + 1), 'WITHSCORES')
    if #boundary > 0 then raise_to(tonumber(boundary[2])) end
  end
  return upto
end

-- Indexes past the head (a recreated channel, a foreign writer) count as the
-- head; moving them down keeps later writes from being skipped.
local function clamp_to_head(sub_key, head)
  local beyond = redis.call('ZRANGEBYSCORE', sub_key, '(' .. int(head), '+inf')
  for _, client in ipairs(beyond) do
    redis.call('ZADD', sub_key, head, client)
  end
  return #beyond
end

local function channel_exists(id_key, msg_key, sub_key)
  return redis.call('EXISTS', id_key, msg_key, sub_key) > 0
end

-- Checks before the first write, so a script that fails changes nothing:
-- every key in specs ({key, type, key, type, ...}) is absent or of its type,
-- and a counter (a 'counter' spec: a string) holds a whole number. Returns
-- the error reply to return (naming the broken key), or nil when all is well.
-- Keys of the wrong type are written around the library; failing here keeps
-- one channel's broken key from costing anything but that channel.
local function broken_keys(specs)
  for i = 1, #specs, 2 do
    local key, want = specs[i], specs[i + 1]
    local found = redis.call('TYPE', key)
    found = found.ok or found
    local expected = want == 'counter' and 'string' or want
    if found ~= 'none' and found ~= expected then
      return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. key .. ' holds a ' .. found
        .. ', not a ' .. expected .. ' (written around the library?)')
    end
    if want == 'counter' and found == 'string' then
      local value = redis.call('GET', key)
      if not string.match(value, '^%d+$') or tonumber(value) > MAX_INT then
        return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. key
          .. ' holds no message id counter (written around the library?)')
      end
    end
  end
  return nil
end

-- True for a score that can be a message id or an index: a whole number in
-- [0, MAX_INT]. Members planted with 2.5, inf or -1 are not messages.
local function is_id(score)
  return score ~= nil and score >= 0 and score <= MAX_INT and score == math.floor(score)
end

-- A score reply as a number: "inf" and "-inf" included (newer Luas' tonumber
-- refuses them), nil for no score (false).
local function score_of(reply)
  if not reply then return nil end
  local n = tonumber(reply)
  if n then return n end
  if string.sub(reply, 1, 1) == '-' then return -math.huge end
  return math.huge
end

-- A score as a whole number a reply can carry (Redis turns a Lua inf into
-- -2^63): 2.5 -> 2, inf -> MAX_INT, -inf -> 0. -1 ("none") stays -1.
local function shown_id(score)
  if score == -1 then return -1 end
  if score ~= score or score < 0 then return 0 end
  return math.floor(math.min(score, MAX_INT))
end

-- The index to store for a client: a planted non-integer or infinite one
-- reads as the nearest id at or below it, within [0, head].
local function sane_index(index, head)
  if index ~= index or index < 0 then return 0 end
  if index > head then return head end
  return math.floor(index)
end

-- prune_consumed for callers that must delete before they add: under
-- maxmemory + noeviction Redis lets a script that has already written go on
-- writing, so a read or commit that deletes first still works when Redis is
-- full. `index` is the caller's index as it is about to be stored.
local function prune_before_move(sub_key, msg_key, client, index)
  local low = redis.call('ZRANGE', sub_key, 0, 1, 'WITHSCORES')
  local floor = index
  for i = 1, #low, 2 do
    if low[i] ~= client then
      floor = math.min(floor, score_of(low[i + 1]))
      break
    end
  end
  if floor < 0 then floor = -1 end  -- a planted -inf index keeps everything
  return redis.call('ZREMRANGEBYSCORE', msg_key, '-inf', int(floor))
end

-- Store a reader's index (read.lua, commit.lua) and its read time, deleting
-- first what the move lets go: even an unchanged index is written after the
-- delete, so the read time is allowed on a full Redis too.
local function store_index(sub_key, msg_key, read_key, client, stored, index)
  prune_before_move(sub_key, msg_key, client, index)
  if index ~= stored then
    redis.call('ZADD', sub_key, index, client)
  end
  redis.call('ZADD', read_key, now_ms(), client)
end

-- Wake the readers blocked on one channel. bell is its rvl:bell:{C} doorbell
-- stream (nil: none declared), which readers on a standalone Redis wait on
-- with XREAD BLOCK (rivulet/doorbell.py); Redis serves them as this script
-- ends. Trimmed to about one entry: an exact MAXLEN 1 costs 3 us a ring
-- more and saves no memory (a stream's node is never shrunk, only freed once
-- all its entries are gone, which '~' does). Under pcall: a bell of the wrong
-- type (written around the library) costs its readers the doorbell, who then
-- wait on pub/sub instead, not the caller its already-made writes. cmd is
-- 'spublish' (Redis >= 7: only the shard owning the channel hears it, no
-- cluster-bus broadcast) or 'publish' (6.2), for readers on pub/sub (a
-- cluster). A server that has no SPUBLISH after all (downgraded under a
-- running client) gets PUBLISH, rather than a script failing after its
-- writes.
local function wake_readers(cmd, channel, payload, bell)
  if bell then
    redis.pcall('XADD', bell, 'MAXLEN', '~', '1', '*', 'w', payload)
  end
  if cmd == 'spublish' then
    local reply = redis.pcall('SPUBLISH', channel, payload)
    if type(reply) ~= 'table' or not reply.err then
      return
    end
  end
  redis.call('PUBLISH', channel, payload)
end

-- History defaults (SPEC section 8): a snapshot every 10 s, kept for an hour.
local HISTORY_INTERVAL_MS = 10000
local HISTORY_KEEP_MS = 3600000

-- A failed pcall reply (WRONGTYPE, OOM) rather than a value.
local function failed(reply)
  return type(reply) == 'table' and reply.err ~= nil
end

-- Take a lag snapshot of one channel when the last one is older than its
-- interval: "<ts ms> <head>" then "<index>\t<client>" per subscriber, one
-- line each (names hold no control characters), appended to hist_key and
-- trimmed to keep / interval entries. cfg_key is the channel's history hash
-- (last, interval_ms, keep_ms). Costs one HMGET except once per interval.
-- Best effort and last in its script: every call is a pcall, so a broken
-- history key or a full Redis (maxmemory) skips recording and never fails
-- the read, commit or write that carries it. Returns the time of the
-- channel's last snapshot (nil for none) and its interval (0: recording
-- stopped), for a caller that remembers when the next is due; nothing when
-- the settings cannot be read.
local function record_history(id_key, sub_key, hist_key, cfg_key)
  local cfg = redis.pcall('HMGET', cfg_key, 'last', 'interval_ms', 'keep_ms')
  if failed(cfg) then return end
  local interval = tonumber(cfg[2]) or HISTORY_INTERVAL_MS
  if interval <= 0 then return nil, 0 end  -- recording stopped (interval=None)
  local now = now_ms()
  local last = tonumber(cfg[1])
  if last and now >= last and now - last < interval then return last, interval end
  local keep = tonumber(cfg[3]) or HISTORY_KEEP_MS
  local lines = {int(now) .. ' ' .. int(head_of(id_key))}
  local rows = redis.call('ZRANGE', sub_key, 0, -1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    lines[#lines + 1] = int(shown_id(score_of(rows[i + 1]))) .. '\t' .. rows[i]
  end
  if failed(redis.pcall('RPUSH', hist_key, table.concat(lines, '\n'))) then return end
  redis.pcall('LTRIM', hist_key, -(math.max(0, math.floor(keep / interval)) + 1), -1)
  redis.pcall('HSET', cfg_key, 'last', now)
  return now, interval
end
