/**
 * The embedded store's rollup tables (SQLite) and their write side, used inside the transaction
 * that stores the events: by EmbeddedEventStore on the main thread and by the event writer thread
 * (each with its own connection, so each has its own MetricsWriter); and by compaction.
 *
 * Tables (made by db.ts's migrations; checkMetricsSchema() refuses to start when a counter has
 * no column):
 *   metric_dims     id ↔ combination or projection key (core/metrics/rollup.ts), latest minute seen.
 *   metric_rows     (res, dims, bucket) → c0..cN, the counters of core/metrics/definitions.ts.
 *                   res is the bucket size in minutes (1, 60, 1440); dims 0 is the TOTAL row.
 *   metric_reasons  (kind, res, dims, bucket, cls, reason) → n0, n1 (keyed by key first, as rows are).
 *   metric_firsts   (message, rcpt, link) → flags already counted, minute first seen: what makes
 *                   a unique count unique (link '' holds the message's open/click flags).
 *   metric_meta     'folded' → the compaction watermark (core/metrics/coarse.ts).
 *
 * The hot path writes minute rows only, one upsert per distinct row naming only the counters
 * that changed; a minute before the watermark (a late event) is also folded into hour and day
 * rows at once. Deltas older than their resolution's retention are dropped (they would be pruned
 * at once); a minute past the minute retention is folded instead, so nothing is lost.
 */
import type Database from 'better-sqlite3';
import { CoarseBatch } from '../../core/metrics/coarse.js';
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

/**
 * The tables are made by db.ts's migrations. A counter appended to definitions.ts without the
 * migration that adds its column is a build mistake: said here, at start, not at the first write.
 */
export function checkMetricsSchema(db: Database.Database): void {
  const have = new Set(
    (db.prepare('PRAGMA table_info(metric_rows)').all() as Array<{ name: string }>).map((c) => c.name),
  );
  const missing = COUNTER_COLUMNS.filter((c) => !have.has(c));
  if (missing.length > 0)
    throw new Error(`metric_rows lacks counter columns ${missing.join(', ')}: add their migration in db.ts`);
}

export class MetricsWriter {
  private readonly ids = new Map<string, { id: number; last: number }>();
  private readonly upsertDims;
  private readonly upsertReason;
  private readonly getFlags;
  private readonly putFlags;
  private readonly getFolded;
  private readonly setFolded;
  /** One upsert per set of changed counters (a delivery row changes four, an injection one). */
  private readonly upserts = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly retention: MetricsRetention = DEFAULT_RETENTION,
    private readonly clock: () => number = Date.now,
  ) {
    checkMetricsSchema(db);
    this.upsertDims = db.prepare<[string, number], { id: number }>(
      `INSERT INTO metric_dims (key, last) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET last = max(last, excluded.last) RETURNING id`,
    );
    this.upsertReason = db.prepare(
      `INSERT INTO metric_reasons (kind, res, bucket, dims, cls, reason, n0, n1) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind, res, dims, bucket, cls, reason) DO UPDATE SET n0 = n0 + excluded.n0, n1 = n1 + excluded.n1`,
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
    this.getFolded = db.prepare<[], number>("SELECT value FROM metric_meta WHERE name = 'folded'").pluck();
    this.setFolded = db.prepare(
      "INSERT INTO metric_meta (name, value) VALUES ('folded', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    );
  }

  /** Writes a batch's rollups; the caller holds the (write) transaction. */
  apply(batch: RollupBatch): void {
    this.resolveFirsts(batch);
    const now = this.clock();
    const oldest = horizons(now, this.retention);
    // Read under the write lock: compaction cannot move it until this transaction ends.
    const folded = this.folded(now);
    const late = new CoarseBatch();
    for (const [key, last] of batch.dims) this.idOf(key, last);
    for (const row of batch.rows.values()) {
      if (row.minute >= oldest.minute) this.upsertRow(1, this.idOf(row.dims), row.minute, row.counts);
      if (row.minute < folded || row.minute < oldest.minute) late.addRow(row.minute, row.dims, row.counts);
    }
    for (const r of batch.reasons.values()) {
      if (r.minute >= oldest.minute)
        this.upsertReason.run(
          REASON_KINDS[r.kind],
          1,
          r.minute,
          this.idOf(r.dims),
          r.cls,
          r.reason,
          r.n[0],
          r.n[1],
        );
      if (r.minute < folded || r.minute < oldest.minute)
        late.addReason(r.kind, r.minute, r.dims, r.cls, r.reason, r.n);
    }
    this.writeCoarse(late);
  }

  /** Writes hour and day deltas (compaction's, or a late batch's); the caller holds the transaction. */
  writeCoarse(coarse: CoarseBatch): void {
    const oldest = horizons(this.clock(), this.retention);
    for (const [key, minute] of coarse.keys) this.idOf(key, minute);
    for (const row of coarse.rows.values())
      if (row.bucket >= oldest[row.res])
        this.upsertRow(RESOLUTIONS[row.res], this.idOf(row.dims), row.bucket, row.counts);
    for (const r of coarse.reasons.values())
      if (r.bucket >= oldest[r.res])
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

  /** The compaction watermark; a store's first write starts it at the current hour. */
  folded(now: number): number {
    const value = this.getFolded.get();
    if (value !== undefined) return value;
    const hour = Math.floor(now / 3_600_000) * 60;
    this.setFolded.run(hour);
    return hour;
  }

  moveFolded(to: number): void {
    this.setFolded.run(to);
  }

  private upsertRow(res: number, dims: number, bucket: number, counts: readonly number[]): void {
    const changed: number[] = [];
    for (let i = 0; i < counts.length; i++) if (counts[i] !== 0) changed.push(i);
    if (changed.length === 0) return;
    const mask = changed.join(',');
    let statement = this.upserts.get(mask);
    if (!statement) {
      const columns = changed.map((i) => COUNTER_COLUMNS[i]!);
      statement = this.db.prepare(
        `INSERT INTO metric_rows (res, dims, bucket, ${columns.join(', ')}) VALUES (?, ?, ?, ${columns.map(() => '?').join(', ')})
         ON CONFLICT (res, dims, bucket) DO UPDATE SET ${columns.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`,
      );
      this.upserts.set(mask, statement);
    }
    statement.run(res, dims, bucket, ...changed.map((i) => counts[i]!));
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
   * The id of a combination or projection (0 for TOTAL). `seen` moves its latest minute forward,
   * at most once per minute per key; the upsert also finds the id again if pruning removed it.
   */
  idOf(key: string, seen?: number): number {
    if (key === TOTAL) return 0;
    const known = this.ids.get(key);
    if (known && (seen === undefined || seen <= known.last)) return known.id;
    const last = Math.max(seen ?? 0, known?.last ?? 0);
    const { id } = this.upsertDims.get(key, last)!;
    this.ids.set(key, { id, last });
    return id;
  }
}
