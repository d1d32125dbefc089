/**
 * Durations in config: a number of seconds, or a string such as "300ms", "30s", "5m", "72h", "7d".
 * Everything inside Sluice works in milliseconds.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] ?? 's']!;
}
