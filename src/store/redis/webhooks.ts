/**
 * WebhookStore on Redis, shared by every node, with batches handed out through a Redis Stream
 * consumer group (Redis >= 6.2 for XAUTOCLAIM). Webhooks are JSON strings `{wh}:w:<id>` listed in
 * the set `{wh}:all`. A batch is a hash `{wh}:b:<id>` (listed per webhook in `{wh}:by:<webhook>`)
 * that is either waiting for its due time in the sorted set `{wh}:later`, or is an entry of the
 * stream `{wh}:s` read by the group `send` (the hash's `entry` field names the stream entry).
 *
 * due(now) moves the batches due by `now` from `later` to the stream (one Lua script, so two nodes
 * never add one batch twice), then hands this node, in order: the entries it already holds and has
 * not acknowledged (it may not have attempted them all), entries another consumer held without
 * acknowledging for longer than the lease (XAUTOCLAIM: that node died mid-attempt), and new ones
 * (XREADGROUP >). Each node is its own consumer, so a batch goes to one node at a time: delivered
 * once in the normal case although every node consumes, at least once after a crash.
 * remove (accepted or given up) and reschedule (refused: back to `later` for the next attempt)
 * acknowledge and delete the entry in the same script that changes the batch.
 * Everything is under the `{wh}` hash tag, so the scripts are valid on a Cluster.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { WebhookBatch, WebhookPatch, WebhookRecord, WebhookStore } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

const GROUP = 'send';
/** Batches moved from `later` to the stream per due() call at most (the rest wait for the next). */
const PROMOTE_MAX = 1000;
/** How often a node drops consumers that hold nothing and were idle for a long time. */
const CONSUMER_SWEEP_MS = 60_000;

/**
 * KEYS: later, stream, legacy due set. ARGV: now, group, batch key base, max. Creates the group if
 * missing (from the stream's start, so nothing added before it is skipped), adopts the batches
 * of the earlier layout (`{wh}:due`, leased claims in a sorted set), then moves due batches to the
 * stream.
 */
const PROMOTE = `
redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZUNIONSTORE', KEYS[1], 2, KEYS[1], KEYS[3], 'AGGREGATE', 'MIN')
  redis.call('DEL', KEYS[3])
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local bkey = ARGV[3] .. id
  if redis.call('EXISTS', bkey) == 1 then
    local entry = redis.call('XADD', KEYS[2], '*', 'id', id)
    redis.call('HSET', bkey, 'entry', entry)
  end
end
return #ids`;

/** Shared Lua: acknowledge and delete the stream entry of batch key `bkey`, if it has one. */
const FORGET_ENTRY = `
local function forget(bkey, stream, group)
  local entry = redis.call('HGET', bkey, 'entry')
  if entry then
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    redis.call('HDEL', bkey, 'entry')
  end
end
`;

/** KEYS: webhook key, all set, later set, stream. ARGV: id, batch key base, by-webhook key, group. */
const DELETE = `${FORGET_ENTRY}
local batches = redis.call('SMEMBERS', ARGV[3])
for _, b in ipairs(batches) do
  forget(ARGV[2] .. b, KEYS[4], ARGV[4])
  redis.call('DEL', ARGV[2] .. b)
  redis.call('ZREM', KEYS[3], b)
end
redis.call('DEL', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`;

/** KEYS: batch key, later set, stream. ARGV: id, by-webhook key base, group. */
const REMOVE = `${FORGET_ENTRY}
forget(KEYS[1], KEYS[3], ARGV[3])
local webhook = redis.call('HGET', KEYS[1], 'webhook_id')
if webhook then redis.call('SREM', ARGV[2] .. webhook, ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`;

/** KEYS: batch key, later set, stream. ARGV: id, attempts, due, group. Only for a batch that still exists. */
const RESCHEDULE = `${FORGET_ENTRY}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
forget(KEYS[1], KEYS[3], ARGV[4])
redis.call('HSET', KEYS[1], 'attempts', ARGV[2], 'due', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`;

/** A stream entry as ioredis returns it: [entry id, [field, value, ...]] (fields null if deleted). */
type Entry = [string, string[] | null];

