/**
 * MetricsStore on Redis. The event store's outbox hands each chunk of events here too: it is
 * aggregated in memory (core/metrics/rollup.ts) and added by one Lua script, made idempotent by
 * its own marker per outbox chunk, as the events' append is: a chunk re-sent after a failure or
 * a crash adds nothing twice.
 *
 * Layout (all under the `{mx}` hash tag, so every script is valid on a Cluster):
 *   d                      hash: combination key → latest minute seen (the registry)
 *   dv                     a version bumped whenever the registry gains a combination
 *   r:<size>:<bucket>      hash: combination key ('' = TOTAL) → counters "n,n,…" (definitions.ts order)
 *   x:<kind>:<size>:<bucket>  hash: "<combination>\t<class>\t<reason>" → "n0,n1"
 *   f:<message_id>         hash: rcpt → flags already counted; "rcpt\tlink" → 1 (unique counts)
 *   seg:<segment>:<chunk>  a chunk already added (kept one day)
 * size is the bucket length in minutes (1, 60, 1440), bucket its start in minutes since the epoch.
 * Bucket hashes expire by themselves once past their resolution's retention; first-engagement
 * memory expires `retention` after the message's last engagement; prune() trims the registry.
 *
 * Queries run as Lua scripts that sum inside Redis and return one line per group, so what
 * crosses the network is the answer, not the rows.
 */
import { randomUUID } from 'node:crypto';
import type { SluiceEvent } from '../../core/events.js';
import { C, COUNTER_COUNT } from '../../core/metrics/definitions.js';
import { DEFAULT_RETENTION, horizons, type MetricsRetention } from '../../core/metrics/retention.js';
import {
  aggregateEvents,
  FIRST_BITS,
  parseDimsKey,
  REASON_KINDS,
  RESOLUTIONS,
  type ReasonKind,
  type Resolution,
  type RollupBatch,
} from '../../core/metrics/rollup.js';
import type { MetricsDimsEntry, MetricsGrouping, MetricsSpan, MetricsStore, ReasonSum } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

const LUA_HELPERS = `
local function packed_add(cur, delta)
  local a = {}
  if cur then for n in string.gmatch(cur, '[^,]+') do a[#a + 1] = tonumber(n) end end
  local i = 0
  for n in string.gmatch(delta, '[^,]+') do i = i + 1; a[i] = (a[i] or 0) + tonumber(n) end
  for j = 1, #a do a[j] = string.format('%.0f', a[j]) end
  return table.concat(a, ',')
end
`;

/**
 * KEYS: chunk marker. ARGV: base, minute keep ms, keep ms, minute/hour/day cutoffs, then counted
 * sections: rows (size, bucket, field, packed), reasons (kind, size, bucket, field, packed),
 * combinations (key, minute), firsts (minute, dims, message, rcpt, bits, link).
 */
const APPLY = `${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local base, minkeep, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local oldest = { [1] = tonumber(ARGV[4]), [60] = tonumber(ARGV[5]), [1440] = tonumber(ARGV[6]) }
local expiring = {}
local function touch(key, size, bucket)
  if expiring[key] then return end
  expiring[key] = true
  local ttl = size == 1 and minkeep or keep
  redis.call('PEXPIREAT', key, (bucket + size) * 60000 + ttl)
end
local function add(key, size, bucket, field, delta)
  redis.call('HSET', key, field, packed_add(redis.call('HGET', key, field), delta))
  touch(key, size, bucket)
end
local at = 7
local n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  local size, bucket = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  add(base .. 'r:' .. size .. ':' .. bucket, size, bucket, ARGV[at + 2], ARGV[at + 3])
  at = at + 4
end
n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  local size, bucket = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  add(base .. 'x:' .. ARGV[at] .. ':' .. size .. ':' .. bucket, size, bucket, ARGV[at + 3], ARGV[at + 4])
  at = at + 5
end
n = tonumber(ARGV[at]); at = at + 1
for _ = 1, n do
  local key, minute = ARGV[at], tonumber(ARGV[at + 1])
  local last = redis.call('HGET', base .. 'd', key)
  if not last then redis.call('INCR', base .. 'dv') end
  if not last or tonumber(last) < minute then redis.call('HSET', base .. 'd', key, minute) end
  at = at + 2
end
local sizes = {1, 60, 1440}
local function unique(minute, dims, counter)
  local parts = {}
  for i = 0, counter do parts[i + 1] = (i == counter) and '1' or '0' end
  local delta = table.concat(parts, ',')
  for _, size in ipairs(sizes) do
    local bucket = minute - minute % size
    if bucket >= oldest[size] then
      local key = base .. 'r:' .. size .. ':' .. bucket
      add(key, size, bucket, dims, delta)
      add(key, size, bucket, '', delta)
    end
  end
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
    for _, size in ipairs(sizes) do
      local bucket = minute - minute % size
      if bucket >= oldest[size] then
        add(base .. 'x:${REASON_KINDS.link}:' .. size .. ':' .. bucket, size, bucket, dims .. '\\t0\\t' .. link, '0,1')
      end
    end
  end
  redis.call('PEXPIRE', fk, keep)
  at = at + 6
end
redis.call('SET', KEYS[1], '1', 'PX', 86400000)
return 1`;

