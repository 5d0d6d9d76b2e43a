"""The read side's Lua scripts. Each declares only keys of one hash slot (a student's ``{T/S}``,
a roster's ``{T/C}`` or ``{T}``, the projector's ``{app}``), so each runs whole on one master of
a Redis Cluster as on one Redis; a cluster client refuses, before sending, a script whose keys
hash to two slots.
"""

from __future__ import annotations

APPLY_STUDENT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local recorded = tonumber(redis.call('HGET', KEYS[1], 'position') or '0')
if recorded >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
local count = tonumber(ARGV[5])
for i = 1, count do
  local expires = tonumber(ARGV[5 + 2 * i])
  if expires > 0 then
    redis.call('SET', KEYS[3 + i], ARGV[4 + 2 * i], 'EXAT', expires)
  else
    redis.call('SET', KEYS[3 + i], ARGV[4 + 2 * i])
  end
end
redis.call('HSET', KEYS[1], 'position', ARGV[1], 'dates', ARGV[3], 'classes', ARGV[4])
return 1
"""
REFUSED = -1  # APPLY_STUDENT's answer for an erased student

SET_ROSTER_SCORE = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

SEAL_ERASED = """
redis.call('SET', KEYS[1], ARGV[1])
local dates = redis.call('HGET', KEYS[2], 'dates') or '[]'
return {dates, redis.call('HGET', KEYS[2], 'classes') or '[]'}
"""

REFUSE_FROM_ROSTER = """
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

ADVANCE_TRACKING = """
local recorded = tonumber(redis.call('GET', KEYS[1]) or '0')
if recorded < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""
