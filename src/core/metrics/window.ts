/**
 * A query's window as rollup spans. Bounds are rounded to the precision (`from` down, `to` up,
 * in its time zone, as SparkPost documents: 04:22–06:37 at 5min is 04:20:00–06:39:59) and split
 * into whole buckets, coarsest first; hour and day rows are only read before the compaction
 * watermark (after it, only minute rows hold the data). A window that needs minute buckets
 * older than the minute retention is refused when its precision was asked for, not answered from
 * coarser rows covering more than was asked; without a precision, such an edge is rounded to
 * the hour (the finest precision kept there), as SparkPost rounds to a precision.
 */
import type { MetricsCoverage, MetricsSpan } from '../../store/types.js';
import { RESOLUTIONS } from './rollup.js';
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

/** Time-series buckets in one answer, at most (a century of days at `day` is not a chart). */
const MAX_BUCKETS = 10_000;

/** Bounds rounded to the precision, and checked against its longest window. */
export function roundWindow(
  window: MetricsWindow,
  series: boolean,
  coverage: MetricsCoverage,
): { from: number; to: number; precision: Precision } {
  const from = Math.floor(window.from / 60_000);
  const to = Math.ceil(window.to / 60_000);
  if (!(from < to)) throw new MetricsQueryError('from', 'must be before to');
  let precision = window.precision ?? defaultPrecision(from, to);
  // Unasked for, 1min would be refused past the minute retention: hour is the finest there is.
  if (window.precision === undefined && precision === '1min' && from < coverage.oldest.minute)
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

/** [from, to) as spans: days and hours before the watermark, minutes after it and at the edges. */
export function spansOf(from: number, to: number, coverage: MetricsCoverage): MetricsSpan[] {
  const cut = Math.max(from, Math.min(to, coverage.folded));
  const spans = [...decompose(from, cut), ...(cut < to ? [{ res: 'minute' as const, from: cut, to }] : [])];
  checkMinutes(spans, coverage);
  return spans;
}

/** The spans of an aggregate endpoint's window. */
export function aggregateSpans(window: MetricsWindow, coverage: MetricsCoverage): MetricsSpan[] {
  const { from, to } = roundWindow(window, false, coverage);
  return spansOf(from, to, coverage);
}

/**
 * The spans of an endpoint without a precision parameter (reasons, link names, attempts, lists):
 * whole minutes, except an edge older than the minute buckets, rounded out to its hour.
 */
export function minuteSpans(window: MetricsWindow, coverage: MetricsCoverage): MetricsSpan[] {
  let from = Math.floor(window.from / 60_000);
  let to = Math.ceil(window.to / 60_000);
  if (!(from < to)) throw new MetricsQueryError('from', 'must be before to');
  if (from < coverage.oldest.minute) from = floorTo('hour', from, 'UTC');
  if (to < coverage.oldest.minute) to = ceilTo('hour', to, 'UTC');
  return spansOf(from, to, coverage);
}

/** A time-series: its bucket starts (the last one closes it), their zone, and the spans to read. */
export function seriesPlan(
  window: MetricsWindow,
  coverage: MetricsCoverage,
): { bounds: number[]; zone: string; spans: MetricsSpan[] } {
  const { from, to, precision } = roundWindow(window, true, coverage);
  const zone = followsZone(precision) ? (window.timezone ?? 'UTC') : 'UTC';
  const bounds = boundaries(precision, from, to, zone);
  if (bounds.length - 1 > MAX_BUCKETS)
    throw new MetricsQueryError(
      'precision',
      `the window holds more than ${MAX_BUCKETS} ${precision} buckets`,
    );
  const first = bounds[0]!;
  const last = bounds.at(-1)!;
  // The coarsest rows every bucket boundary falls on, up to the watermark; minute rows after it.
  const res = coarsestFor(bounds);
  const size = RESOLUTIONS[res];
  const cut =
    res === 'minute' ? first : Math.max(first, Math.min(last, Math.floor(coverage.folded / size) * size));
  const spans: MetricsSpan[] = [];
  if (cut > first) spans.push({ res, from: first, to: cut });
  if (cut < last) spans.push({ res: 'minute', from: cut, to: last });
  checkMinutes(spans, coverage);
  return { bounds, zone, spans };
}

function checkMinutes(spans: readonly MetricsSpan[], coverage: MetricsCoverage): void {
  const oldest = coverage.oldest.minute;
  if (spans.some((s) => s.res === 'minute' && s.from < oldest))
    throw new MetricsQueryError(
      'from',
      `minute buckets are kept until ${formatInstant(oldest, 'UTC')} (metrics.minute_retention): for an older window give whole hours or a precision of hour or coarser`,
    );
}