/**
 * Common head of the query scripts. ARGV: base, mode, counters ("0,4,…" 0-based; '' all), nspans,
 * spans (size, from, to)…, refs… Sums go to `sums[group]`, per counter position (1-based).
 */
const QUERY_HEAD = `
local spans = {}
local nspans = tonumber(ARGV[4])
for s = 0, nspans - 1 do
  spans[#spans + 1] = { tonumber(ARGV[5 + s * 3]), tonumber(ARGV[6 + s * 3]), tonumber(ARGV[7 + s * 3]) }
end
local refs = {}
for i = 5 + nspans * 3, #ARGV do refs[#refs + 1] = ARGV[i] end
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
const SUM = `${QUERY_HEAD}
local base, grouping = ARGV[1], ARGV[2]
local set = nil
if #refs > 0 then set = {} for _, r in ipairs(refs) do set[r] = true end end
for _, span in ipairs(spans) do
  local size = span[1]
  for bucket = span[2], span[3] - size, size do
    local key = base .. 'r:' .. size .. ':' .. bucket
    local group = grouping == 'bucket' and tostring(bucket) or ''
    if #refs == 0 then
      if grouping == 'ref' then
        local h = redis.call('HGETALL', key)
        for i = 1, #h, 2 do if h[i] ~= '' then fold(h[i], h[i + 1]) end end
      else
        local v = redis.call('HGET', key, '')
        if v then fold(group, v) end
      end
    else
      local fields = redis.call('HLEN', key)
      if fields > 0 and fields < #refs then
        -- Fewer combinations in this bucket than asked for: read them all, keep the wanted.
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
end
return result()`;

/** KEYS: registry (routing only). ARGV: base, "kind:byRef", '', nspans, spans…, refs… */
const REASONS = `${QUERY_HEAD}
local base = ARGV[1]
local kind, byref = string.match(ARGV[2], '^(%d+):(%d)$')
local set = nil
if #refs > 0 then set = {} for _, r in ipairs(refs) do set[r] = true end end
for _, span in ipairs(spans) do
  local size = span[1]
  for bucket = span[2], span[3] - size, size do
    local h = redis.call('HGETALL', base .. 'x:' .. kind .. ':' .. size .. ':' .. bucket)
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

