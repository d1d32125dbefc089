/**
 * EventStore on Redis Streams. `append` stays synchronous and durable: the event goes to this
 * node's disk outbox (and its local events.jsonl, which `sluice events tail` follows) and reaches
 * Redis soon after; while Redis is away events wait on disk and are flushed when it returns.
 *
 * Layout (all under the `{ev}` hash tag):
 *   s              the stream, one entry per event (field `e`: the JSON), trimmed to about
 *                  `maxLength` entries (XADD MAXLEN ~), and by events.retention through prune().
 *   m:<id>         (an event is indexed under its message_id and, when it has one, its queue_id)
 *                  sorted sets of stream ids (score: the id's milliseconds; the sequence part is
 *                  zero-padded so ids of one millisecond sort in stream order), the secondary
 *   rc:<rcpt_to>   indexes; they expire `indexTtlMs` after their last write, and entries whose
 *                  event was trimmed from the stream are skipped (and pruned) when read.
 *   seg:<segment>:<chunk>  marks an outbox chunk as written, so a chunk re-sent after a crash is
 *                  not written twice (kept one day).
 * Queries by message id or recipient read the index; by type and/or time they walk the stream
 * newest first from now back to `since` (or until `limit` matches): cheap for recent events and
 * common types, a scan of the stream for a rare type over a long time (the documented trade-off).
 */
import path from 'node:path';
import type { SluiceEvent } from '../../core/events.js';
import { EmbeddedLogWriter } from '../embedded/events-log.js';
import { type EventFilter, type EventPageFilter, type EventStore, InvalidCursorError } from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { EventOutbox, type OutboxOptions } from './outbox.js';
import { defineScripts, type Scripts } from './scripts.js';

/** An event with its stream id. */
type Found = { id: string; event: SluiceEvent };

/** KEYS: stream, chunk marker. ARGV: base, maxlen, index ttl, then per event: json, message id, rcpt, queue id. */
const APPEND = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local base, maxlen, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 4, #ARGV, 4 do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'e', ARGV[i])
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  -- Padded sequence: members of one millisecond sort (by lex) in stream order.
  local member = ms .. '-' .. string.format('%010d', tonumber(sq))
  for j, area in ipairs({'m:', 'rc:', 'm:'}) do
    local value = ARGV[i + j]
    if value ~= '' then
      redis.call('ZADD', base .. area .. value, tonumber(ms), member)
      redis.call('PEXPIRE', base .. area .. value, ttl)
    end
  end
