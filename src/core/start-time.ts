/**
 * options.start_time, SparkPost's schedule: a date and time with its UTC offset
 * (YYYY-MM-DDTHH:MM:SS+-HH:MM; Z and fractions of a second accepted too). A time without an
 * offset is refused rather than guessed. A time already past means now; a time further ahead than
 * the operator allows (transmissions.max_schedule_ahead, SparkPost's three days by default) is
 * refused.
 */
const FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

export type StartTime = { ok: true; at: number } | { ok: false; problem: string };

export function parseStartTime(value: string, now: number, maxAheadMs: number): StartTime {
  const at = FORMAT.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at))
    return {
      ok: false,
      problem: 'must be a date and time with its offset, such as 2026-09-11T08:00:00-04:00',
    };
  if (at - now > maxAheadMs)
    return {
      ok: false,
      problem: `must be at most ${hours(maxAheadMs)} ahead (transmissions.max_schedule_ahead)`,
    };
  return { ok: true, at };
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return Number.isInteger(h) ? `${h} hour${h === 1 ? '' : 's'}` : `${Math.round(ms / 1000)} seconds`;
}
