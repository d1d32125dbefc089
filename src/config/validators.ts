/** Validators shared by every config section: listen addresses, networks, durations. */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected "host:port" or "[ipv6]:port"');

export const listener = hostPort.nullable();

export const cidr = z.string().refine(isCidr, 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128');

/** A duration as written in config, validated and turned into milliseconds. */
export const duration = z
  .union([z.number(), z.string()])
  .refine((v) => parseDuration(v) !== null, 'expected a duration such as 30s, 5m, 72h or a number of seconds')
  .transform((v) => parseDuration(v)!);

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
