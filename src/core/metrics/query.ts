/**
 * The Metrics API's query layer, reusable by anything that wants SparkPost's numbers (the HTTP
 * routes, an operator console): each method takes a window, a filter and metric names, and
 * returns SparkPost-shaped rows, reading rollups only (MetricsStore), never events.
 *
 * What is read: window.ts turns the window into spans; before the compaction watermark, hour
 * and day rows of the projection that answers the question (TOTAL when nothing is filtered or
 * grouped, one dimension's projection when only that dimension is), else of every combination
 * the filter selects; after it, minute rows (TOTAL, or the selected combinations). Only the
 * counters the metrics need are summed. Bad input the caller could not have known is a
 * MetricsQueryError naming the parameter; the HTTP routes answer it with a 422.
 */
import type {
  MetricsDimsEntry,
  MetricsGrouping,
  MetricsRefs,
  MetricsSpan,
  MetricsStore,
} from '../../store/types.js';
import {
  BOUNCE_CATEGORY_IDS,
  bounceClassInfo,
  C,
  COUNTER_COUNT,
  countersOf,
  metricValue,
  REJECTION_TYPES,
} from './definitions.js';
import { filterDimensions, type MetricsFilter, matches } from './filter.js';
import type { Dimension, MetricsDims, ReasonKind } from './rollup.js';
import { formatInstant } from './time.js';
import { aggregateSpans, type MetricsWindow, minuteSpans, seriesPlan } from './window.js';

export { MetricsQueryError, type MetricsWindow } from './window.js';

export type GroupDimension = Dimension | 'watched_domain';

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
  /** Domains the watched-domain grouping reports (config metrics.watched_domains); a function is read per query. */
  watchedDomains: readonly string[] | (() => readonly string[]);
  /** Resolves once events recorded so far have reached the rollups (queued writes). */
  settle?: () => Promise<void>;
  now?: () => number;
}

/** The rows a question reads: before the watermark (coarse) and after it (minute). */
interface Selection {
  coarse: MetricsRefs;
  minute: MetricsRefs;
  dims: ReadonlyMap<string, MetricsDims>;
}

