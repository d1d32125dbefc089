/**
 * Addresses that are not ordinary global unicast destinations: the IANA IPv4 and IPv6
 * Special-Purpose Address Registries (RFC 6890 and the RFCs that updated them) minus the few
 * entries marked globally reachable (AS112, AMT, PCP/TURN anycast), plus multicast, the reserved
 * 240.0.0.0/4 with the limited broadcast, and every IPv6 address outside 2000::/3 (the only
 * block IANA has allocated for global unicast). IPv6 forms that carry or reach an IPv4 address
 * (NAT64, 6to4, Teredo, IPv4-compatible, IPv4-translated) are refused as a whole, since what they
 * reach depends on gateways this process cannot see; IPv4-mapped addresses (::ffff:a.b.c.d, in
 * any spelling) are judged as the IPv4 address they are. Used by the webhook target guard, so a
 * key holder cannot make Sluice post into networks that are not the public Internet.
 */
import { type AddressRange, addressValue, cidrRange } from './address-ranges.js';

interface Entry extends AddressRange {
  name: string;
}

const entry = (cidr: string, name: string): Entry => ({ ...cidrRange(cidr), name: `${cidr} ${name}` });

const IPV4: readonly Entry[] = [
  entry('0.0.0.0/8', '"this network" (RFC 791)'),
  entry('10.0.0.0/8', 'private-use (RFC 1918)'),
  entry('100.64.0.0/10', 'shared address space, carrier-grade NAT (RFC 6598)'),
  entry('127.0.0.0/8', 'loopback (RFC 1122)'),
  entry('169.254.0.0/16', 'link-local (RFC 3927)'),
  entry('172.16.0.0/12', 'private-use (RFC 1918)'),
  entry('192.0.0.0/24', 'IETF protocol assignments (RFC 6890)'),
  entry('192.0.2.0/24', 'documentation, TEST-NET-1 (RFC 5737)'),
  entry('192.88.99.0/24', '6to4 relay anycast, deprecated (RFC 7526)'),
  entry('192.168.0.0/16', 'private-use (RFC 1918)'),
  entry('198.18.0.0/15', 'benchmarking (RFC 2544)'),
  entry('198.51.100.0/24', 'documentation, TEST-NET-2 (RFC 5737)'),
  entry('203.0.113.0/24', 'documentation, TEST-NET-3 (RFC 5737)'),
  entry('224.0.0.0/4', 'multicast (RFC 5771)'),
  entry('240.0.0.0/4', 'reserved, with the limited broadcast 255.255.255.255 (RFC 1112, RFC 919)'),
];

const IPV6: readonly Entry[] = [
  entry('::/128', 'unspecified (RFC 4291)'),
  entry('::1/128', 'loopback (RFC 4291)'),
  entry('::/96', 'IPv4-compatible, deprecated (RFC 4291)'),
  entry('::ffff:0:0:0/96', 'IPv4-translated (RFC 2765)'),
  entry('64:ff9b::/96', 'IPv4/IPv6 translation, NAT64 (RFC 6052)'),
  entry('64:ff9b:1::/48', 'local-use IPv4/IPv6 translation (RFC 8215)'),
  entry('100::/64', 'discard-only (RFC 6666)'),
  entry('100:0:0:1::/64', 'dummy prefix (RFC 9780)'),
  entry('2001::/32', 'Teredo (RFC 4380)'),
  entry('2001::/23', 'IETF protocol assignments (RFC 2928)'),
  entry('2001:db8::/32', 'documentation (RFC 3849)'),
  entry('2002::/16', '6to4 (RFC 3056)'),
  entry('3fff::/20', 'documentation (RFC 9637)'),
  entry('5f00::/16', 'segment routing SIDs (RFC 9602)'),
  entry('fc00::/7', 'unique-local (RFC 4193)'),
  entry('fec0::/10', 'site-local, deprecated (RFC 3879)'),
  entry('fe80::/10', 'link-local (RFC 4291)'),
  entry('ff00::/8', 'multicast (RFC 4291)'),
];

const MAPPED = cidrRange('::ffff:0:0/96');
const GLOBAL_UNICAST = cidrRange('2000::/3');

/** The special-purpose block `address` is in ("198.18.0.0/15 benchmarking (RFC 2544)"), or null. */
export function specialPurpose(address: string): string | null {
  const value = addressValue(address);
  const inside = (range: AddressRange) => range.first <= value && value <= range.last;
  if (inside(MAPPED)) return IPV4.find(inside)?.name ?? null;
  const known = IPV6.find(inside);
  if (known) return known.name;
  return inside(GLOBAL_UNICAST) ? null : 'outside 2000::/3, the global unicast block (RFC 4291)';
}
