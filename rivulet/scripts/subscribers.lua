-- subscribers.lua: every subscriber of one channel with what it has not read.
-- Reads only.
--
-- KEYS[1] rvl:id:{C}       message id counter
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index
-- KEYS[4] rvl:read:{C}     zset: client id -> last read time (ms)
-- KEYS[5] rvl:hist:{C}     list: lag snapshots (not touched here)
-- KEYS[6] rvl:hcfg:{C}     hash: s:<client> -> subscribe time (ms)
-- Returns {exists 0|1, head, now_ms, then per subscriber: client, index,
-- pending (stored messages past the index), oldest pending ts, last read ts,
-- subscribe ts};
-- -1 stands for "none".

local id_key, msg_key, sub_key, read_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if not channel_exists(id_key, msg_key, sub_key) then
  return {0}
end

local reply = {1, head_of(id_key), now_ms()}
local rows = redis.call('ZRANGE', sub_key, 0, -1, 'WITHSCORES')
-- Subscribers often share an index; look each one up once.
local seen = {}
for i = 1, #rows, 2 do
  local client, index = rows[i], rows[i + 1]
  local known = seen[index]
  if not known then
    local first = redis.call('ZRANGEBYSCORE', msg_key, '(' .. index, '+inf', 'LIMIT', 0, 1)
    known = {redis.call('ZCOUNT', msg_key, '(' .. index, '+inf'), msg_ts(first[1]) or -1}
    seen[index] = known
  end
  local read = tonumber(redis.call('ZSCORE', read_key, client)) or -1
  reply[#reply + 1] = client
  reply[#reply + 1] = shown_id(score_of(index))
  reply[#reply + 1] = known[1]
  reply[#reply + 1] = known[2]
  reply[#reply + 1] = read
  local since = redis.pcall('HGET', KEYS[6], 's:' .. client)
  reply[#reply + 1] = (not failed(since) and tonumber(since)) or -1
end
return reply
