/**
 * CounterStore on Redis: the embedded store's sliding-window counters and two-phase holds, made
 * atomic across nodes by doing each call in one Lua script. Same semantics as
 * store/embedded/counters.ts (read it first): a counter is two fixed buckets, the previous one
 * weighted by its overlap with the window; reserve is all or nothing over used + held + amount;
 * commit turns real amounts into usage and drops the holds; holds expire `ttlMs` after the last
 * reserve of their reservation.
 *
 * Keys (all under the `{lim}` hash tag, so a reservation over several counters is one slot):
 *   c:<counter key>  hash start, cur, prev, win, held    expires when idle for 2 windows (+ ttl)
 *   r:<reservation>  hash <counter key> -> amount held
 *   rx               sorted set of reservation ids by expiry time; every call drops a few expired
 *                    ones (as the embedded store does), so a node that died mid-transaction frees
 *                    its holds without anyone releasing them.
 * Time is the caller's `now` (Limits passes its clock); a `now` behind a counter's start (clock
 * skew between nodes) counts as the start, so skew never rolls a window back.
 */
import type { CounterHold, CounterSpec, CounterStore, ReserveOutcome } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

/** Shared Lua: rolling, estimating, dropping a reservation, sweeping expired ones. */
const LIB = `
local base = ARGV[1]
local now = tonumber(ARGV[2])

local function load(key, win)
  local v = redis.call('HMGET', key, 'start', 'cur', 'prev', 'held')
  local c = {start = tonumber(v[1]), cur = tonumber(v[2]) or 0, prev = tonumber(v[3]) or 0,
             held = tonumber(v[4]) or 0, win = win, fresh = v[1] == false}
  if c.fresh then c.start = now end
  local t = now
  if t < c.start then t = c.start end
  local elapsed = math.floor((t - c.start) / win)
  if elapsed > 0 then
    if elapsed == 1 then c.prev = c.cur else c.prev = 0 end
    c.cur = 0
    c.start = c.start + elapsed * win
  end
  local overlap = 1 - (t - c.start) / win
  if overlap < 0 then overlap = 0 end
  c.estimate = c.cur + c.prev * overlap
  return c
end

local function save(key, c, keepMs)
  redis.call('HSET', key, 'start', c.start, 'cur', c.cur, 'prev', c.prev, 'held', c.held, 'win', c.win)
  local ttl = redis.call('PTTL', key)
  if ttl < keepMs then redis.call('PEXPIRE', key, math.ceil(keepMs)) end
end

local function drop(id)
  local rkey = base .. 'r:' .. id
  local holds = redis.call('HGETALL', rkey)
  for i = 1, #holds, 2 do
    local ckey = base .. 'c:' .. holds[i]
    if redis.call('EXISTS', ckey) == 1 then
      local held = tonumber(redis.call('HGET', ckey, 'held')) or 0
      held = held - tonumber(holds[i + 1])
      if held < 0 then held = 0 end
      redis.call('HSET', ckey, 'held', held)
    end
  end
  redis.call('DEL', rkey)
  redis.call('ZREM', base .. 'rx', id)
end

local function sweep()
  local expired = redis.call('ZRANGEBYSCORE', base .. 'rx', '-inf', now, 'LIMIT', 0, 16)
  for _, id in ipairs(expired) do drop(id) end
end
`;

/**
 * ARGV: base, now, id, ttl, n, then n times: counter key, limit, window, amount, once (0/1).
 * KEYS: the reservation, the expiry set, then the n counters (declared for Cluster routing).
 * Returns {1} or {0, index (1-based), used}.
 */
