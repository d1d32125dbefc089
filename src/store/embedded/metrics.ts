/**
 * MetricsStore on the embedded database: reads the rollup tables metrics-writer.ts keeps, folds
 * finished hours (compact), and prunes. A query is one SQL statement per span, each a seek per
 * key through the (res, dims, bucket) primary key summing only the counters asked for: its cost
 * follows the rows in range for the keys asked for, never the number of events.
 *
 * Compaction (hourly is enough; the server runs it every minute): each finished hour's minute
 * rows and reasons are read, folded in memory (core/metrics/coarse.ts) and written as hour and
 * day rows and projections, and the watermark moves on, in one transaction: a writer sees the
 * watermark before or after, never in between, so each minute is folded exactly once.
 *
 * Retention (prune, hourly from the server): minute rows older than the minute retention (never
 * ones not yet folded), hour and day rows, reasons and first-engagement memory older than the
 * retention, and keys not seen since then.
 */
import type Database from 'better-sqlite3';
import { CoarseBatch, nextFoldable } from '../../core/metrics/coarse.js';
import { COUNTER_COUNT } from '../../core/metrics/definitions.js';
import { DEFAULT_RETENTION, horizons, type MetricsRetention } from '../../core/metrics/retention.js';
import {
  keyKind,
  parseDimsKey,
  REASON_KINDS,
  RESOLUTION_LIST,
  RESOLUTIONS,
  type ReasonKind,
  type RollupBatch,
} from '../../core/metrics/rollup.js';
import type {
  MetricsCoverage,
  MetricsDimsEntry,
  MetricsGrouping,
  MetricsRefs,
  MetricsSpan,
  MetricsStore,
  ReasonSum,
} from '../types.js';
import { COUNTER_COLUMNS, MetricsWriter } from './metrics-writer.js';

const ALL = COUNTER_COLUMNS.map((_, i) => i);
/** Hours folded per compact() call, so a long backlog is caught up in steps. */
const FOLD_STEP = 24;
const KIND_NAMES = Object.fromEntries(Object.entries(REASON_KINDS).map(([name, id]) => [id, name])) as Record<
  number,
  ReasonKind
>;

