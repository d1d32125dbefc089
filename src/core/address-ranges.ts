/**
 * IP networks as ranges of integers, so that one set of networks can be compared with another
 * ("is every address of these CIDRs inside those?"), which BlockList cannot answer. IPv4 lives
 * in IPv6's IPv4-mapped block (::ffff:0:0/96), so 10.0.0.0/8 and ::ffff:10.0.0.0/104 are the
 * same range, as they are the same addresses on a dual-stack socket. Inputs are validated CIDRs
 * or bare addresses (config and API schemas check them first); anything else throws.
 */
import { isIP } from 'node:net';

export interface AddressRange {
  first: bigint;
  last: bigint;
}

const MAPPED_V4 = 0xffff_0000_0000n;
const ALL_BITS = (1n << 128n) - 1n;

/** An address (IPv4, IPv6, IPv4-mapped IPv6) as a 128-bit integer. */
export function addressValue(address: string): bigint {
  const family = isIP(address);
  if (family === 4) return MAPPED_V4 | ipv4Value(address);
  if (family === 6) return ipv6Value(address);
  throw new Error(`not an IP address: ${address}`);
}

/** "10.0.0.0/8", "2001:db8::/32" or a bare address (one address) as its first and last value. */
export function cidrRange(cidr: string): AddressRange {
  const [address = '', bits] = cidr.split('/');
  const value = addressValue(address);
  const family = isIP(address);
  const width = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? width : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) throw new Error(`bad prefix in ${cidr}`);
  const hostBits = BigInt(width - prefix);
  const hostMask = (1n << hostBits) - 1n;
  const first = value & (ALL_BITS ^ hostMask);
  return { first, last: first | hostMask };
}

/** Whether every address of `inner` lies in the union of `outer` (adjacent networks join up). */
export function rangesCover(outer: readonly string[], inner: readonly string[]): boolean {
  const merged = merge(outer.map(cidrRange));
  return inner
    .map(cidrRange)
    .every((range) => merged.some((o) => o.first <= range.first && range.last <= o.last));
}

/** Sorted, with overlapping or touching ranges joined, so one range can be tested against each. */
function merge(ranges: AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: AddressRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.first <= last.last + 1n) {
      if (range.last > last.last) last.last = range.last;
    } else out.push({ ...range });
  }
  return out;
}

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

function ipv6Value(address: string): bigint {
  let text = address.split('%')[0]!.toLowerCase();
  // A dotted IPv4 tail (::ffff:10.1.2.3) is two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Value(dotted[2]!);
    text = `${dotted[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  if (groups.length !== 8) throw new Error(`not an IPv6 address: ${address}`);
  return groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}
