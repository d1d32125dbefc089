/**
 * SuppressionStore on the embedded SQLite database: one row per (recipient, type). Pages are
 * ordered newest `updated` first with the row key as tie-break, and the cursor is that position,
 * so paging stays stable while entries are added.
 */
import type Database from 'better-sqlite3';
import {
  InvalidCursorError,
  type SuppressionFilter,
  type SuppressionRecord,
  type SuppressionStore,
  type SuppressionType,
} from '../types.js';

interface Position {
  updated: string;
  recipient: string;
  type: string;
}

export class EmbeddedSuppressionStore implements SuppressionStore {
  private readonly upsert;
  private readonly byRecipient;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      `INSERT INTO suppressions (recipient, type, source, description, created, updated)
       VALUES (@recipient, @type, @source, @description, @created, @updated)
       ON CONFLICT (recipient, type) DO UPDATE SET
         source = excluded.source, description = excluded.description, updated = excluded.updated`,
    );
    this.byRecipient = db.prepare<[string], SuppressionRecord>(
      'SELECT * FROM suppressions WHERE recipient = ? ORDER BY type',
    );
  }

  async put(records: SuppressionRecord[]): Promise<void> {
    this.db.transaction((all: SuppressionRecord[]) => {
      for (const record of all) this.upsert.run({ ...record, recipient: record.recipient.toLowerCase() });
    })(records);
  }

  async get(recipient: string): Promise<SuppressionRecord[]> {
    return this.byRecipient.all(recipient.toLowerCase());
  }

  async delete(recipient: string, type?: SuppressionType): Promise<number> {
    const sql = type
      ? 'DELETE FROM suppressions WHERE recipient = ? AND type = ?'
      : 'DELETE FROM suppressions WHERE recipient = ?';
    const args = type ? [recipient.toLowerCase(), type] : [recipient.toLowerCase()];
    return this.db.prepare(sql).run(...args).changes;
  }

  async list(filter: SuppressionFilter): Promise<{ records: SuppressionRecord[]; next: string | null }> {
    const where: string[] = [];
    const args: unknown[] = [];
    const within = (column: string, values: readonly string[] | undefined) => {
      if (!values || values.length === 0) return;
      where.push(`${column} IN (${values.map(() => '?').join(',')})`);
      args.push(...values);
    };
    within('type', filter.types);
    within('source', filter.sources);
    if (filter.search) {
      where.push('instr(recipient, ?) > 0');
      args.push(filter.search.toLowerCase());
    }
    if (filter.from) {
      where.push('updated >= ?');
      args.push(filter.from);
    }
    if (filter.to) {
      where.push('updated <= ?');
      args.push(filter.to);
    }
    const after = decodeCursor(filter.cursor);
    if (after) {
      where.push('(updated, recipient, type) < (?, ?, ?)');
      args.push(after.updated, after.recipient, after.type);
    }
    const limit = Math.max(1, Math.min(filter.limit ?? 1000, 10_000));
    const sql = `SELECT * FROM suppressions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY updated DESC, recipient DESC, type DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], SuppressionRecord>(sql).all(...args, limit + 1);
    const records = rows.slice(0, limit);
    const last = records.at(-1);
    const next = rows.length > limit && last ? encodeCursor(last) : null;
    return { records, next };
  }
}

function encodeCursor(record: SuppressionRecord): string {
  const position: Position = { updated: record.updated, recipient: record.recipient, type: record.type };
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function decodeCursor(cursor: string | undefined): Position | null {
  if (!cursor) return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<Position>;
    if (
      typeof value.updated === 'string' &&
      typeof value.recipient === 'string' &&
      typeof value.type === 'string'
    )
      return value as Position;
  } catch {
    // fall through: a cursor we did not write
  }
  throw new InvalidCursorError();
}
