/**
 * Time for the Metrics API: SparkPost's precisions, their bucket boundaries in a time zone, the
 * rounding of a window's bounds, and the split of a window into whole rollup buckets.
 *
 * All instants here are minutes since the epoch (UTC). Sub-day precisions (1min … 12hr) follow
 * the wall clock of the requested IANA time zone: up to an hour they are fixed lengths aligned
 * to it (the repeated hour of a DST fall-back is two hour buckets), a 12hr bucket runs from
 * midnight or noon to the next (11 or 13 hours on a DST day); `day`, `week` (Monday to Sunday) and `month` are UTC whatever the zone, as SparkPost
 * documents. Time zone offsets come from the runtime's ICU data (Intl), never a fixed table.
 */
import { RESOLUTIONS, type Resolution } from './rollup.js';

export const PRECISIONS = ['1min', '5min', '15min', 'hour', '12hr', 'day', 'week', 'month'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Aggregate endpoints (bounds rounding only) take these; time-series takes them all. */
export const AGGREGATE_PRECISIONS: readonly Precision[] = ['1min', '5min', '15min', 'hour', 'day'];

const DAY = 1440;

/** Wall-clock bucket sizes in minutes, for the precisions that follow the time zone. */
const LOCAL_SIZES: Partial<Record<Precision, number>> = {
  '1min': 1,
  '5min': 5,
  '15min': 15,
  hour: 60,
  '12hr': 720,
};

/** SparkPost's longest window per precision, in minutes (absent: no limit). */
export const MAX_WINDOW: Partial<Record<Precision, number>> = {
  '1min': DAY,
  '5min': DAY,
  '15min': 2 * DAY,
  hour: 31 * DAY,
};

/** The precision used when a request names none: the finest whose window limit holds it. */
export function defaultPrecision(from: number, to: number): Precision {
  const span = to - from;
  if (span <= MAX_WINDOW['1min']!) return '1min';
  if (span <= MAX_WINDOW.hour!) return 'hour';
  return 'day';
}

const formats = new Map<string, Intl.DateTimeFormat>();

export function isTimeZone(zone: string): boolean {
  try {
    formatFor(zone);
    return true;
  } catch {
    return false;
  }
}

function formatFor(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formats.set(zone, format);
  }
  return format;
}

/** The zone's offset from UTC at an instant, in minutes (east positive). */
export function offsetAt(zone: string, minute: number): number {
  if (zone === 'UTC') return 0;
  const parts: Record<string, number> = {};
  for (const p of formatFor(zone).formatToParts(new Date(minute * 60_000)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!) / 60_000;
  return wall - minute;
}

/** The instant a wall-clock time of the zone names (in a DST gap: the instant just after it). */
export function wallToInstant(zone: string, wall: number): number {
  const guess = wall - offsetAt(zone, wall);
  return wall - offsetAt(zone, guess);
}

/** Start of the bucket holding `minute`. */
export function floorTo(precision: Precision, minute: number, zone: string): number {
  const size = LOCAL_SIZES[precision];
  // Up to an hour, buckets are fixed lengths of absolute time aligned to the wall clock (a DST
  // change shifts the clock by a whole number of them): 01:00 EDT and 01:00 EST are two hours.
  if (size !== undefined && 60 % size === 0) return minute - mod(minute + offsetAt(zone, minute), size);
  if (size !== undefined) {
    const wall = minute + offsetAt(zone, minute);
    const start = wallToInstant(zone, wall - mod(wall, size));
    // A wall time repeated by a DST fall-back can map past `minute`: step back one size then.
    return start <= minute ? start : wallToInstant(zone, wall - mod(wall, size) - size);
  }
  if (precision === 'day') return minute - mod(minute, DAY);
  if (precision === 'week') {
    const day = Math.floor(minute / DAY);
    // 1970-01-01 was a Thursday: Monday is three days before it.
    return (day - mod(day + 3, 7)) * DAY;
  }
  const date = new Date(minute * 60_000);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / 60_000;
}

/** Start of the bucket after the one starting at `start`. */
export function nextBoundary(precision: Precision, start: number, zone: string): number {
  const size = LOCAL_SIZES[precision];
  if (size !== undefined && 60 % size === 0) return start + size;
  if (size !== undefined) {
    const wall = start + offsetAt(zone, start);
    for (let step = size; ; step += size) {
      const next = wallToInstant(zone, wall - mod(wall, size) + step);
      if (next > start) return next;
    }
  }
  if (precision === 'day') return start + DAY;
  if (precision === 'week') return start + 7 * DAY;
  const date = new Date(start * 60_000);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) / 60_000;
}

