-- search.lua: stored messages of one channel whose data or src contains a
-- text, newest first, scanning at most a bounded number of messages per call
-- so a search of a huge channel is paged instead of blocking Redis.
--
-- KEYS[1] rvl:id:{C}       message id counter (existence only)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (existence only)
-- ARGV[1] the text to find, lower-cased by the caller (ASCII letters match
--         either case; other characters match exactly)
-- ARGV[2] scan ids below this one (exclusive), or "" for from the newest
-- ARGV[3] return at most this many matches
-- ARGV[4] scan at most this many messages
-- Returns {matches, resume, scanned}: matches is a flat list of member, id
-- pairs (newest first); resume is the id to pass as ARGV[2] to go on
-- scanning older messages, or -1 when the oldest stored message was scanned.

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
if not channel_exists(id_key, msg_key, sub_key) then
  return redis.error_reply('RIVULET_NOCHANNEL')
end
local broken = broken_keys({msg_key, 'zset'})
if broken then return broken end

local needle = ARGV[1]
local high = ARGV[2] == '' and '+inf' or ('(' .. ARGV[2])
local want = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local PAGE = 200

-- A member we wrote is JSON with "data" and "src" strings; anything else
-- (planted around the library) is searched as the raw text it is shown as.
local function matches(member)
  local ok, decoded = pcall(cjson.decode, member)
  if ok and type(decoded) == 'table' and type(decoded.data) == 'string' then
    if string.find(string.lower(decoded.data), needle, 1, true) then return true end
    return type(decoded.src) == 'string'
      and string.find(string.lower(decoded.src), needle, 1, true) ~= nil
  end
  return string.find(string.lower(member), needle, 1, true) ~= nil
end

local found, nfound, scanned = {}, 0, 0
local last_id = nil
while scanned < budget and nfound < want do
  local take = math.min(PAGE, budget - scanned)
  local page = redis.call('ZREVRANGEBYSCORE', msg_key, high, '-inf', 'WITHSCORES', 'LIMIT', 0, take)
  if #page == 0 then
    return {found, -1, scanned}
  end
  for i = 1, #page, 2 do
    scanned = scanned + 1
    last_id = tonumber(page[i + 1])
    if matches(page[i]) then
      found[#found + 1] = page[i]
      found[#found + 1] = page[i + 1]
      nfound = nfound + 1
      if nfound >= want then break end
    end
  end
  high = '(' .. int(last_id)
  if #page < 2 * take and nfound < want then
    return {found, -1, scanned}
  end
end
-- Stopped on the budget or on enough matches: older messages may remain.
local older = redis.call('ZREVRANGEBYSCORE', msg_key, '(' .. int(last_id), '-inf', 'LIMIT', 0, 1)
if #older == 0 then return {found, -1, scanned} end
return {found, int(last_id), scanned}
