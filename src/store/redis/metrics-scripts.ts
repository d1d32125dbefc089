/**
 * The Lua side of RedisMetricsStore (redis/metrics.ts has the key layout). Counters travel as
 * packed rows "n,n,…" in definitions.ts order. What core/metrics/coarse.ts does in JavaScript for
 * SQLite — folding a minute row into hour and day rows, TOTAL and one projection per dimension —
 * `fold` does here, so a late minute (APPLY) and a finished hour (COMPACT) are folded inside the
 * same atomic script that reads the watermark: each minute is folded exactly once.
 */
import { C } from '../../core/metrics/definitions.js';
import { FIRST_BITS, REASON_KINDS } from '../../core/metrics/rollup.js';

/** Shared by the writing scripts. Expects locals `base`, `minkeep`, `keep`, `oldest` (by size). */
const WRITE_HELPERS = `
local function packed_add(cur, delta)
  local a = {}
  if cur then for n in string.gmatch(cur, '[^,]+') do a[#a + 1] = tonumber(n) end end
  local i = 0
  for n in string.gmatch(delta, '[^,]+') do i = i + 1; a[i] = (a[i] or 0) + tonumber(n) end
  for j = 1, #a do a[j] = string.format('%.0f', a[j] or 0) end
  return table.concat(a, ',')
end
local expiring = {}
local function add(key, size, bucket, field, delta)
  redis.call('HSET', key, field, packed_add(redis.call('HGET', key, field), delta))
  if not expiring[key] then
    expiring[key] = true
    redis.call('PEXPIREAT', key, (bucket + size) * 60000 + (size == 1 and minkeep or keep))
  end
end
local seen = {}
local function register(key, minute)
  if key == '' or (seen[key] and seen[key] >= minute) then return end
  seen[key] = minute
  local last = redis.call('HGET', base .. 'd', key)
  if not last then redis.call('INCR', base .. 'dv') end
  if not last or tonumber(last) < minute then redis.call('HSET', base .. 'd', key, minute) end
end
local targets_of = {}
local function targets(dims)
  local t = targets_of[dims]
  if t then return t end
  local parts = {}
  for v in string.gmatch(dims .. '\\31', '([^\\31]*)\\31') do parts[#parts + 1] = v end
  t = { dims, '' }
  for keep_at = 1, #parts do
    local p = {}
    for i = 1, #parts do p[i] = (i == keep_at) and parts[i] or '\\30' end
    t[#t + 1] = table.concat(p, '\\31')
  end
  targets_of[dims] = t
  return t
end
local function fold(minute, dims, delta)
  for _, size in ipairs({60, 1440}) do
    local bucket = minute - minute % size
    if bucket >= oldest[size] then
      for _, target in ipairs(targets(dims)) do
        add(base .. 'r:' .. size .. ':' .. bucket, size, bucket, target, delta)
        if size == 60 then register(target, minute) end
      end
    end
  end
end
-- A reason hash per kind of key (f: combinations, t: TOTAL, 1-6: the projection keeping that
-- dimension), so a query reads the rows of one kind only.
local TAGS = {'f', 't', '1', '2', '3', '4', '5', '6'}
local function fold_reason(kind, minute, dims, rest, delta)
  for _, size in ipairs({60, 1440}) do
    local bucket = minute - minute % size
    if bucket >= oldest[size] then
      for i, target in ipairs(targets(dims)) do
        add(base .. 'x:' .. kind .. ':' .. size .. ':' .. bucket .. ':' .. TAGS[i], size, bucket, target .. '\\t' .. rest, delta)
        if size == 60 then register(target, minute) end
      end
    end
  end
end
`;

/** ARGV: base, minute keep ms, keep ms, oldest minute/hour/day buckets, and the current hour. */
const WRITE_HEAD = `
local base, minkeep, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local oldest = { [1] = tonumber(ARGV[4]), [60] = tonumber(ARGV[5]), [1440] = tonumber(ARGV[6]) }
${WRITE_HELPERS}
local w = tonumber(redis.call('GET', base .. 'w') or '-1')
if w < 0 then
  w = tonumber(ARGV[7])
  redis.call('SET', base .. 'w', w)
end
`;

