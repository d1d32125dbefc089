/**
 * The Metrics API's query layer, reusable by anything that wants SparkPost's numbers (the HTTP
 * routes, an operator console): each method takes a window, a filter and metric names, and
 * returns SparkPost-shaped rows, reading rollups only (MetricsStore), never events.
 *
 * A window's bounds are rounded to its precision (`from` down, `to` up, in its time zone, as
 * SparkPost documents: 04:22–06:37 at 5min is 04:20:00–06:39:59) and split into whole rollup
 * buckets, coarsest first (time.ts). A window that needs minute buckets older than the minute
 * retention is refused (MetricsQueryError) when its precision was asked for, not answered from
 * coarser rows that would cover more than was asked; without a precision, such an edge is
 * rounded to the hour (the finest precision kept there), as SparkPost rounds to a precision. Bad input the caller could not have known is a MetricsQueryError naming
 * the parameter; the HTTP routes answer it with a 422.
 */
import type { MetricsDimsEntry, MetricsSpan, MetricsStore } from '../../store/types.js';
import {
  BOUNCE_CATEGORY_IDS,
  bounceClassInfo,
  C,
  COUNTER_COUNT,
  countersOf,
  metricValue,
  REJECTION_TYPES,
} from './definitions.js';
import { type MetricsFilter, matches, selectsAll } from './filter.js';
import type { MetricsDims, ReasonKind } from './rollup.js';
import {
  boundaries,
  ceilTo,
  coarsestFor,
  decompose,
  defaultPrecision,
  floorTo,
  followsZone,
  formatInstant,
  MAX_WINDOW,
  type Precision,
} from './time.js';

export class MetricsQueryError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

export interface MetricsWindow {
  /** Milliseconds since the epoch; `to` is exclusive. */
  from: number;
  to: number;
  /** IANA zone for sub-day precisions (day, week and month are UTC). Default UTC. */
  timezone?: string;
  /** Absent: the finest precision whose window limit holds the window (defaultPrecision). */
  precision?: Precision;
}

export type GroupDimension =
  | 'domain'
  | 'campaign'
  | 'sending_domain'
  | 'template'
  | 'subaccount'
  | 'ip_pool'
  | 'watched_domain';

/** The field each group-by endpoint names its group with. */
export const GROUP_FIELDS: Record<GroupDimension, string> = {
  domain: 'domain',
  campaign: 'campaign_id',
  sending_domain: 'sending_domain',
  template: 'template_id',
  subaccount: 'subaccount_id',
  ip_pool: 'ip_pool',
  watched_domain: 'watched_domain',
};

export type Row = Record<string, string | number>;

export interface Ordering {
  limit?: number;
  /** A metric; default: the first one asked for. Descending, ties by group name. */
  orderBy?: string;
}

export interface MetricsServiceOptions {
  /** Domains the watched-domain grouping reports (config metrics.watched_domains). */
  watchedDomains: readonly string[];
  /** Resolves once events recorded so far have reached the rollups (queued writes). */
  settle?: () => Promise<void>;
  now?: () => number;
}

const DEFAULT_LIMIT = 1000;
/** Time-series buckets in one answer, at most (a century of days at `day` is not a chart). */
const MAX_BUCKETS = 10_000;

export class MetricsService {
  private readonly now: () => number;
  private registry: { entries: readonly MetricsDimsEntry[]; dims: ReadonlyMap<string, MetricsDims> } = {
    entries: [],
    dims: new Map(),
  };

