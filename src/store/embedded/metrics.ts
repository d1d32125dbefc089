/**
 * MetricsStore on the embedded database: reads the rollup tables metrics-writer.ts keeps, and
 * prunes them. A query is one SQL statement per span, each a seek per combination through the
 * (res, dims, bucket) primary key: its cost follows the rows in range for the combinations asked
 * for, never the number of events. Unfiltered sums read the TOTAL rows (dims 0) only.
 *
 * Retention (prune, hourly from the server): minute rows older than the minute retention, hour
 * and day rows, reason rows and first-engagement memory older than the retention, and
 * combinations not seen since then. Deletes go in small statements, so writers are not held up.
 */
import type Database from 'better-sqlite3';
import { COUNTER_COUNT } from '../../core/metrics/definitions.js';
import { DEFAULT_RETENTION, horizons, type MetricsRetention } from '../../core/metrics/retention.js';
import type { RollupBatch } from '../../core/metrics/rollup.js';
import {
  parseDimsKey,
  REASON_KINDS,
  RESOLUTION_LIST,
  RESOLUTIONS,
  type ReasonKind,
  type Resolution,
} from '../../core/metrics/rollup.js';
import type { MetricsDimsEntry, MetricsGrouping, MetricsSpan, MetricsStore, ReasonSum } from '../types.js';
import { COUNTER_COLUMNS, MetricsWriter } from './metrics-writer.js';

const ALL = COUNTER_COLUMNS.map((_, i) => i);

export class EmbeddedMetricsStore implements MetricsStore {
  private readonly writer: MetricsWriter;
  private readonly applyAll;
  private dims = new Map<number, MetricsDimsEntry>();
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

  /** The same array until the registry changes, so callers may cache what they derive from it. */
  async dimensions(): Promise<MetricsDimsEntry[]> {
    this.loadDims();
    return this.dimsList;
  }

  /** The combination registry, reloaded only when it changed (count or newest id). */
  private loadDims(): Map<number, MetricsDimsEntry> {
    const stamp = this.db
      .prepare("SELECT count(*) || ':' || ifnull(max(id), 0) FROM metric_dims")
      .pluck()
      .get() as string;
    if (stamp === this.dimsStamp) return this.dims;
    const dims = new Map<number, MetricsDimsEntry>();
    for (const row of this.db.prepare('SELECT id, key FROM metric_dims').all() as Array<{
      id: number;
      key: string;
    }>)
      dims.set(row.id, { ref: String(row.id), dims: parseDimsKey(row.key) });
    this.dims = dims;
    this.dimsList = [...dims.values()];
    this.dimsStamp = stamp;
    return dims;
  }

  async sum(
    spans: readonly MetricsSpan[],
    refs: readonly string[] | null,
    grouping: MetricsGrouping,
    counters: readonly number[] = ALL,
  ): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    if ((refs !== null && refs.length === 0) || counters.length === 0) return out;
    const group = grouping === 'ref' ? 'dims' : grouping === 'bucket' ? 'bucket' : "''";
    const within =
      refs === null
        ? grouping === 'ref'
          ? 'dims IN (SELECT id FROM metric_dims)'
          : 'dims = 0'
        : 'dims IN (SELECT value FROM json_each(?))';
    // Summing is most of a query's cost: only the columns the metrics asked for read.
    const sql =
      `SELECT ${group} AS g, ${counters.map((c) => `sum(${COUNTER_COLUMNS[c]})`).join(', ')} FROM metric_rows ` +
      `WHERE res = ? AND ${within} AND bucket >= ? AND bucket < ? GROUP BY g`;
    const statement = this.statement(sql).raw(true);
    const list = refs === null ? null : JSON.stringify(refs.map(Number));
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
    refs: readonly string[] | null,
    byRef: boolean,
  ): Promise<ReasonSum[]> {
    if (refs !== null && refs.length === 0) return [];
    const keys = byRef ? 'dims, cls, reason' : 'cls, reason';
    const within = refs === null ? '' : 'AND dims IN (SELECT value FROM json_each(?))';
    const statement = this.statement(
      `SELECT ${byRef ? 'dims' : 'NULL'} AS ref, cls, reason, sum(n0) AS n0, sum(n1) AS n1 FROM metric_reasons ` +
        `WHERE kind = ? AND res = ? AND bucket >= ? AND bucket < ? ${within} GROUP BY ${keys}`,
    );
    const list = refs === null ? null : JSON.stringify(refs.map(Number));
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

  horizon(now: number): Record<Resolution, number> {
    return horizons(now, this.retention);
  }

  async prune(now: number): Promise<number> {
    let removed = 0;
    const horizon = this.horizon(now);
    const ids = [0, ...(this.db.prepare('SELECT id FROM metric_dims').pluck().all() as number[])];
    // One seek per combination through the primary key; run hourly, each removes about an hour.
    const rows = this.db.prepare('DELETE FROM metric_rows WHERE res = ? AND dims = ? AND bucket < ?');
    const reasons = this.db.prepare('DELETE FROM metric_reasons WHERE kind = ? AND res = ? AND bucket < ?');
    for (const res of RESOLUTION_LIST) {
      for (const id of ids) removed += rows.run(RESOLUTIONS[res], id, horizon[res]).changes;
      for (const kind of Object.values(REASON_KINDS))
        removed += reasons.run(kind, RESOLUTIONS[res], horizon[res]).changes;
      await new Promise((resolve) => setImmediate(resolve));
    }
    removed += this.db.prepare('DELETE FROM metric_firsts WHERE seen < ?').run(horizon.hour).changes;
    removed += this.db.prepare('DELETE FROM metric_dims WHERE last < ?').run(horizon.hour).changes;
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