/** The smallest bucket boundary at or after `minute`. */
export function ceilTo(precision: Precision, minute: number, zone: string): number {
  const start = floorTo(precision, minute, zone);
  return start === minute ? start : nextBoundary(precision, start, zone);
}

/** Bucket starts from the one holding `from` up to and including the first at or after `to`. */
export function boundaries(precision: Precision, from: number, to: number, zone: string): number[] {
  const out = [floorTo(precision, from, zone)];
  while (out.at(-1)! < to) out.push(nextBoundary(precision, out.at(-1)!, zone));
  return out;
}

/** Whether a precision's buckets follow the requested zone (day, week and month are UTC). */
export function followsZone(precision: Precision): boolean {
  return LOCAL_SIZES[precision] !== undefined;
}

/** An instant as ISO 8601 with the zone's offset: 2020-10-04T00:00:00-04:00. */
export function formatInstant(minute: number, zone: string): string {
  const offset = zone === 'UTC' ? 0 : offsetAt(zone, minute);
  const wall = new Date((minute + offset) * 60_000).toISOString().slice(0, 19);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${wall}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * `YYYY-MM-DDTHH:MM` (SparkPost's format; seconds and an explicit offset or Z are also taken),
 * read in `zone` when it carries no offset. Null when it is not such a date and time.
 * Returns milliseconds, seconds included (the caller rounds to minutes).
 */
export function parseDateTime(text: string, zone: string): number | null {
  const match =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!match) return null;
  const [, y, mo, d, h, mi, s = '0', offset] = match;
  const wallMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(wallMs);
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCHours() !== Number(h) ||
    check.getUTCMinutes() !== Number(mi)
  )
    return null;
  if (offset === undefined) {
    const wallMinute = Math.floor(wallMs / 60_000);
    return (wallToInstant(zone, wallMinute) - wallMinute) * 60_000 + wallMs;
  }
  if (offset === 'Z') return wallMs;
  const digits = offset.replace(':', '');
  const minutes = Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5));
  return wallMs - (offset[0] === '-' ? -minutes : minutes) * 60_000;
}

/**
 * [from, to) as whole rollup buckets, coarsest first: whole UTC days, then whole hours at the
 * edges, then minutes. A window of any length is a handful of spans.
 */
export function decompose(from: number, to: number): Array<{ res: Resolution; from: number; to: number }> {
  const out: Array<{ res: Resolution; from: number; to: number }> = [];
  const split = (a: number, b: number, levels: Resolution[]): void => {
    if (a >= b) return;
    const [res, ...finer] = levels;
    if (!res) return;
    const size = RESOLUTIONS[res];
    const lo = Math.ceil(a / size) * size;
    const hi = Math.floor(b / size) * size;
    if (lo >= hi) {
      split(a, b, finer);
      return;
    }
    out.push({ res, from: lo, to: hi });
    split(a, lo, finer);
    split(hi, b, finer);
  };
  split(from, to, ['day', 'hour', 'minute']);
  return out;
}

/** The coarsest resolution whose buckets every boundary falls on. */
export function coarsestFor(bounds: readonly number[]): Resolution {
  for (const res of ['day', 'hour'] as const)
    if (bounds.every((b) => mod(b, RESOLUTIONS[res]) === 0)) return res;
  return 'minute';
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
