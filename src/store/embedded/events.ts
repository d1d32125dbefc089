/**
 * EventStore on the embedded database plus an append-only JSON-lines log (data_dir/events.jsonl)
 * that `sluice events tail` follows and any log shipper can read. Each append is written at once,
 * synchronously, so an event survives a crash of the process that reported it.
 *
 * Retention: prune() deletes old rows in bounded batches (the server calls it hourly). The
 * JSON-lines file is rotated by logrotate: when the path no longer names the open file (renamed
 * or removed), the next append a second or more later reopens it, so no signal is needed.
 */
import type Database from 'better-sqlite3';
import type { SluiceEvent } from '../../core/events.js';
import { type EventFilter, type EventPageFilter, type EventStore, InvalidCursorError } from '../types.js';
import { EmbeddedLogWriter } from './events-log.js';

export { EVENTS_LOG } from './events-log.js';

export class EmbeddedEventStore implements EventStore {
  private readonly insert;
  private readonly insertAll;
  private readonly log: EmbeddedLogWriter;
  private readonly searches = new Map<string, Database.Statement<unknown[], { body: string }>>();
  private static readonly PRUNE_BATCH = 5_000;

  constructor(
    private readonly db: Database.Database,
    dataDir: string,
  ) {
    this.log = new EmbeddedLogWriter(dataDir);
    this.insert = db.prepare(
      'INSERT INTO events (event_id, type, message_id, queue_id, rcpt_to, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertAll = db.transaction((events: readonly SluiceEvent[], bodies: string[]) => {
      for (const [i, event] of events.entries()) this.insertRow(event, bodies[i]!);
    });
  }

  append(event: SluiceEvent): void {
    const body = JSON.stringify(event);
    this.insertRow(event, body);
    this.log.writeLine(body);
  }

  /**
   * Several events in one SQLite transaction and one write to events.jsonl: one commit instead of
   * one per event, for callers that record at a high rate (BatchedEventStore). All or none are
   * stored in the database; the log line is written after the commit, as append() does.
   */
  appendMany(events: readonly SluiceEvent[]): void {
    if (events.length === 0) return;
    const bodies = events.map((event) => JSON.stringify(event));
    this.insertAll(events, bodies);
    this.log.writeLine(bodies.join('\n'));
  }

  private insertRow(event: SluiceEvent, body: string): void {
    this.insert.run(
      event.event_id,
      event.type,
      event.message_id ?? null,
      event.queue_id ?? null,
      event.rcpt_to ?? null,
      event.timestamp,
      body,
    );
  }

  async search(filter: EventFilter): Promise<SluiceEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.types && filter.types.length > 0) {
      where.push(`type IN (${filter.types.map(() => '?').join(',')})`);
      args.push(...filter.types);
    }
    if (filter.recipient) {
      where.push('rcpt_to = ?');
      args.push(filter.recipient.toLowerCase());
    }
    if (filter.messageId) {
      // Either of a message's ids (MessageFacts.queue_id).
      where.push('(message_id = ? OR queue_id = ?)');
      args.push(filter.messageId, filter.messageId);
    }
    if (filter.since) {
      where.push('timestamp >= ?');
      args.push(filter.since);
    }
    if (filter.until) {
      where.push('timestamp <= ?');
      args.push(filter.until);
    }
    // No columns of their own: read from the stored body (rare filters, no index).
    if (filter.campaign !== undefined) {
      where.push("json_extract(body, '$.campaign_id') = ?");
      args.push(filter.campaign);
    }
    if (filter.sender !== undefined) {
      where.push("lower(json_extract(body, '$.msg_from')) = ?");
      args.push(filter.sender.toLowerCase());
    }
    if (filter.transmissionId !== undefined) {
      where.push("json_extract(body, '$.transmission_id') = ?");
      args.push(filter.transmissionId);
    }
    const sql = `SELECT body FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    args.push(filter.limit ?? 1000);
    // A handful of SQL shapes exist (which filters are set): compiling each once, not per search.
    let statement = this.searches.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], { body: string }>(sql);
      this.searches.set(sql, statement);
    }
    const rows = statement.all(...args);
    return rows.map((row) => JSON.parse(row.body) as SluiceEvent);
  }

  async page(
    filter: EventPageFilter,
  ): Promise<{ events: SluiceEvent[]; next: string | null; total: number }> {
    const where: string[] = [];
    const args: unknown[] = [];
    const within = (column: string, values: readonly string[] | undefined) => {
      if (!values || values.length === 0) return;
      where.push(`${column} IN (${values.map(() => '?').join(',')})`);
      args.push(...values);
    };
    within('type', filter.types);
    within(
      'rcpt_to',
      filter.recipients?.map((r) => r.toLowerCase()),
    );
    if (filter.messageIds && filter.messageIds.length > 0) {
      const marks = filter.messageIds.map(() => '?').join(',');
      where.push(`(message_id IN (${marks}) OR queue_id IN (${marks}))`);
      args.push(...filter.messageIds, ...filter.messageIds);
    }
    // campaign_id has no column of its own: read from the stored body (rare filter, no index).
    within("json_extract(body, '$.campaign_id')", filter.campaigns);
    if (filter.from) {
      where.push('timestamp >= ?');
      args.push(filter.from);
    }
    if (filter.to) {
      where.push('timestamp <= ?');
      args.push(filter.to);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const { total } = this.db
      .prepare<unknown[], { total: number }>(`SELECT count(*) AS total FROM events ${clause}`)
      .get(...args)!;
    const before = decodeCursor(filter.cursor);
    const paged = before === null ? clause : `${clause ? `${clause} AND` : 'WHERE'} seq < ?`;
    const limit = Math.max(1, Math.min(filter.limit, 10_000));
    const rows = this.db
      .prepare<unknown[], { seq: number; body: string }>(
        `SELECT seq, body FROM events ${paged} ORDER BY seq DESC LIMIT ?`,
      )
      .all(...args, ...(before === null ? [] : [before]), limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const next = rows.length > limit && last ? Buffer.from(`seq:${last.seq}`).toString('base64url') : null;
    return { events: page.map((row) => JSON.parse(row.body) as SluiceEvent), next, total };
  }

  async prune(before: string): Promise<number> {
    const batch = this.db.prepare(
      `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE timestamp < ? LIMIT ${EmbeddedEventStore.PRUNE_BATCH})`,
    );
    let total = 0;
    for (;;) {
      const { changes } = batch.run(before);
      total += changes;
      if (changes < EmbeddedEventStore.PRUNE_BATCH) return total;
      // Let the writers in between batches: a long delete would stall event appends.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  close(): void {
    this.log.close();
  }
}

/** The position a `next` cursor names: events older (smaller seq) than it follow. */
function decodeCursor(cursor: string | undefined): number | null {
  if (!cursor) return null;
  const match = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidCursorError();
  return Number(match[1]);
}
