-- lagscan.lua: one channel's row for the listing (Admin.channels) and for
-- /metrics (Admin.lag_scan): info.lua's numbers, subscribers.lua's rows and
-- the history the status rules read, in one script and one string. Reads only.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:meta:{C}     hash: last_write_ts, max_messages, max_age_ms
-- KEYS[5] rvl:read:{C}     zset: client id -> last read time (ms)
-- KEYS[6] rvl:hist:{C}     list: lag snapshots, oldest first
-- KEYS[7] rvl:hcfg:{C}     hash: s:<client> -> subscribe time (ms)
-- ARGV[1] now (ms), a scan's one clock; "" reads Redis's TIME here
-- ARGV[2] the status window (ms)
-- ARGV[3] "listing": info.lua's checks and numbers, the whole history;
--         "scan" (/metrics): a channel that does not exist is still an
--         error when its meta or read key is of the wrong type, info.lua's
--         oldest/newest/unread numbers are -1 when they would cost calls,
--         and only the snapshots the status rules read are sent
-- Returns 0 for no such channel, else one string: fields joined by "\n"
-- (names hold no control characters): head, count, oldest_id, oldest_ts,
-- newest_id, newest_ts, min_index, oldest_unread_ts, last_write_ts,
-- max_messages, max_age_ms, now_ms, problem (info.lua's; "" for none), then
-- per subscriber what subscribers.lua gives (client, index, pending, ts of
-- its oldest unread stored message, last read ts, subscribe ts); -1 stands
-- for "none". Then, each after a "\30" (snapshots hold "\n" and "\t", never
-- "\30"), the history snapshots. A channel where a planted subscriber or
-- snapshot holds a "\n" or "\30" comes as an array instead: {the header
-- string, subscriber count, their fields one by one, the snapshots}. A key
-- of the wrong type is the error info.lua gives (broken_keys), except the
-- history keys: as in the listing, those cost the judgement only.
--
-- Why this shape: one string, not an array (parsing ~40 reply elements a
-- channel was most of a scan's client time), and as few redis.calls as the
-- numbers allow (each costs about 0.5-1 us on top of its command): keys are
-- read with pcall and only a failed read pays for broken_keys' TYPE checks;
-- one ZCOUNT stands for info.lua's two, and the read and subscribe times of
-- all subscribers come in one call each. Numbers go out as
-- string.format('%d') writes them: the C cast Redis applies to a Lua number
-- in a reply, so each field is what info.lua and subscribers.lua send.
--
-- Snapshots sent by "scan": from the newest one at or before the window's
-- start on, which is all rivulet/status.py's judge and rate read. The whole
-- list goes when a subscriber needs older ones: messages pruned unread (its
-- time lag is then when the head first passed its index, possibly before
-- the window) or no subscribe time (the rules then fall back on its first
-- snapshot).

local id_key, msg_key, sub_key, meta_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local hist_key, cfg_key = KEYS[6], KEYS[7]
local listing = ARGV[3] == 'listing'

local function broken(first_error)
  return broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset', meta_key, 'hash',
    read_key, 'zset'}) or first_error
end

local head = redis.pcall('GET', id_key)
local total = redis.pcall('ZCARD', msg_key)
local rows = redis.pcall('ZRANGE', sub_key, 0, -1, 'WITHSCORES')
for _, reply in ipairs({head, total, rows}) do
  if failed(reply) then return broken(reply) end
end
if not head and total == 0 and #rows == 0 then
  -- What channel_exists says, without its EXISTS.
  if listing then return 0 end
  return broken_keys({meta_key, 'hash', read_key, 'zset'}) or 0
end
if head and (not string.match(head, '^%d+$') or tonumber(head) > MAX_INT) then
  return broken(nil)
end
local meta = redis.pcall('HMGET', meta_key, 'last_write_ts', 'max_messages', 'max_age_ms')
local reads = redis.pcall('ZRANGE', read_key, 0, -1, 'WITHSCORES')
for _, reply in ipairs({meta, reads}) do
  if failed(reply) then return broken(reply) end
end
local head_id = tonumber(head or '0')
local now = tonumber(ARGV[1]) or now_ms()

-- info.lua's count leaves out members scored outside the ids rivulet
-- issues (one ZCOUNT here for its two: the rest of ZCARD is outside).
local count = total > 0 and redis.call('ZCOUNT', msg_key, 0, int(MAX_INT)) or 0
local outside = total - count

-- {pending, ts of the oldest of them} past an index (a score reply, as
-- subscribers.lua sends it to ZCOUNT); subscribers often share an index:
-- each one is looked up once, and not at all in an empty channel.
local seen = {}
local function past(index)
  local known = seen[index]
  if not known then
    known = {0, -1}
    if total > 0 then
      local first = redis.call('ZRANGEBYSCORE', msg_key, '(' .. index, '+inf', 'LIMIT', 0, 1)
      known = {redis.call('ZCOUNT', msg_key, '(' .. index, '+inf'), msg_ts(first[1]) or -1}
    end
    seen[index] = known
  end
  return known
