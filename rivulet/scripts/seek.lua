-- seek.lua: the first stored message of one channel written at or after a
-- time, found by binary search over ranks (ids and stamps grow together), so
-- it costs O(log n) reads however long the channel is.
--
-- KEYS[1] rvl:id:{C}       message id counter (the head)
-- KEYS[2] rvl:msg:{C}      zset: packed message -> id
-- KEYS[3] rvl:channel:{C}  zset: client id -> index (existence only)
-- ARGV[1] the time, in ms since the epoch
-- Returns {id, head}: id is that message's id, or -1 when every stored
-- message was written before the time (or none is stored).

local id_key, msg_key, sub_key = KEYS[1], KEYS[2], KEYS[3]
if not channel_exists(id_key, msg_key, sub_key) then
  return redis.error_reply('RIVULET_NOCHANNEL')
end
local broken = broken_keys({id_key, 'counter', msg_key, 'zset'})
if broken then return broken end

local at = tonumber(ARGV[1])
local head = head_of(id_key)

-- The stamp at a rank; a member without one (not ours) takes the stamp of
-- the next stamped member after it, as last_id_at_or_before groups them.
local function ts_at(rank, size)
  local r = rank
  while r < size and r < rank + 16 do
    local m = redis.call('ZRANGE', msg_key, r, r)
    local ts = msg_ts(m[1])
    if ts ~= nil then return ts end
    r = r + 1
  end
  return nil
end

local size = redis.call('ZCARD', msg_key)
local low, high = 0, size
while low < high do
  local mid = math.floor((low + high) / 2)
  local ts = ts_at(mid, size)
  if ts ~= nil and ts >= at then high = mid else low = mid + 1 end
end
if low >= size then return {-1, int(head)} end
local row = redis.call('ZRANGE', msg_key, low, low, 'WITHSCORES')
return {int(tonumber(row[2])), int(head)}