const RESERVE = `${LIB}
local id, ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
sweep()
local rkey = base .. 'r:' .. id
local wanted = {}
for i = 1, n do
  local o = 5 + (i - 1) * 5
  local name, limit, win, amount, once = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]),
    tonumber(ARGV[o + 4]), ARGV[o + 5] == '1'
  if not (once and redis.call('HEXISTS', rkey, name) == 1) then
    local c = load(base .. 'c:' .. name, win)
    local used = c.estimate + c.held
    if used + amount > limit then return {0, i, tostring(used)} end
    wanted[#wanted + 1] = {name, c, amount}
  end
end
for _, w in ipairs(wanted) do
  local c = w[2]
  c.held = c.held + w[3]
  save(base .. 'c:' .. w[1], c, 2 * c.win + ttl)
  redis.call('HINCRBYFLOAT', rkey, w[1], w[3])
end
redis.call('ZADD', base .. 'rx', now + ttl, id)
return {1}`;

/** ARGV: base, now, id, n, then n times: counter key, window, amount. */
const COMMIT = `${LIB}
local id, n = ARGV[3], tonumber(ARGV[4])
sweep()
drop(id)
for i = 1, n do
  local o = 4 + (i - 1) * 3
  local name, win, amount = ARGV[o + 1], tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
  if amount > 0 then
    local c = load(base .. 'c:' .. name, win)
    c.cur = c.cur + amount
    save(base .. 'c:' .. name, c, 2 * win)
  end
end
return 1`;

/** ARGV: base, now, id. */
const RELEASE = `${LIB}
sweep()
drop(ARGV[3])
return 1`;

/** ARGV: base, now, counter key, window. Read-only: returns the estimate plus holds as a string. */
const USAGE = `${LIB}
local key = base .. 'c:' .. ARGV[3]
if redis.call('EXISTS', key) == 0 then return '0' end
local c = load(key, tonumber(ARGV[4]))
return tostring(c.estimate + c.held)`;

export class RedisCounterStore implements CounterStore {
  private readonly scripts: Scripts<'reserve' | 'commit' | 'release' | 'usage'>;
  private readonly base: string;

  constructor(
    redis: RedisClient,
    names: KeyNames,
    private readonly clock: () => number = Date.now,
  ) {
    this.base = names.base('lim');
    this.scripts = defineScripts(redis, { reserve: RESERVE, commit: COMMIT, release: RELEASE, usage: USAGE });
  }

  private keys(id: string, counters: string[]): string[] {
    return [`${this.base}r:${id}`, `${this.base}rx`, ...counters.map((k) => `${this.base}c:${k}`)];
  }

  async reserve(
    id: string,
    holds: CounterHold[],
    ttlMs: number,
    now = this.clock(),
  ): Promise<ReserveOutcome> {
    const args: Array<string | number> = [this.base, now, id, ttlMs, holds.length];
    for (const h of holds)
      args.push(h.counter.key, h.counter.limit, h.counter.windowMs, h.amount, h.oncePerReservation ? 1 : 0);
    const result = (await this.scripts.reserve(
      this.keys(
        id,
        holds.map((h) => h.counter.key),
      ),
      args,
    )) as [number, number?, string?];
    if (result[0] === 1) return { ok: true };
    const hold = holds[(result[1] ?? 1) - 1]!;
    return { ok: false, counter: hold.counter, used: Number(result[2]) };
  }

  async commit(id: string, usage: CounterHold[], now = this.clock()): Promise<void> {
    const args: Array<string | number> = [this.base, now, id, usage.length];
    for (const u of usage) args.push(u.counter.key, u.counter.windowMs, u.amount);
    await this.scripts.commit(
      this.keys(
        id,
        usage.map((u) => u.counter.key),
      ),
      args,
    );
  }

  async release(id: string, now = this.clock()): Promise<void> {
    await this.scripts.release(this.keys(id, []), [this.base, now, id]);
  }

  async usage(counter: CounterSpec, now = this.clock()): Promise<number> {
    const result = await this.scripts.usage(
      [`${this.base}c:${counter.key}`],
      [this.base, now, counter.key, counter.windowMs],
    );
    return Number(result);
  }
}
