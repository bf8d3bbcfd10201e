-- lagscan.lua: one channel's numbers for /metrics, compactly. Reads only.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:meta:{C}     hash: only checked (its type), as info.lua does
-- KEYS[5] rvl:read:{C}     zset: client id -> last read time (ms)
-- KEYS[6] rvl:hist:{C}     list: lag snapshots, oldest first
-- KEYS[7] rvl:hcfg:{C}     hash: s:<client> -> subscribe time (ms)
-- ARGV[1] now (ms), the scan's one clock
-- ARGV[2] the status window (ms)
-- Returns 0 for no such channel, else one string: fields joined by "\n"
-- (names hold no control characters): head, count, planted 0|1, then per
-- subscriber what subscribers.lua gives (client, index, pending, ts of its
-- oldest unread stored message, last read ts, subscribe ts; -1: none); then,
-- each after a "\30" (snapshots hold "\n" and "\t", never "\30"), the
-- history snapshots the status rules read. One string, not an array of
-- them: parsing 22 reply elements a channel was most of the scan's client
-- time. count leaves out members scored outside the ids rivulet issues;
-- planted says there are some (info.lua's "problem"). A key of the wrong
-- type is an error (the row is then shown as broken), except the history
-- keys: as in the listing, those cost the judgement only.
--
-- Snapshots sent: from the newest one at or before the window's start on
-- (about window / interval + 1 of them), which is all rivulet/status.py's
-- judge and rate read. The whole list goes only when a subscriber needs
-- older ones: messages pruned unread (its time lag is then when the head
-- first passed its index, possibly before the window) or no subscribe time
-- (the rules then fall back on its first snapshot).

local id_key, msg_key, sub_key, meta_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local hist_key, cfg_key = KEYS[6], KEYS[7]
for _, key in ipairs({meta_key, read_key}) do
  local found = redis.call('TYPE', key)
  found = found.ok or found
  if found ~= 'none' and found ~= (key == meta_key and 'hash' or 'zset') then
    return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. key .. ' holds a ' .. found)
  end
end
local head = redis.call('GET', id_key)
if head and (not string.match(head, '^%d+$') or tonumber(head) > MAX_INT) then
  return redis.error_reply('RIVULET_WRONGTYPE WRONGTYPE key ' .. id_key
    .. ' holds no message id counter')
end
local total = redis.call('ZCARD', msg_key)
local count = redis.call('ZCOUNT', msg_key, 0, int(MAX_INT))
local rows = redis.call('ZRANGE', sub_key, 0, -1, 'WITHSCORES')
if not head and total == 0 and #rows == 0 then
  return 0  -- no such channel (what channel_exists says, without its EXISTS)
end
local head_id = tonumber(head or '0')
local reply = {int(head_id), int(count), total ~= count and '1' or '0'}
local seen = {}  -- subscribers often share an index: look each one up once
local full = false
-- Read and subscribe times for all subscribers in two calls, not two each.
local read_at, since_at = {}, {}
local reads = redis.call('ZRANGE', read_key, 0, -1, 'WITHSCORES')
for i = 1, #reads, 2 do
  read_at[reads[i]] = reads[i + 1]
end
local cfg = redis.pcall('HGETALL', cfg_key)
if not failed(cfg) then
  for i = 1, #cfg, 2 do
    since_at[cfg[i]] = cfg[i + 1]
  end
end
for i = 1, #rows, 2 do
  local client, index = rows[i], rows[i + 1]
  local known = seen[index]
  if not known then
    local first = redis.call('ZRANGEBYSCORE', msg_key, '(' .. index, '+inf', 'LIMIT', 0, 1)
    known = {redis.call('ZCOUNT', msg_key, '(' .. index, '+inf'),
             first[1] and msg_ts(first[1]) or -1}
    seen[index] = known
  end
  local shown = shown_id(score_of(index))
  local read = tonumber(read_at[client]) or -1
  local since = tonumber(since_at['s:' .. client]) or -1
  if since < 0 or known[1] < head_id - shown then
    full = true
  end
  reply[#reply + 1] = client
  reply[#reply + 1] = int(shown)
  reply[#reply + 1] = int(known[1])
  reply[#reply + 1] = int(known[2])
  reply[#reply + 1] = int(read)
  reply[#reply + 1] = int(since)
end

local function ts_of(entry)
  return tonumber(string.match(entry, '^(%d+) '))
end

local kind = redis.call('TYPE', hist_key)
kind = kind.ok or kind
local out = table.concat(reply, '\n')
if kind ~= 'list' then
  return out
end
local entries
if full then
  entries = redis.call('LRANGE', hist_key, 0, -1)
else
  -- Newest last: fetch from the end until the window's start is covered.
  local start = tonumber(ARGV[1]) - tonumber(ARGV[2])
  local length = redis.call('LLEN', hist_key)
  local want = 16
  local got
  while true do
    got = redis.call('LRANGE', hist_key, -want, -1)
    local oldest = got[1] and ts_of(got[1])
    if #got >= length or (oldest and oldest <= start) then
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
  entries = {}
  for i = from, #got do
    entries[#entries + 1] = got[i]
  end
end
if #entries == 0 then
  return out
end
return out .. '\30' .. table.concat(entries, '\30')