export class EmbeddedMetricsStore implements MetricsStore {
  private readonly writer: MetricsWriter;
  private readonly applyAll;
  private keys = new Map<number, string>();
  private dimsList: MetricsDimsEntry[] = [];
  private dimsStamp = '';
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly retention: MetricsRetention = DEFAULT_RETENTION,
  ) {
    this.writer = new MetricsWriter(db, retention);
    this.applyAll = db.transaction((batch: RollupBatch) => this.writer.apply(batch));
  }

  async apply(batch: RollupBatch): Promise<void> {
    this.applyAll.immediate(batch);
  }

  async dimensions(): Promise<readonly MetricsDimsEntry[]> {
    this.loadKeys();
    return this.dimsList;
  }

  /** The key registry, reloaded only when it changed (count or newest id). */
  private loadKeys(): Map<number, string> {
    const stamp = this.statement("SELECT count(*) || ':' || ifnull(max(id), 0) FROM metric_dims")
      .pluck()
      .get() as string;
    if (stamp === this.dimsStamp) return this.keys;
    const keys = new Map<number, string>();
    const list: MetricsDimsEntry[] = [];
    for (const row of this.db.prepare('SELECT id, key FROM metric_dims').all() as Array<{
      id: number;
      key: string;
    }>) {
      keys.set(row.id, row.key);
      const kind = keyKind(row.key);
      if (kind !== 'total') list.push({ ref: String(row.id), kind, dims: parseDimsKey(row.key) });
    }
    this.keys = keys;
    this.dimsList = list;
    this.dimsStamp = stamp;
    return keys;
  }

  async sum(
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    grouping: MetricsGrouping,
    counters: readonly number[] = ALL,
  ): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    if ((Array.isArray(refs) && refs.length === 0) || counters.length === 0) return out;
    const group = grouping === 'ref' ? 'dims' : grouping === 'bucket' ? 'bucket' : "''";
    const within =
      refs === 'total' || refs === null ? 'dims = 0' : 'dims IN (SELECT value FROM json_each(?))';
    // Summing is most of a query's cost: only the columns the metrics read are summed.
    const sql =
      `SELECT ${group} AS g, ${counters.map((c) => `sum(${COUNTER_COLUMNS[c]})`).join(', ')} FROM metric_rows ` +
      `WHERE res = ? AND ${within} AND bucket >= ? AND bucket < ? GROUP BY g`;
    const statement = this.statement(sql).raw(true);
    const list = Array.isArray(refs) ? JSON.stringify(refs.map(Number)) : null;
    for (const span of spans) {
      const args: unknown[] = [RESOLUTIONS[span.res]];
      if (list !== null) args.push(list);
      args.push(span.from, span.to);
      for (const row of statement.all(...args) as unknown[][]) {
        const key = String(row[0]);
        let into = out.get(key);
        if (!into) {
          into = new Array<number>(COUNTER_COUNT).fill(0);
          out.set(key, into);
        }
        for (let i = 0; i < counters.length; i++) into[counters[i]!]! += Number(row[i + 1]);
      }
    }
    return out;
  }

  async reasons(
    kind: ReasonKind,
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    byRef: boolean,
  ): Promise<ReasonSum[]> {
    if (Array.isArray(refs) && refs.length === 0) return [];
    const keys = byRef ? 'dims, cls, reason' : 'cls, reason';
    // A seek per key: TOTAL, the keys asked for, or (null) every registered key.
    const within =
      refs === null
        ? 'AND dims IN (SELECT id FROM metric_dims)'
        : refs === 'total'
          ? 'AND dims = 0'
          : 'AND dims IN (SELECT value FROM json_each(?))';
    const statement = this.statement(
      `SELECT ${byRef ? 'dims' : 'NULL'} AS ref, cls, reason, sum(n0) AS n0, sum(n1) AS n1 FROM metric_reasons ` +
        `WHERE kind = ? AND res = ? AND bucket >= ? AND bucket < ? ${within} GROUP BY ${keys}`,
    );
    const list = Array.isArray(refs) ? JSON.stringify(refs.map(Number)) : null;
    const merged = new Map<string, ReasonSum>();
    for (const span of spans) {
      const args: unknown[] = [REASON_KINDS[kind], RESOLUTIONS[span.res], span.from, span.to];
      if (list !== null) args.push(list);
      const rows = statement.all(...args) as Array<{
        ref: number | null;
        cls: number;
        reason: string;
        n0: number;
        n1: number;
      }>;
      for (const row of rows) {
        const ref = row.ref === null ? null : String(row.ref);
        const key = `${ref}\t${row.cls}\t${row.reason}`;
        const into = merged.get(key);
        if (into) {
          into.n[0] += row.n0;
          into.n[1] += row.n1;
        } else merged.set(key, { ref, cls: row.cls, reason: row.reason, n: [row.n0, row.n1] });
      }
    }
    return [...merged.values()];
  }

  async coverage(now: number): Promise<MetricsCoverage> {
    return { oldest: horizons(now, this.retention), folded: this.writer.folded(now) };
  }

  async compact(now: number): Promise<number> {
    let folded = 0;
    while (folded < FOLD_STEP && this.foldHour(now)) {
      folded++;
      // Writers get the database between hours.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return folded;
  }

  /** Folds the next finished hour, if any; true when it did. */
  private foldHour(now: number): boolean {
    return this.db
      .transaction(() => {
        const hour = nextFoldable(this.writer.folded(now), now);
        if (hour === null) return false;
        const keys = this.loadKeys();
        const coarse = new CoarseBatch();
        const rows = this.statement(
          `SELECT dims, bucket, ${COUNTER_COLUMNS.join(', ')} FROM metric_rows
           WHERE res = 1 AND dims IN (SELECT id FROM metric_dims) AND bucket >= ? AND bucket < ?`,
        )
          .raw(true)
          .all(hour, hour + 60) as number[][];
        for (const [dims, bucket, ...counts] of rows) {
          const key = keys.get(dims!);
          if (key !== undefined) coarse.addRow(bucket!, key, counts);
        }
        const reasons = this.statement(
          `SELECT kind, bucket, dims, cls, reason, n0, n1 FROM metric_reasons
           WHERE kind = ? AND res = 1 AND dims IN (SELECT id FROM metric_dims) AND bucket >= ? AND bucket < ?`,
        );
        for (const id of Object.values(REASON_KINDS))
          for (const r of reasons.all(id, hour, hour + 60) as Array<{
            kind: number;
            bucket: number;
            dims: number;
            cls: number;
            reason: string;
            n0: number;
            n1: number;
          }>) {
            const key = keys.get(r.dims);
            if (key !== undefined)
              coarse.addReason(KIND_NAMES[r.kind]!, r.bucket, key, r.cls, r.reason, [r.n0, r.n1]);
          }
        this.writer.writeCoarse(coarse);
        this.writer.moveFolded(hour + 60);
        return true;
      })
      .immediate();
  }

  async prune(now: number): Promise<number> {
    let removed = 0;
    const { oldest, folded } = await this.coverage(now);
    const cut = { ...oldest, minute: Math.min(oldest.minute, folded) };
    const ids = [0, ...(this.db.prepare('SELECT id FROM metric_dims').pluck().all() as number[])];
    // One seek per key through the primary key; run hourly, each removes about an hour.
    const rows = this.db.prepare('DELETE FROM metric_rows WHERE res = ? AND dims = ? AND bucket < ?');
    const reasons = this.db.prepare(
      'DELETE FROM metric_reasons WHERE kind = ? AND res = ? AND dims = ? AND bucket < ?',
    );
    for (const res of RESOLUTION_LIST) {
      for (const id of ids) {
        removed += rows.run(RESOLUTIONS[res], id, cut[res]).changes;
        for (const kind of Object.values(REASON_KINDS))
          removed += reasons.run(kind, RESOLUTIONS[res], id, cut[res]).changes;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    removed += this.db.prepare('DELETE FROM metric_firsts WHERE seen < ?').run(oldest.hour).changes;
    removed += this.db
      .prepare('DELETE FROM metric_dims WHERE last < ?')
      .run(Math.min(oldest.hour, cut.minute)).changes;
    return removed;
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