const DEFAULT_LIMIT = 1000;

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
    const spans = aggregateSpans(window, await this.coverage());
    const selected = await this.select(filter);
    const sums = await this.sum(spans, selected, 'none', countersOf(metrics));
    return valuesOf(metrics, sums.get('') ?? zeros());
  }

  async groupBy(
    dimension: GroupDimension,
    window: MetricsWindow,
    filter: MetricsFilter,
    metrics: readonly string[],
    ordering: Ordering = {},
  ): Promise<Row[]> {
    const spans = aggregateSpans(window, await this.coverage());
    const { watchedDomains } = this.options;
    const watched = new Set(typeof watchedDomains === 'function' ? watchedDomains() : watchedDomains);
    const on: Dimension = dimension === 'watched_domain' ? 'domain' : dimension;
    const selected = await this.select(
      filter,
      on,
      dimension === 'watched_domain' ? (d) => watched.has(d.domain) : undefined,
    );
    const by = ordering.orderBy ?? metrics[0];
    const sums = await this.sum(spans, selected, 'ref', countersOf(by ? [...metrics, by] : metrics));
    const groups = new Map<string, number[]>();
    for (const [ref, row] of sums) {
      const dims = selected.dims.get(ref);
      if (!dims) continue;
      const key = groupValue(on, dims);
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
    const { bounds, zone, spans } = seriesPlan(window, await this.coverage());
    const selected = await this.select(filter);
    const sums = await this.sum(spans, selected, 'bucket', countersOf(metrics));
    const buckets = new Array<number[] | undefined>(bounds.length - 1);
    for (const [bucket, row] of sums) {
      const at = indexOf(bounds, Number(bucket));
      if (at >= 0) buckets[at] = add(buckets[at], row);
    }
    const empty = valuesOf(metrics, zeros());
    const out: Row[] = [];
    for (let i = 0; i < bounds.length - 1; i++) {
      const row = buckets[i];
      out.push({ ...(row ? valuesOf(metrics, row) : empty), ts: formatInstant(bounds[i]!, zone) });
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
    const spans = minuteSpans(window, await this.coverage());
    const selected = await this.select(filter);
    const sums = await this.sum(spans, selected, 'none', [
      C.delivered,
      C.delivered_first,
      C.delivered_second,
    ]);
    const row = sums.get('') ?? zeros();
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
    dimension: Exclude<Dimension, 'subaccount'>,
    window: MetricsWindow | null,
    options: { match?: string; limit?: number } = {},
  ): Promise<string[]> {
    const now = this.now();
    const coverage = await this.store.coverage(now);
    const spans = minuteSpans(window ?? { from: coverage.oldest.hour * 60_000, to: now }, coverage);
    const selected = await this.select({}, dimension);
    const sums = await this.sum(spans, selected, 'ref', [
      C.injected,
      C.policy_rejection,
      C.delivered,
      C.delayed,
    ]);
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

  private async coverage() {
    return this.store.coverage(this.now());
  }

  /**
   * What a question reads: TOTAL when it neither filters nor groups; before the watermark, the
   * projection on the one dimension it filters or groups by, if only one; else the combinations
   * the filter selects.
   */
  private async select(
    filter: MetricsFilter,
    group?: Dimension,
    restrict?: (dims: MetricsDims) => boolean,
  ): Promise<Selection> {
    await this.options.settle?.();
    const entries = await this.store.dimensions();
    // The store hands out the same list until it changes: the lookup is built once per change.
    if (entries !== this.registry.entries)
      this.registry = { entries, dims: new Map(entries.map((e) => [e.ref, e.dims])) };
    const { dims } = this.registry;
    const on = filterDimensions(filter);
    if (group) on.add(group);
    if (on.size === 0 && !restrict) return { coarse: 'total', minute: 'total', dims };
    const pick = (kind: MetricsDimsEntry['kind']) =>
      entries
        .filter((e) => e.kind === kind && matches(filter, e.dims) && (!restrict || restrict(e.dims)))
        .map((e) => e.ref);
    const full = pick('full');
    return { coarse: on.size === 1 ? pick([...on][0]!) : full, minute: full, dims };
  }

  /** Sums over the spans, each read from the rows the selection names for its resolution. */
  private async sum(
    spans: readonly MetricsSpan[],
    selected: Selection,
    grouping: MetricsGrouping,
    counters: readonly number[],
  ): Promise<Map<string, number[]>> {
    const coarse = spans.filter((s) => s.res !== 'minute');
    const minute = spans.filter((s) => s.res === 'minute');
    const parts = await Promise.all([
      coarse.length
        ? this.store.sum(coarse, selected.coarse, grouping, counters)
        : new Map<string, number[]>(),
      minute.length
        ? this.store.sum(minute, selected.minute, grouping, counters)
        : new Map<string, number[]>(),
    ]);
    const [out, more] = parts;
    for (const [key, row] of more) out.set(key, add(out.get(key), row));
    return out;
  }

  private async reasonRows(
    kind: ReasonKind,
    window: MetricsWindow,
    filter: MetricsFilter,
    byDomain: boolean,
  ): Promise<Array<{ domain: string | null; cls: number; reason: string; n: [number, number] }>> {
    const spans = minuteSpans(window, await this.coverage());
    const selected = await this.select(filter, byDomain ? 'domain' : undefined);
    // Minute reason rows have no TOTAL: unfiltered, every row is read.
    const minuteRefs = selected.minute === 'total' ? null : selected.minute;
    const coarse = spans.filter((s) => s.res !== 'minute');
    const minute = spans.filter((s) => s.res === 'minute');
    const sums = [
      ...(coarse.length ? await this.store.reasons(kind, coarse, selected.coarse, byDomain) : []),
      ...(minute.length ? await this.store.reasons(kind, minute, minuteRefs, byDomain) : []),
    ];
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

function groupValue(dimension: Dimension, dims: MetricsDims): string {
  return dimension === 'subaccount' ? String(dims.subaccount) : dims[dimension];
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