  constructor(
    private readonly store: MetricsStore,
    private readonly options: MetricsServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async summary(window: MetricsWindow, filter: MetricsFilter, metrics: readonly string[]): Promise<Row> {
    const { spans } = this.aggregateWindow(window);
    const selected = await this.select(filter);
    const sums = await this.store.sum(spans, selected.refs, 'none', countersOf(metrics));
    return valuesOf(metrics, sums.get('') ?? zeros());
  }

  async groupBy(
    dimension: GroupDimension,
    window: MetricsWindow,
    filter: MetricsFilter,
    metrics: readonly string[],
    ordering: Ordering = {},
  ): Promise<Row[]> {
    const { spans } = this.aggregateWindow(window);
    const watched = new Set(this.options.watchedDomains);
    const selected = await this.select(
      filter,
      dimension === 'watched_domain' ? (d) => watched.has(d.domain) : undefined,
    );
    const by = ordering.orderBy ?? metrics[0];
    const sums = await this.store.sum(
      spans,
      selected.refs,
      'ref',
      countersOf(by ? [...metrics, by] : metrics),
    );
    const groups = new Map<string, number[]>();
    for (const [ref, row] of sums) {
      const dims = selected.dims.get(ref);
      if (!dims) continue;
      const key = groupValue(dimension, dims);
      groups.set(key, add(groups.get(key), row));
    }
    const field = GROUP_FIELDS[dimension];
    const rows = [...groups].map(([key, row]) => ({
      row: { [field]: dimension === 'subaccount' ? Number(key) : key, ...valuesOf(metrics, row) } as Row,
      // The order metric need not be among those returned.
      rank: by === undefined ? 0 : metricValue(by, row),
    }));
    return order(rows, field, ordering.limit);
  }

  /** One row per bucket of the precision, zeros included, each with its start as `ts`. */
  async timeSeries(window: MetricsWindow, filter: MetricsFilter, metrics: readonly string[]): Promise<Row[]> {
    const zone = window.timezone ?? 'UTC';
    const { from, to, precision } = this.round(window, true);
    const series = followsZone(precision) ? zone : 'UTC';
    const bounds = boundaries(precision, from, to, series);
    if (bounds.length - 1 > MAX_BUCKETS)
      throw new MetricsQueryError(
        'precision',
        `the window holds more than ${MAX_BUCKETS} ${precision} buckets`,
      );
    const res = coarsestFor(bounds);
    const spans: MetricsSpan[] = [{ res, from: bounds[0]!, to: bounds.at(-1)! }];
    this.checkHorizon(spans);
    const selected = await this.select(filter);
    const sums = await this.store.sum(spans, selected.refs, 'bucket', countersOf(metrics));
    const buckets = new Array<number[] | undefined>(bounds.length - 1);
    for (const [bucket, row] of sums) {
      const at = indexOf(bounds, Number(bucket));
      if (at >= 0) buckets[at] = add(buckets[at], row);
    }
    const empty = valuesOf(metrics, zeros());
    const out: Row[] = [];
    for (let i = 0; i < bounds.length - 1; i++) {
      const row = buckets[i];
      out.push({ ...(row ? valuesOf(metrics, row) : empty), ts: formatInstant(bounds[i]!, series) });
    }
    return out;
  }

  async bounceReasons(
    window: MetricsWindow,
    filter: MetricsFilter,
    metrics: readonly string[],
    options: { byDomain?: boolean; limit?: number } = {},
  ): Promise<Row[]> {
    const rows = await this.reasonRows('bounce', window, filter, options.byDomain === true);
    const out = rows.map(({ domain, cls, reason, n }): Row => {
      const info = bounceClassInfo(cls);
      return {
        reason,
        ...(domain === null ? {} : { domain }),
        bounce_class_name: info.name,
        bounce_class_description: info.description,
        bounce_category_id: BOUNCE_CATEGORY_IDS[info.category],
        bounce_category_name: info.category,
        classification_id: cls,
        ...bounceMetrics(metrics, n, info.category === 'Admin'),
      };
    });
    return order(ranked(out, metrics[0]), 'reason', options.limit);
  }

  async bounceClassifications(
    window: MetricsWindow,
    filter: MetricsFilter,
    metrics: readonly string[],
    options: { limit?: number } = {},
  ): Promise<Row[]> {
    const byClass = new Map<number, [number, number]>();
    for (const { cls, n } of await this.reasonRows('bounce', window, filter, false)) {
      const into = byClass.get(cls) ?? [0, 0];
      byClass.set(cls, [into[0] + n[0], into[1] + n[1]]);
    }
    const out = [...byClass].map(([cls, n]): Row => {
      const info = bounceClassInfo(cls);
      return {
        bounce_class_name: info.name,
        bounce_class_description: info.description,
        bounce_category_name: info.category,
        classification_id: cls,
        ...bounceMetrics(metrics, n, info.category === 'Admin'),
      };
    });
    return order(ranked(out, metrics[0]), 'bounce_class_name', options.limit);
  }

  async rejectionReasons(
    window: MetricsWindow,
    filter: MetricsFilter,
    options: { byDomain?: boolean; limit?: number } = {},
  ): Promise<Row[]> {
    const rows = await this.reasonRows('rejection', window, filter, options.byDomain === true);
    const out = rows.map(
      ({ domain, cls, reason, n }): Row => ({
        reason,
        ...(domain === null ? {} : { domain }),
        count_rejected: n[0],
        rejection_category_id: cls,
        rejection_type: REJECTION_TYPES[cls] ?? 'Policy Rejection',
      }),
    );
    return order(ranked(out, 'count_rejected'), 'reason', options.limit);
  }

  async delayReasons(
    window: MetricsWindow,
    filter: MetricsFilter,
    options: { byDomain?: boolean; limit?: number } = {},
  ): Promise<Row[]> {
    const rows = await this.reasonRows('delay', window, filter, options.byDomain === true);
    const out = rows.map(
      ({ domain, reason, n }): Row => ({
        reason,
        ...(domain === null ? {} : { domain }),
        count_delayed: n[0],
        count_delayed_first: n[1],
      }),
    );
    return order(ranked(out, 'count_delayed'), 'reason', options.limit);
  }

  /** Clicks per link name (or URL): count_clicked counts messages once per link, count_raw_clicked every click. */
  async linkNames(
    window: MetricsWindow,
    filter: MetricsFilter,
    metrics: readonly string[],
    options: { limit?: number } = {},
  ): Promise<Row[]> {
    const rows = await this.reasonRows('link', window, filter, false);
    const out = rows.map(({ reason, n }): Row => {
      const row: Row = { link_name: reason };
      for (const m of metrics) row[m] = m === 'count_raw_clicked' ? n[0] : n[1];
      return row;
    });
    return order(ranked(out, metrics[0]), 'link_name', options.limit);
  }

  /** Deliveries by attempt: 1, 2 and 3+ (attempts without deliveries are left out). */
  async attempts(window: MetricsWindow, filter: MetricsFilter): Promise<Row[]> {
    const { spans } = this.reasonWindow(window);
    const selected = await this.select(filter);
    const row =
      (
        await this.store.sum(spans, selected.refs, 'none', [
          C.delivered,
          C.delivered_first,
          C.delivered_second,
        ])
      ).get('') ?? zeros();
    const first = row[C.delivered_first]!;
    const second = row[C.delivered_second]!;
    const later = Math.max(0, row[C.delivered]! - first - second);
    return [
      { attempt: '1', count_delivered: first },
      { attempt: '2', count_delivered: second },
      { attempt: '3+', count_delivered: later },
    ].filter((r) => r.count_delivered > 0);
  }

  /**
   * The values of one dimension with data in the window (whole retention when absent). Mail
   * without the dimension (no campaign, no template) is left out: '' names no campaign.
   */
  async values(
    dimension: Exclude<GroupDimension, 'watched_domain' | 'subaccount'>,
    window: MetricsWindow | null,
    options: { match?: string; limit?: number } = {},
  ): Promise<string[]> {
    const now = this.now();
    const whole = { from: this.store.horizon(now).hour * 60_000, to: now, ...(window ?? {}) };
    const { spans } = this.reasonWindow(whole);
    const selected = await this.select({});
    const sums = await this.store.sum(spans, null, 'ref');
    const match = options.match?.toLowerCase();
    const found = new Set<string>();
    for (const [ref, row] of sums) {
      const dims = selected.dims.get(ref);
      if (!dims || !row.some((n) => n !== 0)) continue;
      const value = groupValue(dimension, dims);
      if (value !== '' && (!match || value.toLowerCase().includes(match))) found.add(value);
    }
    return [...found].sort().slice(0, options.limit ?? DEFAULT_LIMIT);
  }

  // ---- windows ------------------------------------------------------------------------------

  /** Bounds rounded to the precision, and checked against its longest window. */
  round(window: MetricsWindow, series: boolean): { from: number; to: number; precision: Precision } {
    const from = Math.floor(window.from / 60_000);
    const to = Math.ceil(window.to / 60_000);
    if (!(from < to)) throw new MetricsQueryError('from', 'must be before to');
    let precision = window.precision ?? defaultPrecision(from, to);
    // Unasked for, 1min would be refused past the minute retention: hour is the finest there is.
    if (
      window.precision === undefined &&
      precision === '1min' &&
      from < this.store.horizon(this.now()).minute
    )
      precision = 'hour';
    if (!series && (precision === '12hr' || precision === 'week' || precision === 'month'))
      throw new MetricsQueryError('precision', `${precision} is for time-series only`);
    const zone = followsZone(precision) ? (window.timezone ?? 'UTC') : 'UTC';
    const lo = floorTo(precision, from, zone);
    const hi = ceilTo(precision, to, zone);
    const max = MAX_WINDOW[precision];
    if (max !== undefined && hi - lo > max)
      throw new MetricsQueryError(
        'precision',
        `${precision} allows a window of at most ${max >= 1440 ? `${max / 1440} days` : `${max / 60} hours`}; ask for a coarser precision`,
      );
    return { from: lo, to: hi, precision };
  }

  private aggregateWindow(window: MetricsWindow): { spans: MetricsSpan[] } {
    const { from, to } = this.round(window, false);
    const spans = decompose(from, to);
    this.checkHorizon(spans);
    return { spans };
  }

  /**
   * The endpoints without a precision parameter (reasons, link names, attempts, lists): whole
   * minutes, except that an edge older than the minute buckets is rounded out to its hour, as
   * precision=hour would round it.
   */
  private reasonWindow(window: MetricsWindow): { spans: MetricsSpan[] } {
    const oldest = this.store.horizon(this.now()).minute;
    let from = Math.floor(window.from / 60_000);
    let to = Math.ceil(window.to / 60_000);
    if (!(from < to)) throw new MetricsQueryError('from', 'must be before to');
    if (from < oldest) from = floorTo('hour', from, 'UTC');
    if (to < oldest) to = ceilTo('hour', to, 'UTC');
    const spans = decompose(from, to);
    this.checkHorizon(spans);
    return { spans };
  }

  private checkHorizon(spans: readonly MetricsSpan[]): void {
    const oldest = this.store.horizon(this.now()).minute;
    if (spans.some((s) => s.res === 'minute' && s.from < oldest))
      throw new MetricsQueryError(
        'from',
        `minute buckets are kept until ${formatInstant(oldest, 'UTC')} (metrics.minute_retention): for an older window give whole hours or a precision of hour or coarser`,
      );
  }

  // ---- rows ---------------------------------------------------------------------------------

  /** The combinations a filter selects (refs null: all of them) and every combination's dimensions. */
  private async select(
    filter: MetricsFilter,
    restrict?: (dims: MetricsDims) => boolean,
  ): Promise<{ refs: string[] | null; dims: ReadonlyMap<string, MetricsDims> }> {
    await this.options.settle?.();
    const entries = await this.store.dimensions();
    // The store hands out the same list until it changes: the lookup is built once per change.
    if (entries !== this.registry.entries)
      this.registry = { entries, dims: new Map(entries.map((e) => [e.ref, e.dims])) };
    const { dims } = this.registry;
    if (selectsAll(filter) && !restrict) return { refs: null, dims };
    const refs = entries
      .filter((e) => matches(filter, e.dims) && (!restrict || restrict(e.dims)))
      .map((e) => e.ref);
    return { refs, dims };
  }

  private async reasonRows(
    kind: ReasonKind,
    window: MetricsWindow,
    filter: MetricsFilter,
    byDomain: boolean,
  ): Promise<Array<{ domain: string | null; cls: number; reason: string; n: [number, number] }>> {
    const { spans } = this.reasonWindow(window);
    const selected = await this.select(filter);
    const sums = await this.store.reasons(kind, spans, selected.refs, byDomain);
    const merged = new Map<
      string,
      { domain: string | null; cls: number; reason: string; n: [number, number] }
    >();
    for (const r of sums) {
      const domain = byDomain ? (selected.dims.get(r.ref ?? '')?.domain ?? '') : null;
      const key = `${domain}\t${r.cls}\t${r.reason}`;
      const into = merged.get(key);
      if (into) {
        into.n[0] += r.n[0];
        into.n[1] += r.n[1];
      } else merged.set(key, { domain, cls: r.cls, reason: r.reason, n: [r.n[0], r.n[1]] });
    }
    return [...merged.values()];
  }
}

function groupValue(dimension: GroupDimension, dims: MetricsDims): string {
  switch (dimension) {
    case 'domain':
    case 'watched_domain':
      return dims.domain;
    case 'campaign':
      return dims.campaign;
    case 'sending_domain':
      return dims.sending_domain;
    case 'template':
      return dims.template;
    case 'subaccount':
      return String(dims.subaccount);
    case 'ip_pool':
      return dims.ip_pool;
  }
}

function bounceMetrics(metrics: readonly string[], n: [number, number], admin: boolean): Row {
  const values: Row = {
    count_bounce: n[0] + n[1],
    count_inband_bounce: n[0],
    count_outofband_bounce: n[1],
    count_admin_bounce: admin ? n[0] + n[1] : 0,
  };
  const out: Row = {};
  for (const m of metrics) out[m] = values[m] ?? 0;
  return out;
}

function valuesOf(metrics: readonly string[], row: readonly number[]): Row {
  const out: Row = {};
  for (const m of metrics) out[m] = metricValue(m, row);
  return out;
}

const zeros = () => new Array<number>(COUNTER_COUNT).fill(0);

function add(into: number[] | undefined, row: readonly number[]): number[] {
  const out = into ?? zeros();
  for (let i = 0; i < row.length; i++) out[i] = (out[i] ?? 0) + row[i]!;
  return out;
}

/** Index of the bucket holding `minute` among sorted bucket starts (the last one closes the range). */
function indexOf(bounds: readonly number[], minute: number): number {
  let lo = 0;
  let hi = bounds.length - 2;
  if (hi < 0 || minute < bounds[0]! || minute >= bounds.at(-1)!) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (bounds[mid]! <= minute) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Descending by rank, ties by the group's name, then cut to `limit`. */
function order(rows: Array<{ row: Row; rank: number }>, name: string, limit = DEFAULT_LIMIT): Row[] {
  rows.sort((a, b) => b.rank - a.rank || String(a.row[name]).localeCompare(String(b.row[name])));
  return rows.slice(0, limit).map((r) => r.row);
}

/** Rows ranked by one of their own values. */
function ranked(rows: Row[], by: string | undefined): Array<{ row: Row; rank: number }> {
  return rows.map((row) => ({ row, rank: by === undefined ? 0 : Number(row[by] ?? 0) }));
}
