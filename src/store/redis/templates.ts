/**
 * TemplateStore and RecipientListStore on Redis, shared by every node. A template is a JSON
 * string `{tpl}:t:<id>` listed in the set `{tpl}:all`; its last use is a string of its own,
 * `{tpl}:u:<id>`, so recording a use never overwrites an edit made meanwhile. A recipient list is its description
 * `{rl}:m:<id>` and its recipients `{rl}:r:<id>` (two JSON strings, so listing reads no
 * recipients), listed in `{rl}:all`; creating, replacing and deleting a list are Lua scripts, so
 * no node ever reads a description without its recipients.
 */
import type {
  RecipientListMeta,
  RecipientListStore,
  StoredRecipient,
  TemplateRecord,
  TemplateStore,
} from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

export class RedisTemplateStore implements TemplateStore {
  private readonly base: string;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
  ) {
    this.base = names.base('tpl');
  }

  async insert(record: TemplateRecord): Promise<boolean> {
    const done = await this.redis.set(`${this.base}t:${record.id}`, JSON.stringify(record), 'NX');
    if (done !== 'OK') return false;
    await this.redis.sadd(`${this.base}all`, record.id);
    return true;
  }

  async get(id: string): Promise<TemplateRecord | null> {
    const [body, used] = await this.redis.mget(`${this.base}t:${id}`, `${this.base}u:${id}`);
    return body ? withUse(body, used ?? null) : null;
  }

  async put(record: TemplateRecord): Promise<boolean> {
    return (await this.redis.set(`${this.base}t:${record.id}`, JSON.stringify(record), 'XX')) === 'OK';
  }

  async delete(id: string): Promise<boolean> {
    const [deleted] = (await this.redis
      .multi()
      .del(`${this.base}t:${id}`, `${this.base}u:${id}`)
      .srem(`${this.base}all`, id)
      .exec()) as [[Error | null, number], unknown];
    return deleted[1] > 0;
  }

  async list(): Promise<TemplateRecord[]> {
    const ids = (await this.redis.smembers(`${this.base}all`)).sort();
    if (ids.length === 0) return [];
    const keys = ids.flatMap((id) => [`${this.base}t:${id}`, `${this.base}u:${id}`]);
    const values = await this.redis.mget(...keys);
    const out: TemplateRecord[] = [];
    for (let i = 0; i < values.length; i += 2) {
      const body = values[i];
      if (body) out.push(withUse(body, values[i + 1] ?? null));
    }
    return out;
  }

  async touch(id: string, when: string): Promise<void> {
    // Only for a template that exists: a use must not resurrect a deleted one's key.
    if ((await this.redis.exists(`${this.base}t:${id}`)) === 1)
      await this.redis.set(`${this.base}u:${id}`, when);
  }
}

function withUse(body: string, used: string | null): TemplateRecord {
  const record = JSON.parse(body) as TemplateRecord;
  return used !== null && (record.last_use === null || used > record.last_use)
    ? { ...record, last_use: used }
    : record;
}

/** KEYS: meta, recipients, all. ARGV: id, meta, recipients. */
const INSERT_LIST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
return 1`;

/** KEYS: meta, recipients. ARGV: meta, recipients or '' to keep them. */
const UPDATE_LIST = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
return 1`;

/** KEYS: meta, recipients, all. ARGV: id. */
const DELETE_LIST = `
local n = redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return n`;

export class RedisRecipientListStore implements RecipientListStore {
  private readonly base: string;
  private readonly scripts: Scripts<'insert' | 'update' | 'delete'>;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
  ) {
    this.base = names.base('rl');
    this.scripts = defineScripts(redis, { insert: INSERT_LIST, update: UPDATE_LIST, delete: DELETE_LIST });
  }

  private keys(id: string): [string, string] {
    return [`${this.base}m:${id}`, `${this.base}r:${id}`];
  }

  async insert(meta: RecipientListMeta, recipients: StoredRecipient[]): Promise<boolean> {
    const done = await this.scripts.insert(
      [...this.keys(meta.id), `${this.base}all`],
      [meta.id, JSON.stringify(meta), JSON.stringify(recipients)],
    );
    return Number(done) === 1;
  }

  async get(id: string): Promise<RecipientListMeta | null> {
    const body = await this.redis.get(this.keys(id)[0]);
    return body ? (JSON.parse(body) as RecipientListMeta) : null;
  }

  async recipients(id: string): Promise<StoredRecipient[] | null> {
    const body = await this.redis.get(this.keys(id)[1]);
    return body ? (JSON.parse(body) as StoredRecipient[]) : null;
  }

  async update(meta: RecipientListMeta, recipients: StoredRecipient[] | null): Promise<boolean> {
    const done = await this.scripts.update(this.keys(meta.id), [
      JSON.stringify(meta),
      recipients === null ? '' : JSON.stringify(recipients),
    ]);
    return Number(done) === 1;
  }

  async delete(id: string): Promise<boolean> {
    return Number(await this.scripts.delete([...this.keys(id), `${this.base}all`], [id])) > 0;
  }

  async list(): Promise<RecipientListMeta[]> {
    const ids = (await this.redis.smembers(`${this.base}all`)).sort();
    if (ids.length === 0) return [];
    const bodies = await this.redis.mget(...ids.map((id) => this.keys(id)[0]));
    return bodies.filter((b): b is string => b !== null).map((b) => JSON.parse(b) as RecipientListMeta);
  }
}