end

local oldest_id, oldest_ts, newest_id, newest_ts = -1, -1, -1, -1
local min_index, unread_ts = -1, -1
if listing then
  local function first_of(range)
    if #range == 0 then return -1, -1 end
    return tonumber(range[2]), msg_ts(range[1]) or -1
  end
  if count > 0 then
    oldest_id, oldest_ts = first_of(redis.call('ZRANGEBYSCORE', msg_key, 0, int(MAX_INT),
      'WITHSCORES', 'LIMIT', 0, 1))
    newest_id, newest_ts = first_of(redis.call('ZREVRANGEBYSCORE', msg_key, int(MAX_INT), 0,
      'WITHSCORES', 'LIMIT', 0, 1))
    oldest_id, newest_id = shown_id(oldest_id), shown_id(newest_id)
  end
  if #rows > 0 then
    min_index = shown_id(score_of(rows[2]))
    unread_ts = past(int(min_index))[2]
  end
end
local problem = ''
if outside > 0 then
  problem = msg_key .. ' holds ' .. outside .. ' member(s) scored outside 0..' .. int(MAX_INT)
    .. ', which no message id is (written around the library?); reads skip them'
end
local header = string.format('%d\n%d\n%d\n%d\n%d\n%d\n%d\n%d\n%d\n%d\n%d\n%d\n',
  head_id, count, oldest_id, oldest_ts, newest_id, newest_ts, min_index, unread_ts,
  tonumber(meta[1]) or -1, tonumber(meta[2]) or -1, tonumber(meta[3]) or -1, now) .. problem

-- Subscribers: read and subscribe times for all of them in two calls, not
-- two each; subscribers often share an index: look each one up once.
local read_at, since_at = {}, {}
for i = 1, #reads, 2 do
  read_at[reads[i]] = reads[i + 1]
end
local cfg = redis.pcall('HGETALL', cfg_key)
if not failed(cfg) then
  for i = 1, #cfg, 2 do
    since_at[cfg[i]] = cfg[i + 1]
  end
end
local full = listing
local rows_out = {}  -- client, then its five numbers as one string
-- A member planted with a "\n" or "\30" in its name would shift the
-- fields of one string: such a channel is sent as an array (below).
local odd = #rows > 0 and string.find(table.concat(rows), '[\n\30]') ~= nil
for i = 1, #rows, 2 do
  local client, index = rows[i], rows[i + 1]
  local known = past(index)
  local shown = shown_id(score_of(index))
  local since = tonumber(since_at['s:' .. client]) or -1
  if since < 0 or known[1] < head_id - shown then
    full = true
  end
  rows_out[#rows_out + 1] = client
  rows_out[#rows_out + 1] = string.format('%d\n%d\n%d\n%d\n%d', shown, known[1], known[2],
    tonumber(read_at[client]) or -1, since)
end

-- History: a key of the wrong type reads as none.
local function ts_of(entry)
  return tonumber(string.match(entry, '^(%d+) '))
end

local function history()
  if full then
    local every = redis.pcall('LRANGE', hist_key, 0, -1)
    return failed(every) and {} or every
  end
  -- Newest last: fetch from the end until the window's start is covered.
  local start = now - tonumber(ARGV[2])
  local want = 16
  local got
  while true do
    got = redis.pcall('LRANGE', hist_key, -want, -1)
    if failed(got) then return {} end
    local oldest = got[1] and ts_of(got[1])
    if #got < want or (oldest and oldest <= start) then
      break
    end
    want = want * 4
  end
  local from = 1
  for i = #got, 1, -1 do
    local ts = ts_of(got[i])
    if ts and ts <= start then
      from = i
      break
    end
  end
  local entries = {}
  for i = from, #got do
    entries[#entries + 1] = got[i]
  end
  return entries
end

local entries = history()
for _, entry in ipairs(entries) do
  if string.find(entry, '\30', 1, true) then
    odd = true
  end
end
if odd then
  -- {header, subscriber count, their fields one by one, snapshots}.
  local reply = {header, #rows / 2}
  for i = 1, #rows_out, 2 do
    reply[#reply + 1] = rows_out[i]
    for field in string.gmatch(rows_out[i + 1], '[^\n]+') do
      reply[#reply + 1] = field
    end
  end
  for _, entry in ipairs(entries) do
    reply[#reply + 1] = entry
  end
  return reply
end
local out = header
if #rows_out > 0 then
  out = out .. '\n' .. table.concat(rows_out, '\n')
end
if #entries == 0 then
  return out
end
return out .. '\30' .. table.concat(entries, '\30')
