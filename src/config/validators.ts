/**
 * Validators shared by every config section: listen addresses (ports 1-65535), networks,
 * durations (timer delays bounded by what a timer can wait), sizes in bytes with units. A value
 * out of range is refused here, naming the option, rather than by the library it would reach.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { formatSize, parseSize } from './size.js';

/**
 * What is wrong with the port at the end of "host:port", "[v6]:port" or "inet:host:port" (it
 * must be 1-65535), or null; an address without a port (a relayhost may have none) is fine.
 */
export function portProblem(value: string): string | null {
  const digits = /:(\d+)$/.exec(value)?.[1];
  if (digits === undefined) return null;
  const port = Number(digits);
  return port >= 1 && port <= 65535 ? null : `port must be 1-65535, got ${digits}`;
}

/** The schema, with the port of its address checked. */
export function withPort<T extends z.ZodString>(schema: T) {
  return schema.superRefine((value, ctx) => {
    const problem = portProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

export const hostPort = withPort(
  z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port" or "[ipv6]:port"'),
);

export const listener = hostPort.nullable();

export const cidr = z.string().refine(isCidr, 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128');

const DURATION_HINT = 'expected a duration such as 30s, 5m, 72h or a number of seconds';
/** The longest delay a timer takes (2^31-1 ms, about 24.8 days): longer ones would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration as written in config, validated and turned into milliseconds. */
export const duration = z
  .union([z.number(), z.string()])
  .refine((v) => parseDuration(v) !== null, DURATION_HINT)
  .transform((v) => parseDuration(v)!);

/** A duration Sluice waits with a timer (timeouts, retry delays): at most MAX_TIMER_MS. */
export const timerDuration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: DURATION_HINT });
    return z.NEVER;
  }
  if (ms > MAX_TIMER_MS) {
    ctx.addIssue({ code: 'custom', message: `at most 24d (a timer cannot wait longer), got ${String(v)}` });
    return z.NEVER;
  }
  return ms;
});

/**
 * A size in bytes: a whole number, or with a unit (512KB, 25MB, 1GB; KiB/MiB/GiB alike: a KB is
 * 1024 bytes, so 25MB is 26214400), at least `min` and at most `max` bytes.
 */
export function size(bounds: { min?: number; max?: number } = {}) {
  const min = bounds.min ?? 1;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: 'expected a size in bytes, or with a unit: 512KB, 25MB, 1GB' });
      return z.NEVER;
    }
    if (bytes < min || bytes > max) {
      const range =
        max === Number.MAX_SAFE_INTEGER
          ? `at least ${formatSize(min)}`
          : `${formatSize(min)} to ${formatSize(max)}`;
      ctx.addIssue({ code: 'custom', message: `must be ${range}, got ${String(v)}` });
      return z.NEVER;
    }
    return bytes;
  });
}

function isCidr(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length > 0 || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  const prefix = Number(bits);
  const max = family === 4 ? 32 : 128;
  if (prefix > max) return false;
  try {
    new BlockList().addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return true;
  } catch {
    return false;
  }
}