/**
 * KEYS: chunk marker. ARGV: WRITE_HEAD's, then counted sections: minute rows (minute, dims,
 * packed), minute reasons (kind, minute, "dims\\tcls\\treason", packed), combinations (key,
 * minute), firsts (minute, dims, message, rcpt, bits, link). A minute before the watermark, or
 * past the minute retention, is folded at once.
 */
export const APPLY = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
${WRITE_HEAD}
local function minute_row(minute, dims, delta)
  if minute >= oldest[1] then add(base .. 'r:1:' .. minute, 1, minute, dims, delta) end
  if dims ~= '' and (minute < w or minute < oldest[1]) then fold(minute, dims, delta) end
end
local function minute_reason(kind, minute, field, delta)
  if minute >= oldest[1] then add(base .. 'x:' .. kind .. ':1:' .. minute .. ':f', 1, minute, field, delta) end
  if minute < w or minute < oldest[1] then
    local tab = string.find(field, '\\t', 1, true)
    fold_reason(kind, minute, string.sub(field, 1, tab - 1), string.sub(field, tab + 1), delta)
  end
end
local at = 8
local n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  minute_row(tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2])
  at = at + 3
end
n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  minute_reason(ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2], ARGV[at + 3])
  at = at + 4
end
n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  register(ARGV[at], tonumber(ARGV[at + 1]))
  at = at + 2
end
local function unique(minute, dims, counter)
  local parts = {}
  for i = 0, counter do parts[i + 1] = (i == counter) and '1' or '0' end
  local delta = table.concat(parts, ',')
  minute_row(minute, dims, delta)
  minute_row(minute, '', delta)
end
n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  local minute, dims, message, rcpt = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local bits, link = tonumber(ARGV[at + 4]), ARGV[at + 5]
  local fk = base .. 'f:' .. message
  local old = tonumber(redis.call('HGET', fk, rcpt) or '0')
  local fresh = bit.band(bits, bit.bnot(old))
  if fresh ~= 0 then
    redis.call('HSET', fk, rcpt, bit.bor(old, bits))
    -- flag bits and counters as rollup.ts FIRST_BITS and firstCounters
    if bit.band(fresh, ${FIRST_BITS.rendered}) ~= 0 then unique(minute, dims, ${C.unique_rendered}) end
    if bit.band(fresh, ${FIRST_BITS.initial_rendered}) ~= 0 then unique(minute, dims, ${C.unique_initial_rendered}) end
    if bit.band(fresh, ${FIRST_BITS.confirmed_opened}) ~= 0 then unique(minute, dims, ${C.unique_confirmed_opened}) end
    if bit.band(fresh, ${FIRST_BITS.clicked}) ~= 0 then unique(minute, dims, ${C.unique_clicked}) end
  end
  if link ~= '' and bit.band(bits, ${FIRST_BITS.clicked}) ~= 0 and redis.call('HSETNX', fk, rcpt .. '\\t' .. link, '1') == 1 then
    minute_reason('${REASON_KINDS.link}', minute, dims .. '\\t0\\t' .. link, '0,1')
  end
  redis.call('PEXPIRE', fk, keep)
  at = at + 6
end
redis.call('SET', KEYS[1], '1', 'PX', 86400000)
return 1`;

/** KEYS: the watermark. ARGV: WRITE_HEAD's, then the hour to fold. Returns the watermark after. */
export const COMPACT = `
${WRITE_HEAD}
local hour = tonumber(ARGV[8])
if w ~= hour then return w end
local acc = {}
for m = hour, hour + 59 do
  local h = redis.call('HGETALL', base .. 'r:1:' .. m)
  for i = 1, #h, 2 do
    if h[i] ~= '' then acc[h[i]] = packed_add(acc[h[i]], h[i + 1]) end
  end
end
for dims, delta in pairs(acc) do fold(hour, dims, delta) end
for kind = 1, 4 do
  local racc = {}
  for m = hour, hour + 59 do
    local h = redis.call('HGETALL', base .. 'x:' .. kind .. ':1:' .. m .. ':f')
    for i = 1, #h, 2 do racc[h[i]] = packed_add(racc[h[i]], h[i + 1]) end
  end
  for field, delta in pairs(racc) do
    local tab = string.find(field, '\\t', 1, true)
    fold_reason(kind, hour, string.sub(field, 1, tab - 1), string.sub(field, tab + 1), delta)
  end
