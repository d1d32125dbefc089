/**
 * The embedded store's rollup tables (SQLite) and their write side, used inside the transaction
 * that stores the events: by EmbeddedEventStore on the main thread and by the event writer thread
 * (each with its own connection, so each has its own MetricsWriter).
 *
 * Tables (created here if missing, outside db.ts's numbered migrations so this module owns them;
 * counter columns missing from an older table are added, since counters are only appended):
 *   metric_dims     id ↔ dimension combination key, with the latest minute it was seen in.
 *   metric_rows     (res, dims, bucket) → c0..cN, the counters of core/metrics/definitions.ts.
 *                   res is the bucket size in minutes (1, 60, 1440); dims 0 is the TOTAL row.
 *   metric_reasons  (kind, res, bucket, dims, cls, reason) → n0, n1.
 *   metric_firsts   (message, rcpt, link) → flags already counted, minute first seen: what makes
 *                   a unique count unique (link '' holds the message's open/click flags).
 * Deltas older than their resolution's retention are dropped (they would be pruned at once).
 */
import type Database from 'better-sqlite3';
import { COUNTER_COUNT } from '../../core/metrics/definitions.js';
import { DEFAULT_RETENTION, horizons, type MetricsRetention } from '../../core/metrics/retention.js';
import {
  addCount,
  addReason,
  FIRST_BITS,
  firstCounters,
  REASON_KINDS,
  RESOLUTIONS,
  type RollupBatch,
  TOTAL,
} from '../../core/metrics/rollup.js';

export const COUNTER_COLUMNS = Array.from({ length: COUNTER_COUNT }, (_, i) => `c${i}`);

export function ensureMetricsSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS metric_dims (
      id INTEGER PRIMARY KEY,
      key TEXT NOT NULL UNIQUE,
      last INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS metric_rows (
      res INTEGER NOT NULL,
      dims INTEGER NOT NULL,
      bucket INTEGER NOT NULL,
      ${COUNTER_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(',\n      ')},
      PRIMARY KEY (res, dims, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS metric_reasons (
      kind INTEGER NOT NULL,
      res INTEGER NOT NULL,
      bucket INTEGER NOT NULL,
      dims INTEGER NOT NULL,
      cls INTEGER NOT NULL,
      reason TEXT NOT NULL,
      n0 INTEGER NOT NULL,
      n1 INTEGER NOT NULL,
      PRIMARY KEY (kind, res, bucket, dims, cls, reason)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS metric_firsts (
      message TEXT NOT NULL,
      rcpt TEXT NOT NULL,
      link TEXT NOT NULL,
      flags INTEGER NOT NULL,
      seen INTEGER NOT NULL,
      PRIMARY KEY (message, rcpt, link)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS metric_firsts_seen ON metric_firsts (seen);
  `);
  const have = new Set(
    (db.prepare('PRAGMA table_info(metric_rows)').all() as Array<{ name: string }>).map((c) => c.name),
  );
  for (const column of COUNTER_COLUMNS)
    if (!have.has(column)) db.exec(`ALTER TABLE metric_rows ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
}

export class MetricsWriter {
  private readonly ids = new Map<string, { id: number; last: number }>();
  private readonly upsertDims;
  private readonly upsertRow;
  private readonly upsertReason;
  private readonly getFlags;
  private readonly putFlags;

  constructor(
    db: Database.Database,
    private readonly retention: MetricsRetention = DEFAULT_RETENTION,
    private readonly clock: () => number = Date.now,
  ) {
    ensureMetricsSchema(db);
    this.upsertDims = db.prepare<[string, number], { id: number }>(
      `INSERT INTO metric_dims (key, last) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET last = max(last, excluded.last) RETURNING id`,
    );
    const placeholders = COUNTER_COLUMNS.map(() => '?').join(', ');
    this.upsertRow = db.prepare(
      `INSERT INTO metric_rows (res, dims, bucket, ${COUNTER_COLUMNS.join(', ')}) VALUES (?, ?, ?, ${placeholders})
       ON CONFLICT (res, dims, bucket) DO UPDATE SET
       ${COUNTER_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`,
    );
    this.upsertReason = db.prepare(
      `INSERT INTO metric_reasons (kind, res, bucket, dims, cls, reason, n0, n1) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind, res, bucket, dims, cls, reason) DO UPDATE SET n0 = n0 + excluded.n0, n1 = n1 + excluded.n1`,
    );
    this.getFlags = db
      .prepare<[string, string, string], number>(
        'SELECT flags FROM metric_firsts WHERE message = ? AND rcpt = ? AND link = ?',
      )
      .pluck();
    this.putFlags = db.prepare(
      `INSERT INTO metric_firsts (message, rcpt, link, flags, seen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (message, rcpt, link) DO UPDATE SET flags = excluded.flags`,
    );
  }

  /** Writes a batch's rollups; the caller holds the transaction. */
  apply(batch: RollupBatch): void {
    this.resolveFirsts(batch);
    const oldest = horizons(this.clock(), this.retention);
    for (const [key, last] of batch.dims) this.idOf(key, last);
    for (const row of batch.rows.values()) {
      if (row.bucket < oldest[row.res]) continue;
      this.upsertRow.run(RESOLUTIONS[row.res], this.idOf(row.dims), row.bucket, ...row.counts);
    }
    for (const r of batch.reasons.values()) {
      if (r.bucket < oldest[r.res]) continue;
      this.upsertReason.run(
        REASON_KINDS[r.kind],
        RESOLUTIONS[r.res],
        r.bucket,
        this.idOf(r.dims),
        r.cls,
        r.reason,
        r.n[0],
        r.n[1],
      );
    }
  }

  /** Turns first-engagement candidates into unique counts, remembering what is now counted. */
  private resolveFirsts(batch: RollupBatch): void {
    for (const f of batch.firsts) {
      const old = this.getFlags.get(f.message, f.rcpt, '') ?? 0;
      const fresh = f.bits & ~old;
      if (fresh !== 0) {
        this.putFlags.run(f.message, f.rcpt, '', old | f.bits, f.minute);
        for (const counter of firstCounters(fresh)) addCount(batch, f.minute, f.dims, counter, 1);
      }
      if (f.link === '' || (f.bits & FIRST_BITS.clicked) === 0) continue;
      if (this.getFlags.get(f.message, f.rcpt, f.link) !== undefined) continue;
      this.putFlags.run(f.message, f.rcpt, f.link, FIRST_BITS.clicked, f.minute);
      addReason(batch, 'link', f.minute, f.dims, 0, f.link, 0, 1);
    }
  }

  /**
   * The id of a combination (0 for TOTAL). `seen` moves its latest minute forward, at most once
   * per minute per combination; the upsert also finds the id again if pruning removed it.
   */
  private idOf(key: string, seen?: number): number {
    if (key === TOTAL) return 0;
    const known = this.ids.get(key);
    if (known && (seen === undefined || seen <= known.last)) return known.id;
    const last = Math.max(seen ?? 0, known?.last ?? 0);
    const { id } = this.upsertDims.get(key, last)!;
    this.ids.set(key, { id, last });
    return id;
  }
}
