/**
 * WebhookStore on Redis, shared by every node. Webhooks are JSON strings `{wh}:w:<id>` listed in
 * the set `{wh}:all`; a pending batch is a hash `{wh}:b:<id>`, scheduled in the sorted set
 * `{wh}:due` (score: epoch ms of its next attempt) and listed per webhook in `{wh}:by:<webhook>`.
 *
 * Several nodes poll `due` at once, so taking batches is a claim: one Lua script returns the due
 * batches and pushes each one's score `leaseMs` into the future, so no other node sends it while
 * this one tries. The node then removes it (accepted or given up) or reschedules it (refused); if
 * the node dies mid-attempt the lease runs out and another node takes the batch again:
 * at-least-once, and once in the normal case although every node consumes.
 */
import type { WebhookBatch, WebhookPatch, WebhookRecord, WebhookStore } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

/** KEYS: due set. ARGV: batch key base, now, limit, lease ms. Returns flat HGETALL arrays. */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[4]), id)
    out[#out + 1] = fields
  end
end
return out`;

/** KEYS: webhook key, all set, due set. ARGV: id, batch key base, by-webhook key. */
const DELETE = `
local batches = redis.call('SMEMBERS', ARGV[3])
for _, b in ipairs(batches) do
  redis.call('DEL', ARGV[2] .. b)
  redis.call('ZREM', KEYS[3], b)
end
redis.call('DEL', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`;

/** KEYS: batch key, due set. ARGV: id, by-webhook key base. */
const REMOVE = `
local webhook = redis.call('HGET', KEYS[1], 'webhook_id')
if webhook then redis.call('SREM', ARGV[2] .. webhook, ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`;

/** KEYS: batch key, due set. ARGV: id, attempts, due. Only for a batch that still exists. */
const RESCHEDULE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[2], 'due', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`;

export class RedisWebhookStore implements WebhookStore {
  private readonly scripts: Scripts<'claim' | 'delete' | 'remove' | 'reschedule'>;
  private readonly base: string;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    private readonly leaseMs = 60_000,
  ) {
    this.base = names.base('wh');
    this.scripts = defineScripts(redis, {
      claim: CLAIM,
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
      [`${this.base}w:${id}`, `${this.base}all`, `${this.base}due`],
      [id, `${this.base}b:`, `${this.base}by:${id}`],
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
      .zadd(`${this.base}due`, batch.due, batch.id)
      .exec();
  }

  async due(now: number, limit: number): Promise<WebhookBatch[]> {
    const rows = (await this.scripts.claim(
      [`${this.base}due`],
      [`${this.base}b:`, now, limit, this.leaseMs],
    )) as string[][];
    return rows.map((flat) => {
      const f: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      return {
        id: f['id']!,
        webhook_id: f['webhook_id']!,
        payload: f['payload']!,
        created: Number(f['created']),
        due: Number(f['due']),
        attempts: Number(f['attempts']),
      };
    });
  }

  async reschedule(id: string, attempts: number, due: number): Promise<void> {
    await this.scripts.reschedule([`${this.base}b:${id}`, `${this.base}due`], [id, attempts, due]);
  }

  async remove(id: string): Promise<void> {
    await this.scripts.remove([`${this.base}b:${id}`, `${this.base}due`], [id, `${this.base}by:`]);
  }

  async pending(webhookId: string): Promise<number> {
    return await this.redis.scard(`${this.base}by:${webhookId}`);
  }
}
