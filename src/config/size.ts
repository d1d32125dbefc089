/**
 * Sizes in config: a whole number of bytes, or a number with a unit, as mail administrators write
 * them: B, KB, MB, GB (and K, M, G, KiB, MiB, GiB), any case. The units are binary as in most mail
 * software: a KB is 1024 bytes, so 25MB is 26214400, the default max_message_size.
 */
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|(b))?\s*$/i.exec(value);
  if (!match) return null;
  const unit = (match[2] ?? match[3] ?? '').toLowerCase();
  const bytes = Number(match[1]) * UNIT[unit]!;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** The shortest exact way to write a size: 26214400 as 25MB, 1000 as 1000 bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const)
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  return `${bytes} bytes`;
}