export class RedisMetricsStore implements MetricsStore {
  private readonly scripts: Scripts<'apply' | 'sum' | 'reasons'>;
  private readonly base: string;
  private cache: { version: string; entries: MetricsDimsEntry[] } | null = null;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    private readonly retention: MetricsRetention = DEFAULT_RETENTION,
    private readonly clock: () => number = Date.now,
  ) {
    this.base = names.base('mx');
    this.scripts = defineScripts(redis, {
      apply: APPLY,
      sum: SUM,
      reasons: REASONS,
    });
  }

  /** A chunk of the event outbox, added once however often it is sent (marker: segment and chunk). */
  applyEvents(marker: string, events: readonly SluiceEvent[]): Promise<void> {
    return this.applyMarked(marker, aggregateEvents(events));
  }

  async apply(batch: RollupBatch): Promise<void> {
    await this.applyMarked(`apply:${randomUUID()}`, batch);
  }

  private async applyMarked(marker: string, batch: RollupBatch): Promise<void> {
    const oldest = horizons(this.clock(), this.retention);
    const args: Array<string | number> = [
      this.base,
      this.retention.minuteMs,
      this.retention.retentionMs,
      oldest.minute,
      oldest.hour,
      oldest.day,
    ];
    const rows = [...batch.rows.values()].filter((r) => r.bucket >= oldest[r.res]);
    args.push(rows.length);
    for (const r of rows) args.push(RESOLUTIONS[r.res], r.bucket, r.dims, r.counts.join(','));
    const reasons = [...batch.reasons.values()].filter((r) => r.bucket >= oldest[r.res]);
    args.push(reasons.length);
    for (const r of reasons)
      args.push(
        REASON_KINDS[r.kind],
        RESOLUTIONS[r.res],
        r.bucket,
        `${r.dims}\t${r.cls}\t${r.reason}`,
        r.n.join(','),
      );
    args.push(batch.dims.size);
    for (const [key, minute] of batch.dims) args.push(key, minute);
    args.push(batch.firsts.length);
    for (const f of batch.firsts) args.push(f.minute, f.dims, f.message, f.rcpt, f.bits, f.link);
    await this.scripts.apply([`${this.base}seg:${marker}`], args);
  }

  async dimensions(): Promise<readonly MetricsDimsEntry[]> {
    const version = (await this.redis.get(`${this.base}dv`)) ?? '0';
    if (this.cache?.version === version) return this.cache.entries;
    const all = await this.redis.hgetall(`${this.base}d`);
    const entries = Object.keys(all).map((key) => ({ ref: key, dims: parseDimsKey(key) }));
    this.cache = { version, entries };
    return entries;
  }

  async sum(
    spans: readonly MetricsSpan[],
    refs: readonly string[] | null,
    grouping: MetricsGrouping,
    counters?: readonly number[],
  ): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    if ((refs !== null && refs.length === 0) || spans.length === 0 || counters?.length === 0) return out;
    const flat = (await this.scripts.sum(
      [`${this.base}d`],
      [this.base, grouping, counters ? counters.join(',') : '', ...spanArgs(spans), ...(refs ?? [])],
    )) as string[];
    for (let i = 0; i < flat.length; i += 2) {
      const row = new Array<number>(COUNTER_COUNT).fill(0);
      flat[i + 1]!.split(',').forEach((n, j) => {
        if (j < COUNTER_COUNT) row[j] = Number(n);
      });
      out.set(flat[i]!, row);
    }
    return out;
  }

  async reasons(
    kind: ReasonKind,
    spans: readonly MetricsSpan[],
    refs: readonly string[] | null,
    byRef: boolean,
  ): Promise<ReasonSum[]> {
    if ((refs !== null && refs.length === 0) || spans.length === 0) return [];
    const flat = (await this.scripts.reasons(
      [`${this.base}d`],
      [this.base, `${REASON_KINDS[kind]}:${byRef ? 1 : 0}`, '', ...spanArgs(spans), ...(refs ?? [])],
    )) as string[];
    const out: ReasonSum[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const parts = flat[i]!.split('\t');
      const ref = byRef ? parts.shift()! : null;
      const [cls = '0', ...reason] = parts;
      const [n0 = 0, n1 = 0] = flat[i + 1]!.split(',').map(Number);
      out.push({ ref, cls: Number(cls), reason: reason.join('\t'), n: [n0, n1] });
    }
    return out;
  }

  horizon(now: number): Record<Resolution, number> {
    return horizons(now, this.retention);
  }

  /** Bucket hashes expire by themselves: this trims the registry of combinations gone quiet. */
  async prune(now: number): Promise<number> {
    const oldest = this.horizon(now).hour;
    const all = await this.redis.hgetall(`${this.base}d`);
    const gone = Object.entries(all)
      .filter(([, last]) => Number(last) < oldest)
      .map(([key]) => key);
    if (gone.length === 0) return 0;
    await this.redis.hdel(`${this.base}d`, ...gone);
    await this.redis.incr(`${this.base}dv`);
    return gone.length;
  }
}

function spanArgs(spans: readonly MetricsSpan[]): Array<string | number> {
  const out: Array<string | number> = [spans.length];
  for (const s of spans) out.push(RESOLUTIONS[s.res], s.from, s.to);
  return out;
}