end
redis.call('SET', base .. 'w', hour + 60)
return hour + 60`;

/**
 * Common head of the query scripts. ARGV: base, mode, counters ("0,4,…" 0-based; '' all), nspans,
 * spans (size, from, to)…, refs (keys; none: every key). Sums go to `sums[group]` per counter
 * position (1-based).
 */
const QUERY_HEAD = `
local spans = {}
local nspans = tonumber(ARGV[4])
for s = 0, nspans - 1 do
  spans[#spans + 1] = { tonumber(ARGV[5 + s * 3]), tonumber(ARGV[6 + s * 3]), tonumber(ARGV[7 + s * 3]) }
end
local refs = {}
for i = 5 + nspans * 3, #ARGV do refs[#refs + 1] = ARGV[i] end
local set = nil
if #refs > 0 then set = {} for _, r in ipairs(refs) do set[r] = true end end
local wanted = nil
if ARGV[3] ~= '' then
  wanted = {}
  for n in string.gmatch(ARGV[3], '%d+') do wanted[tonumber(n) + 1] = true end
end
local sums, order = {}, {}
local function fold(group, value)
  local cur = sums[group]
  if not cur then cur = {}; sums[group] = cur; order[#order + 1] = group end
  local i = 0
  for n in string.gmatch(value, '[^,]+') do
    i = i + 1
    if not wanted or wanted[i] then cur[i] = (cur[i] or 0) + tonumber(n) end
  end
end
local function result()
  local out = {}
  for _, g in ipairs(order) do
    local cur, parts, top = sums[g], {}, 0
    for i in pairs(cur) do if i > top then top = i end end
    for i = 1, top do parts[i] = string.format('%.0f', cur[i] or 0) end
    out[#out + 1] = g
    out[#out + 1] = table.concat(parts, ',')
  end
  return out
end
`;

/** KEYS: registry (routing only). ARGV: base, grouping, counters, nspans, spans…, refs… */
export const SUM = `${QUERY_HEAD}
local base, grouping = ARGV[1], ARGV[2]
for _, span in ipairs(spans) do
  local size = span[1]
  for bucket = span[2], span[3] - size, size do
    local key = base .. 'r:' .. size .. ':' .. bucket
    local group = grouping == 'bucket' and tostring(bucket) or ''
    local fields = redis.call('HLEN', key)
    if fields > 0 and fields < #refs then
      -- Fewer keys in this bucket than asked for: read them all, keep the wanted.
      local h = redis.call('HGETALL', key)
      for i = 1, #h, 2 do
        if set[h[i]] then fold(grouping == 'ref' and h[i] or group, h[i + 1]) end
      end
    elseif fields > 0 then
      for from = 1, #refs, 200 do
        local chunk = {}
        for i = from, math.min(from + 199, #refs) do chunk[#chunk + 1] = refs[i] end
        local values = redis.call('HMGET', key, unpack(chunk))
        for i, v in ipairs(values) do
          if v then fold(grouping == 'ref' and chunk[i] or group, v) end
        end
      end
    end
  end
end
return result()`;

/** KEYS: registry (routing only). ARGV: base, "kind:byRef:tag", '', nspans, spans…, refs… */
export const REASONS = `${QUERY_HEAD}
local base = ARGV[1]
local kind, byref, tag = string.match(ARGV[2], '^(%d+):(%d):(%w)$')
for _, span in ipairs(spans) do
  local size = span[1]
  for bucket = span[2], span[3] - size, size do
    local h = redis.call('HGETALL', base .. 'x:' .. kind .. ':' .. size .. ':' .. bucket .. ':' .. tag)
    for i = 1, #h, 2 do
      local tab = string.find(h[i], '\\t', 1, true)
      local dims = string.sub(h[i], 1, tab - 1)
      if not set or set[dims] then
        fold(byref == '1' and h[i] or string.sub(h[i], tab + 1), h[i + 1])
      end
    end
  end
end
return result()`;
