/**
 * KeyStore on Redis. A key is a hash `{keys}:id:<id>` with the record (minus last_used_at) as JSON
 * in `record` and `last_used_at` on its own (touch writes one field, no read-modify-write);
 * `{keys}:hash:<sha256>` points to the id, and the sorted set `{keys}:all` lists ids for `list`.
 * Only the SHA-256 of a secret is ever stored, as in the embedded store. Lookups always go to
 * Redis, so a key created on one node authenticates on every node at once. `update` merges the
 * patch in this process and writes the whole record back (only if the key still exists): two
 * administrators updating one key at the same instant, the last write wins, as with the CLI on
 * the embedded store.
 */
import type { ApiKeyRecord, KeyPatch, KeyStore } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

const INSERT = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('key already exists')
end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'last_used_at', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
return 1`;

const BY_HASH = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HMGET', ARGV[1] .. id, 'record', 'last_used_at')`;

/** Replaces the record only if the key still exists (a concurrent delete wins). */
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1])
return 1`;

const DELETE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('DEL', ARGV[1] .. ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
return 1`;

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
return 1`;

type Stored = Omit<ApiKeyRecord, 'last_used_at'>;

function decode(record: string | null, lastUsed: string | null): ApiKeyRecord | null {
  if (record === null) return null;
  const stored = JSON.parse(record) as Stored;
  return { ...stored, last_used_at: lastUsed ? lastUsed : null };
}

function encode(record: ApiKeyRecord): string {
  const { last_used_at: _, ...stored } = record;
  return JSON.stringify(stored);
}

export class RedisKeyStore implements KeyStore {
  private readonly scripts: Scripts<'insert' | 'byHash' | 'update' | 'delete' | 'touch'>;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: KeyNames,
  ) {
    this.scripts = defineScripts(redis, {
      insert: INSERT,
      byHash: BY_HASH,
      update: UPDATE,
      delete: DELETE,
      touch: TOUCH,
    });
  }

  private id(id: string): string {
    return this.names.key('keys', `id:${id}`);
  }

  private hash(hash: string): string {
    return this.names.key('keys', `hash:${hash}`);
  }

  private all(): string {
    return this.names.key('keys', 'all');
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    await this.scripts.insert(
      [this.id(record.id), this.hash(record.hash), this.all()],
      [encode(record), record.last_used_at ?? '', record.id, record.id],
    );
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const found = (await this.scripts.byHash([this.hash(hash)], [this.names.key('keys', 'id:')])) as
      | [string | null, string | null]
      | null;
    return found ? decode(found[0], found[1]) : null;
  }

  async findById(id: string): Promise<ApiKeyRecord | null> {
    const [record, lastUsed] = await this.redis.hmget(this.id(id), 'record', 'last_used_at');
    return decode(record ?? null, lastUsed ?? null);
  }

  async list(): Promise<ApiKeyRecord[]> {
    const ids = await this.redis.zrange(this.all(), '0', '-1');
    const records = await Promise.all(ids.map((id) => this.findById(id)));
    return records
      .filter((r): r is ApiKeyRecord => r !== null)
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  async update(id: string, patch: KeyPatch, now: string): Promise<ApiKeyRecord | null> {
    const current = await this.findById(id);
    if (!current) return null;
    const next: ApiKeyRecord = { ...current, ...patch, updated_at: now };
    const done = await this.scripts.update([this.id(id)], [encode(next)]);
    return done === 1 ? next : null;
  }

  async delete(id: string): Promise<boolean> {
    const current = await this.findById(id);
    if (!current) return false;
    const done = await this.scripts.delete(
      [this.id(id), this.all()],
      [this.names.key('keys', 'hash:'), current.hash, id],
    );
    return done === 1;
  }

  async touch(id: string, when: string): Promise<void> {
    await this.scripts.touch([this.id(id)], [when]);
  }
}
