/**
 * How long rollups are kept, and the oldest bucket each resolution still holds: both stores
 * drop deltas older than that and the query layer refuses windows that need them.
 */
import { RESOLUTIONS, type Resolution } from './rollup.js';

/** Minute buckets, and everything else (hour and day buckets, reasons, first-engagement memory). */
export interface MetricsRetention {
  minuteMs: number;
  retentionMs: number;
}

/** The retention the config's `metrics` section asks for (durations in ms). */
export function retentionOf(metrics: { retention: number; minute_retention: number }): MetricsRetention {
  return { minuteMs: metrics.minute_retention, retentionMs: metrics.retention };
}

export const DEFAULT_RETENTION: MetricsRetention = {
  minuteMs: 7 * 86_400_000,
  retentionMs: 180 * 86_400_000,
};

/** The oldest bucket start kept at a resolution: the first whole bucket after now − its retention. */
export function cutoff(res: Resolution, now: number, retention: MetricsRetention): number {
  const keep = res === 'minute' ? retention.minuteMs : retention.retentionMs;
  const minute = Math.floor((now - keep) / 60_000);
  const size = RESOLUTIONS[res];
  return Math.ceil(minute / size) * size;
}

export function horizons(now: number, retention: MetricsRetention): Record<Resolution, number> {
  return {
    minute: cutoff('minute', now, retention),
    hour: cutoff('hour', now, retention),
    day: cutoff('day', now, retention),
  };
}
