/**
 * Hour and day rollups, folded from minute rows. The hot path (an event store's write) adds
 * minute rows only; compaction later folds each finished hour's minute rows into hour and day
 * rows, and into projections: per hour and day, the TOTAL row and one row per value of each
 * single dimension (every domain, every campaign, …), so a month grouped by domain or a month of
 * one campaign reads a row per bucket and value, not one per combination.
 *
 * Compaction keeps a watermark W (a minute, on an hour): hours before W are folded. A delta for
 * a minute before W (a late event, or history being loaded) is folded at once with the same code,
 * so every minute is folded exactly once. The SQLite store uses this module; the Redis store does
 * the same in Lua (redis/metrics-scripts.ts), and one contract test holds both to it.
 */
import { COUNTER_COUNT } from './definitions.js';
import { DIMENSIONS, projectionKey, type ReasonKind, TOTAL } from './rollup.js';

export type CoarseResolution = 'hour' | 'day';
const SIZES: Record<CoarseResolution, number> = { hour: 60, day: 1440 };

export interface CoarseRow {
  res: CoarseResolution;
  bucket: number;
  dims: string;
  counts: number[];
}

export interface CoarseReason {
  kind: ReasonKind;
  res: CoarseResolution;
  bucket: number;
  dims: string;
  cls: number;
  reason: string;
  n: [number, number];
}

/** A combination with its projections: itself, TOTAL, and one per dimension. */
export function foldTargets(dims: string): string[] {
  return [dims, TOTAL, ...DIMENSIONS.map((d) => projectionKey(dims, d))];
}

/** Hour and day deltas (projections included) being folded from minute deltas. */
export class CoarseBatch {
  readonly rows = new Map<string, CoarseRow>();
  readonly reasons = new Map<string, CoarseReason>();
  /** Every key written (projections included), with the latest minute it covers. */
  readonly keys = new Map<string, number>();

  /** Folds a minute row of a full combination (TOTAL minute rows are not folded: TOTAL is a projection). */
  addRow(minute: number, dims: string, counts: readonly number[]): void {
    if (dims === TOTAL) return;
    for (const res of ['hour', 'day'] as const) {
      const bucket = minute - (minute % SIZES[res]);
      for (const target of foldTargets(dims)) {
        const key = `${res}\t${bucket}\t${target}`;
        let row = this.rows.get(key);
        if (!row) {
          row = { res, bucket, dims: target, counts: new Array<number>(COUNTER_COUNT).fill(0) };
          this.rows.set(key, row);
        }
        for (let i = 0; i < counts.length; i++) row.counts[i]! += counts[i]!;
        if (res === 'hour') this.see(target, minute);
      }
    }
  }

  addReason(
    kind: ReasonKind,
    minute: number,
    dims: string,
    cls: number,
    reason: string,
    n: readonly number[],
  ): void {
    for (const res of ['hour', 'day'] as const) {
      const bucket = minute - (minute % SIZES[res]);
      for (const target of foldTargets(dims)) {
        const key = `${kind}\t${res}\t${bucket}\t${target}\t${cls}\t${reason}`;
        let row = this.reasons.get(key);
        if (!row) {
          row = { kind, res, bucket, dims: target, cls, reason, n: [0, 0] };
          this.reasons.set(key, row);
        }
        row.n[0] += n[0] ?? 0;
        row.n[1] += n[1] ?? 0;
        if (res === 'hour') this.see(target, minute);
      }
    }
  }

  private see(key: string, minute: number): void {
    if ((this.keys.get(key) ?? -1) < minute) this.keys.set(key, minute);
  }
}

/** Compaction's lag: an hour is folded once it ended this many minutes ago (events arrive a little late). */
export const COMPACTION_LAG = 2;

/** The next hour to fold after watermark `w`, or null while it has not ended COMPACTION_LAG minutes ago. */
export function nextFoldable(w: number, now: number): number | null {
  const minute = Math.floor(now / 60_000);
  return w + 60 + COMPACTION_LAG <= minute ? w : null;
}
