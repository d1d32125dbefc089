/**
 * Where webhook batches may go. A key holding `webhooks/modify` chooses the target URL, so without
 * a guard it could make Sluice POST to its own loopback services or the internal network (SSRF).
 * By default a target whose host resolves to a loopback, private, link-local or unspecified
 * address is refused; `webhooks.allow_private_targets` lifts that for operators whose receivers
 * live inside. Checked before every POST, not only at creation, so a name that later resolves
 * inside is caught too; post.ts checks again inside the connection's own lookup, which closes
 * the window between this check and the connect (DNS rebinding).
 */
import { lookup as systemLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { NetworkSet } from '../core/networks.js';

const INTERNAL = new NetworkSet([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
]);

/** Why this target may not be posted to, or null when it may. */
export async function refuseTarget(
  target: string,
  allowPrivate: boolean,
  resolveName: LookupFunction = systemLookup,
): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'the target is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the target must be http(s)';
  if (allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string }[];
  try {
    addresses = await lookupAll(resolveName, host);
  } catch (error) {
    return `the target host does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const inside = addresses.find(({ address }) => internalAddress(address));
  return inside
    ? `the target resolves to an internal address (${inside.address}); set webhooks.allow_private_targets to allow it`
    : null;
}

/** Whether an address is loopback, private, link-local or unspecified (IPv4-mapped included). */
export function internalAddress(address: string): boolean {
  return INTERNAL.has(unmapped(address));
}

function lookupAll(resolveName: LookupFunction, host: string): Promise<{ address: string }[]> {
  // An IP literal needs no resolver; answering it here keeps an injected resolver to names only.
  if (isIP(host)) return Promise.resolve([{ address: host }]);
  return new Promise((resolve, reject) => {
    resolveName(host, { all: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(Array.isArray(addresses) ? addresses : [{ address: addresses }]);
    });
  });
}

/** An IPv4-mapped IPv6 address as IPv4 (URL parsing writes ::ffff:10.1.2.3 as ::ffff:a01:203). */
function unmapped(address: string): string {
  const mapped = /^::ffff:(.+)$/i.exec(address)?.[1];
  if (!mapped) return address;
  if (isIP(mapped) === 4) return mapped;
  const [high, low] = mapped.split(':').map((part) => Number.parseInt(part, 16));
  if (high === undefined || low === undefined || Number.isNaN(high) || Number.isNaN(low)) return address;
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