export class RedisWebhookStore implements WebhookStore {
  private readonly scripts: Scripts<'promote' | 'delete' | 'remove' | 'reschedule'>;
  private readonly base: string;
  private readonly stream: string;
  private readonly later: string;
  /** This process's consumer name in the group: a node that dies leaves its entries to the others. */
  readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private sweptAt = 0;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    /** An entry held unacknowledged this long by a consumer is taken over by another one. */
    private readonly leaseMs = 60_000,
  ) {
    this.base = names.base('wh');
    this.stream = `${this.base}s`;
    this.later = `${this.base}later`;
    this.scripts = defineScripts(redis, {
      promote: PROMOTE,
      delete: DELETE,
      remove: REMOVE,
      reschedule: RESCHEDULE,
    });
  }

  async insert(record: WebhookRecord): Promise<void> {
    const done = await this.redis.set(`${this.base}w:${record.id}`, JSON.stringify(record), 'NX');
    if (done !== 'OK') throw new Error(`webhook ${record.id} already exists`);
    await this.redis.sadd(`${this.base}all`, record.id);
  }

  async get(id: string): Promise<WebhookRecord | null> {
    const body = await this.redis.get(`${this.base}w:${id}`);
    return body ? (JSON.parse(body) as WebhookRecord) : null;
  }

  async list(): Promise<WebhookRecord[]> {
    const ids = (await this.redis.smembers(`${this.base}all`)).sort();
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is WebhookRecord => r !== null);
  }

  async update(id: string, patch: WebhookPatch, now: string): Promise<WebhookRecord | null> {
    const current = await this.get(id);
    if (!current) return null;
    const next: WebhookRecord = { ...current, ...patch, updated: now };
    const done = await this.redis.set(`${this.base}w:${id}`, JSON.stringify(next), 'XX');
    return done === 'OK' ? next : null;
  }

  async delete(id: string): Promise<boolean> {
    const removed = await this.scripts.delete(
      [`${this.base}w:${id}`, `${this.base}all`, this.later, this.stream],
      [id, `${this.base}b:`, `${this.base}by:${id}`, GROUP],
    );
    return Number(removed) > 0;
  }

  async enqueue(batch: WebhookBatch): Promise<void> {
    await this.redis
      .multi()
      .hset(`${this.base}b:${batch.id}`, {
        id: batch.id,
        webhook_id: batch.webhook_id,
        payload: batch.payload,
        created: batch.created,
        due: batch.due,
        attempts: batch.attempts,
      })
      .sadd(`${this.base}by:${batch.webhook_id}`, batch.id)
      .zadd(this.later, batch.due, batch.id)
      .exec();
  }

  async due(now: number, limit: number): Promise<WebhookBatch[]> {
    await this.scripts.promote(
      [this.later, this.stream, `${this.base}due`],
      [now, GROUP, `${this.base}b:`, PROMOTE_MAX],
    );
    const entries = new Map<string, string | null>();
    const take = (list: Entry[]) => {
      for (const [entry, fields] of list) if (entries.size < limit) entries.set(entry, batchIdOf(fields));
    };
    // Mine first: entries this node read earlier and has not acknowledged (not attempted yet).
    take(await this.read('0', limit));
    if (entries.size < limit) {
      const claimed = (await this.redis.xautoclaim(
        this.stream,
        GROUP,
        this.consumer,
        this.leaseMs,
        '0-0',
        'COUNT',
        limit - entries.size,
      )) as [string, Entry[], string[]?];
      take(claimed[1]);
    }
    if (entries.size < limit) take(await this.read('>', limit - entries.size));
    await this.sweepConsumers();
    if (entries.size === 0) return [];

    const read = this.redis.pipeline();
    const ids = [...entries];
    for (const [, id] of ids) read.hgetall(`${this.base}b:${id ?? ''}`);
    const rows = (await read.exec()) ?? [];
    const out: WebhookBatch[] = [];
    const orphans: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [entry, id] = ids[i]!;
      const [error, value] = rows[i] ?? [null, {}];
      if (error) throw error;
      const f = value as Record<string, string>;
      // The batch was removed (or its webhook deleted) while the entry was on its way: drop the entry.
      if (id === null || f['id'] === undefined || f['entry'] !== entry) {
        orphans.push(entry);
        continue;
      }
      out.push({
        id: f['id'],
        webhook_id: f['webhook_id']!,
        payload: f['payload']!,
        created: Number(f['created']),
        due: Number(f['due']),
        attempts: Number(f['attempts']),
      });
    }
    if (orphans.length > 0)
      await this.redis
        .multi()
        .xack(this.stream, GROUP, ...orphans)
        .xdel(this.stream, ...orphans)
        .exec();
    return out.sort((a, b) => a.due - b.due || a.id.localeCompare(b.id));
  }

  async reschedule(id: string, attempts: number, due: number): Promise<void> {
    await this.scripts.reschedule(
      [`${this.base}b:${id}`, this.later, this.stream],
      [id, attempts, due, GROUP],
    );
  }

  async remove(id: string): Promise<void> {
    await this.scripts.remove(
      [`${this.base}b:${id}`, this.later, this.stream],
      [id, `${this.base}by:`, GROUP],
    );
  }

  async pending(webhookId: string): Promise<number> {
    return await this.redis.scard(`${this.base}by:${webhookId}`);
  }

  /** XREADGROUP from `start`: '0' re-reads this consumer's unacknowledged entries, '>' new ones. */
  private async read(start: '0' | '>', count: number): Promise<Entry[]> {
    const reply = (await this.redis.xreadgroup(
      'GROUP',
      GROUP,
      this.consumer,
      'COUNT',
      count,
      'STREAMS',
      this.stream,
      start,
    )) as Array<[string, Entry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  /**
   * Every process is a new consumer, so the group would collect the names of every node that ever
   * ran: drop those holding nothing that were idle for much longer than a lease.
   */
  private async sweepConsumers(): Promise<void> {
    const now = Date.now();
    if (now - this.sweptAt < CONSUMER_SWEEP_MS) return;
    this.sweptAt = now;
    const consumers = (await this.redis.xinfo('CONSUMERS', this.stream, GROUP)) as unknown[][];
    for (const row of consumers) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < row.length; i += 2) info[String(row[i])] = row[i + 1];
      const name = String(info['name']);
      const idle = Number(info['idle']);
      if (name !== this.consumer && Number(info['pending']) === 0 && idle > 10 * this.leaseMs + 3_600_000)
        await this.redis.xgroup('DELCONSUMER', this.stream, GROUP, name);
    }
  }
}

/** The batch id an entry carries (null for an entry deleted while pending). */
function batchIdOf(fields: string[] | null): string | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'id') return fields[i + 1]!;
  return null;
}