end
redis.call('SET', KEYS[2], '1', 'PX', 86400000)
return 1`;

/** Events read per round trip while walking the stream or an index. */
const BATCH = 200;
/** How far before `since` the walk starts: an event reaches the stream after its timestamp, and clocks differ. */
const CLOCK_SLACK_MS = 5 * 60_000;

export interface RedisEventOptions {
  dataDir: string;
  maxLength: number;
  indexTtlMs?: number;
  outbox?: OutboxOptions;
}

export class RedisEventStore implements EventStore {
  private readonly scripts: Scripts<'append'>;
  private readonly outbox: EventOutbox;
  private readonly localLog: EmbeddedLogWriter;
  private readonly base: string;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    private readonly options: RedisEventOptions,
  ) {
    this.base = names.base('ev');
    this.scripts = defineScripts(redis, { append: APPEND });
    this.localLog = new EmbeddedLogWriter(options.dataDir);
    this.outbox = new EventOutbox(
      path.join(options.dataDir, 'outbox'),
      (segment, chunk, events) => this.write(segment, chunk, events),
      options.outbox,
    );
  }

  append(event: SluiceEvent): void {
    this.outbox.append(event);
    this.localLog.write(event);
  }

  appendMany(events: readonly SluiceEvent[]): void {
    this.outbox.appendMany(events);
    if (events.length > 0) this.localLog.writeLine(events.map((e) => JSON.stringify(e)).join('\n'));
  }

  /**
   * The API's paged query. Every match in the range is read to count `total` (the trade-off: a
   * page costs a walk of its matches, bounded by the stream's length); the cursor is the stream
   * id of the last event returned.
   */
  async page(
    filter: EventPageFilter,
  ): Promise<{ events: SluiceEvent[]; next: string | null; total: number }> {
    await this.outbox.flush();
    const before = decodePageCursor(filter.cursor);
    const types = filter.types?.length ? new Set(filter.types) : null;
    const campaigns = filter.campaigns?.length ? new Set(filter.campaigns) : null;
    const recipients = filter.recipients?.map((r) => r.toLowerCase());
    const matches = (e: SluiceEvent) =>
      (!types || types.has(e.type)) &&
      (!recipients?.length || (e.rcpt_to !== undefined && recipients.includes(e.rcpt_to))) &&
      (!filter.messageIds?.length ||
        (e.message_id !== undefined && filter.messageIds.includes(e.message_id)) ||
        (e.queue_id !== undefined && filter.messageIds.includes(e.queue_id))) &&
      (!campaigns || campaigns.has(String(e['campaign_id'] ?? ''))) &&
      (!filter.from || e.timestamp >= filter.from) &&
      (!filter.to || e.timestamp <= filter.to);
    const lowest = filter.from ? Math.max(0, Date.parse(filter.from) - CLOCK_SLACK_MS) : 0;
    const indexes = filter.messageIds?.length
      ? filter.messageIds.map((id) => `${this.base}m:${id}`)
      : recipients?.length
        ? recipients.map((r) => `${this.base}rc:${r}`)
        : null;
    const all: Found[] = [];
    if (indexes) {
      const seen = new Set<string>();
      for (const index of indexes)
        for (const found of await this.fromIndex(index, lowest, Number.MAX_SAFE_INTEGER, matches))
          if (!seen.has(found.id)) {
            seen.add(found.id);
            all.push(found);
          }
      all.sort((a, b) => compareIds(b.id, a.id));
    } else {
      all.push(...(await this.fromStream(lowest, Number.MAX_SAFE_INTEGER, matches)));
    }
    const after = before === null ? all : all.filter((f) => compareIds(f.id, before) < 0);
    const limit = Math.max(1, Math.min(filter.limit, 10_000));
    const page = after.slice(0, limit);
    const next =
      after.length > limit && page.length > 0
        ? Buffer.from(`sid:${page.at(-1)!.id}`).toString('base64url')
        : null;
    return { events: page.map((f) => f.event), next, total: all.length };
  }

  /** Segments of events still waiting for Redis on this node (tests and diagnostics). */
  backlog(): number {
    return this.outbox.backlog();
  }

  /** Sends what this node has appended so far. */
  flush(): Promise<void> {
    return this.outbox.flush();
  }

  async search(filter: EventFilter): Promise<SluiceEvent[]> {
    // This node's own recent events first, so a search right after an append finds it.
    await this.outbox.flush();
    const limit = filter.limit ?? 1000;
    const types = filter.types?.length ? new Set(filter.types) : null;
    const recipient = filter.recipient?.toLowerCase();
    const sender = filter.sender?.toLowerCase();
    const matches = (event: SluiceEvent) =>
      (!types || types.has(event.type)) &&
      (!recipient || event.rcpt_to === recipient) &&
      (!filter.messageId || event.message_id === filter.messageId || event.queue_id === filter.messageId) &&
      (!filter.since || event.timestamp >= filter.since) &&
      (!filter.until || event.timestamp <= filter.until) &&
      (filter.campaign === undefined || event.campaign_id === filter.campaign) &&
      (sender === undefined || String(event.msg_from ?? '').toLowerCase() === sender) &&
      (filter.transmissionId === undefined || event.transmission_id === filter.transmissionId);
    const lowest = filter.since ? Math.max(0, Date.parse(filter.since) - CLOCK_SLACK_MS) : 0;
    const index = filter.messageId
      ? `${this.base}m:${filter.messageId}`
      : recipient
        ? `${this.base}rc:${recipient}`
        : null;
    const found = index
      ? await this.fromIndex(index, lowest, limit, matches)
      : await this.fromStream(lowest, limit, matches);
    return found.map((f) => f.event);
  }

  /**
   * events.retention on Redis: trims the stream by entry time (XTRIM MINID, exact: it runs hourly,
   * and an approximate trim would keep a small stream whole). The stream id is when the event reached Redis, which for an event
   * buffered during an outage is later than its timestamp: it is kept a little longer, never less.
   */
  async prune(before: string): Promise<number> {
    const cut = Date.parse(before);
    if (!Number.isFinite(cut)) return 0;
    return await this.redis.xtrim(`${this.base}s`, 'MINID', `${cut}-0`);
  }

  async close(): Promise<void> {
    await this.outbox.close();
    this.localLog.close();
  }

  private async write(segment: string, chunk: number, events: SluiceEvent[]): Promise<void> {
    const args: Array<string | number> = [
      this.base,
      this.options.maxLength,
      this.options.indexTtlMs ?? 30 * 86_400_000,
    ];
    for (const event of events)
      args.push(
        JSON.stringify(event),
        event.message_id ?? '',
        event.rcpt_to?.toLowerCase() ?? '',
        event.queue_id ?? '',
      );
    await this.scripts.append([`${this.base}s`, `${this.base}seg:${segment}:${chunk}`], args);
  }

  /** Matching events newest first, each with its stream id (page() needs it for the cursor). */
  private async fromStream(
    lowest: number,
    limit: number,
    matches: (e: SluiceEvent) => boolean,
  ): Promise<Found[]> {
    const out: Found[] = [];
    let end = '+';
    for (;;) {
      const entries = await this.redis.xrevrange(`${this.base}s`, end, `${lowest}-0`, 'COUNT', BATCH);
      for (const [id, fields] of entries) {
        const event = decode(fields);
        if (event && matches(event)) out.push({ id, event });
        if (out.length >= limit) return out;
      }
      if (entries.length < BATCH) return out;
      end = `(${entries.at(-1)![0]}`;
    }
  }

  /** As fromStream, through one secondary index. */
  private async fromIndex(
    index: string,
    lowest: number,
    limit: number,
    matches: (e: SluiceEvent) => boolean,
  ): Promise<Found[]> {
    const out: Found[] = [];
    const trimmed: string[] = [];
    for (let offset = 0; ; offset += BATCH) {
      const ids = await this.redis.zrevrangebyscore(index, '+inf', lowest, 'LIMIT', offset, BATCH);
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.xrange(`${this.base}s`, id, id);
      const results = ids.length > 0 ? ((await pipeline.exec()) ?? []) : [];
      for (let i = 0; i < ids.length && out.length < limit; i++) {
        const [error, entries] = results[i] ?? [null, []];
        if (error) throw error;
        const entry = (entries as Array<[string, string[]]>)[0];
        if (!entry) {
          trimmed.push(ids[i]!);
          continue;
        }
        const event = decode(entry[1]);
        if (event && matches(event)) out.push({ id: entry[0], event });
      }
      if (out.length >= limit || ids.length < BATCH) break;
    }
    // Index entries whose event was trimmed from the stream point nowhere: prune them.
    if (trimmed.length > 0) await this.redis.zrem(index, ...trimmed);
    return out;
  }
}

/** Orders stream ids "ms-seq" numerically. */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function decodePageCursor(cursor: string | undefined): string | null {
  if (!cursor) return null;
  const match = /^sid:(\d{1,20}-\d{1,20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidCursorError();
  return match[1]!;
}

function decode(fields: string[]): SluiceEvent | null {
  const at = fields.indexOf('e');
  if (at < 0 || fields[at + 1] === undefined) return null;
  try {
    return JSON.parse(fields[at + 1]!) as SluiceEvent;
  } catch {
    return null;
  }
}
