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

-- Redis server time in milliseconds: one clock for every producer.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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

-- Wake the readers blocked on one channel. cmd is 'spublish' (Redis >= 7:
-- only the shard owning the channel hears it, no cluster-bus broadcast) or
-- 'publish' (6.2). A server that has no SPUBLISH after all (downgraded under
-- a running client) gets PUBLISH, rather than a script failing after its
-- writes.
local function wake_readers(cmd, channel, payload)
  if cmd == 'spublish' then
    local reply = redis.pcall('SPUBLISH', channel, payload)
    if type(reply) ~= 'table' or not reply.err then
      return
    end
  end
  redis.call('PUBLISH', channel, payload)
end
