/**
 * SuppressionStore on Redis. One hash per recipient, `{sup}:r:<recipient>`, with for each type the
 * record as JSON plus `<type>@created` and `<type>@updated`; the sorted set `{sup}:updated` holds
 * one member `<updated>\0<recipient>\0<type>` per entry, all with score 0, so ZREVRANGEBYLEX walks
 * entries newest `updated` first with the row key as tie-break, exactly the embedded order, and a
 * cursor is simply the last member seen. Filters other than the time bounds (type, source,
 * substring) are applied while walking: a selective filter over a huge list reads more entries
 * than it returns (the documented trade-off; the time bounds narrow the walk first).
 */
import {
  InvalidCursorError,
  type SuppressionFilter,
  type SuppressionRecord,
  type SuppressionStore,
  type SuppressionType,
} from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

const TYPES: SuppressionType[] = ['non_transactional', 'transactional'];
const SEP = '\u0000';

/** ARGV: recipient-key base, index key is KEYS[1]; then per record: recipient, type, json, created, updated. */
const PUT = `
local sep = string.char(0)
for i = 2, #ARGV, 5 do
  local recipient, kind, json, created, updated = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local rkey = ARGV[1] .. recipient
  local old = redis.call('HGET', rkey, kind .. '@updated')
  if old then redis.call('ZREM', KEYS[1], old .. sep .. recipient .. sep .. kind) end
  redis.call('HSETNX', rkey, kind .. '@created', created)
  redis.call('HSET', rkey, kind, json, kind .. '@updated', updated)
  redis.call('ZADD', KEYS[1], 0, updated .. sep .. recipient .. sep .. kind)
end
return 1`;

/** KEYS: index, recipient hash. ARGV: recipient, then the types to delete. */
const DELETE = `
local sep = string.char(0)
local n = 0
for i = 2, #ARGV do
  local kind = ARGV[i]
  local updated = redis.call('HGET', KEYS[2], kind .. '@updated')
  if updated then
    redis.call('ZREM', KEYS[1], updated .. sep .. ARGV[1] .. sep .. kind)
    redis.call('HDEL', KEYS[2], kind, kind .. '@created', kind .. '@updated')
    n = n + 1
  end
end
return n`;

/** Members read per round trip while walking the index. */
const BATCH = 500;

export class RedisSuppressionStore implements SuppressionStore {
  private readonly scripts: Scripts<'put' | 'delete'>;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: KeyNames,
  ) {
    this.scripts = defineScripts(redis, { put: PUT, delete: DELETE });
  }

  private recipientKey(recipient: string): string {
    return this.names.key('sup', `r:${recipient}`);
  }

  private index(): string {
    return this.names.key('sup', 'updated');
  }

  async put(records: SuppressionRecord[]): Promise<void> {
    // Chunks keep one script short; each chunk is atomic.
    for (let i = 0; i < records.length; i += 200) {
      const chunk = records.slice(i, i + 200);
      const keys = [this.index()];
      const args: string[] = [this.names.key('sup', 'r:')];
      for (const record of chunk) {
        const recipient = record.recipient.toLowerCase();
        keys.push(this.recipientKey(recipient));
        args.push(
          recipient,
          record.type,
          JSON.stringify({ ...record, recipient }),
          record.created,
          record.updated,
        );
      }
      await this.scripts.put(keys, args);
    }
  }

  async get(recipient: string): Promise<SuppressionRecord[]> {
    const fields = await this.redis.hgetall(this.recipientKey(recipient.toLowerCase()));
    return TYPES.filter((type) => fields[type] !== undefined).map((type) => fromFields(fields, type));
  }

  async delete(recipient: string, type?: SuppressionType): Promise<number> {
    const lower = recipient.toLowerCase();
    const result = await this.scripts.delete(
      [this.index(), this.recipientKey(lower)],
      [lower, ...(type ? [type] : TYPES)],
    );
    return Number(result);
  }

  async list(filter: SuppressionFilter): Promise<{ records: SuppressionRecord[]; next: string | null }> {
    const limit = Math.max(1, Math.min(filter.limit ?? 1000, 10_000));
    const after = decodeCursor(filter.cursor);
    // Upper bound: below the cursor, or at most `to` (every member of `to` starts with it, then SEP).
    let max = after !== null ? `(${after}` : filter.to ? `(${filter.to}${SEP}\u{10ffff}` : '+';
    const min = filter.from ? `[${filter.from}` : '-';
    const search = filter.search?.toLowerCase();
    const records: SuppressionRecord[] = [];
    let lastMember: string | null = null;
    for (;;) {
      const members = await this.redis.zrevrangebylex(this.index(), max, min, 'LIMIT', 0, BATCH);
      if (members.length === 0) break;
      const pipeline = this.redis.pipeline();
      const parsed = members.map((member) => {
        const [, recipient = '', type = ''] = member.split(SEP);
        pipeline.hgetall(this.recipientKey(recipient));
        return { member, recipient, type: type as SuppressionType };
      });
      const fetched = (await pipeline.exec()) ?? [];
      for (let i = 0; i < parsed.length; i++) {
        const { member, recipient, type } = parsed[i]!;
        const [error, fields] = fetched[i] ?? [null, {}];
        if (error) throw error;
        const map = fields as Record<string, string>;
        if (map[type] === undefined) continue;
        const record = fromFields(map, type);
        if (filter.types?.length && !filter.types.includes(record.type)) continue;
        if (filter.sources?.length && !filter.sources.includes(record.source)) continue;
        if (search && !recipient.includes(search)) continue;
        if (records.length === limit) return { records, next: encodeCursor(lastMember!) };
        records.push(record);
        lastMember = member;
      }
      if (members.length < BATCH) break;
      max = `(${members.at(-1)}`;
    }
    return { records, next: null };
  }
}

function fromFields(fields: Record<string, string>, type: SuppressionType): SuppressionRecord {
  const record = JSON.parse(fields[type]!) as SuppressionRecord;
  return {
    recipient: record.recipient,
    type: record.type,
    source: record.source,
    description: record.description,
    created: fields[`${type}@created`] ?? record.created,
    updated: fields[`${type}@updated`] ?? record.updated,
  };
}

function encodeCursor(member: string): string {
  return Buffer.from(`s1${SEP}${member}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): string | null {
  if (!cursor) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (text.startsWith(`s1${SEP}`) && text.split(SEP).length === 4) return text.slice(3);
  throw new InvalidCursorError();
}
