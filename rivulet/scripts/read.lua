-- read.lua: fetch a client's unread messages from one channel and, when
-- committing, advance its index and delete what every subscriber has read.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (the authority)
-- KEYS[4] rvl:read:{C}     zset: client id -> last read time (ms)
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (history), oldest first
-- KEYS[6] rvl:hcfg:{C}     hash: history settings, last snapshot time
-- KEYS[7] rvl:bell:{C}     stream: the doorbell every write rings
-- ARGV[1] client id
-- ARGV[2] most messages to return
-- ARGV[3] "1" to advance the index past what is returned, "0" not to
-- Returns {state, index, skipped, n, bell, member1 .. member_n, runs...}
-- oldest first: state 0 when the client is not subscribed (nothing else
-- follows), 1 otherwise; index is the client's index after this call; bell
-- is the doorbell's last entry id ("0-0" for none; "" when the bell is
-- broken), seen in the same atomic step as the messages, so a reader that
-- got nothing and blocks on XREAD from that id misses no later write (see
-- rivulet/doorbell.py); skipped counts
-- members met whose score is no message id (2.5, inf: planted around the
-- library), which are neither returned nor ever become an index. runs are
-- pairs {first id, count}: the members' scores, the authority over any "id"
-- inside a member, as runs of consecutive ids (a drain is one run, so the
-- reply carries no score per member). More than ARGV[2] members come back
-- when others share the last one's id.
-- A key of the wrong type fails the call before anything is written.
-- Deletes come before adds, so a full Redis (maxmemory) can still be drained.

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local client, limit, commit = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'

-- Each redis.call costs about 1.2 us on top of its command, and this runs on
-- every wake-up: the type checks ride on the reads the script needs anyway
-- (GET of the counter, ZSCORE, each page's ZRANGEBYSCORE, under pcall), plus
-- one TYPE of the read-time key; only when one fails does broken_keys run,
-- for its precise error.
local function broken(reply)
  return broken_keys({id_key, 'counter', msg_key, 'zset', sub_key, 'zset', read_key, 'zset'})
    or reply or redis.error_reply('RIVULET_WRONGTYPE a key of this channel is broken')
end

local head = redis.pcall('GET', id_key)
if failed(head) then return broken(head) end
if head then
  if not string.match(head, '^%d+$') or tonumber(head) > MAX_INT then return broken() end
  head = tonumber(head)
else
  head = 0
end
local stored = redis.pcall('ZSCORE', sub_key, client)
if failed(stored) then return broken(stored) end
stored = score_of(stored)
if not stored then
  return {0}
end
local found = redis.call('TYPE', read_key)
found = found.ok or found
if found ~= 'none' and found ~= 'zset' then return broken() end
local index = sane_index(stored, head)

-- Members whose score is no id are skipped, and pages are fetched until
-- `limit` messages are found or the channel ends, so planted members
-- neither stall the reader nor count against its limit.
-- Read under pcall: a broken bell (written around the library) costs only
-- the doorbell, and its reader waits on pub/sub instead.
local bell = ''
local rung = redis.pcall('XREVRANGE', KEYS[7], '+', '-', 'COUNT', 1)
if not failed(rung) then
  bell = rung[1] and rung[1][1] or '0-0'
end
local reply = {1, index, 0, 0, bell}
local runs = {}
local skipped, taken, last, offset = 0, 0, nil, 0

local function take(member, score)
  reply[#reply + 1] = member
  if last and score == last + 1 then
    runs[#runs] = runs[#runs] + 1
  else
    runs[#runs + 1] = score
    runs[#runs + 1] = 1
  end
  taken = taken + 1
  last = score
end

while taken < limit do
  local want = limit - taken
  local page = redis.pcall('ZRANGEBYSCORE', msg_key, '(' .. int(index), '+inf',
    'WITHSCORES', 'LIMIT', int(offset), int(want))
  if failed(page) then return broken(page) end
  -- take() and is_id() inlined, lengths counted: this loop runs once per
  -- message read.
  local n, r = #reply, #runs
  for i = 1, #page, 2 do
    local score = tonumber(page[i + 1]) or score_of(page[i + 1])
    if score >= 0 and score <= MAX_INT and score % 1 == 0 then
      n = n + 1
      reply[n] = page[i]
      if last and score == last + 1 then
        runs[r] = runs[r] + 1
      else
        runs[r + 1] = score
        runs[r + 2] = 1
        r = r + 2
      end
      taken = taken + 1
      last = score
    else
      skipped = skipped + 1
    end
  end
  if #page < 2 * want then break end
  offset = offset + want
end

-- The index moves past an id only with every member at that id: a member
-- planted beside a message with the same score must not hide it.
if taken == limit and last then
  local same = redis.call('ZRANGEBYSCORE', msg_key, int(last), int(last))
  -- Those already taken end the reply and come first in `same` (both go
  -- by member within one score): take the rest.
  local n, have = #reply, 0
  for i = 1, #same do
    if same[i] == reply[n] then have = i break end
  end
  for i = have + 1, #same do
    take(same[i], last)
  end
end
reply[3] = skipped
reply[4] = taken
for i = 1, #runs do
  reply[#reply + 1] = runs[i]
end

if commit and last then
  index = last
end
store_index(sub_key, msg_key, read_key, client, stored, index)
record_history(id_key, sub_key, KEYS[5], KEYS[6])
reply[2] = index
return reply
